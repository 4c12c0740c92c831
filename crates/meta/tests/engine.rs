//! The engine's operations, end to end over the in-memory KV and a local namespace.

mod common;

use common::*;
use sluice_meta::{
    ChangeKind, CommitRequest, DiffOptions, ErrorDetail, ErrorKind, ListItem, ListOptions,
    LogOptions, MergeRequest, MergeStrategy, PageRequest, PutOptions, WriteCondition,
};

#[tokio::test]
async fn repositories() {
    let (engine, _dir) = engine().await;
    let repo = engine.repository("repo").await.unwrap();
    assert_eq!(repo.default_branch, "main");
    let err = engine
        .create_repository("repo", "local://other", "main")
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::AlreadyExists);
    let err = engine
        .create_repository("second", "local://repo", "main")
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Conflict, "namespace reuse");
    for (name, ns, branch) in [
        ("Bad_Name", "local://x", "main"),
        ("ok-name", "ftp://x", "main"),
        ("ok-name", "local://x", "bad/branch"),
    ] {
        let err = engine
            .create_repository(name, ns, branch)
            .await
            .unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Invalid, "{name} {ns} {branch}");
    }
    engine
        .create_repository("second", "local://second", "trunk")
        .await
        .unwrap();
    let names: Vec<_> = engine
        .list_repositories(&PageRequest::first(100))
        .await
        .unwrap()
        .items
        .into_iter()
        .map(|r| r.name)
        .collect();
    assert_eq!(names, ["repo", "second"]);
    engine.delete_repository("second").await.unwrap();
    assert_eq!(
        engine.repository("second").await.unwrap_err().kind(),
        ErrorKind::NotFound
    );
    // A new repository of the same name starts empty.
    engine
        .create_repository("second", "local://second2", "main")
        .await
        .unwrap();
    assert_eq!(
        engine
            .list_branches("second", &PageRequest::first(10))
            .await
            .unwrap()
            .items
            .len(),
        1
    );
}

#[tokio::test]
async fn branches_are_isolated() {
    let (engine, _dir) = engine().await;
    put(&engine, "main", "a.txt", "A").await;
    commit(&engine, "main", "first").await;
    engine.create_branch("repo", "dev", "main").await.unwrap();
    put(&engine, "dev", "b.txt", "B").await;
    engine.delete_object("repo", "dev", "a.txt").await.unwrap();
    assert_eq!(contents(&engine, "dev").await, pairs(&[("b.txt", "B")]));
    assert_eq!(contents(&engine, "main").await, pairs(&[("a.txt", "A")]));
    commit(&engine, "dev", "dev work").await;
    assert_eq!(contents(&engine, "main").await, pairs(&[("a.txt", "A")]));
    assert_eq!(contents(&engine, "dev").await, pairs(&[("b.txt", "B")]));

    let err = engine
        .create_branch("repo", "dev", "main")
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::AlreadyExists);
    let err = engine
        .create_branch("repo", "x y", "main")
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Invalid);
    let err = engine.create_branch("repo", "x", "nope").await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::NotFound);
    let err = engine.delete_branch("repo", "main").await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Invalid);
    engine.delete_branch("repo", "dev").await.unwrap();
    assert_eq!(
        engine.branch("repo", "dev").await.unwrap_err().kind(),
        ErrorKind::NotFound
    );
}

#[tokio::test]
async fn listing_with_delimiter_and_paging() {
    let (engine, _dir) = engine().await;
    for p in ["a/1", "a/2", "a/b/3", "b", "c/", "c/x", "d/e/f"] {
        put(&engine, "main", p, p).await;
    }
    commit(&engine, "main", "tree").await;
    put(&engine, "main", "a/0", "staged").await;
    engine.delete_object("repo", "main", "b").await.unwrap();

    let list = |prefix: &str, delimiter: Option<&str>, after: Option<&str>, limit| {
        let engine = engine.clone();
        let opts = ListOptions {
            prefix: prefix.into(),
            delimiter: delimiter.map(str::to_string),
            after: after.map(str::to_string),
            limit,
        };
        async move {
            let page = engine.list_objects("repo", "main", &opts).await.unwrap();
            (
                page.items
                    .iter()
                    .map(|i| match i {
                        ListItem::Object(p, _) => p.clone(),
                        ListItem::Prefix(p) => format!("[{p}]"),
                    })
                    .collect::<Vec<_>>(),
                page.has_more,
            )
        }
    };
    assert_eq!(
        list("", Some("/"), None, 100).await,
        (vec!["[a/]".into(), "[c/]".into(), "[d/]".into()], false)
    );
    assert_eq!(
        list("a/", Some("/"), None, 100).await,
        (
            vec!["a/0".into(), "a/1".into(), "a/2".into(), "[a/b/]".into()],
            false
        )
    );
    assert_eq!(
        list("", None, None, 3).await,
        (vec!["a/0".into(), "a/1".into(), "a/2".into()], true)
    );
    assert_eq!(
        list("", Some("/"), Some("a/"), 1).await,
        (vec!["[c/]".into()], true)
    );
    assert_eq!(
        list("c/", Some("/"), None, 10).await,
        (vec!["c/".into(), "c/x".into()], false),
        "a directory marker beside keys under it"
    );
    assert_eq!(
        list("", Some("e"), None, 10).await.0,
        vec!["a/0", "a/1", "a/2", "a/b/3", "c/", "c/x", "[d/e]"]
    );
    // A commit id reads without staging; the branch at `@` too.
    let (head, _) = engine.get_commit("repo", "main").await.unwrap();
    let committed: Vec<_> = contents(&engine, &head)
        .await
        .into_iter()
        .map(|p| p.0)
        .collect();
    assert!(committed.contains(&"b".to_string()) && !committed.contains(&"a/0".to_string()));
    assert_eq!(contents(&engine, "main@").await.len(), committed.len());
}

#[tokio::test]
async fn commits_log_and_refs() {
    let (engine, _dir) = engine().await;
    let err = engine
        .commit("repo", "main", CommitRequest::new("nothing", "t"))
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Invalid, "empty commit refused");
    let mut req = CommitRequest::new("empty on purpose", "t");
    req.allow_empty = true;
    let (c0, _) = engine.commit("repo", "main", req).await.unwrap();

    put(&engine, "main", "x", "1").await;
    let c1 = commit(&engine, "main", "one").await;
    put(&engine, "main", "x", "2").await;
    let c2 = commit(&engine, "main", "two").await;
    // A put and a delete of the same new path is no change.
    put(&engine, "main", "tmp", "t").await;
    engine.delete_object("repo", "main", "tmp").await.unwrap();
    let err = engine
        .commit("repo", "main", CommitRequest::new("noop", "t"))
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Invalid);

    assert_eq!(
        engine.resolve_ref("repo", "main~1").await.unwrap().commit,
        c1
    );
    assert_eq!(
        engine.resolve_ref("repo", "main^").await.unwrap().commit,
        c1
    );
    assert_eq!(
        engine.resolve_ref("repo", "main~2").await.unwrap().commit,
        c0
    );
    assert_eq!(
        engine.resolve_ref("repo", &c2[..10]).await.unwrap().commit,
        c2
    );
    assert_eq!(
        engine
            .resolve_ref("repo", "main~9")
            .await
            .unwrap_err()
            .kind(),
        ErrorKind::NotFound
    );
    assert_eq!(
        engine
            .resolve_ref("repo", "nothing")
            .await
            .unwrap_err()
            .kind(),
        ErrorKind::NotFound
    );
    engine.create_tag("repo", "v1", &c1).await.unwrap();
    assert_eq!(
        engine
            .create_tag("repo", "v1", "main")
            .await
            .unwrap_err()
            .kind(),
        ErrorKind::AlreadyExists
    );
    assert_eq!(contents(&engine, "v1").await, pairs(&[("x", "1")]));
    assert_eq!(
        engine
            .list_tags("repo", &PageRequest::first(10))
            .await
            .unwrap()
            .items
            .len(),
        1
    );
    engine.delete_tag("repo", "v1").await.unwrap();
    assert!(
        engine
            .list_tags("repo", &PageRequest::first(10))
            .await
            .unwrap()
            .items
            .is_empty()
    );

    let log = engine
        .log("repo", "main", &LogOptions::default())
        .await
        .unwrap();
    let messages: Vec<_> = log
        .commits
        .iter()
        .map(|(_, c)| c.message.as_str())
        .collect();
    assert_eq!(
        messages,
        ["two", "one", "empty on purpose", "Repository created"]
    );
    let page = engine
        .log(
            "repo",
            "main",
            &LogOptions {
                after: Some(c2.clone()),
                limit: 1,
                ..Default::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(page.commits[0].0, c1);
    assert!(page.has_more);
}

#[tokio::test]
async fn diff_and_uncommitted() {
    let (engine, _dir) = engine().await;
    for i in 0..3000 {
        put_quiet(&engine, &format!("data/{i:05}"), "v1").await;
    }
    let c1 = commit(&engine, "main", "bulk").await;
    put(&engine, "main", "data/00010", "v2").await;
    engine
        .delete_object("repo", "main", "data/00020")
        .await
        .unwrap();
    put(&engine, "main", "other/new", "n").await;
    let page = engine
        .diff_uncommitted("repo", "main", &DiffOptions::default())
        .await
        .unwrap();
    let kinds: Vec<_> = page
        .changes
        .iter()
        .map(|c| (c.path.as_str(), c.kind))
        .collect();
    assert_eq!(
        kinds,
        [
            ("data/00010", ChangeKind::Changed),
            ("data/00020", ChangeKind::Removed),
            ("other/new", ChangeKind::Added)
        ]
    );
    let c2 = commit(&engine, "main", "edits").await;
    let page = engine
        .diff("repo", &c1, &c2, &DiffOptions::default())
        .await
        .unwrap();
    assert_eq!(page.changes.len(), 3);
    let page = engine
        .diff(
            "repo",
            &c1,
            &c2,
            &DiffOptions {
                prefix: "data/".into(),
                limit: 1,
                ..Default::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(page.changes.len(), 1);
    assert!(page.has_more);
    let page = engine
        .diff(
            "repo",
            &c1,
            &c2,
            &DiffOptions {
                prefix: "data/".into(),
                after: Some("data/00010".into()),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(page.changes.len(), 1);
    assert_eq!(page.changes[0].path, "data/00020");
    // Reverse direction swaps added and removed.
    let page = engine
        .diff("repo", &c2, &c1, &DiffOptions::default())
        .await
        .unwrap();
    assert_eq!(page.changes[2].kind, ChangeKind::Removed);
}

async fn put_quiet(engine: &sluice_meta::Engine, path: &str, body: &str) {
    // Stage metadata only, pointing at a shared object, to keep the test fast.
    let entry = sluice_meta::Entry::new(format!("data/shared/{body}"), body.len() as u64, body);
    engine
        .stage_entry("repo", "main", path, entry, &WriteCondition::Always)
        .await
        .unwrap();
}

#[tokio::test]
async fn merge_three_way_and_strategies() {
    let (engine, _dir) = engine().await;
    put(&engine, "main", "shared", "base").await;
    put(&engine, "main", "conflict", "base").await;
    commit(&engine, "main", "base").await;
    engine
        .create_branch("repo", "feature", "main")
        .await
        .unwrap();
    put(&engine, "feature", "new-on-feature", "f").await;
    put(&engine, "feature", "conflict", "feature").await;
    commit(&engine, "feature", "feature work").await;
    put(&engine, "main", "new-on-main", "m").await;
    put(&engine, "main", "conflict", "main").await;
    commit(&engine, "main", "main work").await;

    let err = engine
        .merge("repo", "feature", "main", MergeRequest::default())
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Conflict);
    assert_eq!(
        err.detail(),
        Some(&ErrorDetail::Conflicts(vec!["conflict".into()]))
    );
    let before = contents(&engine, "main").await;

    let err = engine
        .merge("repo", "main", "main", MergeRequest::default())
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Invalid, "merge into itself");

    // Uncommitted changes on the destination block a merge.
    put(&engine, "main", "dirty", "d").await;
    let err = engine
        .merge("repo", "feature", "main", MergeRequest::default())
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Conflict);
    engine.reset_branch("repo", "main").await.unwrap();
    assert_eq!(contents(&engine, "main").await, before);

    let (id, merge_commit) = engine
        .merge(
            "repo",
            "feature",
            "main",
            MergeRequest {
                strategy: MergeStrategy::DestWins,
                ..Default::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(merge_commit.parents.len(), 2);
    assert_eq!(
        contents(&engine, "main").await,
        pairs(&[
            ("conflict", "main"),
            ("new-on-feature", "f"),
            ("new-on-main", "m"),
            ("shared", "base")
        ])
    );
    // Merging again brings nothing.
    let err = engine
        .merge("repo", "feature", "main", MergeRequest::default())
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Invalid);

    // Source-wins on a fresh pair of branches.
    engine.create_branch("repo", "f2", &id).await.unwrap();
    put(&engine, "f2", "conflict", "f2").await;
    commit(&engine, "f2", "f2").await;
    put(&engine, "main", "conflict", "main2").await;
    commit(&engine, "main", "main2").await;
    engine
        .merge(
            "repo",
            "f2",
            "main",
            MergeRequest {
                strategy: MergeStrategy::SourceWins,
                ..Default::default()
            },
        )
        .await
        .unwrap();
    let merged = contents(&engine, "main").await;
    assert!(merged.contains(&("conflict".to_string(), "f2".to_string())));
    assert_eq!(
        engine
            .merge_base("repo", "f2", "main")
            .await
            .unwrap()
            .unwrap(),
        engine.resolve_ref("repo", "f2").await.unwrap().commit
    );
}

#[tokio::test]
async fn revert_and_reset() {
    let (engine, _dir) = engine().await;
    put(&engine, "main", "a", "1").await;
    commit(&engine, "main", "a1").await;
    put(&engine, "main", "a", "2").await;
    put(&engine, "main", "b", "new").await;
    let c2 = commit(&engine, "main", "a2").await;
    put(&engine, "main", "c", "later").await;
    commit(&engine, "main", "c").await;
    engine
        .revert("repo", "main", &c2, None, CommitRequest::new("", "t"))
        .await
        .unwrap();
    assert_eq!(
        contents(&engine, "main").await,
        pairs(&[("a", "1"), ("c", "later")])
    );
    let err = engine
        .revert("repo", "main", &c2, None, CommitRequest::new("", "t"))
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Invalid, "nothing left to revert");

    put(&engine, "main", "keep/x", "x").await;
    put(&engine, "main", "drop/y", "y").await;
    engine.reset_prefix("repo", "main", "drop/").await.unwrap();
    assert!(
        contents(&engine, "main")
            .await
            .contains(&("keep/x".into(), "x".into()))
    );
    assert!(
        !contents(&engine, "main")
            .await
            .iter()
            .any(|(p, _)| p == "drop/y")
    );
    engine.reset_branch("repo", "main").await.unwrap();
    assert!(
        !contents(&engine, "main")
            .await
            .iter()
            .any(|(p, _)| p == "keep/x")
    );
    let b = engine
        .reset_branch_to("repo", "main", "main~1")
        .await
        .unwrap();
    assert_eq!(
        b.head,
        engine.resolve_ref("repo", "main").await.unwrap().commit
    );
}

#[tokio::test]
async fn conditional_writes_and_copy() {
    let (engine, _dir) = engine().await;
    let cond = |c| PutOptions {
        condition: c,
        ..Default::default()
    };
    let e = engine
        .put_bytes("repo", "main", "k", "one", cond(WriteCondition::IfAbsent))
        .await
        .unwrap();
    assert_eq!(e.etag, format!("{:x}", md5_of(b"one")));
    let err = engine
        .put_bytes("repo", "main", "k", "two", cond(WriteCondition::IfAbsent))
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::PreconditionFailed);
    let err = engine
        .put_bytes(
            "repo",
            "main",
            "k",
            "two",
            cond(WriteCondition::IfETag("nope".into())),
        )
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::PreconditionFailed);
    engine
        .put_bytes(
            "repo",
            "main",
            "k",
            "two",
            cond(WriteCondition::IfETag(e.etag.clone())),
        )
        .await
        .unwrap();
    commit(&engine, "main", "k").await;
    engine.create_branch("repo", "dev", "main").await.unwrap();
    let copied = engine
        .copy_object("repo", "main", "k", "dev", "k-copy", None)
        .await
        .unwrap();
    let original = engine.stat_object("repo", "main", "k").await.unwrap();
    assert_eq!(copied.address, original.address, "copy moves no bytes");
    assert_eq!(read(&engine, &copied).await, "two");
    assert_eq!(
        engine
            .stat_object("repo", "main", "k-copy")
            .await
            .unwrap_err()
            .kind(),
        ErrorKind::NotFound
    );
    let err = engine
        .put_bytes("repo", "main", "", "x", PutOptions::default())
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Invalid);
    let err = engine
        .put_bytes("repo", "nope", "x", "x", PutOptions::default())
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::NotFound);
}

fn md5_of(b: &[u8]) -> md5_hex::Hex {
    md5_hex::Hex(b.to_vec())
}

mod md5_hex {
    pub struct Hex(pub Vec<u8>);
    impl std::fmt::LowerHex for Hex {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            use md5::Digest;
            for b in md5::Md5::digest(&self.0) {
                write!(f, "{b:02x}")?;
            }
            Ok(())
        }
    }
}

#[tokio::test]
async fn multipart_uploads() {
    let (engine, _dir) = engine().await;
    let up = engine
        .create_upload("repo", "main", "big.bin", PutOptions::default())
        .await
        .unwrap();
    let body = |s: &'static str| futures::stream::once(async move { Ok(bytes::Bytes::from(s)) });
    let p1 = engine
        .upload_part("repo", &up.id, 1, body("hello "), Default::default())
        .await
        .unwrap();
    let p2 = engine
        .upload_part("repo", &up.id, 2, body("world"), Default::default())
        .await
        .unwrap();
    assert_eq!(engine.list_parts("repo", &up.id).await.unwrap().len(), 2);
    assert_eq!(engine.list_uploads("repo", "big").await.unwrap().len(), 1);
    let err = engine
        .complete_upload(
            "repo",
            &up.id,
            &[(2, p2.etag.clone()), (1, p1.etag.clone())],
        )
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Invalid, "order");
    let err = engine
        .complete_upload("repo", &up.id, &[(1, "bad".into())])
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Invalid, "etag");
    let entry = engine
        .complete_upload(
            "repo",
            &up.id,
            &[(1, p1.etag), (2, format!("\"{}\"", p2.etag))],
        )
        .await
        .unwrap();
    assert!(entry.etag.ends_with("-2"));
    assert_eq!(read(&engine, &entry).await, "hello world");
    // Completion moved no bytes: the object is its parts, and ranges cross them.
    assert_eq!(entry.parts.len(), 2);
    for (range, want) in [
        (3..8, "lo wo"),
        (0..6, "hello "),
        (6..11, "world"),
        (10..11, "d"),
    ] {
        use futures::TryStreamExt;
        let got: Vec<bytes::Bytes> = engine
            .read_object("repo", &entry, Some(range))
            .await
            .unwrap()
            .try_collect()
            .await
            .unwrap();
        assert_eq!(got.concat(), want.as_bytes());
    }
    assert!(engine.list_uploads("repo", "").await.unwrap().is_empty());
    let up2 = engine
        .create_upload("repo", "main", "other", PutOptions::default())
        .await
        .unwrap();
    let copied = engine
        .upload_part_copy("repo", &up2.id, 1, &entry, Some(6..11))
        .await
        .unwrap();
    assert_eq!(copied.size, 5);
    engine.abort_upload("repo", &up2.id).await.unwrap();
    assert_eq!(
        engine
            .upload_part("repo", &up2.id, 1, body("x"), Default::default())
            .await
            .unwrap_err()
            .kind(),
        ErrorKind::NotFound
    );
    let err = engine
        .upload_part("repo", &up.id, 0, body("x"), Default::default())
        .await
        .unwrap_err();
    assert!(matches!(
        err.kind(),
        ErrorKind::Invalid | ErrorKind::NotFound
    ));
}

#[tokio::test]
async fn garbage_collection() {
    use sluice_meta::GcOptions;
    let (engine, _dir) = engine().await;
    put(&engine, "main", "keep", "k").await;
    put(&engine, "main", "replaced", "old").await;
    commit(&engine, "main", "one").await;
    put(&engine, "main", "replaced", "new").await;
    commit(&engine, "main", "two").await;
    engine.create_branch("repo", "tmp", "main").await.unwrap();
    put(&engine, "tmp", "only-on-tmp", "t").await;
    commit(&engine, "tmp", "tmp").await;
    // Larger than the inline limit: a file in storage, with a grace period.
    let big = "s".repeat(40 * 1024);
    put(&engine, "main", "staged", &big).await;
    let opts = GcOptions {
        grace: std::time::Duration::ZERO,
        dry_run: false,
    };
    // Everything is reachable: history keeps the old version, staging keeps the new write.
    let report = engine.collect_garbage("repo", &opts).await.unwrap();
    assert_eq!(report.deleted, 0, "{report:?}");
    assert_eq!(report.reachable, 5);
    // Deleting the branch makes its only object unreachable.
    engine.delete_branch("repo", "tmp").await.unwrap();
    let report = engine.collect_garbage("repo", &opts).await.unwrap();
    assert_eq!(report.deleted, 1, "{report:?}");
    assert_eq!(contents(&engine, "main").await.len(), 3);
    // The grace period protects young objects, files and inline ones alike; past it,
    // both go.
    put(&engine, "main", "small-staged", "tiny").await;
    engine.reset_branch("repo", "main").await.unwrap();
    let report = engine
        .collect_garbage("repo", &GcOptions::default())
        .await
        .unwrap();
    assert_eq!((report.deleted, report.too_young), (0, 2), "{report:?}");
    let report = engine.collect_garbage("repo", &opts).await.unwrap();
    assert_eq!((report.deleted, report.too_young), (2, 0), "{report:?}");
}

#[tokio::test]
async fn protected_branches_change_only_by_merge() {
    let (engine, _dir) = engine().await;
    put(&engine, "main", "a", "1").await;
    commit(&engine, "main", "a").await;
    engine.create_branch("repo", "dev", "main").await.unwrap();
    engine
        .set_branch_protection("repo", vec!["main".into(), "release-*".into()])
        .await
        .unwrap();
    assert_eq!(
        engine.branch_protection("repo").await.unwrap(),
        ["main", "release-*"]
    );
    let refused = [
        engine
            .put_bytes("repo", "main", "b", "x", PutOptions::default())
            .await
            .unwrap_err(),
        engine.delete_object("repo", "main", "a").await.unwrap_err(),
        engine
            .commit("repo", "main", CommitRequest::new("c", "t"))
            .await
            .unwrap_err(),
        engine.reset_branch("repo", "main").await.unwrap_err(),
        engine
            .create_upload("repo", "main", "m", PutOptions::default())
            .await
            .unwrap_err(),
        engine
            .create_branch("repo", "release-1", "main")
            .await
            .and(
                engine
                    .put_bytes("repo", "release-1", "x", "x", PutOptions::default())
                    .await,
            )
            .unwrap_err(),
    ];
    for e in refused {
        assert_eq!(e.kind(), ErrorKind::Forbidden, "{e}");
    }
    // Merges still move it.
    put(&engine, "dev", "b", "2").await;
    commit(&engine, "dev", "b").await;
    engine
        .merge("repo", "dev", "main", MergeRequest::default())
        .await
        .unwrap();
    assert_eq!(
        contents(&engine, "main").await,
        pairs(&[("a", "1"), ("b", "2")])
    );
    engine.set_branch_protection("repo", vec![]).await.unwrap();
    put(&engine, "main", "c", "3").await;
}

/// A hook that counts its calls and, on its first, makes the destination's branch record
/// change under the merge without moving its head (a commit with nothing to commit seals
/// and restores the staging area), so the merge loses its compare-and-swap once.
struct CountingHook {
    calls: std::sync::atomic::AtomicUsize,
}

#[async_trait::async_trait]
impl sluice_meta::MergeHook for CountingHook {
    async fn pre_merge(
        &self,
        engine: &sluice_meta::Engine,
        context: &sluice_meta::MergeContext,
    ) -> Result<(), sluice_meta::MergeRefusal> {
        let n = self.calls.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        if n == 0 {
            let _ = engine
                .commit(
                    &context.repository,
                    &context.destination_branch,
                    CommitRequest::new("nothing", "racer"),
                )
                .await;
        }
        Ok(())
    }
}

#[tokio::test]
async fn merge_checks_run_once_when_only_the_pointer_move_is_retried() {
    let dir = tempfile::tempdir().unwrap();
    let hook = std::sync::Arc::new(CountingHook {
        calls: Default::default(),
    });
    let engine = sluice_meta::Engine::builder(
        std::sync::Arc::new(sluice_meta::kv::memory::MemoryKv::new()),
        dir.path().join("storage"),
    )
    .with_merge_hook(hook.clone())
    .build();
    engine
        .create_repository("repo", "local://repo", "main")
        .await
        .unwrap();
    put(&engine, "main", "a", "1").await;
    commit(&engine, "main", "a").await;
    engine.create_branch("repo", "dev", "main").await.unwrap();
    put(&engine, "dev", "b", "2").await;
    commit(&engine, "dev", "b").await;
    let (id, merged) = engine
        .merge("repo", "dev", "main", MergeRequest::default())
        .await
        .unwrap();
    assert_eq!(
        hook.calls.load(std::sync::atomic::Ordering::SeqCst),
        1,
        "the checks ran again for the same source and destination"
    );
    assert_eq!(merged.parents.len(), 2);
    assert_eq!(engine.get_commit("repo", "main").await.unwrap().0, id);
    assert_eq!(contents(&engine, "main").await.len(), 2);
}

/// Branch and tag pages with a prefix, across several pages: every match once, no short
/// page while matches remain (the API used to filter after paging).
#[tokio::test]
async fn branch_and_tag_pages_apply_the_prefix_before_paging() {
    let (engine, _dir) = engine().await;
    put(&engine, "main", "a", "1").await;
    commit(&engine, "main", "a").await;
    for i in 0..25 {
        engine
            .create_branch("repo", &format!("aaa-{i:02}"), "main")
            .await
            .unwrap();
        engine
            .create_branch("repo", &format!("feature-{i:02}"), "main")
            .await
            .unwrap();
        engine
            .create_tag("repo", &format!("v{i:02}"), "main")
            .await
            .unwrap();
    }
    let mut seen = Vec::new();
    let mut after: Option<String> = None;
    loop {
        let request = PageRequest::first(4)
            .with_prefix("feature-")
            .with_after(after.clone());
        let page = engine.list_branches("repo", &request).await.unwrap();
        assert!(
            page.items.len() == 4 || !page.has_more,
            "short page {page:?}"
        );
        after = page.items.last().map(|b| b.name.clone());
        seen.extend(page.items.into_iter().map(|b| b.name));
        if !page.has_more {
            break;
        }
    }
    let want: Vec<String> = (0..25).map(|i| format!("feature-{i:02}")).collect();
    assert_eq!(seen, want);
    let tags = engine
        .list_tags("repo", &PageRequest::first(3).with_prefix("v1"))
        .await
        .unwrap();
    let names: Vec<_> = tags.items.iter().map(|t| t.name.as_str()).collect();
    assert_eq!((names, tags.has_more), (vec!["v10", "v11", "v12"], true));
}

/// Files in the repository's storage namespace (the test engine keeps it under
/// `storage/repo`).
fn stored_files(dir: &std::path::Path) -> usize {
    fn walk(p: &std::path::Path, n: &mut usize) {
        for e in std::fs::read_dir(p).unwrap().flatten() {
            let path = e.path();
            if path.is_dir() {
                walk(&path, n);
            } else {
                *n += 1;
            }
        }
    }
    let mut n = 0;
    walk(&dir.join("storage").join("repo").join("data"), &mut n);
    n
}

/// A write that is refused (protected branch, missing branch, failed condition, whether
/// found before the bytes move or only when staging) leaves no file behind.
#[tokio::test]
async fn refused_writes_leave_no_bytes() {
    let (engine, dir) = engine().await;
    let big = vec![7u8; 100 * 1024];
    engine
        .put_bytes("repo", "main", "there", big.clone(), PutOptions::default())
        .await
        .unwrap();
    assert_eq!(stored_files(dir.path()), 1);
    engine
        .create_branch("repo", "locked", "main")
        .await
        .unwrap();
    engine
        .set_branch_protection("repo", vec!["locked".into()])
        .await
        .unwrap();
    let if_absent = PutOptions {
        condition: WriteCondition::IfAbsent,
        ..Default::default()
    };
    let refusals = [
        engine
            .put_bytes("repo", "locked", "x", big.clone(), PutOptions::default())
            .await
            .unwrap_err()
            .kind(),
        engine
            .put_bytes("repo", "nope", "x", big.clone(), PutOptions::default())
            .await
            .unwrap_err()
            .kind(),
        engine
            .put_bytes("repo", "main", "there", big.clone(), if_absent.clone())
            .await
            .unwrap_err()
            .kind(),
    ];
    assert_eq!(
        refusals,
        [
            ErrorKind::Forbidden,
            ErrorKind::NotFound,
            ErrorKind::PreconditionFailed
        ]
    );
    assert_eq!(stored_files(dir.path()), 1, "a refused write left bytes");
    // Refused only at staging (the bytes were written first, as S3 does when checksums
    // arrive in trailers): the bytes go too.
    let store = engine.namespace_store("repo").await.unwrap();
    let written = store
        .write_or_inline(futures::stream::once(async {
            Ok(bytes::Bytes::from(vec![1u8; 100 * 1024]))
        }))
        .await
        .unwrap();
    assert_eq!(stored_files(dir.path()), 2);
    let err = engine
        .stage_written("repo", "main", "there", written, if_absent, None)
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::PreconditionFailed);
    assert_eq!(
        stored_files(dir.path()),
        1,
        "the refused write's bytes stayed"
    );
}

/// The log filtered as lakeFS's `logCommits` filters it: by object, by prefix, by time and
/// stopping at a ref; paging counts only the commits kept.
#[tokio::test]
async fn log_filters_by_object_prefix_time_and_stop() {
    use sluice_meta::LogFilter;
    let (engine, _dir) = engine().await;
    put(&engine, "main", "a/x", "1").await;
    let c1 = commit(&engine, "main", "a/x").await;
    put(&engine, "main", "b/y", "1").await;
    let c2 = commit(&engine, "main", "b/y").await;
    put(&engine, "main", "a/x", "2").await;
    let c3 = commit(&engine, "main", "a/x again").await;
    put(&engine, "main", "a/z", "1").await;
    let c4 = commit(&engine, "main", "a/z").await;
    let ids = |filter: LogFilter, limit: usize| {
        let engine = engine.clone();
        async move {
            let page = engine
                .log_filtered(
                    "repo",
                    "main",
                    &LogOptions {
                        limit,
                        ..Default::default()
                    },
                    &filter,
                )
                .await
                .unwrap();
            (
                page.commits
                    .into_iter()
                    .map(|(id, _)| id)
                    .collect::<Vec<_>>(),
                page.has_more,
            )
        }
    };
    let objects = |o: &[&str]| LogFilter {
        objects: o.iter().map(|s| s.to_string()).collect(),
        ..Default::default()
    };
    assert_eq!(
        ids(objects(&["a/x"]), 10).await,
        (vec![c3.clone(), c1.clone()], false)
    );
    assert_eq!(ids(objects(&["a/x"]), 1).await, (vec![c3.clone()], true));
    assert_eq!(
        ids(objects(&["b/y", "a/z"]), 10).await.0,
        vec![c4.clone(), c2.clone()]
    );
    assert!(ids(objects(&["nope"]), 10).await.0.is_empty());
    let prefixes = LogFilter {
        prefixes: vec!["a/".into()],
        ..Default::default()
    };
    assert_eq!(
        ids(prefixes, 10).await.0,
        vec![c4.clone(), c3.clone(), c1.clone()]
    );
    let stop = LogFilter {
        stop_at: Some(c3.clone()),
        ..Default::default()
    };
    assert_eq!(ids(stop, 10).await.0, vec![c4.clone(), c3.clone()]);
    let (_, newest) = engine.get_commit("repo", &c4).await.unwrap();
    let since = LogFilter {
        since_ms: Some(newest.created_ms + 1),
        ..Default::default()
    };
    assert!(ids(since, 10).await.0.is_empty());
    // Paging through a filtered log: `after` is the last commit of the previous page.
    let page = engine
        .log_filtered(
            "repo",
            "main",
            &LogOptions {
                after: Some(c3.clone()),
                limit: 5,
                ..Default::default()
            },
            &objects(&["a/x"]),
        )
        .await
        .unwrap();
    assert_eq!(page.commits.len(), 1);
    assert_eq!(page.commits[0].0, c1);
}

/// Metadata round trips of the hot paths, counted at the KV: each is one network round trip
/// when the store is PostgreSQL. A PUT reads the branch once (its check) and writes once
/// (staging, atomically checked against that read); the repository record and protection
/// rules come from the repository handles.
#[tokio::test]
async fn a_put_costs_two_metadata_round_trips() {
    use sluice_meta::kv::counting::CountingKv;
    let dir = tempfile::tempdir().unwrap();
    let counting = std::sync::Arc::new(CountingKv::new(std::sync::Arc::new(
        sluice_meta::kv::memory::MemoryKv::new(),
    )));
    let engine = sluice_meta::Engine::builder(counting.clone(), dir.path()).build();
    engine
        .create_repository("repo", "local://repo", "main")
        .await
        .unwrap();
    common::put(&engine, "main", "warm", "up").await;
    for (path, size) in [("small", 100), ("large", 100_000)] {
        let before = counting.round_trips();
        engine
            .put_bytes(
                "repo",
                "main",
                path,
                vec![7u8; size],
                sluice_meta::PutOptions::default(),
            )
            .await
            .unwrap();
        let cost = counting.round_trips() - before;
        assert_eq!(
            (cost.gets, cost.scans, cost.writes),
            (1, 0, 1),
            "{path}: {cost:?}"
        );
    }
    // A GET of a staged object: the branch record, then the staged entry.
    let before = counting.round_trips();
    engine.stat_object("repo", "main", "small").await.unwrap();
    let cost = counting.round_trips() - before;
    assert!(cost.total() <= 2, "stat: {cost:?}");
}
