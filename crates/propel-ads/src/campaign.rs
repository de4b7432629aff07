//! A campaign: who pays, where and when it runs, what it may spend, what it bids,
//! whom it targets and what it shows. Stored as JSON by the server.

use crate::targeting::Targeting;
use crate::{Nanos, DAY_MS};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum PricingModel {
    /// Price per thousand counted views.
    Cpm,
    /// Price per counted click.
    Cpc,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Budget {
    pub total: Nanos,
    pub daily: Option<Nanos>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct FrequencyCap {
    pub count: u32,
    pub period_ms: i64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum ContentBody {
    String(String),
    ProductIds(Vec<i64>),
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Content {
    pub id: String,
    pub body: ContentBody,
}

impl Content {
    pub fn content_type(&self) -> crate::ContentType {
        match self.body {
            ContentBody::String(_) => crate::ContentType::String,
            ContentBody::ProductIds(_) => crate::ContentType::ProductIds,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Campaign {
    pub id: String,
    pub advertiser_id: String,
    pub name: String,
    /// Partner rowids it runs on.
    pub partners: Vec<i64>,
    /// Partner ids as given (for reading back).
    pub partner_ids: Vec<String>,
    pub starts_ms: i64,
    pub ends_ms: Option<i64>,
    pub budget: Budget,
    pub model: PricingModel,
    /// CPM: per thousand views; CPC: per click.
    pub bid: Nanos,
    pub frequency_cap: Option<FrequencyCap>,
    pub targeting: Targeting,
    pub contents: Vec<Content>,
    pub paused: bool,
    pub created_ms: i64,
}

/// The click-through rate a CPC bid is valued at: observed, with a prior of 1 click in
/// 100 views.
pub fn ctr(views: u64, clicks: u64) -> f64 {
    (clicks as f64 + 1.0) / (views as f64 + 100.0)
}

impl Campaign {
    pub fn in_schedule(&self, now_ms: i64) -> bool {
        now_ms >= self.starts_ms && self.ends_ms.is_none_or(|end| now_ms < end)
    }

    /// What one counted view costs (CPM: a thousandth of the bid).
    pub fn view_price(&self) -> Nanos {
        match self.model {
            PricingModel::Cpm => self.bid / 1000,
            PricingModel::Cpc => 0,
        }
    }

    pub fn click_price(&self) -> Nanos {
        match self.model {
            PricingModel::Cpm => 0,
            PricingModel::Cpc => self.bid,
        }
    }

    /// The largest price of one event: what a budget may be overspent by at most.
    pub fn event_price(&self) -> Nanos {
        self.view_price().max(self.click_price())
    }

    /// The day's budget: the explicit daily one, else the total spread over the
    /// scheduled days (when there is an end), else none.
    pub fn daily_budget(&self) -> Option<Nanos> {
        if let Some(d) = self.budget.daily {
            return Some(d);
        }
        let end = self.ends_ms?;
        let days = ((end - self.starts_ms).max(1) + DAY_MS - 1) / DAY_MS;
        Some((self.budget.total / days.max(1)).max(1))
    }

    /// Expected value of one view, in nanos: the CPM price, or the CPC bid times the
    /// observed click-through rate (with a prior of 1 click in 100 views).
    pub fn value_per_view(&self, views: u64, clicks: u64) -> f64 {
        match self.model {
            PricingModel::Cpm => self.bid as f64 / 1000.0,
            PricingModel::Cpc => self.bid as f64 * ctr(views, clicks),
        }
    }
}
