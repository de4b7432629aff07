//! Item-to-item co-occurrence, accumulated as weighted pairs and reduced to
//! bounded, normalised neighbour lists.

/// Per dense item: neighbours with scores, best first.
pub(crate) type Neighbours = Vec<Vec<(u32, f32)>>;

/// Weighted (from, to) pairs; summed and normalised by [`PairAcc::finish`].
#[derive(Default)]
pub(crate) struct PairAcc {
    triples: Vec<(u32, u32, f32)>,
}

impl PairAcc {
    pub fn add(&mut self, from: u32, to: u32, w: f32) {
        if from != to {
            self.triples.push((from, to, w));
        }
    }

    /// Sums the pairs and keeps, per item, the `top` best by
    /// `sum / norm[to]`: dividing by a power of the candidate's frequency
    /// stops bestsellers from being everyone's neighbour.
    pub fn finish(mut self, n_items: usize, norm: &[f32], top: usize) -> Neighbours {
        self.triples.sort_unstable_by_key(|t| (t.0, t.1));
        let mut out: Neighbours = vec![Vec::new(); n_items];
        let mut i = 0;
        while i < self.triples.len() {
            let (from, to, _) = self.triples[i];
            let mut sum = 0.0f32;
            while i < self.triples.len() && self.triples[i].0 == from && self.triples[i].1 == to {
                sum += self.triples[i].2;
                i += 1;
            }
            let n = norm.get(to as usize).copied().unwrap_or(1.0).max(1e-6);
            if let Some(list) = out.get_mut(from as usize) {
                list.push((to, sum / n));
            }
        }
        for list in &mut out {
            list.sort_unstable_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
            list.truncate(top);
            list.shrink_to_fit();
        }
        out
    }
}

/// One prepared session: the product sequence (consecutive repeats removed)
/// and the products basketed or bought in it.
pub(crate) struct Prepared {
    pub seq: Vec<u32>,
    pub intent: Vec<u32>,
    pub end_ms: i64,
}

/// The three relations the product-to-product algorithms use.
pub(crate) struct Relations {
    /// Viewed after, within the window, weighted 1/distance (sequential rules).
    pub next: Neighbours,
    /// Viewed together in a visit without both being basketed/bought.
    pub substitutes: Neighbours,
    /// Basketed or bought in the same visit.
    pub complements: Neighbours,
    /// Session-kNN neighbours of the product alone (filled by the models).
    pub similar: Neighbours,
}

pub(crate) fn build_relations(
    sessions: &[Prepared],
    n_items: usize,
    session_freq: &[f32],
    window: usize,
    pop_exponent: f64,
    top: usize,
) -> Relations {
    let mut next = PairAcc::default();
    let mut subs = PairAcc::default();
    let mut comp = PairAcc::default();
    for s in sessions {
        for (i, &a) in s.seq.iter().enumerate() {
            let end = (i + 1 + window).min(s.seq.len());
            for (d, &b) in s.seq[i + 1..end].iter().enumerate() {
                let w = 1.0 / (d + 1) as f32;
                next.add(a, b, w);
                let both_intent = s.intent.contains(&a) && s.intent.contains(&b);
                if !both_intent {
                    subs.add(a, b, w);
                    subs.add(b, a, w);
                }
            }
        }
        for &a in &s.intent {
            for &b in &s.intent {
                comp.add(a, b, 1.0);
            }
        }
    }
    let norm: Vec<f32> = session_freq
        .iter()
        .map(|&f| f.max(1.0).powf(pop_exponent as f32))
        .collect();
    Relations {
        next: next.finish(n_items, &norm, top),
        substitutes: subs.finish(n_items, &norm, top),
        complements: comp.finish(n_items, &norm, top),
        similar: Vec::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn substitutes_and_complements_are_separated() {
        let s = vec![
            Prepared {
                seq: vec![0, 1, 2],
                intent: vec![0, 2],
                end_ms: 0,
            },
            Prepared {
                seq: vec![0, 2],
                intent: vec![0, 2],
                end_ms: 0,
            },
        ];
        let r = build_relations(&s, 3, &[2.0, 1.0, 2.0], 10, 0.0, 10);
        assert_eq!(
            r.complements[0].iter().map(|x| x.0).collect::<Vec<_>>(),
            vec![2]
        );
        assert_eq!(
            r.substitutes[0].iter().map(|x| x.0).collect::<Vec<_>>(),
            vec![1]
        );
        assert_eq!(r.next[1].iter().map(|x| x.0).collect::<Vec<_>>(), vec![2]);
    }
}
