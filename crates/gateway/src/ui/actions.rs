//! `/ui/repositories/{repo}/actions`: the runs of pre-merge checks, newest first, and each
//! run's hooks with their results and figures (`/actions/{run}`).

use http::StatusCode;
use maud::html;
use serde_json::Value;
use sluice_meta::{PageRequest, RunFilter};

use super::compare::report_view;
use super::form::repo_url;
use super::layout::{RepoNav, Tab, page, short};
use super::{Ctx, Reply, UiError, html};

/// Runs on one page.
const PAGE: usize = 50;

fn text<'a>(v: &'a Value, name: &str) -> &'a str {
    v.get(name).and_then(Value::as_str).unwrap_or("")
}

pub(crate) async fn page_of(ctx: &Ctx, repo: &str) -> Result<Reply, UiError> {
    let r = ctx.engine.repository(repo).await?;
    let filter = RunFilter {
        branch: ctx.param("branch").map(str::to_string),
        commit: None,
    };
    let request = PageRequest::first(PAGE).with_after(ctx.param("after"));
    let runs = ctx.engine.list_action_runs(repo, &request, &filter).await?;
    let next = runs
        .has_more
        .then(|| runs.items.last().map(|(id, _)| id.clone()))
        .flatten();
    let nav = RepoNav {
        repo,
        tab: Tab::Actions,
        reference: &r.default_branch,
        default_branch: &r.default_branch,
    };
    let body = html! {
        h1 { "Actions" }
        p { "Runs of the pre-merge checks (action files under " code { "_sluice_actions/" } "), newest first." }
        @if runs.items.is_empty() {
            p.empty { "No run yet: checks run when a merge is asked for." }
        } @else {
            table.runs {
                thead { tr { th { "Run" } th { "Event" } th { "Into branch" } th { "Source" } th { "Status" } th { "Started" } th { "Hooks" } } }
                tbody {
                    @for (id, run) in &runs.items {
                        @let hooks = run.get("hooks").and_then(Value::as_array).map_or(0, Vec::len);
                        tr {
                            td { a href=(repo_url(repo, &format!("actions/{id}"), &[])) { code { (short(id)) } } }
                            td { (text(run, "event_type")) }
                            td { (text(run, "branch")) }
                            td { (text(run, "source_ref")) }
                            td { span class={ "badge " (text(run, "status")) } { (text(run, "status")) } }
                            td { (text(run, "start_time")) }
                            td { (hooks) }
                        }
                    }
                }
            }
            @if let Some(n) = &next {
                p { a href=(repo_url(repo, "actions", &[("after", n)])) { "Older runs" } }
            }
        }
    };
    Ok(html(
        StatusCode::OK,
        page(
            &format!("Actions of {repo}"),
            Some(&ctx.session),
            Some(&nav),
            ctx.flash.as_ref(),
            body,
        ),
    ))
}

pub(crate) async fn run_page(ctx: &Ctx, repo: &str, id: &str) -> Result<Reply, UiError> {
    let r = ctx.engine.repository(repo).await?;
    let run = ctx.engine.action_run(repo, id).await?;
    let hooks: Vec<Value> = run
        .get("hooks")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    let nav = RepoNav {
        repo,
        tab: Tab::Actions,
        reference: &r.default_branch,
        default_branch: &r.default_branch,
    };
    let body = html! {
        h1 { "Run " code { (short(id)) } }
        dl {
            dt { "Event" } dd { (text(&run, "event_type")) }
            dt { "Into branch" } dd { (text(&run, "branch")) }
            dt { "Source" } dd { (text(&run, "source_ref")) }
            dt { "Status" } dd { span class={ "badge " (text(&run, "status")) } { (text(&run, "status")) } }
            dt { "Started" } dd { (text(&run, "start_time")) }
            dt { "Ended" } dd { (text(&run, "end_time")) }
        }
        @for h in &hooks {
            section.card.hook {
                h2 { "Hook " code { (text(h, "hook_id")) } " · " (text(h, "hook_type")) " · "
                    span class={ "badge " (text(h, "status")) } { (text(h, "status")) } }
                p.hint { "Action " (text(h, "action")) " in " code { (text(h, "action_file")) } }
                @if let Some(failures) = h.get("failures").and_then(Value::as_array) {
                    @if !failures.is_empty() {
                        ul.failures { @for f in failures { li { (f.as_str().unwrap_or_default()) } } }
                    }
                }
                @if h.pointer("/report/left").is_some() {
                    (report_view(&h["report"]))
                } @else if let Some(report) = h.get("report").filter(|r| !r.is_null()) {
                    pre { (serde_json::to_string_pretty(report).unwrap_or_default()) }
                }
            }
        }
    };
    Ok(html(
        StatusCode::OK,
        page(
            &format!("Action run {}", short(id)),
            Some(&ctx.session),
            Some(&nav),
            ctx.flash.as_ref(),
            body,
        ),
    ))
}
