//! Prints a feed's summary and its first offers: `cargo run --example dump -- FILE [N]`.

use propel_catalog::{parse_yml, FeedItem};
use std::io::BufReader;

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let Some(path) = args.get(1) else {
        eprintln!("usage: dump FILE [N]");
        std::process::exit(2);
    };
    let show: usize = args.get(2).and_then(|n| n.parse().ok()).unwrap_or(3);
    let file = match std::fs::File::open(path) {
        Ok(f) => f,
        Err(e) => {
            eprintln!("{path}: {e}");
            std::process::exit(1);
        }
    };
    let mut shown = 0;
    let result = parse_yml(BufReader::new(file), &mut |item| match item {
        FeedItem::Offer(p) if shown < show => {
            shown += 1;
            println!("{}", serde_json::to_string(&p).unwrap_or_default());
        }
        FeedItem::Problem(p) => println!("problem line {}: {}", p.line, p.reason),
        _ => {}
    });
    match result {
        Ok(s) => println!(
            "encoding {} categories {} offers {} skipped {} duplicates {} problems {}",
            s.encoding, s.categories, s.offers, s.skipped, s.duplicates, s.problem_count
        ),
        Err(e) => println!("error: {e}"),
    }
}
