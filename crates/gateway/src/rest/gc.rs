//! Garbage collection on demand: `POST /repositories/{repo}/gc`, a dry run or a real one,
//! answering the collector's report. lakeFS runs GC as a Spark job; Sluice runs it in the
//! sidecar, so the call does the work and returns when it is done.

use std::time::Duration;

use http::{Method, StatusCode};
use http_body_util::BodyExt;
use serde::Deserialize;
use serde_json::json;
use sluice_meta::GcOptions;

use super::{Answer, ApiError, Call, Reply, not_found};

/// The request body; every field is optional, and so is the body.
#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct GcRequest {
    /// Report what would be deleted, delete nothing.
    #[serde(default)]
    dry_run: bool,
    /// Objects younger than this are kept [default: 6 hours].
    grace_seconds: Option<u64>,
}

/// True for the GC route.
pub(super) fn is_gc(segs: &[&str]) -> bool {
    matches!(segs, ["repositories", _, "gc"])
}

pub(super) async fn gc(call: Call) -> Answer {
    let [_, repo, _] = call.segments.as_slice() else {
        return Err(not_found(&call.method, call.req.uri().path()));
    };
    if call.method != Method::POST {
        return Err(ApiError::new(
            StatusCode::METHOD_NOT_ALLOWED,
            "garbage collection is POST /repositories/{repo}/gc",
        ));
    }
    let repo = repo.clone();
    let query_dry_run = match call.query.get("dry_run") {
        None => None,
        Some("true") => Some(true),
        Some("false") => Some(false),
        Some(other) => {
            return Err(ApiError::new(
                StatusCode::BAD_REQUEST,
                format!("dry_run must be true or false, not {other:?}"),
            ));
        }
    };
    let body = http_body_util::Limited::new(call.req.into_body(), 64 * 1024)
        .collect()
        .await
        .map_err(|e| ApiError::new(StatusCode::BAD_REQUEST, format!("cannot read body: {e}")))?
        .to_bytes();
    let mut request: GcRequest = if body.iter().all(u8::is_ascii_whitespace) {
        GcRequest::default()
    } else {
        serde_json::from_slice(&body)
            .map_err(|e| ApiError::new(StatusCode::BAD_REQUEST, format!("malformed JSON: {e}")))?
    };
    if let Some(d) = query_dry_run {
        request.dry_run = d;
    }
    let mut options = GcOptions {
        dry_run: request.dry_run,
        ..GcOptions::default()
    };
    if let Some(s) = request.grace_seconds {
        options.grace = Duration::from_secs(s);
    }
    let report = call.engine.collect_garbage(&repo, &options).await?;
    let mut body = json!(report);
    body["dry_run"] = json!(options.dry_run);
    body["grace_seconds"] = json!(options.grace.as_secs());
    Ok(Reply::Json(StatusCode::OK, body))
}
