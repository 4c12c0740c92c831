//! The pre-merge quality gate: before a merge moves its destination, every action file that
//! applies to the destination branch runs its hooks (row checks on the source, destination
//! and merge base; webhooks). The files come from the destination's head, where the source
//! branch cannot remove or loosen them, and from the source in addition (an author's own
//! checks). A failed hook refuses the merge with a report; every run is recorded and
//! readable as lakeFS's action runs are.

use std::time::{Duration, SystemTime};

use async_trait::async_trait;
use futures::TryStreamExt;
use serde::Serialize;
use serde_json::json;
use sluice_meta::{Engine, MergeContext, MergeHook, MergeRefusal};

use crate::actions::{
    ACTIONS_PREFIX, Action, HookKind, RowCheck, SqlCheck, Webhook, parse_duration,
};
use crate::compare::{self, CompareOptions, CompareReport};
use crate::duplicates::DuplicateOptions;
use crate::error::{QueryError, Result};
use crate::files::{View, list_all};
use crate::sql::run_sql_in;

/// Largest action file read.
const MAX_ACTION_FILE: u64 = 1 << 20;
/// How long a webhook may take unless its action says otherwise.
const DEFAULT_WEBHOOK_TIMEOUT: Duration = Duration::from_secs(60);

/// The gate, installed as the engine's merge hook.
pub struct QualityGate {
    http: reqwest::Client,
    duplicates: DuplicateOptions,
}

impl Default for QualityGate {
    fn default() -> Self {
        Self::new(DuplicateOptions::default())
    }
}

/// How one hook of a run ended.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct HookRun {
    /// The action's name.
    pub action: String,
    /// The action file.
    pub action_file: String,
    /// The hook's id.
    pub hook_id: String,
    /// `row_check` or `webhook`.
    pub hook_type: String,
    /// `completed` (passed) or `failed`.
    pub status: String,
    /// Why it failed, one line per reason.
    pub failures: Vec<String>,
    /// Start, RFC 3339.
    pub start_time: String,
    /// End, RFC 3339.
    pub end_time: String,
    /// The figures behind the outcome.
    pub report: serde_json::Value,
}

fn rfc3339(t: SystemTime) -> String {
    chrono::DateTime::<chrono::Utc>::from(t).to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

/// Rows of a SQL check's answer shown in its report.
const SQL_SAMPLES: usize = 20;

/// How a required check is named where an action file's path would be (in runs, reports).
pub const REQUIRED_PREFIX: &str = "required:";

impl QualityGate {
    /// A gate with these duplicate detection settings (memory budget, samples).
    pub fn new(duplicates: DuplicateOptions) -> Self {
        QualityGate {
            http: reqwest::Client::new(),
            duplicates,
        }
    }

    /// The action files on `reference`, parsed; the first broken file is an error.
    pub async fn load_actions(
        engine: &Engine,
        repo: &str,
        reference: &str,
    ) -> Result<Vec<(String, Action)>> {
        let mut actions = Vec::new();
        for (path, entry) in list_all(engine, repo, reference, ACTIONS_PREFIX).await? {
            if !(path.ends_with(".yaml") || path.ends_with(".yml")) {
                continue;
            }
            if entry.size > MAX_ACTION_FILE {
                return Err(QueryError::ActionFile {
                    path,
                    message: format!(
                        "{} bytes is larger than the 1 MiB an action file may be",
                        entry.size
                    ),
                });
            }
            let bytes: Vec<bytes::Bytes> = engine
                .read_object(repo, &entry, None)
                .await?
                .try_collect()
                .await?;
            let text = String::from_utf8(bytes.concat()).map_err(|_| QueryError::ActionFile {
                path: path.clone(),
                message: "is not UTF-8".into(),
            })?;
            let action = Action::parse(&path, &text)?;
            actions.push((path, action));
        }
        Ok(actions)
    }

    /// The actions that govern a merge: the repository's required checks (set by an admin,
    /// outside every branch), every action file on the destination's head, which the
    /// source cannot change, then the source's files that differ from the destination's
    /// (its author's own checks; a source copy the destination also has runs once). A
    /// source that deletes or loosens a file is still held to the destination's version.
    pub async fn actions_for(engine: &Engine, ctx: &MergeContext) -> Result<Vec<(String, Action)>> {
        let mut actions = Vec::new();
        for check in engine.required_checks(&ctx.repository).await? {
            let path = format!("{REQUIRED_PREFIX}{}", check.name);
            let action = Action::parse(&path, &check.action)?;
            actions.push((path, action));
        }
        actions.extend(
            Self::load_actions(engine, &ctx.repository, &ctx.destination.to_string()).await?,
        );
        let from_destination = actions.len();
        for (path, action) in
            Self::load_actions(engine, &ctx.repository, &ctx.source.to_string()).await?
        {
            let known = actions[..from_destination]
                .iter()
                .any(|(p, a)| *p == path && *a == action);
            if !known {
                actions.push((path, action));
            }
        }
        Ok(actions)
    }

    async fn row_check(
        &self,
        engine: &Engine,
        ctx: &MergeContext,
        check: &RowCheck,
    ) -> Result<(Vec<String>, CompareReport)> {
        let options = CompareOptions {
            prefix: check.prefix.clone(),
            find_duplicates: check.checks_duplicates(),
            duplicates: DuplicateOptions {
                key_columns: check.key_columns.clone(),
                ..self.duplicates.clone()
            },
            base: Some(ctx.base.to_string()),
            rows: false,
        };
        let report = compare::compare(
            engine,
            &ctx.repository,
            &ctx.destination.to_string(),
            &ctx.source.to_string(),
            &options,
        )
        .await?;
        Ok((evaluate(check, &report), report))
    }

    /// Run the query on the tree the merge would produce; refuse when it returns another
    /// number of rows than expected. The report carries the first rows it returned.
    async fn sql_check(
        &self,
        engine: &Engine,
        ctx: &MergeContext,
        check: &SqlCheck,
    ) -> (Vec<String>, serde_json::Value) {
        // Enough rows to tell the count from the expectation, and samples to show.
        let limit = usize::try_from(check.expect_rows)
            .unwrap_or(usize::MAX - 1)
            .max(SQL_SAMPLES)
            .saturating_add(1);
        let view = View::Tree(ctx.merged_tree.clone());
        match run_sql_in(engine, &ctx.repository, &view, &check.query, limit).await {
            Err(e) => (
                vec![format!("the query could not run: {e}")],
                json!({ "query": check.query, "error": e.to_string() }),
            ),
            Ok(result) => {
                let count = result.rows.len() as u64;
                let counted = if result.truncated {
                    format!("more than {count}")
                } else {
                    count.to_string()
                };
                let failures = if result.truncated || count != check.expect_rows {
                    vec![format!(
                        "the query returned {counted} row(s); the check expects {}",
                        check.expect_rows
                    )]
                } else {
                    Vec::new()
                };
                let samples: Vec<_> = result.rows.into_iter().take(SQL_SAMPLES).collect();
                (
                    failures,
                    json!({
                        "query": check.query,
                        "expect_rows": check.expect_rows,
                        "rows": counted,
                        "columns": result.columns,
                        "samples": samples,
                        "tables": result.tables,
                    }),
                )
            }
        }
    }

    async fn webhook(
        &self,
        ctx: &MergeContext,
        action: &Action,
        hook_id: &str,
        hook: &Webhook,
    ) -> Vec<String> {
        let timeout = match &hook.timeout {
            Some(t) => match parse_duration(t) {
                Ok(d) => d,
                Err(e) => return vec![e],
            },
            None => DEFAULT_WEBHOOK_TIMEOUT,
        };
        let query: Vec<(String, String)> = hook
            .query_params
            .iter()
            .map(|(k, v)| {
                let v = match v {
                    serde_yaml_ng::Value::String(s) => s.clone(),
                    other => serde_yaml_ng::to_string(other)
                        .unwrap_or_default()
                        .trim()
                        .to_string(),
                };
                (k.clone(), v)
            })
            .collect();
        // The event in lakeFS's webhook shape.
        let event = json!({
            "event_type": "pre-merge",
            "event_time": rfc3339(SystemTime::now()),
            "action_name": action.name,
            "hook_id": hook_id,
            "repository_id": ctx.repository,
            "branch_id": ctx.destination_branch,
            "source_ref": ctx.source_ref,
            "commit_id": ctx.source.to_string(),
            "destination_commit_id": ctx.destination.to_string(),
            "merge_base": ctx.base.to_string(),
        });
        let sent = self
            .http
            .post(&hook.url)
            .query(&query)
            .timeout(timeout)
            .json(&event)
            .send()
            .await;
        match sent {
            Err(e) => vec![format!("webhook {} could not be called: {e}", hook.url)],
            Ok(response) if response.status().is_success() => Vec::new(),
            Ok(response) => {
                let status = response.status();
                let body = response.text().await.unwrap_or_default();
                let body: String = body.chars().take(512).collect();
                vec![format!(
                    "webhook {} answered {status}: {}",
                    hook.url,
                    body.trim()
                )]
            }
        }
    }

    async fn run(
        &self,
        engine: &Engine,
        ctx: &MergeContext,
    ) -> Result<Option<(String, Vec<HookRun>)>> {
        let actions = Self::actions_for(engine, ctx).await?;
        let matching: Vec<_> = actions
            .into_iter()
            .filter(|(_, a)| a.runs_before_merge_into(&ctx.destination_branch))
            .collect();
        if matching.is_empty() {
            return Ok(None);
        }
        let run_id = engine.new_action_run_id();
        let mut runs = Vec::new();
        for (file, action) in &matching {
            for hook in &action.hooks {
                let started = SystemTime::now();
                let settings = hook.settings().map_err(|message| QueryError::ActionFile {
                    path: file.clone(),
                    message,
                })?;
                let (failures, report) = match settings {
                    HookKind::RowCheck(check) => match self.row_check(engine, ctx, &check).await {
                        Ok((failures, report)) => {
                            (failures, serde_json::to_value(report).unwrap_or_default())
                        }
                        Err(e) => (
                            vec![format!("the check could not run: {e}")],
                            json!({ "error": e.to_string() }),
                        ),
                    },
                    HookKind::SqlCheck(check) => self.sql_check(engine, ctx, &check).await,
                    HookKind::Webhook(w) => (
                        self.webhook(ctx, action, &hook.id, &w).await,
                        json!({ "url": w.url }),
                    ),
                };
                runs.push(HookRun {
                    action: action.name.clone(),
                    action_file: file.clone(),
                    hook_id: hook.id.clone(),
                    hook_type: hook.kind.clone(),
                    status: if failures.is_empty() {
                        "completed"
                    } else {
                        "failed"
                    }
                    .to_string(),
                    failures,
                    start_time: rfc3339(started),
                    end_time: rfc3339(SystemTime::now()),
                    report,
                });
            }
        }
        Ok(Some((run_id, runs)))
    }
}

/// The reasons a row check fails on a comparison (empty: it passes).
pub fn evaluate(check: &RowCheck, report: &CompareReport) -> Vec<String> {
    let mut failures = Vec::new();
    if !report.problems.is_empty() {
        let first = &report.problems[0];
        failures.push(format!(
            "{} file(s) could not be read, e.g. {}: {}",
            report.problems.len(),
            first.path,
            first.error
        ));
    }
    let d = &report.duplicates;
    if check.checks_duplicates() && d.duplicate_rows > 0 {
        let on = if d.key_columns {
            format!("on key columns {}", d.columns.join(", "))
        } else {
            "on all columns".to_string()
        };
        failures.push(format!(
            "{} of the {} rows the change adds are duplicates ({on})",
            d.duplicate_rows, d.rows_checked
        ));
    }
    let before = report.left.rows as f64;
    let after = report.rows_after_merge as f64;
    if before > 0.0 {
        let growth = (after - before) / before * 100.0;
        if let Some(limit) = check.max_row_growth_pct.filter(|l| growth > *l) {
            failures.push(format!(
                "rows would grow by {growth:.1}% ({} -> {}), more than {limit}%",
                report.left.rows, report.rows_after_merge
            ));
        }
        if let Some(limit) = check.max_row_shrink_pct.filter(|l| -growth > *l) {
            failures.push(format!(
                "rows would shrink by {:.1}% ({} -> {}), more than {limit}%",
                -growth, report.left.rows, report.rows_after_merge
            ));
        }
    }
    if check.schema_unchanged && report.left.files > 0 && !report.schema.is_empty() {
        let s = &report.schema;
        let mut parts = Vec::new();
        if !s.added.is_empty() {
            parts.push(format!("added {}", s.added.join(", ")));
        }
        if !s.removed.is_empty() {
            parts.push(format!("removed {}", s.removed.join(", ")));
        }
        for c in &s.changed {
            parts.push(format!("{} {} -> {}", c.column, c.left, c.right));
        }
        failures.push(format!("the schema changes: {}", parts.join("; ")));
    }
    failures
}

#[async_trait]
impl MergeHook for QualityGate {
    async fn pre_merge(&self, engine: &Engine, ctx: &MergeContext) -> Result<(), MergeRefusal> {
        let started = SystemTime::now();
        let (run_id, hooks) = match self.run(engine, ctx).await {
            Ok(None) => return Ok(()),
            Ok(Some(run)) => run,
            Err(e) => {
                return Err(MergeRefusal {
                    reason: format!("the pre-merge actions could not run: {e}"),
                    report: json!({ "error": e.to_string() }),
                });
            }
        };
        let failed: Vec<&HookRun> = hooks.iter().filter(|h| h.status != "completed").collect();
        let status = if failed.is_empty() {
            "completed"
        } else {
            "failed"
        };
        let record = json!({
            "run_id": run_id,
            "event_type": "pre-merge",
            "branch": ctx.destination_branch,
            "source_ref": ctx.source_ref,
            "commit_id": ctx.source.to_string(),
            "destination_commit_id": ctx.destination.to_string(),
            "merge_base": ctx.base.to_string(),
            "start_time": rfc3339(started),
            "end_time": rfc3339(SystemTime::now()),
            "status": status,
            "hooks": hooks,
        });
        if let Err(e) = engine
            .record_action_run(&ctx.repository, &run_id, &record)
            .await
        {
            return Err(MergeRefusal {
                reason: format!("the pre-merge run could not be recorded: {e}"),
                report: record,
            });
        }
        if failed.is_empty() {
            return Ok(());
        }
        let reason = failed
            .iter()
            .map(|h| format!("check {:?} failed: {}", h.hook_id, h.failures.join("; ")))
            .collect::<Vec<_>>()
            .join("; ");
        let mut report = record.clone();
        report["failed_checks"] =
            json!(failed.iter().map(|h| h.hook_id.clone()).collect::<Vec<_>>());
        report["reason"] = json!(reason);
        Err(MergeRefusal { reason, report })
    }
}
