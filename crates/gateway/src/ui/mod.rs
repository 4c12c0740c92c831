//! The web UI under `/ui`: server-rendered pages (maud templates, checked at compile time)
//! at lakeFS's addresses, over the same engine and query calls as the REST API. A browser
//! signs in with the admin key pair and gets a session cookie ([`session`]); every POST
//! form carries the session's CSRF token. Forms answer with a redirect (POST, redirect,
//! GET) and leave their outcome, an error included, for the page they lead to. A little
//! plain JavaScript uploads files with a progress bar; nothing is built outside `cargo`.
//!
//! One file per page: [`repositories`], [`objects`] (with [`preview`] for Parquet),
//! [`changes`], [`branches`], [`commits`], [`compare`] (with [`chart`]), [`actions`];
//! [`signin`] for signing in and out, [`layout`] for the frame of every page.

mod actions;
mod branches;
mod changes;
mod chart;
mod commits;
mod compare;
mod form;
mod layout;
mod objects;
mod parts;
mod permissions;
mod preview;
mod repositories;
pub(crate) mod session;
mod signin;

#[cfg(test)]
mod tests;

use bytes::Bytes;
use http::{Method, Request, Response, StatusCode};
use maud::Markup;
use sluice_meta::{Engine, Error, ErrorKind};

use crate::access::{Access, AccessError, Gate};
use session::{Flash, SessionView, Sessions};

const STYLE: &str = include_str!("assets/style.css");
const UPLOAD_JS: &str = include_str!("assets/upload.js");

/// Whether a request is a browser's and not an S3 client's: no `Authorization` header and
/// no presigned `X-Amz-*` query parameter.
fn unsigned<B>(req: &Request<B>) -> bool {
    !req.headers().contains_key(http::header::AUTHORIZATION)
        && !req.uri().query().is_some_and(|q| {
            q.split('&')
                .any(|p| p.len() >= 6 && p[..6].eq_ignore_ascii_case("x-amz-"))
        })
}

/// True for what the UI answers: an unsigned request for `/ui` or below, and a browser's
/// `GET /` (sent on to `/ui/`; S3's signed `GET /` stays ListBuckets).
pub fn is_ui<B>(req: &Request<B>) -> bool {
    let path = req.uri().path();
    let ui_path = path == "/ui" || path.starts_with("/ui/");
    let root = path == "/" && matches!(*req.method(), Method::GET | Method::HEAD);
    (ui_path || root) && unsigned(req)
}

/// A failure shown on a page.
#[derive(Debug)]
pub(crate) struct UiError {
    pub status: StatusCode,
    pub message: String,
    pub report: Option<serde_json::Value>,
}

impl UiError {
    pub(crate) fn new(status: StatusCode, message: impl Into<String>) -> Self {
        Self {
            status,
            message: message.into(),
            report: None,
        }
    }

    pub(crate) fn bad_request(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, message)
    }

    pub(crate) fn not_found() -> Self {
        Self::new(StatusCode::NOT_FOUND, "There is no such page.")
    }

    /// What a form leaves for the next page.
    pub(crate) fn flash(&self) -> Flash {
        Flash {
            error: true,
            message: self.message.clone(),
            report: self.report.clone(),
        }
    }
}

fn status_of(kind: ErrorKind) -> StatusCode {
    match kind {
        ErrorKind::NotFound => StatusCode::NOT_FOUND,
        ErrorKind::AlreadyExists | ErrorKind::Conflict => StatusCode::CONFLICT,
        ErrorKind::Invalid => StatusCode::BAD_REQUEST,
        ErrorKind::PreconditionFailed => StatusCode::PRECONDITION_FAILED,
        ErrorKind::Forbidden => StatusCode::FORBIDDEN,
        ErrorKind::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
        ErrorKind::Corrupt | ErrorKind::Internal => StatusCode::INTERNAL_SERVER_ERROR,
    }
}

impl From<Error> for UiError {
    fn from(e: Error) -> Self {
        let report = match e.detail() {
            Some(sluice_meta::ErrorDetail::MergeRefused(report)) => Some(report.clone()),
            Some(sluice_meta::ErrorDetail::Conflicts(paths)) => {
                Some(serde_json::json!({ "conflicts": paths }))
            }
            None => None,
        };
        Self {
            status: status_of(e.kind()),
            message: e.to_string(),
            report,
        }
    }
}

impl From<AccessError> for UiError {
    fn from(e: AccessError) -> Self {
        match e {
            AccessError::Denied { action, resource } => Self::new(
                StatusCode::FORBIDDEN,
                format!("You may not do this: your policies do not allow {action} on {resource}."),
            ),
            other => Self::new(StatusCode::INTERNAL_SERVER_ERROR, other.to_string()),
        }
    }
}

impl From<sluice_query::QueryError> for UiError {
    fn from(e: sluice_query::QueryError) -> Self {
        match e {
            sluice_query::QueryError::Meta(e) => e.into(),
            other => Self::new(status_of(other.kind()), other.to_string()),
        }
    }
}

/// The UI's state: the sessions of signed-in browsers (in memory unless given a store).
#[derive(Clone, Default)]
pub struct Ui {
    sessions: Sessions,
}

impl Ui {
    /// Sessions kept in `kv`, the metadata store every sidecar shares.
    pub fn new(kv: std::sync::Arc<dyn sluice_meta::kv::Kv>) -> Self {
        Self {
            sessions: Sessions::new(kv),
        }
    }
}

/// Everything a page handler needs.
pub(crate) struct Ctx {
    pub engine: Engine,
    /// The signed-in user, and what it may do.
    pub gate: Gate,
    pub sessions: Sessions,
    pub session: SessionView,
    /// What the last form left, taken once.
    pub flash: Option<Flash>,
    pub query: form::Form,
}

impl Ctx {
    /// A query parameter, when not empty.
    pub(crate) fn param(&self, name: &str) -> Option<&str> {
        self.query.get(name)
    }
}

pub(crate) type Reply = Response<s3s::Body>;

pub(crate) fn html(status: StatusCode, page: Markup) -> Reply {
    Response::builder()
        .status(status)
        .header(http::header::CONTENT_TYPE, "text/html; charset=utf-8")
        .header(http::header::CACHE_CONTROL, "no-store")
        .header("x-content-type-options", "nosniff")
        .header("x-frame-options", "DENY")
        .header(
            "content-security-policy",
            "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; frame-ancestors 'none'",
        )
        .body(s3s::Body::from(page.into_string()))
        .expect("valid response")
}

pub(crate) fn redirect(to: &str) -> Reply {
    Response::builder()
        .status(StatusCode::SEE_OTHER)
        .header(http::header::LOCATION, to)
        .body(s3s::Body::empty())
        .expect("valid response")
}

fn asset(content_type: &str, body: &'static str) -> Reply {
    Response::builder()
        .header(http::header::CONTENT_TYPE, content_type)
        .header(http::header::CACHE_CONTROL, "max-age=300")
        .body(s3s::Body::from(body.to_string()))
        .expect("valid response")
}

/// Whether a POST comes from a page of this server: a browser's `Origin` header, when sent,
/// names the host the request was sent to.
fn same_origin<B>(req: &Request<B>) -> bool {
    let Some(origin) = req
        .headers()
        .get(http::header::ORIGIN)
        .and_then(|v| v.to_str().ok())
    else {
        return true;
    };
    let host = req
        .headers()
        .get(http::header::HOST)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    origin
        .split_once("://")
        .is_some_and(|(_, authority)| authority == host)
}

/// Answer one UI request.
pub async fn handle<B>(ui: &Ui, engine: &Engine, access: &Access, req: Request<B>) -> Reply
where
    B: hyper::body::Body<Data = Bytes> + Send + Unpin + 'static,
    B::Error: std::fmt::Display + std::error::Error + Send + Sync + 'static,
{
    let path = req.uri().path().to_string();
    let method = req.method().clone();
    match (&method, path.as_str()) {
        (&Method::GET | &Method::HEAD, "/" | "/ui" | "/ui/") => {
            return redirect("/ui/repositories");
        }
        (&Method::GET, "/ui/static/style.css") => return asset("text/css", STYLE),
        (&Method::GET, "/ui/static/upload.js") => return asset("text/javascript", UPLOAD_JS),
        (&Method::GET, "/ui/login") => {
            return signin::form_page(None, Form::parse(req.uri().query().unwrap_or("")));
        }
        _ => {}
    }
    if method == Method::POST && !same_origin(&req) {
        return layout::error_page(&UiError::new(
            StatusCode::FORBIDDEN,
            "This form was sent from another site and is refused.",
        ));
    }
    if (&method, path.as_str()) == (&Method::POST, "/ui/login") {
        return signin::sign_in(&ui.sessions, access, req).await;
    }
    let session = crate::auth::session(&ui.sessions, req.headers())
        .await
        .map(|(_, s)| s);
    let Some(session) = session else {
        if method == Method::GET {
            let here = match req.uri().query() {
                Some(q) => format!("{path}?{q}"),
                None => path.clone(),
            };
            return redirect(&form::url("/ui/login", &[("next", &here)]));
        }
        return layout::error_page(&UiError::new(
            StatusCode::UNAUTHORIZED,
            "Your session has ended: sign in again.",
        ));
    };
    if path == "/ui/logout" && method == Method::POST {
        return signin::sign_out(&ui.sessions, &session, req).await;
    }
    let ctx = Ctx {
        engine: engine.clone(),
        gate: Gate {
            access: access.clone(),
            user: session.user.clone(),
        },
        sessions: ui.sessions.clone(),
        flash: ui.sessions.take_flash(&session.id).await,
        session,
        query: Form::parse(req.uri().query().unwrap_or("")),
    };
    let segments: Vec<String> = crate::request::path_segments(&path, "/ui");
    let segs: Vec<&str> = segments.iter().map(String::as_str).collect();
    let result = if method == Method::POST {
        post(ctx, &segs, req).await
    } else if method == Method::GET || method == Method::HEAD {
        match ctx
            .gate
            .require(&permissions::page(&segs, &ctx.query))
            .await
        {
            Ok(()) => get(&ctx, &segs).await,
            Err(e) => Err(e.into()),
        }
    } else {
        Err(UiError::new(
            StatusCode::METHOD_NOT_ALLOWED,
            format!("{method} is not used by these pages."),
        ))
    };
    result.unwrap_or_else(|e| layout::error_page(&e))
}

use form::Form;

async fn get(ctx: &Ctx, segs: &[&str]) -> Result<Reply, UiError> {
    match segs {
        ["repositories"] => repositories::list(ctx).await,
        ["repositories", repo] => {
            let r = ctx.engine.repository(repo).await?;
            Ok(redirect(&form::repo_url(
                repo,
                "objects",
                &[("ref", &r.default_branch)],
            )))
        }
        ["repositories", repo, "objects"] => objects::page_of(ctx, repo).await,
        ["repositories", repo, "object"] => objects::download(ctx, repo).await,
        ["repositories", repo, "changes"] => changes::page_of(ctx, repo).await,
        ["repositories", repo, "branches"] => branches::page_of(ctx, repo).await,
        ["repositories", repo, "commits"] => commits::page_of(ctx, repo).await,
        ["repositories", repo, "commits", id] => commits::commit_page(ctx, repo, id).await,
        ["repositories", repo, "compare"] => compare::page_of(ctx, repo).await,
        ["repositories", repo, "merges", id] => compare::progress(ctx, repo, id).await,
        ["repositories", repo, "actions"] => actions::page_of(ctx, repo).await,
        ["repositories", repo, "actions", run] => actions::run_page(ctx, repo, run).await,
        _ => Err(UiError::not_found()),
    }
}

async fn post<B>(ctx: Ctx, segs: &[&str], req: Request<B>) -> Result<Reply, UiError>
where
    B: hyper::body::Body<Data = Bytes> + Send + Unpin + 'static,
    B::Error: std::fmt::Display + std::error::Error + Send + Sync + 'static,
{
    // Uploads send the file (or a part of it) as the body and the token in a header.
    if let ["repositories", repo, "upload", ..] = segs {
        let token = req
            .headers()
            .get("x-csrf-token")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("");
        if !ctx.sessions.check_csrf(&ctx.session, token) {
            return Err(csrf_refused());
        }
        // A step of a multipart upload writes where its upload started.
        let target = match (segs, ctx.param("upload")) {
            ([_, _, _, "start"] | [_, _, _], _) => (
                ctx.param("ref").unwrap_or("").to_string(),
                ctx.param("path").unwrap_or("").to_string(),
            ),
            (_, Some(id)) => match ctx.engine.upload(repo, id).await {
                Ok(u) => (u.branch, u.path),
                Err(_) => (String::new(), String::new()),
            },
            _ => (String::new(), String::new()),
        };
        ctx.gate
            .require(&permissions::upload(repo, &target.0, &target.1))
            .await?;
        return match segs {
            [_, _, _] => objects::upload(&ctx, repo, req).await,
            [_, _, _, step] => Ok(parts::step(&ctx, repo, step, req).await),
            _ => Err(UiError::not_found()),
        };
    }
    let form = form::read_form(req.into_body()).await?;
    if !ctx.sessions.check_csrf(&ctx.session, form.text("csrf")) {
        return Err(csrf_refused());
    }
    ctx.gate.require(&permissions::form(segs, &form)).await?;
    // Where to go back to, and what happened there.
    let (back, outcome) = match segs {
        ["repositories"] => repositories::create(&ctx, &form).await,
        ["repositories", repo, "delete"] => repositories::delete(&ctx, repo, &form).await,
        ["repositories", repo, "objects", "delete"] => objects::delete(&ctx, repo, &form).await,
        ["repositories", repo, "changes", "commit"] => changes::commit(&ctx, repo, &form).await,
        ["repositories", repo, "changes", "reset"] => changes::reset(&ctx, repo, &form).await,
        ["repositories", repo, "branches", "create"] => branches::create(&ctx, repo, &form).await,
        ["repositories", repo, "branches", "delete"] => branches::delete(&ctx, repo, &form).await,
        ["repositories", repo, "branches", "reset"] => branches::reset(&ctx, repo, &form).await,
        ["repositories", repo, "branches", "protect"] => branches::protect(&ctx, repo, &form).await,
        ["repositories", repo, "branches", "unprotect"] => {
            branches::unprotect(&ctx, repo, &form).await
        }
        ["repositories", repo, "tags", "create"] => branches::create_tag(&ctx, repo, &form).await,
        ["repositories", repo, "tags", "delete"] => branches::delete_tag(&ctx, repo, &form).await,
        ["repositories", repo, "merge"] => compare::merge(&ctx, repo, &form).await,
        _ => return Err(UiError::not_found()),
    };
    let flash = match outcome {
        Ok(message) => Flash::ok(message),
        Err(e) => e.flash(),
    };
    ctx.sessions.set_flash(&ctx.session.id, flash).await;
    Ok(redirect(&back))
}

fn csrf_refused() -> UiError {
    UiError::new(
        StatusCode::FORBIDDEN,
        "This form's security token is missing or stale: reload the page and try again.",
    )
}

/// What a form handler answers: the page to go back to, and what to tell there.
pub(crate) type Outcome = (String, Result<String, UiError>);
