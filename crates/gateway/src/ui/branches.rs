//! `/ui/repositories/{repo}/branches`: branches with their head commit and a shortcut to
//! compare with the default branch; "Create Branch" from any ref; reset (drop uncommitted
//! changes); delete; protection rules. Tags too: list, create, delete.

use http::StatusCode;
use maud::html;
use sluice_meta::PageRequest;

use super::form::{Form, repo_url};
use super::layout::{RepoNav, Tab, csrf, page, short};
use super::objects::{ref_choices, ref_datalist};
use super::{Ctx, Outcome, Reply, UiError, html};

/// Branches on one page.
const PAGE: usize = 100;

pub(crate) async fn page_of(ctx: &Ctx, repo: &str) -> Result<Reply, UiError> {
    let r = ctx.engine.repository(repo).await?;
    let after = ctx.param("after");
    let listed = ctx
        .engine
        .list_branches(repo, &PageRequest::first(PAGE).with_after(after))
        .await?;
    let tags = ctx
        .engine
        .list_tags(repo, &PageRequest::first(PAGE))
        .await?;
    let (branch_names, tag_names) = ref_choices(ctx, repo).await?;
    let rules = ctx.engine.branch_protection(repo).await?;
    let next = listed
        .has_more
        .then(|| listed.items.last().map(|b| b.name.clone()))
        .flatten();
    let nav = RepoNav {
        repo,
        tab: Tab::Branches,
        reference: &r.default_branch,
        default_branch: &r.default_branch,
    };
    let s = &ctx.session;
    let body = html! {
        h1 { "Branches" }
        table.branches {
            thead { tr { th { "Branch" } th { "Head commit" } th { "Compare" } th { span.sr { "Actions" } } } }
            tbody {
                @for b in &listed.items {
                    tr {
                        td {
                            a href=(repo_url(repo, "objects", &[("ref", &b.name)])) { (b.name) }
                            @if b.name == r.default_branch { " " span.badge { "default" } }
                        }
                        td { a href=(repo_url(repo, &format!("commits/{}", b.head), &[])) { code { (short(&b.head)) } } }
                        td {
                            @if b.name != r.default_branch {
                                a href=(repo_url(repo, "compare", &[("ref", &r.default_branch), ("compare", &b.name)])) {
                                    "Compare with " (r.default_branch) }
                            }
                        }
                        td {
                            form.inline method="post" action=(repo_url(repo, "branches/reset", &[])) {
                                (csrf(s))
                                input type="hidden" name="name" value=(b.name);
                                button.small type="submit" aria-label={ "Reset branch " (b.name) " (drop its uncommitted changes)" } { "Reset" }
                            }
                            @if b.name != r.default_branch {
                                " "
                                form.inline method="post" action=(repo_url(repo, "branches/delete", &[])) {
                                    (csrf(s))
                                    input type="hidden" name="name" value=(b.name);
                                    button.danger.small type="submit" aria-label={ "Delete branch " (b.name) } { "Delete" }
                                }
                            }
                        }
                    }
                }
            }
        }
        @if let Some(n) = &next {
            p { a href=(repo_url(repo, "branches", &[("after", n)])) { "More branches" } }
        }
        section.card {
            h2 { "Create Branch" }
            form.grid method="post" action=(repo_url(repo, "branches/create", &[])) {
                (csrf(s))
                label for="branch_name" { "Branch name" }
                input #branch_name type="text" name="name" required placeholder="double-branch";
                label for="branch_source" { "Create from (branch, tag or commit)" }
                input #branch_source type="text" name="source" value=(r.default_branch) list="sources" required;
                (ref_datalist("sources", &branch_names, &tag_names))
                span {}
                button type="submit" { "Create Branch" }
            }
        }
        section.card {
            h2 { "Reset a branch to a commit" }
            p { "Moves the branch's head to another commit (a branch, tag or commit id) and drops its uncommitted changes, as " code { "git reset --hard" } " does. Commits after it stay reachable only from other refs." }
            form.grid method="post" action=(repo_url(repo, "branches/reset", &[])) {
                (csrf(s))
                label for="reset_branch" { "Branch" }
                input #reset_branch type="text" name="name" required list="branch-names";
                datalist #branch-names { @for b in &branch_names { option value=(b) {} } }
                label for="reset_to" { "To (branch, tag or commit)" }
                input #reset_to type="text" name="to" required list="sources";
                span {}
                button.danger type="submit" { "Reset branch" }
            }
        }
        section.card {
            h2 { "Protection rules" }
            p { "A protected branch (a name or a glob such as " code { "release-*" } ") changes only by merge: direct writes, commits, resets and deletion are refused." }
            @if rules.is_empty() {
                p.empty { "No branch is protected." }
            } @else {
                ul.rules {
                    @for rule in &rules {
                        li {
                            code { (rule) } " "
                            form.inline method="post" action=(repo_url(repo, "branches/unprotect", &[])) {
                                (csrf(s))
                                input type="hidden" name="pattern" value=(rule);
                                button.danger.small type="submit" aria-label={ "Remove protection rule " (rule) } { "Remove" }
                            }
                        }
                    }
                }
            }
            form.grid method="post" action=(repo_url(repo, "branches/protect", &[])) {
                (csrf(s))
                label for="protect_pattern" { "Protect branches matching" }
                input #protect_pattern type="text" name="pattern" required placeholder="main";
                span {}
                button type="submit" { "Add rule" }
            }
        }
        h2 { "Tags" }
        @if tags.items.is_empty() {
            p.empty { "No tags." }
        } @else {
            table.tags {
                thead { tr { th { "Tag" } th { "Commit" } th { span.sr { "Actions" } } } }
                tbody {
                    @for t in &tags.items {
                        tr {
                            td { a href=(repo_url(repo, "objects", &[("ref", &t.name)])) { (t.name) } }
                            td { a href=(repo_url(repo, &format!("commits/{}", t.commit), &[])) { code { (short(&t.commit)) } } }
                            td {
                                form.inline method="post" action=(repo_url(repo, "tags/delete", &[])) {
                                    (csrf(s))
                                    input type="hidden" name="name" value=(t.name);
                                    button.danger.small type="submit" aria-label={ "Delete tag " (t.name) } { "Delete" }
                                }
                            }
                        }
                    }
                }
            }
        }
        section.card {
            h2 { "Create Tag" }
            form.grid method="post" action=(repo_url(repo, "tags/create", &[])) {
                (csrf(s))
                label for="tag_name" { "Tag name" }
                input #tag_name type="text" name="name" required;
                label for="tag_ref" { "At (branch, tag or commit)" }
                input #tag_ref type="text" name="source" value=(r.default_branch) list="sources" required;
                span {}
                button type="submit" { "Create Tag" }
            }
        }
    };
    Ok(html(
        StatusCode::OK,
        page(
            &format!("Branches of {repo}"),
            Some(s),
            Some(&nav),
            ctx.flash.as_ref(),
            body,
        ),
    ))
}

fn back(repo: &str) -> String {
    repo_url(repo, "branches", &[])
}

pub(crate) async fn create(ctx: &Ctx, repo: &str, form: &Form) -> Outcome {
    let name = form.text("name").trim();
    let source = form.text("source").trim();
    match ctx.engine.create_branch(repo, name, source).await {
        Ok(b) => (
            back(repo),
            Ok(format!(
                "Created branch {} from {source} at {}.",
                b.name,
                short(&b.head)
            )),
        ),
        Err(e) => (back(repo), Err(e.into())),
    }
}

pub(crate) async fn delete(ctx: &Ctx, repo: &str, form: &Form) -> Outcome {
    let name = form.text("name");
    match ctx.engine.delete_branch(repo, name).await {
        Ok(()) => (back(repo), Ok(format!("Deleted branch {name}."))),
        Err(e) => (back(repo), Err(e.into())),
    }
}

pub(crate) async fn create_tag(ctx: &Ctx, repo: &str, form: &Form) -> Outcome {
    let name = form.text("name").trim();
    let source = form.text("source").trim();
    match ctx.engine.create_tag(repo, name, source).await {
        Ok(t) => (
            back(repo),
            Ok(format!("Created tag {} at {}.", t.name, short(&t.commit))),
        ),
        Err(e) => (back(repo), Err(e.into())),
    }
}

pub(crate) async fn delete_tag(ctx: &Ctx, repo: &str, form: &Form) -> Outcome {
    let name = form.text("name");
    match ctx.engine.delete_tag(repo, name).await {
        Ok(()) => (back(repo), Ok(format!("Deleted tag {name}."))),
        Err(e) => (back(repo), Err(e.into())),
    }
}

/// Reset a branch: drop its uncommitted changes, or with `to`, also move its head there.
pub(crate) async fn reset(ctx: &Ctx, repo: &str, form: &Form) -> Outcome {
    let name = form.text("name").trim();
    let to = form.text("to").trim();
    let done = if to.is_empty() {
        ctx.engine
            .reset_branch(repo, name)
            .await
            .map(|()| format!("Reset branch {name}: its uncommitted changes are gone."))
    } else {
        ctx.engine
            .reset_branch_to(repo, name, to)
            .await
            .map(|b| format!("Reset branch {name} to {to} ({}).", short(&b.head)))
    };
    (back(repo), done.map_err(Into::into))
}

pub(crate) async fn protect(ctx: &Ctx, repo: &str, form: &Form) -> Outcome {
    let pattern = form.text("pattern").trim().to_string();
    let outcome = async {
        let mut rules = ctx.engine.branch_protection(repo).await?;
        if !rules.contains(&pattern) {
            rules.push(pattern.clone());
        }
        ctx.engine.set_branch_protection(repo, rules).await
    }
    .await;
    match outcome {
        Ok(()) => (
            back(repo),
            Ok(format!("Branches matching {pattern} are protected.")),
        ),
        Err(e) => (back(repo), Err(e.into())),
    }
}

pub(crate) async fn unprotect(ctx: &Ctx, repo: &str, form: &Form) -> Outcome {
    let pattern = form.text("pattern").to_string();
    let outcome = async {
        let mut rules = ctx.engine.branch_protection(repo).await?;
        rules.retain(|r| *r != pattern);
        ctx.engine.set_branch_protection(repo, rules).await
    }
    .await;
    match outcome {
        Ok(()) => (
            back(repo),
            Ok(format!("Removed the protection rule {pattern}.")),
        ),
        Err(e) => (back(repo), Err(e.into())),
    }
}
