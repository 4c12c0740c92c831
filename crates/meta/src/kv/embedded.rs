//! The embedded default [`Kv`]: one redb file, crash-safe and ACID, no server to start.
//!
//! Writes from concurrent callers are grouped: one writer task drains every batch that is
//! waiting, applies them in one redb transaction with one fsync, and answers each caller
//! with its own outcome. A batch whose conditions fail is skipped without touching the others.

use std::path::Path;
use std::sync::Arc;

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

/// A [`Kv`] in a redb database file.
pub struct EmbeddedKv {
    db: Arc<Database>,
    writer: Option<mpsc::UnboundedSender<(WriteBatch, Reply)>>,
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

fn db_error(e: impl std::error::Error + Send + Sync + 'static) -> Error {
    Error::unavailable("embedded metadata store").with_source(e)
}

impl EmbeddedKv {
    /// Open (or create) the store at `path`. Must be called inside a tokio runtime.
    pub fn open(path: impl AsRef<Path>) -> Result<Self> {
        if let Some(parent) = path.as_ref().parent() {
            std::fs::create_dir_all(parent)?;
        }
        // redb's page cache grows to a gigabyte by default; the sidecar's memory budget is
        // far smaller, and the OS page cache holds the file anyway.
        let db = Database::builder()
            .set_cache_size(CACHE_BYTES)
            .create(path.as_ref())
            .map_err(db_error)?;
        {
            let tx = db.begin_write().map_err(db_error)?;
            tx.open_table(TABLE).map_err(db_error)?;
            tx.commit().map_err(db_error)?;
        }
        let db = Arc::new(db);
        let (tx, rx) = mpsc::unbounded_channel();
        let writer_db = db.clone();
        let writer_thread = std::thread::Builder::new()
            .name("sluice-kv-writer".into())
            .spawn(move || writer_loop(writer_db, rx))
            .map_err(Error::from)?;
        Ok(Self {
            db,
            writer: Some(tx),
            writer_thread: Some(writer_thread),
        })
    }
}

/// Runs on its own thread: redb allows one write transaction at a time, and fsync blocks.
fn writer_loop(db: Arc<Database>, mut rx: mpsc::UnboundedReceiver<(WriteBatch, Reply)>) {
    while let Some(first) = rx.blocking_recv() {
        let mut group = vec![first];
        while group.len() < MAX_GROUP {
            match rx.try_recv() {
                Ok(next) => group.push(next),
                Err(_) => break,
            }
        }
        let outcomes = apply_group(&db, &group);
        match outcomes {
            Ok(outcomes) => {
                for ((_, reply), outcome) in group.into_iter().zip(outcomes) {
                    let _ = reply.send(outcome);
                }
            }
            Err(e) => {
                let msg = e.to_string();
                for (_, reply) in group {
                    let _ = reply.send(Err(Error::unavailable(format!(
                        "embedded metadata store: {msg}"
                    ))));
                }
            }
        }
    }
}

/// Applies each batch whose conditions hold, in order, in one transaction.
fn apply_group(db: &Database, group: &[(WriteBatch, Reply)]) -> Result<Vec<Result<()>>> {
    let tx = db.begin_write().map_err(db_error)?;
    let mut outcomes = Vec::with_capacity(group.len());
    {
        let mut table = tx.open_table(TABLE).map_err(db_error)?;
        // Later batches of the group see earlier ones' writes (same transaction), so each
        // batch's conditions are checked against the state its predecessors left.
        for (batch, _) in group {
            let mut ok = true;
            for (key, expected) in &batch.conditions {
                let current = table.get(key.as_slice()).map_err(db_error)?;
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
                        table
                            .insert(key.as_slice(), v.as_slice())
                            .map_err(db_error)?;
                    }
                    None => {
                        table.remove(key.as_slice()).map_err(db_error)?;
                    }
                }
            }
            outcomes.push(Ok(()));
        }
    }
    tx.commit().map_err(db_error)?;
    Ok(outcomes)
}

#[async_trait]
impl Kv for EmbeddedKv {
    async fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>> {
        let tx = self.db.begin_read().map_err(db_error)?;
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
        let tx = self.db.begin_read().map_err(db_error)?;
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

    async fn write(&self, batch: WriteBatch) -> Result<()> {
        let (tx, rx) = oneshot::channel();
        self.writer
            .as_ref()
            .expect("writer open until drop")
            .send((batch, tx))
            .map_err(|_| Error::unavailable("embedded metadata store writer stopped"))?;
        rx.await
            .map_err(|_| Error::unavailable("embedded metadata store writer stopped"))?
    }
}
