//! A campaign's report from grouped rows: totals, by day, by placement, by content.

use crate::{to_units, Nanos};
use serde::Serialize;
use std::collections::BTreeMap;

/// One group of served impressions (as the store aggregates them).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReportRow {
    /// `YYYY-MM-DD` of serving (UTC).
    pub day: String,
    pub placement: String,
    pub content: String,
    pub served: u64,
    pub viewed: u64,
    pub clicked: u64,
    pub spend: Nanos,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Line {
    pub served: u64,
    pub viewed: u64,
    pub clicked: u64,
    pub ctr: f64,
    pub spend: f64,
    #[serde(skip)]
    spend_nanos: Nanos,
}

impl Line {
    fn add(&mut self, r: &ReportRow) {
        self.served += r.served;
        self.viewed += r.viewed;
        self.clicked += r.clicked;
        self.spend_nanos += r.spend;
        self.ctr = if self.viewed == 0 {
            0.0
        } else {
            self.clicked as f64 / self.viewed as f64
        };
        self.spend = to_units(self.spend_nanos);
    }

    pub fn spend_nanos(&self) -> Nanos {
        self.spend_nanos
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct Keyed {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub day: Option<String>,
    #[serde(rename = "placementId", skip_serializing_if = "Option::is_none")]
    pub placement: Option<String>,
    #[serde(rename = "contentId", skip_serializing_if = "Option::is_none")]
    pub content: Option<String>,
    #[serde(flatten)]
    pub line: Line,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Report {
    #[serde(flatten)]
    pub total: Line,
    pub by_day: Vec<Keyed>,
    pub by_placement: Vec<Keyed>,
    pub by_content: Vec<Keyed>,
}

impl Report {
    pub fn from_rows(rows: &[ReportRow]) -> Report {
        let mut total = Line::default();
        let (mut days, mut placements, mut contents) =
            (BTreeMap::new(), BTreeMap::new(), BTreeMap::new());
        for r in rows {
            total.add(r);
            days.entry(r.day.clone())
                .or_insert_with(Line::default)
                .add(r);
            placements
                .entry(r.placement.clone())
                .or_insert_with(Line::default)
                .add(r);
            contents
                .entry(r.content.clone())
                .or_insert_with(Line::default)
                .add(r);
        }
        let keyed = |m: BTreeMap<String, Line>, which: u8| {
            m.into_iter()
                .map(|(k, line)| Keyed {
                    day: (which == 0).then(|| k.clone()),
                    placement: (which == 1).then(|| k.clone()),
                    content: (which == 2).then_some(k),
                    line,
                })
                .collect()
        };
        Report {
            total,
            by_day: keyed(days, 0),
            by_placement: keyed(placements, 1),
            by_content: keyed(contents, 2),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn row() -> impl Strategy<Value = ReportRow> {
        (
            0u8..3,
            0u8..3,
            0u8..3,
            0u64..50,
            0u64..50,
            0u64..50,
            0i64..1_000_000,
        )
            .prop_map(|(d, p, c, served, viewed, clicked, spend)| ReportRow {
                day: format!("2026-01-0{}", d + 1),
                placement: format!("p{p}"),
                content: format!("c{c}"),
                served,
                viewed,
                clicked,
                spend,
            })
    }

    proptest! {
        #[test]
        fn every_breakdown_sums_to_the_totals(rows in proptest::collection::vec(row(), 0..40)) {
            let r = Report::from_rows(&rows);
            prop_assert_eq!(r.total.served, rows.iter().map(|x| x.served).sum::<u64>());
            prop_assert_eq!(r.total.spend_nanos(), rows.iter().map(|x| x.spend).sum::<i64>());
            for list in [&r.by_day, &r.by_placement, &r.by_content] {
                prop_assert_eq!(list.iter().map(|k| k.line.served).sum::<u64>(), r.total.served);
                prop_assert_eq!(list.iter().map(|k| k.line.viewed).sum::<u64>(), r.total.viewed);
                prop_assert_eq!(list.iter().map(|k| k.line.clicked).sum::<u64>(), r.total.clicked);
                prop_assert_eq!(list.iter().map(|k| k.line.spend_nanos()).sum::<i64>(), r.total.spend_nanos());
            }
        }
    }
}
