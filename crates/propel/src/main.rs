//! `propel`: the server and the operator's command line.

mod cli_admin;
mod cli_evaluate;
mod cli_events;
mod cli_import;

use anyhow::Context;
use clap::{Parser, Subcommand};
use propel_server::{Config, Running};
use std::io::Write;
use std::path::PathBuf;

// The request path allocates many small short-lived buffers; mimalloc serves them
// measurably faster than the system allocator here.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Parser)]
#[command(
    name = "propel",
    version,
    about = "Self-hosted e-commerce personalization (Retail Rocket API compatible)"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

/// Where operator commands act: the data directory, or a running server's admin API.
#[derive(clap::Args, Clone)]
pub struct Target {
    /// Data directory to act on directly.
    #[arg(long, global = true, env = "PROPEL_DATA", default_value = "./data")]
    pub data: PathBuf,
    /// Act through a running server's admin API instead (needs PROPEL_ADMIN_TOKEN).
    #[arg(long, global = true, env = "PROPEL_SERVER")]
    pub server: Option<String>,
    /// Operator token for --server.
    #[arg(
        long,
        global = true,
        env = "PROPEL_ADMIN_TOKEN",
        hide_env_values = true
    )]
    pub admin_token: Option<String>,
}

#[derive(Subcommand)]
enum Command {
    /// Run the server.
    Serve {
        /// Address to listen on [default: 127.0.0.1:8080]
        #[arg(long)]
        listen: Option<String>,
        /// Data directory [default: ./data]
        #[arg(long)]
        data: Option<PathBuf>,
        /// TOML configuration file.
        #[arg(long, env = "PROPEL_CONFIG")]
        config: Option<PathBuf>,
        /// PEM certificate chain, for HTTP/2 over TLS.
        #[arg(long, requires = "tls_key")]
        tls_cert: Option<PathBuf>,
        /// PEM private key.
        #[arg(long, requires = "tls_cert")]
        tls_key: Option<PathBuf>,
    },
    /// Manage partners (shops) and their keys.
    Partner {
        #[command(subcommand)]
        action: cli_admin::PartnerAction,
        #[command(flatten)]
        target: Target,
    },
    /// Read stored events.
    Events {
        #[command(subcommand)]
        action: cli_events::EventsAction,
        #[command(flatten)]
        target: Target,
    },
    /// Offline evaluation of the recommendation algorithms on behaviour files.
    Evaluate(cli_evaluate::EvaluateArgs),
    /// Import a product feed into a partner's base.
    Import {
        #[command(subcommand)]
        action: cli_import::ImportAction,
        #[command(flatten)]
        target: Target,
    },
    /// Print the OpenAPI description.
    Openapi,
}

fn init_logs() {
    let filter = tracing_subscriber::EnvFilter::try_from_env("PROPEL_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    tracing_subscriber::fmt()
        .json()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .init();
}

fn load_config(file: Option<PathBuf>) -> anyhow::Result<Config> {
    let mut config = match file {
        Some(path) => {
            let text = std::fs::read_to_string(&path)
                .with_context(|| format!("reading {}", path.display()))?;
            Config::from_toml(&text).map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?
        }
        None => Config::default(),
    };
    config.apply_env(|k| std::env::var(k).ok());
    Ok(config)
}

async fn shutdown_signal() {
    use tokio::signal::unix::{signal, SignalKind};
    let mut term = match signal(SignalKind::terminate()) {
        Ok(s) => s,
        Err(_) => return std::future::pending().await,
    };
    tokio::select! {
        _ = term.recv() => {},
        _ = tokio::signal::ctrl_c() => {},
    }
}

async fn serve(config: Config) -> anyhow::Result<()> {
    let admin = config.admin_token.is_some();
    let running = Running::bind(config).await.map_err(anyhow::Error::msg)?;
    let url = running.url();
    tracing::info!(%url, admin_api = admin, "listening");
    // Tests and scripts read the address from this first line of stdout.
    let mut out = std::io::stdout();
    writeln!(out, "propel listening on {url}")?;
    out.flush()?;
    propel_server::run(running, shutdown_signal()).await;
    Ok(())
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    init_logs();
    // The server runs one current-thread runtime per serving thread (see
    // `propel_server::run`); the other commands keep tokio's default.
    let runtime = match cli.command {
        Command::Serve { .. } => propel_server::serve::runtime_builder(),
        _ => tokio::runtime::Builder::new_multi_thread(),
    }
    .enable_all()
    .build()?;
    match cli.command {
        Command::Serve {
            listen,
            data,
            config,
            tls_cert,
            tls_key,
        } => {
            let mut config = load_config(config)?;
            if let Some(l) = listen {
                config.listen = l;
            }
            if let Some(d) = data {
                config.data_dir = d;
            }
            if tls_cert.is_some() {
                config.tls_cert = tls_cert;
                config.tls_key = tls_key;
            }
            runtime.block_on(serve(config))
        }
        Command::Partner { action, target } => runtime.block_on(cli_admin::run(action, target)),
        Command::Events { action, target } => runtime.block_on(cli_events::run(action, target)),
        Command::Evaluate(args) => cli_evaluate::run(args),
        Command::Import { action, target } => cli_import::run(action, target),
        Command::Openapi => {
            println!("{}", propel_server::openapi::document_json());
            Ok(())
        }
    }
}
