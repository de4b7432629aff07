//! The live side of retail media: active campaigns indexed by partner, the auction,
//! frequency caps, and the served impressions whose views and clicks may still count.
//!
//! Serving takes no global lock: the partner's campaign list is an `ArcSwap`, counters
//! are atomics, impressions sit in sharded logs (`impressions`), caps in sharded maps.

use crate::budget::{Counters, EventKind, Totals};
use crate::campaign::{ctr, Campaign, ContentBody, PricingModel};
use crate::impressions::Impressions;
use crate::index::{Entry, PartnerIndex};
use crate::placement::{ContentType, Placement};
use crate::targeting::{Page, Products, Visitor};
use crate::{pacing, Nanos, DAY_MS};
use arc_swap::ArcSwap;
use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, RwLock};

const SHARDS: usize = 32;

/// A campaign with its live state. `repr(C)`: what the auction reads of every campaign
/// it considers (paused, spend, views and clicks) comes first, in one or two cache lines.
#[derive(Debug)]
#[repr(C)]
pub struct Live {
    paused: AtomicBool,
    serial: u32,
    pub counters: Counters,
    pub campaign: Campaign,
    /// Each content's JSON as the shop sees it, built once: the whole object for a
    /// string, the object up to the opening bracket of the list for a shelf.
    json: Vec<String>,
}

impl Live {
    pub fn serial(&self) -> u32 {
        self.serial
    }

    pub fn paused(&self) -> bool {
        self.paused.load(Ordering::Acquire)
    }

    /// Not paused, under its total budget and its pacing line (the schedule is checked
    /// by the index entry, which also holds the budgets).
    fn may_spend(&self, total: Nanos, daily: Option<Nanos>, now_ms: i64) -> bool {
        if self.paused() || self.counters.spent() >= total {
            return false;
        }
        daily.is_none_or(|d| pacing::allowed(d, self.counters.day_spent(now_ms), now_ms))
    }
}

fn content_json(c: &crate::Content) -> String {
    // serde_json only fails on maps with non-string keys; these are strings and numbers.
    let id = serde_json::to_string(&c.id).unwrap_or_default();
    match &c.body {
        ContentBody::String(s) => format!(
            r#"{{"id":{id},"string":{}}}"#,
            serde_json::to_string(s).unwrap_or_default()
        ),
        ContentBody::ProductIds(_) => format!(r#"{{"id":{id},"productIds":["#),
    }
}

#[derive(Debug)]
struct Impression {
    partner: i64,
    live: Arc<Live>,
    content: usize,
    placement: Arc<str>,
    served_ms: i64,
    viewed: bool,
    clicked: bool,
}

/// The winner of one request, recorded as served.
#[derive(Debug, Clone)]
pub struct Decision {
    pub live: Arc<Live>,
    /// Index of the content in the campaign.
    pub content: usize,
    /// The impression id as a number (`impression_id` is its 32-hex form).
    pub impression: u128,
    /// A shelf's available products (empty for a string).
    pub shelf: Vec<i64>,
    pub served_ms: i64,
}

impl Decision {
    pub fn impression_id(&self) -> String {
        let mut id = String::with_capacity(32);
        push_hex32(&mut id, self.impression);
        id
    }

    pub fn campaign_id(&self) -> &str {
        &self.live.campaign.id
    }

    pub fn content_id(&self) -> &str {
        &self.live.campaign.contents[self.content].id
    }

    pub fn body(&self) -> ContentBody {
        match &self.live.campaign.contents[self.content].body {
            ContentBody::String(s) => ContentBody::String(s.clone()),
            ContentBody::ProductIds(_) => ContentBody::ProductIds(self.shelf.clone()),
        }
    }

    /// The Impression answer: `{"content": {"id", "string" | "productIds"}, "id"}`.
    pub fn write_json(&self, out: &mut String) {
        out.push_str(r#"{"content":"#);
        out.push_str(&self.live.json[self.content]);
        if let ContentBody::ProductIds(_) = self.live.campaign.contents[self.content].body {
            // itoa and the hex below: the fmt machinery cost more than the rest.
            let mut digits = itoa::Buffer::new();
            for (i, id) in self.shelf.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                out.push_str(digits.format(*id));
            }
            out.push_str("]}");
        }
        out.push_str(r#","id":""#);
        push_hex32(out, self.impression);
        out.push_str(r#""}"#);
    }
}

/// Appends `n` as 32 lower-case hex digits (`format!("{n:032x}")`).
fn push_hex32(out: &mut String, n: u128) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    out.extend(
        (0..32)
            .rev()
            .map(|i| HEX[(n >> (4 * i)) as usize & 15] as char),
    );
}

/// One request for content.
#[derive(Clone, Copy)]
pub struct Ask<'a> {
    pub partner: i64,
    pub placement: &'a Placement,
    /// What the shop is ready to show.
    pub accept: &'a [ContentType],
    pub page: &'a Page,
    pub visitor: &'a Visitor,
    pub now_ms: i64,
}

/// A counted view or click, for the store, with the impression it counts on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Charge {
    pub impression_id: String,
    pub campaign_id: String,
    pub content_id: String,
    pub placement_id: String,
    pub served_ms: i64,
    pub kind: EventKind,
    pub price: Nanos,
    pub at_ms: i64,
}

/// A visitor's recent serves of each capped campaign: (campaign serial, serve times).
type CapLists = Vec<(u32, VecDeque<i64>)>;

pub struct Engine {
    by_id: RwLock<HashMap<String, Arc<Live>>>,
    by_partner: ArcSwap<HashMap<i64, Arc<PartnerIndex>>>,
    impressions: Impressions<Impression>,
    caps: Vec<Mutex<HashMap<String, CapLists>>>,
    next_id: AtomicU64,
    next_serial: AtomicU32,
    rotation: AtomicU64,
    /// At least the click-through rate of every CPC campaign (f64 bits): raised when a
    /// click is counted or a campaign added, recomputed by `prune`.
    ctr_bound: AtomicU64,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    match m.lock() {
        Ok(g) => g,
        Err(p) => p.into_inner(),
    }
}

fn cap_shard(session: &str) -> usize {
    let h = session.bytes().fold(0xcbf2_9ce4_8422_2325u64, |h, b| {
        (h ^ b as u64).wrapping_mul(0x100_0000_01b3)
    });
    (h % SHARDS as u64) as usize
}

/// The visitor's serve times of campaign `serial`, created empty when missing.
fn cap_list<'a>(
    caps: &'a mut HashMap<String, CapLists>,
    session: &str,
    serial: u32,
) -> &'a mut VecDeque<i64> {
    if !caps.contains_key(session) {
        caps.insert(session.to_string(), Vec::new());
    }
    let lists = caps.get_mut(session).expect("inserted above");
    let at = match lists.iter().position(|(s, _)| *s == serial) {
        Some(at) => at,
        None => {
            lists.push((serial, VecDeque::new()));
            lists.len() - 1
        }
    };
    &mut lists[at].1
}

/// Impression ids: 32 hex characters, a random per-process prefix and a counter.
pub fn parse_impression_id(id: &str) -> Option<u128> {
    (id.len() == 32)
        .then(|| u128::from_str_radix(id, 16).ok())
        .flatten()
}

/// One candidate of the auction: a content of an eligible campaign.
#[derive(Clone, Copy)]
struct Candidate<'a> {
    serial: u32,
    content: usize,
    live: &'a Arc<Live>,
}

/// Every content of an eligible campaign that the request shows.
fn candidates<'a>(e: &'a Entry, shown: u8, group: &mut Vec<Candidate<'a>>) {
    for (i, x) in e.live.campaign.contents.iter().enumerate() {
        if x.content_type().bit() & shown != 0 {
            group.push(Candidate {
                serial: e.serial,
                content: i,
                live: &e.live,
            });
        }
    }
}

impl Engine {
    /// `seed`: random bits that make this process's impression ids unlike any other's.
    pub fn new(seed: u64) -> Engine {
        Engine {
            by_id: RwLock::new(HashMap::new()),
            by_partner: ArcSwap::from_pointee(HashMap::new()),
            impressions: Impressions::new(seed),
            caps: (0..SHARDS).map(|_| Mutex::default()).collect(),
            next_id: AtomicU64::new(0),
            next_serial: AtomicU32::new(0),
            rotation: AtomicU64::new(0),
            ctr_bound: AtomicU64::new(0),
        }
    }

    /// Adds (or replaces) a campaign with its stored totals.
    pub fn insert(&self, campaign: Campaign, totals: Totals) {
        let live = Arc::new(Live {
            paused: AtomicBool::new(campaign.paused),
            serial: self.next_serial.fetch_add(1, Ordering::Relaxed),
            counters: Counters::from_totals(totals),
            json: campaign.contents.iter().map(content_json).collect(),
            campaign,
        });
        self.raise_ctr_bound(&live);
        let mut by_id = self.by_id.write().unwrap_or_else(|p| p.into_inner());
        by_id.insert(live.campaign.id.clone(), live);
        let mut index: HashMap<i64, PartnerIndex> = HashMap::new();
        let mut all: Vec<&Arc<Live>> = by_id.values().collect();
        all.sort_by_key(|l| l.serial());
        for live in all {
            for p in &live.campaign.partners {
                index.entry(*p).or_default().add(live);
            }
        }
        self.by_partner.store(Arc::new(
            index
                .into_iter()
                .map(|(k, mut v)| {
                    v.finish();
                    (k, Arc::new(v))
                })
                .collect(),
        ));
    }

    /// Keeps `ctr_bound` at or above this campaign's click-through rate.
    fn raise_ctr_bound(&self, live: &Live) {
        if live.campaign.model == PricingModel::Cpc {
            let ctr = ctr(live.counters.views(), live.counters.clicks());
            // Non-negative floats order like their bits.
            self.ctr_bound.fetch_max(ctr.to_bits(), Ordering::SeqCst);
        }
    }

    /// The highest click-through rate of any CPC campaign now.
    fn highest_ctr(&self) -> f64 {
        self.by_id
            .read()
            .map(|m| {
                m.values()
                    .filter(|l| l.campaign.model == PricingModel::Cpc)
                    .map(|l| ctr(l.counters.views(), l.counters.clicks()))
                    .fold(0.0, f64::max)
            })
            .unwrap_or(f64::INFINITY)
    }

    pub fn get(&self, id: &str) -> Option<Arc<Live>> {
        self.by_id.read().ok()?.get(id).cloned()
    }

    /// Pauses or resumes; `false` when there is no such campaign.
    pub fn set_paused(&self, id: &str, paused: bool) -> bool {
        self.get(id)
            .map(|l| l.paused.store(paused, Ordering::Release))
            .is_some()
    }

    /// Whether any campaign on this partner targets visitor interests.
    pub fn needs_interests(&self, partner: i64) -> bool {
        self.by_partner
            .load()
            .get(&partner)
            .is_some_and(|i| i.needs_interests)
    }

    /// Runs the auction for one request and records the winner as served.
    ///
    /// Eligible contents are grouped by their campaign's expected value per view; groups
    /// are tried from the highest value down, and inside a group from a rotating start
    /// (fair rotation on ties). A content fails only on an empty shelf or a frequency
    /// cap, and then the next one is tried.
    pub fn decide(&self, ask: &Ask<'_>, base: &dyn Products) -> Option<Decision> {
        let Ask {
            partner,
            placement,
            accept,
            page,
            visitor,
            now_ms,
        } = *ask;
        let shown = ContentType::mask(accept) & ContentType::mask(&placement.content_types);
        if shown == 0 {
            return None;
        }
        let partners = self.by_partner.load();
        let index = partners.get(&partner)?;
        let mut buckets = Vec::with_capacity(8);
        index.gather(page, &mut buckets);
        let eligible = |e: &Entry| {
            e.types & shown != 0
                && now_ms >= e.starts_ms
                && now_ms < e.ends_ms
                && e.live.may_spend(e.total, e.daily, now_ms)
                && (e.untargeted || e.live.campaign.targeting.matches(page, visitor, base))
        };
        // CPM lists are sorted by value: walk them from the top, only as far as needed.
        let mut cpm: Vec<&[Entry]> = buckets
            .iter()
            .map(|b| &b.cpm[..])
            .filter(|l| !l.is_empty())
            .collect();
        // CPC lists are sorted by bid; no CPC campaign is worth more per view than its
        // bid times the highest click-through rate: value them only while that bound
        // can reach the best value known.
        let ctr_bound = f64::from_bits(self.ctr_bound.load(Ordering::SeqCst));
        let mut unvalued: Vec<&[Entry]> = buckets
            .iter()
            .map(|b| &b.cpc[..])
            .filter(|l| !l.is_empty())
            .collect();
        let mut cpc: Vec<(f64, &Entry)> = Vec::new();
        let mut group: Vec<Candidate<'_>> = Vec::new();
        let highest = |values: &mut dyn Iterator<Item = f64>| values.max_by(|a, b| a.total_cmp(b));
        loop {
            let top_cpm = highest(&mut cpm.iter().map(|l| l[0].value));
            let mut top_cpc = highest(&mut cpc.iter().map(|c| c.0));
            while let Some((at, bid)) = unvalued
                .iter()
                .enumerate()
                .map(|(i, l)| (i, l[0].value))
                .max_by(|a, b| a.1.total_cmp(&b.1))
            {
                let known = match (top_cpc, top_cpm) {
                    (Some(a), Some(b)) => Some(a.max(b)),
                    (a, b) => a.or(b),
                };
                if known.is_some_and(|k| bid * ctr_bound < k) {
                    break;
                }
                let e = &unvalued[at][0];
                unvalued[at] = &unvalued[at][1..];
                if unvalued[at].is_empty() {
                    unvalued.swap_remove(at);
                }
                if eligible(e) {
                    // `Campaign::value_per_view` of a CPC campaign (the entry's value is
                    // its bid), without reaching into the campaign.
                    let c = &e.live.counters;
                    let value = e.value * ctr(c.views(), c.clicks());
                    top_cpc = Some(top_cpc.map_or(value, |t| t.max(value)));
                    cpc.push((value, e));
                }
            }
            let value = match (top_cpc, top_cpm) {
                (None, None) => return None,
                (Some(a), None) | (None, Some(a)) => a,
                (Some(a), Some(b)) => a.max(b),
            };
            group.clear();
            if top_cpc == Some(value) {
                for (_, e) in cpc.iter().filter(|c| c.0 == value) {
                    candidates(e, shown, &mut group);
                }
                cpc.retain(|c| c.0 != value);
            }
            for list in cpm.iter_mut() {
                while let Some(e) = list.first().filter(|e| e.value == value) {
                    if eligible(e) {
                        candidates(e, shown, &mut group);
                    }
                    *list = &list[1..];
                }
            }
            cpm.retain(|l| !l.is_empty());
            if group.is_empty() {
                continue;
            }
            if group.len() > 1 {
                group.sort_unstable_by_key(|c| (c.serial, c.content));
                group.dedup_by_key(|c| (c.serial, c.content));
            }
            if let Some(d) = self.try_group(&group, ask, base) {
                return Some(d);
            }
        }
    }

    /// Tied candidates, tried in turn from a rotating start: fair rotation on ties.
    fn try_group(
        &self,
        group: &[Candidate<'_>],
        ask: &Ask<'_>,
        base: &dyn Products,
    ) -> Option<Decision> {
        let turn = self.rotation.fetch_add(1, Ordering::Relaxed) as usize;
        (0..group.len()).find_map(|k| {
            let c = group[(turn + k) % group.len()];
            self.try_serve(ask, c.live, c.content, base)
        })
    }

    fn try_serve(
        &self,
        ask: &Ask<'_>,
        live: &Arc<Live>,
        content: usize,
        base: &dyn Products,
    ) -> Option<Decision> {
        let now_ms = ask.now_ms;
        let shelf = match &live.campaign.contents[content].body {
            ContentBody::String(_) => Vec::new(),
            ContentBody::ProductIds(ids) => {
                let stock = ask.page.stock.as_deref();
                let shelf: Vec<i64> = ids
                    .iter()
                    .copied()
                    .filter(|id| base.available(*id, stock))
                    .collect();
                if shelf.is_empty() {
                    return None;
                }
                shelf
            }
        };
        if let Some(cap) = live.campaign.frequency_cap {
            let session = ask.visitor.session.as_str();
            let mut caps = lock(&self.caps[cap_shard(session)]);
            let seen = cap_list(&mut caps, session, live.serial);
            while seen.front().is_some_and(|t| *t <= now_ms - cap.period_ms) {
                seen.pop_front();
            }
            if seen.len() >= cap.count as usize {
                return None;
            }
            seen.push_back(now_ms);
        }
        live.counters.add_served();
        let n = self.next_id.fetch_add(1, Ordering::Relaxed);
        let key = self.impressions.key(n);
        self.impressions.insert(
            key,
            Impression {
                partner: ask.partner,
                live: live.clone(),
                content,
                placement: Arc::from(ask.placement.id.as_str()),
                served_ms: now_ms,
                viewed: false,
                clicked: false,
            },
        );
        Some(Decision {
            live: live.clone(),
            content,
            impression: key,
            shelf,
            served_ms: now_ms,
        })
    }

    /// Counts a view or click of an impression this partner was served, once, within
    /// 24 hours of serving; `None` when it does not count.
    pub fn count(
        &self,
        partner: i64,
        impression_id: &str,
        kind: EventKind,
        now_ms: i64,
    ) -> Option<Charge> {
        let key = parse_impression_id(impression_id)?;
        let (live, content, placement, served_ms) = self.impressions.with(key, |imp| {
            if imp.partner != partner || now_ms - imp.served_ms > DAY_MS {
                return None;
            }
            let flag = match kind {
                EventKind::View => &mut imp.viewed,
                EventKind::Click => &mut imp.clicked,
            };
            if *flag {
                return None;
            }
            *flag = true;
            Some((
                imp.live.clone(),
                imp.content,
                imp.placement.clone(),
                imp.served_ms,
            ))
        })??;
        let c = &live.campaign;
        let price = match kind {
            EventKind::View => c.view_price(),
            EventKind::Click => c.click_price(),
        };
        let charged = live.counters.charge(kind, price, c.budget.total, now_ms);
        if kind == EventKind::Click {
            self.raise_ctr_bound(&live);
        }
        Some(Charge {
            impression_id: impression_id.to_string(),
            campaign_id: c.id.clone(),
            content_id: c.contents[content].id.clone(),
            placement_id: placement.to_string(),
            served_ms,
            kind,
            price: charged,
            at_ms: now_ms,
        })
    }

    /// Takes back a stored impression at start: its dedupe state while it may still
    /// count, and its place in the visitor's frequency cap.
    #[allow(clippy::too_many_arguments)]
    pub fn restore_impression(
        &self,
        impression_id: &str,
        partner: i64,
        campaign_id: &str,
        content_id: &str,
        placement_id: &str,
        session: &str,
        served_ms: i64,
        viewed: bool,
        clicked: bool,
        now_ms: i64,
    ) {
        let (Some(key), Some(live)) = (parse_impression_id(impression_id), self.get(campaign_id))
        else {
            return;
        };
        let Some(content) = live
            .campaign
            .contents
            .iter()
            .position(|c| c.id == content_id)
        else {
            return;
        };
        if let Some(cap) = live.campaign.frequency_cap {
            if served_ms > now_ms - cap.period_ms {
                let mut caps = lock(&self.caps[cap_shard(session)]);
                let seen = cap_list(&mut caps, session, live.serial);
                let at = seen.partition_point(|t| *t <= served_ms);
                seen.insert(at, served_ms);
            }
        }
        if now_ms - served_ms <= DAY_MS {
            self.impressions.insert(
                key,
                Impression {
                    partner,
                    live,
                    content,
                    placement: Arc::from(placement_id),
                    served_ms,
                    viewed,
                    clicked,
                },
            );
        }
    }

    /// Forgets impressions that can no longer count and caps that no longer hold.
    pub fn prune(&self, now_ms: i64) {
        // Views lower click-through rates: tighten the bound. A click counted while the
        // first pass runs may be missed by it and overwritten by the store, but not by
        // the second pass: it reads every counter after the store (and a click counted
        // after that raises the bound itself, after the store).
        self.ctr_bound
            .store(self.highest_ctr().to_bits(), Ordering::SeqCst);
        self.ctr_bound
            .fetch_max(self.highest_ctr().to_bits(), Ordering::SeqCst);
        self.impressions.retain(|i| now_ms - i.served_ms <= DAY_MS);
        let longest = self
            .by_id
            .read()
            .map(|m| {
                m.values()
                    .filter_map(|l| l.campaign.frequency_cap.map(|c| c.period_ms))
                    .max()
                    .unwrap_or(0)
            })
            .unwrap_or(0);
        for shard in &self.caps {
            lock(shard).retain(|_, lists| {
                lists.retain(|(_, seen)| seen.back().is_some_and(|t| *t > now_ms - longest));
                !lists.is_empty()
            });
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn hex_ids_match_format() {
        for n in [
            0u128,
            1,
            0xabc,
            u128::MAX,
            (0x198e_5a00_3634_b069_c886_6241u128 << 32) | 7,
        ] {
            let mut s = String::new();
            super::push_hex32(&mut s, n);
            assert_eq!(s, format!("{n:032x}"));
        }
    }
}
