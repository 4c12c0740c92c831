//! Row counts, comparisons, SQL and pre-merge action runs: the answers of sluice-query as
//! JSON, for the CLI, the web UI and scripts. Runs are in lakeFS's actions API shape.

use http::StatusCode;
use serde_json::{Value, json};
use sluice_meta::{PageRequest, RunFilter};
use sluice_query::{CompareOptions, DuplicateOptions};

use super::{Answer, ApiError, Call, Reply, read_json, reply};
use crate::api::{List, SqlRequest};

/// Rows an SQL answer carries unless asked for fewer.
const DEFAULT_SQL_ROWS: usize = 1000;
/// The most rows an SQL answer carries.
const MAX_SQL_ROWS: usize = 100_000;

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

pub(super) async fn count(call: Call) -> Answer {
    let (repo, reference) = (call.param("repo"), call.param("ref"));
    let prefix = call.query.get("prefix").unwrap_or("");
    let verify = flag(&call, "verify", false)?;
    let report = sluice_query::count(&call.engine, &repo, &reference, prefix, verify).await?;
    reply(StatusCode::OK, report)
}

/// The comma-separated `key_columns` parameter, if given.
fn key_columns(call: &Call) -> Option<Vec<String>> {
    call.query.get("key_columns").map(|k| {
        k.split(',')
            .map(|c| c.trim().to_string())
            .filter(|c| !c.is_empty())
            .collect()
    })
}

pub(super) async fn compare(call: Call) -> Answer {
    let (repo, left, right) = (call.param("repo"), call.param("left"), call.param("right"));
    let key_columns = key_columns(&call);
    let options = CompareOptions {
        prefix: call.query.get("prefix").unwrap_or("").to_string(),
        find_duplicates: flag(&call, "duplicates", true)?,
        duplicates: DuplicateOptions {
            key_columns,
            ..DuplicateOptions::default()
        },
        base: None,
        rows: flag(&call, "rows", false)?,
    };
    let report = sluice_query::compare(&call.engine, &repo, &left, &right, &options).await?;
    reply(StatusCode::OK, report)
}

/// Rows shown per kind of change in a row diff, unless `samples` says otherwise.
const DEFAULT_ROW_SAMPLES: usize = 20;

pub(super) async fn row_diff(call: Call) -> Answer {
    let (repo, left, right) = (call.param("repo"), call.param("left"), call.param("right"));
    let key_columns = key_columns(&call).unwrap_or_default();
    let samples = match call.query.get("samples") {
        None => DEFAULT_ROW_SAMPLES,
        Some(s) => s
            .parse::<usize>()
            .ok()
            .filter(|n| *n <= 1000)
            .ok_or_else(|| {
                ApiError::new(
                    StatusCode::BAD_REQUEST,
                    format!("samples={s:?}: give a number from 0 to 1000"),
                )
            })?,
    };
    let options = sluice_query::RowDiffOptions {
        prefix: call.query.get("prefix").unwrap_or("").to_string(),
        key_columns,
        samples,
    };
    let report = sluice_query::row_diff(&call.engine, &repo, &left, &right, &options).await?;
    reply(StatusCode::OK, report)
}

pub(super) async fn sql(call: Call) -> Answer {
    let (repo, reference) = (call.param("repo"), call.param("ref"));
    let engine = call.engine.clone();
    let body: SqlRequest = read_json(call.req).await?;
    let max_rows = body
        .max_rows
        .unwrap_or(DEFAULT_SQL_ROWS)
        .clamp(1, MAX_SQL_ROWS);
    let result = sluice_query::run_sql(&engine, &repo, &reference, &body.query, max_rows).await?;
    reply(StatusCode::OK, result)
}

pub(super) async fn list_runs(call: Call) -> Answer {
    let repo = call.param("repo");
    let amount = call.query.amount()?;
    let after = call.query.get("after");
    let filter = RunFilter {
        branch: call.query.get("branch").map(str::to_string),
        commit: call.query.get("commit").map(str::to_string),
    };
    let request = PageRequest::first(amount).with_after(after);
    let page = call
        .engine
        .list_action_runs(&repo, &request, &filter)
        .await?;
    let next = page.items.last().map(|(id, _)| id.clone());
    let results = page.items.iter().map(|(_, run)| summary(run)).collect();
    reply(
        StatusCode::OK,
        List::new(results, page.has_more, next.as_deref(), amount),
    )
}

pub(super) async fn get_run(call: Call) -> Answer {
    let run = call
        .engine
        .action_run(&call.param("repo"), &call.param("run"))
        .await?;
    Ok(Reply::Json(StatusCode::OK, run))
}

pub(super) async fn run_hooks(call: Call) -> Answer {
    let run_id = call.param("run");
    let run = call.engine.action_run(&call.param("repo"), &run_id).await?;
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
    reply(StatusCode::OK, List::new(hooks, false, None, n.max(1)))
}

/// lakeFS's `getRunHookOutput`: one hook's log as text: what ran, how it ended, each reason
/// it failed, and the figures behind the outcome.
pub(super) async fn hook_output(call: Call) -> Answer {
    let (run_id, hook_run_id) = (call.param("run"), call.param("hook"));
    let run = call.engine.action_run(&call.param("repo"), &run_id).await?;
    let index = hook_run_id
        .strip_prefix(&format!("{run_id}-"))
        .and_then(|i| i.parse::<usize>().ok());
    let hook = index
        .and_then(|i| run["hooks"].as_array().and_then(|h| h.get(i)).cloned())
        .ok_or_else(|| {
            ApiError::new(
                StatusCode::NOT_FOUND,
                format!("run {run_id} has no hook run {hook_run_id:?}"),
            )
        })?;
    let text = |k: &str| hook[k].as_str().unwrap_or("").to_string();
    let mut log = format!(
        "hook {} ({}) of action {:?} in {}\nstarted {}, ended {}: {}\n",
        text("hook_id"),
        text("hook_type"),
        text("action"),
        text("action_file"),
        text("start_time"),
        text("end_time"),
        text("status"),
    );
    for failure in hook["failures"].as_array().into_iter().flatten() {
        log.push_str(&format!("failure: {}\n", failure.as_str().unwrap_or("")));
    }
    log.push_str("report:\n");
    log.push_str(&serde_json::to_string_pretty(&hook["report"]).unwrap_or_default());
    log.push('\n');
    let answer = http::Response::builder()
        .status(StatusCode::OK)
        .header(http::header::CONTENT_TYPE, "application/octet-stream")
        .body(s3s::Body::from(log))
        .expect("valid response");
    Ok(Reply::Raw(answer))
}

/// A run as lakeFS lists runs: without the hooks' figures.
fn summary(run: &Value) -> Value {
    let mut s = run.clone();
    if let Some(o) = s.as_object_mut() {
        o.remove("hooks");
    }
    s
}
