//! Durability: a child process acknowledges writes and commits and is killed with SIGKILL
//! mid-stream; the reopened store must hold every acknowledged write and a consistent branch
//! head. On the embedded store, or on PostgreSQL with `SLUICE_TEST_METADATA=postgres`.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};

mod common;

use sluice_meta::{CommitRequest, Engine, ErrorKind, LogOptions, PutOptions};

const DIR_VAR: &str = "SLUICE_CRASH_TEST_DIR";
/// The PostgreSQL database parent and child share, when the test runs on PostgreSQL.
const DATABASE_VAR: &str = "SLUICE_CRASH_TEST_DATABASE";

/// The engine over the folder's local storage and the metadata store under test.
async fn open(dir: &std::path::Path, database: Option<&str>) -> Engine {
    match database {
        Some(url) => {
            let kv = sluice_meta::kv::postgres::PostgresKv::connect(url)
                .await
                .unwrap();
            Engine::builder(std::sync::Arc::new(kv), dir.join("storage")).build()
        }
        None => Engine::open_embedded(dir).unwrap().build(),
    }
}

/// The child: writers and a committer run until the process is killed. Each write's
/// acknowledgement is printed only after the engine returned.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "run by crash_keeps_acknowledged_writes in a child process"]
async fn crash_child() {
    let Ok(dir) = std::env::var(DIR_VAR) else {
        return;
    };
    let database = std::env::var(DATABASE_VAR).ok();
    let engine = open(std::path::Path::new(&dir), database.as_deref()).await;
    // Later rounds reopen the repository the first one made.
    match engine
        .create_repository("repo", "local://repo", "main")
        .await
    {
        Ok(_) => {}
        Err(e) if e.kind() == ErrorKind::AlreadyExists => {}
        Err(e) => panic!("{e}"),
    }
    let committer = {
        let engine = engine.clone();
        tokio::spawn(async move {
            loop {
                match engine
                    .commit("repo", "main", CommitRequest::new("periodic", "crash"))
                    .await
                {
                    Ok((id, _)) => println!("COMMIT {id}"),
                    Err(e) if e.kind() == ErrorKind::Invalid => {}
                    Err(e) => panic!("commit failed: {e}"),
                }
                tokio::time::sleep(std::time::Duration::from_millis(5)).await;
            }
        })
    };
    let mut writers = Vec::new();
    for w in 0..4 {
        let engine = engine.clone();
        writers.push(tokio::spawn(async move {
            for i in 0.. {
                let path = format!("w{w}/k{i:06}");
                engine
                    .put_bytes("repo", "main", &path, path.clone(), PutOptions::default())
                    .await
                    .unwrap();
                println!("ACK {path}");
            }
        }));
    }
    for w in writers {
        w.await.unwrap();
    }
    committer.abort();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn crash_keeps_acknowledged_writes() {
    let dir = tempfile::tempdir().unwrap();
    let database = match sluice_meta::testing::TestStore::from_env() {
        sluice_meta::testing::TestStore::Postgres => Some(
            sluice_meta::testing::postgres_server()
                .fresh_database()
                .await,
        ),
        _ => None,
    };
    for round in 0..3 {
        let mut child = Command::new(std::env::current_exe().unwrap())
            .args([
                "--ignored",
                "--exact",
                "crash_child",
                "--nocapture",
                "--test-threads=1",
            ])
            .env(DIR_VAR, dir.path())
            .envs(database.as_ref().map(|url| (DATABASE_VAR, url)))
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let stdout = BufReader::new(child.stdout.take().unwrap());
        let mut acked = Vec::new();
        let mut commits = Vec::new();
        let kill_after = 200 + round * 150;
        for line in stdout.lines() {
            let line = line.unwrap();
            if let Some(p) = line.strip_prefix("ACK ") {
                acked.push(p.to_string());
            } else if let Some(c) = line.strip_prefix("COMMIT ") {
                commits.push(c.to_string());
            }
            if acked.len() >= kill_after {
                child.kill().unwrap(); // SIGKILL
                break;
            }
        }
        child.wait().unwrap();
        assert!(acked.len() >= kill_after, "child stopped early");

        // The writer thread of a killed process is gone; the file is ours to open.
        let engine = open(dir.path(), database.as_deref()).await;
        let visible = all_paths(&engine, "main").await;
        for p in &acked {
            assert!(
                visible.contains(p),
                "round {round}: acknowledged {p} was lost"
            );
            let entry = engine.stat_object("repo", "main", p).await.unwrap();
            let body: Vec<bytes::Bytes> = futures::TryStreamExt::try_collect(
                engine.read_object("repo", &entry, None).await.unwrap(),
            )
            .await
            .unwrap();
            assert_eq!(body.concat(), p.as_bytes(), "round {round}: content of {p}");
        }
        // The head is a readable commit whose history contains every reported commit.
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
        let ids: std::collections::HashSet<_> =
            log.commits.iter().map(|(id, _)| id.clone()).collect();
        for c in &commits {
            assert!(
                ids.contains(c),
                "round {round}: reported commit {c} is not in history"
            );
        }
        // The store goes on working: commit what is staged.
        let _ = engine
            .commit("repo", "main", CommitRequest::new("after crash", "t"))
            .await;
        drop(engine);
    }
}

async fn all_paths(engine: &Engine, reference: &str) -> std::collections::HashSet<String> {
    common::list_all(engine, reference, 1000)
        .await
        .into_iter()
        .map(|(p, _)| p)
        .collect()
}
