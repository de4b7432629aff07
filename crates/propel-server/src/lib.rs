//! propel's HTTP side. Handlers are thin: they parse into model types, call the
//! store or a service, and map the result; every refusal goes through [`error`].

pub mod admin;
mod admin_ads;
pub mod admin_feed;
mod admin_rules;
pub mod ads_state;
pub mod auth;
mod body;
mod catalog_api;
pub mod catalog_state;
pub mod config;
mod email_api;
pub mod error;
mod front;
pub mod keys;
pub mod mailer;
pub mod metrics;
pub mod openapi;
mod ops;
mod query;
pub mod ratelimit;
mod recommendations;
pub mod recs_catalog;
pub mod recs_rules;
pub mod recs_state;
pub mod serve;
mod sponsored;
pub mod state;
mod subscribers_csv;
mod tracking;
mod unsubscribe;

pub use config::Config;
pub use serve::{run, Running};
pub use state::AppState;

use axum::Router;

/// Every route of the server.
pub fn router(state: AppState) -> Router {
    Router::new()
        .merge(tracking::routes())
        .merge(recommendations::routes())
        .merge(catalog_api::routes())
        .merge(ops::routes())
        .merge(subscribers_csv::routes().merge(unsubscribe::routes()))
        .nest("/admin", admin::routes(state.clone()))
        .fallback(ops::fallback)
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            metrics::record,
        ))
        .with_state(state)
}
