//! Offline evaluation on behaviour files in the RetailRocket CSV layout.
//!
//! cargo run --release --example evaluate -- --train FILE [--test FILE]
//!     [--algorithm NAME]... [--json]

use std::path::PathBuf;
use std::process::ExitCode;

use propel_recs::eval::{evaluate, read_rows, table, Method};
use propel_recs::Config;

const USAGE: &str = "usage: evaluate --train FILE [--test FILE] [--algorithm NAME]... [--json] [--config JSON]
algorithms: popularity, cooccurrence (baselines), popular, personalComposite, related, alternatives";

fn main() -> ExitCode {
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("{e}\n{USAGE}");
            ExitCode::from(2)
        }
    }
}

fn run() -> Result<(), String> {
    let mut train: Option<PathBuf> = None;
    let mut test: Option<PathBuf> = None;
    let mut methods: Vec<Method> = Vec::new();
    let mut json = false;
    let mut config = Config::default();
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        match a.as_str() {
            "--train" => train = Some(args.next().ok_or("--train needs a file")?.into()),
            "--test" => test = Some(args.next().ok_or("--test needs a file")?.into()),
            "--algorithm" => {
                let n = args.next().ok_or("--algorithm needs a name")?;
                methods.push(Method::from_name(&n).ok_or(format!("unknown algorithm {n}"))?);
            }
            "--json" => json = true,
            "--config" => {
                let j = args.next().ok_or("--config needs a JSON object")?;
                config = serde_json::from_str(&j).map_err(|e| format!("--config: {e}"))?;
            }
            "-h" | "--help" => return Err(String::new()),
            other => return Err(format!("unknown argument {other}")),
        }
    }
    let train = train.ok_or("--train is required")?;
    if methods.is_empty() {
        methods = Method::ALL.to_vec();
    }
    let train_rows = read_rows(&train).map_err(|e| e.to_string())?;
    let test_rows = match &test {
        Some(p) => Some(read_rows(p).map_err(|e| e.to_string())?),
        None => None,
    };
    let report = evaluate(&train_rows, test_rows.as_deref(), &methods, &config);
    if json {
        println!(
            "{}",
            serde_json::to_string_pretty(&report).map_err(|e| e.to_string())?
        );
    } else {
        print!("{}", table(&report));
    }
    Ok(())
}
