//! The runtime where row checks, SQL and merges (whose pre-merge gate decodes Parquet) run,
//! apart from the one that serves S3 requests: its worker and blocking threads are bounded
//! (half the cores, at least one; `SLUICE_QUERY_THREADS` to choose), so a check decoding
//! millions of rows slows other checks, never every GET and PUT. DataFusion's and the
//! decoders' own tasks and blocking calls land here too, since they spawn on the runtime
//! they run in.

use std::future::Future;
use std::sync::OnceLock;

/// The variable that sets the pool's thread count.
pub const THREADS_VARIABLE: &str = "SLUICE_QUERY_THREADS";

fn threads() -> usize {
    std::env::var(THREADS_VARIABLE)
        .ok()
        .and_then(|v| v.parse::<usize>().ok())
        .filter(|n| *n > 0)
        .unwrap_or_else(|| {
            let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
            (cores / 2).max(1)
        })
}

fn runtime() -> &'static tokio::runtime::Runtime {
    static RUNTIME: OnceLock<tokio::runtime::Runtime> = OnceLock::new();
    RUNTIME.get_or_init(|| {
        let n = threads();
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(n)
            .max_blocking_threads(n)
            .thread_name("sluice-query")
            .enable_all()
            .build()
            .expect("the query runtime starts")
    })
}

/// Run `work` on the query runtime and wait for it here. A panic in it is resumed here, so
/// the caller's own handling (the server answers 500) applies.
pub async fn run<F>(work: F) -> F::Output
where
    F: Future + Send + 'static,
    F::Output: Send + 'static,
{
    match runtime().spawn(work).await {
        Ok(output) => output,
        Err(e) if e.is_panic() => std::panic::resume_unwind(e.into_panic()),
        Err(e) => panic!("query task cancelled: {e}"),
    }
}

#[cfg(test)]
mod tests {
    #[tokio::test]
    async fn work_runs_on_the_query_threads() {
        let name = super::run(async { std::thread::current().name().map(str::to_string) }).await;
        assert_eq!(name.as_deref(), Some("sluice-query"));
        let spawned = super::run(async {
            tokio::spawn(async { std::thread::current().name().map(str::to_string) })
                .await
                .unwrap()
        })
        .await;
        assert_eq!(spawned.as_deref(), Some("sluice-query"));
    }
}
