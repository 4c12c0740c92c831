//! `/ui/repositories/{repo}/changes?ref=BRANCH`: "Uncommitted Changes", grouped by folder
//! with counts; "Commit Changes" with a message and metadata; reset all, one folder or one
//! path.

use std::collections::BTreeMap;

use http::StatusCode;
use maud::html;
use sluice_meta::{ChangeKind, CommitRequest, DiffEntry, DiffOptions};

use super::form::{Form, repo_url};
use super::layout::{RepoNav, Tab, csrf, page, short, size};
use super::{Ctx, Outcome, Reply, UiError, html};

/// Changes on one page.
const PAGE: usize = 500;
/// Metadata rows offered by the commit form.
const METADATA_ROWS: usize = 3;

pub(crate) fn kind_word(kind: ChangeKind) -> &'static str {
    match kind {
        ChangeKind::Added => "added",
        ChangeKind::Removed => "removed",
        ChangeKind::Changed => "changed",
    }
}

/// The top folder of a path ("" at the root).
pub(crate) fn top_folder(path: &str) -> &str {
    match path.find('/') {
        Some(i) => &path[..=i],
        None => "",
    }
}

/// A list of changes grouped by top folder, with counts per kind; `folder_action` adds a
/// control to a folder's summary (the root group, `""`, gets none), `row_action` to a row.
pub(crate) fn change_tree(
    changes: &[DiffEntry],
    folder_action: impl Fn(&str) -> maud::Markup,
    row_action: impl Fn(&DiffEntry) -> maud::Markup,
) -> maud::Markup {
    let mut groups: BTreeMap<&str, Vec<&DiffEntry>> = BTreeMap::new();
    for c in changes {
        groups.entry(top_folder(&c.path)).or_default().push(c);
    }
    html! {
        @for (folder, items) in &groups {
            @let n = |k| items.iter().filter(|c| c.kind == k).count();
            details.group open {
                summary {
                    code { @if folder.is_empty() { "(root)" } @else { (folder) } }
                    " — " (items.len()) " changed: "
                    span.added { (n(ChangeKind::Added)) " added" } ", "
                    span.changed { (n(ChangeKind::Changed)) " changed" } ", "
                    span.removed { (n(ChangeKind::Removed)) " removed" }
                    @if !folder.is_empty() { " " (folder_action(folder)) }
                }
                table.changes {
                    thead { tr { th { "Change" } th { "Path" } th { "Size" } th { span.sr { "Actions" } } } }
                    tbody {
                        @for c in items {
                            tr class=(kind_word(c.kind)) {
                                td { span.badge { (kind_word(c.kind)) } }
                                td { code { (c.path) } }
                                td { (size(c.right.as_ref().or(c.left.as_ref()).map_or(0, |e| e.size))) }
                                td { (row_action(c)) }
                            }
                        }
                    }
                }
            }
        }
    }
}

pub(crate) async fn page_of(ctx: &Ctx, repo: &str) -> Result<Reply, UiError> {
    let r = ctx.engine.repository(repo).await?;
    let reference = ctx.param("ref").unwrap_or(&r.default_branch).to_string();
    let resolved = ctx.engine.resolve_ref(repo, &reference).await?;
    let nav = RepoNav {
        repo,
        tab: Tab::Changes,
        reference: &reference,
        default_branch: &r.default_branch,
    };
    let s = &ctx.session;
    let body = if resolved.branch.is_none() {
        html! {
            h1 { "Uncommitted Changes" }
            p.note role="note" { "“" (reference) "” is not a branch: only a branch has uncommitted changes. "
                a href=(repo_url(repo, "changes", &[("ref", &r.default_branch)])) { "See " (r.default_branch) "’s" } }
        }
    } else {
        let options = DiffOptions {
            prefix: String::new(),
            after: ctx.param("after").map(str::to_string),
            limit: PAGE,
        };
        let diff = ctx
            .engine
            .diff_uncommitted(repo, &reference, &options)
            .await?;
        let next = diff
            .has_more
            .then(|| diff.changes.last().map(|c| c.path.clone()))
            .flatten();
        let reset_one = |c: &DiffEntry| {
            html! {
                form.inline method="post" action=(repo_url(repo, "changes/reset", &[])) {
                    (csrf(s))
                    input type="hidden" name="ref" value=(reference);
                    input type="hidden" name="path" value=(c.path);
                    button.small type="submit" aria-label={ "Reset " (c.path) } { "Reset" }
                }
            }
        };
        let reset_folder = |folder: &str| {
            html! {
                form.inline method="post" action=(repo_url(repo, "changes/reset", &[])) {
                    (csrf(s))
                    input type="hidden" name="ref" value=(reference);
                    input type="hidden" name="path" value=(folder);
                    button.small type="submit" aria-label={ "Reset every change under " (folder) } { "Reset folder" }
                }
            }
        };
        html! {
            h1 { "Uncommitted Changes" }
            p { "Branch " code { (reference) } " at commit "
                a href=(repo_url(repo, &format!("commits/{}", resolved.commit), &[])) { code { (short(&resolved.commit)) } } }
            @if diff.changes.is_empty() {
                p.empty { "No uncommitted changes on " (reference) "." }
            } @else {
                (change_tree(&diff.changes, reset_folder, reset_one))
                @if let Some(n) = &next {
                    p { a href=(repo_url(repo, "changes", &[("ref", &reference), ("after", n)])) { "More changes" } }
                }
            }
            section.card {
                h2 { "Commit Changes" }
                form.grid method="post" action=(repo_url(repo, "changes/commit", &[])) {
                    (csrf(s))
                    input type="hidden" name="ref" value=(reference);
                    label for="message" { "Commit message" }
                    textarea #message name="message" rows="2" required {}
                    @for i in 0..METADATA_ROWS {
                        label for=(format!("meta_key_{i}")) { "Metadata key " (i + 1) }
                        span.pair {
                            input id=(format!("meta_key_{i}")) type="text" name="meta_key" placeholder="key";
                            input type="text" name="meta_value" placeholder="value" aria-label={ "Metadata value " (i + 1) };
                        }
                    }
                    span {}
                    button type="submit" { "Commit Changes" }
                }
            }
            @if !diff.changes.is_empty() {
                section.card {
                    h2 { "Reset" }
                    form method="post" action=(repo_url(repo, "changes/reset", &[])) {
                        (csrf(s))
                        input type="hidden" name="ref" value=(reference);
                        p { "Drop every uncommitted change of " code { (reference) } "." }
                        button.danger type="submit" { "Reset all changes" }
                    }
                }
            }
        }
    };
    Ok(html(
        StatusCode::OK,
        page(
            &format!("Uncommitted changes of {repo}"),
            Some(s),
            Some(&nav),
            ctx.flash.as_ref(),
            body,
        ),
    ))
}

pub(crate) async fn commit(ctx: &Ctx, repo: &str, form: &Form) -> Outcome {
    let branch = form.text("ref").to_string();
    let back = repo_url(repo, "changes", &[("ref", &branch)]);
    let message = form.text("message").trim().to_string();
    if message.is_empty() {
        return (back, Err(UiError::bad_request("Write a commit message.")));
    }
    let mut metadata = BTreeMap::new();
    for (k, v) in form.all("meta_key").into_iter().zip(form.all("meta_value")) {
        let k = k.trim();
        if !k.is_empty() {
            metadata.insert(k.to_string(), v.to_string());
        }
    }
    let request = CommitRequest {
        message,
        committer: ctx.session.user.clone(),
        metadata,
        allow_empty: false,
        ..Default::default()
    };
    match ctx.engine.commit(repo, &branch, request).await {
        Ok((id, _)) => (
            back,
            Ok(format!(
                "Committed the changes of {branch} as {}.",
                short(&id)
            )),
        ),
        Err(e) => (back, Err(e.into())),
    }
}

pub(crate) async fn reset(ctx: &Ctx, repo: &str, form: &Form) -> Outcome {
    let branch = form.text("ref").to_string();
    let back = repo_url(repo, "changes", &[("ref", &branch)]);
    let done = match form.get("path") {
        Some(p) => ctx
            .engine
            .reset_prefix(repo, &branch, p)
            .await
            .map(|()| format!("Reset {p}.")),
        None => ctx
            .engine
            .reset_branch(repo, &branch)
            .await
            .map(|()| format!("Reset every uncommitted change of {branch}.")),
    };
    (back, done.map_err(Into::into))
}
