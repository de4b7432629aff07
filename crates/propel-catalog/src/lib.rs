//! propel's product base: the model types, a streaming YML feed parser with bounded
//! memory, and the category tree.

mod decode;
pub mod model;
pub mod tree;
pub mod yml;

pub use model::{Category, EffectiveProduct, Param, Product, StockOverride};
pub use tree::{CategoryTree, TreeIssue};
pub use yml::{
    parse_yml, parse_yml_with, DuplicateTracker, FeedError, FeedItem, FeedSummary, ParseOptions,
    Problem, MAX_ID,
};
