//! Figures for sluice-query, each beside a peer or a ratio measured in the same run:
//! footer counting over 1,000 files; verify throughput beside DataFusion reading the same
//! files from a local folder; the duplicate check on a 1% and a 100% change of a 10M-row
//! table, with ascending keys and with random ones (cold, then warm through the row-hash
//! indexes the cold check leaves); and the seed case (486,000 rows with random ids appended
//! again, re-encoded) beside DuckDB's whole-row GROUP BY over the same two files. Peak
//! memory per phase from the kernel's high-water mark, reset between phases.
//! `--random-keys-only` writes the table and runs the random-key checks alone;
//! `--seed-only` runs the seed case and the index build cost alone; `--verify-only` stops
//! after the verify comparison. DuckDB runs in a Python that has the `duckdb`
//! package (`SLUICE_BENCH_PYTHON`, default `python3`).
//!
//! Run: `cargo run -p sluice-benchmarks --bin query-bench` (the dev profile: dependencies
//! and sluice-query are optimised there, and a release build of DataFusion would take half
//! an hour on two cores). `-- --rows N` changes the table size (default 10,000,000).

use sluice_benchmarks::{median, peak_rss_mib, reset_peak_rss, rss_mib};
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

/// Rounds of the verify comparison.
const ROUNDS: usize = 7;

/// A comparison of `prefix` that looks for duplicates on every column.
fn duplicate_check(prefix: &str) -> CompareOptions {
    CompareOptions {
        prefix: prefix.into(),
        find_duplicates: true,
        duplicates: DuplicateOptions::default(),
        base: None,
        rows: false,
    }
}

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
    if args.iter().any(|a| a == "--seed-only") {
        seed_case(&engine, dir.path()).await;
        index_cost(&engine).await;
        return;
    }

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
    let ratio = df_time.as_secs_f64() / verify_time.as_secs_f64();
    println!(
        "verify {rows} rows: sluice {} ({:.1} M rows/s, peak {verify_rss:.0} MiB), DataFusion local folder {} ({:.1} M rows/s, peak {df_rss:.0} MiB): {ratio:.2}x (target >= 1.0x: {})",
        secs(verify_time),
        rate(verify_time),
        secs(df_time),
        rate(df_time),
        if ratio >= 1.0 { "met" } else { "not met" }
    );
    if args.iter().any(|a| a == "--verify-only") {
        return;
    }

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
    let options = duplicate_check("reviews");
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

    // 4. The seed case beside DuckDB.
    seed_case(&engine, dir.path()).await;

    // 5. What an index costs to build and keep, per million rows.
    index_cost(&engine).await;
}

/// Build and store the row-hash index of a million rows (as the background does after a
/// check: sort the hashes, build the filter and blocks, write them in one batch).
async fn index_cost(engine: &Engine) {
    const ROWS: u128 = 1_000_000;
    let mut hashes: Vec<u128> = (0..ROWS)
        .map(|i| i.wrapping_mul(0x9E37_79B9_7F4A_7C15_F39C_C060_5CED_C835))
        .collect();
    let t = Instant::now();
    hashes.sort_unstable();
    let built = sluice_query::row_index::build(&hashes).expect("an index");
    let bytes: usize = built.iter().map(|(_, b)| b.len()).sum();
    let filter = built[0].1.len();
    let build = t.elapsed();
    let t = Instant::now();
    sluice_query::row_index::store(engine, REPO, "index-cost", "cost", built)
        .await
        .unwrap();
    println!(
        "row-hash index of 1M rows: built in {} (sort, filter, blocks), stored in {}; {:.1} bytes a row ({:.2} of them the filter)",
        secs(build),
        secs(t.elapsed()),
        bytes as f64 / ROWS as f64,
        filter as f64 / ROWS as f64,
    );
}

/// The random-key phase: a 1% change whose keys are spread over the whole table (random keys), where
/// statistics prune nothing. The first check decodes the destination and leaves row-hash indexes; the
/// next ones probe those (once the background has stored them). Returns the warm time.
/// Rows of the seed case.
const SEED_ROWS: usize = 486_000;

/// `n` distinct ids spread over 0..2^40 in no order: `i` times an odd constant, modulo a
/// power of two, is a bijection.
fn random_ids(n: usize) -> Vec<i64> {
    (0..n as u64)
        .map(|i| (i.wrapping_mul(0x9E37_79B9_7F4A_7C15) & ((1 << 40) - 1)) as i64)
        .collect()
}

/// The seed case: 486,000 rows with random ids on main; a branch appends the same rows
/// again, re-encoded (other row groups and codec, so no file is byte-identical). Sluice's
/// duplicate check (cold, then warm through the indexes) beside DuckDB counting duplicate
/// rows with a whole-row GROUP BY over the same two files on local disk.
async fn seed_case(engine: &Engine, dir: &std::path::Path) {
    let ids = random_ids(SEED_ROWS);
    let rows = rows_with_ids(&ids, "");
    let encode = |codec: Compression, group: usize| {
        let props = WriterProperties::builder()
            .set_compression(codec)
            .set_max_row_group_row_count(Some(group))
            .build();
        let mut out = Vec::new();
        let mut w = ArrowWriter::try_new(&mut out, rows.schema(), Some(props)).unwrap();
        w.write(&rows).unwrap();
        w.close().unwrap();
        out
    };
    let seed = encode(Compression::SNAPPY, 128 * 1024);
    let again = encode(Compression::ZSTD(Default::default()), 50_000);
    let (seed_path, again_path) = (dir.join("seed.parquet"), dir.join("again.parquet"));
    std::fs::write(&seed_path, &seed).unwrap();
    std::fs::write(&again_path, &again).unwrap();
    put(engine, "main", "seed/part-00000.parquet", seed).await;
    commit(engine, "main").await;
    engine
        .create_branch(REPO, "seed-again", "main")
        .await
        .unwrap();
    put(engine, "seed-again", "seed/part-00001.parquet", again).await;
    commit(engine, "seed-again").await;

    let options = duplicate_check("seed");
    let mut times = Vec::new();
    for round in 0..4 {
        reset_peak_rss();
        let t = Instant::now();
        let r = sluice_query::compare(engine, REPO, "main", "seed-again", &options)
            .await
            .unwrap();
        times.push(t.elapsed());
        assert_eq!(r.duplicates.duplicate_rows as usize, SEED_ROWS);
        println!(
            "seed case, Sluice {}: {} ({} destination row groups decoded, {} by index, peak {:.0} MiB)",
            if round == 0 { "cold" } else { "warm" },
            secs(times[round]),
            r.duplicates.destination_row_groups_read,
            r.duplicates.destination_row_groups_indexed,
            peak_rss_mib()
        );
        if round == 0 {
            let entry = engine
                .stat_object(REPO, "main", "seed/part-00000.parquet")
                .await
                .unwrap();
            let kind = sluice_query::row_index::kind(&columns_of(&rows));
            while !sluice_query::row_index::is_stored(engine, REPO, &entry.address, &kind)
                .await
                .unwrap()
            {
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
    }
    let (cold, warm) = (times[0], median(times[1..].to_vec()));
    match duckdb_duplicates(&seed_path, &again_path) {
        Ok((duplicates, took)) => {
            assert_eq!(duplicates as usize, SEED_ROWS, "DuckDB's count");
            println!(
                "seed case: DuckDB GROUP BY ALL over both files {} (median of 3); Sluice cold {} ({:.2}x), warm {} ({:.2}x)",
                secs(took),
                secs(cold),
                took.as_secs_f64() / cold.as_secs_f64(),
                secs(warm),
                took.as_secs_f64() / warm.as_secs_f64(),
            );
        }
        Err(e) => println!(
            "seed case: Sluice cold {}, warm {}; DuckDB not run: {e}",
            secs(cold),
            secs(warm)
        ),
    }
}

fn columns_of(batch: &RecordBatch) -> Vec<String> {
    batch
        .schema()
        .fields()
        .iter()
        .map(|f| f.name().clone())
        .collect()
}

/// Duplicate rows in the two files by DuckDB (every row beyond the first of each group of
/// equal rows), and the median time of three runs of the query, timed inside Python.
fn duckdb_duplicates(a: &std::path::Path, b: &std::path::Path) -> Result<(u64, Duration), String> {
    const SCRIPT: &str = r#"
import sys, time, statistics, duckdb
con = duckdb.connect()
query = ("SELECT coalesce(sum(n - 1), 0) FROM (SELECT *, count(*) AS n "
         "FROM read_parquet([?, ?]) GROUP BY ALL)")
times, found = [], None
for _ in range(3):
    t = time.perf_counter()
    found = con.execute(query, [sys.argv[1], sys.argv[2]]).fetchone()[0]
    times.append(time.perf_counter() - t)
print(found, statistics.median(times))
"#;
    let python = std::env::var("SLUICE_BENCH_PYTHON").unwrap_or_else(|_| "python3".into());
    let out = std::process::Command::new(&python)
        .arg("-c")
        .arg(SCRIPT)
        .arg(a)
        .arg(b)
        .output()
        .map_err(|e| format!("{python}: {e}"))?;
    if !out.status.success() {
        let err = String::from_utf8_lossy(&out.stderr);
        return Err(format!(
            "{python} with duckdb failed (pip install duckdb): {}",
            err.lines().last().unwrap_or("")
        ));
    }
    let text = String::from_utf8_lossy(&out.stdout);
    let mut words = text.split_whitespace();
    let found = words.next().and_then(|w| w.parse().ok());
    let took = words.next().and_then(|w| w.parse::<f64>().ok());
    match (found, took) {
        (Some(found), Some(took)) => Ok((found, Duration::from_secs_f64(took))),
        _ => Err(format!("unexpected DuckDB output {text:?}")),
    }
}

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
    let options = duplicate_check("reviews");
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
    let columns = [
        "review_id",
        "customer_id",
        "star_rating",
        "product_title",
        "review_headline",
    ]
    .map(str::to_string);
    let kind = sluice_query::row_index::kind(&columns);
    let t = Instant::now();
    for f in 0..files {
        let path = format!("reviews/part-{f:05}.parquet");
        let entry = engine.stat_object(REPO, "main", &path).await.unwrap();
        while !sluice_query::row_index::is_stored(engine, REPO, &entry.address, &kind)
            .await
            .unwrap()
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
