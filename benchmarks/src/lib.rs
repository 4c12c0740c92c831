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

/// A field of `/proc/{process}/status` (`"self"` or a pid) in MiB; NaN when unreadable.
pub fn status_mib(process: &str, field: &str) -> f64 {
    std::fs::read_to_string(format!("/proc/{process}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with(field))
                .and_then(|l| l.split_whitespace().nth(1)?.parse::<f64>().ok())
        })
        .map_or(f64::NAN, |kib| kib / 1024.0)
}

/// This process's peak resident memory (the kernel's high-water mark), MiB.
pub fn peak_rss_mib() -> f64 {
    status_mib("self", "VmHWM:")
}

/// What this process holds now, MiB (allocator caches of earlier phases included).
pub fn rss_mib() -> f64 {
    status_mib("self", "VmRSS:")
}

/// Start a new peak: the kernel resets the high-water mark to the current resident size
/// (Linux 4.0+), so that a later [`peak_rss_mib`] measures one phase.
pub fn reset_peak_rss() {
    let _ = std::fs::write("/proc/self/clear_refs", "5");
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
