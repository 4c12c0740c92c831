//! Merges that run in the background, so that no client waits on a merge's checks: the
//! REST API's async merge (lakeFS's shape) and the web UI's merge button start one and poll
//! its state.
//!
//! A task's record lives in the metadata store (`v/{repo}/{id}`, JSON), so any sidecar
//! answers its state. While the merge runs, the worker touches the record every few
//! seconds; a record left untouched for a minute belongs to a sidecar that stopped, and its
//! state says so instead of "still running" forever.

use std::time::Duration;

use http::StatusCode;
use serde::{Deserialize, Serialize};
use sluice_meta::kv::KvExt;
use sluice_meta::{Engine, MergeRequest};

use crate::api::{MergeAsyncError, MergeResult};

/// How often a running merge touches its record.
const HEARTBEAT: Duration = Duration::from_secs(5);
/// A running record untouched this long lost its sidecar.
const STALLED_AFTER: Duration = Duration::from_secs(60);

/// A background merge as stored, and as its state is read back.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct MergeTask {
    /// The ref merged.
    pub source: String,
    /// The branch merged into.
    pub destination: String,
    /// The merge finished, merged or refused.
    pub completed: bool,
    /// When the task last made progress (milliseconds since the epoch).
    pub update_ms: i64,
    /// The merge commit, once it succeeded.
    pub result: Option<MergeResult>,
    /// Why it failed: what the synchronous merge would have answered.
    pub error: Option<MergeAsyncError>,
}

fn key(repo: &str, id: &str) -> Vec<u8> {
    format!("v/{repo}/{id}").into_bytes()
}

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

/// Start merging `source` into `dest` in the background; the task's id. What can be refused
/// at once is: the repository, the source, the destination.
pub async fn start(
    engine: &Engine,
    repo: &str,
    source: &str,
    dest: &str,
    request: MergeRequest,
) -> sluice_meta::Result<String> {
    engine.resolve_ref(repo, source).await?;
    engine.branch(repo, dest).await?;
    let id = uuid::Uuid::new_v4().simple().to_string();
    let task = MergeTask {
        source: source.to_string(),
        destination: dest.to_string(),
        completed: false,
        update_ms: now_ms(),
        result: None,
        error: None,
    };
    let k = key(repo, &id);
    let running = serde_json::to_vec(&task).expect("task serialises");
    engine.kv().put(&k, &running).await?;
    let (engine, repo, source, dest) = (
        engine.clone(),
        repo.to_string(),
        source.to_string(),
        dest.to_string(),
    );
    tokio::spawn(async move {
        // The merge (and its pre-merge gate's decoding) runs on the query runtime.
        let merge = {
            let engine = engine.clone();
            crate::query_pool::run(
                async move { engine.merge(&repo, &source, &dest, request).await },
            )
        };
        tokio::pin!(merge);
        let mut stored = running;
        let mut tick = tokio::time::interval(HEARTBEAT);
        tick.tick().await;
        let outcome = loop {
            tokio::select! {
                outcome = &mut merge => break outcome,
                _ = tick.tick() => {
                    let mut touched = task.clone();
                    touched.update_ms = now_ms();
                    let bytes = serde_json::to_vec(&touched).expect("task serialises");
                    if let Ok(true) = engine.kv().compare_and_swap(&k, Some(&stored), Some(&bytes)).await {
                        stored = bytes;
                    }
                }
            }
        };
        let mut done = task;
        done.completed = true;
        done.update_ms = now_ms();
        match outcome {
            Ok((commit, _)) => done.result = Some(MergeResult { reference: commit }),
            Err(e) => done.error = Some(crate::rest::merge_failure(e)),
        }
        let bytes = serde_json::to_vec(&done).expect("task serialises");
        if let Err(e) = engine.kv().put(&k, &bytes).await {
            tracing::error!(error = %e, task = %String::from_utf8_lossy(&k), "cannot record an async merge's outcome");
        }
    });
    Ok(id)
}

/// The state of task `id` of `repo`, if there is one. A running task whose sidecar stopped
/// reads as completed, with a 503 error that says so.
pub async fn state(
    engine: &Engine,
    repo: &str,
    id: &str,
) -> sluice_meta::Result<Option<MergeTask>> {
    // The repository must exist (a deleted one's tasks are gone with it).
    engine.repository(repo).await?;
    let bytes = engine.kv().get(&key(repo, id)).await?;
    let Some(mut task) = bytes
        .as_deref()
        .and_then(|b| serde_json::from_slice::<MergeTask>(b).ok())
    else {
        return Ok(None);
    };
    let idle = now_ms() - task.update_ms;
    if !task.completed && idle > STALLED_AFTER.as_millis() as i64 {
        task.completed = true;
        task.error = Some(MergeAsyncError {
            status_code: StatusCode::SERVICE_UNAVAILABLE.as_u16(),
            message: format!(
                "the merge of {} stopped making progress {} s ago (its sidecar stopped?); the \
                 destination is unchanged unless its log shows the merge: merge again",
                task.source,
                idle / 1000
            ),
            conflicts: None,
            report: None,
        });
    }
    Ok(Some(task))
}
