//! Parses a generated YML feed and prints offers/s and peak memory.
//!
//! `cargo run --release --example yml_bench -- [OFFERS] [--no-dedupe] [--keep]` (OFFERS defaults
//! to 1,000,000); `--write FILE` only writes the feed to FILE (for `bench/catalog.sh`). The feed has 500 categories, 3 params an offer and 2 stocks on every
//! 10th offer; it is written to a temporary file, removed afterwards unless `--keep`.

use propel_catalog::{parse_yml_with, FeedItem, ParseOptions};
use std::fs::File;
use std::io::{BufReader, BufWriter, Write};
use std::time::Instant;

const CATEGORIES: u64 = 500;

fn write_feed(path: &std::path::Path, offers: u64) -> std::io::Result<u64> {
    let mut w = BufWriter::with_capacity(1 << 16, File::create(path)?);
    writeln!(w, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>")?;
    writeln!(
        w,
        "<yml_catalog date=\"2024-05-01 12:00\"><shop><name>Bench</name>"
    )?;
    writeln!(
        w,
        "<currencies><currency id=\"RUR\" rate=\"1\"/></currencies>\n<categories>"
    )?;
    for c in 1..=CATEGORIES {
        match c {
            1..=10 => writeln!(w, "<category id=\"{c}\">Root {c}</category>")?,
            _ => writeln!(
                w,
                "<category id=\"{c}\" parentId=\"{}\">Category {c}</category>",
                c / 10
            )?,
        }
    }
    writeln!(w, "</categories>\n<offers>")?;
    for i in 1..=offers {
        let group = if i % 3 == 0 {
            format!(" group_id=\"{}\"", i / 3)
        } else {
            String::new()
        };
        writeln!(w, "<offer id=\"{i}\" available=\"{}\"{group}>", i % 7 != 0)?;
        writeln!(
            w,
            "  <url>https://shop.example/p/{i}?ref=feed&amp;utm=yml</url>"
        )?;
        writeln!(w, "  <price>{}.{:02}</price>", 100 + i % 9000, i % 100)?;
        if i % 4 == 0 {
            writeln!(w, "  <oldprice>{}</oldprice>", 200 + i % 9000)?;
        }
        writeln!(
            w,
            "  <currencyId>RUR</currencyId><categoryId>{}</categoryId>",
            1 + i % CATEGORIES
        )?;
        writeln!(w, "  <picture>https://shop.example/img/{i}.jpg</picture>")?;
        writeln!(w, "  <picture>https://shop.example/img/{i}-2.jpg</picture>")?;
        writeln!(w, "  <name>Товар номер {i} &quot;Бренд&quot;</name><vendor>Бренд</vendor><model>M-{i}</model>")?;
        writeln!(w, "  <description><![CDATA[<p>Описание товара {i}: удобный, надёжный, недорогой.</p>]]></description>")?;
        writeln!(w, "  <param name=\"Цвет\">белый</param><param name=\"Вес\" unit=\"кг\">{}.5</param><param name=\"Размер\">{}</param>", i % 10, i % 50)?;
        if i % 10 == 0 {
            writeln!(
                w,
                "  <stock id=\"msk\"><available>false</available><price>{}</price></stock>",
                150 + i % 9000
            )?;
            writeln!(
                w,
                "  <stock id=\"spb\"><name>Товар {i} (СПб)</name><oldprice>{}</oldprice></stock>",
                300 + i % 9000
            )?;
        }
        writeln!(w, "</offer>")?;
    }
    writeln!(w, "</offers>\n</shop>\n</yml_catalog>")?;
    w.flush()?;
    Ok(std::fs::metadata(path)?.len())
}

/// Peak resident memory (VmHWM) in KiB, from /proc.
fn peak_rss_kib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}

/// CPU time this thread has run, in seconds (the machine is shared: wall time also
/// counts waiting for a core).
fn thread_cpu_secs() -> f64 {
    let stat = std::fs::read_to_string("/proc/thread-self/schedstat").unwrap_or_default();
    let ns: u64 = stat
        .split_whitespace()
        .next()
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    ns as f64 / 1e9
}

/// CPU seconds of a bare quick-xml event loop (no decoding, no fields) over the file: the
/// machine is shared and its speed varies, so the parser's rate is best read against this.
fn bare_quick_xml(path: &std::path::Path) -> Result<f64, Box<dyn std::error::Error>> {
    let cpu_start = thread_cpu_secs();
    let mut r =
        quick_xml::Reader::from_reader(BufReader::with_capacity(1 << 16, File::open(path)?));
    let mut buf = Vec::new();
    loop {
        buf.clear();
        if let quick_xml::events::Event::Eof = r.read_event_into(&mut buf)? {
            break;
        }
    }
    Ok(thread_cpu_secs() - cpu_start)
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if let Some(i) = args.iter().position(|a| a == "--write") {
        let file = args.get(i + 1).ok_or("--write needs a file name")?;
        let offers: u64 = match args
            .iter()
            .enumerate()
            .find(|(j, a)| *j != i + 1 && !a.starts_with("--"))
        {
            Some((_, n)) => n.replace(['_', ','], "").parse()?,
            None => 1_000_000,
        };
        let bytes = write_feed(std::path::Path::new(file), offers)?;
        println!(
            "wrote {offers} offers, {:.1} MB, to {file}",
            bytes as f64 / 1e6
        );
        return Ok(());
    }
    let offers: u64 = match args.iter().find(|a| !a.starts_with("--")) {
        Some(n) => n.replace(['_', ','], "").parse()?,
        None => 1_000_000,
    };
    let options = ParseOptions {
        detect_duplicates: !args.iter().any(|a| a == "--no-dedupe"),
        ..ParseOptions::default()
    };
    let path = std::env::temp_dir().join(format!("propel-yml-bench-{}.xml", std::process::id()));
    let bytes = write_feed(&path, offers)?;
    let before = peak_rss_kib();

    let start = Instant::now();
    let cpu_start = thread_cpu_secs();
    let (mut count, mut stocks, mut problems) = (0u64, 0u64, 0u64);
    let file = BufReader::with_capacity(1 << 16, File::open(&path)?);
    let result = parse_yml_with(file, &options, &mut |item| match item {
        FeedItem::Offer(p) => {
            count += 1;
            stocks += p.stocks.len() as u64;
        }
        FeedItem::Problem(_) => problems += 1,
        FeedItem::Category(_) => {}
    });
    let secs = start.elapsed().as_secs_f64();
    let cpu = thread_cpu_secs() - cpu_start;
    let bare = bare_quick_xml(&path)?;
    if args.iter().any(|a| a == "--keep") {
        println!("feed kept at {}", path.display());
    } else {
        std::fs::remove_file(&path)?;
    }
    let summary = result?;

    println!(
        "offers {count} (stocks {stocks}, categories {}, problems {problems}), feed {:.1} MB, duplicate detection {}",
        summary.categories,
        bytes as f64 / 1e6,
        if options.detect_duplicates { "on" } else { "off" },
    );
    println!(
        "parse {secs:.2} s wall, {cpu:.2} s CPU: {:.0} offers/s wall, {:.0} offers/s CPU, {:.1} MB/s CPU",
        count as f64 / secs,
        count as f64 / cpu,
        bytes as f64 / 1e6 / cpu,
    );
    println!(
        "for scale, a bare quick-xml event loop over the same file: {:.0} offers/s CPU",
        count as f64 / bare
    );
    println!(
        "peak RSS {:.1} MiB (before parsing {:.1} MiB)",
        peak_rss_kib() as f64 / 1024.0,
        before as f64 / 1024.0,
    );
    Ok(())
}
