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

pub(super) async fn compare(call: Call) -> Answer {
    let (repo, left, right) = (call.param("repo"), call.param("left"), call.param("right"));
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
    let report = sluice_query::compare(&call.engine, &repo, &left, &right, &options).await?;
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

/// A run as lakeFS lists runs: without the hooks' figures.
fn summary(run: &Value) -> Value {
    let mut s = run.clone();
    if let Some(o) = s.as_object_mut() {
        o.remove("hooks");
    }
    s
}
