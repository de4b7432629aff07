//! `propel events export`: NDJSON on stdout, from the data directory or a running server.

use crate::cli_admin::{parse_partner, AdminClient};
use crate::Target;
use anyhow::Context;
use clap::Subcommand;
use propel_model::SessionId;
use propel_store::Store;
use std::io::Write;

#[derive(Subcommand)]
pub enum EventsAction {
    /// Every stored event of a partner (of one visitor with --session), in stored order.
    Export {
        #[arg(long)]
        partner: String,
        #[arg(long)]
        session: Option<String>,
    },
}

pub async fn run(action: EventsAction, target: Target) -> anyhow::Result<()> {
    let EventsAction::Export { partner, session } = action;
    let partner = parse_partner(&partner)?;
    if let Some(s) = &session {
        SessionId::parse(s).map_err(|e| anyhow::anyhow!(e.message))?;
    }
    let stdout = std::io::stdout();
    let mut out = std::io::BufWriter::new(stdout.lock());
    if let Some(client) = AdminClient::new(&target)? {
        let mut path = format!("/admin/partners/{partner}/events");
        if let Some(s) = &session {
            path.push_str(&format!("?sessionExternalId={s}"));
        }
        let mut response = client.send(reqwest::Method::GET, &path, None).await?;
        while let Some(chunk) = response.chunk().await? {
            out.write_all(&chunk)?;
        }
        return Ok(out.flush()?);
    }
    let store = Store::open(&target.data)?;
    let record = store
        .partner(&partner)?
        .with_context(|| format!("no partner {partner}"))?;
    let mut failed = None;
    store.export_events(record.rowid, session.as_deref(), |e| {
        let line = format!("{{\"kind\":\"{}\",\"event\":{}}}\n", e.kind.name(), e.body);
        match out.write_all(line.as_bytes()) {
            Ok(()) => true,
            Err(err) => {
                failed = Some(err);
                false
            }
        }
    })?;
    if let Some(err) = failed {
        return Err(err.into());
    }
    Ok(out.flush()?)
}
