//! `/ui/repositories/{repo}/compare?ref=DEST&compare=SOURCE`: the paths the source changed
//! since the merge base, grouped by folder, and the report the pre-merge gate uses
//! (sluice_query::compare): rows on each side and at the base, as figures and a chart,
//! rows added and removed, duplicates with samples, schema differences. "Merge" with a
//! strategy; a refusal shows the gate's report.

use std::time::{Duration, Instant};

use http::StatusCode;
use maud::{Markup, html};
use serde_json::Value;
use sluice_meta::{DiffOptions, MergeRequest, MergeStrategy};
use sluice_query::CompareOptions;

use super::changes::change_tree;
use super::chart::bars;
use super::form::{Form, repo_url};
use super::layout::{RepoNav, Tab, count, csrf, page, short, size};
use super::objects::{ref_choices, ref_datalist};
use super::preview::rows_table;
use super::session::Flash;
use super::{Ctx, Outcome, Reply, UiError, html};
use crate::merge_tasks::{self, MergeTask};

/// Changed paths shown.
const CHANGES: usize = 1000;

fn num(v: &Value, pointer: &str) -> u64 {
    v.pointer(pointer).and_then(Value::as_u64).unwrap_or(0)
}

fn text<'a>(v: &'a Value, pointer: &str) -> &'a str {
    v.pointer(pointer).and_then(Value::as_str).unwrap_or("")
}

fn strings(v: &Value, pointer: &str) -> Vec<String> {
    v.pointer(pointer)
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .map(|x| x.as_str().map_or_else(|| x.to_string(), str::to_string))
                .collect()
        })
        .unwrap_or_default()
}

/// A compare report (sluice_query's `CompareReport` as JSON, as the gate records it too).
pub(crate) fn report_view(r: &Value) -> Markup {
    let left = text(r, "/left/reference");
    let right = text(r, "/right/reference");
    let chart = bars(
        "Rows at the merge base, on each side, and after the merge",
        &[
            ("merge base".to_string(), num(r, "/base/rows"), "base"),
            (
                format!("{} (destination)", short(left)),
                num(r, "/left/rows"),
                "left",
            ),
            (
                format!("{} (source)", short(right)),
                num(r, "/right/rows"),
                "right",
            ),
            (
                "after merge".to_string(),
                num(r, "/rows_after_merge"),
                "after",
            ),
        ],
    );
    let dup = num(r, "/duplicates/duplicate_rows");
    let columns = strings(r, "/duplicates/columns");
    let samples: Vec<Value> = r
        .pointer("/duplicates/samples")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    let sample_rows: Vec<Value> = samples.iter().map(|s| s["row"].clone()).collect();
    let sample_columns: Vec<String> = sample_rows
        .first()
        .and_then(Value::as_object)
        .map(|o| o.keys().cloned().collect())
        .unwrap_or(columns);
    let schema_added = strings(r, "/schema/added");
    let schema_removed = strings(r, "/schema/removed");
    let schema_changed: Vec<Value> = r
        .pointer("/schema/changed")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    let problems: Vec<Value> = r
        .pointer("/problems")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    html! {
        div.report {
            table.figures {
                caption { "Rows under " code { @if text(r, "/prefix").is_empty() { "/" } @else { (text(r, "/prefix")) } } }
                thead { tr { th { "" } th { "Rows" } th { "Files" } th { "Bytes" } } }
                tbody {
                    tr { th scope="row" { "Merge base" } td.num { (count(num(r, "/base/rows"))) } td.num { (num(r, "/base/files")) } td.num { (size(num(r, "/base/bytes"))) } }
                    tr { th scope="row" { (left) " (destination)" } td.num.left-rows { (count(num(r, "/left/rows"))) } td.num { (num(r, "/left/files")) } td.num { (size(num(r, "/left/bytes"))) } }
                    tr { th scope="row" { (right) " (source)" } td.num.right-rows { (count(num(r, "/right/rows"))) } td.num { (num(r, "/right/files")) } td.num { (size(num(r, "/right/bytes"))) } }
                    tr { th scope="row" { "After merge" } td.num { (count(num(r, "/rows_after_merge"))) } td {} td {} }
                }
            }
            (chart)
            p.change {
                "The source's change: "
                strong { (count(num(r, "/change/rows_added"))) " rows added" } " in " (num(r, "/change/files_added")) " files, "
                strong { (count(num(r, "/change/rows_removed"))) " rows removed" } " in " (num(r, "/change/files_removed")) " files."
            }
            @if dup > 0 {
                div.duplicates.bad {
                    h3 { "Duplicates" }
                    p { strong { (count(dup)) " duplicate rows" } " of " (count(num(r, "/duplicates/rows_checked"))) " rows the change adds"
                        @if num(r, "/duplicates/identical_files") > 0 { " (" (num(r, "/duplicates/identical_files")) " files identical to files already there)" }
                        "." }
                    @if !sample_rows.is_empty() {
                        p { "Sample duplicate rows:" }
                        (rows_table(&sample_columns, &sample_rows))
                        p.hint { "Found in: "
                            @for (i, s) in samples.iter().enumerate() { @if i > 0 { ", " } code { (text(s, "/found_in")) } } }
                    }
                }
            } @else if num(r, "/duplicates/rows_checked") > 0 {
                p.good { "No duplicate rows among the " (count(num(r, "/duplicates/rows_checked"))) " rows the change adds." }
            }
            @if schema_added.is_empty() && schema_removed.is_empty() && schema_changed.is_empty() {
                p { "Schema: unchanged." }
            } @else {
                div.schema-diff {
                    h3 { "Schema differences" }
                    ul {
                        @for c in &schema_added { li { "added " code { (c) } } }
                        @for c in &schema_removed { li { "removed " code { (c) } } }
                        @for c in &schema_changed { li { code { (text(c, "/column")) } ": " (text(c, "/left")) " → " (text(c, "/right")) } }
                    }
                }
            }
            @if !problems.is_empty() {
                div.flash.error {
                    strong { "Files that could not be read (the figures leave them out):" }
                    ul { @for p in &problems { li { code { (text(p, "/path")) } ": " (text(p, "/error")) } } }
                }
            }
        }
    }
}

/// A refused merge's report: the reason, each check's failures and figures.
pub(crate) fn refusal_report(report: &Value) -> Markup {
    let hooks: Vec<Value> = report
        .get("hooks")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    html! {
        div.refusal {
            @if let Some(conflicts) = report.get("conflicts").and_then(Value::as_array) {
                p { "Conflicting paths:" }
                ul { @for c in conflicts { li { code { (c.as_str().unwrap_or_default()) } } } }
            }
            @for h in &hooks {
                div.hook {
                    p { "Check " code { (text(h, "/hook_id")) } " (" (text(h, "/hook_type")) "): "
                        strong class=(text(h, "/status")) { (text(h, "/status")) } }
                    @let failures = strings(h, "/failures");
                    @if !failures.is_empty() { ul { @for f in &failures { li { (f) } } } }
                    @if h.pointer("/report/left").is_some() { (report_view(&h["report"])) }
                }
            }
            details {
                summary { "The whole report (JSON)" }
                pre { (serde_json::to_string_pretty(report).unwrap_or_default()) }
            }
        }
    }
}

pub(crate) async fn page_of(ctx: &Ctx, repo: &str) -> Result<Reply, UiError> {
    let r = ctx.engine.repository(repo).await?;
    let dest = ctx.param("ref").unwrap_or(&r.default_branch).to_string();
    let source = ctx.param("compare").map(str::to_string);
    let prefix = ctx.param("prefix").unwrap_or("").to_string();
    let (branches, tags) = ref_choices(ctx, repo).await?;
    let nav = RepoNav {
        repo,
        tab: Tab::Compare,
        reference: source.as_deref().unwrap_or(&dest),
        default_branch: &r.default_branch,
    };
    let s = &ctx.session;
    let picker = html! {
        form.picker method="get" action=(repo_url(repo, "compare", &[])) {
            label for="cmp_ref" { "Destination" }
            input #cmp_ref type="text" name="ref" value=(dest) list="cmp_refs" required;
            label for="cmp_compare" { "Source" }
            input #cmp_compare type="text" name="compare" value=(source.as_deref().unwrap_or("")) list="cmp_refs" required;
            label for="cmp_prefix" { "Folder" }
            input #cmp_prefix type="text" name="prefix" value=(prefix) placeholder="(all)";
            (ref_datalist("cmp_refs", &branches, &tags))
            button type="submit" { "Compare" }
        }
    };
    let body = match source.as_deref() {
        None => html! {
            h1 { "Compare" }
            (picker)
            p { "Choose the source to compare with " code { (dest) } "." }
        },
        Some(source) => {
            let base = ctx.engine.merge_base(repo, &dest, source).await?;
            let options = DiffOptions {
                prefix: prefix.clone(),
                after: None,
                limit: CHANGES,
            };
            let from = base.clone().unwrap_or_else(|| dest.clone());
            let diff = ctx.engine.diff(repo, &from, source, &options).await?;
            let report = {
                let (engine, repo, dest, source) = (
                    ctx.engine.clone(),
                    repo.to_string(),
                    dest.clone(),
                    source.to_string(),
                );
                let options = CompareOptions {
                    prefix: prefix.clone(),
                    find_duplicates: true,
                    ..CompareOptions::default()
                };
                crate::query_pool::run(async move {
                    sluice_query::compare(&engine, &repo, &dest, &source, &options).await
                })
                .await?
            };
            let report = serde_json::to_value(&report).unwrap_or_default();
            let dest_is_branch = ctx.engine.resolve_ref(repo, &dest).await?.branch.is_some();
            html! {
                h1 { "Compare " code { (source) } " into " code { (dest) } }
                (picker)
                p { "Merge base: "
                    @if let Some(b) = &base {
                        a href=(repo_url(repo, &format!("commits/{b}"), &[])) { code { (short(b)) } }
                    } @else {
                        "none (no common history)"
                    }
                }
                section.card {
                    h2 { "Rows" }
                    (report_view(&report))
                }
                section.card {
                    h2 { "Changed paths" }
                    @if diff.changes.is_empty() {
                        p.empty { code { (source) } " changes nothing since the merge base." }
                    } @else {
                        (change_tree(&diff.changes, |_| html! {}, |_| html! {}))
                        @if diff.has_more { p { "Only the first " (CHANGES) " paths are shown." } }
                    }
                }
                section.card {
                    h2 { "Merge" }
                    @if dest_is_branch {
                        form.grid method="post" action=(repo_url(repo, "merge", &[])) {
                            (csrf(s))
                            input type="hidden" name="ref" value=(dest);
                            input type="hidden" name="compare" value=(source);
                            label for="strategy" { "When a path changed on both sides" }
                            select #strategy name="strategy" {
                                option value="" selected { "refuse the merge (default)" }
                                option value="source-wins" { "take the source's version" }
                                option value="dest-wins" { "keep the destination's version" }
                            }
                            label for="merge_message" { "Message" }
                            input #merge_message type="text" name="message" placeholder={ "Merge " (source) " into " (dest) };
                            span {}
                            button type="submit" { "Merge" }
                        }
                        p.hint { "The pre-merge checks of " code { (dest) } " run first and may refuse the merge." }
                    } @else {
                        p.note { code { (dest) } " is not a branch: only a branch can be merged into." }
                    }
                }
            }
        }
    };
    Ok(html(
        StatusCode::OK,
        page(
            &format!("Compare in {repo}"),
            Some(s),
            Some(&nav),
            ctx.flash.as_ref(),
            body,
        ),
    ))
}

pub(crate) async fn merge(ctx: &Ctx, repo: &str, form: &Form) -> Outcome {
    let dest = form.text("ref").to_string();
    let source = form.text("compare").to_string();
    let back = repo_url(repo, "compare", &[("ref", &dest), ("compare", &source)]);
    let strategy = match form.get("strategy") {
        None => MergeStrategy::Fail,
        Some("source-wins") => MergeStrategy::SourceWins,
        Some("dest-wins") => MergeStrategy::DestWins,
        Some(other) => {
            return (
                back,
                Err(UiError::bad_request(format!(
                    "Unknown merge strategy {other}."
                ))),
            );
        }
    };
    let request = MergeRequest {
        message: form.get("message").map(str::to_string),
        committer: ctx.session.user.clone(),
        strategy,
        ..MergeRequest::default()
    };
    // The merge runs in the background, so that a long pre-merge check holds no request:
    // a quick one is answered here, a slow one is followed on its progress page.
    let id = match merge_tasks::start(&ctx.engine, repo, &source, &dest, request).await {
        Ok(id) => id,
        Err(e) => return (back, Err(refused(&source, &dest, e.into()))),
    };
    let waited = Instant::now();
    loop {
        match merge_tasks::state(&ctx.engine, repo, &id).await {
            Ok(Some(task)) if task.completed => return (back, outcome_of(&task)),
            Ok(_) if waited.elapsed() < MERGE_WAIT => tokio::time::sleep(MERGE_POLL).await,
            Ok(_) => {
                return (
                    repo_url(repo, &format!("merges/{id}"), &[]),
                    Ok(format!(
                        "Merging {source} into {dest}: the pre-merge checks are running."
                    )),
                );
            }
            Err(e) => return (back, Err(e.into())),
        }
    }
}

/// How long the merge form waits for a merge before showing its progress page instead.
const MERGE_WAIT: Duration = Duration::from_secs(3);
/// How often the form looks at the merge meanwhile.
const MERGE_POLL: Duration = Duration::from_millis(100);
/// How often the progress page reloads itself.
const PROGRESS_REFRESH_SECONDS: u32 = 1;

fn refused(source: &str, dest: &str, mut e: UiError) -> UiError {
    e.message = format!(
        "The merge of {source} into {dest} was refused: {}",
        e.message
    );
    e
}

/// What a finished merge task tells the compare page.
fn outcome_of(task: &MergeTask) -> Result<String, UiError> {
    let (source, dest) = (&task.source, &task.destination);
    match (&task.result, &task.error) {
        (Some(merged), _) => Ok(format!(
            "Merged {source} into {dest}: commit {}.",
            short(&merged.reference)
        )),
        (None, Some(e)) => {
            let report = e.report.clone().or_else(|| {
                e.conflicts
                    .as_ref()
                    .map(|paths| serde_json::json!({ "conflicts": paths }))
            });
            let status =
                StatusCode::from_u16(e.status_code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
            Err(refused(
                source,
                dest,
                UiError {
                    status,
                    message: e.message.clone(),
                    report,
                },
            ))
        }
        (None, None) => Err(UiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            format!("The merge of {source} into {dest} ended without an outcome."),
        )),
    }
}

/// `/ui/repositories/{repo}/merges/{id}`: a running merge, reloading itself until it ends;
/// then the compare page it was started from, with the outcome.
pub(crate) async fn progress(ctx: &Ctx, repo: &str, id: &str) -> Result<Reply, UiError> {
    let task = merge_tasks::state(&ctx.engine, repo, id)
        .await?
        .ok_or_else(UiError::not_found)?;
    let (source, dest) = (task.source.as_str(), task.destination.as_str());
    if task.completed {
        let back = repo_url(repo, "compare", &[("ref", dest), ("compare", source)]);
        let flash = match outcome_of(&task) {
            Ok(message) => Flash::ok(message),
            Err(e) => e.flash(),
        };
        ctx.sessions.set_flash(&ctx.session.id, flash).await;
        return Ok(super::redirect(&back));
    }
    let r = ctx.engine.repository(repo).await?;
    let nav = RepoNav {
        repo,
        tab: Tab::Compare,
        reference: source,
        default_branch: &r.default_branch,
    };
    let body = html! {
        // Reloads until the merge ends; the page then leads back to the comparison.
        meta http-equiv="refresh" content=(PROGRESS_REFRESH_SECONDS);
        section.merge-progress {
            h2 { "Merging " code { (source) } " into " code { (dest) } }
            p { "The pre-merge checks of " code { (dest) } " are running. This page follows them and shows the outcome when they end; you may leave it, the merge goes on." }
            p.hint { "Task " code { (id) } }
        }
    };
    Ok(html(
        StatusCode::OK,
        page(
            &format!("Merging in {repo}"),
            Some(&ctx.session),
            Some(&nav),
            ctx.flash.as_ref(),
            body,
        ),
    ))
}
