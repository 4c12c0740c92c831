//! `/ui/repositories/{repo}/objects?ref=&path=`: a ref's objects as folders, with a ref
//! picker; an object's details and download; the Parquet preview; on a branch "Upload
//! Object" (several files, drag and drop, a progress bar each) and delete.

use bytes::Bytes;
use futures::TryStreamExt;
use http::{Request, Response, StatusCode};
use http_body_util::BodyStream;
use maud::{Markup, html};
use sluice_meta::{Entry, ListItem, ListOptions, LogFilter, LogOptions, PageRequest, PutOptions};

use super::form::{Form, repo_url};
use super::layout::{RepoNav, Tab, csrf, page, short, size, time};
use super::preview::{preview, render};
use super::{Ctx, Outcome, Reply, UiError, html};
use crate::sync_stream::SyncStream;

/// Items on one page of a listing.
const PAGE: usize = 200;

/// The branches and tags offered by the ref picker.
pub(crate) async fn ref_choices(
    ctx: &Ctx,
    repo: &str,
) -> Result<(Vec<String>, Vec<String>), UiError> {
    let branches = ctx
        .engine
        .list_branches(repo, &PageRequest::first(200))
        .await?
        .items
        .into_iter()
        .map(|b| b.name)
        .collect();
    let tags = ctx
        .engine
        .list_tags(repo, &PageRequest::first(200))
        .await?
        .items
        .into_iter()
        .map(|t| t.name)
        .collect();
    Ok((branches, tags))
}

/// A datalist of branches and tags, for ref inputs.
pub(crate) fn ref_datalist(id: &str, branches: &[String], tags: &[String]) -> Markup {
    html! {
        datalist id=(id) {
            @for b in branches { option value=(b) { "branch" } }
            @for t in tags { option value=(t) { "tag" } }
        }
    }
}

/// The ref picker: a form that keeps the page and the path.
fn ref_picker(
    repo: &str,
    reference: &str,
    path: &str,
    branches: &[String],
    tags: &[String],
) -> Markup {
    html! {
        form.picker method="get" action=(repo_url(repo, "objects", &[])) {
            label for="ref" { "Ref (branch, tag or commit)" }
            input #ref type="text" name="ref" value=(reference) list="refs" required;
            (ref_datalist("refs", branches, tags))
            input type="hidden" name="path" value=(path);
            button type="submit" { "Show" }
        }
    }
}

/// Links for each folder of `path`.
fn breadcrumbs(repo: &str, reference: &str, path: &str) -> Markup {
    let mut crumbs = Vec::new();
    let mut at = String::new();
    for part in path.split('/').filter(|p| !p.is_empty()) {
        at.push_str(part);
        at.push('/');
        crumbs.push((part.to_string(), at.clone()));
    }
    let is_folder = path.is_empty() || path.ends_with('/');
    let last = crumbs.len();
    html! {
        nav.breadcrumbs aria-label="Path" {
            a href=(repo_url(repo, "objects", &[("ref", reference)])) { (repo) }
            @for (i, (name, prefix)) in crumbs.iter().enumerate() {
                " / "
                @if i + 1 == last && !is_folder {
                    span aria-current="page" { (name) }
                } @else {
                    a href=(repo_url(repo, "objects", &[("ref", reference), ("path", prefix)])) { (name) }
                }
            }
        }
    }
}

fn is_parquet(path: &str) -> bool {
    let lower = path.to_ascii_lowercase();
    lower.ends_with(".parquet") || lower.ends_with(".parq")
}

pub(crate) async fn page_of(ctx: &Ctx, repo: &str) -> Result<Reply, UiError> {
    let r = ctx.engine.repository(repo).await?;
    let reference = ctx.param("ref").unwrap_or(&r.default_branch).to_string();
    let path = ctx
        .param("path")
        .unwrap_or("")
        .trim_start_matches('/')
        .to_string();
    let resolved = ctx.engine.resolve_ref(repo, &reference).await?;
    let on_branch = resolved.branch.is_some();
    let (branches, tags) = ref_choices(ctx, repo).await?;
    let nav = RepoNav {
        repo,
        tab: Tab::Objects,
        reference: &reference,
        default_branch: &r.default_branch,
    };
    let head = html! {
        h1 { "Objects" }
        (ref_picker(repo, &reference, &path, &branches, &tags))
        (breadcrumbs(repo, &reference, &path))
    };
    let body = if !path.is_empty() && !path.ends_with('/') {
        let entry = ctx.engine.stat_object(repo, &reference, &path).await?;
        let changed_in = last_change(ctx, repo, &reference, &path).await?;
        let shown = if is_parquet(&path) {
            preview(&ctx.engine, repo, &reference, &path).await?
        } else {
            None
        };
        html! {
            (head)
            (details(ctx, repo, &reference, &path, &entry, on_branch, changed_in.as_ref()))
            @if let Some(p) = &shown { (render(p)) }
        }
    } else {
        let after = ctx.param("after").map(str::to_string);
        let options = ListOptions {
            prefix: path.clone(),
            delimiter: Some("/".into()),
            after: after.clone(),
            limit: PAGE,
        };
        let listed = ctx.engine.list_objects(repo, &reference, &options).await?;
        let has_parquet = listed
            .items
            .iter()
            .any(|i| matches!(i, ListItem::Object(p, _) if is_parquet(p)));
        let shown = if has_parquet || ctx.param("preview").is_some() {
            preview(&ctx.engine, repo, &reference, &path).await?
        } else {
            None
        };
        let next = listed
            .has_more
            .then(|| listed.items.last().map(|i| i.key().to_string()))
            .flatten();
        html! {
            (head)
            @if listed.items.is_empty() {
                p.empty { "No objects here" @if !path.is_empty() { " under " code { (path) } } "." }
            } @else {
                table.objects {
                    thead { tr { th { "Name" } th { "Size" } th { "Modified" } th { span.sr { "Download" } } } }
                    tbody {
                        @for item in &listed.items {
                            @match item {
                                ListItem::Prefix(p) => {
                                    tr.folder {
                                        td { a href=(repo_url(repo, "objects", &[("ref", &reference), ("path", p)])) {
                                            "📁 " (p.strip_prefix(path.as_str()).unwrap_or(p)) } }
                                        td {} td {} td {}
                                    }
                                }
                                ListItem::Object(p, e) => {
                                    tr {
                                        td { a href=(repo_url(repo, "objects", &[("ref", &reference), ("path", p)])) {
                                            (p.strip_prefix(path.as_str()).unwrap_or(p)) } }
                                        td { (size(e.size)) }
                                        td { (time(e.last_modified_ms)) }
                                        td { a href=(repo_url(repo, "object", &[("ref", &reference), ("path", p)])) download { "Download" } }
                                    }
                                }
                            }
                        }
                    }
                }
                @if let Some(n) = &next {
                    p { a href=(repo_url(repo, "objects", &[("ref", &reference), ("path", &path), ("after", n)])) { "Next page" } }
                }
            }
            @if let Some(p) = &shown {
                (render(p))
            } @else if !listed.items.is_empty() {
                p { a href=(repo_url(repo, "objects", &[("ref", &reference), ("path", &path), ("preview", "1")])) {
                    "Preview the Parquet files under this folder" } }
            }
            @if on_branch {
                (upload_form(ctx, repo, &reference, &path))
            } @else {
                p.note role="note" { "“" (reference) "” is not a branch: objects can be uploaded and deleted on a branch only. Pick a branch to upload." }
            }
        }
    };
    Ok(html(
        StatusCode::OK,
        page(
            &format!("Objects of {repo}"),
            Some(&ctx.session),
            Some(&nav),
            ctx.flash.as_ref(),
            body,
        ),
    ))
}

/// The newest commit reachable from `reference` that changed `path` (lakeFS's "last
/// commit" of an object), as its id and message. None when only uncommitted.
async fn last_change(
    ctx: &Ctx,
    repo: &str,
    reference: &str,
    path: &str,
) -> Result<Option<(String, String)>, UiError> {
    let filter = LogFilter {
        objects: vec![path.to_string()],
        ..Default::default()
    };
    let one = LogOptions {
        limit: 1,
        ..Default::default()
    };
    let log = ctx
        .engine
        .log_filtered(repo, reference, &one, &filter)
        .await?;
    Ok(log
        .commits
        .into_iter()
        .next()
        .map(|(id, c)| (id, c.message.clone())))
}

fn details(
    ctx: &Ctx,
    repo: &str,
    reference: &str,
    path: &str,
    e: &Entry,
    on_branch: bool,
    changed_in: Option<&(String, String)>,
) -> Markup {
    html! {
        section.card.details aria-label="Object details" {
            h2 { (path) }
            dl {
                dt { "Size" } dd { (size(e.size)) " (" (e.size) " bytes)" }
                dt { "ETag" } dd { code { (e.etag) } }
                @for (algo, sum) in &e.checksums { dt { "Checksum " (algo) } dd { code { (sum) } } }
                dt { "Content type" } dd { (e.content_type.as_deref().unwrap_or("(none)")) }
                dt { "Modified" } dd { (time(e.last_modified_ms)) }
                dt { "Last commit" } dd {
                    @match changed_in {
                        Some((id, message)) => {
                            a href=(repo_url(repo, &format!("commits/{id}"), &[])) { code { (short(id)) } }
                            " " (message)
                        }
                        None => { "not committed yet" }
                    }
                }
                dt { "Physical address" } dd { code { (e.address) } }
                // `sluice:` keys hold S3's system headers, not user metadata.
                @for (k, v) in e.metadata.iter().filter(|(k, _)| !k.starts_with("sluice:")) { dt { "Metadata " (k) } dd { (v) } }
            }
            p.actions {
                a.button href=(repo_url(repo, "object", &[("ref", reference), ("path", path)])) download { "Download" }
                @if on_branch {
                    form.inline method="post" action=(repo_url(repo, "objects/delete", &[])) {
                        (csrf(&ctx.session))
                        input type="hidden" name="ref" value=(reference);
                        input type="hidden" name="path" value=(path);
                        button.danger type="submit" { "Delete object" }
                    }
                }
            }
        }
    }
}

fn upload_form(ctx: &Ctx, repo: &str, branch: &str, path: &str) -> Markup {
    html! {
        section.card.upload #upload data-url=(repo_url(repo, "upload", &[("ref", branch)]))
            data-csrf=(ctx.session.csrf) data-changes=(repo_url(repo, "changes", &[("ref", branch)])) {
            h2 { "Upload Object" }
            div.dropzone #dropzone tabindex="0" role="group" aria-label="Drop files here to upload" {
                p { "Drop files here, or choose them:" }
                label for="files" { "Files" }
                input #files type="file" name="files" multiple;
                label for="upload-prefix" { "Upload to folder" }
                input #upload-prefix type="text" name="prefix" value=(path) placeholder="(the root)";
                button #upload-button type="button" { "Upload Object" }
            }
            ul #upload-progress aria-live="polite" {}
            p #upload-status role="status" aria-live="polite" {}
        }
        script src="/ui/static/upload.js" {}
    }
}

/// `GET .../object?ref=&path=`: the bytes, as an attachment (never rendered by the
/// browser as a page of this site).
pub(crate) async fn download(ctx: &Ctx, repo: &str) -> Result<Reply, UiError> {
    let reference = ctx
        .param("ref")
        .ok_or_else(|| UiError::bad_request("Name a ref to download from."))?;
    let path = ctx
        .param("path")
        .ok_or_else(|| UiError::bad_request("Name an object to download."))?;
    let entry = ctx.engine.stat_object(repo, reference, path).await?;
    let name: String = path
        .rsplit('/')
        .next()
        .unwrap_or("object")
        .chars()
        .map(|c| {
            if c.is_ascii_graphic() && c != '"' && c != '\\' {
                c
            } else {
                '_'
            }
        })
        .collect();
    let body = if entry.size == 0 {
        s3s::Body::empty()
    } else {
        let stream = ctx.engine.read_object(repo, &entry, None).await?;
        s3s::Body::from(s3s::dto::StreamingBlob::wrap(SyncStream::new(stream)))
    };
    Ok(Response::builder()
        .header(http::header::CONTENT_TYPE, "application/octet-stream")
        .header(http::header::CONTENT_LENGTH, entry.size)
        .header(
            http::header::CONTENT_DISPOSITION,
            format!("attachment; filename=\"{name}\""),
        )
        .header("x-content-type-options", "nosniff")
        .body(body)
        .expect("valid response"))
}

pub(crate) fn text(status: StatusCode, message: String) -> Reply {
    Response::builder()
        .status(status)
        .header(http::header::CONTENT_TYPE, "text/plain; charset=utf-8")
        .body(s3s::Body::from(message))
        .expect("valid response")
}

/// `POST .../upload?ref=BRANCH&path=PATH` (the page's script): the body streamed into the
/// engine as the object. Answers plain text, for the script to show.
pub(crate) async fn upload<B>(ctx: &Ctx, repo: &str, req: Request<B>) -> Result<Reply, UiError>
where
    B: hyper::body::Body<Data = Bytes> + Send + Unpin + 'static,
    B::Error: std::error::Error + Send + Sync + 'static,
{
    let fail = |e: UiError| -> Result<Reply, UiError> { Ok(text(e.status, e.message)) };
    let (Some(branch), Some(path)) = (ctx.param("ref"), ctx.param("path")) else {
        return fail(UiError::bad_request(
            "Name the branch and the path to upload to.",
        ));
    };
    let resolved = match ctx.engine.resolve_ref(repo, branch).await {
        Ok(r) => r,
        Err(e) => return fail(e.into()),
    };
    if resolved.branch.is_none() {
        return fail(UiError::bad_request(format!(
            "“{branch}” is not a branch: objects can be uploaded to a branch only."
        )));
    }
    let content_type = req
        .headers()
        .get(http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .filter(|t| !t.is_empty())
        .map(str::to_string);
    let body = BodyStream::new(req.into_body())
        .try_filter_map(|frame| async move { Ok(frame.into_data().ok()) })
        .map_err(std::io::Error::other);
    let options = PutOptions {
        content_type,
        ..PutOptions::default()
    };
    match ctx
        .engine
        .put_object(repo, branch, path, body, options)
        .await
    {
        Ok(entry) => Ok(text(
            StatusCode::CREATED,
            format!("Uploaded {path} ({})", size(entry.size)),
        )),
        Err(e) => fail(e.into()),
    }
}

pub(crate) async fn delete(ctx: &Ctx, repo: &str, form: &Form) -> Outcome {
    let branch = form.text("ref");
    let path = form.text("path");
    let folder = match path.rfind('/') {
        Some(i) => &path[..=i],
        None => "",
    };
    let back = repo_url(repo, "objects", &[("ref", branch), ("path", folder)]);
    match ctx.engine.delete_object(repo, branch, path).await {
        Ok(true) => (
            back,
            Ok(format!("Deleted {path} (uncommitted until you commit).")),
        ),
        Ok(false) => (
            back,
            Err(UiError::new(
                StatusCode::NOT_FOUND,
                format!("There is no object {path} on {branch}."),
            )),
        ),
        Err(e) => (back, Err(e.into())),
    }
}
