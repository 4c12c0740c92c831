//! `/ui/repositories`: the list, "Create Repository" (name, storage namespace, default
//! branch) and delete.

use crate::access::{Need, arn};
use http::StatusCode;
use maud::html;
use sluice_meta::PageRequest;

use super::form::{Form, repo_url, url};
use super::layout::{csrf, page, time};
use super::{Ctx, Outcome, Reply, UiError, html};

/// Repositories on one page.
const PAGE: usize = 100;

pub(crate) async fn list(ctx: &Ctx) -> Result<Reply, UiError> {
    let after = ctx.param("after");
    let request = PageRequest::first(PAGE).with_after(after);
    let mut listed = ctx.engine.list_repositories(&request).await?;
    let next = listed
        .has_more
        .then(|| listed.items.last().map(|r| r.name.clone()))
        .flatten();
    // The user sees the repositories it may read.
    let mut readable = Vec::with_capacity(listed.items.len());
    for r in std::mem::take(&mut listed.items) {
        let need = Need::new("fs:ReadRepository", arn::repository(&r.name));
        if ctx.gate.may(&need).await {
            readable.push(r);
        }
    }
    listed.items = readable;
    let s = &ctx.session;
    let body = html! {
        h1 { "Repositories" }
        @if listed.items.is_empty() && after.is_none() {
            p.empty { "No repository yet: create one below." }
        } @else {
            table {
                thead { tr { th { "Repository" } th { "Default branch" } th { "Storage namespace" } th { "Created" } th { span.sr { "Actions" } } } }
                tbody {
                    @for r in &listed.items {
                        tr {
                            td { a href=(repo_url(&r.name, "objects", &[("ref", &r.default_branch)])) { (r.name) } }
                            td { code { (r.default_branch) } }
                            td { code { (r.storage_namespace) } }
                            td { (time(r.created_ms)) }
                            td {
                                details.danger {
                                    summary { "Delete…" }
                                    form method="post" action=(repo_url(&r.name, "delete", &[])) {
                                        (csrf(s))
                                        label { "Type " code { (r.name) } " to delete it and all its branches"
                                            input type="text" name="confirm" autocomplete="off" required; }
                                        button.danger type="submit" { "Delete repository" }
                                    }
                                }
                            }
                        }
                    }
                }
            }
            @if let Some(n) = &next {
                p { a href=(url("/ui/repositories", &[("after", n)])) { "Next page" } }
            }
        }
        section.card {
            h2 { "Create Repository" }
            form.grid method="post" action="/ui/repositories" {
                (csrf(s))
                label for="name" { "Repository ID" }
                input #name type="text" name="name" required placeholder="example"
                    title="3 to 63 lower-case letters, digits, dots and hyphens";
                label for="storage_namespace" { "Storage namespace" }
                input #storage_namespace type="text" name="storage_namespace" placeholder="local://example (the default)";
                label for="default_branch" { "Default branch" }
                input #default_branch type="text" name="default_branch" value="main" required;
                span {}
                button type="submit" { "Create Repository" }
            }
        }
    };
    Ok(html(
        StatusCode::OK,
        page("Repositories", Some(s), None, ctx.flash.as_ref(), body),
    ))
}

pub(crate) async fn create(ctx: &Ctx, form: &Form) -> Outcome {
    let name = form.text("name").trim().to_string();
    let namespace = form
        .get("storage_namespace")
        .map(|n| n.trim().to_string())
        .unwrap_or_else(|| ctx.engine.default_namespace(&name));
    let branch = form.get("default_branch").unwrap_or("main").trim();
    match ctx
        .engine
        .create_repository(&name, &namespace, branch)
        .await
    {
        Ok(r) => (
            repo_url(&r.name, "objects", &[("ref", &r.default_branch)]),
            Ok(format!(
                "Created repository {} with branch {}.",
                r.name, r.default_branch
            )),
        ),
        Err(e) => ("/ui/repositories".to_string(), Err(e.into())),
    }
}

pub(crate) async fn delete(ctx: &Ctx, repo: &str, form: &Form) -> Outcome {
    let back = "/ui/repositories".to_string();
    if form.text("confirm") != repo {
        return (
            back,
            Err(UiError::bad_request(format!(
                "Repository {repo} was not deleted: type its name to confirm."
            ))),
        );
    }
    match ctx.engine.delete_repository(repo).await {
        Ok(()) => (back, Ok(format!("Deleted repository {repo}."))),
        Err(e) => (back, Err(e.into())),
    }
}
