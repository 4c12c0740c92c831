//! Merges that never time out a client, in lakeFS's async merge shape: `POST
//! .../merge/{dest}/async` answers 202 `{"id"}` at once and runs the merge (with its
//! pre-merge checks) in the background ([`crate::merge_tasks`]); `GET
//! .../merge/{dest}/async/{id}/status` answers `{"completed", "result": {"reference"},
//! "error": {"status_code", "message", "report"}}`.

use http::StatusCode;

use super::refs::merge_request;
use super::{Answer, ApiError, Call, reply};
use crate::api::{MergeAsyncStatus, TaskCreation};
use crate::merge_tasks;

pub(super) async fn start(call: Call) -> Answer {
    let (engine, repo) = (call.engine.clone(), call.param("repo"));
    let (source, dest) = (call.param("source"), call.param("dest"));
    let request = merge_request(call).await?;
    let id = merge_tasks::start(&engine, &repo, &source, &dest, request).await?;
    reply(StatusCode::ACCEPTED, TaskCreation { id })
}

pub(super) async fn status(call: Call) -> Answer {
    let (repo, id) = (call.param("repo"), call.param("id"));
    let dest = call.param("dest");
    let task = merge_tasks::state(&call.engine, &repo, &id)
        .await?
        .filter(|t| t.destination == dest)
        .ok_or_else(|| {
            ApiError::new(
                StatusCode::NOT_FOUND,
                format!("no merge task {id:?} into {dest:?}"),
            )
        })?;
    reply(
        StatusCode::OK,
        MergeAsyncStatus {
            task_id: id,
            completed: task.completed,
            update_time: super::imports::rfc3339(task.update_ms),
            result: task.result,
            error: task.error,
        },
    )
}
