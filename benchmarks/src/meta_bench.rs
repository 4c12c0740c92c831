//! Figures for the metadata engine, on the embedded store with real fsync, as ratios
//! between a large and a small repository (the cost must follow the change, not the size)
//! and against the targets. Run: `cargo run --release -p sluice-benchmarks --bin meta-bench`
//! (`-- --small` for a quick run with 100k objects instead of 1M; `-- --objects N` for a
//! large repository of N objects).

use std::time::{Duration, Instant};

use sluice_benchmarks::{entry, median, ms, peak_rss_mib, reset_peak_rss, rss_mib};
use std::sync::Arc;

use sluice_meta::kv::counting::CountingKv;
use sluice_meta::kv::embedded::EmbeddedKv;
use sluice_meta::{
    CommitRequest, DiffOptions, Engine, ListOptions, MergeRequest, MergeStrategy, WriteCondition,
};

fn path(i: u64) -> String {
    format!("tables/events/date={:04}/part-{:08}.parquet", i / 1000, i)
}

/// A commit's time and the process's peak memory while it ran.
struct CommitCost {
    time: Duration,
    peak_mib: f64,
}

/// Stage `n` objects in batches and commit them; returns what the commit cost.
async fn fill(engine: &Engine, repo: &str, branch: &str, n: u64) -> CommitCost {
    let batch = 20_000;
    let mut i = 0;
    while i < n {
        let end = (i + batch).min(n);
        let changes = (i..end).map(|j| (path(j), Some(entry(j)))).collect();
        engine.stage_entries(repo, branch, changes).await.unwrap();
        i = end;
    }
    reset_peak_rss();
    let t = Instant::now();
    engine
        .commit(repo, branch, CommitRequest::new("fill", "bench"))
        .await
        .unwrap();
    CommitCost {
        time: t.elapsed(),
        peak_mib: peak_rss_mib(),
    }
}

struct Figures {
    branch_create: Duration,
    commit_10: Duration,
    diff_100: Duration,
    /// Merge into a destination that has not moved since the branch was made.
    merge_100: Duration,
    /// Merge into a destination that moved meanwhile (another branch merged first): a
    /// true three-way merge.
    merge_100_moved: Duration,
    /// Median bytes sent to the store by the 10-change commit.
    commit_10_bytes: u64,
    /// Median bytes sent to the store by the three-way merge.
    merge_moved_bytes: u64,
}

/// Where a round's changes fall.
#[derive(Clone, Copy)]
enum Shape {
    /// New files in one new partition, as a Spark job writes them.
    Clustered,
    /// Updates and inserts at random places over the whole key space: the worst case.
    Spread,
}

fn changed_path(shape: Shape, n: u64, round: usize, k: u64) -> String {
    match shape {
        Shape::Clustered => format!("tables/events/date=new{round:03}/part-{k:08}.parquet"),
        Shape::Spread => {
            let i = (k * 15_485_863 + round as u64 * 32_452_843) % n;
            if k.is_multiple_of(2) {
                path(i)
            } else {
                format!("{}-new{round}", path(i))
            }
        }
    }
}

/// Stage 100 changes of `round` on `branch` and commit them: 10, then 90. Returns the
/// time of the commit of 10 and the bytes it sent to the store.
async fn change_100(
    engine: &Engine,
    counter: &CountingKv,
    repo: &str,
    branch: &str,
    n: u64,
    shape: Shape,
    round: usize,
) -> (Duration, u64) {
    for k in 0..10u64 {
        let p = changed_path(shape, n, round, k);
        engine
            .stage_entry(
                repo,
                branch,
                &p,
                entry(n + k + 1000 * round as u64),
                &WriteCondition::Always,
            )
            .await
            .unwrap();
    }
    let bytes = counter.bytes_written();
    let t = Instant::now();
    engine
        .commit(repo, branch, CommitRequest::new("ten", "bench"))
        .await
        .unwrap();
    let commit_10 = (t.elapsed(), counter.bytes_written() - bytes);
    let changes = (10..100u64)
        .map(|k| (changed_path(shape, n, round, k), Some(entry(n + k))))
        .collect();
    engine.stage_entries(repo, branch, changes).await.unwrap();
    engine
        .commit(repo, branch, CommitRequest::new("ninety", "bench"))
        .await
        .unwrap();
    commit_10
}

/// Operations whose cost must follow the change, not the repository.
async fn per_change(
    engine: &Engine,
    counter: &CountingKv,
    repo: &str,
    n: u64,
    shape: Shape,
    rounds: usize,
) -> Figures {
    let mut creates = Vec::new();
    let mut commits = Vec::new();
    let mut diffs = Vec::new();
    let mut merges = Vec::new();
    let mut moved_merges = Vec::new();
    let mut commit_bytes = Vec::new();
    let mut merge_bytes = Vec::new();
    let tag = match shape {
        Shape::Clustered => "c",
        Shape::Spread => "s",
    };
    for r in 0..rounds {
        let b = format!("{tag}{r}");
        let other = format!("{tag}{r}-other");
        let t = Instant::now();
        engine.create_branch(repo, &b, "main").await.unwrap();
        creates.push(t.elapsed());
        engine.create_branch(repo, &other, "main").await.unwrap();

        let (time, bytes) = change_100(engine, counter, repo, &b, n, shape, r).await;
        commits.push(time);
        commit_bytes.push(bytes);
        change_100(engine, counter, repo, &other, n, shape, r + 500).await;

        let t = Instant::now();
        let d = engine
            .diff(
                repo,
                "main",
                &b,
                &DiffOptions {
                    limit: 1000,
                    ..Default::default()
                },
            )
            .await
            .unwrap();
        diffs.push(t.elapsed());
        assert_eq!(d.changes.len(), 100);
        let t = Instant::now();
        engine
            .merge(repo, &b, "main", MergeRequest::default())
            .await
            .unwrap();
        merges.push(t.elapsed());
        // `main` moved since `other` was made: a three-way merge. On the small
        // repository the two branches may touch one path; the source wins there.
        let bytes = counter.bytes_written();
        let t = Instant::now();
        engine
            .merge(
                repo,
                &other,
                "main",
                MergeRequest {
                    strategy: MergeStrategy::SourceWins,
                    ..Default::default()
                },
            )
            .await
            .unwrap();
        moved_merges.push(t.elapsed());
        merge_bytes.push(counter.bytes_written() - bytes);
    }
    commit_bytes.sort();
    merge_bytes.sort();
    Figures {
        branch_create: median(creates),
        commit_10: median(commits),
        diff_100: median(diffs),
        merge_100: median(merges),
        merge_100_moved: median(moved_merges),
        commit_10_bytes: commit_bytes[commit_bytes.len() / 2],
        merge_moved_bytes: merge_bytes[merge_bytes.len() / 2],
    }
}

async fn list_1000(engine: &Engine, repo: &str, reference: &str, after: &str) -> Duration {
    let mut times = Vec::new();
    for _ in 0..7 {
        times.push(one_list_1000(engine, repo, reference, after).await);
    }
    median(times)
}

async fn one_list_1000(engine: &Engine, repo: &str, reference: &str, after: &str) -> Duration {
    let t = Instant::now();
    let page = engine
        .list_objects(
            repo,
            reference,
            &ListOptions {
                after: Some(after.to_string()),
                limit: 1000,
                ..Default::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(page.items.len(), 1000);
    t.elapsed()
}

fn verdict(met: bool) -> &'static str {
    if met { "met" } else { "not met" }
}

/// A row comparing the small and the large repository; `target` is the ratio bound, and
/// `absolute` an optional bound on the large figure.
fn row(
    name: &str,
    small: Duration,
    large: Duration,
    target: Option<f64>,
    absolute: Option<Duration>,
) {
    let ratio = large.as_secs_f64() / small.as_secs_f64().max(1e-9);
    let mut goals = Vec::new();
    if let Some(bound) = target {
        goals.push(format!("ratio <= {bound}x: {}", verdict(ratio <= bound)));
    }
    if let Some(bound) = absolute {
        goals.push(format!("< {}: {}", ms(bound), verdict(large < bound)));
    }
    let goals = if goals.is_empty() {
        "-".to_string()
    } else {
        goals.join("; ")
    };
    println!(
        "| {name} | {} | {} | {ratio:.2}x | {goals} |",
        ms(small),
        ms(large)
    );
}

fn objects_flag() -> Option<u64> {
    let args: Vec<String> = std::env::args().collect();
    let at = args.iter().position(|a| a == "--objects")?;
    let value = args
        .get(at + 1)
        .and_then(|v| v.replace('_', "").parse().ok());
    match value {
        Some(n) if n >= 10_000 => Some(n),
        _ => {
            eprintln!("--objects takes a number of objects, at least 10000");
            std::process::exit(2);
        }
    }
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let quick = std::env::args().any(|a| a == "--small");
    let large_n: u64 = objects_flag().unwrap_or(if quick { 100_000 } else { 1_000_000 });
    let small_n: u64 = 1_000;
    let dir = tempfile::tempdir().unwrap();
    // The embedded store, counted: bytes sent per operation are figures too.
    let counter = Arc::new(CountingKv::new(Arc::new(
        EmbeddedKv::open(dir.path().join("meta.redb")).unwrap(),
    )));
    let engine = Engine::builder(counter.clone(), dir.path().join("storage")).build();
    engine
        .create_repository("small", "local://small", "main")
        .await
        .unwrap();
    engine
        .create_repository("large", "local://large", "main")
        .await
        .unwrap();
    engine
        .create_repository("bulk", "local://bulk", "main")
        .await
        .unwrap();

    println!("# sluice-meta figures (embedded redb store, fsync on, 2 tokio workers)\n");
    let t = Instant::now();
    fill(&engine, "small", "main", small_n).await;
    let fill_large = fill(&engine, "large", "main", large_n).await;
    eprintln!("setup: {:.1} s", t.elapsed().as_secs_f64());

    // Commit of 100k staged objects, on an empty repository.
    let commit_100k = fill(&engine, "bulk", "main", 100_000).await;

    let rounds = 9;
    for (shape, title) in [
        (
            Shape::Clustered,
            "100 new files in one new partition (how Spark writes)",
        ),
        (
            Shape::Spread,
            "changes at random keys over the whole repository (worst case)",
        ),
    ] {
        let s = per_change(&engine, &counter, "small", small_n, shape, rounds).await;
        let l = per_change(&engine, &counter, "large", large_n, shape, rounds).await;
        println!("Changes: {title}; median of {rounds} rounds.\n");
        println!("| operation | {small_n} objects | {large_n} objects | ratio | target |");
        println!("|---|---|---|---|---|");
        let spread = matches!(shape, Shape::Spread);
        let under_5ms = spread.then_some(Duration::from_millis(5));
        row(
            "create branch",
            s.branch_create,
            l.branch_create,
            Some(1.5),
            None,
        );
        // Spread changes rewrite a leaf per change wherever they land: their bound is
        // 1.5x for a commit of 10, and 5 ms absolute for a merge of 100.
        row(
            "commit 10 changes",
            s.commit_10,
            l.commit_10,
            Some(1.5),
            None,
        );
        row("diff 100 changes", s.diff_100, l.diff_100, None, None);
        row(
            "merge 100 changes, destination unchanged",
            s.merge_100,
            l.merge_100,
            (!spread).then_some(1.5),
            under_5ms,
        );
        row(
            "merge 100 changes, destination moved",
            s.merge_100_moved,
            l.merge_100_moved,
            (!spread).then_some(1.5),
            under_5ms,
        );
        println!(
            "\nBytes sent to the store (ranges, commit, branch record, staging), median: commit of 10 changes {} KiB at {small_n}, {} KiB at {large_n}; three-way merge of 100 {} KiB at {small_n}, {} KiB at {large_n}.",
            s.commit_10_bytes / 1024,
            l.commit_10_bytes / 1024,
            s.merge_moved_bytes / 1024,
            l.merge_moved_bytes / 1024
        );
        println!();
    }
    println!("| operation | time | peak memory | target |");
    println!("|---|---|---|---|");
    println!(
        "| commit 100,000 staged objects | {} | {:.0} MiB | < 2000 ms: {} (lakeFS: 30-167 s for 500k) |",
        ms(commit_100k.time),
        commit_100k.peak_mib,
        verdict(commit_100k.time < Duration::from_secs(2))
    );
    println!(
        "| commit {large_n} staged objects | {} | {:.0} MiB | peak < 256 MiB: {} |",
        ms(fill_large.time),
        fill_large.peak_mib,
        verdict(fill_large.peak_mib < 256.0)
    );

    // Listing 1,000 keys out of the large repository, in the middle of the key space.
    let mid = path(large_n / 2);
    let clean = list_1000(&engine, "large", "main", &mid).await;
    engine
        .create_branch("large", "spread", "main")
        .await
        .unwrap();
    engine
        .create_branch("large", "block", "main")
        .await
        .unwrap();
    let deletions = 100_000u64.min(large_n / 5);
    let rss_before = rss_mib();
    reset_peak_rss();
    for chunk in (0..deletions).collect::<Vec<_>>().chunks(20_000) {
        // Spread: every 10th key of the whole repository.
        let spread = chunk
            .iter()
            .map(|k| (path(k * (large_n / deletions)), None))
            .collect();
        engine
            .stage_entries("large", "spread", spread)
            .await
            .unwrap();
        // Block: the keys right after the listing's start point.
        let block = chunk
            .iter()
            .map(|k| (path(large_n / 2 + 1 + k), None))
            .collect();
        engine.stage_entries("large", "block", block).await.unwrap();
    }
    // Bulk deletions start background folds; the first listing may come before they end.
    let first_block = one_list_1000(&engine, "large", "block", &mid).await;
    let t = Instant::now();
    engine.folds_settled().await;
    let fold_wait = t.elapsed();
    let fold_peak = peak_rss_mib();
    let spread = list_1000(&engine, "large", "spread", &mid).await;
    let block = list_1000(&engine, "large", "block", &mid).await;
    println!();
    println!("| list 1,000 keys of {large_n} | time | ratio to clean | target |");
    println!("|---|---|---|---|");
    println!("| no uncommitted changes | {} | 1.00x | - |", ms(clean));
    let ratio = |d: Duration| d.as_secs_f64() / clean.as_secs_f64();
    println!(
        "| {deletions} uncommitted deletions spread over the keys | {} | {:.2}x | <= 3x: {} |",
        ms(spread),
        ratio(spread),
        verdict(ratio(spread) <= 3.0)
    );
    println!(
        "| {deletions} uncommitted deletions in one block at the start point | {} | {:.2}x | <= 3x: {} |",
        ms(block),
        ratio(block),
        verdict(ratio(block) <= 3.0)
    );
    println!(
        "| the same, first listing right after the deletions (background fold may be running) | {} | {:.2}x | - |",
        ms(first_block),
        ratio(first_block)
    );
    println!(
        "\nbackground folds of the deletions ended {} after the last was staged; peak RSS while staging and folding them: {fold_peak:.0} MiB (RSS before: {rss_before:.0} MiB)",
        ms(fold_wait)
    );
}
