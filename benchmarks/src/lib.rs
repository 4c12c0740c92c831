//! What the benchmark binaries share: timing, the synthetic entries the metadata figures
//! use, and free ports for the servers they start.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::StreamExt;
use object_store::ObjectStore;
use object_store::aws::AmazonS3Builder;
use sluice_meta::Entry;

/// The median of `v`.
pub fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

/// `d` in milliseconds, two decimals.
pub fn ms(d: Duration) -> String {
    format!("{:.2} ms", d.as_secs_f64() * 1e3)
}

/// Operations per second: `op(0..n)`, `concurrency` at a time.
pub async fn rate<F, Fut>(n: usize, concurrency: usize, op: F) -> f64
where
    F: Fn(usize) -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    let t = Instant::now();
    futures::stream::iter(0..n)
        .map(&op)
        .buffer_unordered(concurrency)
        .collect::<Vec<()>>()
        .await;
    n as f64 / t.elapsed().as_secs_f64()
}

/// A synthetic entry: a made-up physical address, size and ETag (the metadata engine is
/// what is measured, not object bytes).
pub fn entry(i: u64) -> Entry {
    let mut e = Entry::new(
        format!("data/00/{i:032x}"),
        1000 + i % 977,
        format!("{i:032x}"),
    );
    e.last_modified_ms = 1_700_000_000_000;
    e
}

/// A port free on 127.0.0.1 now.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A binary of the release build (`$CARGO_TARGET_DIR/release/NAME`, else `target/...`).
pub fn release_bin(name: &str) -> PathBuf {
    let target = std::env::var("CARGO_TARGET_DIR").unwrap_or_else(|_| "target".into());
    PathBuf::from(target).join("release").join(name)
}

/// Wait until something accepts connections on `port` (a server just started).
pub async fn wait_for_port(name: &str, port: u16) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while tokio::net::TcpStream::connect(("127.0.0.1", port))
        .await
        .is_err()
    {
        assert!(Instant::now() < deadline, "{name} did not start");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// object_store's S3 client for `bucket` at `endpoint`, path style, unsigned payloads.
pub fn s3_client(endpoint: &str, bucket: &str, access: &str, secret: &str) -> Arc<dyn ObjectStore> {
    Arc::new(
        AmazonS3Builder::new()
            .with_endpoint(endpoint)
            .with_allow_http(true)
            .with_bucket_name(bucket)
            .with_access_key_id(access)
            .with_secret_access_key(secret)
            .with_region("us-east-1")
            .with_virtual_hosted_style_request(false)
            .with_unsigned_payload(true)
            .build()
            .expect("S3 client"),
    )
}
