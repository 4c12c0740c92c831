//! Scale-out figures, in one run: the embedded store beside PostgreSQL, and one sidecar
//! beside two on one PostgreSQL.
//!
//! - The engine on each store: 4 KiB PUT and GET latency (one at a time, median) and
//!   throughput (32 in flight), and the metadata round trips each costs (counted at the KV).
//! - Bulk work on each store: a commit of 100,000 staged objects, a 100-change merge.
//! - `sluice run` over HTTP (object_store's S3 client): 4 KiB PUT and GET throughput on the
//!   embedded store, on PostgreSQL, and on two sidecars sharing PostgreSQL with the load
//!   split between them.
//!
//! PostgreSQL is a private server started from the machine's binaries (as the tests do).
//! Run after `cargo test --workspace --no-run` (which builds it with the tests' features,
//! so nothing compiles again): `$CARGO_TARGET_DIR/debug/scale-bench` (`--quick` for
//! smaller counts). The sidecar is the `sluice` binary of the same profile (`SLUICE_BIN`).

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use object_store::aws::AmazonS3Builder;
use object_store::path::Path as ObjPath;
use object_store::{ObjectStore, ObjectStoreExt, PutPayload};
use sluice_benchmarks::{entry, free_port, median, ms, rate};
use sluice_meta::kv::Kv;
use sluice_meta::kv::counting::{CountingKv, RoundTrips};
use sluice_meta::kv::embedded::EmbeddedKv;
use sluice_meta::kv::postgres::PostgresKv;
use sluice_meta::{CommitRequest, Engine, MergeRequest, PutOptions};
use tokio::process::{Child, Command};

const ACCESS: &str = "AKBENCHMARK000000001";
const SECRET: &str = "bench-secret-0123456789abcdefghijklmnop";

struct EngineFigures {
    put_latency: Duration,
    get_latency: Duration,
    put_rate: f64,
    get_rate: f64,
    put_trips: RoundTrips,
    get_trips: RoundTrips,
    commit_100k: Duration,
    merge_100: Duration,
}

async fn engine_figures(kv: Arc<dyn Kv>, dir: &Path, n: usize, bulk: u64) -> EngineFigures {
    let counting = Arc::new(CountingKv::new(kv));
    let engine = Engine::builder(counting.clone(), dir.join("storage")).build();
    engine
        .create_repository("bench", "local://bench", "main")
        .await
        .unwrap();
    let body = Bytes::from(vec![7u8; 4096]);
    let put = |engine: Engine, body: Bytes, i: usize| async move {
        engine
            .put_bytes(
                "bench",
                "main",
                &format!("small/{i:08}"),
                body,
                PutOptions::default(),
            )
            .await
            .unwrap();
    };
    let get = |engine: Engine, i: usize| async move {
        let entry = engine
            .stat_object("bench", "main", &format!("small/{i:08}"))
            .await
            .unwrap();
        let stream = engine.read_object("bench", &entry, None).await.unwrap();
        let chunks: Vec<Bytes> = futures::TryStreamExt::try_collect(stream).await.unwrap();
        assert_eq!(chunks.concat().len(), 4096);
    };
    // Warm the repository handle, then one at a time.
    put(engine.clone(), body.clone(), 0).await;
    let mut lat = Vec::new();
    let before = counting.round_trips();
    for i in 1..=200 {
        let t = Instant::now();
        put(engine.clone(), body.clone(), i).await;
        lat.push(t.elapsed());
    }
    let put_trips = divide(counting.round_trips() - before, 200);
    let put_latency = median(lat);
    let mut lat = Vec::new();
    let before = counting.round_trips();
    for i in 1..=200 {
        let t = Instant::now();
        get(engine.clone(), i).await;
        lat.push(t.elapsed());
    }
    let get_trips = divide(counting.round_trips() - before, 200);
    let get_latency = median(lat);
    let put_rate = rate(n, 32, |i| put(engine.clone(), body.clone(), 1000 + i)).await;
    let get_rate = rate(n, 32, |i| get(engine.clone(), 1000 + i)).await;

    // Bulk: stage `bulk` entries, commit them; then a 100-change merge.
    let mut i = 0;
    while i < bulk {
        let end = (i + 20_000).min(bulk);
        let changes = (i..end)
            .map(|j| {
                (
                    format!("bulk/date={:04}/part-{j:08}.parquet", j / 1000),
                    Some(entry(j)),
                )
            })
            .collect();
        engine
            .stage_entries("bench", "main", changes)
            .await
            .unwrap();
        i = end;
    }
    let t = Instant::now();
    engine
        .commit("bench", "main", CommitRequest::new("bulk", "bench"))
        .await
        .unwrap();
    let commit_100k = t.elapsed();
    let mut merges = Vec::new();
    for round in 0..5 {
        let branch = format!("m{round}");
        engine
            .create_branch("bench", &branch, "main")
            .await
            .unwrap();
        let changes = (0..100u64)
            .map(|k| {
                (
                    format!("bulk/date=new{round}/part-{k:08}.parquet"),
                    Some(entry(k + 10_000_000)),
                )
            })
            .collect();
        engine
            .stage_entries("bench", &branch, changes)
            .await
            .unwrap();
        engine
            .commit("bench", &branch, CommitRequest::new("100", "bench"))
            .await
            .unwrap();
        let t = Instant::now();
        engine
            .merge("bench", &branch, "main", MergeRequest::default())
            .await
            .unwrap();
        merges.push(t.elapsed());
    }
    EngineFigures {
        put_latency,
        get_latency,
        put_rate,
        get_rate,
        put_trips,
        get_trips,
        commit_100k,
        merge_100: median(merges),
    }
}

fn divide(t: RoundTrips, n: u64) -> RoundTrips {
    RoundTrips {
        gets: t.gets / n,
        scans: t.scans / n,
        writes: t.writes / n,
    }
}

fn sluice_bin() -> PathBuf {
    if let Ok(p) = std::env::var("SLUICE_BIN") {
        return p.into();
    }
    let target = std::env::var("CARGO_TARGET_DIR").unwrap_or_else(|_| "target".into());
    let profile = if cfg!(debug_assertions) {
        "debug"
    } else {
        "release"
    };
    PathBuf::from(target).join(profile).join("sluice")
}

struct Sidecar {
    _child: Child,
    store: Arc<dyn ObjectStore>,
}

async fn start_sidecar(data_dir: &Path, metadata: Option<&str>) -> Sidecar {
    let port = free_port();
    let mut cmd = Command::new(sluice_bin());
    cmd.args(["run", "--data-dir"])
        .arg(data_dir)
        .args(["--listen", &format!("127.0.0.1:{port}")])
        .env("SLUICE_ACCESS_KEY_ID", ACCESS)
        .env("SLUICE_SECRET_ACCESS_KEY", SECRET)
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .kill_on_drop(true);
    if let Some(m) = metadata {
        cmd.args(["--metadata", m]);
    }
    let child = cmd.spawn().expect("start sluice");
    let deadline = Instant::now() + Duration::from_secs(30);
    while tokio::net::TcpStream::connect(("127.0.0.1", port))
        .await
        .is_err()
    {
        assert!(Instant::now() < deadline, "sluice did not start");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let store = AmazonS3Builder::new()
        .with_endpoint(format!("http://127.0.0.1:{port}"))
        .with_allow_http(true)
        .with_bucket_name("bench")
        .with_access_key_id(ACCESS)
        .with_secret_access_key(SECRET)
        .with_region("us-east-1")
        .with_virtual_hosted_style_request(false)
        .with_unsigned_payload(true)
        .build()
        .unwrap();
    Sidecar {
        _child: child,
        store: Arc::new(store),
    }
}

/// 4 KiB PUTs then GETs per second, 32 in flight, spread over `sidecars` round-robin.
async fn http_rates(sidecars: &[Sidecar], n: usize, tag: &str) -> (f64, f64) {
    let body = Bytes::from(vec![7u8; 4096]);
    let key = |i: usize| ObjPath::from(format!("main/{tag}/{i:08}"));
    let put = rate(n, 32, |i| {
        let store = sidecars[i % sidecars.len()].store.clone();
        let body = body.clone();
        async move {
            store
                .put(&key(i), PutPayload::from_bytes(body))
                .await
                .unwrap();
        }
    })
    .await;
    let get = rate(n, 32, |i| {
        // Read through the other sidecar than the one that wrote.
        let store = sidecars[(i + 1) % sidecars.len()].store.clone();
        async move {
            let b = store.get(&key(i)).await.unwrap().bytes().await.unwrap();
            assert_eq!(b.len(), 4096);
        }
    })
    .await;
    (put, get)
}

async fn create_bench_repo(engine: Engine) {
    engine
        .create_repository("bench", "local://bench", "main")
        .await
        .unwrap();
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let quick = std::env::args().any(|a| a == "--quick");
    // The tests run the engine part at a tiny size, to keep the benchmark working.
    let smoke = std::env::args().any(|a| a == "--smoke");
    let (n, bulk) = match (smoke, quick) {
        (true, _) => (50, 2_000),
        (false, true) => (500, 20_000),
        (false, false) => (3000, 100_000),
    };
    let server = sluice_meta::testing::postgres_server();
    println!(
        "profile: {}; PostgreSQL: a private server from the machine's binaries",
        if cfg!(debug_assertions) {
            "dev (dependencies at opt-level 2)"
        } else {
            "release"
        }
    );

    let dir = tempfile::tempdir().unwrap();
    let embedded: Arc<dyn Kv> = Arc::new(EmbeddedKv::open(dir.path().join("e/meta.redb")).unwrap());
    let e = engine_figures(embedded, &dir.path().join("e"), n, bulk).await;
    let pg = Arc::new(
        PostgresKv::connect(&server.fresh_database().await)
            .await
            .unwrap(),
    );
    let p = engine_figures(pg.clone(), &dir.path().join("p"), n, bulk).await;

    println!("\nThe engine, 4 KiB objects (inline in the metadata store):\n");
    println!("| operation | embedded (redb) | PostgreSQL | ratio |");
    println!("|---|---|---|---|");
    let lat = |name: &str, a: Duration, b: Duration| {
        println!(
            "| {name} | {} | {} | {:.2}x |",
            ms(a),
            ms(b),
            b.as_secs_f64() / a.as_secs_f64()
        )
    };
    lat(
        "PUT latency (median, one at a time)",
        e.put_latency,
        p.put_latency,
    );
    lat(
        "GET latency (median, one at a time)",
        e.get_latency,
        p.get_latency,
    );
    let thr =
        |name: &str, a: f64, b: f64| println!("| {name} | {a:.0}/s | {b:.0}/s | {:.2}x |", b / a);
    thr("PUT throughput (32 in flight)", e.put_rate, p.put_rate);
    thr("GET throughput (32 in flight)", e.get_rate, p.get_rate);
    lat(
        &format!("commit of {bulk} staged objects"),
        e.commit_100k,
        p.commit_100k,
    );
    lat(
        "merge of 100 changes (median of 5)",
        e.merge_100,
        p.merge_100,
    );
    let trips = |t: RoundTrips| format!("{} get, {} scan, {} write", t.gets, t.scans, t.writes);
    println!(
        "\nMetadata round trips per operation: PUT {} (target <= 2: {}); GET {}.",
        trips(p.put_trips),
        if p.put_trips.total() <= 2 {
            "met"
        } else {
            "not met"
        },
        trips(p.get_trips)
    );
    println!(
        "PostgreSQL writes retried after a serialization failure, in the whole engine run: {}.",
        pg.retries()
    );

    if smoke {
        return;
    }
    // Sidecars over HTTP.
    let one_embedded = {
        let d = dir.path().join("s-embedded");
        create_bench_repo(Engine::open_embedded(&d).unwrap().build()).await;
        let s = [start_sidecar(&d, None).await];
        http_rates(&s, n, "embedded").await
    };
    let url = server.fresh_database().await;
    create_bench_repo(
        Engine::builder(
            Arc::new(PostgresKv::connect(&url).await.unwrap()),
            dir.path().join("unused"),
        )
        .build(),
    )
    .await;
    let shared_storage = dir.path().join("shared");
    // Both sidecars' local namespaces must be one folder for the two-sidecar run: the data
    // dirs differ, their storage folder is the same (a symlink), as a shared disk would be.
    let (a, b) = (dir.path().join("a"), dir.path().join("b"));
    for d in [&a, &b] {
        std::fs::create_dir_all(d).unwrap();
        std::os::unix::fs::symlink(&shared_storage, d.join("storage")).unwrap();
    }
    std::fs::create_dir_all(&shared_storage).unwrap();
    let one_pg = {
        let s = [start_sidecar(&a, Some(&url)).await];
        http_rates(&s, n, "one").await
    };
    let two_pg = {
        let s = [
            start_sidecar(&a, Some(&url)).await,
            start_sidecar(&b, Some(&url)).await,
        ];
        http_rates(&s, n, "two").await
    };
    println!("\n`sluice run` over HTTP, 4 KiB objects, 32 in flight:\n");
    println!("| setup | PUT/s | GET/s | PUT ratio | GET ratio |");
    println!("|---|---|---|---|---|");
    let row = |name: &str, r: (f64, f64)| {
        println!(
            "| {name} | {:.0} | {:.0} | {:.2}x | {:.2}x |",
            r.0,
            r.1,
            r.0 / one_embedded.0,
            r.1 / one_embedded.1
        )
    };
    row("one sidecar, embedded store", one_embedded);
    row("one sidecar, PostgreSQL", one_pg);
    row(
        "two sidecars, PostgreSQL (load split, read through the other)",
        two_pg,
    );
}
