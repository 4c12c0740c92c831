//! The conformance suite every [`Kv`] backend passes: written once, run against each.

use std::sync::Arc;

use super::{Kv, KvExt, WriteBatch};
use crate::error::ErrorKind;

/// Run every check against `kv`, which must start empty. Panics on the first failure.
pub async fn suite(kv: Arc<dyn Kv>) {
    get_put_delete(kv.as_ref()).await;
    scan_order_bounds_limit(kv.as_ref()).await;
    delete_range_bounds_and_steps(kv.as_ref()).await;
    conditions(kv.as_ref()).await;
    concurrent_compare_and_swap(kv.clone()).await;
    no_write_skew(kv.clone()).await;
}

async fn get_put_delete(kv: &dyn Kv) {
    assert_eq!(kv.get(b"a/1").await.unwrap(), None);
    kv.put(b"a/1", b"one").await.unwrap();
    assert_eq!(kv.get(b"a/1").await.unwrap().as_deref(), Some(&b"one"[..]));
    kv.put(b"a/1", b"uno").await.unwrap();
    assert_eq!(kv.get(b"a/1").await.unwrap().as_deref(), Some(&b"uno"[..]));
    kv.delete(b"a/1").await.unwrap();
    assert_eq!(kv.get(b"a/1").await.unwrap(), None);
    // Deleting what is absent is not an error.
    kv.delete(b"a/1").await.unwrap();
    // Empty values and binary keys are values like any other.
    kv.put(&[0, 0xff, 7], b"").await.unwrap();
    assert_eq!(kv.get(&[0, 0xff, 7]).await.unwrap(), Some(vec![]));
    kv.delete(&[0, 0xff, 7]).await.unwrap();
}

async fn scan_order_bounds_limit(kv: &dyn Kv) {
    let mut b = WriteBatch::new();
    for i in (0..50).rev() {
        b.put(format!("s/{i:03}"), format!("v{i}"));
    }
    b.put("r/x", "before");
    b.put("t/x", "after");
    kv.write(b).await.unwrap();

    let all = kv.scan_prefix(b"s/", 7).await.unwrap();
    assert_eq!(all.len(), 50);
    for (i, (k, v)) in all.iter().enumerate() {
        assert_eq!(k, format!("s/{i:03}").as_bytes());
        assert_eq!(v, format!("v{i}").as_bytes());
    }
    let page = kv.scan(b"s/010", b"s/020", 5).await.unwrap();
    assert_eq!(page.len(), 5);
    assert_eq!(page[0].0, b"s/010");
    let page = kv.scan(b"s/010", b"s/020", 100).await.unwrap();
    assert_eq!(page.len(), 10, "end is exclusive");
    assert!(kv.scan(b"s/020", b"s/010", 100).await.unwrap().is_empty());

    assert_eq!(kv.delete_prefix(b"s/", 8).await.unwrap(), 50);
    assert!(kv.scan_prefix(b"s/", 100).await.unwrap().is_empty());
    assert!(kv.get(b"r/x").await.unwrap().is_some());
    assert!(kv.get(b"t/x").await.unwrap().is_some());
    kv.delete(b"r/x").await.unwrap();
    kv.delete(b"t/x").await.unwrap();
}

/// A range deletion takes exactly `start <= key < end`, whatever the step, and nothing of
/// an empty or inverted range.
async fn delete_range_bounds_and_steps(kv: &dyn Kv) {
    let mut b = WriteBatch::new();
    for i in 0..40 {
        b.put(format!("d/{i:03}"), format!("v{i}"));
    }
    b.put("d", "the prefix itself");
    b.put("e/x", "after");
    kv.write(b).await.unwrap();

    // Steps of 3 over 10 keys: the last step is short; exact multiples end on an empty one.
    assert_eq!(kv.delete_range(b"d/010", b"d/020", 3).await.unwrap(), 10);
    assert_eq!(kv.delete_range(b"d/020", b"d/026", 3).await.unwrap(), 6);
    let left = kv.scan_prefix(b"d/", 100).await.unwrap();
    let left: Vec<_> = left.iter().map(|(k, _)| k.as_slice()).collect();
    assert_eq!(left.len(), 24);
    assert_eq!(left[9], b"d/009");
    assert_eq!(left[10], b"d/026", "end is exclusive");
    assert_eq!(kv.delete_range(b"d/010", b"d/020", 3).await.unwrap(), 0);
    assert_eq!(kv.delete_range(b"d/030", b"d/020", 3).await.unwrap(), 0);
    assert_eq!(kv.scan_prefix(b"d/", 100).await.unwrap().len(), 24);

    // A step of 0 still makes progress.
    assert_eq!(kv.delete_prefix(b"d/", 0).await.unwrap(), 24);
    assert!(kv.scan_prefix(b"d/", 100).await.unwrap().is_empty());
    assert!(kv.get(b"d").await.unwrap().is_some());
    assert!(kv.get(b"e/x").await.unwrap().is_some());
    kv.delete(b"d").await.unwrap();
    kv.delete(b"e/x").await.unwrap();
}

async fn conditions(kv: &dyn Kv) {
    // Absent is a condition too.
    assert!(
        kv.compare_and_swap(b"c/1", None, Some(b"v1"))
            .await
            .unwrap()
    );
    assert!(
        !kv.compare_and_swap(b"c/1", None, Some(b"v2"))
            .await
            .unwrap()
    );
    assert!(
        !kv.compare_and_swap(b"c/1", Some(b"v0"), Some(b"v2"))
            .await
            .unwrap()
    );
    assert!(
        kv.compare_and_swap(b"c/1", Some(b"v1"), Some(b"v2"))
            .await
            .unwrap()
    );
    assert_eq!(kv.get(b"c/1").await.unwrap().as_deref(), Some(&b"v2"[..]));

    // A failed condition writes nothing of its batch.
    let mut b = WriteBatch::new();
    b.require("c/1", Some(b"wrong".to_vec()));
    b.put("c/2", "x");
    b.delete("c/1");
    let err = kv.write(b).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::PreconditionFailed);
    assert_eq!(kv.get(b"c/2").await.unwrap(), None);
    assert!(kv.get(b"c/1").await.unwrap().is_some());

    // Conditions on other keys than those written.
    let mut b = WriteBatch::new();
    b.require("c/1", Some(b"v2".to_vec()));
    b.require("c/none", None);
    b.put("c/2", "y");
    kv.write(b).await.unwrap();
    assert_eq!(kv.get(b"c/2").await.unwrap().as_deref(), Some(&b"y"[..]));
    kv.delete_prefix(b"c/", 10).await.unwrap();
}

async fn concurrent_compare_and_swap(kv: Arc<dyn Kv>) {
    // Many tasks increment one counter by compare-and-swap: no increment is lost.
    kv.put(b"n/counter", b"0").await.unwrap();
    let tasks = 8;
    let per_task = 25;
    let mut handles = Vec::new();
    for _ in 0..tasks {
        let kv = kv.clone();
        handles.push(tokio::spawn(async move {
            for _ in 0..per_task {
                loop {
                    let cur = kv.get(b"n/counter").await.unwrap().unwrap();
                    let n: u64 = std::str::from_utf8(&cur).unwrap().parse().unwrap();
                    let next = (n + 1).to_string();
                    if kv
                        .compare_and_swap(b"n/counter", Some(&cur), Some(next.as_bytes()))
                        .await
                        .unwrap()
                    {
                        break;
                    }
                }
            }
        }));
    }
    for h in handles {
        h.await.unwrap();
    }
    let v = kv.get(b"n/counter").await.unwrap().unwrap();
    assert_eq!(v, (tasks * per_task).to_string().as_bytes());
    kv.delete(b"n/counter").await.unwrap();
}

async fn no_write_skew(kv: Arc<dyn Kv>) {
    // Each batch requires the other's key to be absent and writes its own: run together,
    // at most one may apply (a store that checks conditions on a stale snapshot lets both).
    for round in 0..40 {
        let (x, y) = (format!("w/{round}/x"), format!("w/{round}/y"));
        let batch = |require: &str, write: &str| {
            let mut b = WriteBatch::new();
            b.require(require, None);
            b.put(write, "1");
            b
        };
        let (a, b) = (batch(&y, &x), batch(&x, &y));
        let (kv_a, kv_b) = (kv.clone(), kv.clone());
        let (ra, rb) = tokio::join!(
            tokio::spawn(async move { kv_a.write(a).await }),
            tokio::spawn(async move { kv_b.write(b).await })
        );
        let applied = [ra.unwrap(), rb.unwrap()]
            .into_iter()
            .filter(|r| match r {
                Ok(()) => true,
                Err(e) if e.kind() == ErrorKind::PreconditionFailed => false,
                Err(e) => panic!("{e}"),
            })
            .count();
        assert_eq!(
            applied, 1,
            "round {round}: exactly one of two skewed batches applies"
        );
    }
    kv.delete_prefix(b"w/", 100).await.unwrap();
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn memory_passes() {
        suite(Arc::new(crate::kv::memory::MemoryKv::new())).await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn embedded_passes() {
        let dir = tempfile::tempdir().unwrap();
        let kv = crate::kv::embedded::EmbeddedKv::open(dir.path().join("meta.redb")).unwrap();
        suite(Arc::new(kv)).await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn postgres_passes() {
        let url = crate::testing::postgres_server().fresh_database().await;
        let kv = crate::kv::postgres::PostgresKv::connect(&url)
            .await
            .unwrap();
        suite(Arc::new(kv)).await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn postgres_schema_is_versioned_and_survives_reconnects() {
        use crate::kv::postgres::{PostgresKv, SCHEMA_VERSION};
        let url = crate::testing::postgres_server().fresh_database().await;
        {
            let kv = PostgresKv::connect(&url).await.unwrap();
            kv.put(b"k", b"v").await.unwrap();
        }
        // Several sidecars starting at once migrate once and keep the data.
        let (a, b) = tokio::join!(PostgresKv::connect(&url), PostgresKv::connect(&url));
        let (a, _b) = (a.unwrap(), b.unwrap());
        assert_eq!(a.get(b"k").await.unwrap().as_deref(), Some(&b"v"[..]));
        // A schema newer than this build is refused, with the version in the message.
        let (client, conn) = tokio_postgres::connect(&url, tokio_postgres::NoTls)
            .await
            .unwrap();
        tokio::spawn(conn);
        client
            .execute(
                "UPDATE sluice_schema SET version = $1",
                &[&(SCHEMA_VERSION + 1)],
            )
            .await
            .unwrap();
        let err = PostgresKv::connect(&url).await.unwrap_err();
        assert!(err.to_string().contains("newer than this build"), "{err}");
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn postgres_unreachable_is_unavailable() {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let err =
            crate::kv::postgres::PostgresKv::connect(&format!("postgres://u@127.0.0.1:{port}/db"))
                .await
                .unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Unavailable, "{err}");
        let err = crate::kv::postgres::PostgresKv::connect("mysql://nope")
            .await
            .unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Invalid, "{err}");
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn embedded_survives_reopen() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("meta.redb");
        {
            let kv = crate::kv::embedded::EmbeddedKv::open(&path).unwrap();
            kv.put(b"k", b"v").await.unwrap();
        }
        // Dropping the store closes the file, so it reopens at once.
        let kv = crate::kv::embedded::EmbeddedKv::open(&path).unwrap();
        assert_eq!(kv.get(b"k").await.unwrap().as_deref(), Some(&b"v"[..]));
    }
}
