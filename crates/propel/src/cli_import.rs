//! `propel import yml --partner ID FILE`: a full import of a YML feed into the data
//! directory (a running server on the same directory picks the new base up within a
//! second). Progress on stderr when it is a terminal; a JSON summary on stdout.

use crate::cli_admin::parse_partner;
use crate::Target;
use anyhow::{bail, Context};
use clap::Subcommand;
use propel_server::catalog_state::{import_feed, ImportError};
use propel_store::Store;
use serde_json::json;
use std::io::{BufReader, IsTerminal, Write};
use std::path::PathBuf;
use std::time::Instant;

#[derive(Subcommand)]
pub enum ImportAction {
    /// Replace a partner's product base with a YML feed (plain or gzip-compressed).
    Yml {
        /// The partner (partnerId).
        #[arg(long)]
        partner: String,
        /// The feed file; `-` reads standard input.
        file: PathBuf,
    },
}

pub fn run(action: ImportAction, target: Target) -> anyhow::Result<()> {
    let ImportAction::Yml { partner, file } = action;
    if target.server.is_some() {
        bail!("import works on the data directory (--data); to send a feed to a running server, POST it to /admin/partners/{{partnerId}}/feed");
    }
    let pid = parse_partner(&partner)?;
    let store = Store::open(&target.data)?;
    let record = store
        .partner(&pid)?
        .with_context(|| format!("no partner {pid} in {}", target.data.display()))?;
    let input: Box<dyn std::io::Read> = if file.as_os_str() == "-" {
        Box::new(std::io::stdin().lock())
    } else {
        Box::new(std::fs::File::open(&file).with_context(|| format!("reading {}", file.display()))?)
    };
    let reader = BufReader::with_capacity(1 << 16, input);
    let started = Instant::now();
    let tty = std::io::stderr().is_terminal();
    let mut last_shown = Instant::now();
    let progress = |offers: u64| {
        if tty && last_shown.elapsed().as_millis() >= 200 {
            last_shown = Instant::now();
            let secs = started.elapsed().as_secs_f64().max(1e-3);
            let mut err = std::io::stderr().lock();
            let _ = write!(
                err,
                "\r{offers} offers, {:.0} offers/s   ",
                offers as f64 / secs
            );
            let _ = err.flush();
        }
    };
    let result = import_feed(&store, record.rowid, reader, progress);
    if tty {
        eprintln!();
    }
    let secs = started.elapsed().as_secs_f64();
    match result {
        Ok(report) => {
            let mut out = serde_json::to_value(&report)?;
            out["seconds"] = json!((secs * 1000.0).round() / 1000.0);
            out["offersPerSecond"] = json!((report.imported as f64 / secs.max(1e-3)).round());
            println!("{}", serde_json::to_string_pretty(&out)?);
            Ok(())
        }
        Err(ImportError::Feed(e)) => bail!(
            "{}: not imported, the base is unchanged: line {}, column {}: {}",
            file.display(),
            e.line,
            e.column,
            e.message
        ),
        Err(ImportError::Store(e)) => Err(e.into()),
    }
}
