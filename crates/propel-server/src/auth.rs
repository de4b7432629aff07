//! Who is calling: `partnerId` + `apiKey` against an in-memory copy of the key hashes.

use crate::error::HttpError;
use crate::keys::{hash_key, hashes_equal};
use crate::query::Query;
use crate::ratelimit::Api;
use crate::state::AppState;
use arc_swap::ArcSwap;
use propel_model::{ApiError, ErrorCode, PartnerId};
use propel_store::{PartnerRecord, Store};
use std::collections::HashMap;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;

/// Partners by id. Only the store inserts ids (a client's id is only looked up), so the
/// fast hasher needs no protection against chosen collisions.
type Partners = HashMap<String, Arc<PartnerRecord>, foldhash::fast::RandomState>;

/// Every partner with its live keys; swapped whole when anything changes, so the
/// request path reads it without a lock.
#[derive(Default)]
pub struct PartnerCache {
    partners: ArcSwap<Partners>,
    version: AtomicI64,
}

impl PartnerCache {
    pub fn reload(&self, store: &Store) -> Result<(), propel_store::StoreError> {
        let version = store.partners_version()?;
        let map = store
            .partners()?
            .into_iter()
            .map(|p| (p.id.as_str().to_string(), Arc::new(p)))
            .collect();
        self.partners.store(Arc::new(map));
        self.version.store(version, Ordering::Release);
        Ok(())
    }

    /// Reloads when another process (the command line) changed partners or keys.
    pub fn reload_if_changed(&self, store: &Store) -> Result<(), propel_store::StoreError> {
        if store.partners_version()? != self.version.load(Ordering::Acquire) {
            self.reload(store)?;
        }
        Ok(())
    }

    pub fn get(&self, id: &str) -> Option<Arc<PartnerRecord>> {
        self.partners.load().get(id).cloned()
    }
}

fn unauthorized(message: &str, field: &str) -> HttpError {
    let mut e = ApiError::new(ErrorCode::Unauthorized, message);
    e.field = Some(field.to_string());
    e.into()
}

/// Authenticates a restricted call and takes a token of its API's rate limit.
pub fn authorize(
    state: &AppState,
    query: &Query,
    api: Api,
    now_ms: i64,
) -> Result<Arc<PartnerRecord>, HttpError> {
    let Some(partner_id) = query.get("partnerId") else {
        return Err(unauthorized("partnerId is required", "partnerId"));
    };
    authorize_partner(state, partner_id, query, api, now_ms)
}

/// [`authorize`] for an API that names the partner in its path rather than its query.
pub fn authorize_partner(
    state: &AppState,
    partner_id: &str,
    query: &Query,
    api: Api,
    now_ms: i64,
) -> Result<Arc<PartnerRecord>, HttpError> {
    let partner = PartnerId::parse(partner_id)
        .ok()
        .and_then(|id| state.partners.get(id.as_str()))
        .ok_or_else(|| unauthorized("partnerId: unknown partner", "partnerId"))?;
    let Some(key) = query.get_ignore_case("apiKey") else {
        return Err(unauthorized("apiKey is required", "apiKey"));
    };
    let presented = hash_key(key);
    let valid = partner
        .keys
        .iter()
        .filter(|k| k.expires_ms.is_none_or(|t| t > now_ms))
        .fold(false, |ok, k| ok | hashes_equal(&k.hash, &presented));
    if !valid {
        return Err(unauthorized(
            "apiKey is not valid for this partnerId",
            "apiKey",
        ));
    }
    if partner.suspended {
        return Err(ApiError::new(ErrorCode::Forbidden, "this partner is suspended").into());
    }
    let rps = match api {
        Api::Tracking => partner.limits.tracking_rps,
        Api::Recommendations => partner.limits.recommendations_rps,
        Api::Sponsored => partner.limits.sponsored_rps,
    };
    if let Err(retry_after) = state.limiter.check(partner.rowid, api, rps) {
        state.metrics.rate_limited(api);
        return Err(HttpError {
            error: ApiError::new(
                ErrorCode::RateLimited,
                format!(
                    "over the limit of {rps} {} requests per second for this partner",
                    api.label()
                ),
            ),
            retry_after_secs: Some(retry_after),
        });
    }
    Ok(partner)
}
