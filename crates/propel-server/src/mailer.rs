//! Email: the scenarios in memory, the hooks that tracking events fire after commit, and
//! the background task that sends what the outbox says is due.
//!
//! Sending follows the outbox's rule (see propel-email's README): a row is claimed in
//! SQLite before the SMTP conversation and marked sent after it; a row found claimed at
//! start was in flight during a crash and is never sent again (at most once).

use crate::state::AppState;
use crate::tracking::now_ms;
use propel_email::scenario::{Scenario, ScenarioKind};
use propel_email::template::{ContactVars, Product, Recommendations, RenderInput};
use propel_email::{OutgoingEmail, SendError, SmtpRelay};
use propel_model::{EventKind, ValidatedEvent};
use propel_recs::{recommend, Algorithm, Request};
use propel_store::{OutboxRow, Store};
use serde_json::{Map, Value};
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, OnceLock, RwLock};
use std::time::Duration;
use tokio::sync::{watch, Notify};

/// Orders within this long after an email click are attributed to the email.
const ATTRIBUTION_WINDOW_MS: i64 = 24 * 3_600_000;
/// Products per recommendation list in an email.
const PRODUCTS_PER_LIST: usize = 6;
const CLAIM_BATCH: usize = 50;
/// `setContact` looks this far back for basket additions of the session made before it.
const BASKET_LOOKBACK_MS: i64 = 24 * 3_600_000;

/// The email side's live state, one per server.
#[derive(Default)]
pub struct EmailState {
    scenarios: RwLock<HashMap<(i64, ScenarioKind), Arc<Scenario>>>,
    /// Woken when an email is scheduled, so short delays are kept.
    pub wake: Notify,
    public_url: OnceLock<String>,
}

impl EmailState {
    pub fn load(store: &Store) -> Result<EmailState, propel_store::StoreError> {
        let state = EmailState::default();
        for (partner, kind, config) in store.email_scenarios()? {
            let parsed =
                ScenarioKind::from_name(&kind).zip(serde_json::from_str::<Scenario>(&config).ok());
            if let Some((kind, scenario)) = parsed {
                state.set(partner, kind, scenario);
            }
        }
        Ok(state)
    }

    pub fn set(&self, partner: i64, kind: ScenarioKind, scenario: Scenario) {
        if let Ok(mut map) = self.scenarios.write() {
            map.insert((partner, kind), Arc::new(scenario));
        }
    }

    /// Whether the partner has any scenario (else no email of it exists to attribute to).
    pub fn any_scenario(&self, partner: i64) -> bool {
        self.scenarios.read().is_ok_and(|m| {
            ScenarioKind::ALL
                .iter()
                .any(|k| m.contains_key(&(partner, *k)))
        })
    }

    pub fn scenario(&self, partner: i64, kind: ScenarioKind) -> Option<Arc<Scenario>> {
        self.scenarios.read().ok()?.get(&(partner, kind)).cloned()
    }

    /// The base URL of unsubscribe links.
    pub fn public_url(&self) -> &str {
        self.public_url
            .get()
            .map_or("http://127.0.0.1:8080", String::as_str)
    }
}

/// Erased addresses are remembered only by this hash.
pub fn email_hash(email: &str) -> String {
    Sha256::digest(email.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// Due times of a scenario's emails, counted from `now`.
fn dues(scenario: &Scenario, now: i64) -> Vec<i64> {
    scenario
        .emails
        .iter()
        .map(|e| now + (e.delay_seconds as i64) * 1000)
        .collect()
}

fn is_email_event(kind: EventKind) -> bool {
    matches!(
        kind,
        EventKind::WelcomeSequence
            | EventKind::AddToBasket
            | EventKind::Order
            | EventKind::EmailClick
            | EventKind::SetContact
    )
}

/// Runs after the events are committed: starts chains, stops the abandoned-basket chain on
/// an order, records email clicks and attributes orders. Failures are logged: the events
/// themselves are stored.
pub async fn after_commit(state: &AppState, partner: i64, events: &Arc<Vec<ValidatedEvent>>) {
    if !state.email.any_scenario(partner) || !events.iter().any(|e| is_email_event(e.kind)) {
        return;
    }
    let (state2, events) = (state.clone(), events.clone());
    let result = tokio::task::spawn_blocking(move || apply_events(&state2, partner, &events)).await;
    match result {
        Ok(Ok(scheduled)) => {
            if scheduled {
                state.email.wake.notify_one();
            }
        }
        Ok(Err(e)) => tracing::error!(error = %e, "email bookkeeping failed"),
        Err(e) => tracing::error!(error = %e, "email bookkeeping task failed"),
    }
}

fn apply_events(
    state: &AppState,
    partner: i64,
    events: &[ValidatedEvent],
) -> Result<bool, propel_store::StoreError> {
    let store = &state.store;
    let now = now_ms();
    let mut scheduled = false;
    for e in events {
        match e.kind {
            EventKind::WelcomeSequence => {
                let (Some(email), Some(scenario)) = (
                    e.str_field("email"),
                    state.email.scenario(partner, ScenarioKind::Welcome),
                ) else {
                    continue;
                };
                let contact = store.contact_of_session(partner, &e.session)?.map(|c| c.0);
                scheduled |= store.start_welcome(
                    partner,
                    email,
                    contact.as_deref(),
                    &e.session,
                    &dues(&scenario, now),
                )?;
            }
            EventKind::AddToBasket => {
                let (Some(product), Some(scenario)) = (
                    e.i64_field("productId"),
                    state.email.scenario(partner, ScenarioKind::AbandonedBasket),
                ) else {
                    continue;
                };
                if let Some((contact, Some(email))) =
                    store.contact_of_session(partner, &e.session)?
                {
                    if state.is_subscribed(partner, &email) {
                        scheduled |= store.basket_added(
                            partner,
                            &contact,
                            &email,
                            &e.session,
                            product,
                            &dues(&scenario, now),
                        )?;
                    }
                }
            }
            EventKind::SetContact => {
                // A basket filled before the visitor became known starts the chain now.
                let (Some(contact), Some(email), Some(scenario)) = (
                    e.str_field("contactExternalId"),
                    e.str_field("email"),
                    state.email.scenario(partner, ScenarioKind::AbandonedBasket),
                ) else {
                    continue;
                };
                if !state.is_subscribed(partner, email) {
                    continue;
                }
                let kinds = (EventKind::AddToBasket.code(), EventKind::Order.code());
                let since = now - BASKET_LOOKBACK_MS;
                for product in store.session_basket(partner, &e.session, contact, since, kinds)? {
                    scheduled |= store.basket_added(
                        partner,
                        contact,
                        email,
                        &e.session,
                        product,
                        &dues(&scenario, now),
                    )?;
                }
            }
            EventKind::Order => {
                if state
                    .email
                    .scenario(partner, ScenarioKind::AbandonedBasket)
                    .is_some()
                {
                    let contact = store.contact_of_session(partner, &e.session)?.map(|c| c.0);
                    store.cancel_basket_chain(partner, contact.as_deref(), &e.session)?;
                }
                let price = e.body.get("price").and_then(Value::as_f64).unwrap_or(0.0);
                let quantity = e
                    .body
                    .get("quantity")
                    .and_then(Value::as_f64)
                    .unwrap_or(0.0);
                if let (Some(key), Some(transaction)) = (e.order_key(), e.str_field("transaction"))
                {
                    store.attribute_order(
                        partner,
                        &e.session,
                        &key,
                        transaction,
                        price * quantity,
                        e.ts_ms,
                        ATTRIBUTION_WINDOW_MS,
                    )?;
                }
            }
            EventKind::EmailClick => {
                if let Some(id) = e.str_field("mailTrackingId") {
                    let email_id = propel_email::links::email_tracking_id(id);
                    store.record_email_click(partner, email_id, &e.session, e.ts_ms)?;
                }
            }
            _ => {}
        }
    }
    Ok(scheduled)
}

/// The running outbox task.
pub struct Mailer {
    stop: watch::Sender<bool>,
    task: tokio::task::JoinHandle<()>,
}

impl Mailer {
    /// Lets the email being sent finish and recorded, then returns.
    pub async fn stop(self) {
        let _ = self.stop.send(true);
        let _ = self.task.await;
    }
}

/// Starts the outbox task; `addr` gives the default public URL.
pub fn start(state: AppState, addr: Option<SocketAddr>) -> Mailer {
    let url = state
        .config
        .public_url
        .clone()
        .or_else(|| addr.map(|a| format!("http://{a}")));
    if let Some(url) = url {
        let _ = state
            .email
            .public_url
            .set(url.trim_end_matches('/').to_string());
    }
    let (stop, stopped) = watch::channel(false);
    let task = tokio::spawn(run(state, stopped));
    Mailer { stop, task }
}

async fn run(state: AppState, mut stopped: watch::Receiver<bool>) {
    let store = state.store.clone();
    match tokio::task::spawn_blocking(move || store.outbox_recover()).await {
        Ok(Ok(0)) => {}
        Ok(Ok(n)) => tracing::warn!(
            emails = n,
            "emails in flight during the last stop are marked uncertain and not sent again"
        ),
        Ok(Err(e)) => tracing::error!(error = %e, "outbox recovery failed"),
        Err(e) => tracing::error!(error = %e, "outbox recovery task failed"),
    }
    let relay = match state.config.smtp_url.as_deref().map(SmtpRelay::from_url) {
        Some(Ok(relay)) => relay,
        Some(Err(e)) => {
            tracing::error!(error = %e, "no email is sent");
            return;
        }
        None => {
            tracing::info!("no SMTP relay configured (PROPEL_SMTP_URL): emails stay scheduled");
            return;
        }
    };
    let poll = Duration::from_millis(state.config.outbox_poll_millis.max(10));
    loop {
        tokio::select! {
            _ = stopped.changed() => break,
            () = tokio::time::sleep(poll) => {}
            () = state.email.wake.notified() => {}
        }
        if *stopped.borrow() {
            break;
        }
        let store = state.store.clone();
        let claimed = match tokio::task::spawn_blocking(move || {
            store.outbox_claim_due(now_ms(), CLAIM_BATCH)
        })
        .await
        {
            Ok(Ok(rows)) => rows,
            Ok(Err(e)) => {
                tracing::error!(error = %e, "outbox claim failed");
                continue;
            }
            Err(_) => continue,
        };
        let mut rows = claimed.into_iter();
        for row in rows.by_ref() {
            deliver(&state, &relay, row).await;
            if *stopped.borrow() {
                break;
            }
        }
        // Claimed but not attempted because of a stop: back to the queue, unchanged.
        for row in rows {
            finish(&state, row.id, "scheduled", None, None, true).await;
        }
    }
}

async fn finish(
    state: &AppState,
    id: i64,
    new_state: &'static str,
    due: Option<i64>,
    error: Option<String>,
    uncount: bool,
) {
    let store = state.store.clone();
    let result = tokio::task::spawn_blocking(move || {
        store.outbox_finish(id, new_state, due, error.as_deref(), uncount)
    })
    .await;
    if !matches!(result, Ok(Ok(()))) {
        tracing::error!(
            outbox = id,
            state = new_state,
            "recording an email's outcome failed"
        );
    }
}

/// What to do with a claimed email before any SMTP.
enum Prepared {
    Send(Box<propel_email::Message>),
    Cancel(&'static str),
    Wait(i64),
    Fail(String),
}

async fn deliver(state: &AppState, relay: &SmtpRelay, row: OutboxRow) {
    let (state2, row2) = (state.clone(), row.clone());
    let prepared = tokio::task::spawn_blocking(move || prepare(&state2, &row2))
        .await
        .unwrap_or_else(|_| Ok(Prepared::Fail("preparing the email failed".into())))
        .unwrap_or_else(|e| Prepared::Fail(format!("storage: {e}")));
    match prepared {
        Prepared::Cancel(why) => {
            finish(state, row.id, "cancelled", None, Some(why.into()), false).await
        }
        Prepared::Wait(until) => finish(state, row.id, "scheduled", Some(until), None, true).await,
        Prepared::Fail(why) => {
            // The reason is kept with the row; it may quote the address, so it is not logged.
            tracing::warn!(
                outbox = row.id,
                "email not sendable (template, sender or address)"
            );
            finish(state, row.id, "failed", None, Some(why), false).await
        }
        Prepared::Send(message) => match relay.send(*message).await {
            Ok(()) => finish(state, row.id, "sent", None, None, false).await,
            Err(SendError::Temporary(e)) if row.attempts < propel_email::outbox::MAX_ATTEMPTS => {
                let base = (state.config.email_retry_base_seconds as i64) * 1000;
                let due = now_ms() + propel_email::outbox::retry_delay_ms(row.attempts, base);
                tracing::warn!(
                    outbox = row.id,
                    attempts = row.attempts,
                    "temporary SMTP failure; retrying later"
                );
                finish(state, row.id, "scheduled", Some(due), Some(e), false).await
            }
            Err(e) => {
                tracing::warn!(outbox = row.id, "SMTP refused the email; given up");
                finish(state, row.id, "failed", None, Some(e.to_string()), false).await
            }
        },
    }
}

/// Checks, renders and builds one email (blocking: storage and rendering).
fn prepare(state: &AppState, row: &OutboxRow) -> Result<Prepared, propel_store::StoreError> {
    let store = &state.store;
    let Some(kind) = ScenarioKind::from_name(&row.scenario) else {
        return Ok(Prepared::Cancel("unknown scenario"));
    };
    let Some(scenario) = state.email.scenario(row.partner, kind) else {
        return Ok(Prepared::Cancel("the scenario was removed"));
    };
    let Some(step) = scenario.emails.get(row.step) else {
        return Ok(Prepared::Cancel("the scenario has no such email any more"));
    };
    if row.email.is_empty() || !store.may_email(row.partner, &row.email, &email_hash(&row.email))? {
        return Ok(Prepared::Cancel("not subscribed"));
    }
    let gap = (state.config.email_min_gap_seconds as i64) * 1000;
    if let Some(until) =
        propel_email::outbox::not_before_ms(store.last_sent_to(row.partner, &row.email)?, gap)
    {
        if until > now_ms() {
            return Ok(Prepared::Wait(until));
        }
    }
    let input = render_input(state, row)?;
    let render = |source: &str| propel_email::template::render(source, &input);
    let (subject, html) = match (render(&step.subject), render(&step.html)) {
        (Ok(s), Ok(h)) => (s, h),
        (Err(e), _) | (_, Err(e)) => return Ok(Prepared::Fail(format!("template: {e}"))),
    };
    let unsubscribe_url = input.unsubscribe_url.clone();
    let mut html = propel_email::links::track_links(&html, &row.tracking_id, &unsubscribe_url);
    if !html.contains(&unsubscribe_url) {
        html.push_str(&format!(
            "<p style=\"font-size:small\"><a href=\"{unsubscribe_url}\">Unsubscribe</a></p>"
        ));
    }
    let email = OutgoingEmail {
        from: scenario.from.clone(),
        to: row.email.clone(),
        subject: subject.trim().to_string(),
        html,
        message_id: format!("{}@propel", row.tracking_id),
        unsubscribe_url,
    };
    Ok(match propel_email::build_message(&email) {
        Ok(message) => Prepared::Send(Box::new(message)),
        Err(e) => Prepared::Fail(e.to_string()),
    })
}

fn render_input(
    state: &AppState,
    row: &OutboxRow,
) -> Result<RenderInput, propel_store::StoreError> {
    let store = &state.store;
    let mut custom: Map<String, Value> = store
        .subscriber_attributes(row.partner, &row.email)?
        .and_then(|a| serde_json::from_str(&a).ok())
        .unwrap_or_default();
    let session_contact = match (&row.contact, &row.session) {
        (Some(c), _) => Some(c.clone()),
        (None, Some(s)) => store.contact_of_session(row.partner, s)?.map(|c| c.0),
        (None, None) => None,
    };
    if let Some(contact) = &session_contact {
        if let Some(Value::Object(data)) =
            store.contact(row.partner, contact)?.map(|c| c.custom_data)
        {
            custom.extend(data);
        }
    }
    let basket_ids: Vec<i64> = {
        let mut ids: Vec<i64> = serde_json::from_str(&row.data).unwrap_or_default();
        let mut seen = std::collections::HashSet::new();
        ids.retain(|id| seen.insert(*id));
        ids
    };
    let base = state.catalogs.get(row.partner);
    let recs = state.recs.partner(row.partner);
    let profile = row.session.as_deref().and_then(|s| recs.profile(s));
    let models = recs.models();
    let catalog = recs.catalog(base.clone());
    let now = now_ms();
    let run = |algorithm: Algorithm, products: &[i64]| {
        let request = Request {
            limit: PRODUCTS_PER_LIST,
            stock: None,
            products,
            categories: &[],
            phrase: None,
            profile: profile.as_ref(),
            rules: None,
            now_ms: now,
        };
        recommend(algorithm, &models, catalog.as_ref(), &request)
    };
    let products = |ids: &[i64]| -> Vec<Product> {
        ids.iter()
            .filter_map(|id| base.effective(*id, None))
            .map(|p| Product {
                id: p.id,
                name: p.name.to_string(),
                url: p.url.map(str::to_string),
                picture_url: p.picture_url.map(str::to_string),
                price: p.price,
                old_price: p.old_price,
            })
            .collect()
    };
    let related = if basket_ids.is_empty() {
        Vec::new()
    } else {
        products(&run(Algorithm::Related, &basket_ids))
    };
    Ok(RenderInput {
        contact: ContactVars {
            email: row.email.clone(),
            contact_external_id: session_contact,
            custom_data: Value::Object(custom),
        },
        recommendations: Recommendations {
            popular: products(&run(Algorithm::Popular, &[])),
            personal: products(&run(Algorithm::PersonalComposite, &[])),
            related,
        },
        basket: products(&basket_ids),
        unsubscribe_url: format!(
            "{}/unsubscribe/{}",
            state.email.public_url(),
            row.tracking_id
        ),
    })
}
