//! Test support shared by this crate's tests, other crates' tests and the benchmarks: the
//! metadata store a test runs on, and a throwaway PostgreSQL server.
//!
//! `SLUICE_TEST_METADATA` chooses the store of the engine suites: `memory` (the default),
//! `embedded` or `postgres`. For `postgres`, `SLUICE_TEST_POSTGRES` may name a running
//! server (`postgres://USER@HOST:PORT`); without it the first test that needs one starts a
//! private server from the machine's PostgreSQL binaries (Debian: package `postgresql`) in
//! a temporary folder, which stops by itself when the test process ends.
//!
//! [`FailingStore`] stands in front of any object store and fails, stalls, or fails after a
//! number of bytes, on command.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, OnceLock};

use futures::StreamExt;
use futures::stream::BoxStream;
use object_store::path::Path as ObjectPath;
use object_store::{
    CopyOptions, GetOptions, GetResult, ListResult, MultipartUpload, ObjectMeta, ObjectStore,
    PutMultipartOptions, PutOptions, PutPayload, PutResult,
};
use std::time::{Duration, Instant};

use crate::kv::Kv;
use crate::kv::embedded::EmbeddedKv;
use crate::kv::memory::MemoryKv;
use crate::kv::postgres::PostgresKv;

/// The metadata store the engine suites run on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TestStore {
    /// [`MemoryKv`].
    Memory,
    /// [`EmbeddedKv`] in the test's folder.
    Embedded,
    /// [`PostgresKv`] on a database of its own.
    Postgres,
}

impl TestStore {
    /// From `SLUICE_TEST_METADATA`; an unknown value panics rather than test the wrong store.
    pub fn from_env() -> Self {
        match std::env::var("SLUICE_TEST_METADATA").as_deref() {
            Err(_) | Ok("") | Ok("memory") => TestStore::Memory,
            Ok("embedded") => TestStore::Embedded,
            Ok("postgres") => TestStore::Postgres,
            Ok(other) => {
                panic!("SLUICE_TEST_METADATA={other:?}: expected memory, embedded or postgres")
            }
        }
    }

    /// A fresh, empty store; `dir` is the test's own folder.
    pub async fn open(self, dir: &Path) -> Arc<dyn Kv> {
        match self {
            TestStore::Memory => Arc::new(MemoryKv::new()),
            TestStore::Embedded => {
                Arc::new(EmbeddedKv::open(dir.join("meta.redb")).expect("open redb"))
            }
            TestStore::Postgres => {
                let url = postgres_server().fresh_database().await;
                Arc::new(
                    PostgresKv::connect(&url)
                        .await
                        .expect("connect to the test database"),
                )
            }
        }
    }
}

/// A PostgreSQL server for tests.
#[derive(Debug)]
pub struct TestPostgres {
    /// `postgres://USER@HOST:PORT` (no database).
    pub base_url: String,
}

/// The server of this test process: the one `SLUICE_TEST_POSTGRES` names, or a private one
/// started on first use.
pub fn postgres_server() -> &'static TestPostgres {
    static SERVER: OnceLock<TestPostgres> = OnceLock::new();
    SERVER.get_or_init(|| match std::env::var("SLUICE_TEST_POSTGRES") {
        Ok(url) if !url.is_empty() => TestPostgres {
            base_url: url.trim_end_matches('/').to_string(),
        },
        _ => {
            start_private_server().unwrap_or_else(|e| panic!("cannot start a test PostgreSQL: {e}"))
        }
    })
}

impl TestPostgres {
    /// The URL of `database` on this server.
    pub fn url(&self, database: &str) -> String {
        format!("{}/{database}", self.base_url)
    }

    /// A new, empty database; its URL.
    pub async fn fresh_database(&self) -> String {
        let name = format!("t_{}", uuid::Uuid::new_v4().simple());
        self.create_database(&name).await;
        self.url(&name)
    }

    /// Create `database` unless it exists (waiting for a server still starting).
    pub async fn create_database(&self, database: &str) {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            match self.try_create(database).await {
                Ok(()) => return,
                Err(e) if Instant::now() < deadline => {
                    let _ = e;
                    tokio::time::sleep(Duration::from_millis(200)).await;
                }
                Err(e) => panic!(
                    "cannot create test database {database} at {}: {e}",
                    self.base_url
                ),
            }
        }
    }

    async fn try_create(&self, database: &str) -> Result<(), tokio_postgres::Error> {
        let (client, connection) =
            tokio_postgres::connect(&self.url("postgres"), tokio_postgres::NoTls).await?;
        let task = tokio::spawn(connection);
        let exists = client
            .query_opt("SELECT 1 FROM pg_database WHERE datname = $1", &[&database])
            .await?
            .is_some();
        if !exists {
            match client
                .batch_execute(&format!("CREATE DATABASE \"{database}\""))
                .await
            {
                Ok(()) => {}
                // Another process created it in between.
                Err(e)
                    if e.code() == Some(&tokio_postgres::error::SqlState::DUPLICATE_DATABASE) => {}
                Err(e) => return Err(e),
            }
        }
        drop(client);
        let _ = task.await;
        Ok(())
    }
}

/// The folder of the machine's PostgreSQL server binaries: the `PATH`, then Debian's
/// `/usr/lib/postgresql/VERSION/bin` (newest first).
pub fn postgres_bin_dir() -> Option<PathBuf> {
    if let Some(paths) = std::env::var_os("PATH") {
        for dir in std::env::split_paths(&paths) {
            if dir.join("initdb").is_file() && dir.join("postgres").is_file() {
                return Some(dir);
            }
        }
    }
    let mut versions: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .ok()?
        .filter_map(|e| e.ok())
        .filter_map(|e| {
            let v = e.file_name().to_str()?.parse::<u32>().ok()?;
            let bin = e.path().join("bin");
            bin.join("initdb").is_file().then_some((v, bin))
        })
        .collect();
    versions.sort();
    versions.pop().map(|(_, bin)| bin)
}

/// initdb and start a server in a temporary folder, on a free port. PostgreSQL refuses to
/// run as root: as root it runs as the `postgres` user that Debian's package creates. A
/// small shell watchdog stops the server and removes the folder when this process ends.
fn start_private_server() -> Result<TestPostgres, String> {
    let bin = postgres_bin_dir().ok_or(
        "no PostgreSQL server binaries (initdb, postgres) on PATH or under /usr/lib/postgresql: install Debian's postgresql package",
    )?;
    let root =
        std::env::temp_dir().join(format!("sluice-test-pg-{}", uuid::Uuid::new_v4().simple()));
    std::fs::create_dir_all(&root).map_err(|e| e.to_string())?;
    let as_root = is_root();
    if as_root {
        let status = Command::new("chown")
            .args(["-R", "postgres:postgres"])
            .arg(&root)
            .status()
            .map_err(|e| format!("chown: {e}"))?;
        if !status.success() {
            return Err("cannot hand the test folder to the postgres user".into());
        }
    }
    let run_as = |program: PathBuf| -> Command {
        if as_root {
            let mut c = Command::new("setpriv");
            c.args(["--reuid=postgres", "--regid=postgres", "--clear-groups"])
                .arg(program);
            c
        } else {
            Command::new(program)
        }
    };
    let data = root.join("data");
    let out = run_as(bin.join("initdb"))
        .arg("-D")
        .arg(&data)
        .args([
            "-U",
            "sluice",
            "--auth=trust",
            "-E",
            "UTF8",
            "--no-sync",
            "--no-instructions",
        ])
        .stdout(Stdio::null())
        .output()
        .map_err(|e| format!("initdb: {e}"))?;
    if !out.status.success() {
        return Err(format!(
            "initdb failed: {}",
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map_err(|e| e.to_string())?
        .port();
    let mut server = vec![];
    if as_root {
        server.extend(
            [
                "setpriv",
                "--reuid=postgres",
                "--regid=postgres",
                "--clear-groups",
            ]
            .map(String::from),
        );
    }
    server.push(bin.join("postgres").display().to_string());
    server.extend([
        "-D".to_string(),
        data.display().to_string(),
        "-p".to_string(),
        port.to_string(),
        "-k".to_string(),
        root.display().to_string(),
        "-c".to_string(),
        "listen_addresses=127.0.0.1".to_string(),
        "-c".to_string(),
        "max_connections=300".to_string(),
    ]);
    let quoted: Vec<String> = server.iter().map(|a| format!("'{a}'")).collect();
    let script = format!(
        "{} >'{log}' 2>&1 & pg=$!\n\
         while kill -0 {parent} 2>/dev/null && kill -0 $pg 2>/dev/null; do sleep 0.3; done\n\
         kill -INT $pg 2>/dev/null; wait $pg; rm -rf '{root}'",
        quoted.join(" "),
        log = root.join("server.log").display(),
        parent = std::process::id(),
        root = root.display(),
    );
    Command::new("sh")
        .arg("-c")
        .arg(script)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .map_err(|e| format!("cannot start postgres: {e}"))?;
    // Ready when it accepts connections; create_database retries through the start-up.
    let deadline = Instant::now() + Duration::from_secs(30);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        if Instant::now() > deadline {
            let log = std::fs::read_to_string(root.join("server.log")).unwrap_or_default();
            return Err(format!("postgres did not start on port {port}: {log}"));
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    Ok(TestPostgres {
        base_url: format!("postgres://sluice@127.0.0.1:{port}"),
    })
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
        .unwrap_or(false)
}

/// An object store that passes everything to another until told to fail, then refuses
/// every call (as an unreachable S3 would) until told to recover.
#[derive(Debug)]
pub struct FailingStore {
    inner: Arc<dyn ObjectStore>,
    failing: AtomicBool,
    /// While true, reads and writes wait (a store that stopped answering).
    stalled: tokio::sync::watch::Sender<bool>,
    /// Bytes that multipart uploads may still send before their parts fail (`i64::MAX`:
    /// no limit).
    budget: Arc<std::sync::atomic::AtomicI64>,
}

impl FailingStore {
    /// A store in front of `inner`, working.
    pub fn new(inner: Arc<dyn ObjectStore>) -> Self {
        Self {
            inner,
            failing: AtomicBool::new(false),
            stalled: tokio::sync::watch::Sender::new(false),
            budget: Arc::new(std::sync::atomic::AtomicI64::new(i64::MAX)),
        }
    }

    /// Fail every call from now on (`true`) or work again (`false`).
    pub fn set_failing(&self, failing: bool) {
        self.failing.store(failing, Ordering::SeqCst);
    }

    /// Make reads and writes wait (`true`) until released (`false`).
    pub fn set_stalled(&self, stalled: bool) {
        self.stalled.send_replace(stalled);
    }

    /// Let multipart uploads send `bytes` more, then fail their parts (`None`: no limit),
    /// as a connection that drops in the middle of a large write.
    pub fn fail_after_bytes(&self, bytes: Option<u64>) {
        let budget = bytes.map_or(i64::MAX, |b| b as i64);
        self.budget.store(budget, Ordering::SeqCst);
    }

    async fn pause(&self) {
        let mut stalled = self.stalled.subscribe();
        while *stalled.borrow_and_update() {
            if stalled.changed().await.is_err() {
                return;
            }
        }
    }

    fn check(&self) -> object_store::Result<()> {
        if self.failing.load(Ordering::SeqCst) {
            Err(object_store::Error::Generic {
                store: "failing test store",
                source: "injected failure: the store is unreachable".into(),
            })
        } else {
            Ok(())
        }
    }
}

/// A multipart upload whose parts fail once the store's byte budget is spent.
#[derive(Debug)]
struct BudgetedUpload {
    inner: Box<dyn MultipartUpload>,
    budget: Arc<std::sync::atomic::AtomicI64>,
}

#[async_trait::async_trait]
impl MultipartUpload for BudgetedUpload {
    fn put_part(&mut self, data: PutPayload) -> object_store::UploadPart {
        let left = self
            .budget
            .fetch_sub(data.content_length() as i64, Ordering::SeqCst);
        if left < data.content_length() as i64 {
            return Box::pin(async {
                Err(object_store::Error::Generic {
                    store: "failing test store",
                    source: "injected failure: the connection dropped mid-upload".into(),
                })
            });
        }
        self.inner.put_part(data)
    }

    async fn complete(&mut self) -> object_store::Result<PutResult> {
        self.inner.complete().await
    }

    async fn abort(&mut self) -> object_store::Result<()> {
        self.inner.abort().await
    }
}

impl std::fmt::Display for FailingStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "FailingStore({})", self.inner)
    }
}

#[async_trait::async_trait]
impl ObjectStore for FailingStore {
    async fn put_opts(
        &self,
        location: &ObjectPath,
        payload: PutPayload,
        opts: PutOptions,
    ) -> object_store::Result<PutResult> {
        self.pause().await;
        self.check()?;
        self.inner.put_opts(location, payload, opts).await
    }

    async fn put_multipart_opts(
        &self,
        location: &ObjectPath,
        opts: PutMultipartOptions,
    ) -> object_store::Result<Box<dyn MultipartUpload>> {
        self.pause().await;
        self.check()?;
        let inner = self.inner.put_multipart_opts(location, opts).await?;
        Ok(Box::new(BudgetedUpload {
            inner,
            budget: self.budget.clone(),
        }))
    }

    async fn get_opts(
        &self,
        location: &ObjectPath,
        options: GetOptions,
    ) -> object_store::Result<GetResult> {
        self.pause().await;
        self.check()?;
        self.inner.get_opts(location, options).await
    }

    fn delete_stream(
        &self,
        locations: BoxStream<'static, object_store::Result<ObjectPath>>,
    ) -> BoxStream<'static, object_store::Result<ObjectPath>> {
        match self.check() {
            Ok(()) => self.inner.delete_stream(locations),
            Err(e) => futures::stream::once(async move { Err(e) }).boxed(),
        }
    }

    fn list(
        &self,
        prefix: Option<&ObjectPath>,
    ) -> BoxStream<'static, object_store::Result<ObjectMeta>> {
        match self.check() {
            Ok(()) => self.inner.list(prefix),
            Err(e) => futures::stream::once(async move { Err(e) }).boxed(),
        }
    }

    async fn list_with_delimiter(
        &self,
        prefix: Option<&ObjectPath>,
    ) -> object_store::Result<ListResult> {
        self.check()?;
        self.inner.list_with_delimiter(prefix).await
    }

    async fn copy_opts(
        &self,
        from: &ObjectPath,
        to: &ObjectPath,
        options: CopyOptions,
    ) -> object_store::Result<()> {
        self.check()?;
        self.inner.copy_opts(from, to, options).await
    }
}
