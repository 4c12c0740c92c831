//! Merges that never time out a client, in lakeFS's async merge shape: `POST
//! .../merge/{dest}/async` answers 202 `{"id"}` at once and runs the merge (with its
//! pre-merge checks) in the background; `GET .../merge/{dest}/async/{id}/status` answers
//! `{"completed", "result": {"reference"}, "error": {"status_code", "message", "report"}}`.
//!
//! The task's record lives in the metadata store (`v/{repo}/{id}`, JSON), so any sidecar
//! answers the status. While the merge runs, the worker touches the record every few
//! seconds; a record left untouched for a minute belongs to a sidecar that stopped, and its
//! status says so instead of "still running" forever.

use std::time::Duration;

use http::StatusCode;
use serde::{Deserialize, Serialize};
use sluice_meta::kv::KvExt;

use super::refs::merge_request;
use super::{Answer, ApiError, Call, reply};
use crate::api::{MergeAsyncError, MergeAsyncStatus, MergeResult, TaskCreation};

/// How often a running merge touches its record.
const HEARTBEAT: Duration = Duration::from_secs(5);
/// A running record untouched this long lost its sidecar.
const STALLED_AFTER: Duration = Duration::from_secs(60);

/// The stored task.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct Task {
    source: String,
    destination: String,
    completed: bool,
    update_ms: i64,
    result: Option<MergeResult>,
    error: Option<MergeAsyncError>,
}

fn key(repo: &str, id: &str) -> Vec<u8> {
    format!("v/{repo}/{id}").into_bytes()
}

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

pub(super) async fn start(call: Call) -> Answer {
    let (engine, repo) = (call.engine.clone(), call.param("repo"));
    let (source, dest) = (call.param("source"), call.param("dest"));
    let request = merge_request(call).await?;
    // What can be refused at once is: the repository, the source, the destination.
    engine.resolve_ref(&repo, &source).await?;
    engine.branch(&repo, &dest).await?;
    let id = uuid::Uuid::new_v4().simple().to_string();
    let task = Task {
        source: source.clone(),
        destination: dest.clone(),
        completed: false,
        update_ms: now_ms(),
        result: None,
        error: None,
    };
    let k = key(&repo, &id);
    let running = serde_json::to_vec(&task).expect("task serialises");
    engine.kv().put(&k, &running).await?;
    tokio::spawn(async move {
        let merge = engine.merge(&repo, &source, &dest, request);
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
            Err(e) => {
                let error = ApiError::from(e);
                done.error = Some(MergeAsyncError {
                    status_code: error.status.as_u16(),
                    message: error.body.message,
                    conflicts: error.body.conflicts,
                    report: error.body.report,
                });
            }
        }
        let bytes = serde_json::to_vec(&done).expect("task serialises");
        if let Err(e) = engine.kv().put(&k, &bytes).await {
            tracing::error!(error = %e, task = %String::from_utf8_lossy(&k), "cannot record an async merge's outcome");
        }
    });
    reply(StatusCode::ACCEPTED, TaskCreation { id })
}

pub(super) async fn status(call: Call) -> Answer {
    let (repo, id) = (call.param("repo"), call.param("id"));
    let dest = call.param("dest");
    // The repository must exist (a deleted one's tasks are gone with it).
    call.engine.repository(&repo).await?;
    let bytes = call.engine.kv().get(&key(&repo, &id)).await?;
    let task: Task = bytes
        .as_deref()
        .and_then(|b| serde_json::from_slice(b).ok())
        .filter(|t: &Task| t.destination == dest)
        .ok_or_else(|| {
            ApiError::new(
                StatusCode::NOT_FOUND,
                format!("no merge task {id:?} into {dest:?}"),
            )
        })?;
    let mut status = MergeAsyncStatus {
        task_id: id,
        completed: task.completed,
        update_time: super::imports::rfc3339(task.update_ms),
        result: task.result,
        error: task.error,
    };
    let idle = now_ms() - task.update_ms;
    if !task.completed && idle > STALLED_AFTER.as_millis() as i64 {
        status.completed = true;
        status.error = Some(MergeAsyncError {
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
    reply(StatusCode::OK, status)
}
