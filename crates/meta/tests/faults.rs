//! Faults at every point of commit, merge, multipart completion and garbage collection.
//!
//! Each metadata write an operation makes is a fault point. The walk runs the operation
//! once to count them, then for each point and each mode (the write refused before it
//! applies; the write applied and its acknowledgement lost) it builds the same repository
//! afresh, arms the fault, runs the operation, and restarts the engine over the same store.
//! After every restart:
//!
//! - every branch's head reaches a whole tree: every object listed reads back in full;
//! - what clients see is a state the operation may leave: the one before, or the one after
//!   (a commit changes no content; a merge's destination is all-or-nothing; a completed
//!   upload is whole or absent; GC changes no content at all);
//! - the operation, retried, ends where an unfaulted run ends.
//!
//! The store is `SLUICE_TEST_METADATA`'s (in memory by default; `./run-tests` runs this
//! again on PostgreSQL) behind the faulty one.
//!
//! Then garbage collection against random histories (branches made and deleted, merges,
//! tags, overwrites): nothing a branch, a tag or a commit of any log reaches is deleted.

mod common;

use std::collections::BTreeMap;
use std::sync::Arc;

use sluice_meta::kv::Kv;
use sluice_meta::kv::faulty::{FaultMode, FaultyKv};
use sluice_meta::{
    CommitRequest, Engine, ErrorKind, GcOptions, ListItem, ListOptions, LogOptions, MergeRequest,
    PutOptions,
};

/// A path and its bytes, as a client sees a ref.
type Contents = BTreeMap<String, Vec<u8>>;

fn engine_over(kv: Arc<dyn Kv>, dir: &std::path::Path) -> Engine {
    Engine::builder(kv, dir.join("storage"))
        .with_min_part_size(1)
        .build()
}

async fn read_all(engine: &Engine, reference: &str) -> Contents {
    use futures::TryStreamExt;
    let mut out = Contents::new();
    let mut after = None;
    loop {
        let page = engine
            .list_objects(
                "repo",
                reference,
                &ListOptions {
                    after: after.clone(),
                    limit: 50,
                    ..Default::default()
                },
            )
            .await
            .unwrap_or_else(|e| panic!("{reference} does not list: {e}"));
        for item in &page.items {
            let ListItem::Object(path, entry) = item else {
                unreachable!("no delimiter")
            };
            let chunks: Vec<bytes::Bytes> = engine
                .read_object("repo", entry, None)
                .await
                .unwrap_or_else(|e| panic!("{reference}:{path} does not read: {e}"))
                .try_collect()
                .await
                .unwrap_or_else(|e| panic!("{reference}:{path} does not read whole: {e}"));
            let bytes = chunks.concat();
            assert_eq!(
                bytes.len() as u64,
                entry.size,
                "{reference}:{path} is cut short"
            );
            out.insert(path.clone(), bytes);
        }
        if !page.has_more {
            return out;
        }
        after = page.items.last().map(|i| i.key().to_string());
    }
}

fn blob(len: usize, seed: u8) -> Vec<u8> {
    (0..len)
        .map(|i| (i as u8).wrapping_mul(31) ^ seed)
        .collect()
}

/// The repository every walk starts from: main with committed objects (inline and files);
/// feature with an overwrite, a deletion and an addition, committed; work with an object
/// staged; a multipart upload to main with two parts uploaded.
struct World {
    kv: Arc<FaultyKv>,
    dir: tempfile::TempDir,
    engine: Engine,
    upload: String,
    parts: Vec<(u32, String)>,
}

async fn world() -> World {
    let dir = tempfile::tempdir().unwrap();
    let inner = sluice_meta::testing::TestStore::from_env()
        .open(dir.path())
        .await;
    let kv = Arc::new(FaultyKv::new(inner));
    let engine = engine_over(kv.clone(), dir.path());
    engine
        .create_repository("repo", "local://repo", "main")
        .await
        .unwrap();
    let put = |branch: &'static str, path: &'static str, body: Vec<u8>| {
        let engine = engine.clone();
        async move {
            engine
                .put_bytes("repo", branch, path, body, PutOptions::default())
                .await
                .unwrap();
        }
    };
    put("main", "t/a", blob(100, 1)).await;
    put("main", "t/b", blob(50_000, 2)).await;
    put("main", "t/c", blob(70_000, 3)).await;
    engine
        .commit("repo", "main", CommitRequest::new("seed", "t"))
        .await
        .unwrap();
    engine
        .create_branch("repo", "feature", "main")
        .await
        .unwrap();
    put("feature", "t/a", blob(200, 4)).await;
    put("feature", "t/d", blob(60_000, 5)).await;
    engine
        .delete_object("repo", "feature", "t/b")
        .await
        .unwrap();
    engine
        .commit("repo", "feature", CommitRequest::new("change", "t"))
        .await
        .unwrap();
    engine.create_branch("repo", "work", "main").await.unwrap();
    put("work", "u/staged", blob(30_000, 6)).await;
    // Garbage for GC: overwritten staged objects, inline and files, no longer reachable.
    for seed in 20..23 {
        put("work", "u/inline", blob(80, seed)).await;
        put("work", "u/file", blob(45_000, seed)).await;
    }
    let upload = engine
        .create_upload("repo", "main", "big/object", PutOptions::default())
        .await
        .unwrap();
    let mut parts = Vec::new();
    for n in 1..=2u32 {
        let data = bytes::Bytes::from(blob(40_000, 10 + n as u8));
        let part = engine
            .upload_part(
                "repo",
                &upload.id,
                n,
                futures::stream::once(async move { Ok(data) }),
                Default::default(),
            )
            .await
            .unwrap();
        parts.push((n, part.etag));
    }
    World {
        kv,
        dir,
        engine,
        upload: upload.id,
        parts,
    }
}

/// Collect everything unreachable at once: the walks have no writes in flight.
fn no_grace() -> GcOptions {
    GcOptions {
        grace: std::time::Duration::ZERO,
        dry_run: false,
    }
}

#[derive(Debug, Clone, Copy)]
enum Op {
    Commit,
    Merge,
    Complete,
    Gc,
}

async fn run(op: Op, engine: &Engine, w: &World) -> sluice_meta::Result<()> {
    match op {
        Op::Commit => engine
            .commit("repo", "work", CommitRequest::new("commit", "t"))
            .await
            .map(|_| ()),
        Op::Merge => engine
            .merge("repo", "feature", "main", MergeRequest::default())
            .await
            .map(|_| ()),
        Op::Complete => engine
            .complete_upload("repo", &w.upload, &w.parts)
            .await
            .map(|_| ()),
        Op::Gc => engine
            .collect_garbage("repo", &no_grace())
            .await
            .map(|_| ()),
    }
}

/// The refs clients read.
async fn seen(engine: &Engine) -> [Contents; 3] {
    [
        read_all(engine, "main").await,
        read_all(engine, "feature").await,
        read_all(engine, "work").await,
    ]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_fault_point_leaves_a_whole_state() {
    let mut points = 0;
    for op in [Op::Commit, Op::Merge, Op::Complete, Op::Gc] {
        // The unfaulted run: how many writes, and where it ends.
        let w = world().await;
        let before = seen(&w.engine).await;
        let start = w.kv.writes();
        run(op, &w.engine, &w).await.unwrap();
        let writes = w.kv.writes() - start;
        let after = seen(&w.engine).await;
        assert!(writes > 0, "{op:?} wrote nothing");
        eprintln!("{op:?}: {writes} fault points, 2 modes each");
        for k in 0..writes {
            for mode in [FaultMode::BeforeApply, FaultMode::AfterApply] {
                let at = format!("{op:?}, write {k} of {writes}, {mode:?}");
                let w = world().await;
                w.kv.fail_in(k, mode);
                let outcome = run(op, &w.engine, &w).await;
                w.kv.heal();
                // A restart: a new engine over the same store and files.
                let engine = engine_over(w.kv.clone(), w.dir.path());
                let now = seen(&engine).await;
                assert!(
                    now == before || now == after,
                    "{at}: a state that is neither before nor after ({outcome:?}):\nmain {:?}",
                    now[0].keys().collect::<Vec<_>>()
                );
                if outcome.is_ok() {
                    assert!(now == after, "{at}: acknowledged, but not applied");
                }
                // Retried, the operation ends where the unfaulted run did.
                match run(op, &engine, &w).await {
                    Ok(()) => {}
                    // Already done: the commit has nothing left, the upload is gone.
                    Err(e) if matches!(e.kind(), ErrorKind::Invalid | ErrorKind::NotFound) => {}
                    Err(e) => panic!("{at}: the retry failed: {e}"),
                }
                assert!(
                    seen(&engine).await == after,
                    "{at}: the retry ends elsewhere"
                );
                points += 1;
            }
        }
    }
    assert!(points >= 16, "only {points} fault points walked");
}

/// GC (no grace) between random operations: whatever the history, everything a branch, a
/// tag or a logged commit reaches reads back whole.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gc_deletes_nothing_reachable_in_random_histories() {
    for seed in 0..6u64 {
        let mut rng = fastrand::Rng::with_seed(seed);
        let dir = tempfile::tempdir().unwrap();
        let kv = sluice_meta::testing::TestStore::from_env()
            .open(dir.path())
            .await;
        let engine = engine_over(kv, dir.path());
        engine
            .create_repository("repo", "local://repo", "main")
            .await
            .unwrap();
        let mut branches = vec!["main".to_string()];
        let mut tags = Vec::new();
        for step in 0..120 {
            let branch = branches[rng.usize(..branches.len())].clone();
            match rng.u8(..10) {
                0..=3 => {
                    let size = if rng.bool() { 60 } else { 40_000 };
                    let path = format!("p{}", rng.u8(..12));
                    engine
                        .put_bytes(
                            "repo",
                            &branch,
                            &path,
                            blob(size, rng.u8(..)),
                            PutOptions::default(),
                        )
                        .await
                        .unwrap();
                }
                4 => {
                    let _ = engine
                        .delete_object("repo", &branch, &format!("p{}", rng.u8(..12)))
                        .await;
                }
                5 => {
                    let _ = engine
                        .commit("repo", &branch, CommitRequest::new(format!("s{step}"), "t"))
                        .await;
                }
                6 => {
                    let name = format!("b{step}");
                    engine.create_branch("repo", &name, &branch).await.unwrap();
                    branches.push(name);
                }
                7 => {
                    let other = branches[rng.usize(..branches.len())].clone();
                    let _ = engine
                        .commit("repo", &other, CommitRequest::new("pre-merge", "t"))
                        .await;
                    let _ = engine
                        .merge("repo", &other, &branch, MergeRequest::default())
                        .await;
                }
                8 if branch != "main" => {
                    if rng.bool() {
                        let tag = format!("t{step}");
                        if engine.create_tag("repo", &tag, &branch).await.is_ok() {
                            tags.push(tag);
                        }
                    }
                    engine.delete_branch("repo", &branch).await.unwrap();
                    branches.retain(|b| *b != branch);
                }
                _ => {
                    engine.collect_garbage("repo", &no_grace()).await.unwrap();
                    for r in branches.iter().chain(tags.iter()) {
                        read_all(&engine, r).await;
                        let log = engine
                            .log(
                                "repo",
                                r,
                                &LogOptions {
                                    limit: 1000,
                                    ..Default::default()
                                },
                            )
                            .await
                            .unwrap();
                        for (id, _) in &log.commits {
                            read_all(&engine, id).await;
                        }
                    }
                }
            }
        }
    }
}
