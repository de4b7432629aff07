//! The live side of retail media: active campaigns indexed by partner, the auction,
//! frequency caps, and the served impressions whose views and clicks may still count.
//!
//! Serving takes no global lock: the partner's campaign list is an `ArcSwap`, counters
//! are atomics, impressions and caps sit in sharded maps.

use crate::budget::{Counters, EventKind, Totals};
use crate::campaign::{Campaign, ContentBody};
use crate::index::PartnerIndex;
use crate::placement::{ContentType, Placement};
use crate::targeting::{Page, Products, Visitor};
use crate::{pacing, Nanos, DAY_MS};
use arc_swap::ArcSwap;
use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, RwLock};

const SHARDS: usize = 32;

/// A campaign with its live state.
#[derive(Debug)]
pub struct Live {
    pub campaign: Campaign,
    serial: u32,
    paused: AtomicBool,
    pub counters: Counters,
}

impl Live {
    pub fn serial(&self) -> u32 {
        self.serial
    }

    pub fn paused(&self) -> bool {
        self.paused.load(Ordering::Acquire)
    }

    fn active(&self, now_ms: i64) -> bool {
        let c = &self.campaign;
        if self.paused() || !c.in_schedule(now_ms) || self.counters.spent() >= c.budget.total {
            return false;
        }
        c.daily_budget()
            .is_none_or(|d| pacing::allowed(d, self.counters.day_spent(now_ms), now_ms))
    }
}

#[derive(Debug)]
struct Impression {
    partner: i64,
    live: Arc<Live>,
    served_ms: i64,
    viewed: bool,
    clicked: bool,
}

/// A served impression, for the store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Served {
    pub impression_id: String,
    pub partner: i64,
    pub campaign_id: String,
    pub content_id: String,
    pub placement_id: String,
    pub session: String,
    pub served_ms: i64,
}

/// The winner of one request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decision {
    pub content_id: String,
    pub body: ContentBody,
    pub served: Served,
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

/// A counted view or click, for the store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Charge {
    pub impression_id: String,
    pub campaign_id: String,
    pub kind: EventKind,
    pub price: Nanos,
    pub at_ms: i64,
}

type CapKey = (u32, String);

pub struct Engine {
    by_id: RwLock<HashMap<String, Arc<Live>>>,
    by_partner: ArcSwap<HashMap<i64, Arc<PartnerIndex>>>,
    impressions: Vec<Mutex<HashMap<u128, Impression>>>,
    caps: Vec<Mutex<HashMap<CapKey, VecDeque<i64>>>>,
    prefix: u64,
    next_id: AtomicU64,
    next_serial: AtomicU32,
    rotation: AtomicU64,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    match m.lock() {
        Ok(g) => g,
        Err(p) => p.into_inner(),
    }
}

fn shard_of(key: u128) -> usize {
    (key as u64 ^ (key >> 64) as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15) as usize >> 59
}

fn cap_shard(serial: u32, session: &str) -> usize {
    let h = session
        .bytes()
        .fold(serial as u64 ^ 0xcbf2_9ce4_8422_2325, |h, b| {
            (h ^ b as u64).wrapping_mul(0x100_0000_01b3)
        });
    (h % SHARDS as u64) as usize
}

/// Impression ids: 32 hex characters, a random per-process prefix and a counter.
pub fn parse_impression_id(id: &str) -> Option<u128> {
    (id.len() == 32)
        .then(|| u128::from_str_radix(id, 16).ok())
        .flatten()
}

impl Engine {
    /// `seed`: random bits that make this process's impression ids unlike any other's.
    pub fn new(seed: u64) -> Engine {
        Engine {
            by_id: RwLock::new(HashMap::new()),
            by_partner: ArcSwap::from_pointee(HashMap::new()),
            impressions: (0..SHARDS).map(|_| Mutex::default()).collect(),
            caps: (0..SHARDS).map(|_| Mutex::default()).collect(),
            prefix: seed,
            next_id: AtomicU64::new(0),
            next_serial: AtomicU32::new(0),
            rotation: AtomicU64::new(0),
        }
    }

    /// Adds (or replaces) a campaign with its stored totals.
    pub fn insert(&self, campaign: Campaign, totals: Totals) {
        let live = Arc::new(Live {
            paused: AtomicBool::new(campaign.paused),
            serial: self.next_serial.fetch_add(1, Ordering::Relaxed),
            counters: Counters::from_totals(totals),
            campaign,
        });
        let mut by_id = self.by_id.write().unwrap_or_else(|p| p.into_inner());
        by_id.insert(live.campaign.id.clone(), live);
        let mut index: HashMap<i64, PartnerIndex> = HashMap::new();
        let mut all: Vec<&Arc<Live>> = by_id.values().collect();
        all.sort_by(|a, b| a.campaign.id.cmp(&b.campaign.id));
        for live in all {
            for p in &live.campaign.partners {
                index.entry(*p).or_default().add(live);
            }
        }
        self.by_partner.store(Arc::new(
            index.into_iter().map(|(k, v)| (k, Arc::new(v))).collect(),
        ));
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

    fn new_impression_id(&self) -> (u128, String) {
        let n = self.next_id.fetch_add(1, Ordering::Relaxed);
        let key = ((self.prefix as u128) << 64) | n as u128;
        (key, format!("{key:032x}"))
    }

    /// Runs the auction for one request and records the winner as served.
    pub fn decide(&self, ask: &Ask<'_>, base: &dyn Products) -> Option<Decision> {
        let Ask {
            partner,
            placement,
            accept,
            page,
            visitor,
            now_ms,
        } = *ask;
        let index = self.by_partner.load().get(&partner).cloned()?;
        let mut candidates: Vec<(f64, &Arc<Live>, usize)> = Vec::new();
        let shown = |t: ContentType| accept.contains(&t) && placement.content_types.contains(&t);
        for live in index.gather(page) {
            let c = &live.campaign;
            if !live.active(now_ms)
                || !c.contents.iter().any(|x| shown(x.content_type()))
                || !c.targeting.matches(page, visitor, base)
            {
                continue;
            }
            let value = c.value_per_view(live.counters.views(), live.counters.clicks());
            for (i, x) in c.contents.iter().enumerate() {
                if shown(x.content_type()) {
                    candidates.push((value, live, i));
                }
            }
        }
        // Most requests are decided by the best group: find it without sorting all.
        let best = candidates.iter().map(|c| c.0).fold(f64::MIN, f64::max);
        let (top, rest): (Vec<_>, Vec<_>) = candidates.into_iter().partition(|c| c.0 == best);
        if let Some(d) = self.try_group(&top, ask, base) {
            return Some(d);
        }
        let mut rest = rest;
        rest.sort_by(|a, b| b.0.total_cmp(&a.0));
        let mut start = 0;
        while start < rest.len() {
            let value = rest[start].0;
            let end = start + rest[start..].iter().take_while(|c| c.0 == value).count();
            if let Some(d) = self.try_group(&rest[start..end], ask, base) {
                return Some(d);
            }
            start = end;
        }
        None
    }

    /// Tied candidates, tried in turn from a rotating start: fair rotation on ties.
    fn try_group(
        &self,
        group: &[(f64, &Arc<Live>, usize)],
        ask: &Ask<'_>,
        base: &dyn Products,
    ) -> Option<Decision> {
        if group.is_empty() {
            return None;
        }
        let turn = self.rotation.fetch_add(1, Ordering::Relaxed) as usize;
        (0..group.len()).find_map(|k| {
            let (_, live, i) = group[(turn + k) % group.len()];
            self.try_serve(
                ask.partner,
                ask.placement,
                live,
                i,
                ask.page,
                ask.visitor,
                base,
                ask.now_ms,
            )
        })
    }

    #[allow(clippy::too_many_arguments)]
    fn try_serve(
        &self,
        partner: i64,
        placement: &Placement,
        live: &Arc<Live>,
        content: usize,
        page: &Page,
        visitor: &Visitor,
        base: &dyn Products,
        now_ms: i64,
    ) -> Option<Decision> {
        let c = &live.campaign.contents[content];
        let body = match &c.body {
            ContentBody::String(s) => ContentBody::String(s.clone()),
            ContentBody::ProductIds(ids) => {
                let shelf: Vec<i64> = ids
                    .iter()
                    .copied()
                    .filter(|id| base.available(*id, page.stock.as_deref()))
                    .collect();
                if shelf.is_empty() {
                    return None;
                }
                ContentBody::ProductIds(shelf)
            }
        };
        if let Some(cap) = live.campaign.frequency_cap {
            let key = (live.serial, visitor.session.clone());
            let mut caps = lock(&self.caps[cap_shard(live.serial, &visitor.session)]);
            let seen = caps.entry(key).or_default();
            while seen.front().is_some_and(|t| *t <= now_ms - cap.period_ms) {
                seen.pop_front();
            }
            if seen.len() >= cap.count as usize {
                return None;
            }
            seen.push_back(now_ms);
        }
        live.counters.add_served();
        let (key, id) = self.new_impression_id();
        lock(&self.impressions[shard_of(key)]).insert(
            key,
            Impression {
                partner,
                live: live.clone(),
                served_ms: now_ms,
                viewed: false,
                clicked: false,
            },
        );
        Some(Decision {
            content_id: c.id.clone(),
            body,
            served: Served {
                impression_id: id,
                partner,
                campaign_id: live.campaign.id.clone(),
                content_id: c.id.clone(),
                placement_id: placement.id.clone(),
                session: visitor.session.clone(),
                served_ms: now_ms,
            },
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
        let live = {
            let mut shard = lock(&self.impressions[shard_of(key)]);
            let imp = shard.get_mut(&key)?;
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
            imp.live.clone()
        };
        let c = &live.campaign;
        let price = match kind {
            EventKind::View => c.view_price(),
            EventKind::Click => c.click_price(),
        };
        let charged = live.counters.charge(kind, price, c.budget.total, now_ms);
        Some(Charge {
            impression_id: impression_id.to_string(),
            campaign_id: c.id.clone(),
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
        if let Some(cap) = live.campaign.frequency_cap {
            if served_ms > now_ms - cap.period_ms {
                let mut caps = lock(&self.caps[cap_shard(live.serial, session)]);
                let seen = caps.entry((live.serial, session.to_string())).or_default();
                let at = seen.partition_point(|t| *t <= served_ms);
                seen.insert(at, served_ms);
            }
        }
        if now_ms - served_ms <= DAY_MS {
            lock(&self.impressions[shard_of(key)]).insert(
                key,
                Impression {
                    partner,
                    live,
                    served_ms,
                    viewed,
                    clicked,
                },
            );
        }
    }

    /// Forgets impressions that can no longer count and caps that no longer hold.
    pub fn prune(&self, now_ms: i64) {
        for shard in &self.impressions {
            lock(shard).retain(|_, i| now_ms - i.served_ms <= DAY_MS);
        }
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
            lock(shard).retain(|_, seen| seen.back().is_some_and(|t| *t > now_ms - longest));
        }
    }
}
