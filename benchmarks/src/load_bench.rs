//! A bounded load on loopback: many clients at once, each on a branch of its own, with a
//! mix of small and large PUT and GET, LIST, commit, merge into main and a row check, for a
//! fixed time. It reports throughput, p50/p99/p999 latency and errors per operation; then
//! it reads back every acknowledged object (the last write of each key must read whole)
//! and walks every branch's log (each commit must be readable).
//!
//! It runs twice: once alone, once with a pre-merge style check (`rows?verify=true` over a
//! 2M-row table) looping beside it, and prints the S3 p99 of both, so that a check's
//! decoding is seen not to starve S3 requests (it runs on the query runtime).
//!
//! Run: `cargo build --release -p sluice-cli -p sluice-benchmarks && target/release/load-bench`
//! (`--seconds N`, default 20; `--clients N`, default 16; `--pair` for two sidecars on one
//! PostgreSQL, a private server from the machine's binaries). `SLUICE_BENCH_BIN` names
//! another `sluice` binary.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use arrow::array::{Int64Array, StringArray};
use arrow::datatypes::{DataType, Field, Schema};
use arrow::record_batch::RecordBatch;
use bytes::Bytes;
use object_store::path::Path as ObjPath;
use object_store::{ObjectStore, ObjectStoreExt, PutPayload};
use sluice_benchmarks::{free_port, release_bin, s3_client, wait_for_port};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::process::Command;

const ACCESS: &str = "AKLOADBENCH000000001";
const SECRET: &str = "load-secret-0123456789abcdefghijklmnopq";
const REPO: &str = "load";

/// One operation's latencies and errors.
#[derive(Default, Clone)]
struct Tally {
    latencies: Vec<Duration>,
    errors: u64,
}

type Tallies = Arc<Mutex<BTreeMap<&'static str, Tally>>>;

fn record(t: &Tallies, op: &'static str, took: Duration, ok: bool) {
    let mut t = t.lock().expect("tally lock");
    let e = t.entry(op).or_default();
    if ok {
        e.latencies.push(took);
    } else {
        e.errors += 1;
    }
}

/// A REST call (HTTP Basic, one request per connection): the status and body.
async fn rest(port: u16, method: &str, path: &str, body: &str) -> (u16, String) {
    use base64::Engine as _;
    let token = base64::engine::general_purpose::STANDARD.encode(format!("{ACCESS}:{SECRET}"));
    let Ok(mut s) = tokio::net::TcpStream::connect(("127.0.0.1", port)).await else {
        return (0, String::new());
    };
    let req = format!(
        "{method} /api/v1{path} HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Basic {token}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    if s.write_all(req.as_bytes()).await.is_err() {
        return (0, String::new());
    }
    let mut raw = Vec::new();
    let _ = s.read_to_end(&mut raw).await;
    let text = String::from_utf8_lossy(&raw).into_owned();
    let status = text
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let body = text
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_string())
        .unwrap_or_default();
    (status, body)
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let i = ((sorted.len() as f64 * p).ceil() as usize).clamp(1, sorted.len()) - 1;
    sorted[i]
}

fn fmt_ms(d: Duration) -> String {
    format!("{:.1}", d.as_secs_f64() * 1e3)
}

/// A Parquet table of `rows` rows, as bytes.
fn table(rows: i64) -> Bytes {
    let schema = Arc::new(Schema::new(vec![
        Field::new("id", DataType::Int64, false),
        Field::new("text", DataType::Utf8, false),
    ]));
    let ids = Int64Array::from_iter_values(0..rows);
    let texts = StringArray::from_iter_values((0..rows).map(|i| format!("review number {i}")));
    let batch =
        RecordBatch::try_new(schema.clone(), vec![Arc::new(ids), Arc::new(texts)]).expect("batch");
    let mut out = Vec::new();
    let mut w = parquet::arrow::ArrowWriter::try_new(&mut out, schema, None).expect("writer");
    w.write(&batch).expect("write");
    w.close().expect("close");
    Bytes::from(out)
}

struct Run {
    tallies: Tallies,
    elapsed: Duration,
    /// (branch, key) -> the bytes last acknowledged.
    acknowledged: BTreeMap<(String, String), Bytes>,
}

/// One sidecar: its port and an S3 client of it.
#[derive(Clone)]
struct Sidecar {
    port: u16,
    store: Arc<dyn ObjectStore>,
}

async fn load(sidecars: &[Sidecar], clients: usize, seconds: u64, round: &str) -> Run {
    let tallies: Tallies = Arc::default();
    let deadline = Instant::now() + Duration::from_secs(seconds);
    let started = Instant::now();
    let mut tasks = Vec::new();
    for c in 0..clients {
        // Clients are spread over the sidecars round-robin.
        let Sidecar { port, store } = sidecars[c % sidecars.len()].clone();
        let tallies = tallies.clone();
        let branch = format!("{round}-c{c}");
        let (status, body) = rest(
            port,
            "POST",
            &format!("/repositories/{REPO}/branches"),
            &format!(r#"{{"name":"{branch}","source":"main"}}"#),
        )
        .await;
        assert_eq!(status, 201, "branch {branch}: {body}");
        tasks.push(tokio::spawn(async move {
            let mut rng = fastrand::Rng::with_seed(c as u64);
            let mut acknowledged = BTreeMap::new();
            let small = Bytes::from(vec![c as u8; 4096]);
            let large = Bytes::from(vec![c as u8 ^ 0x5a; 4 << 20]);
            let mut i = 0u64;
            while Instant::now() < deadline {
                i += 1;
                let roll = rng.u32(..100);
                let key = |n: u64| format!("{branch}/c{c}/k{:04}", n % 500);
                let t = Instant::now();
                let (op, ok) = match roll {
                    0..=34 => {
                        let k = key(i);
                        let body = Bytes::from([small.as_ref(), &i.to_le_bytes()].concat());
                        let ok = store
                            .put(
                                &ObjPath::from(k.clone()),
                                PutPayload::from_bytes(body.clone()),
                            )
                            .await
                            .is_ok();
                        if ok {
                            acknowledged.insert((branch.clone(), k), body);
                        }
                        ("PUT 4 KiB", ok)
                    }
                    35..=59 => {
                        let k = key(rng.u64(..i.max(1)));
                        let r = store.get(&ObjPath::from(k)).await;
                        let ok = match r {
                            Ok(r) => r.bytes().await.is_ok(),
                            Err(object_store::Error::NotFound { .. }) => true,
                            Err(_) => false,
                        };
                        ("GET 4 KiB", ok)
                    }
                    60..=62 => {
                        let k = format!("{branch}/c{c}/large{}", i % 4);
                        let ok = store
                            .put(
                                &ObjPath::from(k.clone()),
                                PutPayload::from_bytes(large.clone()),
                            )
                            .await
                            .is_ok();
                        if ok {
                            acknowledged.insert((branch.clone(), k), large.clone());
                        }
                        ("PUT 4 MiB", ok)
                    }
                    63..=67 => {
                        let k = format!("{branch}/c{c}/large{}", rng.u64(..4));
                        let ok = match store.get(&ObjPath::from(k)).await {
                            Ok(r) => r.bytes().await.is_ok(),
                            Err(object_store::Error::NotFound { .. }) => true,
                            Err(_) => false,
                        };
                        ("GET 4 MiB", ok)
                    }
                    68..=82 => {
                        let prefix = ObjPath::from(format!("{branch}/c{c}"));
                        let ok = store.list_with_delimiter(Some(&prefix)).await.is_ok();
                        ("LIST", ok)
                    }
                    83..=92 => {
                        let (status, _) = rest(
                            port,
                            "POST",
                            &format!("/repositories/{REPO}/branches/{branch}/commits"),
                            r#"{"message":"load"}"#,
                        )
                        .await;
                        // 400: nothing to commit since the last one.
                        ("commit", status == 201 || status == 400)
                    }
                    93..=96 => {
                        let (status, _) = rest(
                            port,
                            "POST",
                            &format!("/repositories/{REPO}/refs/{branch}/merge/main"),
                            "{}",
                        )
                        .await;
                        // 400/409: nothing committed to merge, or uncommitted changes.
                        ("merge into main", matches!(status, 200 | 400 | 409))
                    }
                    _ => {
                        let (status, _) = rest(
                            port,
                            "GET",
                            &format!(
                                "/repositories/{REPO}/refs/{branch}/compare/main?prefix=table/"
                            ),
                            "",
                        )
                        .await;
                        ("compare (row check)", status == 200)
                    }
                };
                record(&tallies, op, t.elapsed(), ok);
            }
            acknowledged
        }));
    }
    let mut acknowledged = BTreeMap::new();
    for t in tasks {
        acknowledged.extend(t.await.expect("client"));
    }
    Run {
        tallies,
        elapsed: started.elapsed(),
        acknowledged,
    }
}

fn report(run: &Run) -> Duration {
    println!("| operation | ops | ops/s | p50 ms | p99 ms | p999 ms | errors |");
    println!("|---|---|---|---|---|---|---|");
    let mut s3_all = Vec::new();
    for (op, t) in run.tallies.lock().expect("tally lock").iter() {
        let mut l = t.latencies.clone();
        l.sort();
        if op.starts_with("PUT") || op.starts_with("GET") || *op == "LIST" {
            s3_all.extend(l.iter().copied());
        }
        println!(
            "| {op} | {} | {:.0} | {} | {} | {} | {} |",
            l.len(),
            l.len() as f64 / run.elapsed.as_secs_f64(),
            fmt_ms(percentile(&l, 0.5)),
            fmt_ms(percentile(&l, 0.99)),
            fmt_ms(percentile(&l, 0.999)),
            t.errors
        );
    }
    s3_all.sort();
    percentile(&s3_all, 0.99)
}

/// Every acknowledged object reads back as last written (through the last sidecar, which
/// most clients did not write through); every branch's log reads.
async fn verify(sidecars: &[Sidecar], run: &Run) -> (usize, usize) {
    let Sidecar { port, store } = sidecars[sidecars.len() - 1].clone();
    let store = &store;
    let mut objects = 0;
    for ((_, key), body) in &run.acknowledged {
        let got = store
            .get(&ObjPath::from(key.clone()))
            .await
            .unwrap_or_else(|e| panic!("acknowledged {key} is gone: {e}"))
            .bytes()
            .await
            .expect("read");
        assert!(
            got == *body,
            "acknowledged {key} reads back different bytes"
        );
        objects += 1;
    }
    let branches: std::collections::BTreeSet<&String> =
        run.acknowledged.keys().map(|(b, _)| b).collect();
    let mut commits = 0;
    for branch in branches
        .into_iter()
        .chain(std::iter::once(&"main".to_string()))
    {
        let (status, body) = rest(
            port,
            "GET",
            &format!("/repositories/{REPO}/refs/{branch}/commits?amount=1000"),
            "",
        )
        .await;
        assert_eq!(status, 200, "log of {branch}: {body}");
        let log: serde_json::Value = serde_json::from_str(&body).expect("log JSON");
        for c in log["results"].as_array().expect("results") {
            let id = c["id"].as_str().expect("id");
            let (status, _) = rest(
                port,
                "GET",
                &format!("/repositories/{REPO}/commits/{id}"),
                "",
            )
            .await;
            assert_eq!(status, 200, "commit {id} of {branch} does not read");
            commits += 1;
        }
    }
    (objects, commits)
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let args: Vec<String> = std::env::args().collect();
    let flag = |name: &str, default: u64| {
        args.iter()
            .position(|a| a == name)
            .and_then(|i| args.get(i + 1))
            .and_then(|v| v.parse().ok())
            .unwrap_or(default)
    };
    let seconds = flag("--seconds", 20);
    let clients = flag("--clients", 16) as usize;
    // Two sidecars on one PostgreSQL (a private server from the machine's binaries), sharing
    // the data dir's storage, as scale-bench runs them.
    let pair = args.iter().any(|a| a == "--pair");
    let bin = std::env::var("SLUICE_BENCH_BIN")
        .map(PathBuf::from)
        .unwrap_or_else(|_| release_bin("sluice"));
    let dir = tempfile::tempdir_in(std::env::var("BENCH_DIR").unwrap_or_else(|_| ".".into()))
        .expect("temp dir");
    let data_dir = dir.path().join("sluice");
    let metadata = if pair {
        Some(
            sluice_meta::testing::postgres_server()
                .fresh_database()
                .await,
        )
    } else {
        None
    };
    {
        let builder = match &metadata {
            Some(url) => sluice_meta::Engine::builder(
                Arc::new(
                    sluice_meta::kv::postgres::PostgresKv::connect(url)
                        .await
                        .expect("PostgreSQL"),
                ),
                data_dir.join("storage"),
            ),
            None => sluice_meta::Engine::open_embedded(&data_dir).expect("engine"),
        };
        builder
            .build()
            .create_repository(REPO, &format!("local://{REPO}"), "main")
            .await
            .expect("repository");
    }
    let mut sidecars = Vec::new();
    let mut children = Vec::new();
    for _ in 0..if pair { 2 } else { 1 } {
        let port = free_port();
        let mut cmd = Command::new(&bin);
        cmd.args(["run", "--data-dir"])
            .arg(&data_dir)
            .args(["--listen", &format!("127.0.0.1:{port}")])
            .env("SLUICE_ACCESS_KEY_ID", ACCESS)
            .env("SLUICE_SECRET_ACCESS_KEY", SECRET)
            .env("SLUICE_AUTH_ENCRYPT_SECRET_KEY", "load-bench")
            .env("RUST_LOG", "warn")
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .kill_on_drop(true);
        if let Some(url) = &metadata {
            cmd.args(["--metadata", url]);
        }
        children.push(
            cmd.spawn()
                .unwrap_or_else(|e| panic!("cannot start {}: {e}", bin.display())),
        );
        wait_for_port("sluice", port).await;
        sidecars.push(Sidecar {
            port,
            store: s3_client(&format!("http://127.0.0.1:{port}"), REPO, ACCESS, SECRET),
        });
    }
    let Sidecar { port, store } = sidecars[0].clone();
    // The table the checks read: 2M rows on main.
    store
        .put(
            &ObjPath::from("main/table/part-0.parquet"),
            PutPayload::from_bytes(table(2_000_000)),
        )
        .await
        .expect("table");
    let (status, body) = rest(
        port,
        "POST",
        &format!("/repositories/{REPO}/branches/main/commits"),
        r#"{"message":"table"}"#,
    )
    .await;
    assert_eq!(status, 201, "{body}");

    println!(
        "# load-bench: {clients} clients, {seconds} s per round, one sidecar ({})\n",
        bin.display()
    );
    println!("## Alone\n");
    let alone = load(&sidecars, clients, seconds, "a").await;
    let p99_alone = report(&alone);
    let (objects, commits) = verify(&sidecars, &alone).await;
    println!(
        "\nAfterwards: {objects} acknowledged objects read back whole; {commits} commits of every branch's log read.\n"
    );

    println!("## With a row check (verify, 2M rows) looping beside it\n");
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let checker = {
        let stop = stop.clone();
        tokio::spawn(async move {
            let mut runs = 0u32;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                let (status, body) = rest(
                    port,
                    "GET",
                    &format!("/repositories/{REPO}/refs/main/rows?prefix=table/&verify=true"),
                    "",
                )
                .await;
                assert_eq!(status, 200, "{body}");
                runs += 1;
            }
            runs
        })
    };
    let beside = load(&sidecars, clients, seconds, "b").await;
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let checks = checker.await.expect("checker");
    let p99_beside = report(&beside);
    let (objects, commits) = verify(&sidecars, &beside).await;
    println!(
        "\nAfterwards: {objects} acknowledged objects read back whole; {commits} commits read; {checks} full checks ran beside.\n"
    );
    println!(
        "| S3 p99 (PUT, GET, LIST) | alone | with a check beside | ratio | target |\n|---|---|---|---|---|\n| ms | {} | {} | {:.2}x | {} (<= 2x) |",
        fmt_ms(p99_alone),
        fmt_ms(p99_beside),
        p99_beside.as_secs_f64() / p99_alone.as_secs_f64().max(1e-9),
        if p99_beside.as_secs_f64() <= 2.0 * p99_alone.as_secs_f64() {
            "met"
        } else {
            "not met"
        }
    );
    for mut child in children {
        let _ = child.kill().await;
    }
}
