//! propel-recs: the recommendation engine of propel.
//!
//! Feed events to an [`Engine`] (profiles change at once), call
//! [`Engine::snapshot`] every few minutes to rebuild the shop-wide [`Models`],
//! and answer requests with [`algorithms::recommend`] over a snapshot, a
//! [`Catalog`] and a [`Request`]. [`eval`] measures quality offline.

pub mod algorithms;
pub mod catalog;
pub mod config;
mod cooc;
mod engine;
pub mod eval;
pub mod history;
mod knn;
mod models;
mod newest;
pub mod popularity;
pub mod profile;
mod search;
pub mod types;

pub use algorithms::{recommend, Algorithm, Request, Rules};
pub use catalog::{Catalog, MemCatalog, MemProduct, OpenCatalog};
pub use config::{Config, KnnConfig};
pub use engine::Engine;
pub use models::Models;
pub use profile::Profile;
pub use types::{normalize_phrase, CategoryId, Interaction, ItemId, Kind, SearchEvent, VisitorId};
