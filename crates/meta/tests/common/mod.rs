//! Helpers shared by the engine's integration tests.
#![allow(dead_code)]

use sluice_meta::testing::TestStore;
use sluice_meta::{CommitRequest, Engine, Entry, ListItem, ListOptions, PutOptions};

/// An engine over the test metadata store (`SLUICE_TEST_METADATA`, in memory by default)
/// and a temporary folder, with a repository `repo`.
pub async fn engine() -> (Engine, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let kv = TestStore::from_env().open(dir.path()).await;
    let engine = Engine::builder(kv, dir.path().join("storage"))
        .with_min_part_size(1)
        .build();
    engine
        .create_repository("repo", "local://repo", "main")
        .await
        .unwrap();
    (engine, dir)
}

pub async fn put(engine: &Engine, branch: &str, path: &str, body: &str) {
    engine
        .put_bytes(
            "repo",
            branch,
            path,
            body.as_bytes().to_vec(),
            PutOptions::default(),
        )
        .await
        .unwrap();
}

pub async fn commit(engine: &Engine, branch: &str, message: &str) -> String {
    engine
        .commit("repo", branch, CommitRequest::new(message, "tester"))
        .await
        .unwrap()
        .0
}

/// Every object on a ref, paging through the listing `page` keys at a time.
pub async fn list_all(engine: &Engine, reference: &str, page: usize) -> Vec<(String, Entry)> {
    let mut out = Vec::new();
    let mut after = None;
    loop {
        let listed = engine
            .list_objects(
                "repo",
                reference,
                &ListOptions {
                    after: after.clone(),
                    limit: page,
                    ..Default::default()
                },
            )
            .await
            .unwrap();
        for item in &listed.items {
            let ListItem::Object(path, entry) = item else {
                panic!("no delimiter, no prefixes")
            };
            out.push((path.clone(), entry.clone()));
        }
        if !listed.has_more {
            return out;
        }
        after = listed.items.last().map(|i| i.key().to_string());
    }
}

/// Every path and its content on a ref, read through listing and the object store.
pub async fn contents(engine: &Engine, reference: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for (path, entry) in list_all(engine, reference, 7).await {
        out.push((path, read(engine, &entry).await));
    }
    out
}

/// The bytes at `path` on `reference`.
pub async fn read_path(engine: &Engine, reference: &str, path: &str) -> Vec<u8> {
    use futures::TryStreamExt;
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

pub async fn read(engine: &Engine, entry: &sluice_meta::Entry) -> String {
    use futures::TryStreamExt;
    let chunks: Vec<bytes::Bytes> = engine
        .read_object("repo", entry, None)
        .await
        .unwrap()
        .try_collect()
        .await
        .unwrap();
    String::from_utf8(chunks.concat()).unwrap()
}

pub fn pairs(items: &[(&str, &str)]) -> Vec<(String, String)> {
    items
        .iter()
        .map(|(a, b)| (a.to_string(), b.to_string()))
        .collect()
}
