//! The embedded default [`Kv`]: one redb file, crash-safe and ACID, no server to start.
//!
//! Writes from concurrent callers are grouped: one writer task drains every batch that is
//! waiting, applies them in one redb transaction with one fsync, and answers each caller
//! with its own outcome. A batch whose conditions fail is skipped without touching the others.
//!
//! An I/O error (a full disk) fails the group it hit, and redb then refuses every later
//! transaction until the file is opened again; so the writer opens it again, once the
//! readers in flight are done, and the next write finds the store working when space has
//! returned. A transaction that failed never committed: nothing of it is visible.

use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};

use async_trait::async_trait;
use redb::{Database, ReadableDatabase, ReadableTable, TableDefinition};
use tokio::sync::{mpsc, oneshot};

use super::{KeyValue, Kv, WriteBatch, precondition_failed};
use crate::error::{Error, Result};

const TABLE: TableDefinition<&[u8], &[u8]> = TableDefinition::new("sluice");
/// redb's own page cache.
const CACHE_BYTES: usize = 32 * 1024 * 1024;
/// How many waiting batches one transaction takes at most.
const MAX_GROUP: usize = 256;

type Reply = oneshot::Sender<Result<()>>;

/// The open database, replaced when it has to be opened again; `None` while that happens.
type Slot = Arc<RwLock<Option<Arc<Database>>>>;

/// A [`Kv`] in a redb database file.
pub struct EmbeddedKv {
    db: Slot,
    writer: Option<mpsc::UnboundedSender<Job>>,
    writer_thread: Option<std::thread::JoinHandle<()>>,
}

impl Drop for EmbeddedKv {
    /// Close the database before returning, so that the file can be reopened at once.
    fn drop(&mut self) {
        self.writer.take();
        if let Some(t) = self.writer_thread.take() {
            let _ = t.join();
        }
    }
}

impl std::fmt::Debug for EmbeddedKv {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EmbeddedKv").finish_non_exhaustive()
    }
}

fn writer_stopped() -> Error {
    Error::unavailable("embedded metadata store writer stopped")
}

fn db_error(e: impl std::error::Error + Send + Sync + 'static) -> Error {
    Error::unavailable("embedded metadata store").with_source(e)
}

/// Open (or create) the database at `path`, with its table.
fn open_database(path: &Path) -> std::result::Result<Database, redb::Error> {
    // redb's page cache grows to a gigabyte by default; the sidecar's memory budget is
    // far smaller, and the OS page cache holds the file anyway.
    let db = Database::builder()
        .set_cache_size(CACHE_BYTES)
        .create(path)?;
    let tx = db.begin_write()?;
    tx.open_table(TABLE)?;
    tx.commit()?;
    Ok(db)
}

impl EmbeddedKv {
    /// Open (or create) the store at `path`. Must be called inside a tokio runtime.
    pub fn open(path: impl AsRef<Path>) -> Result<Self> {
        if let Some(parent) = path.as_ref().parent() {
            std::fs::create_dir_all(parent)?;
        }
        let db = open_database(path.as_ref()).map_err(db_error)?;
        let db: Slot = Arc::new(RwLock::new(Some(Arc::new(db))));
        let (tx, rx) = mpsc::unbounded_channel();
        let (writer_db, path) = (db.clone(), path.as_ref().to_path_buf());
        let writer_thread = std::thread::Builder::new()
            .name("sluice-kv-writer".into())
            .spawn(move || writer_loop(writer_db, path, rx))
            .map_err(Error::from)?;
        Ok(Self {
            db,
            writer: Some(tx),
            writer_thread: Some(writer_thread),
        })
    }

    /// Hand `job` to the writer thread.
    fn send(&self, job: Job) -> Result<()> {
        self.writer
            .as_ref()
            .expect("writer open until drop")
            .send(job)
            .map_err(|_| writer_stopped())
    }

    /// The open database, for a read.
    fn database(&self) -> Result<Arc<Database>> {
        current(&self.db)
    }
}

fn current(slot: &Slot) -> Result<Arc<Database>> {
    slot.read()
        .expect("no panic while the slot is held")
        .clone()
        .ok_or_else(|| {
            Error::unavailable("embedded metadata store is being reopened after an I/O error")
        })
}

/// Open the database again after an I/O error: take it out of the slot, wait for the
/// readers still holding it, close it, open it, put it back. When opening fails (the disk
/// is still full), the slot stays empty and the next write tries again.
fn reopen(slot: &Slot, path: &Path) {
    let taken = slot
        .write()
        .expect("no panic while the slot is held")
        .take();
    if let Some(mut db) = taken {
        // Readers clone the Arc for one call; they finish in moments.
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
        loop {
            match Arc::try_unwrap(db) {
                Ok(database) => {
                    drop(database);
                    break;
                }
                Err(shared) if std::time::Instant::now() < deadline => {
                    db = shared;
                    std::thread::sleep(std::time::Duration::from_millis(2));
                }
                Err(shared) => {
                    tracing::error!(
                        "readers still hold the embedded store after 30 s; not reopened"
                    );
                    *slot.write().expect("no panic while the slot is held") = Some(shared);
                    return;
                }
            }
        }
    }
    match open_database(path) {
        Ok(db) => {
            tracing::warn!("embedded metadata store reopened after an I/O error");
            *slot.write().expect("no panic while the slot is held") = Some(Arc::new(db));
        }
        Err(e) => tracing::warn!(error = %e, "embedded metadata store cannot be reopened yet"),
    }
}

/// What the writer thread is asked to do.
enum Job {
    /// A batch, grouped with the batches waiting beside it.
    Batch(WriteBatch, Reply),
    /// One step of a range deletion, in a transaction of its own.
    DeleteStep {
        start: Vec<u8>,
        end: Vec<u8>,
        limit: usize,
        reply: oneshot::Sender<Result<usize>>,
    },
}

/// Runs on its own thread: redb allows one write transaction at a time, and fsync blocks.
/// Every write transaction runs here, range deletions too: redb's page buffers then come
/// from this thread's allocator arena (from the blocking pool's threads, each thread's
/// arena grew the process by 120 MiB while bulk deletions were folded).
fn writer_loop(slot: Slot, path: PathBuf, mut rx: mpsc::UnboundedReceiver<Job>) {
    let mut held = None;
    loop {
        let Some(first) = held.take().or_else(|| rx.blocking_recv()) else {
            return;
        };
        match first {
            Job::DeleteStep {
                start,
                end,
                limit,
                reply,
            } => {
                let outcome = on_database(&slot, &path, |db| delete_step(db, &start, &end, limit));
                let _ = reply.send(outcome.map_err(Error::unavailable));
            }
            Job::Batch(batch, reply) => {
                let mut group = vec![(batch, reply)];
                while group.len() < MAX_GROUP {
                    match rx.try_recv() {
                        Ok(Job::Batch(batch, reply)) => group.push((batch, reply)),
                        Ok(other) => {
                            held = Some(other);
                            break;
                        }
                        Err(_) => break,
                    }
                }
                match on_database(&slot, &path, |db| apply_group(db, &group)) {
                    Ok(outcomes) => {
                        for ((_, reply), outcome) in group.into_iter().zip(outcomes) {
                            let _ = reply.send(outcome);
                        }
                    }
                    Err(msg) => {
                        for (_, reply) in group {
                            let _ = reply.send(Err(Error::unavailable(msg.clone())));
                        }
                    }
                }
            }
        }
    }
}

/// Run one write transaction's `work` on the open database: opened again first when an
/// earlier I/O error left it closed, and again after an I/O error in `work`. The error is
/// the message every caller of the transaction gets.
fn on_database<T>(
    slot: &Slot,
    path: &Path,
    work: impl FnOnce(&Database) -> std::result::Result<T, redb::Error>,
) -> std::result::Result<T, String> {
    let db = match current(slot) {
        Ok(db) => db,
        Err(_) => {
            // A reopen that failed earlier: try again now.
            reopen(slot, path);
            current(slot).map_err(|e| e.to_string())?
        }
    };
    let outcome = work(&db);
    drop(db);
    outcome.map_err(|e| {
        if matches!(e, redb::Error::Io(_) | redb::Error::PreviousIo) {
            reopen(slot, path);
        }
        format!("embedded metadata store: {e}")
    })
}

/// Applies each batch whose conditions hold, in order, in one transaction.
fn apply_group(
    db: &Database,
    group: &[(WriteBatch, Reply)],
) -> std::result::Result<Vec<Result<()>>, redb::Error> {
    let tx = db.begin_write()?;
    let mut outcomes = Vec::with_capacity(group.len());
    {
        let mut table = tx.open_table(TABLE)?;
        // Later batches of the group see earlier ones' writes (same transaction), so each
        // batch's conditions are checked against the state its predecessors left.
        for (batch, _) in group {
            let mut ok = true;
            for (key, expected) in &batch.conditions {
                let current = table.get(key.as_slice())?;
                let holds = match (&current, expected) {
                    (None, None) => true,
                    (Some(c), Some(e)) => c.value() == e.as_slice(),
                    _ => false,
                };
                if !holds {
                    ok = false;
                    break;
                }
            }
            if !ok {
                outcomes.push(Err(precondition_failed()));
                continue;
            }
            for (key, value) in &batch.writes {
                match value {
                    Some(v) => {
                        table.insert(key.as_slice(), v.as_slice())?;
                    }
                    None => {
                        table.remove(key.as_slice())?;
                    }
                }
            }
            outcomes.push(Ok(()));
        }
    }
    tx.commit()?;
    Ok(outcomes)
}

/// Delete the first `limit` keys of `start..end` in one transaction. Returns how many keys
/// it deleted.
fn delete_step(
    db: &Database,
    start: &[u8],
    end: &[u8],
    limit: usize,
) -> std::result::Result<usize, redb::Error> {
    let tx = db.begin_write()?;
    let deleted = {
        let mut table = tx.open_table(TABLE)?;
        // Where this step stops: the first key past `limit` keys, or the range's end.
        let mut count = 0;
        let mut stop = None;
        for item in table.range::<&[u8]>(start..end)? {
            let (key, _) = item?;
            if count == limit {
                stop = Some(key.value().to_vec());
                break;
            }
            count += 1;
        }
        if count > 0 {
            let upper = stop.as_deref().unwrap_or(end);
            table.retain_in::<&[u8], _>(start..upper, |_, _| false)?;
        }
        count
    };
    if deleted == 0 {
        // Nothing to make durable: no commit, no fsync.
        tx.abort()?;
    } else {
        tx.commit()?;
    }
    Ok(deleted)
}

#[async_trait]
impl Kv for EmbeddedKv {
    async fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>> {
        let tx = self.database()?.begin_read().map_err(db_error)?;
        let table = tx.open_table(TABLE).map_err(db_error)?;
        Ok(table
            .get(key)
            .map_err(db_error)?
            .map(|v| v.value().to_vec()))
    }

    async fn scan(&self, start: &[u8], end: &[u8], limit: usize) -> Result<Vec<KeyValue>> {
        if start >= end {
            return Ok(Vec::new());
        }
        let tx = self.database()?.begin_read().map_err(db_error)?;
        let table = tx.open_table(TABLE).map_err(db_error)?;
        let mut out = Vec::new();
        for item in table.range(start..end).map_err(db_error)? {
            if out.len() >= limit {
                break;
            }
            let (k, v) = item.map_err(db_error)?;
            out.push((k.value().to_vec(), v.value().to_vec()));
        }
        Ok(out)
    }

    /// Drops the step's keys in place (redb's `retain_in` removes them leaf by leaf),
    /// instead of reading every pair and deleting keys one at a time: a commit of a million
    /// staged objects spent nearly half its time deleting them that way.
    async fn delete_range_step(&self, start: &[u8], end: &[u8], limit: usize) -> Result<usize> {
        let (reply, answer) = oneshot::channel();
        self.send(Job::DeleteStep {
            start: start.to_vec(),
            end: end.to_vec(),
            limit,
            reply,
        })?;
        answer.await.map_err(|_| writer_stopped())?
    }

    async fn write(&self, batch: WriteBatch) -> Result<()> {
        let (reply, answer) = oneshot::channel();
        self.send(Job::Batch(batch, reply))?;
        answer.await.map_err(|_| writer_stopped())?
    }
}
