//! The single event writer: group commit on a dedicated thread.
//!
//! Every submitted job waits in a bounded queue; the writer takes all that is
//! queued (up to a cap), writes them in one transaction (when that fails, each job is
//! written again alone, so that a failing job cannot take others with it), commits
//! once, and only then answers every job.
//! The queue is FIFO and jobs are written in order, so a visitor's events are stored
//! in the order they were accepted.
//!
//! Durability is pipelined: the writer's connection commits without syncing
//! (`synchronous=NORMAL`), and a second thread, the syncer, `fdatasync`s the WAL file
//! before it answers the groups committed so far. Every answer still waits for the sync
//! that covers its commit (as with `synchronous=FULL`), but the writer builds the next
//! group while the disk syncs the previous one instead of waiting for it. There are
//! [`SYNCERS`] syncers: a group committed while one sync is running starts its own at
//! once instead of waiting for the running one to end, which matters most when the disk
//! is slow.

use crate::contacts;
use propel_model::{EventKind, ValidatedEvent};
use rusqlite::types::{ToSqlOutput, ValueRef};
use rusqlite::{params, Connection, Transaction};
use std::collections::HashMap;
use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};
use tokio::sync::{mpsc, oneshot};

/// Most events written in one transaction; keeps a commit's latency bounded.
const MAX_EVENTS_PER_COMMIT: usize = 20_000;
const QUEUE_JOBS: usize = 4096;

#[derive(Debug, Clone, thiserror::Error)]
pub enum WriteError {
    #[error("the event writer has stopped")]
    Stopped,
    #[error("storage failed: {0}")]
    Storage(String),
}

/// Told the size of every committed group, for metrics.
pub type CommitObserver = Box<dyn Fn(usize) + Send + Sync>;

/// Syncer threads. Any of them may take the next committed groups: each answers only
/// groups committed before its own `fdatasync` began, and that call also waits for the
/// WAL pages another syncer is still writing out, so any order of answers is safe.
const SYNCERS: usize = 2;

type Reply = oneshot::Sender<Result<(), WriteError>>;
/// The answers of one group, handed to a task on the async runtime in one message: the
/// writer thread then wakes the runtime once per group instead of once per request.
type Answers = Vec<(Reply, Result<(), WriteError>)>;

struct Job {
    partner: i64,
    events: Arc<Vec<ValidatedEvent>>,
    reply: Reply,
}

enum Message {
    Write(Job),
    Stop(oneshot::Sender<()>),
}

/// Handle to the writer thread; cheap to clone.
#[derive(Clone)]
pub struct EventWriter {
    queue: mpsc::Sender<Message>,
    thread: std::sync::Arc<std::sync::Mutex<Option<JoinHandle<()>>>>,
}

impl EventWriter {
    /// `conn` must be in WAL mode; `wal` is its WAL file, synced before every answer.
    pub(crate) fn start(
        conn: Connection,
        wal: PathBuf,
        observer: Option<CommitObserver>,
        window: Duration,
    ) -> crate::Result<EventWriter> {
        // Commits leave syncing to the syncer thread (see the module's comment).
        conn.pragma_update(None, "synchronous", "NORMAL")?;
        let (tx, rx) = mpsc::channel(QUEUE_JOBS);
        let responder = tokio::runtime::Handle::try_current().ok().map(|runtime| {
            let (answers, mut pending) = mpsc::unbounded_channel::<Answers>();
            runtime.spawn(async move {
                while let Some(group) = pending.recv().await {
                    for (reply, result) in group {
                        let _ = reply.send(result);
                    }
                }
            });
            answers
        });
        let to_sync = Arc::new(SyncQueue::default());
        let observer = observer.map(Arc::new);
        let syncers = (0..SYNCERS)
            .map(|_| {
                let (wal, to_sync) = (wal.clone(), to_sync.clone());
                let (observer, responder) = (observer.clone(), responder.clone());
                std::thread::Builder::new()
                    .name("event-syncer".into())
                    .spawn(move || sync_loop(wal, &to_sync, observer, responder))
            })
            .collect::<std::io::Result<Vec<_>>>()?;
        let to_sync = CloseOnDrop(to_sync);
        let thread = std::thread::Builder::new()
            .name("event-writer".into())
            .spawn(move || {
                if let Ok(mut threads) = WRITER_THREADS.write() {
                    threads.push(std::thread::current());
                }
                run(conn, rx, window, &to_sync.0);
                if let Ok(mut threads) = WRITER_THREADS.write() {
                    let me = std::thread::current().id();
                    threads.retain(|t| t.id() != me);
                }
                // The syncers end once every committed group has been synced and answered.
                drop(to_sync);
                for syncer in syncers {
                    let _ = syncer.join();
                }
            })?;
        Ok(EventWriter {
            queue: tx,
            thread: std::sync::Arc::new(std::sync::Mutex::new(Some(thread))),
        })
    }

    /// Stores `events` of one partner, in order; resolves once they are committed.
    pub async fn write(
        &self,
        partner: i64,
        events: Arc<Vec<ValidatedEvent>>,
    ) -> Result<(), WriteError> {
        let (reply, done) = oneshot::channel();
        self.queue
            .send(Message::Write(Job {
                partner,
                events,
                reply,
            }))
            .await
            .map_err(|_| WriteError::Stopped)?;
        done.await.map_err(|_| WriteError::Stopped)?
    }

    /// Commits everything queued before this call, then stops the thread.
    pub async fn stop(&self) {
        let (done, stopped) = oneshot::channel();
        if self.queue.send(Message::Stop(done)).await.is_ok() {
            let _ = stopped.await;
        }
        let handle = self.thread.lock().ok().and_then(|mut h| h.take());
        if let Some(handle) = handle {
            let _ = tokio::task::spawn_blocking(move || handle.join()).await;
        }
    }
}

/// The threads of the event writers running in this process, for [`serving_idle`].
static WRITER_THREADS: std::sync::RwLock<Vec<std::thread::Thread>> =
    std::sync::RwLock::new(Vec::new());

/// Serving threads parked right now: between [`serving_idle`] and [`serving_busy`].
static SERVING_PARKED: AtomicUsize = AtomicUsize::new(0);

/// Tells the event writers that a serving thread has run out of work (called by the
/// serving runtimes just before they park). A writer waiting out its gather window
/// then commits at once: under load every request still in flight is waiting for
/// that commit or the sync before it, so waiting longer would leave the core idle.
pub fn serving_idle() {
    SERVING_PARKED.fetch_add(1, Ordering::SeqCst);
    if let Ok(threads) = WRITER_THREADS.read() {
        for t in threads.iter() {
            t.unpark();
        }
    }
}

/// Tells the event writers that a serving thread that reported [`serving_idle`] has
/// work again (called by the serving runtimes just after they unpark).
pub fn serving_busy() {
    let _ = SERVING_PARKED.fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1));
}

/// Waits until some serving thread is parked (`parked` above zero) or `deadline` passes.
/// The park token alone cannot tell: one left by a serving thread that parked while
/// this writer was committing, and has been busy since, would end the wait at once.
/// Measured ad hoc (commit sizes in `/metrics` over 330,000 `POST /1.0/view` at
/// 16 x 10, four alternating pairs): trusting the token, a fifth of all commits held a
/// single event and groups averaged 59-61 events; with this count, 70-72 events and
/// 5-9% less CPU an event.
fn wait_for_idle_serving(parked: &AtomicUsize, deadline: Instant) {
    while parked.load(Ordering::SeqCst) == 0 {
        let now = Instant::now();
        if now >= deadline {
            return;
        }
        std::thread::park_timeout(deadline - now);
    }
}

/// A commit that ends this soon after the previous one means the writer is busy.
const BUSY_GAP: Duration = Duration::from_millis(3);

/// Under load (see [`BUSY_GAP`]), the writer waits up to `window` for more jobs before
/// committing, so that one fsync covers many requests, but no longer than the serving
/// threads have requests to work on ([`serving_idle`]). Idle, it commits at once.
fn run(
    mut conn: Connection,
    mut rx: mpsc::Receiver<Message>,
    window: Duration,
    syncer: &SyncQueue,
) {
    let mut stop_reply = None;
    let mut last_commit = Instant::now() - BUSY_GAP;
    while stop_reply.is_none() {
        let Some(first) = rx.blocking_recv() else {
            break;
        };
        let mut jobs = Vec::new();
        let mut count = 0;
        stop_reply = gather(&mut rx, Some(first), &mut jobs, &mut count);
        if stop_reply.is_none()
            && !window.is_zero()
            && count < MAX_EVENTS_PER_COMMIT
            && last_commit.elapsed() < BUSY_GAP
        {
            wait_for_idle_serving(&SERVING_PARKED, Instant::now() + window);
            stop_reply = gather(&mut rx, None, &mut jobs, &mut count);
        }
        if !jobs.is_empty() {
            commit_group(&mut conn, jobs, syncer);
            last_commit = Instant::now();
        }
    }
    rx.close();
    // Whatever was queued after the stop request is answered, never silently dropped.
    let mut late = Vec::new();
    while let Ok(message) = rx.try_recv() {
        if let Message::Write(job) = message {
            late.push(job);
        }
    }
    if !late.is_empty() {
        commit_group(&mut conn, late, syncer);
    }
    if let Some(reply) = stop_reply {
        let _ = reply.send(());
    }
}

/// Takes queued jobs (starting with `first`) until the cap; returns a stop request if one came.
fn gather(
    rx: &mut mpsc::Receiver<Message>,
    first: Option<Message>,
    jobs: &mut Vec<Job>,
    count: &mut usize,
) -> Option<oneshot::Sender<()>> {
    let mut next = first.or_else(|| rx.try_recv().ok());
    while let Some(message) = next.take() {
        match message {
            Message::Write(job) => {
                *count += job.events.len();
                jobs.push(job);
            }
            Message::Stop(reply) => return Some(reply),
        }
        if *count < MAX_EVENTS_PER_COMMIT {
            next = rx.try_recv().ok();
        }
    }
    None
}

fn commit_group(conn: &mut Connection, jobs: Vec<Job>, syncer: &SyncQueue) {
    // Jobs were validated before they were queued, so the whole group nearly always
    // commits at once. When it does not, each job is retried alone so that one bad
    // job cannot fail the others.
    let results = match write_jobs(conn, &jobs) {
        Ok(()) => vec![Ok(()); jobs.len()],
        Err(e) if jobs.len() == 1 => vec![Err(e)],
        Err(_) => jobs
            .iter()
            .map(|job| write_jobs(conn, std::slice::from_ref(job)))
            .collect(),
    };
    let stored: usize = jobs
        .iter()
        .zip(&results)
        .filter(|(_, r)| r.is_ok())
        .map(|(j, _)| j.events.len())
        .sum();
    let answers: Answers = jobs
        .into_iter()
        .zip(results)
        .map(|(job, result)| {
            if let Err(e) = &result {
                tracing::error!(error = %e, "event write failed");
            }
            (job.reply, result)
        })
        .collect();
    if let Err(unsent) = syncer.push(Committed { answers, stored }) {
        // The syncers are gone (they only stop after this thread): nothing can vouch
        // for durability, so nobody is told the write succeeded.
        for (reply, _) in unsent.answers {
            let _ = reply.send(Err(WriteError::Stopped));
        }
    }
}

/// A committed group waiting for the WAL sync that makes it durable.
struct Committed {
    answers: Answers,
    stored: usize,
}

/// Committed groups waiting for a syncer. A condition variable wakes one idle syncer
/// per group; a channel receiver shared behind a mutex woke both (one to take the
/// group, the other to take the mutex and wait again).
#[derive(Default)]
struct SyncQueue {
    state: std::sync::Mutex<SyncState>,
    ready: std::sync::Condvar,
}

#[derive(Default)]
struct SyncState {
    groups: Vec<Committed>,
    closed: bool,
}

impl SyncQueue {
    fn lock(&self) -> std::sync::MutexGuard<'_, SyncState> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Queues a group; refused once the queue is closed.
    fn push(&self, group: Committed) -> Result<(), Committed> {
        let mut state = self.lock();
        if state.closed {
            return Err(group);
        }
        state.groups.push(group);
        drop(state);
        self.ready.notify_one();
        Ok(())
    }

    /// No more groups will come: syncers end once the queue is empty.
    fn close(&self) {
        self.lock().closed = true;
        self.ready.notify_all();
    }

    /// Every group queued so far, waiting for one; `None` once closed and empty.
    fn take(&self) -> Option<Vec<Committed>> {
        let mut state = self.lock();
        loop {
            if !state.groups.is_empty() {
                return Some(std::mem::take(&mut state.groups));
            }
            if state.closed {
                return None;
            }
            state = self.ready.wait(state).unwrap_or_else(|p| p.into_inner());
        }
    }
}

/// Closes the queue when dropped, so that the syncers end also when the writer thread
/// unwinds or never starts.
struct CloseOnDrop(Arc<SyncQueue>);

impl Drop for CloseOnDrop {
    fn drop(&mut self) {
        self.0.close();
    }
}

/// Syncs the WAL once for every run of committed groups it takes, then answers them in
/// order. Groups are taken under the queue's lock and synced outside it, so that
/// another syncer can take the groups committed meanwhile.
fn sync_loop(
    wal: PathBuf,
    committed: &SyncQueue,
    observer: Option<Arc<CommitObserver>>,
    responder: Option<mpsc::UnboundedSender<Answers>>,
) {
    let mut file: Option<File> = None;
    while let Some(groups) = committed.take() {
        #[cfg(test)]
        tests::sync_gate::pass(&wal);
        let synced = sync_wal(&wal, &mut file);
        if let Err(e) = &synced {
            tracing::error!(error = %e, "syncing the event log failed");
        }
        for group in groups {
            let mut answers = group.answers;
            if let Err(e) = &synced {
                for (_, result) in answers.iter_mut() {
                    if result.is_ok() {
                        *result = Err(WriteError::Storage(e.clone()));
                    }
                }
            } else if let Some(observe) = &observer {
                if group.stored > 0 {
                    observe(group.stored);
                }
            }
            let undelivered = match &responder {
                Some(r) => r.send(answers).err().map(|e| e.0),
                None => Some(answers),
            };
            // Without a runtime (or after it stopped), answer from this thread.
            for (reply, result) in undelivered.unwrap_or_default() {
                let _ = reply.send(result);
            }
        }
    }
}

/// `fdatasync` of the WAL: everything the writer committed before this call is on disk
/// after it. The file is opened on first use (SQLite creates it) and reopened after an error.
fn sync_wal(path: &Path, file: &mut Option<File>) -> Result<(), String> {
    let open = match file {
        Some(open) => open,
        None => {
            file.insert(File::open(path).map_err(|e| format!("opening {}: {e}", path.display()))?)
        }
    };
    if let Err(e) = open.sync_data() {
        *file = None;
        return Err(format!("fdatasync of {}: {e}", path.display()));
    }
    Ok(())
}

/// Writes jobs in one transaction: all of them or none.
fn write_jobs(conn: &mut Connection, jobs: &[Job]) -> Result<(), WriteError> {
    let storage = |e: rusqlite::Error| WriteError::Storage(e.to_string());
    let mut tx = conn.transaction().map_err(storage)?;
    let mut per_partner: HashMap<i64, (i64, i64)> = HashMap::new();
    let mut rows: Vec<(i64, &ValidatedEvent)> = Vec::new();
    for job in jobs {
        for event in job.events.iter() {
            rows.push((job.partner, event));
            // A contact's merge reads what earlier events of the group wrote.
            if event.kind == EventKind::SetContact {
                insert_events(&tx, &rows).map_err(storage)?;
                rows.clear();
                contacts::apply_set_contact(&tx, job.partner, event).map_err(storage)?;
            }
        }
        let entry = per_partner.entry(job.partner).or_insert((0, i64::MIN));
        entry.0 += job.events.len() as i64;
        entry.1 = job.events.iter().fold(entry.1, |m, e| m.max(e.ts_ms));
    }
    insert_events(&tx, &rows).map_err(storage)?;
    update_partner_counters(&mut tx, &per_partner).map_err(storage)?;
    tx.commit().map_err(storage)
}

/// Rows per `INSERT` statement, largest first. One statement of many rows keeps its
/// cursors open from row to row and is stepped and reset once: measured ad hoc (a
/// scratch program inserting 300,000 events in transactions of 70 into this table and
/// its indexes), 1.7-2.0 µs of CPU a row against 2.3-2.9 µs one row a statement.
const ROWS_PER_INSERT: [usize; 4] = [64, 16, 4, 1];
const COLUMNS: usize = 6;

/// `INSERT` statements of `n` rows, for each `n` of [`ROWS_PER_INSERT`]; an order line
/// already stored (`order_key`) is replaced, also by a later row of the same statement.
static INSERT_EVENTS: std::sync::LazyLock<[String; ROWS_PER_INSERT.len()]> =
    std::sync::LazyLock::new(|| ROWS_PER_INSERT.map(insert_sql));

fn insert_sql(rows: usize) -> String {
    let row = format!("({})", ["?"; COLUMNS].join(","));
    format!(
        "INSERT INTO events(partner, session, kind, ts_ms, body, order_key) VALUES {}
         ON CONFLICT(partner, order_key) WHERE order_key IS NOT NULL
         DO UPDATE SET session = excluded.session, ts_ms = excluded.ts_ms, body = excluded.body",
        vec![row; rows].join(",")
    )
}

/// Inserts `rows` in order, in as few statements as [`ROWS_PER_INSERT`] allows.
fn insert_events(tx: &Connection, rows: &[(i64, &ValidatedEvent)]) -> rusqlite::Result<()> {
    let mut body = Vec::new();
    let mut rest = rows;
    while !rest.is_empty() {
        let size = ROWS_PER_INSERT
            .iter()
            .position(|&n| n <= rest.len())
            .unwrap_or(ROWS_PER_INSERT.len() - 1);
        let (chunk, tail) = rest.split_at(ROWS_PER_INSERT[size]);
        let mut insert = tx.prepare_cached(&INSERT_EVENTS[size])?;
        for (i, (partner, event)) in chunk.iter().enumerate() {
            let at = i * COLUMNS;
            insert.raw_bind_parameter(at + 1, partner)?;
            insert.raw_bind_parameter(at + 2, &event.session)?;
            insert.raw_bind_parameter(at + 3, event.kind.code())?;
            insert.raw_bind_parameter(at + 4, event.ts_ms)?;
            // SQLite copies text when it is bound, so one buffer serves every row.
            body.clear();
            event.write_body_json(&mut body);
            insert.raw_bind_parameter(at + 5, ToSqlOutput::Borrowed(ValueRef::Text(&body)))?;
            insert.raw_bind_parameter(at + 6, event.order_key())?;
        }
        insert.raw_execute()?;
        rest = tail;
    }
    Ok(())
}

fn update_partner_counters(
    tx: &mut Transaction<'_>,
    per_partner: &HashMap<i64, (i64, i64)>,
) -> rusqlite::Result<()> {
    let mut stmt = tx.prepare_cached(
        "UPDATE partners SET events_received = events_received + ?2,
         last_event_ms = MAX(COALESCE(last_event_ms, ?3), ?3) WHERE rowid = ?1",
    )?;
    for (partner, (count, last)) in per_partner {
        stmt.execute(params![partner, count, last])?;
    }
    Ok(())
}

#[cfg(test)]
pub(crate) mod tests {
    use crate::{Limits, Store};

    /// Holds the next sync of one WAL until the test releases it: a disk that takes as
    /// long as the test wants.
    pub(super) mod sync_gate {
        use std::path::{Path, PathBuf};
        use std::sync::{Condvar, Mutex};

        struct Gate {
            wal: PathBuf,
            holding: bool,
            released: bool,
        }

        static GATE: Mutex<Option<Gate>> = Mutex::new(None);
        static CHANGED: Condvar = Condvar::new();

        /// The next sync of `wal` waits in [`pass`] until [`release`].
        pub fn arm(wal: &Path) {
            *GATE.lock().unwrap() = Some(Gate {
                wal: wal.to_path_buf(),
                holding: false,
                released: false,
            });
        }

        /// Called by a syncer before each sync.
        pub fn pass(wal: &Path) {
            let mut gate = GATE.lock().unwrap();
            let held = match gate.as_mut() {
                Some(g) if g.wal == wal && !g.holding && !g.released => {
                    g.holding = true;
                    true
                }
                _ => false,
            };
            if !held {
                return;
            }
            CHANGED.notify_all();
            while !gate.as_ref().is_some_and(|g| g.released) {
                gate = CHANGED.wait(gate).unwrap();
            }
        }

        /// Waits until a sync is held in the gate.
        pub fn wait_holding() {
            let mut gate = GATE.lock().unwrap();
            while !gate.as_ref().is_some_and(|g| g.holding) {
                gate = CHANGED.wait(gate).unwrap();
            }
        }

        pub fn release() {
            if let Some(g) = GATE.lock().unwrap().as_mut() {
                g.released = true;
            }
            CHANGED.notify_all();
        }
    }

    /// While one sync is slow, a group committed after it is synced and answered by
    /// another syncer instead of waiting for the slow one to end.
    #[tokio::test]
    async fn a_slow_sync_does_not_hold_up_the_next_group() {
        let (_dir, store, partner) = store_with_partner(6);
        sync_gate::arm(&store.wal_path());
        let writer = store.start_writer(None, Duration::ZERO).unwrap();
        let view = |i: i64| {
            Arc::new(vec![event(
                EventKind::View,
                json!({"sessionExternalId": "g", "productId": i}),
            )])
        };
        let first = tokio::spawn({
            let writer = writer.clone();
            let events = view(1);
            async move { writer.write(partner.rowid, events).await }
        });
        tokio::task::spawn_blocking(sync_gate::wait_holding)
            .await
            .unwrap();
        let second = tokio::time::timeout(
            Duration::from_secs(10),
            writer.write(partner.rowid, view(2)),
        )
        .await;
        let first_done = first.is_finished();
        sync_gate::release();
        assert!(
            matches!(second, Ok(Ok(()))),
            "the second group waited for the first one's sync: {second:?}"
        );
        assert!(!first_done, "the first group was answered before its sync");
        first.await.unwrap().unwrap();
        writer.stop().await;
    }
    use propel_model::{EventKind, PartnerId};
    use serde_json::json;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Arc;
    use std::time::{Duration, Instant};

    pub(crate) fn event(kind: EventKind, body: serde_json::Value) -> propel_model::ValidatedEvent {
        kind.validate(&body, 1_700_000_000_000).unwrap()
    }

    /// An order line of product 1 in transaction "T".
    fn order_line(session: &str, price: f64) -> propel_model::ValidatedEvent {
        event(
            EventKind::Order,
            json!({"sessionExternalId": session, "productId": 1, "price": price, "quantity": 1, "transaction": "T"}),
        )
    }

    fn set_contact(
        session: &str,
        contact: &str,
        email: Option<&str>,
        data: serde_json::Value,
    ) -> propel_model::ValidatedEvent {
        let mut body =
            json!({"sessionExternalId": session, "contactExternalId": contact, "customData": data});
        if let Some(email) = email {
            body["email"] = json!(email);
        }
        event(EventKind::SetContact, body)
    }

    /// A fresh store in a temp dir (kept alive by the returned guard) with one partner.
    fn store_with_partner(seed: u8) -> (tempfile::TempDir, Arc<Store>, crate::PartnerRecord) {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let id = PartnerId::from_bytes([seed; 12]);
        let partner = store
            .create_partner(&id, "S", "https://s.example", [0; 32], Limits::default())
            .unwrap();
        (dir, store, partner)
    }

    /// Dropping the writer's guard (as the writer thread does when it ends, unwinds or
    /// never starts) ends a syncer waiting for groups.
    #[test]
    fn a_dropped_queue_guard_ends_waiting_syncers() {
        let queue = Arc::new(super::SyncQueue::default());
        let (ended, told) = std::sync::mpsc::channel();
        let syncer = {
            let queue = queue.clone();
            std::thread::spawn(move || ended.send(queue.take().is_none()))
        };
        drop(super::CloseOnDrop(queue));
        assert_eq!(told.recv_timeout(Duration::from_secs(10)), Ok(true));
        syncer.join().unwrap().unwrap();
    }

    /// The answer depends on the WAL sync: when the WAL cannot be synced, the writer
    /// says so instead of acknowledging a commit that may not survive a power loss.
    #[tokio::test]
    async fn no_success_without_a_synced_wal() {
        let (dir, store, partner) = store_with_partner(9);
        let conn = crate::connect(store.path()).unwrap();
        let missing = dir.path().join("no-such-dir").join("propel.db-wal");
        let writer = super::EventWriter::start(conn, missing, None, Duration::ZERO).unwrap();
        let e = event(
            EventKind::View,
            json!({"sessionExternalId": "a", "productId": 1}),
        );
        let result = writer.write(partner.rowid, Arc::new(vec![e.clone()])).await;
        assert!(
            matches!(result, Err(super::WriteError::Storage(ref m)) if m.contains("no-such-dir")),
            "{result:?}"
        );
        writer.stop().await;

        // The real writer syncs the real WAL and succeeds.
        let writer = store.start_writer(None, Duration::ZERO).unwrap();
        writer
            .write(partner.rowid, Arc::new(vec![e]))
            .await
            .unwrap();
        writer.stop().await;
    }

    /// A busy writer waits its gather window for more jobs, unless told the serving
    /// threads are idle: back-to-back writes with a 30 s window take far less than
    /// one window while something reports idleness.
    #[tokio::test]
    async fn an_idle_server_cuts_the_gather_window_short() {
        let (_dir, store, partner) = store_with_partner(8);
        let window = Duration::from_secs(30);
        let writer = store.start_writer(None, window).unwrap();
        let done = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let idle = {
            let done = done.clone();
            std::thread::spawn(move || {
                while !done.load(std::sync::atomic::Ordering::Relaxed) {
                    super::serving_idle();
                    std::thread::sleep(Duration::from_millis(5));
                    super::serving_busy();
                    std::thread::sleep(Duration::from_millis(1));
                }
            })
        };
        let started = std::time::Instant::now();
        // Each write follows the previous commit closely, so the writer counts as busy.
        for i in 0..5 {
            let e = event(
                EventKind::View,
                json!({"sessionExternalId": "w", "productId": i}),
            );
            writer
                .write(partner.rowid, Arc::new(vec![e]))
                .await
                .unwrap();
        }
        assert!(started.elapsed() < window / 2, "{:?}", started.elapsed());
        done.store(true, std::sync::atomic::Ordering::Relaxed);
        idle.join().unwrap();
        writer.stop().await;
    }

    /// A park token left over from an earlier idle moment does not end the wait while
    /// no serving thread is parked.
    #[test]
    fn a_stale_idle_signal_does_not_end_the_gather_wait() {
        let parked = AtomicUsize::new(0);
        std::thread::current().unpark();
        let wait = Duration::from_millis(200);
        let started = Instant::now();
        super::wait_for_idle_serving(&parked, started + wait);
        assert!(started.elapsed() >= wait, "{:?}", started.elapsed());
    }

    /// A parked serving thread ends the wait: at once when one is parked already, and
    /// as soon as one parks during it.
    #[test]
    fn a_parked_serving_thread_ends_the_gather_wait() {
        let parked = Arc::new(AtomicUsize::new(1));
        let long = Duration::from_secs(30);
        let started = Instant::now();
        super::wait_for_idle_serving(&parked, started + long);
        assert!(started.elapsed() < long / 2, "{:?}", started.elapsed());

        parked.store(0, Ordering::SeqCst);
        let writer = std::thread::current();
        let serving = {
            let parked = parked.clone();
            std::thread::spawn(move || {
                std::thread::sleep(Duration::from_millis(50));
                parked.fetch_add(1, Ordering::SeqCst);
                writer.unpark();
            })
        };
        let started = Instant::now();
        super::wait_for_idle_serving(&parked, started + long);
        let took = started.elapsed();
        assert!(
            took >= Duration::from_millis(50) && took < long / 2,
            "{took:?}"
        );
        serving.join().unwrap();
    }

    /// One group spanning several `INSERT` statements (see `ROWS_PER_INSERT`): rows
    /// keep their order across statements, an order line sent again in the next
    /// statement or in the same one is stored once, and a contact is merged where it
    /// stands among the rows.
    #[tokio::test]
    async fn a_group_of_many_rows_keeps_order_lines_and_contacts_in_place() {
        let (_dir, store, partner) = store_with_partner(5);
        let writer = store.start_writer(None, Duration::ZERO).unwrap();
        let view = |i: i64| {
            event(
                EventKind::View,
                json!({"sessionExternalId": "m", "productId": i}),
            )
        };
        let line = |price: f64| order_line("m", price);
        let contact = |data: serde_json::Value| set_contact("m", "c", None, data);
        let mut events: Vec<_> = (0..63).map(view).collect();
        events.push(line(1.0)); // the last row of the first 64-row statement
        events.push(line(2.0)); // the first row of the next one
        events.extend((65..90).map(view));
        events.push(contact(json!({"a": 1})));
        events.extend((91..120).map(view));
        events.push(line(3.0));
        events.push(line(4.0)); // two rows of the same statement
        events.push(contact(json!({"b": 2})));
        events.extend((124..150).map(view));
        let sent = events.len();
        writer.write(partner.rowid, Arc::new(events)).await.unwrap();
        writer.stop().await;

        let mut stored = Vec::new();
        store
            .export_events(partner.rowid, Some("m"), |e| {
                let body: serde_json::Value = serde_json::from_str(&e.body).unwrap();
                stored.push((e.kind, body));
                true
            })
            .unwrap();
        let views: Vec<i64> = stored
            .iter()
            .filter(|(k, _)| *k == EventKind::View)
            .map(|(_, b)| b["productId"].as_i64().unwrap())
            .collect();
        let expected: Vec<i64> = (0..63)
            .chain(65..90)
            .chain(91..120)
            .chain(124..150)
            .collect();
        assert_eq!(views, expected, "views in the order sent");
        let lines: Vec<_> = stored
            .iter()
            .filter(|(k, _)| *k == EventKind::Order)
            .collect();
        assert_eq!(
            lines.len(),
            1,
            "one order line per (transaction, productId)"
        );
        assert_eq!(lines[0].1["price"], json!(4.0));
        assert_eq!(
            stored.len(),
            sent - 3,
            "the three repeated order lines replaced"
        );
        let c = store.contact(partner.rowid, "c").unwrap().unwrap();
        assert_eq!(c.custom_data, json!({"a": 1, "b": 2}));
        assert_eq!(
            store.partner(&partner.id).unwrap().unwrap().events_received,
            sent as i64
        );
    }

    #[tokio::test]
    async fn groups_commit_in_order_with_order_lines_once_and_contacts_merged() {
        let (_dir, store, partner) = store_with_partner(7);
        let writer = store
            .start_writer(None, Duration::from_micros(200))
            .unwrap();
        let line = |price: f64| order_line("a", price);
        let contact = |data: serde_json::Value| set_contact("a", "c1", Some("c@x.io"), data);
        // Many concurrent jobs: one group commit, answered in the order queued.
        let jobs: Vec<_> = (0..50)
            .map(|i| {
                let w = writer.clone();
                let e = event(
                    EventKind::View,
                    json!({"sessionExternalId": "a", "productId": i}),
                );
                tokio::spawn(async move { w.write(partner.rowid, Arc::new(vec![e])).await })
            })
            .collect();
        for j in jobs {
            j.await.unwrap().unwrap();
        }
        writer
            .write(
                partner.rowid,
                Arc::new(vec![line(1.0), line(2.0), contact(json!({"a": 1, "b": 1}))]),
            )
            .await
            .unwrap();
        writer
            .write(partner.rowid, Arc::new(vec![contact(json!({"b": 2}))]))
            .await
            .unwrap();
        writer.stop().await;
        assert!(
            writer
                .write(partner.rowid, Arc::new(vec![line(3.0)]))
                .await
                .is_err(),
            "a stopped writer refuses"
        );

        let mut kinds = Vec::new();
        store
            .export_events(partner.rowid, Some("a"), |e| {
                kinds.push((e.kind, e.body));
                true
            })
            .unwrap();
        assert_eq!(
            kinds.iter().filter(|(k, _)| *k == EventKind::View).count(),
            50
        );
        let orders: Vec<_> = kinds
            .iter()
            .filter(|(k, _)| *k == EventKind::Order)
            .collect();
        assert_eq!(
            orders.len(),
            1,
            "one order line per (transaction, productId)"
        );
        assert!(orders[0].1.contains("\"price\":2"));
        let c = store.contact(partner.rowid, "c1").unwrap().unwrap();
        assert_eq!(c.custom_data, json!({"a": 1, "b": 2}));
        assert_eq!(c.email.as_deref(), Some("c@x.io"));
        assert_eq!(c.sessions, vec!["a".to_string()]);
        assert_eq!(
            store.partner(&partner.id).unwrap().unwrap().events_received,
            54
        );
    }
}
