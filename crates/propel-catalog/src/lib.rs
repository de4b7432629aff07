//! propel's product base: the model types, a streaming YML feed parser with bounded
//! memory, and the category tree.

pub mod base;
mod decode;
pub mod model;
pub mod tree;
pub mod yml;

pub use base::ProductBase;
pub use model::{Category, EffectiveProduct, Param, Product, StockOverride};
pub use tree::{CategoryTree, TreeIssue};
pub use yml::{
    parse_yml, parse_yml_into, parse_yml_with, DuplicateTracker, FeedError, FeedItem, FeedSink,
    FeedSummary, ParseOptions, Problem, MAX_ID,
};
