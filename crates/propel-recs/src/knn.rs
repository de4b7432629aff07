//! Session-based kNN in the manner of STAN / V-SKNN: the current session is
//! compared with recent past sessions that share items; the items of the
//! most similar ones are scored by closeness to the shared items.
//!
//! Everything that does not depend on the request is computed at build time
//! (per session: its distinct items at their last position, length and
//! recency factor; per item: its weighted idf; the item-distance decay), and
//! a request accumulates into reusable dense arrays ([`Scratch`]) instead of
//! hash maps, so one request costs a pass over the candidates' postings and
//! the neighbours' items.

use std::cell::RefCell;

use crate::config::KnnConfig;
use crate::cooc::Prepared;

/// Dense accumulator over ids `0..n`: values with a generation stamp, so a
/// reset costs nothing and an entry added with 0.0 still counts as present
/// (as an entry of a map would).
#[derive(Default)]
pub(crate) struct Acc {
    /// (generation stamp, value) per id: one cache line per access.
    slots: Vec<(u32, f32)>,
    gen: u32,
    /// Ids present, in first-touch order.
    pub touched: Vec<u32>,
}

impl Acc {
    /// Empties the accumulator for ids `0..n`.
    pub fn reset(&mut self, n: usize) {
        if self.slots.len() < n {
            self.slots.resize(n, (0, 0.0));
        }
        self.gen = self.gen.wrapping_add(1);
        if self.gen == 0 {
            self.slots.iter_mut().for_each(|s| s.0 = 0);
            self.gen = 1;
        }
        self.touched.clear();
    }

    #[inline]
    pub fn add(&mut self, id: u32, w: f32) {
        let slot = &mut self.slots[id as usize];
        if slot.0 != self.gen {
            *slot = (self.gen, 0.0);
            self.touched.push(id);
        }
        slot.1 += w;
    }

    /// Sets the value, adding the id if absent.
    #[inline]
    pub fn set(&mut self, id: u32, w: f32) {
        let slot = &mut self.slots[id as usize];
        if slot.0 != self.gen {
            self.touched.push(id);
        }
        *slot = (self.gen, w);
    }

    #[inline]
    pub fn get(&self, id: u32) -> Option<f32> {
        self.slots
            .get(id as usize)
            .filter(|s| s.0 == self.gen)
            .map(|s| s.1)
    }

    /// The largest value (0 when none is positive).
    pub fn max(&self) -> f32 {
        self.touched
            .iter()
            .fold(0.0f32, |a, &i| a.max(self.slots[i as usize].1))
    }

    /// (id, value) of every present id, in first-touch order.
    pub fn entries(&self) -> impl Iterator<Item = (u32, f32)> + '_ {
        self.touched.iter().map(|&i| (i, self.slots[i as usize].1))
    }

    pub fn len(&self) -> usize {
        self.touched.len()
    }
}

/// Per candidate session: (generation stamp, dot product with the current
/// session, last position in it of an item of the current session, the
/// session's factor).
#[derive(Default)]
struct Dots {
    slots: Vec<(u32, f32, u32, f32)>,
    gen: u32,
    touched: Vec<u32>,
}

impl Dots {
    fn reset(&mut self, n: usize) {
        if self.slots.len() < n {
            self.slots.resize(n, (0, 0.0, 0, 0.0));
        }
        self.gen = self.gen.wrapping_add(1);
        if self.gen == 0 {
            self.slots.iter_mut().for_each(|s| s.0 = 0);
            self.gen = 1;
        }
        self.touched.clear();
    }

    #[inline]
    fn add(&mut self, sid: u32, w: f32, pos: u32, factor: f32) {
        let slot = &mut self.slots[sid as usize];
        if slot.0 != self.gen {
            *slot = (self.gen, w, pos, factor);
            self.touched.push(sid);
        } else {
            slot.1 += w;
            slot.2 = slot.2.max(pos);
        }
    }
}

/// The bits of a float as an unsigned integer in `f32::total_cmp` order.
pub(crate) fn order_bits(f: f32) -> u32 {
    let b = f.to_bits();
    if b >> 31 == 1 {
        !b
    } else {
        b | 0x8000_0000
    }
}

/// Per-thread buffers of one scoring request, reused across requests.
#[derive(Default)]
pub(crate) struct Scratch {
    /// Position weight of each distinct item of the current session.
    pos: Acc,
    /// Dot products and anchors of the candidate sessions.
    dots: Dots,
    /// Candidate sessions with their similarity and anchor.
    cands: Vec<(u32, f32, u32)>,
    /// Item scores (the answer of [`SessionIndex::score`]).
    pub scores: Acc,
    /// A second item accumulator for callers (sequential rules).
    pub other: Acc,
    /// Ranking keys for callers ([`crate::algorithms`]' `extend_ranked`).
    pub keys: Vec<u64>,
}

thread_local! {
    static SCRATCH: RefCell<Scratch> = RefCell::new(Scratch::default());
}

/// Runs `f` with this thread's scratch buffers (fresh ones if they are in use).
pub(crate) fn with_scratch<R>(f: impl FnOnce(&mut Scratch) -> R) -> R {
    let mut f = Some(f);
    let reused = SCRATCH.with(|cell| {
        cell.try_borrow_mut()
            .ok()
            .map(|mut s| (f.take().expect("called once"))(&mut s))
    });
    match reused {
        Some(r) => r,
        None => (f.take().expect("called once"))(&mut Scratch::default()),
    }
}

/// Indexed past sessions; session ids grow with recency (end time).
pub(crate) struct SessionIndex {
    cfg: KnnConfig,
    /// Per session, its distinct items each at its last position in the
    /// session's sequence (consecutive repeats removed) with its weighted
    /// idf, last first (the order STAN scores them in), flattened: session
    /// `s` is `last[last_starts[s]..last_starts[s + 1]]`.
    last: Vec<(u32, u32, f32)>,
    last_starts: Vec<u32>,
    /// Per session: recency decay / sqrt(distinct items) (also in its
    /// postings, where requests read it). The decay `recency` is taken from
    /// the newest session's end, not from the request time: for a request at
    /// or after that end the two differ by one factor common to every
    /// session, which neither the top-k choice nor the normalised scores see,
    /// and the newest data never decays to nothing (f32) however old it is.
    /// A request before it (sessions "from the future", as in a hold-out
    /// evaluation) caps the decay at the request time's, as an age clamped at
    /// 0 would.
    factor: Vec<f32>,
    recency: Vec<f32>,
    newest_ms: i64,
    /// Per item: (session id, the item's last position in it, the session's
    /// factor), most recent session first, at most `sample_per_item`.
    postings: Vec<Vec<(u32, u32, f32)>>,
    /// exp(-d / lambda_item) by distance d.
    item_decay: Vec<f32>,
}

impl SessionIndex {
    /// `sessions` must be ordered by end time, oldest first.
    pub fn build(sessions: &[Prepared], n_items: usize, cfg: &KnnConfig) -> Self {
        let mut postings: Vec<Vec<(u32, u32, f32)>> = vec![Vec::new(); n_items];
        let mut df = vec![0u32; n_items];
        let total: usize = sessions.iter().map(|s| s.seq.len()).sum();
        let mut last_pos: Vec<(u32, u32)> = Vec::with_capacity(total);
        let mut last_starts = Vec::with_capacity(sessions.len() + 1);
        let mut factor = Vec::with_capacity(sessions.len());
        let mut recency = Vec::with_capacity(sessions.len());
        let newest = sessions.iter().map(|s| s.end_ms).max().unwrap_or(0);
        let day_ms = 86_400_000.0;
        let mut max_len = 1;
        last_starts.push(0);
        for (sid, s) in sessions.iter().enumerate() {
            let from = last_pos.len();
            for (p, &it) in s.seq.iter().enumerate().rev() {
                if !last_pos[from..].iter().any(|&(x, _)| x == it) {
                    last_pos.push((it, p as u32));
                }
            }
            let len = (last_pos.len() - from).max(1) as f64;
            let mut g = 1.0;
            if cfg.lambda_days > 0.0 {
                let age = (newest - s.end_ms).max(0) as f64;
                g = (-age / (cfg.lambda_days * day_ms)).exp();
            }
            let f = (g / len.sqrt()) as f32;
            factor.push(f);
            recency.push(g as f32);
            for &(it, p) in &last_pos[from..] {
                if let Some(list) = postings.get_mut(it as usize) {
                    list.push((sid as u32, p, f));
                }
                if let Some(d) = df.get_mut(it as usize) {
                    *d += 1;
                }
            }
            last_starts.push(last_pos.len() as u32);
            max_len = max_len.max(s.seq.len());
        }
        for p in &mut postings {
            p.reverse();
            p.truncate(cfg.sample_per_item);
            p.shrink_to_fit();
        }
        let n = sessions.len().max(1) as f32;
        let idf_w: Vec<f32> = df
            .iter()
            .map(|&d| {
                if cfg.idf > 0.0 {
                    (n / d.max(1) as f32).ln().powf(cfg.idf as f32)
                } else {
                    1.0
                }
            })
            .collect();
        let last = last_pos
            .into_iter()
            .map(|(it, p)| (it, p, idf_w.get(it as usize).copied().unwrap_or(1.0)))
            .collect();
        let item_decay = (0..=max_len)
            .map(|d| {
                if cfg.lambda_item > 0.0 {
                    (-(d as f64) / cfg.lambda_item).exp() as f32
                } else {
                    1.0
                }
            })
            .collect();
        SessionIndex {
            cfg: cfg.clone(),
            last,
            last_starts,
            factor,
            recency,
            newest_ms: newest,
            postings,
            item_decay,
        }
    }

    fn n_items(&self) -> usize {
        self.postings.len()
    }

    fn last_items(&self, sid: usize) -> &[(u32, u32, f32)] {
        &self.last[self.last_starts[sid] as usize..self.last_starts[sid + 1] as usize]
    }

    /// End of the newest indexed session: answers do not depend on a request
    /// time at or after it.
    pub fn newest_ms(&self) -> i64 {
        self.newest_ms
    }

    /// Scores items for the current session (dense ids, oldest first) at
    /// `now_ms` into `s.scores` (reset first). Ids beyond the index are ignored.
    pub fn score(&self, current: &[u32], now_ms: i64, s: &mut Scratch) {
        let cfg = &self.cfg;
        let n_items = self.n_items();
        s.scores.reset(n_items);
        s.pos.reset(n_items);
        s.dots.reset(self.factor.len());
        s.cands.clear();
        // Position weight of each distinct current item, from its last occurrence.
        let n = current.len();
        for (p, &it) in current.iter().enumerate() {
            if it as usize >= n_items {
                continue;
            }
            let w = if cfg.lambda_pos > 0.0 {
                (-((n - 1 - p) as f64) / cfg.lambda_pos).exp() as f32
            } else {
                1.0
            };
            s.pos.set(it, w);
        }
        if s.pos.len() == 0 {
            return;
        }
        let norm_cur: f32 = s.pos.entries().map(|(_, w)| w * w).sum::<f32>().sqrt();
        // Dot products with every candidate session in one pass over postings;
        // the neighbour's last item shared with the current session anchors
        // distances (the greatest last position of a shared item).
        for (it, w) in s.pos.entries() {
            for &(sid, p, f) in &self.postings[it as usize] {
                s.dots.add(sid, w, p, f);
            }
        }
        let dots = &s.dots;
        if dots.touched.len() > cfg.sample {
            // Most recent `sample` candidates: ids follow recency.
            s.cands
                .extend(dots.touched.iter().map(|&sid| (sid, 0.0, 0)));
            s.cands
                .select_nth_unstable_by(cfg.sample, |a, b| b.0.cmp(&a.0));
            s.cands.truncate(cfg.sample);
            for c in &mut s.cands {
                let slot = dots.slots[c.0 as usize];
                *c = (c.0, slot.1 / norm_cur * slot.3, slot.2);
            }
        } else {
            s.cands.extend(dots.touched.iter().map(|&sid| {
                let slot = dots.slots[sid as usize];
                (sid, slot.1 / norm_cur * slot.3, slot.2)
            }));
        }
        if cfg.lambda_days > 0.0 && now_ms < self.newest_ms {
            // Sessions ending after the request time count as ending at it.
            let cap = (-((self.newest_ms - now_ms) as f64) / (cfg.lambda_days * 86_400_000.0)).exp()
                as f32;
            for c in &mut s.cands {
                let g = self.recency[c.0 as usize];
                if g > cap {
                    c.1 *= cap / g;
                }
            }
        }
        if s.cands.len() > cfg.k {
            // Best `k` by similarity, on integer keys in `f32::total_cmp` order.
            s.cands
                .select_nth_unstable_by_key(cfg.k, |c| std::cmp::Reverse(order_bits(c.1)));
            s.cands.truncate(cfg.k);
        }
        for &(sid, sim, anchor) in &s.cands {
            // Each item once per neighbour, at its last position (as STAN).
            for &(it, p, idf) in self.last_items(sid as usize) {
                let d = p.abs_diff(anchor) as usize;
                s.scores.add(it, sim * self.item_decay[d] * idf);
            }
        }
    }
}
