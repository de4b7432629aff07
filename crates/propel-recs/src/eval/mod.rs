//! Offline evaluation on behaviour files: session-rec's next-item protocol
//! with a test file, last-event hold-out without one.

mod baselines;
pub mod data;

use std::collections::HashMap;
use std::time::Instant;

use serde::Serialize;

use crate::algorithms::{self, Request};
use crate::catalog::OpenCatalog;
use crate::config::Config;
use crate::engine::Engine;
use crate::profile::Profile;
use crate::types::{Interaction, ItemId, Kind};

pub use data::{parse_rows, read_rows, DataError, Row};

/// What can be evaluated.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Method {
    /// Baseline: products by plain event count.
    Popularity,
    /// Baseline: plain co-occurrence counts with the last product.
    Cooccurrence,
    /// Our decayed `popular`.
    Popular,
    /// Our `personalComposite` (session kNN + sequential rules + popular).
    Personal,
    /// Our `related` given the last product.
    Related,
    /// Our `alternatives` given the last product.
    Alternatives,
}

impl Method {
    pub const ALL: [Method; 6] = [
        Method::Popularity,
        Method::Cooccurrence,
        Method::Popular,
        Method::Personal,
        Method::Related,
        Method::Alternatives,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Method::Popularity => "baseline-popularity",
            Method::Cooccurrence => "baseline-cooccurrence",
            Method::Popular => "popular",
            Method::Personal => "personalComposite",
            Method::Related => "related",
            Method::Alternatives => "alternatives",
        }
    }

    pub fn from_name(s: &str) -> Option<Method> {
        Method::ALL.iter().copied().find(|m| {
            m.name().eq_ignore_ascii_case(s)
                || m.name()
                    .trim_start_matches("baseline-")
                    .eq_ignore_ascii_case(s)
        })
    }
}

/// Hit rate, MRR and NDCG at 10 and 20.
#[derive(Clone, Copy, Debug, Default, Serialize)]
pub struct Metrics {
    pub hr10: f64,
    pub hr20: f64,
    pub mrr10: f64,
    pub mrr20: f64,
    pub ndcg10: f64,
    pub ndcg20: f64,
    /// Mean time to answer one prediction, microseconds.
    pub micros: f64,
}

/// One evaluation run.
#[derive(Clone, Debug, Serialize)]
pub struct Report {
    pub protocol: &'static str,
    pub predictions: usize,
    pub train_events: usize,
    pub build_ms: f64,
    pub results: Vec<(Method, Metrics)>,
}

/// A prediction to make: from the earlier events, the next product.
struct Case {
    history: Vec<(i64, ItemId, Kind)>,
    target: ItemId,
}

/// Runs the evaluation. With `test`: every event of a test visitor from the
/// second on is predicted from its earlier events, models trained on `train`.
/// Without: each visitor's last event is held out, models trained on the rest.
pub fn evaluate(
    train: &[Row],
    test: Option<&[Row]>,
    methods: &[Method],
    config: &Config,
) -> Report {
    let (train_rows, cases, protocol) = match test {
        Some(t) => (
            train.to_vec(),
            next_item_cases(t),
            "next-item (session-rec)",
        ),
        None => {
            let (rows, cases) = holdout_cases(train);
            (rows, cases, "last event held out")
        }
    };
    let started = Instant::now();
    let mut engine = Engine::new(config.clone());
    let mut visitors: HashMap<u64, u32> = HashMap::new();
    for r in &train_rows {
        let n = visitors.len() as u32;
        let v = *visitors.entry(r.visitor).or_insert(n);
        engine.apply(&Interaction {
            visitor: v,
            item: r.item,
            kind: r.kind,
            ts_ms: r.ts_ms,
        });
    }
    let now = train_rows.iter().map(|r| r.ts_ms).max().unwrap_or(0);
    let models = engine.snapshot(now);
    let build_ms = started.elapsed().as_secs_f64() * 1e3;

    let pop_counts = baselines::count_popularity(&train_rows);
    let cooc = if methods.contains(&Method::Cooccurrence) {
        baselines::count_cooccurrence(&train_rows, 20)
    } else {
        HashMap::new()
    };
    let mut results = Vec::new();
    for &method in methods {
        let mut acc = Metrics::default();
        let t0 = Instant::now();
        for case in &cases {
            let last = case.history.last().map(|h| h.1);
            let now_ms = case.history.last().map_or(now, |h| h.0);
            let mut profile = Profile::new(config.profile_len);
            for &(ts, item, kind) in &case.history {
                profile.record(ts, item, kind);
            }
            let inputs: Vec<ItemId> = last.into_iter().collect();
            let list: Vec<ItemId> = match method {
                Method::Popularity => pop_counts.iter().take(20).copied().collect(),
                Method::Cooccurrence => {
                    last.and_then(|l| cooc.get(&l)).cloned().unwrap_or_default()
                }
                Method::Popular | Method::Personal => {
                    let r = Request {
                        limit: 20,
                        profile: Some(&profile),
                        now_ms,
                        ..Request::default()
                    };
                    if method == Method::Popular {
                        algorithms::popular(&models, &OpenCatalog, &r)
                    } else {
                        algorithms::personal_composite(&models, &OpenCatalog, &r)
                    }
                }
                Method::Related | Method::Alternatives => {
                    let r = Request {
                        limit: 20,
                        products: &inputs,
                        now_ms,
                        ..Request::default()
                    };
                    if method == Method::Related {
                        algorithms::related(&models, &OpenCatalog, &r)
                    } else {
                        algorithms::alternatives(&models, &OpenCatalog, &r)
                    }
                }
            };
            add_hit(&mut acc, &list, case.target);
        }
        let n = cases.len().max(1) as f64;
        acc.micros = t0.elapsed().as_secs_f64() * 1e6 / n;
        for v in [
            &mut acc.hr10,
            &mut acc.hr20,
            &mut acc.mrr10,
            &mut acc.mrr20,
            &mut acc.ndcg10,
            &mut acc.ndcg20,
        ] {
            *v /= n;
        }
        results.push((method, acc));
    }
    Report {
        protocol,
        predictions: cases.len(),
        train_events: train_rows.len(),
        build_ms,
        results,
    }
}

fn add_hit(acc: &mut Metrics, list: &[ItemId], target: ItemId) {
    let Some(pos) = list.iter().position(|&i| i == target) else {
        return;
    };
    let rank = (pos + 1) as f64;
    let ndcg = 1.0 / (rank + 1.0).log2();
    if pos < 10 {
        acc.hr10 += 1.0;
        acc.mrr10 += 1.0 / rank;
        acc.ndcg10 += ndcg;
    }
    if pos < 20 {
        acc.hr20 += 1.0;
        acc.mrr20 += 1.0 / rank;
        acc.ndcg20 += ndcg;
    }
}

/// Rows grouped per visitor, each in time order (stable for equal times).
fn by_visitor(rows: &[Row]) -> Vec<Vec<Row>> {
    let mut map: HashMap<u64, Vec<Row>> = HashMap::new();
    for r in rows {
        map.entry(r.visitor).or_default().push(*r);
    }
    let mut v: Vec<(u64, Vec<Row>)> = map.into_iter().collect();
    v.sort_unstable_by_key(|x| x.0);
    v.into_iter()
        .map(|(_, mut rs)| {
            rs.sort_by_key(|r| r.ts_ms);
            rs
        })
        .collect()
}

fn next_item_cases(test: &[Row]) -> Vec<Case> {
    let mut cases = Vec::new();
    for rows in by_visitor(test) {
        for i in 1..rows.len() {
            cases.push(Case {
                history: rows[..i]
                    .iter()
                    .map(|r| (r.ts_ms, r.item, r.kind))
                    .collect(),
                target: rows[i].item,
            });
        }
    }
    cases
}

fn holdout_cases(all: &[Row]) -> (Vec<Row>, Vec<Case>) {
    let mut train = Vec::with_capacity(all.len());
    let mut cases = Vec::new();
    for mut rows in by_visitor(all) {
        if rows.len() >= 2 {
            if let Some(last) = rows.pop() {
                cases.push(Case {
                    history: rows.iter().map(|r| (r.ts_ms, r.item, r.kind)).collect(),
                    target: last.item,
                });
            }
        }
        train.extend(rows);
    }
    train.sort_by_key(|r| r.ts_ms);
    (train, cases)
}

/// The report as a Markdown table.
pub fn table(report: &Report) -> String {
    let mut s = format!(
        "protocol: {}; predictions: {}; training events: {}; model build: {:.0} ms\n\n",
        report.protocol, report.predictions, report.train_events, report.build_ms
    );
    s.push_str(
        "| algorithm | HR@10 | HR@20 | MRR@10 | MRR@20 | NDCG@10 | NDCG@20 | µs/request |\n",
    );
    s.push_str("| --- | --- | --- | --- | --- | --- | --- | --- |\n");
    for (m, r) in &report.results {
        s.push_str(&format!(
            "| {} | {:.4} | {:.4} | {:.4} | {:.4} | {:.4} | {:.4} | {:.0} |\n",
            m.name(),
            r.hr10,
            r.hr20,
            r.mrr10,
            r.mrr20,
            r.ndcg10,
            r.ndcg20,
            r.micros
        ));
    }
    s
}
