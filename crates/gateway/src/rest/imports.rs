//! Import without copying, as lakeFS's `importStart`, `importStatus` and `importCancel`:
//! start answers 202 with an id at once, status is polled, cancel is 204 (409 once the
//! import completed).

use http::StatusCode;
use sluice_meta::{CommitRequest, ImportKind, ImportLocation, ImportRequest};

use super::{Answer, ApiError, Call, Reply, read_json, reply};
use crate::api::{Commit, ErrorBody, ImportCreation, ImportCreationResponse, ImportStatus};

pub(super) async fn start(call: Call) -> Answer {
    let (engine, repo, branch) = (
        call.engine.clone(),
        call.param("repo"),
        call.param("branch"),
    );
    let committer = call.committer.clone();
    let body: ImportCreation = read_json(call.req).await?;
    let mut locations = Vec::with_capacity(body.paths.len());
    for p in body.paths {
        let kind = match p.kind.as_str() {
            "common_prefix" => ImportKind::CommonPrefix,
            "object" => ImportKind::Object,
            other => {
                return Err(ApiError::new(
                    StatusCode::BAD_REQUEST,
                    format!("import path type {other:?}: give common_prefix or object"),
                ));
            }
        };
        locations.push(ImportLocation {
            kind,
            source: p.path,
            destination: p.destination,
        });
    }
    let request = ImportRequest {
        locations,
        commit: CommitRequest {
            message: body.commit.message,
            committer,
            metadata: body.commit.metadata,
            allow_empty: true,
            created_ms: body.commit.date.map(|s| s * 1000),
        },
    };
    let id = engine.start_import(&repo, &branch, request).await?;
    reply(StatusCode::ACCEPTED, ImportCreationResponse { id })
}

/// A time in milliseconds since the epoch as RFC 3339, as lakeFS writes `update_time`.
pub(super) fn rfc3339(ms: i64) -> String {
    time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000)
        .ok()
        .and_then(|t| {
            t.format(&time::format_description::well_known::Rfc3339)
                .ok()
        })
        .unwrap_or_else(|| "1970-01-01T00:00:00Z".into())
}

/// The `id` query parameter, which every call but the start needs.
fn import_id(call: &Call) -> Result<String, ApiError> {
    call.query
        .get("id")
        .map(str::to_string)
        .ok_or_else(|| ApiError::new(StatusCode::BAD_REQUEST, "the id parameter is required"))
}

pub(super) async fn status(call: Call) -> Answer {
    let id = import_id(&call)?;
    let (repo, branch) = (call.param("repo"), call.param("branch"));
    let status = call.engine.import_status(&repo, &branch, &id).await?;
    let commit = match &status.commit {
        Some(commit_id) => {
            let (id, c) = call.engine.get_commit(&repo, commit_id).await?;
            Some(Commit::from_meta(&id, &c))
        }
        None => None,
    };
    let update_time = rfc3339(status.update_ms);
    reply(
        StatusCode::OK,
        ImportStatus {
            completed: status.completed,
            update_time,
            ingested_objects: status.ingested,
            metarange_id: status.tree,
            commit,
            error: status.error.map(|message| ErrorBody {
                message,
                conflicts: None,
                report: None,
            }),
        },
    )
}

pub(super) async fn cancel(call: Call) -> Answer {
    let id = import_id(&call)?;
    call.engine
        .cancel_import(&call.param("repo"), &call.param("branch"), &id)
        .await?;
    Ok(Reply::Empty(StatusCode::NO_CONTENT))
}
