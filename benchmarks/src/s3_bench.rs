//! Sluice's S3 figures beside peers started in the same run, driven by one client
//! (object_store's S3 client, 16 requests in flight unless said otherwise):
//! - `s3s-fs` 0.14.1 (`cargo install s3s-fs --version 0.14.1 --features binary --locked`),
//!   a file-system S3 server that does not fsync;
//! - `mem-s3` (this crate), s3s over a map in memory: the protocol's ceiling;
//! - the disk: `dd`-style sequential write with fsync into the data dir's file system.
//!
//! Run: `cargo build --release -p sluice-cli -p sluice-benchmarks && target/release/s3-bench`
//! (`--quick` for smaller counts). Sluice is started from `target/release/sluice`.

use std::path::Path;
use std::process::Stdio;
use std::sync::Arc;
use std::time::Instant;

use bytes::Bytes;
use futures::TryStreamExt;
use object_store::path::Path as ObjPath;
use object_store::{ObjectStore, ObjectStoreExt, PutPayload, WriteMultipart};
use sluice_benchmarks::{free_port, rate, release_bin, s3_client, status_mib, wait_for_port};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

const ACCESS: &str = "AKBENCHMARK000000001";
const SECRET: &str = "bench-secret-0123456789abcdefghijklmnop";
const BUCKET: &str = "bench";
const MIB: f64 = 1024.0 * 1024.0;

struct Server {
    name: &'static str,
    child: Child,
    store: Arc<dyn ObjectStore>,
}

impl Server {
    fn pid(&self) -> u32 {
        self.child.id().expect("running")
    }
}

async fn start(name: &'static str, mut cmd: Command, port: u16) -> Server {
    cmd.stdout(Stdio::piped())
        .stderr(Stdio::null())
        .kill_on_drop(true);
    let mut child = cmd
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start {name}: {e}"));
    // Wait for the port to accept connections (each server prints its own banner).
    let stdout = child.stdout.take().unwrap();
    tokio::spawn(async move {
        let mut lines = BufReader::new(stdout).lines();
        while let Ok(Some(_)) = lines.next_line().await {}
    });
    wait_for_port(name, port).await;
    let endpoint = format!("http://127.0.0.1:{port}");
    Server {
        name,
        child,
        store: s3_client(&endpoint, BUCKET, ACCESS, SECRET),
    }
}

fn key(i: usize) -> ObjPath {
    ObjPath::from(format!("main/bench/small/{i:08}"))
}

struct Small {
    put: [f64; 2],
    get: [f64; 2],
    head: [f64; 2],
}

async fn small_objects(store: &Arc<dyn ObjectStore>, n: usize) -> Small {
    let body = Bytes::from(vec![7u8; 4096]);
    let mut out = Small {
        put: [0.0; 2],
        get: [0.0; 2],
        head: [0.0; 2],
    };
    for (slot, conc) in [(0, 1), (1, 16)] {
        let base = slot * n;
        out.put[slot] = rate(n, conc, |i| {
            let store = store.clone();
            let body = body.clone();
            async move {
                store
                    .put(&key(base + i), PutPayload::from_bytes(body))
                    .await
                    .unwrap();
            }
        })
        .await;
        out.get[slot] = rate(n, conc, |i| {
            let store = store.clone();
            async move {
                let b = store
                    .get(&key(base + i))
                    .await
                    .unwrap()
                    .bytes()
                    .await
                    .unwrap();
                assert_eq!(b.len(), 4096);
            }
        })
        .await;
        out.head[slot] = rate(n, conc, |i| {
            let store = store.clone();
            async move {
                store.head(&key(base + i)).await.unwrap();
            }
        })
        .await;
    }
    out
}

/// Rounds of the large GET, whose figure moves most between runs.
const LARGE_GET_ROUNDS: usize = 5;

/// MiB/s of one large PUT (multipart, 16 MiB parts, 8 in flight) and of `gets` GETs of it.
async fn large_object(
    store: &Arc<dyn ObjectStore>,
    size: usize,
    name: &str,
    gets: usize,
) -> (f64, Vec<f64>) {
    let chunk = Bytes::from(vec![42u8; 16 << 20]);
    let path = ObjPath::from(format!("main/bench/large/{name}"));
    let t = Instant::now();
    let mut up =
        WriteMultipart::new_with_chunk_size(store.put_multipart(&path).await.unwrap(), 16 << 20);
    let mut sent = 0;
    while sent < size {
        up.wait_for_capacity(8).await.unwrap();
        let n = (size - sent).min(chunk.len());
        up.put(chunk.slice(..n));
        sent += n;
    }
    up.finish().await.unwrap();
    let put = size as f64 / MIB / t.elapsed().as_secs_f64();
    let mut get = Vec::new();
    for _ in 0..gets {
        let t = Instant::now();
        let mut got = 0usize;
        let mut s = store.get(&path).await.unwrap().into_stream();
        while let Some(b) = s.try_next().await.unwrap() {
            got += b.len();
        }
        assert_eq!(got, size);
        get.push(size as f64 / MIB / t.elapsed().as_secs_f64());
    }
    (put, get)
}

/// The median of `v`.
fn median_of(v: &[f64]) -> f64 {
    let mut v = v.to_vec();
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

/// Pages of 1,000 per second when listing `n` keys.
async fn list_pages(store: &Arc<dyn ObjectStore>, n: usize) -> f64 {
    let prefix = ObjPath::from("main/bench/list");
    rate(n, 32, |i| {
        let store = store.clone();
        async move {
            store
                .put(
                    &ObjPath::from(format!("main/bench/list/{i:08}")),
                    PutPayload::from_static(b"x"),
                )
                .await
                .unwrap();
        }
    })
    .await;
    let t = Instant::now();
    let listed = store
        .list(Some(&prefix))
        .try_collect::<Vec<_>>()
        .await
        .unwrap();
    assert_eq!(listed.len(), n);
    (n as f64 / 1000.0) / t.elapsed().as_secs_f64()
}

/// Sequential write with fsync into `dir`: the disk's own speed, 1 MiB writes.
fn disk_write_mib_s(dir: &Path, bytes: usize) -> f64 {
    use std::io::Write;
    let path = dir.join("dd.bin");
    let block = vec![1u8; 1 << 20];
    let t = Instant::now();
    let mut f = std::fs::File::create(&path).unwrap();
    for _ in 0..bytes >> 20 {
        f.write_all(&block).unwrap();
    }
    f.sync_all().unwrap();
    let speed = bytes as f64 / MIB / t.elapsed().as_secs_f64();
    std::fs::remove_file(path).unwrap();
    speed
}

/// A release Sluice on a fresh data dir with the bench repository.
async fn start_sluice(data_dir: &Path) -> Server {
    // object_store has no CreateBucket: make the repository with the engine before the
    // sidecar opens the data dir.
    let engine = sluice_meta::Engine::open_embedded(data_dir)
        .unwrap()
        .build();
    engine
        .create_repository(BUCKET, &format!("local://{BUCKET}"), "main")
        .await
        .unwrap();
    drop(engine);
    let port = free_port();
    let mut cmd = Command::new(release_bin("sluice"));
    cmd.args(["run", "--data-dir"])
        .arg(data_dir)
        .args(["--listen", &format!("127.0.0.1:{port}")])
        .env("SLUICE_ACCESS_KEY_ID", ACCESS)
        .env("SLUICE_SECRET_ACCESS_KEY", SECRET)
        .env("RUST_LOG", "warn");
    start("sluice", cmd, port).await
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let quick = std::env::args().any(|a| a == "--quick");
    let small_n = if quick { 500 } else { 3000 };
    let list_n = if quick { 10_000 } else { 100_000 };
    let large = if quick { 64 << 20 } else { 1 << 30 };
    let huge: usize = if quick { 512 << 20 } else { 5 << 30 };
    let dir =
        tempfile::tempdir_in(std::env::var("BENCH_DIR").unwrap_or_else(|_| ".".into())).unwrap();

    let mut servers = Vec::new();
    servers.push(start_sluice(&dir.path().join("sluice")).await);
    {
        let port = free_port();
        let root = dir.path().join("s3s-fs");
        // s3s-fs's buckets are the root's folders.
        std::fs::create_dir_all(root.join(BUCKET)).unwrap();
        let mut cmd = Command::new("s3s-fs");
        cmd.args([
            "--host",
            "127.0.0.1",
            "--port",
            &port.to_string(),
            "--access-key",
            ACCESS,
            "--secret-key",
            SECRET,
        ])
        .arg(&root);
        servers.push(start("s3s-fs", cmd, port).await);
    }
    {
        let port = free_port();
        let mut cmd = Command::new(release_bin("mem-s3"));
        cmd.args([format!("127.0.0.1:{port}"), ACCESS.into(), SECRET.into()]);
        servers.push(start("mem-s3", cmd, port).await);
    }

    let disk = disk_write_mib_s(dir.path(), 1 << 30);
    println!("# S3 figures (this machine, release builds, one run)\n");
    println!("disk: sequential write with fsync into the data dir: {disk:.0} MiB/s\n");
    println!(
        "| server | PUT 4K c1 | PUT 4K c16 | GET 4K c1 | GET 4K c16 | HEAD 4K c1 | HEAD 4K c16 | PUT {0} MiB | GET {0} MiB, median of {2} (min-max) | list pages/s ({1} keys) |",
        large >> 20,
        list_n,
        LARGE_GET_ROUNDS
    );
    println!("|---|---|---|---|---|---|---|---|---|---|");
    let mut figures = Vec::new();
    for s in &servers {
        let small = small_objects(&s.store, small_n).await;
        let (put, gets) = large_object(&s.store, large, "one", LARGE_GET_ROUNDS).await;
        let get = median_of(&gets);
        let pages = list_pages(&s.store, list_n).await;
        println!(
            "| {} | {:.0}/s | {:.0}/s | {:.0}/s | {:.0}/s | {:.0}/s | {:.0}/s | {:.0} MiB/s | {:.0} MiB/s ({:.0}-{:.0}) | {:.1} |",
            s.name,
            small.put[0],
            small.put[1],
            small.get[0],
            small.get[1],
            small.head[0],
            small.head[1],
            put,
            get,
            gets.iter().copied().fold(f64::INFINITY, f64::min),
            gets.iter().copied().fold(0.0, f64::max),
            pages
        );
        figures.push((s.name, small, put, get, gets));
    }
    let by = |n: &str| figures.iter().find(|f| f.0 == n).unwrap();
    let (sl, fs, mem) = (by("sluice"), by("s3s-fs"), by("mem-s3"));
    println!();
    println!("| target | figure | met |");
    println!("|---|---|---|");
    let row = |what: &str, ratio: f64, goal: f64| {
        println!(
            "| {what} >= {goal}x | {ratio:.2}x | {} |",
            if ratio >= goal { "met" } else { "not met" }
        );
    };
    row("large GET (median) vs in-memory ceiling", sl.3 / mem.3, 0.8);
    // Round by round: each of Sluice's GETs against the ceiling's GET of the same round.
    let per_round: Vec<f64> = sl.4.iter().zip(&mem.4).map(|(a, b)| a / b).collect();
    println!(
        "| large GET vs in-memory ceiling, each of {LARGE_GET_ROUNDS} rounds | {} | - |",
        per_round
            .iter()
            .map(|r| format!("{r:.2}x"))
            .collect::<Vec<_>>()
            .join(", ")
    );
    row("large PUT vs disk write", sl.2 / disk, 0.6);
    row(
        "4 KiB GET (c16) vs in-memory ceiling",
        sl.1.get[1] / mem.1.get[1],
        0.5,
    );
    row("4 KiB GET (c16) vs s3s-fs", sl.1.get[1] / fs.1.get[1], 10.0);
    row(
        "durable 4 KiB PUT (c16) vs s3s-fs",
        sl.1.put[1] / fs.1.put[1],
        3.0,
    );

    // Peak memory of a fresh Sluice while one huge object streams in and out.
    drop(servers);
    let sluice = start_sluice(&dir.path().join("sluice-huge")).await;
    let before = status_mib(&sluice.pid().to_string(), "VmHWM:");
    let (put, gets) = large_object(&sluice.store, huge, "huge", 1).await;
    let get = gets[0];
    let after = status_mib(&sluice.pid().to_string(), "VmHWM:");
    println!();
    println!(
        "{} MiB through a fresh Sluice: PUT {put:.0} MiB/s, GET {get:.0} MiB/s; peak RSS {after:.0} MiB (at start: {before:.0} MiB); target < 100 MiB",
        huge >> 20
    );
}
