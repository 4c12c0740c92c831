//! Garbage collection beside live writers: whatever GC runs into, every acknowledged write
//! reads back whole, and unreachable objects of any size go once past the grace period.

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::{commit, engine};
use futures::TryStreamExt;
use sluice_meta::{CommitRequest, Engine, GcOptions, PutOptions};

async fn read(engine: &Engine, reference: &str, path: &str) -> Vec<u8> {
    let entry = engine.stat_object("repo", reference, path).await.unwrap();
    let chunks: Vec<bytes::Bytes> = engine
        .read_object("repo", &entry, None)
        .await
        .unwrap()
        .try_collect()
        .await
        .unwrap();
    chunks.concat()
}

/// Small (inline) and large (file) writes, with commits among them, while GC runs over
/// and over with a short grace period. Before inline objects had a grace period, a small
/// write staged between GC's staging scan and its blob scan lost its bytes.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn gc_beside_writers_loses_no_acknowledged_write() {
    let (engine, _dir) = engine().await;
    let writers = 6;
    let per_writer = 60;
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let gc = {
        let (engine, stop) = (engine.clone(), stop.clone());
        tokio::spawn(async move {
            let options = GcOptions {
                grace: Duration::from_secs(30),
                dry_run: false,
            };
            let mut runs = 0u32;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                engine.collect_garbage("repo", &options).await.unwrap();
                runs += 1;
                tokio::task::yield_now().await;
            }
            runs
        })
    };
    let mut tasks = Vec::new();
    for w in 0..writers {
        let engine = engine.clone();
        tasks.push(tokio::spawn(async move {
            let mut acknowledged = Vec::new();
            for i in 0..per_writer {
                let path = format!("w{w}/o{i:03}");
                // Every seventh object is larger than the inline limit: a file.
                let size = if i % 7 == 0 { 40 * 1024 } else { 100 + i };
                let body: Vec<u8> = (0..size).map(|b| (b * 31 + w * 7 + i) as u8).collect();
                engine
                    .put_bytes("repo", "main", &path, body.clone(), PutOptions::default())
                    .await
                    .unwrap();
                acknowledged.push((path, body));
                if i % 10 == 9 {
                    // Commits race GC too: staged entries move into trees under its feet.
                    let _ = engine
                        .commit("repo", "main", CommitRequest::new("batch", "writer"))
                        .await;
                }
            }
            acknowledged
        }));
    }
    let mut acknowledged = Vec::new();
    for t in tasks {
        acknowledged.extend(t.await.unwrap());
    }
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let runs = gc.await.unwrap();
    assert!(runs > 0);
    // One more collection after the last write, then every object reads back whole.
    engine
        .collect_garbage("repo", &GcOptions::default())
        .await
        .unwrap();
    for (path, body) in &acknowledged {
        assert_eq!(
            &read(&engine, "main", path).await,
            body,
            "{path} after {runs} GC runs"
        );
    }
    assert_eq!(acknowledged.len(), writers * per_writer);
}

/// More unreachable inline objects than one page of the scan: all are found and deleted.
#[tokio::test]
async fn gc_pages_through_every_inline_object() {
    let (engine, _dir) = engine().await;
    common::put(&engine, "main", "kept", "k").await;
    commit(&engine, "main", "keep one").await;
    let n = 2_345;
    for i in 0..n {
        common::put(&engine, "main", &format!("tmp/{i:05}"), "x").await;
    }
    engine.reset_branch("repo", "main").await.unwrap();
    let zero = GcOptions {
        grace: Duration::ZERO,
        dry_run: true,
    };
    let dry = engine.collect_garbage("repo", &zero).await.unwrap();
    assert_eq!((dry.deleted, dry.reachable), (n as u64, 1), "{dry:?}");
    let report = engine
        .collect_garbage(
            "repo",
            &GcOptions {
                dry_run: false,
                ..zero.clone()
            },
        )
        .await
        .unwrap();
    assert_eq!(report.deleted, n as u64, "{report:?}");
    let again = engine.collect_garbage("repo", &zero).await.unwrap();
    assert_eq!((again.examined, again.deleted), (1, 0), "{again:?}");
    assert_eq!(read(&engine, "main", "kept").await, b"k");
}
