//! Session-based kNN in the manner of STAN / V-SKNN: the current session is
//! compared with recent past sessions that share items; the items of the
//! most similar ones are scored by closeness to the shared items.

use std::collections::HashMap;

use crate::config::KnnConfig;
use crate::cooc::Prepared;

/// Indexed past sessions; session ids grow with recency (end time).
pub(crate) struct SessionIndex {
    /// Item sequences (consecutive repeats removed).
    seqs: Vec<Vec<u32>>,
    /// Number of distinct items per session.
    distinct: Vec<u32>,
    end_ms: Vec<i64>,
    /// Per item: session ids, most recent first, at most `sample_per_item`.
    postings: Vec<Vec<u32>>,
    /// Per item: ln(sessions / sessions with the item).
    idf: Vec<f32>,
}

impl SessionIndex {
    /// `sessions` must be ordered by end time, oldest first.
    pub fn build(sessions: &[Prepared], n_items: usize, sample_per_item: usize) -> Self {
        let mut postings: Vec<Vec<u32>> = vec![Vec::new(); n_items];
        let mut df = vec![0u32; n_items];
        let mut seqs = Vec::with_capacity(sessions.len());
        let mut distinct = Vec::with_capacity(sessions.len());
        let mut end_ms = Vec::with_capacity(sessions.len());
        let mut uniq: Vec<u32> = Vec::new();
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
            seqs.push(s.seq.clone());
            distinct.push(uniq.len() as u32);
            end_ms.push(s.end_ms);
        }
        for p in &mut postings {
            p.reverse();
            p.truncate(sample_per_item);
            p.shrink_to_fit();
        }
        let n = sessions.len().max(1) as f32;
        let idf = df.iter().map(|&d| (n / d.max(1) as f32).ln()).collect();
        SessionIndex {
            seqs,
            distinct,
            end_ms,
            postings,
            idf,
        }
    }

    /// Scores items for the current session (dense ids, oldest first) at `now_ms`.
    pub fn score(&self, current: &[u32], now_ms: i64, cfg: &KnnConfig) -> HashMap<u32, f32> {
        let mut scores = HashMap::new();
        if current.is_empty() {
            return scores;
        }
        // Position weight of each distinct current item, from its last occurrence.
        let n = current.len();
        let mut pos_w: HashMap<u32, f32> = HashMap::with_capacity(n);
        for (p, &it) in current.iter().enumerate() {
            let w = if cfg.lambda_pos > 0.0 {
                (-((n - 1 - p) as f64) / cfg.lambda_pos).exp() as f32
            } else {
                1.0
            };
            pos_w.insert(it, w);
        }
        let norm_cur: f32 = pos_w.values().map(|w| w * w).sum::<f32>().sqrt();
        // Dot products with every candidate session in one pass over postings.
        let mut dots: HashMap<u32, f32> = HashMap::new();
        for (&it, &w) in &pos_w {
            if let Some(p) = self.postings.get(it as usize) {
                for &sid in p {
                    *dots.entry(sid).or_default() += w;
                }
            }
        }
        let mut cands: Vec<(u32, f32)> = dots.into_iter().collect();
        if cands.len() > cfg.sample {
            // Most recent `sample` candidates: ids follow recency.
            cands.select_nth_unstable_by(cfg.sample, |a, b| b.0.cmp(&a.0));
            cands.truncate(cfg.sample);
        }
        let day_ms = 86_400_000.0;
        for c in &mut cands {
            let sid = c.0 as usize;
            let len = self.distinct.get(sid).copied().unwrap_or(1).max(1) as f32;
            let mut sim = c.1 / (norm_cur * len.sqrt());
            if cfg.lambda_days > 0.0 {
                let age = (now_ms - self.end_ms.get(sid).copied().unwrap_or(now_ms)).max(0) as f64;
                sim *= (-age / (cfg.lambda_days * day_ms)).exp() as f32;
            }
            c.1 = sim;
        }
        if cands.len() > cfg.k {
            cands.select_nth_unstable_by(cfg.k, |a, b| b.1.total_cmp(&a.1));
            cands.truncate(cfg.k);
        }
        for &(sid, sim) in &cands {
            let Some(seq) = self.seqs.get(sid as usize) else {
                continue;
            };
            // The neighbour's last item shared with the current session anchors distances.
            let anchor = seq.iter().rposition(|i| pos_w.contains_key(i)).unwrap_or(0);
            // Each item once per neighbour, at its last position (as STAN).
            let mut done: Vec<u32> = Vec::with_capacity(seq.len());
            for (p, &it) in seq.iter().enumerate().rev() {
                if done.contains(&it) {
                    continue;
                }
                done.push(it);
                let d = p.abs_diff(anchor) as f64;
                let mut w = sim;
                if cfg.lambda_item > 0.0 {
                    w *= (-d / cfg.lambda_item).exp() as f32;
                }
                if cfg.idf > 0.0 {
                    w *= self
                        .idf
                        .get(it as usize)
                        .copied()
                        .unwrap_or(1.0)
                        .powf(cfg.idf as f32);
                }
                *scores.entry(it).or_insert(0.0) += w;
            }
        }
        scores
    }

    /// Per item, the kNN scores of a session made of that item alone, best
    /// first, the item itself left out: precomputed so that product-to-product
    /// requests only read lists.
    pub fn item_neighbours(
        &self,
        n_items: usize,
        now_ms: i64,
        cfg: &KnnConfig,
        top: usize,
    ) -> Vec<Vec<(u32, f32)>> {
        (0..n_items as u32)
            .map(|it| {
                if self.postings.get(it as usize).is_none_or(|p| p.is_empty()) {
                    return Vec::new();
                }
                let mut v: Vec<(u32, f32)> = self
                    .score(&[it], now_ms, cfg)
                    .into_iter()
                    .filter(|x| x.0 != it)
                    .collect();
                v.sort_unstable_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
                v.truncate(top);
                v.shrink_to_fit();
                v
            })
            .collect()
    }
}
