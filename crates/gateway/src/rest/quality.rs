//! Row counts, comparisons, SQL and pre-merge action runs: the answers of sluice-query as
//! JSON, for the CLI, the web UI and scripts. Runs are in lakeFS's actions API shape.

use http::{Method, StatusCode};
use serde::Deserialize;
use serde_json::{Value, json};
use sluice_meta::{PageRequest, RunFilter};
use sluice_query::{CompareOptions, DuplicateOptions};

use super::{Answer, ApiError, Call, Reply, not_found, pagination, read_json};

/// Rows an SQL answer carries unless asked for fewer.
const DEFAULT_SQL_ROWS: usize = 1000;
/// The most rows an SQL answer carries.
const MAX_SQL_ROWS: usize = 100_000;

#[derive(Deserialize)]
struct SqlRequest {
    query: String,
    #[serde(default)]
    max_rows: Option<usize>,
}

fn flag(call: &Call, name: &str, default: bool) -> Result<bool, ApiError> {
    match call.query.get(name) {
        None => Ok(default),
        Some("true" | "1") => Ok(true),
        Some("false" | "0") => Ok(false),
        Some(other) => Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            format!("{name} must be true or false, not {other:?}"),
        )),
    }
}

/// Whether a path is one of this module's.
pub(crate) fn is_quality(segments: &[&str]) -> bool {
    matches!(
        segments,
        ["repositories", _, "refs", _, "rows" | "sql"]
            | ["repositories", _, "refs", _, "compare", _]
            | ["repositories", _, "actions", ..]
    )
}

pub(crate) async fn quality(call: Call) -> Answer {
    let engine = call.engine.clone();
    let segs: Vec<String> = call.segments.clone();
    let segs: Vec<&str> = segs.iter().map(String::as_str).collect();
    match (&call.method, segs.as_slice()) {
        (&Method::GET, [_, repo, "refs", reference, "rows"]) => {
            let prefix = call.query.get("prefix").unwrap_or("");
            let verify = flag(&call, "verify", false)?;
            let report = sluice_query::count(&engine, repo, reference, prefix, verify).await?;
            Ok(Reply::Json(StatusCode::OK, json!(report)))
        }
        (&Method::GET, [_, repo, "refs", left, "compare", right]) => {
            let key_columns = call.query.get("key_columns").map(|k| {
                k.split(',')
                    .map(|c| c.trim().to_string())
                    .filter(|c| !c.is_empty())
                    .collect()
            });
            let options = CompareOptions {
                prefix: call.query.get("prefix").unwrap_or("").to_string(),
                find_duplicates: flag(&call, "duplicates", true)?,
                duplicates: DuplicateOptions {
                    key_columns,
                    ..DuplicateOptions::default()
                },
                base: None,
            };
            let report = sluice_query::compare(&engine, repo, left, right, &options).await?;
            Ok(Reply::Json(StatusCode::OK, json!(report)))
        }
        (&Method::POST, [_, repo, "refs", reference, "sql"]) => {
            let (repo, reference) = (repo.to_string(), reference.to_string());
            let body: SqlRequest = read_json(call.req).await?;
            let max_rows = body
                .max_rows
                .unwrap_or(DEFAULT_SQL_ROWS)
                .clamp(1, MAX_SQL_ROWS);
            let result =
                sluice_query::run_sql(&engine, &repo, &reference, &body.query, max_rows).await?;
            Ok(Reply::Json(StatusCode::OK, json!(result)))
        }
        (&Method::GET, [_, repo, "actions", "runs"]) => {
            let amount = call.query.amount()?;
            let after = call.query.get("after");
            let filter = RunFilter {
                branch: call.query.get("branch").map(str::to_string),
                commit: call.query.get("commit").map(str::to_string),
            };
            let request = PageRequest::first(amount).with_after(after);
            let page = engine.list_action_runs(repo, &request, &filter).await?;
            let has_more = page.has_more;
            let next = page.items.last().map(|(id, _)| id.clone());
            let results: Vec<Value> = page.items.iter().map(|(_, run)| summary(run)).collect();
            Ok(Reply::Json(
                StatusCode::OK,
                json!({ "pagination": pagination(has_more, next.as_deref(), results.len(), amount), "results": results }),
            ))
        }
        (&Method::GET, [_, repo, "actions", "runs", run_id]) => {
            let run = engine.action_run(repo, run_id).await?;
            Ok(Reply::Json(StatusCode::OK, run))
        }
        (&Method::GET, [_, repo, "actions", "runs", run_id, "hooks"]) => {
            let run = engine.action_run(repo, run_id).await?;
            let hooks: Vec<Value> = run["hooks"]
                .as_array()
                .cloned()
                .unwrap_or_default()
                .into_iter()
                .enumerate()
                .map(|(i, mut h)| {
                    h["hook_run_id"] = json!(format!("{run_id}-{i}"));
                    h
                })
                .collect();
            let n = hooks.len();
            Ok(Reply::Json(
                StatusCode::OK,
                json!({ "pagination": pagination(false, None, n, n.max(1)), "results": hooks }),
            ))
        }
        _ => Err(not_found(
            &call.method,
            &format!("/api/v1/{}", call.segments.join("/")),
        )),
    }
}

/// A run as lakeFS lists runs: without the hooks' figures.
fn summary(run: &Value) -> Value {
    let mut s = run.clone();
    if let Some(o) = s.as_object_mut() {
        o.remove("hooks");
    }
    s
}
