//! What the benchmark binaries share: timing, the synthetic entries the metadata figures
//! use, and free ports for the servers they start.

use std::time::{Duration, Instant};

use futures::StreamExt;
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
