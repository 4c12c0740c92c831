//! A [`Kv`] on PostgreSQL, for metadata that outlives one machine and is shared by several
//! sidecars.
//!
//! One table of `bytea` keys and values: `bytea` sorts bytewise, as the trait requires. A
//! conditional batch is one statement (conditions checked, deletes and upserts applied, all
//! in one `WITH`), so it costs one round trip. Writes run at `SERIALIZABLE` and are retried
//! on a serialization failure: two batches whose conditions and writes interleave (write
//! skew on absent keys included) can never both apply. Reads run at `READ COMMITTED`, on a
//! separate pool, so they take no predicate locks that would make writers retry.
//!
//! The schema is versioned (`sluice_schema`) and migrated at connect, under an advisory
//! lock so that several sidecars starting at once migrate it once.

use std::collections::BTreeMap;
use std::str::FromStr;
use std::time::Duration;

use async_trait::async_trait;
use deadpool_postgres::{Manager, ManagerConfig, Pool, PoolError, RecyclingMethod, Runtime};
use tokio_postgres::error::SqlState;
use tokio_postgres::{Config, NoTls};

use super::{KeyValue, Kv, WriteBatch, precondition_failed};
use crate::error::{Error, Result};

/// The schema this build writes. Each entry of [`MIGRATIONS`] moves it up by one.
pub const SCHEMA_VERSION: i32 = MIGRATIONS.len() as i32;

/// Migration `i` takes the schema from version `i` to `i + 1`.
const MIGRATIONS: &[&str] =
    &["CREATE TABLE sluice_kv (key bytea PRIMARY KEY, value bytea NOT NULL)"];

/// Any constant both sidecars agree on: the advisory lock that serialises migrations.
const MIGRATION_LOCK: i64 = 0x5c1c_e000_0001;

const GET: &str = "SELECT value FROM sluice_kv WHERE key = $1";
const SCAN: &str =
    "SELECT key, value FROM sluice_kv WHERE key >= $1 AND key < $2 ORDER BY key LIMIT $3";
/// $1/$2: condition keys and expected values (NULL: absent); $3: keys to delete; $4/$5:
/// keys and values to set. Deletes and sets are disjoint (see [`final_writes`]). Every part
/// of a `WITH` sees one snapshot, and the writes apply only when every condition held.
///
/// The condition rows that exist are locked until the statement commits (`FOR UPDATE` when
/// the batch rewrites them, else `FOR SHARE`, so that writers checking one branch head run
/// side by side and no share lock is ever upgraded): a batch that moves a branch head then
/// waits for every write that checked the old head, so
/// commit order in time matches the serial order. `SERIALIZABLE` alone would allow a write
/// checked against the old head to commit after the head moved and after the commit had
/// read the staging area, and that write would then be lost (the crash test on PostgreSQL
/// found it).
const WRITE: &str = "\
WITH expected AS (
    SELECT e.key, e.value FROM unnest($1::bytea[], $2::bytea[]) AS e(key, value)
), read_only AS (
    SELECT key, value FROM sluice_kv
    WHERE key = ANY($1::bytea[]) AND NOT key = ANY($3::bytea[]) AND NOT key = ANY($4::bytea[])
    FOR SHARE
), rewritten AS (
    SELECT key, value FROM sluice_kv
    WHERE key = ANY($1::bytea[]) AND (key = ANY($3::bytea[]) OR key = ANY($4::bytea[]))
    FOR UPDATE
), locked AS (
    SELECT key, value FROM read_only UNION ALL SELECT key, value FROM rewritten
), verdict AS (
    SELECT NOT EXISTS (
        SELECT 1 FROM expected e LEFT JOIN locked k ON k.key = e.key
        WHERE k.value IS DISTINCT FROM e.value
    ) AS ok
), removed AS (
    DELETE FROM sluice_kv WHERE key = ANY($3::bytea[]) AND (SELECT ok FROM verdict)
), stored AS (
    INSERT INTO sluice_kv (key, value)
    SELECT w.key, w.value FROM unnest($4::bytea[], $5::bytea[]) AS w(key, value)
    WHERE (SELECT ok FROM verdict)
    ON CONFLICT (key) DO UPDATE SET value = excluded.value
)
SELECT ok FROM verdict";

/// The first $3 keys with `$1 <= key < $2`, deleted on the server: no pair travels.
const DELETE_RANGE: &str = "DELETE FROM sluice_kv WHERE key IN \
    (SELECT key FROM sluice_kv WHERE key >= $1 AND key < $2 ORDER BY key LIMIT $3)";

/// How often a write that lost a serialization race is tried again before giving up.
const WRITE_ATTEMPTS: u32 = 64;

/// The PostgreSQL store: a pool of reading connections and one of writing connections.
pub struct PostgresKv {
    readers: Pool,
    writers: Pool,
    /// Writes tried again after a serialization failure, for benchmarks and logs.
    retries: std::sync::atomic::AtomicU64,
    /// Where it points, without the password, for messages.
    target: String,
}

impl std::fmt::Debug for PostgresKv {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "PostgresKv({})", self.target)
    }
}

/// Connections per pool.
const POOL_SIZE: usize = 16;
/// How long a request waits for a connection, or to open one, before it is told the
/// database is unavailable.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

impl PostgresKv {
    /// Connect to `url` (`postgres://USER[:PASSWORD]@HOST:PORT/DB`), check that the
    /// database answers, and create or migrate the schema.
    pub async fn connect(url: &str) -> Result<Self> {
        let config = Config::from_str(url).map_err(|e| {
            Error::invalid(format!(
                "invalid PostgreSQL address (expected postgres://USER[:PASSWORD]@HOST:PORT/DB): {e}"
            ))
        })?;
        let target = describe(&config);
        let mut reader_config = config.clone();
        reader_config
            .application_name("sluice")
            .connect_timeout(CONNECT_TIMEOUT);
        let mut writer_config = reader_config.clone();
        let options = match config.get_options() {
            Some(o) => format!("{o} -c default_transaction_isolation=serializable"),
            None => "-c default_transaction_isolation=serializable".to_string(),
        };
        writer_config.options(&options);
        let kv = Self {
            readers: pool(reader_config)?,
            writers: pool(writer_config)?,
            retries: Default::default(),
            target,
        };
        kv.migrate().await?;
        Ok(kv)
    }

    /// Bring the schema to [`SCHEMA_VERSION`]; refuse a schema newer than this build.
    async fn migrate(&self) -> Result<()> {
        let mut client = self.readers.get().await.map_err(|e| self.pool_error(e))?;
        let tx = client.transaction().await.map_err(|e| self.sql_error(e))?;
        let steps: Result<()> = async {
            tx.execute("SELECT pg_advisory_xact_lock($1)", &[&MIGRATION_LOCK])
                .await?;
            tx.execute(
                "CREATE TABLE IF NOT EXISTS sluice_schema (version integer NOT NULL)",
                &[],
            )
            .await?;
            let current: i32 = tx
                .query_opt("SELECT max(version) FROM sluice_schema", &[])
                .await?
                .and_then(|row| row.get::<_, Option<i32>>(0))
                .unwrap_or(0);
            if current > SCHEMA_VERSION {
                return Err(Error::invalid(format!(
                    "the metadata schema in {} is version {current}, newer than this build's {SCHEMA_VERSION}: upgrade Sluice",
                    self.target
                )));
            }
            for (version, sql) in MIGRATIONS.iter().enumerate().skip(current as usize) {
                tx.batch_execute(sql).await?;
                tracing::info!(database = %self.target, version = version + 1, "metadata schema migrated");
            }
            tx.execute("DELETE FROM sluice_schema", &[]).await?;
            tx.execute(
                "INSERT INTO sluice_schema (version) VALUES ($1)",
                &[&SCHEMA_VERSION],
            )
            .await?;
            Ok(())
        }
        .await;
        steps?;
        tx.commit().await.map_err(|e| self.sql_error(e))
    }

    /// Writes tried again so far because another transaction won a serialization race.
    pub fn retries(&self) -> u64 {
        self.retries.load(std::sync::atomic::Ordering::Relaxed)
    }

    fn pool_error(&self, e: PoolError) -> Error {
        match e {
            PoolError::Backend(e) => self.sql_error(e),
            other => Error::unavailable(format!("PostgreSQL at {}: {other}", self.target)),
        }
    }

    /// A server's refusal is a bug or a misconfiguration; anything else (no connection, a
    /// connection lost) means the database cannot be reached now.
    fn sql_error(&self, e: tokio_postgres::Error) -> Error {
        let message = format!("PostgreSQL at {}", self.target);
        match e.code() {
            Some(_) => Error::internal(message).with_source(e),
            None => Error::unavailable(message).with_source(e),
        }
    }
}

fn pool(config: Config) -> Result<Pool> {
    let manager = Manager::from_config(
        config,
        NoTls,
        ManagerConfig {
            recycling_method: RecyclingMethod::Fast,
        },
    );
    Pool::builder(manager)
        .max_size(POOL_SIZE)
        .runtime(Runtime::Tokio1)
        .wait_timeout(Some(CONNECT_TIMEOUT))
        .create_timeout(Some(CONNECT_TIMEOUT))
        .build()
        .map_err(|e| Error::internal(format!("PostgreSQL pool: {e}")))
}

/// `user@host:port/db`, never the password.
fn describe(config: &Config) -> String {
    let host = match config.get_hosts().first() {
        Some(tokio_postgres::config::Host::Tcp(h)) => h.clone(),
        Some(tokio_postgres::config::Host::Unix(p)) => p.display().to_string(),
        None => "localhost".to_string(),
    };
    let port = config.get_ports().first().copied().unwrap_or(5432);
    format!(
        "{}@{host}:{port}/{}",
        config.get_user().unwrap_or(""),
        config.get_dbname().unwrap_or("")
    )
}

/// A batch's writes as one statement takes them: keys to delete, and keys to set with their
/// values, disjoint.
#[derive(Debug, Default, PartialEq)]
struct FinalWrites {
    deletes: Vec<Vec<u8>>,
    keys: Vec<Vec<u8>>,
    values: Vec<Vec<u8>>,
}

/// The batch's writes with later writes of a key replacing earlier ones, split into keys
/// to delete and keys to set (disjoint, so one statement can apply both).
fn final_writes(writes: Vec<(Vec<u8>, Option<Vec<u8>>)>) -> FinalWrites {
    let last: BTreeMap<Vec<u8>, Option<Vec<u8>>> = writes.into_iter().collect();
    let mut out = FinalWrites::default();
    for (k, v) in last {
        match v {
            Some(v) => {
                out.keys.push(k);
                out.values.push(v);
            }
            None => out.deletes.push(k),
        }
    }
    out
}

fn retryable(e: &tokio_postgres::Error) -> bool {
    matches!(
        e.code(),
        Some(c) if *c == SqlState::T_R_SERIALIZATION_FAILURE || *c == SqlState::T_R_DEADLOCK_DETECTED
    )
}

#[async_trait]
impl Kv for PostgresKv {
    async fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>> {
        let client = self.readers.get().await.map_err(|e| self.pool_error(e))?;
        let statement = client
            .prepare_cached(GET)
            .await
            .map_err(|e| self.sql_error(e))?;
        let row = client
            .query_opt(&statement, &[&key])
            .await
            .map_err(|e| self.sql_error(e))?;
        Ok(row.map(|r| r.get::<_, Vec<u8>>(0)))
    }

    async fn scan(&self, start: &[u8], end: &[u8], limit: usize) -> Result<Vec<KeyValue>> {
        if start >= end || limit == 0 {
            return Ok(Vec::new());
        }
        let client = self.readers.get().await.map_err(|e| self.pool_error(e))?;
        let statement = client
            .prepare_cached(SCAN)
            .await
            .map_err(|e| self.sql_error(e))?;
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        let rows = client
            .query(&statement, &[&start, &end, &limit])
            .await
            .map_err(|e| self.sql_error(e))?;
        Ok(rows
            .into_iter()
            .map(|r| (r.get::<_, Vec<u8>>(0), r.get::<_, Vec<u8>>(1)))
            .collect())
    }

    async fn delete_range_step(&self, start: &[u8], end: &[u8], limit: usize) -> Result<usize> {
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        let mut attempt = 0;
        loop {
            attempt += 1;
            let client = self.writers.get().await.map_err(|e| self.pool_error(e))?;
            let statement = client
                .prepare_cached(DELETE_RANGE)
                .await
                .map_err(|e| self.sql_error(e))?;
            match client.execute(&statement, &[&start, &end, &limit]).await {
                Ok(n) => return Ok(n as usize),
                Err(e) if retryable(&e) && attempt < WRITE_ATTEMPTS => {
                    let pause = fastrand::u64(0..(1u64 << attempt.min(6)));
                    tokio::time::sleep(Duration::from_millis(pause)).await;
                }
                Err(e) => return Err(self.sql_error(e)),
            }
        }
    }

    async fn write(&self, batch: WriteBatch) -> Result<()> {
        if batch.is_empty() {
            return Ok(());
        }
        let (condition_keys, expected): (Vec<Vec<u8>>, Vec<Option<Vec<u8>>>) =
            batch.conditions.into_iter().unzip();
        let FinalWrites {
            deletes,
            keys,
            values,
        } = final_writes(batch.writes);
        let mut attempt = 0;
        loop {
            attempt += 1;
            let client = self.writers.get().await.map_err(|e| self.pool_error(e))?;
            let statement = client
                .prepare_cached(WRITE)
                .await
                .map_err(|e| self.sql_error(e))?;
            let outcome = client
                .query_one(
                    &statement,
                    &[&condition_keys, &expected, &deletes, &keys, &values],
                )
                .await;
            match outcome {
                Ok(row) => {
                    return if row.get::<_, bool>(0) {
                        Ok(())
                    } else {
                        Err(precondition_failed())
                    };
                }
                Err(e) if retryable(&e) && attempt < WRITE_ATTEMPTS => {
                    self.retries
                        .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    // Another batch won the race; back off a little, with jitter, and try
                    // again: the conditions are checked afresh.
                    let pause = fastrand::u64(0..(1u64 << attempt.min(6)));
                    tokio::time::sleep(Duration::from_millis(pause)).await;
                }
                Err(e) => return Err(self.sql_error(e)),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn later_writes_win_and_deletes_and_sets_are_disjoint() {
        let FinalWrites {
            deletes,
            keys,
            values,
        } = final_writes(vec![
            (b"a".to_vec(), Some(b"1".to_vec())),
            (b"b".to_vec(), None),
            (b"a".to_vec(), None),
            (b"b".to_vec(), Some(b"2".to_vec())),
            (b"c".to_vec(), None),
        ]);
        assert_eq!(deletes, vec![b"a".to_vec(), b"c".to_vec()]);
        assert_eq!(keys, vec![b"b".to_vec()]);
        assert_eq!(values, vec![b"2".to_vec()]);
    }

    #[test]
    fn descriptions_never_show_the_password() {
        let config = Config::from_str("postgres://me:secret@db.example:6543/lake").unwrap();
        assert_eq!(describe(&config), "me@db.example:6543/lake");
    }
}
