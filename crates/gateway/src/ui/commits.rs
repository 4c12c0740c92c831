//! `/ui/repositories/{repo}/commits?ref=`: the log with paging, and each commit's changes
//! (`/commits/{id}`).

use http::StatusCode;
use maud::html;
use sluice_meta::{DiffOptions, LogOptions};

use super::changes::change_tree;
use super::form::repo_url;
use super::layout::{RepoNav, Tab, page, short, time};
use super::{Ctx, Reply, UiError, html};

/// Commits on one page.
const PAGE: usize = 25;
/// Changes shown for one commit.
const CHANGES: usize = 1000;

pub(crate) async fn page_of(ctx: &Ctx, repo: &str) -> Result<Reply, UiError> {
    let r = ctx.engine.repository(repo).await?;
    let reference = ctx.param("ref").unwrap_or(&r.default_branch).to_string();
    let options = LogOptions {
        first_parent: false,
        after: ctx.param("after").map(str::to_string),
        limit: PAGE,
    };
    let log = ctx.engine.log(repo, &reference, &options).await?;
    let next = log
        .has_more
        .then(|| log.commits.last().map(|(id, _)| id.clone()))
        .flatten();
    let nav = RepoNav {
        repo,
        tab: Tab::Commits,
        reference: &reference,
        default_branch: &r.default_branch,
    };
    let body = html! {
        h1 { "Commits" }
        p { "History of " code { (reference) } ", newest first." }
        ol.log {
            @for (id, c) in &log.commits {
                li {
                    a.commit href=(repo_url(repo, &format!("commits/{id}"), &[])) { code { (short(id)) } }
                    " " strong.message { (c.message) }
                    div.meta {
                        (c.committer) " · " (time(c.created_ms))
                        @if c.parents.len() > 1 { " · merge" }
                        @for (k, v) in &c.metadata { " · " code { (k) "=" (v) } }
                        " · " a href=(repo_url(repo, "objects", &[("ref", id)])) { "Browse objects" }
                    }
                }
            }
        }
        @if let Some(n) = &next {
            p { a href=(repo_url(repo, "commits", &[("ref", &reference), ("after", n)])) { "Older commits" } }
        }
    };
    Ok(html(
        StatusCode::OK,
        page(
            &format!("Commits of {repo}"),
            Some(&ctx.session),
            Some(&nav),
            ctx.flash.as_ref(),
            body,
        ),
    ))
}

/// One commit and what it changed against its first parent.
pub(crate) async fn commit_page(ctx: &Ctx, repo: &str, id: &str) -> Result<Reply, UiError> {
    let r = ctx.engine.repository(repo).await?;
    let (id, c) = ctx.engine.get_commit(repo, id).await?;
    let options = DiffOptions {
        prefix: String::new(),
        after: None,
        limit: CHANGES,
    };
    let diff = match c.parents.first() {
        Some(parent) => Some(ctx.engine.diff(repo, parent, &id, &options).await?),
        None => None,
    };
    let nav = RepoNav {
        repo,
        tab: Tab::Commits,
        reference: &id,
        default_branch: &r.default_branch,
    };
    let body = html! {
        h1 { "Commit " code { (short(&id)) } }
        dl {
            dt { "Message" } dd { (c.message) }
            dt { "Committer" } dd { (c.committer) }
            dt { "Time" } dd { (time(c.created_ms)) }
            dt { "Id" } dd { code { (id) } }
            @for (i, p) in c.parents.iter().enumerate() {
                dt { "Parent " (i + 1) } dd { a href=(repo_url(repo, &format!("commits/{p}"), &[])) { code { (short(p)) } } }
            }
            @for (k, v) in &c.metadata { dt { "Metadata " (k) } dd { (v) } }
        }
        p { a href=(repo_url(repo, "objects", &[("ref", &id)])) { "Browse the objects of this commit" } }
        h2 { "Changes" }
        @match &diff {
            None => { p { "The first commit of the repository." } }
            Some(d) if d.changes.is_empty() => { p.empty { "No object changed." } }
            Some(d) => {
                (change_tree(&d.changes, |_| html! {}, |_| html! {}))
                @if d.has_more { p { "Only the first " (CHANGES) " changes are shown." } }
            }
        }
    };
    Ok(html(
        StatusCode::OK,
        page(
            &format!("Commit {}", short(&id)),
            Some(&ctx.session),
            Some(&nav),
            ctx.flash.as_ref(),
            body,
        ),
    ))
}
