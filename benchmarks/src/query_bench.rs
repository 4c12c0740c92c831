//! Figures for sluice-query, each beside a peer or a ratio measured in the same run:
//! footer counting over 1,000 files; verify throughput beside DataFusion reading the same
//! files from a local folder; the duplicate check on a 1% and a 100% change of a 10M-row
//! table, with ascending keys and with random ones (cold, then warm through the row-hash
//! indexes the cold check leaves). Peak memory per phase from the kernel's high-water
//! mark, reset between phases. `--random-keys-only` writes the table and runs the
//! random-key checks alone.
//!
//! Run: `cargo run -p sluice-benchmarks --bin query-bench` (the dev profile: dependencies
//! and sluice-query are optimised there, and a release build of DataFusion would take half
//! an hour on two cores). `-- --rows N` changes the table size (default 10,000,000).

use sluice_benchmarks::median;
use std::sync::Arc;
use std::time::{Duration, Instant};

use arrow::array::{ArrayRef, Int32Array, Int64Array, RecordBatch, StringArray};
use datafusion::prelude::{ParquetReadOptions, SessionContext};
use futures::StreamExt;
use parquet::arrow::ArrowWriter;
use parquet::basic::Compression;
use parquet::file::properties::WriterProperties;
use sluice_meta::{CommitRequest, Engine, PutOptions};
use sluice_query::{CompareOptions, DuplicateOptions};

const REPO: &str = "bench";
/// Rows per file of the large table (a typical Spark output file).
const ROWS_PER_FILE: usize = 500_000;

fn batch(from: i64, n: usize) -> RecordBatch {
    let ids: Vec<i64> = (from..from + n as i64).collect();
    rows_with_ids(&ids, "")
}

/// The rows with these ids; `edit` is appended to each headline.
fn rows_with_ids(ids: &[i64], edit: &str) -> RecordBatch {
    RecordBatch::try_from_iter(vec![
        (
            "review_id",
            Arc::new(Int64Array::from(ids.to_vec())) as ArrayRef,
        ),
        (
            "customer_id",
            Arc::new(Int64Array::from_iter_values(
                ids.iter().map(|i| (i * 7919) % 1_000_003),
            )) as ArrayRef,
        ),
        (
            "star_rating",
            Arc::new(Int32Array::from_iter_values(
                ids.iter().map(|i| (i % 5) as i32 + 1),
            )) as ArrayRef,
        ),
        (
            "product_title",
            Arc::new(StringArray::from_iter_values(
                ids.iter().map(|i| format!("product {}", i % 50_000)),
            )) as ArrayRef,
        ),
        (
            "review_headline",
            Arc::new(StringArray::from_iter_values(
                ids.iter().map(|i| format!("headline of review {i}{edit}")),
            )) as ArrayRef,
        ),
    ])
    .unwrap()
}

/// A Parquet file of rows `from .. from + n`, snappy, row groups of 128k rows.
fn parquet(from: i64, n: usize) -> Vec<u8> {
    write_parquet(&mut (0..n).step_by(64 * 1024).map(|at| {
        let step = (n - at).min(64 * 1024);
        batch(from + at as i64, step)
    }))
}

/// Rows whose ids are spread over the whole table (every `stride`-th id), with another
/// headline: no row is a duplicate, and no column's statistics can set a row group apart.
fn spread(n: usize, stride: usize) -> Vec<u8> {
    write_parquet(&mut (0..n).step_by(64 * 1024).map(|at| {
        let step = (n - at).min(64 * 1024);
        let ids: Vec<i64> = (at..at + step).map(|i| (i * stride) as i64).collect();
        rows_with_ids(&ids, " (edited)")
    }))
}

fn write_parquet(batches: &mut dyn Iterator<Item = RecordBatch>) -> Vec<u8> {
    let props = WriterProperties::builder()
        .set_compression(Compression::SNAPPY)
        .set_max_row_group_row_count(Some(128 * 1024))
        .build();
    let mut out = Vec::new();
    let mut w = ArrowWriter::try_new(&mut out, batch(0, 0).schema(), Some(props)).unwrap();
    for b in batches {
        w.write(&b).unwrap();
    }
    w.close().unwrap();
    out
}

fn status_mib(field: &str) -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines().find(|l| l.starts_with(field)).and_then(|l| {
                l.split_whitespace()
                    .nth(1)
                    .and_then(|kb| kb.parse::<f64>().ok())
            })
        })
        .map_or(f64::NAN, |kb| kb / 1024.0)
}

fn peak_rss_mib() -> f64 {
    status_mib("VmHWM:")
}

/// What the process holds already (allocator caches of earlier phases included).
fn rss_mib() -> f64 {
    status_mib("VmRSS:")
}

/// Start a new peak: the kernel resets the high-water mark to the current RSS.
fn reset_peak_rss() {
    let _ = std::fs::write("/proc/self/clear_refs", "5");
}

/// Rounds of the verify comparison.
const ROUNDS: usize = 7;

fn secs(d: Duration) -> String {
    format!("{:.3} s", d.as_secs_f64())
}

async fn put(engine: &Engine, branch: &str, path: &str, bytes: Vec<u8>) {
    engine
        .put_bytes(REPO, branch, path, bytes, PutOptions::default())
        .await
        .unwrap();
}

async fn commit(engine: &Engine, branch: &str) {
    engine
        .commit(REPO, branch, CommitRequest::new("bench", "bench"))
        .await
        .unwrap();
}

#[tokio::main]
async fn main() {
    let args: Vec<String> = std::env::args().collect();
    let rows: usize = args
        .iter()
        .position(|a| a == "--rows")
        .and_then(|i| args.get(i + 1))
        .map_or(10_000_000, |v| v.parse().expect("--rows N"));
    let dir = tempfile::tempdir().unwrap();
    let engine = Engine::open_embedded(dir.path().join("data"))
        .unwrap()
        .build();
    engine
        .create_repository(REPO, "local://bench", "main")
        .await
        .unwrap();

    // 1. Footer counting over 1,000 files.
    for i in 0..1000 {
        put(
            &engine,
            "main",
            &format!("small/part-{i:05}.parquet"),
            parquet(i * 1000, 1000),
        )
        .await;
    }
    commit(&engine, "main").await;
    reset_peak_rss();
    let t = Instant::now();
    let c = sluice_query::count(&engine, REPO, "main", "small", false)
        .await
        .unwrap();
    let footer_time = t.elapsed();
    assert_eq!((c.rows, c.files), (1_000_000, 1000));
    println!(
        "footer count, 1,000 files: {} (target < 1 s), peak RSS {:.0} MiB",
        secs(footer_time),
        peak_rss_mib()
    );

    // The large table, in Sluice and as a plain local folder for DataFusion.
    let local = dir.path().join("local-table");
    std::fs::create_dir_all(&local).unwrap();
    let files = rows.div_ceil(ROWS_PER_FILE);
    let t = Instant::now();
    for f in 0..files {
        let n = ROWS_PER_FILE.min(rows - f * ROWS_PER_FILE);
        let bytes = parquet((f * ROWS_PER_FILE) as i64, n);
        std::fs::write(local.join(format!("part-{f:05}.parquet")), &bytes).unwrap();
        put(
            &engine,
            "main",
            &format!("reviews/part-{f:05}.parquet"),
            bytes,
        )
        .await;
    }
    commit(&engine, "main").await;
    println!(
        "wrote {rows} rows in {files} files twice in {}",
        secs(t.elapsed())
    );
    if args.iter().any(|a| a == "--random-keys-only") {
        random_keys(&engine, rows, files).await;
        return;
    }

    // 2. Verify beside DataFusion decoding the same files from the local folder.
    // Alternating rounds, the median of each, so that both meet the same machine state.
    let ctx = SessionContext::new();
    ctx.register_parquet("t", local.to_str().unwrap(), ParquetReadOptions::default())
        .await
        .unwrap();
    let (mut ours, mut theirs) = (Vec::new(), Vec::new());
    let (mut verify_rss, mut df_rss) = (0f64, 0f64);
    for _ in 0..ROUNDS {
        reset_peak_rss();
        let t = Instant::now();
        let v = sluice_query::count(&engine, REPO, "main", "reviews", true)
            .await
            .unwrap();
        ours.push(t.elapsed());
        verify_rss = verify_rss.max(peak_rss_mib());
        assert_eq!(v.rows as usize, rows);
        assert!(v.problems.is_empty());
        reset_peak_rss();
        let t = Instant::now();
        let mut stream = ctx
            .sql("SELECT * FROM t")
            .await
            .unwrap()
            .execute_stream()
            .await
            .unwrap();
        let mut seen = 0;
        while let Some(b) = stream.next().await {
            seen += b.unwrap().num_rows();
        }
        theirs.push(t.elapsed());
        df_rss = df_rss.max(peak_rss_mib());
        assert_eq!(seen, rows);
    }
    let (verify_time, df_time) = (median(ours), median(theirs));
    let rate = |d: Duration| rows as f64 / d.as_secs_f64() / 1e6;
    println!(
        "verify {rows} rows: sluice {} ({:.1} M rows/s, peak {verify_rss:.0} MiB), DataFusion local folder {} ({:.1} M rows/s, peak {df_rss:.0} MiB): {:.2}x (target >= 0.8x)",
        secs(verify_time),
        rate(verify_time),
        secs(df_time),
        rate(df_time),
        df_time.as_secs_f64() / verify_time.as_secs_f64()
    );

    // 3. Duplicate checks with random keys first (their cold check is the first to read the
    // destination), then a 1% change of new rows and a 100% change of the same rows
    // rewritten, both with the destination's row-hash indexes built.
    let random_warm = random_keys(&engine, rows, files).await;
    engine
        .create_branch(REPO, "one-percent", "main")
        .await
        .unwrap();
    let new_rows = rows / 100;
    put(
        &engine,
        "one-percent",
        "reviews/part-new.parquet",
        parquet(rows as i64, new_rows),
    )
    .await;
    commit(&engine, "one-percent").await;
    engine
        .create_branch(REPO, "all-again", "main")
        .await
        .unwrap();
    let again_file_rows = ROWS_PER_FILE * 2;
    for f in 0..rows.div_ceil(again_file_rows) {
        let n = again_file_rows.min(rows - f * again_file_rows);
        put(
            &engine,
            "all-again",
            &format!("reviews/again-{f:05}.parquet"),
            parquet((f * again_file_rows) as i64, n),
        )
        .await;
    }
    commit(&engine, "all-again").await;
    let options = CompareOptions {
        prefix: "reviews".into(),
        find_duplicates: true,
        duplicates: DuplicateOptions::default(),
        base: None,
    };
    reset_peak_rss();
    let small_base = rss_mib();
    let t = Instant::now();
    let small = sluice_query::compare(&engine, REPO, "main", "one-percent", &options)
        .await
        .unwrap();
    let small_time = t.elapsed();
    let small_rss = peak_rss_mib();
    assert_eq!(small.duplicates.duplicate_rows, 0);
    reset_peak_rss();
    let all_base = rss_mib();
    let t = Instant::now();
    let all = sluice_query::compare(&engine, REPO, "main", "all-again", &options)
        .await
        .unwrap();
    let all_time = t.elapsed();
    let all_rss = peak_rss_mib();
    assert_eq!(all.duplicates.duplicate_rows as usize, rows);
    println!(
        "duplicate check, 1% change ({new_rows} rows): {} (read {} / skipped {} destination row groups, peak {small_rss:.0} MiB from {small_base:.0} MiB)",
        secs(small_time),
        small.duplicates.destination_row_groups_read,
        small.duplicates.destination_row_groups_skipped
    );
    println!(
        "duplicate check, 100% change ({rows} rows): {} ({} passes, peak {all_rss:.0} MiB from {all_base:.0} MiB)",
        secs(all_time),
        all.duplicates.passes
    );
    println!(
        "1% check is {:.0}x faster than the 100% check (target >= 20x)",
        all_time.as_secs_f64() / small_time.as_secs_f64()
    );
    println!(
        "random-key 1% check (warm) is {:.1}x faster than the 100% check (target >= 20x)",
        all_time.as_secs_f64() / random_warm.as_secs_f64()
    );
}

/// The random-key phase: a 1% change whose keys are spread over the whole table (random keys), where
/// statistics prune nothing. The first check decodes the destination and leaves row-hash indexes; the
/// next ones probe those (once the background has stored them). Returns the warm time.
async fn random_keys(engine: &Engine, rows: usize, files: usize) -> Duration {
    engine
        .create_branch(REPO, "random-one-percent", "main")
        .await
        .unwrap();
    put(
        engine,
        "random-one-percent",
        "reviews/part-spread.parquet",
        spread(rows / 100, 100),
    )
    .await;
    commit(engine, "random-one-percent").await;
    let options = CompareOptions {
        prefix: "reviews".into(),
        find_duplicates: true,
        duplicates: DuplicateOptions::default(),
        base: None,
    };
    let mut times = Vec::new();
    for round in 0..4 {
        reset_peak_rss();
        let t = Instant::now();
        let r = sluice_query::compare(engine, REPO, "main", "random-one-percent", &options)
            .await
            .unwrap();
        let took = t.elapsed();
        let d = &r.duplicates;
        assert_eq!(d.duplicate_rows, 0);
        println!(
            "random-key 1% check, {}: {} (decoded {} / by index {} / skipped {} destination row groups, {:.0} MiB of indexes read, {} built, peak {:.0} MiB)",
            if round == 0 { "cold" } else { "warm" },
            secs(took),
            d.destination_row_groups_read,
            d.destination_row_groups_indexed,
            d.destination_row_groups_skipped,
            d.index_bytes_read as f64 / (1 << 20) as f64,
            d.indexes_built,
            peak_rss_mib()
        );
        times.push(took);
        if round == 0 {
            wait_for_indexes(engine, files).await;
        }
    }
    let cold = times[0];
    let warm = median(times[1..].to_vec());
    println!(
        "random-key 1% check: warm {} is {:.1}x faster than cold {}",
        secs(warm),
        cold.as_secs_f64() / warm.as_secs_f64(),
        secs(cold),
    );
    warm
}

/// Wait until every file of the large table has its row-hash index (stored in the
/// background after the first check).
async fn wait_for_indexes(engine: &Engine, files: usize) {
    let kind = format!(
        "rowhash-v1:{}",
        [
            "review_id",
            "customer_id",
            "star_rating",
            "product_title",
            "review_headline"
        ]
        .join("\u{1f}")
    );
    let t = Instant::now();
    for f in 0..files {
        let path = format!("reviews/part-{f:05}.parquet");
        let entry = engine.stat_object(REPO, "main", &path).await.unwrap();
        while engine
            .file_index(REPO, &entry.address, &kind)
            .await
            .unwrap()
            .is_none()
        {
            assert!(
                t.elapsed() < Duration::from_secs(300),
                "no index for {path}"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
    println!(
        "row-hash indexes of {files} files stored {} after the cold check",
        secs(t.elapsed())
    );
}
