//! Retail media, pure logic: campaigns and their validation, targeting, the auction,
//! pacing, frequency caps, budget accounting, counting of views and clicks, reports.
//! No HTTP, no SQL: the server feeds it and persists what it decides.

pub mod budget;
pub mod campaign;
pub mod engine;
mod impressions;
mod index;
pub mod pacing;
pub mod placement;
pub mod report;
pub mod targeting;

mod parse;
#[cfg(test)]
mod tests;

pub use budget::{EventKind, Totals};
pub use campaign::{Budget, Campaign, Content, ContentBody, FrequencyCap, PricingModel};
pub use engine::{parse_impression_id, Ask, Charge, Decision, Engine, Live};
pub use parse::{campaign_from_json, placement_from_json};
pub use placement::{ContentType, Placement, PlacementKind};
pub use report::{Report, ReportRow};
pub use targeting::{Page, Products, Targeting, Visitor};

/// Money in billionths of the currency unit: exact sums, no float drift.
pub type Nanos = i64;

pub const NANOS_PER_UNIT: f64 = 1e9;

pub const DAY_MS: i64 = 86_400_000;

/// Whole currency units for a report.
pub fn to_units(n: Nanos) -> f64 {
    n as f64 / NANOS_PER_UNIT
}
