//! Retail media storage: placements, advertisers, campaigns, and the impression log
//! written by one writer thread (group commit), so serving never waits on SQLite.
//!
//! Each commit stores its served impressions as one `ad_served` row (a line each,
//! deflated), the views and clicks it counts in `ad_counted`, and what both add to the
//! report sums in `ad_report`: a served impression costs the writer an appended line,
//! not a row in two B-trees.

use crate::{now_ms, Result, Store, StoreError};
use rusqlite::{params, Connection, OptionalExtension};
use std::collections::HashMap;
use std::time::Duration;
use tokio::sync::{mpsc, oneshot};

/// A campaign's sums, to restore its live counters.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct AdTotals {
    pub served: u64,
    pub views: u64,
    pub clicks: u64,
    pub spent: i64,
    /// Spend charged since `day_start_ms`.
    pub day_spent: i64,
}

/// A stored impression that may still count or still hold a frequency cap.
#[derive(Debug, Clone)]
pub struct AdImpressionRow {
    pub id: String,
    pub partner: i64,
    pub campaign: String,
    pub content: String,
    pub placement: String,
    pub session: String,
    pub served_ms: i64,
    pub viewed: bool,
    pub clicked: bool,
}

/// One group of a campaign's report: (day of serving, placement, content).
#[derive(Debug, Clone)]
pub struct AdReportRow {
    pub day: String,
    pub placement: String,
    pub content: String,
    pub served: u64,
    pub viewed: u64,
    pub clicked: u64,
    pub spend: i64,
}

/// What the writer thread is asked to do.
pub enum AdWrite {
    /// A served impression (see [`AdWrite::served`]).
    Served(ServedLine),
    /// A view or click counted on a served impression (described again, so that the
    /// count needs no lookup).
    Counted {
        id: String,
        click: bool,
        price: i64,
        at_ms: i64,
        campaign: String,
        content: String,
        placement: String,
        served_ms: i64,
    },
}

/// A served impression as its `ad_served` line, formatted where it is served: one
/// allocation there and one free on the writer thread, instead of a string per field
/// (cross-thread frees were a large part of the writer's time).
pub struct ServedLine {
    line: String,
    served_ms: i64,
}

impl AdWrite {
    /// A served impression: its id, partner, campaign, content, placement, session and time.
    /// Ids and session ids never hold tabs or line breaks (their rules forbid them).
    pub fn served(id: &str, partner: i64, fields: [&str; 4], served_ms: i64) -> AdWrite {
        let len = id.len() + fields.iter().map(|f| f.len() + 1).sum::<usize>() + 36;
        let mut line = String::with_capacity(len);
        line.push_str(id);
        line.push('\t');
        line.push_str(itoa::Buffer::new().format(partner));
        for f in fields {
            line.push('\t');
            line.push_str(f);
        }
        line.push('\t');
        line.push_str(itoa::Buffer::new().format(served_ms));
        line.push('\n');
        AdWrite::Served(ServedLine { line, served_ms })
    }
}

enum Message {
    Write(AdWrite),
    /// Answered once everything sent before it is committed.
    Flush(oneshot::Sender<()>),
}

/// Handle to the impression writer; cheap to clone.
#[derive(Clone)]
pub struct AdWriter {
    queue: mpsc::UnboundedSender<Message>,
}

impl AdWriter {
    /// Queues a write without waiting (the serving path).
    pub fn send(&self, write: AdWrite) {
        if self.queue.send(Message::Write(write)).is_err() {
            tracing::error!("the impression writer has stopped; a write was lost");
        }
    }

    /// Waits until everything queued so far is committed.
    pub async fn flush(&self) -> Result<()> {
        let (tx, rx) = oneshot::channel();
        self.queue
            .send(Message::Flush(tx))
            .map_err(|_| StoreError::Poisoned)?;
        rx.await.map_err(|_| StoreError::Poisoned)
    }
}

const MAX_PER_COMMIT: usize = 20_000;

/// A report group: (campaign, day of serving, placement, content).
type GroupKey<'a> = (&'a str, i64, &'a str, &'a str);

/// What a batch adds to each report group: served, viewed, clicked, spend.
type Sums<'a> = HashMap<GroupKey<'a>, [i64; 4]>;

const DAY_MS: i64 = 86_400_000;

/// One commit's served impressions: `ad_served` lines.
#[derive(Default)]
struct ServedLog {
    body: String,
    first_ms: i64,
    last_ms: i64,
}

impl ServedLog {
    /// Empty for the next commit, keeping the buffer.
    fn clear(&mut self) {
        self.body.clear();
    }

    fn push(&mut self, served: &ServedLine) {
        if self.body.is_empty() {
            (self.first_ms, self.last_ms) = (served.served_ms, served.served_ms);
        }
        self.first_ms = self.first_ms.min(served.served_ms);
        self.last_ms = self.last_ms.max(served.served_ms);
        self.body.push_str(&served.line);
    }
}

/// Deflates a commit's lines (a BLOB; rows written before were TEXT, still read). The log
/// is most of the bytes serving writes, and writing them (WAL, checkpoint, the kernel's
/// writeback) took serving-core time in bursts that set the sponsored p99; deflated, lines
/// like the bench's take a fifth of the bytes for about 0.3 µs of CPU each (ad hoc). The
/// compressor and its output are reused: fresh ones per commit cost page faults on the
/// serving core.
struct Deflater {
    state: flate2::Compress,
    out: Vec<u8>,
}

impl Deflater {
    fn new() -> Deflater {
        Deflater {
            state: flate2::Compress::new(flate2::Compression::fast(), false),
            out: Vec::new(),
        }
    }

    /// The deflated stream, or None should the compressor fail (a bug: compressing into
    /// memory has no other failure mode).
    fn deflate(&mut self, input: &[u8]) -> Option<&[u8]> {
        self.state.reset();
        self.out.clear();
        self.out.reserve(input.len() / 4 + 64);
        loop {
            let read = self.state.total_in() as usize;
            let status = self.state.compress_vec(
                &input[read..],
                &mut self.out,
                flate2::FlushCompress::Finish,
            );
            match status {
                Ok(flate2::Status::StreamEnd) => return Some(&self.out),
                // Out of room in `out`: give it more and go on.
                Ok(_) => self.out.reserve(self.out.capacity().max(1024)),
                Err(_) => return None,
            }
        }
    }
}

/// An `ad_served` body back as its lines: TEXT as written before, a BLOB deflated.
fn served_body(value: rusqlite::types::ValueRef<'_>) -> rusqlite::Result<String> {
    use rusqlite::types::ValueRef;
    use std::io::Read;
    match value {
        ValueRef::Blob(b) => {
            let mut text = String::with_capacity(b.len() * 5);
            flate2::read::DeflateDecoder::new(b)
                .read_to_string(&mut text)
                .map_err(|e| {
                    rusqlite::Error::FromSqlConversionFailure(0, value.data_type(), Box::new(e))
                })?;
            Ok(text)
        }
        other => Ok(other.as_str()?.to_string()),
    }
}

/// The fields of an `ad_served` line (as [`AdWrite::served`] writes it): id, partner,
/// campaign, content, placement, session, served_ms.
fn served_fields(line: &str) -> Option<[&str; 7]> {
    let mut f = line.trim_end_matches('\n').split('\t');
    let mut next = || f.next();
    Some([
        next()?,
        next()?,
        next()?,
        next()?,
        next()?,
        next()?,
        next()?,
    ])
}

/// One `ad_served` line back as a row.
fn parse_served_line(line: &str) -> Option<AdImpressionRow> {
    let [id, partner, campaign, content, placement, session, served] = served_fields(line)?;
    Some(AdImpressionRow {
        id: id.to_string(),
        partner: partner.parse().ok()?,
        campaign: campaign.to_string(),
        content: content.to_string(),
        placement: placement.to_string(),
        session: session.to_string(),
        served_ms: served.parse().ok()?,
        viewed: false,
        clicked: false,
    })
}

fn write_one<'a>(
    tx: &rusqlite::Transaction<'_>,
    w: &'a AdWrite,
    log: &mut ServedLog,
    sums: &mut Sums<'a>,
) -> rusqlite::Result<()> {
    match w {
        AdWrite::Served(served) => {
            log.push(served);
            let [_, _, campaign, content, placement, ..] =
                served_fields(&served.line).unwrap_or_default();
            let key = (
                campaign,
                served.served_ms.div_euclid(DAY_MS),
                placement,
                content,
            );
            sums.entry(key).or_default()[0] += 1;
        }
        AdWrite::Counted {
            id,
            click,
            price,
            at_ms,
            campaign,
            content,
            placement,
            served_ms,
        } => {
            let sql = if *click {
                "INSERT INTO ad_counted(id, campaign, placement, content, served_ms, clicked_ms, click_spend)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)
                 ON CONFLICT(id) DO UPDATE SET clicked_ms = excluded.clicked_ms, click_spend = excluded.click_spend
                 WHERE clicked_ms IS NULL"
            } else {
                "INSERT INTO ad_counted(id, campaign, placement, content, served_ms, viewed_ms, view_spend)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)
                 ON CONFLICT(id) DO UPDATE SET viewed_ms = excluded.viewed_ms, view_spend = excluded.view_spend
                 WHERE viewed_ms IS NULL"
            };
            let counted = tx.prepare_cached(sql)?.execute(params![
                id, campaign, placement, content, served_ms, at_ms, price
            ])?;
            if counted > 0 {
                let key = (
                    campaign.as_str(),
                    served_ms.div_euclid(DAY_MS),
                    placement.as_str(),
                    content.as_str(),
                );
                let sum = sums.entry(key).or_default();
                sum[if *click { 2 } else { 1 }] += 1;
                sum[3] += price;
            }
        }
    }
    Ok(())
}

fn write_sums(
    tx: &rusqlite::Transaction<'_>,
    log: &ServedLog,
    deflater: &mut Deflater,
    sums: Sums<'_>,
) -> rusqlite::Result<()> {
    if !log.body.is_empty() {
        let mut insert = tx
            .prepare_cached("INSERT INTO ad_served(first_ms, last_ms, body) VALUES (?1, ?2, ?3)")?;
        // Should deflating fail, the lines go as text, which is read as well.
        match deflater.deflate(log.body.as_bytes()) {
            Some(packed) => insert.execute(params![log.first_ms, log.last_ms, packed])?,
            None => insert.execute(params![log.first_ms, log.last_ms, log.body])?,
        };
    }
    let mut stmt = tx.prepare_cached(
        "INSERT INTO ad_report(campaign, day, placement, content, served, viewed, clicked, spend)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)
         ON CONFLICT DO UPDATE SET served = served + excluded.served, viewed = viewed + excluded.viewed,
             clicked = clicked + excluded.clicked, spend = spend + excluded.spend",
    )?;
    for ((campaign, day, placement, content), [served, viewed, clicked, spend]) in sums {
        stmt.execute(params![
            campaign, day, placement, content, served, viewed, clicked, spend
        ])?;
    }
    Ok(())
}

/// Commits at most this often unless someone waits for a flush: serving never waits for
/// the writer, so fewer, larger transactions leave more of the core to serving.
const GATHER: Duration = Duration::from_millis(20);

fn run(mut conn: Connection, mut rx: mpsc::UnboundedReceiver<Message>) {
    let mut last_commit = std::time::Instant::now();
    // Kept across commits (see `Deflater`).
    let (mut batch, mut log, mut deflater) = (Vec::new(), ServedLog::default(), Deflater::new());
    while let Some(first) = rx.blocking_recv() {
        batch.push(first);
        loop {
            while batch.len() < MAX_PER_COMMIT {
                match rx.try_recv() {
                    Ok(m) => batch.push(m),
                    Err(_) => break,
                }
            }
            let waited_for = batch.iter().any(|m| matches!(m, Message::Flush(_)));
            let since = last_commit.elapsed();
            if waited_for || batch.len() >= MAX_PER_COMMIT || since >= GATHER {
                break;
            }
            std::thread::sleep(GATHER - since);
        }
        last_commit = std::time::Instant::now();
        let mut flushes = Vec::new();
        let result = (|| -> rusqlite::Result<()> {
            let tx = conn.transaction()?;
            log.clear();
            let mut sums = Sums::new();
            for m in &batch {
                if let Message::Write(w) = m {
                    write_one(&tx, w, &mut log, &mut sums)?;
                }
            }
            write_sums(&tx, &log, &mut deflater, sums)?;
            tx.commit()
        })();
        if let Err(e) = result {
            tracing::error!(error = %e, "impression writes failed");
            std::thread::sleep(Duration::from_millis(100));
        }
        for m in batch.drain(..) {
            if let Message::Flush(tx) = m {
                flushes.push(tx);
            }
        }
        for f in flushes {
            let _ = f.send(());
        }
    }
}

impl Store {
    /// Starts the impression writer on its own thread and connection.
    pub fn start_ad_writer(&self) -> Result<AdWriter> {
        let conn = crate::connect(self.path())?;
        let (tx, rx) = mpsc::unbounded_channel();
        std::thread::Builder::new()
            .name("ad-writer".into())
            .spawn(move || {
                // Serving never waits for this thread; under contention it still gets
                // about a quarter of a core, twice what 80,000 impressions/s take.
                crate::priority::lower(5);
                run(conn, rx)
            })?;
        Ok(AdWriter { queue: tx })
    }

    pub fn create_ad_placement(&self, id: &str, partner: i64, body: &str) -> Result<()> {
        self.with_conn(|c| {
            c.execute(
                "INSERT INTO ad_placements(id, partner, body, created_ms) VALUES (?1, ?2, ?3, ?4)",
                params![id, partner, body, now_ms()],
            )?;
            Ok(())
        })
    }

    /// Every placement's JSON body.
    pub fn ad_placements(&self) -> Result<Vec<String>> {
        self.with_conn(|c| {
            let mut stmt = c.prepare("SELECT body FROM ad_placements ORDER BY created_ms")?;
            let rows = stmt.query_map([], |r| r.get(0))?;
            Ok(rows.collect::<rusqlite::Result<Vec<String>>>()?)
        })
    }

    pub fn create_advertiser(&self, id: &str, name: &str) -> Result<()> {
        self.with_conn(|c| {
            c.execute(
                "INSERT INTO ad_advertisers(id, name, created_ms) VALUES (?1, ?2, ?3)",
                params![id, name, now_ms()],
            )?;
            Ok(())
        })
    }

    pub fn advertiser_exists(&self, id: &str) -> Result<bool> {
        self.with_conn(|c| {
            Ok(
                c.query_row("SELECT 1 FROM ad_advertisers WHERE id = ?1", [id], |_| {
                    Ok(())
                })
                .optional()?
                .is_some(),
            )
        })
    }

    pub fn create_campaign(&self, id: &str, advertiser: &str, body: &str) -> Result<()> {
        self.with_conn(|c| {
            c.execute(
                "INSERT INTO ad_campaigns(id, advertiser, body, created_ms) VALUES (?1, ?2, ?3, ?4)",
                params![id, advertiser, body, now_ms()],
            )?;
            Ok(())
        })
    }

    pub fn set_campaign_paused(&self, id: &str, paused: bool) -> Result<()> {
        self.with_conn(|c| {
            if c.execute(
                "UPDATE ad_campaigns SET paused = ?2 WHERE id = ?1",
                params![id, paused],
            )? == 0
            {
                return Err(StoreError::NotFound(format!("campaign {id}")));
            }
            Ok(())
        })
    }

    /// Every campaign: (JSON body, paused).
    pub fn campaigns(&self) -> Result<Vec<(String, bool)>> {
        self.with_conn(|c| {
            let mut stmt =
                c.prepare("SELECT body, paused FROM ad_campaigns ORDER BY created_ms")?;
            let rows = stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?;
            Ok(rows.collect::<rusqlite::Result<Vec<_>>>()?)
        })
    }

    /// Every campaign's sums; `day_spent` counts charges at or after `day_start_ms`.
    pub fn campaign_totals(&self, day_start_ms: i64) -> Result<HashMap<String, AdTotals>> {
        let conn = self.reader()?;
        let mut stmt = conn.prepare(
            "SELECT campaign, SUM(served), SUM(viewed), SUM(clicked), SUM(spend) FROM ad_report GROUP BY campaign",
        )?;
        let rows = stmt.query_map([], |r| {
            Ok((
                r.get::<_, String>(0)?,
                AdTotals {
                    served: r.get::<_, i64>(1)? as u64,
                    views: r.get::<_, i64>(2)? as u64,
                    clicks: r.get::<_, i64>(3)? as u64,
                    spent: r.get(4)?,
                    day_spent: 0,
                },
            ))
        })?;
        let mut totals = rows.collect::<rusqlite::Result<HashMap<_, _>>>()?;
        // A view or click counts within a day of serving: today's charges are on
        // impressions served since yesterday's start.
        let mut stmt = conn.prepare(
            "SELECT campaign, SUM(CASE WHEN viewed_ms >= ?1 THEN view_spend ELSE 0 END) + SUM(CASE WHEN clicked_ms >= ?1 THEN click_spend ELSE 0 END)
             FROM ad_counted WHERE served_ms >= ?2 GROUP BY campaign",
        )?;
        let mut rows = stmt.query([day_start_ms, day_start_ms - DAY_MS])?;
        while let Some(r) = rows.next()? {
            let campaign: String = r.get(0)?;
            totals.entry(campaign).or_default().day_spent = r.get(1)?;
        }
        Ok(totals)
    }

    /// Impressions served at or after `since_ms` (in no particular order), with whether
    /// their view and click were counted.
    pub fn recent_impressions(
        &self,
        since_ms: i64,
        mut f: impl FnMut(AdImpressionRow),
    ) -> Result<()> {
        let conn = self.reader()?;
        let mut counted: HashMap<String, (bool, bool)> = HashMap::new();
        let mut stmt = conn.prepare(
            "SELECT id, viewed_ms IS NOT NULL, clicked_ms IS NOT NULL FROM ad_counted WHERE served_ms >= ?1",
        )?;
        let mut rows = stmt.query([since_ms])?;
        while let Some(r) = rows.next()? {
            counted.insert(r.get(0)?, (r.get(1)?, r.get(2)?));
        }
        let mut with_counts = |mut row: AdImpressionRow| {
            if let Some((viewed, clicked)) = counted.get(&row.id) {
                row.viewed |= viewed;
                row.clicked |= clicked;
            }
            f(row)
        };
        // Served before the batched log existed.
        let mut stmt = conn.prepare(
            "SELECT id, partner, campaign, content, placement, session, served_ms, viewed_ms IS NOT NULL, clicked_ms IS NOT NULL
             FROM ad_impressions WHERE served_ms >= ?1",
        )?;
        let mut rows = stmt.query([since_ms])?;
        while let Some(r) = rows.next()? {
            with_counts(AdImpressionRow {
                id: r.get(0)?,
                partner: r.get(1)?,
                campaign: r.get(2)?,
                content: r.get(3)?,
                placement: r.get(4)?,
                session: r.get(5)?,
                served_ms: r.get(6)?,
                viewed: r.get(7)?,
                clicked: r.get(8)?,
            });
        }
        let mut stmt = conn.prepare("SELECT body FROM ad_served WHERE last_ms >= ?1")?;
        let mut rows = stmt.query([since_ms])?;
        while let Some(r) = rows.next()? {
            let body = served_body(r.get_ref(0)?)?;
            for line in body.lines() {
                match parse_served_line(line) {
                    Some(row) if row.served_ms >= since_ms => with_counts(row),
                    Some(_) => {}
                    None => tracing::error!("unreadable served impression line; skipped"),
                }
            }
        }
        Ok(())
    }

    pub fn campaign_report(&self, campaign: &str) -> Result<Vec<AdReportRow>> {
        let conn = self.reader()?;
        let mut stmt = conn.prepare(
            "SELECT strftime('%Y-%m-%d', day * 86400, 'unixepoch'), placement, content, served, viewed, clicked, spend
             FROM ad_report WHERE campaign = ?1",
        )?;
        let rows = stmt.query_map([campaign], |r| {
            Ok(AdReportRow {
                day: r.get(0)?,
                placement: r.get(1)?,
                content: r.get(2)?,
                served: r.get::<_, i64>(3)? as u64,
                viewed: r.get::<_, i64>(4)? as u64,
                clicked: r.get::<_, i64>(5)? as u64,
                spend: r.get(6)?,
            })
        })?;
        Ok(rows.collect::<rusqlite::Result<Vec<_>>>()?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(flavor = "current_thread")]
    async fn impressions_views_and_report() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        store.create_advertiser("a", "A").unwrap();
        assert!(store.advertiser_exists("a").unwrap());
        store.create_campaign("c", "a", "{}").unwrap();
        let w = store.start_ad_writer().unwrap();
        for i in 0..3 {
            w.send(AdWrite::served(
                &format!("i{i}"),
                1,
                ["c", "c-1", "p", "s"],
                1_000,
            ));
        }
        for _ in 0..2 {
            w.send(AdWrite::Counted {
                id: "i0".into(),
                click: false,
                price: 5,
                at_ms: 2_000,
                campaign: "c".into(),
                content: "c-1".into(),
                placement: "p".into(),
                served_ms: 1_000,
            });
        }
        w.flush().await.unwrap();
        let totals = store.campaign_totals(0).unwrap()["c"];
        assert_eq!((totals.served, totals.views, totals.spent), (3, 1, 5));
        let report = store.campaign_report("c").unwrap();
        assert_eq!(report.len(), 1);
        assert_eq!(report[0].day, "1970-01-01");
        let mut rows = Vec::new();
        store.recent_impressions(0, |r| rows.push(r)).unwrap();
        rows.sort_by(|a, b| a.id.cmp(&b.id));
        assert_eq!(rows.len(), 3);
        assert_eq!(
            (rows[0].id.as_str(), rows[0].viewed, rows[0].clicked),
            ("i0", true, false)
        );
        assert_eq!(
            (
                rows[1].session.as_str(),
                rows[1].placement.as_str(),
                rows[1].content.as_str()
            ),
            ("s", "p", "c-1")
        );
        assert!(!rows[1].viewed);
        let mut late = 0;
        store.recent_impressions(1_001, |_| late += 1).unwrap();
        assert_eq!(late, 0);
    }

    #[tokio::test(flavor = "current_thread")]
    async fn the_served_log_is_deflated_and_rows_written_as_text_still_read() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let w = store.start_ad_writer().unwrap();
        for i in 0..500 {
            let (campaign, session) =
                (format!("campaign-{}", i % 7), format!("visitor-{}", i % 50));
            w.send(AdWrite::served(
                &format!("{i:032x}"),
                1,
                [&campaign, "c-1", "placement-1", &session],
                1_000 + i,
            ));
        }
        w.flush().await.unwrap();
        let (kind, stored, lines): (String, i64, String) = store
            .with_conn(|c| {
                Ok(c.query_row(
                    "SELECT typeof(body), length(body), body FROM ad_served",
                    [],
                    |r| Ok((r.get(0)?, r.get(1)?, served_body(r.get_ref(2)?)?)),
                )?)
            })
            .unwrap();
        assert_eq!(kind, "blob");
        assert!(
            stored * 3 < lines.len() as i64,
            "{stored} bytes for {}",
            lines.len()
        );
        // A row of the log as it was written before (TEXT).
        store
            .with_conn(|c| {
                c.execute(
                    "INSERT INTO ad_served(first_ms, last_ms, body) VALUES (900, 900, ?1)",
                    ["old-1\t1\tcampaign-0\tc-1\tplacement-1\tvisitor-9\t900\n"],
                )?;
                Ok(())
            })
            .unwrap();
        let mut rows = Vec::new();
        store.recent_impressions(0, |r| rows.push(r)).unwrap();
        assert_eq!(rows.len(), 501);
        let old = rows.iter().find(|r| r.id == "old-1").unwrap();
        assert_eq!((old.session.as_str(), old.served_ms), ("visitor-9", 900));
        let last = rows
            .iter()
            .find(|r| r.id == format!("{:032x}", 499))
            .unwrap();
        assert_eq!(
            (
                last.campaign.as_str(),
                last.session.as_str(),
                last.served_ms
            ),
            ("campaign-2", "visitor-49", 1_499)
        );
    }

    /// Input that does not compress outgrows the output's first reservation; the
    /// compressor, reused, still gives streams that inflate back to each input.
    #[test]
    fn the_reused_deflater_round_trips_whatever_the_input() {
        let mut d = Deflater::new();
        let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
        let noise: String = (0..200_000)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                char::from(b'!' + (x % 90) as u8)
            })
            .collect();
        let lines = "0123456789abcdef\t1\tcampaign\tc-1\tplacement\tvisitor\t1000\n".repeat(3_000);
        for input in [noise.as_str(), lines.as_str(), "", noise.as_str()] {
            let packed = d.deflate(input.as_bytes()).unwrap().to_vec();
            if input.is_empty() {
                continue;
            }
            let back = served_body(rusqlite::types::ValueRef::Blob(&packed)).unwrap();
            assert_eq!(back, input);
        }
    }
}
