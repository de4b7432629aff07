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
    val: Vec<f32>,
    stamp: Vec<u32>,
    gen: u32,
    /// Ids present, in first-touch order.
    pub touched: Vec<u32>,
}

impl Acc {
    /// Empties the accumulator for ids `0..n`.
    pub fn reset(&mut self, n: usize) {
        if self.val.len() < n {
            self.val.resize(n, 0.0);
            self.stamp.resize(n, 0);
        }
        self.gen = self.gen.wrapping_add(1);
        if self.gen == 0 {
            self.stamp.iter_mut().for_each(|s| *s = 0);
            self.gen = 1;
        }
        self.touched.clear();
    }

    #[inline]
    pub fn add(&mut self, id: u32, w: f32) {
        let i = id as usize;
        if self.stamp[i] != self.gen {
            self.stamp[i] = self.gen;
            self.val[i] = 0.0;
            self.touched.push(id);
        }
        self.val[i] += w;
    }

    /// Sets the value, adding the id if absent.
    #[inline]
    pub fn set(&mut self, id: u32, w: f32) {
        let i = id as usize;
        if self.stamp[i] != self.gen {
            self.stamp[i] = self.gen;
            self.touched.push(id);
        }
        self.val[i] = w;
    }

    #[inline]
    pub fn get(&self, id: u32) -> Option<f32> {
        let i = id as usize;
        (self.stamp.get(i) == Some(&self.gen)).then(|| self.val[i])
    }

    #[inline]
    pub fn contains(&self, id: u32) -> bool {
        self.stamp.get(id as usize) == Some(&self.gen)
    }

    /// Divides every value by the largest one (when positive).
    pub fn normalise(&mut self) {
        let max = self
            .touched
            .iter()
            .fold(0.0f32, |a, &i| a.max(self.val[i as usize]));
        if max > 0.0 {
            for &i in &self.touched {
                self.val[i as usize] /= max;
            }
        }
    }

    /// (id, value) of every present id, in first-touch order.
    pub fn entries(&self) -> impl Iterator<Item = (u32, f32)> + '_ {
        self.touched.iter().map(|&i| (i, self.val[i as usize]))
    }

    pub fn len(&self) -> usize {
        self.touched.len()
    }
}

/// Per-thread buffers of one scoring request, reused across requests.
#[derive(Default)]
pub(crate) struct Scratch {
    /// Position weight of each distinct item of the current session.
    pos: Acc,
    /// Dot product with the current session, per candidate session.
    dots: Acc,
    /// Candidate sessions with their similarity.
    cands: Vec<(u32, f32)>,
    /// Item scores (the answer of [`SessionIndex::score`]).
    pub scores: Acc,
    /// A second item accumulator for callers (sequential rules).
    pub other: Acc,
    /// Sorted (item, score) pairs for callers.
    pub ranked: Vec<(u32, f32)>,
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
    /// Item sequences (consecutive repeats removed), flattened; session `s`
    /// is `items[starts[s]..starts[s + 1]]`.
    items: Vec<u32>,
    starts: Vec<u32>,
    /// Per session, its distinct items each at its last position, last
    /// first (the order STAN scores them in); same `starts`-like layout.
    last: Vec<(u32, u32)>,
    last_starts: Vec<u32>,
    /// Per session: recency decay / sqrt(distinct items). The decay is taken
    /// from the newest session's end, not from the request time: the two
    /// differ by one factor common to every session, which neither the
    /// top-k choice nor the normalised scores see, and the newest data never
    /// decays to nothing (f32) however old it is.
    factor: Vec<f32>,
    /// Per item: session ids, most recent first, at most `sample_per_item`.
    postings: Vec<Vec<u32>>,
    /// Per item: ln(sessions / sessions with the item) ^ idf.
    idf_w: Vec<f32>,
    /// exp(-d / lambda_item) by distance d.
    item_decay: Vec<f32>,
}

impl SessionIndex {
    /// `sessions` must be ordered by end time, oldest first.
    pub fn build(sessions: &[Prepared], n_items: usize, cfg: &KnnConfig) -> Self {
        let mut postings: Vec<Vec<u32>> = vec![Vec::new(); n_items];
        let mut df = vec![0u32; n_items];
        let total: usize = sessions.iter().map(|s| s.seq.len()).sum();
        let mut items = Vec::with_capacity(total);
        let mut starts = Vec::with_capacity(sessions.len() + 1);
        let mut last = Vec::with_capacity(total);
        let mut last_starts = Vec::with_capacity(sessions.len() + 1);
        let mut factor = Vec::with_capacity(sessions.len());
        let newest = sessions.iter().map(|s| s.end_ms).max().unwrap_or(0);
        let day_ms = 86_400_000.0;
        let mut uniq: Vec<u32> = Vec::new();
        let mut max_len = 1;
        starts.push(0);
        last_starts.push(0);
        for (sid, s) in sessions.iter().enumerate() {
            uniq.clear();
            uniq.extend_from_slice(&s.seq);
            uniq.sort_unstable();
            uniq.dedup();
            for &it in &uniq {
                if let Some(p) = postings.get_mut(it as usize) {
                    p.push(sid as u32);
                }
                if let Some(d) = df.get_mut(it as usize) {
                    *d += 1;
                }
            }
            items.extend_from_slice(&s.seq);
            starts.push(items.len() as u32);
            let from = last.len();
            for (p, &it) in s.seq.iter().enumerate().rev() {
                if !last[from..].iter().any(|&(x, _)| x == it) {
                    last.push((it, p as u32));
                }
            }
            last_starts.push(last.len() as u32);
            max_len = max_len.max(s.seq.len());
            let len = uniq.len().max(1) as f64;
            let mut f = 1.0 / len.sqrt();
            if cfg.lambda_days > 0.0 {
                let age = (newest - s.end_ms).max(0) as f64;
                f *= (-age / (cfg.lambda_days * day_ms)).exp();
            }
            factor.push(f as f32);
        }
        for p in &mut postings {
            p.reverse();
            p.truncate(cfg.sample_per_item);
            p.shrink_to_fit();
        }
        let n = sessions.len().max(1) as f32;
        let idf_w = df
            .iter()
            .map(|&d| {
                if cfg.idf > 0.0 {
                    (n / d.max(1) as f32).ln().powf(cfg.idf as f32)
                } else {
                    1.0
                }
            })
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
            items,
            starts,
            last,
            last_starts,
            factor,
            postings,
            idf_w,
            item_decay,
        }
    }

    fn n_items(&self) -> usize {
        self.postings.len()
    }

    fn seq(&self, sid: usize) -> &[u32] {
        &self.items[self.starts[sid] as usize..self.starts[sid + 1] as usize]
    }

    fn last_items(&self, sid: usize) -> &[(u32, u32)] {
        &self.last[self.last_starts[sid] as usize..self.last_starts[sid + 1] as usize]
    }

    /// Scores items for the current session (dense ids, oldest first) into
    /// `s.scores` (reset first). Ids beyond the index are ignored.
    pub fn score(&self, current: &[u32], s: &mut Scratch) {
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
        // Dot products with every candidate session in one pass over postings.
        for (it, w) in s.pos.entries() {
            for &sid in &self.postings[it as usize] {
                s.dots.add(sid, w);
            }
        }
        s.cands.extend(s.dots.entries());
        if s.cands.len() > cfg.sample {
            // Most recent `sample` candidates: ids follow recency.
            s.cands
                .select_nth_unstable_by(cfg.sample, |a, b| b.0.cmp(&a.0));
            s.cands.truncate(cfg.sample);
        }
        for c in &mut s.cands {
            c.1 = c.1 / norm_cur * self.factor[c.0 as usize];
        }
        if s.cands.len() > cfg.k {
            s.cands
                .select_nth_unstable_by(cfg.k, |a, b| b.1.total_cmp(&a.1));
            s.cands.truncate(cfg.k);
        }
        for &(sid, sim) in &s.cands {
            let sid = sid as usize;
            // The neighbour's last item shared with the current session anchors distances.
            let anchor = self
                .seq(sid)
                .iter()
                .rposition(|&i| s.pos.contains(i))
                .unwrap_or(0);
            // Each item once per neighbour, at its last position (as STAN).
            for &(it, p) in self.last_items(sid) {
                let d = (p as usize).abs_diff(anchor);
                let w = sim * self.item_decay[d] * self.idf_w[it as usize];
                s.scores.add(it, w);
            }
        }
    }

    /// Per item, the kNN scores of a session made of that item alone, best
    /// first, the item itself left out: precomputed so that product-to-product
    /// requests only read lists.
    pub fn item_neighbours(&self, top: usize) -> Vec<Vec<(u32, f32)>> {
        with_scratch(|s| {
            (0..self.n_items() as u32)
                .map(|it| {
                    if self.postings[it as usize].is_empty() {
                        return Vec::new();
                    }
                    self.score(&[it], s);
                    let mut v: Vec<(u32, f32)> = s.scores.entries().filter(|x| x.0 != it).collect();
                    v.sort_unstable_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
                    v.truncate(top);
                    v.shrink_to_fit();
                    v
                })
                .collect()
        })
    }
}
