//! Import without copying: a local folder or an S3 prefix becomes one commit of entries
//! that point at the source; nothing is copied, garbage collection leaves the source
//! alone, what the branch held under the destination is replaced, and a cancel and the
//! commit never both win.

mod common;

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use object_store::memory::InMemory;
use object_store::{ObjectStore, ObjectStoreExt, PutPayload};
use sluice_meta::testing::TestStore;
use sluice_meta::{
    CommitRequest, DiffOptions, Engine, ErrorKind, GcOptions, ImportKind, ImportLocation,
    ImportRequest, ImportStatus,
};

struct Fixture {
    engine: Engine,
    _dir: tempfile::TempDir,
    /// The folder imports may read from.
    lake: std::path::PathBuf,
    storage: std::path::PathBuf,
}

async fn fixture(bucket: Option<Arc<dyn ObjectStore>>) -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let lake = dir.path().join("lake");
    std::fs::create_dir_all(&lake).unwrap();
    let storage = dir.path().join("storage");
    let kv = TestStore::from_env().open(dir.path()).await;
    let mut builder = Engine::builder(kv, &storage).with_import_roots(vec![lake.clone()]);
    if let Some(store) = bucket {
        builder = builder.with_bucket_store("source-bucket", store);
    }
    let engine = builder.build();
    engine
        .create_repository("repo", "local://repo", "main")
        .await
        .unwrap();
    Fixture {
        engine,
        _dir: dir,
        lake,
        storage,
    }
}

fn request(source: &str, destination: &str) -> ImportRequest {
    ImportRequest {
        locations: vec![ImportLocation {
            kind: ImportKind::CommonPrefix,
            source: source.to_string(),
            destination: destination.to_string(),
        }],
        commit: CommitRequest::new("import", "tester"),
    }
}

async fn wait(engine: &Engine, id: &str) -> ImportStatus {
    for _ in 0..600 {
        let status = engine.import_status("repo", "main", id).await.unwrap();
        if status.completed || status.error.is_some() {
            return status;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("import {id} did not finish");
}

fn folder_bytes(dir: &Path) -> u64 {
    let mut total = 0;
    let mut pending = vec![dir.to_path_buf()];
    while let Some(d) = pending.pop() {
        let Ok(items) = std::fs::read_dir(&d) else {
            continue;
        };
        for item in items.flatten() {
            let meta = item.metadata().unwrap();
            if meta.is_dir() {
                pending.push(item.path());
            } else {
                total += meta.len();
            }
        }
    }
    total
}

fn write_files(root: &Path, count: usize) -> Vec<(String, Vec<u8>)> {
    (0..count)
        .map(|i| {
            let relative = format!("day={}/part-{i:05}.csv", i % 3);
            let body = format!("id,value\n{i},{}\n", i * 7).repeat(40).into_bytes();
            let path = root.join(&relative);
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(&path, &body).unwrap();
            (relative, body)
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_local_folder_lands_as_one_commit_without_copying() {
    let f = fixture(None).await;
    let e = &f.engine;
    // The branch already holds something under the destination, and beside it.
    common::put(e, "main", "tables/reviews/stale.csv", "old").await;
    common::put(e, "main", "other/keep.txt", "kept").await;
    let before = common::commit(e, "main", "before").await;
    common::put(e, "main", "other/staged.txt", "staged").await;
    let files = write_files(&f.lake.join("reviews"), 300);
    let stored_before = folder_bytes(&f.storage);

    let source = format!("file://{}/reviews/", f.lake.display());
    let id = e
        .start_import("repo", "main", request(&source, "tables/reviews/"))
        .await
        .unwrap();
    let status = wait(e, &id).await;
    assert!(status.completed, "{status:?}");
    assert_eq!(status.ingested, 300);

    // One commit on top of the old head, named in the status.
    let (head, commit) = e.get_commit("repo", "main").await.unwrap();
    assert_eq!(status.commit.as_deref(), Some(head.as_str()));
    assert_eq!(commit.parents, vec![before]);
    assert_eq!(status.tree.as_deref(), Some(commit.tree.as_str()));
    // Every file reads back through the branch; the stale object is gone, the rest kept.
    for (relative, body) in files.iter().step_by(37) {
        let path = format!("tables/reviews/{relative}");
        assert_eq!(&common::read_path(e, "main", &path).await, body, "{path}");
        let entry = e.stat_object("repo", "main", &path).await.unwrap();
        assert_eq!(
            entry.etag,
            format!("{:x}", md5::Md5::digest(body)),
            "the ETag is the content's MD5"
        );
    }
    let stale = e
        .stat_object("repo", "main", "tables/reviews/stale.csv")
        .await;
    assert_eq!(stale.unwrap_err().kind(), ErrorKind::NotFound);
    assert_eq!(
        common::read_path(e, "main", "other/keep.txt").await,
        b"kept"
    );
    // The uncommitted change stays uncommitted, on top of the import.
    let pending = e
        .diff_uncommitted("repo", "main", &DiffOptions::default())
        .await
        .unwrap();
    let paths: Vec<_> = pending.changes.iter().map(|c| c.path.as_str()).collect();
    assert_eq!(paths, vec!["other/staged.txt"]);
    // No byte was copied into Sluice's storage.
    assert_eq!(folder_bytes(&f.storage), stored_before);

    // Garbage collection with no grace leaves the source alone, and it still reads.
    let report = e
        .collect_garbage(
            "repo",
            &GcOptions {
                grace: Duration::ZERO,
                dry_run: false,
            },
        )
        .await
        .unwrap();
    assert_eq!(report.deleted, 0, "{report:?}");
    for (relative, body) in &files {
        assert_eq!(
            &std::fs::read(f.lake.join("reviews").join(relative)).unwrap(),
            body
        );
    }
    let (relative, body) = &files[299];
    let path = format!("tables/reviews/{relative}");
    assert_eq!(&common::read_path(e, "main", &path).await, body);
}

use md5::Digest;

/// Uncommitted changes folded into the branch's tree stay uncommitted over an import, as
/// staged ones do.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn folded_changes_stay_uncommitted_over_an_import() {
    let f = fixture(None).await;
    let e = &f.engine;
    common::put(e, "main", "other/a.txt", "a").await;
    common::put(e, "main", "other/b.txt", "b").await;
    common::commit(e, "main", "before").await;
    assert!(
        e.delete_object("repo", "main", "other/a.txt")
            .await
            .unwrap()
    );
    common::put(e, "main", "other/c.txt", "c").await;
    assert!(e.fold("repo", "main").await.unwrap());
    let files = write_files(&f.lake.join("reviews"), 20);
    let source = format!("file://{}/reviews/", f.lake.display());
    let id = e
        .start_import("repo", "main", request(&source, "tables/reviews/"))
        .await
        .unwrap();
    assert!(wait(e, &id).await.completed);
    let pending = e
        .diff_uncommitted("repo", "main", &DiffOptions::default())
        .await
        .unwrap();
    let paths: Vec<_> = pending.changes.iter().map(|c| c.path.as_str()).collect();
    assert_eq!(paths, vec!["other/a.txt", "other/c.txt"]);
    let shown: Vec<String> = common::list_all(e, "main", 100)
        .await
        .into_iter()
        .map(|(p, _)| p)
        .collect();
    assert_eq!(shown.len(), 22, "{shown:?}");
    assert!(!shown.contains(&"other/a.txt".to_string()));
    let (relative, body) = &files[7];
    assert_eq!(
        &common::read_path(e, "main", &format!("tables/reviews/{relative}")).await,
        body
    );
    let (commit, _) = e
        .commit("repo", "main", CommitRequest::new("after", "tester"))
        .await
        .unwrap();
    assert_eq!(common::list_all(e, &commit, 100).await.len(), 22);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sources_outside_the_allowed_folders_are_refused() {
    let f = fixture(None).await;
    let e = &f.engine;
    let outside = tempfile::tempdir().unwrap();
    std::fs::write(outside.path().join("secret"), "x").unwrap();
    let cases = [
        (
            format!("file://{}/", outside.path().display()),
            ErrorKind::Forbidden,
        ),
        ("file:///etc/".to_string(), ErrorKind::Forbidden),
        (
            format!("file://{}/", f.storage.display()),
            ErrorKind::Forbidden,
        ),
        ("file://relative/path".to_string(), ErrorKind::Invalid),
        (
            format!("file://{}/../x", f.lake.display()),
            ErrorKind::Invalid,
        ),
        ("ftp://host/x".to_string(), ErrorKind::Invalid),
        (
            format!("file://{}/missing/", f.lake.display()),
            ErrorKind::NotFound,
        ),
    ];
    for (source, kind) in cases {
        let err = e
            .start_import("repo", "main", request(&source, "x/"))
            .await
            .unwrap_err();
        assert_eq!(err.kind(), kind, "{source}: {err}");
    }
    // An empty list of sources, a protected branch, a missing branch.
    let mut empty = request("file:///x", "x/");
    empty.locations.clear();
    assert_eq!(
        e.start_import("repo", "main", empty)
            .await
            .unwrap_err()
            .kind(),
        ErrorKind::Invalid
    );
    let source = format!("file://{}/", f.lake.display());
    assert_eq!(
        e.start_import("repo", "nope", request(&source, "x/"))
            .await
            .unwrap_err()
            .kind(),
        ErrorKind::NotFound
    );
    e.set_branch_protection("repo", vec!["main".into()])
        .await
        .unwrap();
    assert_eq!(
        e.start_import("repo", "main", request(&source, "x/"))
            .await
            .unwrap_err()
            .kind(),
        ErrorKind::Forbidden
    );
    // Unknown ids.
    assert_eq!(
        e.import_status("repo", "main", "nope")
            .await
            .unwrap_err()
            .kind(),
        ErrorKind::NotFound
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_s3_prefix_and_a_single_object_import_from_the_bucket() {
    let bucket = Arc::new(InMemory::new());
    for i in 0..50 {
        bucket
            .put(
                &format!("raw/events/e-{i:03}.json").into(),
                PutPayload::from(format!("{{\"n\":{i}}}").into_bytes()),
            )
            .await
            .unwrap();
    }
    // A key that shares the prefix as a string but not as a folder is not part of it.
    bucket
        .put(
            &"raw/events-old/x.json".into(),
            PutPayload::from_static(b"no"),
        )
        .await
        .unwrap();
    bucket
        .put(&"raw/events/".into(), PutPayload::from_static(b""))
        .await
        .unwrap();
    let f = fixture(Some(bucket.clone())).await;
    let e = &f.engine;
    let mut req = request("s3://source-bucket/raw/events/", "events/");
    req.locations.push(ImportLocation {
        kind: ImportKind::Object,
        source: "s3://source-bucket/raw/events-old/x.json".into(),
        destination: "old.json".into(),
    });
    let id = e.start_import("repo", "main", req).await.unwrap();
    let status = wait(e, &id).await;
    assert!(status.completed, "{status:?}");
    let listed = common::list_all(e, "main", 100).await;
    assert_eq!(listed.len(), 51, "{listed:?}");
    assert_eq!(
        common::read_path(e, "main", "events/e-007.json").await,
        b"{\"n\":7}"
    );
    assert_eq!(common::read_path(e, "main", "old.json").await, b"no");
    let entry = e
        .stat_object("repo", "main", "events/e-007.json")
        .await
        .unwrap();
    assert_eq!(entry.address, "s3://source-bucket/raw/events/e-007.json");
    // Branches share the imported entries like any other.
    e.create_branch("repo", "dev", "main").await.unwrap();
    assert_eq!(
        common::read_path(e, "dev", "events/e-049.json").await,
        b"{\"n\":49}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cancel_and_the_commit_never_both_win() {
    let f = fixture(None).await;
    let e = &f.engine;
    write_files(&f.lake.join("big"), 2000);
    let head = e.get_commit("repo", "main").await.unwrap().0;
    let source = format!("file://{}/big/", f.lake.display());
    let id = e
        .start_import("repo", "main", request(&source, "big/"))
        .await
        .unwrap();
    let cancelled = e.cancel_import("repo", "main", &id).await;
    let status = wait(e, &id).await;
    let now = e.get_commit("repo", "main").await.unwrap().0;
    match cancelled {
        Ok(()) => {
            assert!(!status.completed);
            assert_eq!(status.error.as_deref(), Some("import canceled"));
            assert_eq!(now, head, "a cancelled import commits nothing");
        }
        Err(err) => {
            assert_eq!(err.kind(), ErrorKind::Conflict, "{err}");
            assert!(status.completed);
            assert_ne!(now, head);
        }
    }
    // A completed import cannot be cancelled.
    let id = e
        .start_import("repo", "main", request(&source, "again/"))
        .await
        .unwrap();
    assert!(wait(e, &id).await.completed);
    assert_eq!(
        e.cancel_import("repo", "main", &id)
            .await
            .unwrap_err()
            .kind(),
        ErrorKind::Conflict
    );
}
