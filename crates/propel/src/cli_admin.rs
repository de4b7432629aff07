//! `propel partner ...`: on the data directory, or through a running server.

use crate::Target;
use anyhow::{bail, Context};
use clap::Subcommand;
use propel_model::PartnerId;
use propel_server::keys::{hash_key, new_api_key, new_partner_id};
use propel_store::{Limits, PartnerRecord, Store};
use serde_json::{json, Value};

#[derive(Subcommand)]
pub enum PartnerAction {
    /// Register a shop; prints its partnerId and apiKey (shown once).
    Create {
        #[arg(long)]
        name: String,
        #[arg(long)]
        url: String,
    },
    /// List partners with their state and activity.
    List,
    /// Issue a new apiKey; the old one stops at once or after --grace-seconds.
    RotateKey {
        partner: String,
        #[arg(long, default_value_t = 0)]
        grace_seconds: i64,
    },
    /// Suspend a partner: 403 on every API.
    Suspend { partner: String },
    /// Resume a suspended partner.
    Resume { partner: String },
}

/// A small client of the admin API.
pub struct AdminClient {
    base: String,
    token: String,
    http: reqwest::Client,
}

impl AdminClient {
    pub fn new(target: &Target) -> anyhow::Result<Option<AdminClient>> {
        let Some(server) = &target.server else {
            return Ok(None);
        };
        let token = target
            .admin_token
            .clone()
            .context("--server needs PROPEL_ADMIN_TOKEN")?;
        Ok(Some(AdminClient {
            base: server.trim_end_matches('/').to_string(),
            token,
            http: reqwest::Client::new(),
        }))
    }

    pub async fn send(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<Value>,
    ) -> anyhow::Result<reqwest::Response> {
        let mut request = self
            .http
            .request(method, format!("{}{path}", self.base))
            .bearer_auth(&self.token);
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await.context("admin API unreachable")?;
        if !response.status().is_success() {
            let status = response.status();
            bail!("{status}: {}", response.text().await.unwrap_or_default());
        }
        Ok(response)
    }

    async fn json(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<Value>,
    ) -> anyhow::Result<Value> {
        Ok(self.send(method, path, body).await?.json().await?)
    }
}

fn describe(p: &PartnerRecord) -> Value {
    json!({
        "partnerId": p.id.as_str(), "name": p.name, "url": p.url, "suspended": p.suspended,
        "limits": p.limits, "eventsReceived": p.events_received,
        "lastEventAt": p.last_event_ms.map(propel_model::timestamp::format_rfc3339_ms),
    })
}

pub fn parse_partner(id: &str) -> anyhow::Result<PartnerId> {
    PartnerId::parse(id).map_err(|e| anyhow::anyhow!(e.message))
}

pub async fn run(action: PartnerAction, target: Target) -> anyhow::Result<()> {
    let out = match AdminClient::new(&target)? {
        Some(client) => remote(&client, action).await?,
        None => local(&Store::open(&target.data)?, action)?,
    };
    println!("{}", serde_json::to_string_pretty(&out)?);
    Ok(())
}

async fn remote(client: &AdminClient, action: PartnerAction) -> anyhow::Result<Value> {
    use reqwest::Method;
    match action {
        PartnerAction::Create { name, url } => {
            client
                .json(
                    Method::POST,
                    "/admin/partners",
                    Some(json!({"name": name, "url": url})),
                )
                .await
        }
        PartnerAction::List => client.json(Method::GET, "/admin/partners", None).await,
        PartnerAction::RotateKey {
            partner,
            grace_seconds,
        } => {
            let path = format!("/admin/partners/{}/rotate-key", parse_partner(&partner)?);
            client
                .json(
                    Method::POST,
                    &path,
                    Some(json!({"graceSeconds": grace_seconds})),
                )
                .await
        }
        PartnerAction::Suspend { partner } => {
            client
                .json(
                    Method::POST,
                    &format!("/admin/partners/{}/suspend", parse_partner(&partner)?),
                    None,
                )
                .await
        }
        PartnerAction::Resume { partner } => {
            client
                .json(
                    Method::POST,
                    &format!("/admin/partners/{}/resume", parse_partner(&partner)?),
                    None,
                )
                .await
        }
    }
}

fn local(store: &std::sync::Arc<Store>, action: PartnerAction) -> anyhow::Result<Value> {
    match action {
        PartnerAction::Create { name, url } => {
            if name.trim().is_empty()
                || !(url.starts_with("http://") || url.starts_with("https://"))
            {
                bail!("--name must not be empty and --url must be an http(s) URL");
            }
            let (id, key) = (new_partner_id(), new_api_key());
            store.create_partner(&id, name.trim(), &url, hash_key(&key), Limits::default())?;
            Ok(json!({"partnerId": id.as_str(), "apiKey": key}))
        }
        PartnerAction::List => {
            Ok(json!({"partners": store.partners()?.iter().map(describe).collect::<Vec<_>>()}))
        }
        PartnerAction::RotateKey {
            partner,
            grace_seconds,
        } => {
            if !(0..=30 * 86_400).contains(&grace_seconds) {
                bail!("--grace-seconds must be from 0 to 2592000");
            }
            let key = new_api_key();
            store.rotate_key(
                &parse_partner(&partner)?,
                hash_key(&key),
                grace_seconds * 1000,
            )?;
            Ok(json!({"apiKey": key, "graceSeconds": grace_seconds}))
        }
        PartnerAction::Suspend { partner } => {
            store.set_suspended(&parse_partner(&partner)?, true)?;
            Ok(json!({"partnerId": partner, "suspended": true}))
        }
        PartnerAction::Resume { partner } => {
            store.set_suspended(&parse_partner(&partner)?, false)?;
            Ok(json!({"partnerId": partner, "suspended": false}))
        }
    }
}
