//! Garbage collection beside live writers: whatever GC runs into, every acknowledged write
//! reads back whole, and unreachable objects of any size go once past the grace period.

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::{commit, engine};
use sluice_meta::{CommitRequest, Engine, GcOptions, PutOptions};

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
            &common::read_path(&engine, "main", path).await,
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
    assert_eq!(common::read_path(&engine, "main", "kept").await, b"k");
}

/// Retention rules: a branch keeps its head and the history created within its period;
/// objects only older commits reach are collected; a branch's own rule overrides the
/// default; a tag keeps its commit; without rules every reachable commit is kept.
#[tokio::test]
async fn retention_rules_decide_which_history_keeps_its_objects() {
    use sluice_meta::{BranchRetention, ManualClock, RetentionRules};
    const DAY: i64 = 86_400_000;
    let dir = tempfile::tempdir().unwrap();
    // Files carry the real time of their writing: start the engine's clock after it, so that
    // the grace period (zero here) judges them by the same time as commits.
    let now_ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64;
    let clock = Arc::new(ManualClock::new(now_ms + DAY));
    let engine = Engine::builder(
        Arc::new(sluice_meta::kv::memory::MemoryKv::new()),
        dir.path(),
    )
    .with_clock(clock.clone())
    .build();
    engine
        .create_repository("repo", "local://repo", "main")
        .await
        .unwrap();
    let big = |tag: u8| vec![tag; 100_000];
    let put = |path: &'static str, body: Vec<u8>| {
        let engine = engine.clone();
        async move {
            engine
                .put_bytes("repo", "main", path, body, PutOptions::default())
                .await
                .unwrap()
        }
    };
    // Day 0: v1 of x and a tagged y; day 10: v2 of x (v1 now only in history).
    let v1 = put("x", big(1)).await;
    let tagged = put("y", big(2)).await;
    let c1 = commit(&engine, "main", "v1").await;
    engine.create_tag("repo", "t1", &c1).await.unwrap();
    engine.delete_object("repo", "main", "y").await.unwrap();
    clock.advance_ms(10 * DAY);
    let v2 = put("x", big(3)).await;
    commit(&engine, "main", "v2").await;
    clock.advance_ms(DAY);
    let gc = GcOptions {
        grace: Duration::ZERO,
        dry_run: false,
    };
    let exists = |address: String| {
        let engine = engine.clone();
        async move {
            let store = engine.namespace_store("repo").await.unwrap();
            store.read_all(&address).await.is_ok()
        }
    };

    // No rules: all history is kept.
    assert_eq!(
        engine.collect_garbage("repo", &gc).await.unwrap().deleted,
        0
    );
    // main keeps 30 days (its own rule; the default is 1): still everything.
    let rules = RetentionRules {
        default_retention_days: 1,
        branches: vec![BranchRetention {
            branch_id: "main".into(),
            retention_days: 30,
        }],
    };
    engine.set_retention_rules("repo", &rules).await.unwrap();
    assert_eq!(engine.retention_rules("repo").await.unwrap(), Some(rules));
    assert_eq!(
        engine.collect_garbage("repo", &gc).await.unwrap().deleted,
        0
    );
    // The default of 7 days for every branch: v1 is only in 11-day-old history; the
    // tagged commit still holds y (and v1, which it also reaches).
    let rules = RetentionRules {
        default_retention_days: 7,
        branches: vec![],
    };
    engine.set_retention_rules("repo", &rules).await.unwrap();
    assert_eq!(
        engine.collect_garbage("repo", &gc).await.unwrap().deleted,
        0
    );
    engine.delete_tag("repo", "t1").await.unwrap();
    let report = engine.collect_garbage("repo", &gc).await.unwrap();
    assert_eq!(report.deleted, 2, "{report:?}");
    assert!(!exists(v1.address.clone()).await);
    assert!(!exists(tagged.address.clone()).await);
    assert!(exists(v2.address.clone()).await, "the head's objects stay");
    assert_eq!(common::read_path(&engine, "main", "x").await, big(3));

    // Removing the rules keeps everything reachable again.
    engine.delete_retention_rules("repo").await.unwrap();
    assert_eq!(engine.retention_rules("repo").await.unwrap(), None);
    assert_eq!(
        engine.collect_garbage("repo", &gc).await.unwrap().deleted,
        0
    );
}
