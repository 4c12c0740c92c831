//! Concurrency: writers racing commits lose nothing and double-commit nothing; concurrent
//! commits and merges into one branch lose no update. Run on the embedded store (grouped
//! writes, real fsync) and on the in-memory store.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use sluice_meta::testing::TestStore;
use sluice_meta::{
    CommitRequest, DiffOptions, Engine, Entry, ErrorKind, ListOptions, LogOptions, MergeRequest,
    WriteCondition,
};

async fn engines() -> Vec<(Engine, tempfile::TempDir)> {
    let a = tempfile::tempdir().unwrap();
    let embedded = Engine::open_embedded(a.path()).unwrap().build();
    // The second: the store SLUICE_TEST_METADATA names (in memory by default).
    let b = tempfile::tempdir().unwrap();
    let chosen = Engine::builder(TestStore::from_env().open(b.path()).await, b.path()).build();
    let mut out = Vec::new();
    for (e, d) in [(embedded, a), (chosen, b)] {
        e.create_repository("repo", "local://repo", "main")
            .await
            .unwrap();
        out.push((e, d));
    }
    out
}

fn entry(path: &str) -> Entry {
    Entry::new(format!("data/{path}"), 1, path)
}

/// Paths each commit added, walking first parents from the head.
async fn added_per_commit(engine: &Engine) -> HashMap<String, usize> {
    let log = engine
        .log(
            "repo",
            "main",
            &LogOptions {
                first_parent: true,
                limit: 100_000,
                ..Default::default()
            },
        )
        .await
        .unwrap();
    let mut seen: HashMap<String, usize> = HashMap::new();
    for (id, c) in &log.commits {
        let Some(parent) = c.parents.first() else {
            continue;
        };
        let mut after = None;
        loop {
            let page = engine
                .diff(
                    "repo",
                    parent,
                    id,
                    &DiffOptions {
                        after: after.clone(),
                        limit: 1000,
                        ..Default::default()
                    },
                )
                .await
                .unwrap();
            for d in &page.changes {
                *seen.entry(d.path.clone()).or_default() += 1;
            }
            if !page.has_more {
                break;
            }
            after = page.changes.last().map(|d| d.path.clone());
        }
    }
    seen
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn writes_racing_commits_land_exactly_once() {
    for (engine, _dir) in engines().await {
        let writers = 6;
        let per_writer = 150;
        let writing = Arc::new(std::sync::atomic::AtomicBool::new(true));
        let commits_made = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let mut tasks = Vec::new();
        for w in 0..writers {
            let engine = engine.clone();
            let commits_made = commits_made.clone();
            tasks.push(tokio::spawn(async move {
                let mut acked = Vec::new();
                for i in 0..per_writer {
                    let p = format!("w{w}/{i:04}");
                    engine
                        .stage_entry("repo", "main", &p, entry(&p), &WriteCondition::Always)
                        .await
                        .unwrap();
                    acked.push(p);
                    // Every 50 writes, wait (briefly) for a commit, so that writes and
                    // commits interleave however the scheduler runs the tasks.
                    if i % 50 == 49 {
                        let seen = commits_made.load(std::sync::atomic::Ordering::SeqCst);
                        for _ in 0..2000 {
                            if commits_made.load(std::sync::atomic::Ordering::SeqCst) > seen {
                                break;
                            }
                            tokio::time::sleep(std::time::Duration::from_millis(1)).await;
                        }
                    }
                }
                acked
            }));
        }
        let committer = {
            let engine = engine.clone();
            let writing = writing.clone();
            let commits_made = commits_made.clone();
            tokio::spawn(async move {
                let mut commits = 0;
                while writing.load(std::sync::atomic::Ordering::SeqCst) {
                    match engine
                        .commit("repo", "main", CommitRequest::new("racing", "t"))
                        .await
                    {
                        Ok(_) => {
                            commits += 1;
                            commits_made.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                        }
                        Err(e) if matches!(e.kind(), ErrorKind::Invalid | ErrorKind::Conflict) => {}
                        Err(e) => panic!("{e}"),
                    }
                    tokio::task::yield_now().await;
                }
                commits
            })
        };
        let mut acked = Vec::new();
        for t in tasks {
            acked.extend(t.await.unwrap());
        }
        writing.store(false, std::sync::atomic::Ordering::SeqCst);
        let commits = committer.await.unwrap();
        assert!(commits > 1, "the committer should have raced the writers");

        let committed = added_per_commit(&engine).await;
        let staged: HashSet<String> = engine
            .diff_uncommitted(
                "repo",
                "main",
                &DiffOptions {
                    limit: 100_000,
                    ..Default::default()
                },
            )
            .await
            .unwrap()
            .changes
            .into_iter()
            .map(|d| d.path)
            .collect();
        for p in &acked {
            let in_commits = committed.get(p).copied().unwrap_or(0);
            let in_staging = usize::from(staged.contains(p));
            assert_eq!(
                in_commits + in_staging,
                1,
                "{p}: {in_commits} commits, staged {in_staging}"
            );
        }
        assert_eq!(committed.len() + staged.len(), acked.len());
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_merges_into_one_branch_lose_nothing() {
    for (engine, _dir) in engines().await {
        let tasks = 6;
        let mut handles = Vec::new();
        for t in 0..tasks {
            let engine = engine.clone();
            handles.push(tokio::spawn(async move {
                let branch = format!("feature-{t}");
                engine.create_branch("repo", &branch, "main").await.unwrap();
                for round in 0..3 {
                    let p = format!("{branch}/file-{round}");
                    engine
                        .stage_entry("repo", &branch, &p, entry(&p), &WriteCondition::Always)
                        .await
                        .unwrap();
                    engine
                        .commit("repo", &branch, CommitRequest::new("work", "t"))
                        .await
                        .unwrap();
                    // A merge that loses the race for main's head retries inside the engine;
                    // one that runs out of retries reports a conflict, and the caller retries.
                    loop {
                        match engine
                            .merge("repo", &branch, "main", MergeRequest::default())
                            .await
                        {
                            Ok(_) => break,
                            Err(e) if e.kind() == ErrorKind::Conflict => {
                                tokio::task::yield_now().await
                            }
                            Err(e) => panic!("merge: {e}"),
                        }
                    }
                }
            }));
        }
        // Meanwhile, commits on main itself through a branch that is merged in, too.
        for h in handles {
            h.await.unwrap();
        }
        let page = engine
            .list_objects(
                "repo",
                "main",
                &ListOptions {
                    limit: 1000,
                    ..Default::default()
                },
            )
            .await
            .unwrap();
        assert_eq!(page.items.len(), tasks * 3, "every merged file is on main");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_commits_on_one_branch() {
    for (engine, _dir) in engines().await {
        let mut handles = Vec::new();
        for t in 0..6 {
            let engine = engine.clone();
            handles.push(tokio::spawn(async move {
                let mut outcomes = (0, 0);
                for i in 0..10 {
                    let p = format!("c{t}/{i}");
                    engine
                        .stage_entry("repo", "main", &p, entry(&p), &WriteCondition::Always)
                        .await
                        .unwrap();
                    match engine
                        .commit("repo", "main", CommitRequest::new("mine", "t"))
                        .await
                    {
                        Ok(_) => outcomes.0 += 1,
                        // Another commit took this task's write, or kept winning the race.
                        Err(e) if matches!(e.kind(), ErrorKind::Invalid | ErrorKind::Conflict) => {
                            outcomes.1 += 1
                        }
                        Err(e) => panic!("{e}"),
                    }
                }
                outcomes
            }));
        }
        let mut ok = 0;
        for h in handles {
            ok += h.await.unwrap().0;
        }
        assert!(ok > 0);
        // A task whose commit lost every race leaves its write staged; one last commit
        // takes whatever is left, so every write must now be in exactly one commit.
        match engine
            .commit("repo", "main", CommitRequest::new("rest", "t"))
            .await
        {
            Ok(_) => {}
            Err(e) if e.kind() == ErrorKind::Invalid => {}
            Err(e) => panic!("{e}"),
        }
        let committed = added_per_commit(&engine).await;
        assert_eq!(committed.len(), 60, "every write committed");
        assert!(
            committed.values().all(|n| *n == 1),
            "no write committed twice"
        );
    }
}

/// Commits on main racing merges into main: every write committed on main and every
/// merged file ends up on main, and every commit that was acknowledged stays reachable
/// from main's head.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn commits_racing_merges_into_one_branch_lose_nothing() {
    for (engine, _dir) in engines().await {
        let mut handles = Vec::new();
        for t in 0..3 {
            // Committers: write to main and commit it, over and over.
            let engine = engine.clone();
            handles.push(tokio::spawn(async move {
                let mut acknowledged = Vec::new();
                for i in 0..8 {
                    let p = format!("direct-{t}/{i}");
                    engine
                        .stage_entry("repo", "main", &p, entry(&p), &WriteCondition::Always)
                        .await
                        .unwrap();
                    match engine
                        .commit("repo", "main", CommitRequest::new("direct", "t"))
                        .await
                    {
                        Ok((id, _)) => acknowledged.push(id),
                        Err(e) if matches!(e.kind(), ErrorKind::Invalid | ErrorKind::Conflict) => {}
                        Err(e) => panic!("commit: {e}"),
                    }
                }
                acknowledged
            }));
        }
        for t in 0..3 {
            // Mergers: work on a branch, merge it into main, over and over.
            let engine = engine.clone();
            handles.push(tokio::spawn(async move {
                let branch = format!("feature-{t}");
                engine.create_branch("repo", &branch, "main").await.unwrap();
                let mut acknowledged = Vec::new();
                for round in 0..3 {
                    let p = format!("{branch}/file-{round}");
                    engine
                        .stage_entry("repo", &branch, &p, entry(&p), &WriteCondition::Always)
                        .await
                        .unwrap();
                    let (c, _) = engine
                        .commit("repo", &branch, CommitRequest::new("work", "t"))
                        .await
                        .unwrap();
                    acknowledged.push(c);
                    // Main has uncommitted writes now and then (a Conflict): try again.
                    loop {
                        match engine
                            .merge("repo", &branch, "main", MergeRequest::default())
                            .await
                        {
                            Ok((id, _)) => {
                                acknowledged.push(id);
                                break;
                            }
                            Err(e) if e.kind() == ErrorKind::Conflict => {
                                tokio::time::sleep(std::time::Duration::from_millis(1)).await
                            }
                            Err(e) => panic!("merge: {e}"),
                        }
                    }
                }
                acknowledged
            }));
        }
        let mut acknowledged = HashSet::new();
        for h in handles {
            acknowledged.extend(h.await.unwrap());
        }
        match engine
            .commit("repo", "main", CommitRequest::new("rest", "t"))
            .await
        {
            Ok(_) => {}
            Err(e) if e.kind() == ErrorKind::Invalid => {}
            Err(e) => panic!("{e}"),
        }
        let page = engine
            .list_objects(
                "repo",
                "main",
                &ListOptions {
                    limit: 1000,
                    ..Default::default()
                },
            )
            .await
            .unwrap();
        assert_eq!(page.items.len(), 3 * 8 + 3 * 3, "every write is on main");
        let log = engine
            .log(
                "repo",
                "main",
                &LogOptions {
                    limit: 100_000,
                    ..Default::default()
                },
            )
            .await
            .unwrap();
        let reachable: HashSet<String> = log.commits.iter().map(|(id, _)| id.clone()).collect();
        let lost: Vec<_> = acknowledged.difference(&reachable).collect();
        assert!(
            lost.is_empty(),
            "acknowledged commits not reachable: {lost:?}"
        );
    }
}
