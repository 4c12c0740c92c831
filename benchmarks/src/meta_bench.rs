//! Figures for the metadata engine, on the embedded store with real fsync, as ratios
//! between a large and a small repository (the cost must follow the change, not the size)
//! and against the targets. Run: `cargo run --release -p sluice-benchmarks --bin meta-bench`
//! (`-- --small` for a quick run with 100k objects instead of 1M).

use std::time::{Duration, Instant};

use sluice_benchmarks::{entry, median, ms};
use sluice_meta::{CommitRequest, DiffOptions, Engine, ListOptions, MergeRequest, WriteCondition};

fn path(i: u64) -> String {
    format!("tables/events/date={:04}/part-{:08}.parquet", i / 1000, i)
}

/// Stage `n` objects in batches and commit them; returns the commit time.
async fn fill(engine: &Engine, repo: &str, branch: &str, n: u64) -> Duration {
    let batch = 20_000;
    let mut i = 0;
    while i < n {
        let end = (i + batch).min(n);
        let changes = (i..end).map(|j| (path(j), Some(entry(j)))).collect();
        engine.stage_entries(repo, branch, changes).await.unwrap();
        i = end;
    }
    let t = Instant::now();
    engine
        .commit(repo, branch, CommitRequest::new("fill", "bench"))
        .await
        .unwrap();
    t.elapsed()
}

struct Figures {
    branch_create: Duration,
    commit_10: Duration,
    diff_100: Duration,
    merge_100: Duration,
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

/// Operations whose cost must follow the change, not the repository.
async fn per_change(engine: &Engine, repo: &str, n: u64, shape: Shape, rounds: usize) -> Figures {
    let mut creates = Vec::new();
    let mut commits = Vec::new();
    let mut diffs = Vec::new();
    let mut merges = Vec::new();
    let tag = match shape {
        Shape::Clustered => "c",
        Shape::Spread => "s",
    };
    for r in 0..rounds {
        let b = format!("{tag}{r}");
        let t = Instant::now();
        engine.create_branch(repo, &b, "main").await.unwrap();
        creates.push(t.elapsed());

        for k in 0..10u64 {
            let p = changed_path(shape, n, r, k);
            engine
                .stage_entry(
                    repo,
                    &b,
                    &p,
                    entry(n + k + 1000 * r as u64),
                    &WriteCondition::Always,
                )
                .await
                .unwrap();
        }
        let t = Instant::now();
        engine
            .commit(repo, &b, CommitRequest::new("ten", "bench"))
            .await
            .unwrap();
        commits.push(t.elapsed());

        // 100 changes in all for diff and merge.
        let changes = (10..100u64)
            .map(|k| (changed_path(shape, n, r, k), Some(entry(n + k))))
            .collect();
        engine.stage_entries(repo, &b, changes).await.unwrap();
        engine
            .commit(repo, &b, CommitRequest::new("ninety", "bench"))
            .await
            .unwrap();
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
    }
    Figures {
        branch_create: median(creates),
        commit_10: median(commits),
        diff_100: median(diffs),
        merge_100: median(merges),
    }
}

async fn list_1000(engine: &Engine, repo: &str, reference: &str, after: &str) -> Duration {
    let mut times = Vec::new();
    for _ in 0..7 {
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
        times.push(t.elapsed());
        assert_eq!(page.items.len(), 1000);
    }
    median(times)
}

fn peak_rss_mib() -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines().find(|l| l.starts_with("VmHWM:")).and_then(|l| {
                l.split_whitespace()
                    .nth(1)
                    .and_then(|k| k.parse::<f64>().ok())
            })
        })
        .map_or(0.0, |kib| kib / 1024.0)
}

fn row(name: &str, small: Duration, large: Duration, target: &str) {
    let ratio = large.as_secs_f64() / small.as_secs_f64().max(1e-9);
    println!(
        "| {name} | {} | {} | {ratio:.2}x | {target} |",
        ms(small),
        ms(large)
    );
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let quick = std::env::args().any(|a| a == "--small");
    let large_n: u64 = if quick { 100_000 } else { 1_000_000 };
    let small_n: u64 = 1_000;
    let dir = tempfile::tempdir().unwrap();
    let engine = Engine::open_embedded(dir.path()).unwrap().build();
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
        let s = per_change(&engine, "small", small_n, shape, rounds).await;
        let l = per_change(&engine, "large", large_n, shape, rounds).await;
        println!("Changes: {title}; median of {rounds} rounds.\n");
        println!("| operation | {small_n} objects | {large_n} objects | ratio | target |");
        println!("|---|---|---|---|---|");
        row(
            "create branch",
            s.branch_create,
            l.branch_create,
            "ratio <= 1.5x",
        );
        row(
            "commit 10 changes",
            s.commit_10,
            l.commit_10,
            "ratio <= 1.5x",
        );
        row("diff 100 changes", s.diff_100, l.diff_100, "-");
        row(
            "merge 100 changes",
            s.merge_100,
            l.merge_100,
            "ratio <= 1.5x",
        );
        println!();
    }
    println!("| operation | time | target |");
    println!("|---|---|---|");
    println!(
        "| commit 100,000 staged objects | {} | < 2000 ms (lakeFS: 30-167 s for 500k) |",
        ms(commit_100k)
    );
    println!(
        "| commit {large_n} staged objects | {} | - |",
        ms(fill_large)
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
    let spread = list_1000(&engine, "large", "spread", &mid).await;
    let block = list_1000(&engine, "large", "block", &mid).await;
    println!();
    println!("| list 1,000 keys of {large_n} | time | ratio to clean |");
    println!("|---|---|---|");
    println!("| no uncommitted changes | {} | 1.00x |", ms(clean));
    println!(
        "| {deletions} uncommitted deletions spread over the keys | {} | {:.2}x |",
        ms(spread),
        spread.as_secs_f64() / clean.as_secs_f64()
    );
    println!(
        "| {deletions} uncommitted deletions in one block at the start point | {} | {:.2}x |",
        ms(block),
        block.as_secs_f64() / clean.as_secs_f64()
    );
    println!();
    println!("peak RSS: {:.0} MiB", peak_rss_mib());
}
