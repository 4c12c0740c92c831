//! The storage seam: an `s3://` namespace served by an object store other than the local
//! disk (here `object_store`'s in-memory store, and one that fails on command). Every write
//! path (small inline objects, single PUTs, streamed multipart bodies, multipart uploads),
//! reads, commits and garbage collection go through it; a failing store refuses cleanly and
//! leaves nothing half-visible.

mod common;

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use futures::TryStreamExt;
use object_store::memory::InMemory;
use object_store::{ObjectStore, ObjectStoreExt};
use sluice_meta::kv::memory::MemoryKv;
use sluice_meta::testing::FailingStore;
use sluice_meta::{CommitRequest, Engine, ErrorKind, GcOptions, PutOptions};

const NAMESPACE: &str = "s3://lake-bucket/teams/a";

fn engine_over(store: Arc<dyn ObjectStore>, dir: &std::path::Path) -> Engine {
    Engine::builder(Arc::new(MemoryKv::new()), dir)
        .with_min_part_size(1)
        .with_bucket_store("lake-bucket", store)
        .build()
}

fn body(len: usize, seed: u8) -> Vec<u8> {
    (0..len)
        .map(|i| (i as u8).wrapping_mul(31) ^ seed)
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_write_path_lands_in_the_namespace_store() {
    let dir = tempfile::tempdir().unwrap();
    let memory = Arc::new(InMemory::new());
    let engine = engine_over(memory.clone(), dir.path());
    engine
        .create_repository("repo", NAMESPACE, "main")
        .await
        .unwrap();

    let small = body(100, 1);
    let medium = body(200_000, 2);
    // Over the single-PUT limit: streamed as the backend's multipart upload.
    let large = body(9 * 1024 * 1024, 3);
    for (path, bytes) in [("s", &small), ("m", &medium), ("l", &large)] {
        engine
            .put_bytes("repo", "main", path, bytes.clone(), PutOptions::default())
            .await
            .unwrap();
    }
    // An S3 multipart upload of two parts.
    let upload = engine
        .create_upload("repo", "main", "mp", PutOptions::default())
        .await
        .unwrap();
    let mut etags = Vec::new();
    for (n, part) in [(1u32, body(300_000, 4)), (2, body(1000, 5))] {
        let stream = futures::stream::once(async move { Ok(Bytes::from(part)) });
        let p = engine
            .upload_part("repo", &upload.id, n, stream, Default::default())
            .await
            .unwrap();
        etags.push((n, p.etag));
    }
    engine
        .complete_upload("repo", &upload.id, &etags)
        .await
        .unwrap();
    engine
        .commit("repo", "main", CommitRequest::new("all kinds", "t"))
        .await
        .unwrap();

    assert_eq!(common::read_path(&engine, "main", "s").await, small);
    assert_eq!(common::read_path(&engine, "main", "m").await, medium);
    assert_eq!(common::read_path(&engine, "main", "l").await, large);
    let mut joined = body(300_000, 4);
    joined.extend(body(1000, 5));
    assert_eq!(common::read_path(&engine, "main", "mp").await, joined);

    // The bytes are in the bucket's store, under the namespace's prefix; the small object
    // lives in the metadata store.
    let stored: Vec<_> = memory.list(None).try_collect().await.unwrap();
    assert!(stored.len() >= 4, "{stored:?}");
    for meta in &stored {
        assert!(
            meta.location.as_ref().starts_with("teams/a/data/"),
            "{}",
            meta.location
        );
    }
    let entry = engine.stat_object("repo", "main", "l").await.unwrap();
    let raw = memory
        .get(&format!("teams/a/{}", entry.address).into())
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap();
    assert_eq!(raw.len(), large.len());

    // Bytes no commit and no staging area points at (a staged object replaced before its
    // commit) are garbage, and GC removes them from the store.
    let replaced = engine
        .put_bytes(
            "repo",
            "main",
            "tmp",
            body(50_000, 8),
            PutOptions::default(),
        )
        .await
        .unwrap();
    engine
        .put_bytes(
            "repo",
            "main",
            "tmp",
            body(50_000, 9),
            PutOptions::default(),
        )
        .await
        .unwrap();
    engine
        .commit("repo", "main", CommitRequest::new("tmp", "t"))
        .await
        .unwrap();
    let report = engine
        .collect_garbage(
            "repo",
            &GcOptions {
                grace: Duration::ZERO,
                dry_run: false,
            },
        )
        .await
        .unwrap();
    assert!(report.deleted >= 1, "{report:?}");
    assert!(
        memory
            .head(&format!("teams/a/{}", replaced.address).into())
            .await
            .is_err(),
        "the replaced object's bytes are gone"
    );
    assert_eq!(common::read_path(&engine, "main", "m").await, medium);
    assert_eq!(common::read_path(&engine, "main", "mp").await, joined);
    assert_eq!(common::read_path(&engine, "main", "l").await, large);
    assert_eq!(
        common::read_path(&engine, "main", "tmp").await,
        body(50_000, 9)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unreachable_store_refuses_writes_cleanly_and_recovers() {
    let dir = tempfile::tempdir().unwrap();
    let failing = Arc::new(FailingStore::new(Arc::new(InMemory::new())));
    let engine = engine_over(failing.clone(), dir.path());
    engine
        .create_repository("repo", NAMESPACE, "main")
        .await
        .unwrap();
    engine
        .put_bytes(
            "repo",
            "main",
            "kept",
            body(100_000, 1),
            PutOptions::default(),
        )
        .await
        .unwrap();

    failing.set_failing(true);
    for len in [100_000, 9 * 1024 * 1024] {
        let err = engine
            .put_bytes("repo", "main", "lost", body(len, 2), PutOptions::default())
            .await
            .unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Unavailable, "{err}");
    }
    let entry = engine.stat_object("repo", "main", "kept").await.unwrap();
    let err = match engine.read_object("repo", &entry, None).await {
        Ok(stream) => stream.try_collect::<Vec<_>>().await.unwrap_err(),
        Err(e) => e,
    };
    assert_eq!(err.kind(), ErrorKind::Unavailable, "{err}");
    // Nothing of the refused writes is visible.
    assert_eq!(
        engine
            .stat_object("repo", "main", "lost")
            .await
            .unwrap_err()
            .kind(),
        ErrorKind::NotFound
    );

    failing.set_failing(false);
    engine
        .put_bytes("repo", "main", "lost", body(1000, 3), PutOptions::default())
        .await
        .unwrap();
    engine
        .commit("repo", "main", CommitRequest::new("after recovery", "t"))
        .await
        .unwrap();
    assert_eq!(
        common::read_path(&engine, "main", "kept").await,
        body(100_000, 1)
    );
    assert_eq!(
        common::read_path(&engine, "main", "lost").await,
        body(1000, 3)
    );
}

/// A large write whose connection drops after 3 MiB is refused and leaves nothing visible;
/// a stalled store slows its own writes, not commits beside them; both recover.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_write_cut_midway_or_stalled_leaves_nothing_half_visible() {
    let dir = tempfile::tempdir().unwrap();
    let failing = Arc::new(FailingStore::new(Arc::new(InMemory::new())));
    let engine = engine_over(failing.clone(), dir.path());
    engine
        .create_repository("repo", NAMESPACE, "main")
        .await
        .unwrap();
    failing.fail_after_bytes(Some(3 * 1024 * 1024));
    let err = engine
        .put_bytes(
            "repo",
            "main",
            "cut",
            body(12 * 1024 * 1024, 4),
            PutOptions::default(),
        )
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Unavailable, "{err}");
    assert_eq!(
        engine
            .stat_object("repo", "main", "cut")
            .await
            .unwrap_err()
            .kind(),
        ErrorKind::NotFound
    );
    failing.fail_after_bytes(None);
    engine
        .put_bytes(
            "repo",
            "main",
            "cut",
            body(12 * 1024 * 1024, 5),
            PutOptions::default(),
        )
        .await
        .unwrap();
    assert_eq!(
        common::read_path(&engine, "main", "cut").await,
        body(12 * 1024 * 1024, 5)
    );

    // A stalled store: a write waits; a commit of another branch does not wait for it.
    engine.create_branch("repo", "other", "main").await.unwrap();
    engine
        .put_bytes("repo", "other", "x", body(10, 6), PutOptions::default())
        .await
        .unwrap();
    failing.set_stalled(true);
    let slow = {
        let engine = engine.clone();
        tokio::spawn(async move {
            engine
                .put_bytes(
                    "repo",
                    "main",
                    "slow",
                    body(200_000, 7),
                    PutOptions::default(),
                )
                .await
        })
    };
    engine
        .commit("repo", "other", CommitRequest::new("beside a stall", "t"))
        .await
        .unwrap();
    assert!(
        !slow.is_finished(),
        "the write should still be waiting on the store"
    );
    failing.set_stalled(false);
    slow.await.unwrap().unwrap();
    assert_eq!(
        common::read_path(&engine, "main", "slow").await,
        body(200_000, 7)
    );
}
