//! `propel evaluate`: offline quality of the recommendation algorithms on behaviour
//! files in the RetailRocket CSV layout (`timestamp,visitorid,event,itemid,transactionid`).

use anyhow::{anyhow, Context};
use propel_recs::eval::{evaluate, read_rows, table, Method};
use std::path::PathBuf;

#[derive(clap::Args)]
pub struct EvaluateArgs {
    /// Training events.
    #[arg(long)]
    pub train: PathBuf,
    /// Test events: every event of a test visit from the second on is predicted from
    /// the visit's earlier events. Without it, each visitor's last event is held out.
    #[arg(long)]
    pub test: Option<PathBuf>,
    /// Algorithms to evaluate (default: all): popularity and cooccurrence (baselines),
    /// popular, personalComposite, related, alternatives.
    #[arg(long = "algorithm")]
    pub algorithms: Vec<String>,
    /// Print JSON instead of a table.
    #[arg(long)]
    pub json: bool,
    /// Model settings to try, as JSON: the fields given replace the defaults, e.g.
    /// '{"knn":{"k":100}}' (see propel-recs' `Config`).
    #[arg(long)]
    pub config: Option<String>,
}

pub fn run(args: EvaluateArgs) -> anyhow::Result<()> {
    let methods = if args.algorithms.is_empty() {
        Method::ALL.to_vec()
    } else {
        args.algorithms
            .iter()
            .map(|n| Method::from_name(n).ok_or_else(|| anyhow!("unknown algorithm {n}")))
            .collect::<anyhow::Result<Vec<_>>>()?
    };
    let train =
        read_rows(&args.train).with_context(|| format!("reading {}", args.train.display()))?;
    let test = match &args.test {
        Some(p) => Some(read_rows(p).with_context(|| format!("reading {}", p.display()))?),
        None => None,
    };
    let config: propel_recs::Config = match &args.config {
        Some(json) => serde_json::from_str(json).context("--config: not a model configuration")?,
        None => propel_recs::Config::default(),
    };
    let report = evaluate(&train, test.as_deref(), &methods, &config);
    if args.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        print!("{}", table(&report));
    }
    Ok(())
}
