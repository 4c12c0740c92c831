//! The REST API under `/api/v1`, shaped like lakeFS's v1 API for what the two share, so
//! lakeFS clients work unchanged. HTTP Basic auth with the admin key pair; errors are JSON
//! `{"message": ...}` with lakeFS's statuses. One module per resource: [`repos`],
//! [`refs`] (branches, commits, log, diff, merge, tags) and [`objects`].

mod async_merge;
mod auth;
mod gc;
mod imports;
mod objects;
mod permissions;
mod quality;
mod refs;
mod repos;
mod required;

use bytes::Bytes;
use http::{Method, Request, Response, StatusCode};
use http_body_util::BodyExt;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use sluice_meta::{Engine, Error, ErrorDetail, ErrorKind};

use crate::access::{Access, Gate};
use crate::api::ErrorBody;

/// The OpenAPI document of what Sluice implements, served at `/api/v1/openapi.json`.
const OPENAPI: &str = include_str!("openapi.json");

/// The largest JSON body the API reads.
const MAX_BODY: usize = 1024 * 1024;

/// An API failure: a status and a message.
#[derive(Debug)]
pub struct ApiError {
    status: StatusCode,
    body: ErrorBody,
}

impl ApiError {
    pub(crate) fn new(status: StatusCode, message: impl Into<String>) -> Self {
        Self {
            status,
            body: ErrorBody {
                message: message.into(),
                conflicts: None,
                report: None,
            },
        }
    }
}

/// A failed merge as an async merge's status reports it: the status and the error body the
/// synchronous merge would have answered.
pub(crate) fn merge_failure(e: Error) -> crate::api::MergeAsyncError {
    let error = ApiError::from(e);
    crate::api::MergeAsyncError {
        status_code: error.status.as_u16(),
        message: error.body.message,
        conflicts: error.body.conflicts,
        report: error.body.report,
    }
}

/// The HTTP status of an error kind, lakeFS's where lakeFS has one.
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

impl From<sluice_query::QueryError> for ApiError {
    fn from(e: sluice_query::QueryError) -> Self {
        match e {
            sluice_query::QueryError::Meta(e) => e.into(),
            other => ApiError::new(status_of(other.kind()), other.to_string()),
        }
    }
}

impl From<Error> for ApiError {
    fn from(e: Error) -> Self {
        let mut error = ApiError::new(status_of(e.kind()), e.message());
        match e.detail() {
            Some(ErrorDetail::Conflicts(paths)) => error.body.conflicts = Some(paths.clone()),
            Some(ErrorDetail::MergeRefused(report)) => error.body.report = Some(report.clone()),
            None => {}
        }
        error
    }
}

fn json_response(status: StatusCode, body: &impl Serialize) -> Response<s3s::Body> {
    let text = serde_json::to_string(body).expect("API types serialise");
    Response::builder()
        .status(status)
        .header(http::header::CONTENT_TYPE, "application/json")
        .body(s3s::Body::from(text))
        .expect("valid response")
}

pub(crate) async fn read_json<T: for<'de> Deserialize<'de>>(
    req: Request<hyper::body::Incoming>,
) -> Result<T, ApiError> {
    let bytes = read_body(req).await?;
    serde_json::from_slice(&bytes)
        .map_err(|e| ApiError::new(StatusCode::BAD_REQUEST, format!("malformed JSON: {e}")))
}

/// A JSON body that may be left out (lakeFS clients send none for a merge or a GC): empty
/// is the default; anything else must parse.
pub(crate) async fn read_optional_json<T: for<'de> Deserialize<'de> + Default>(
    req: Request<hyper::body::Incoming>,
) -> Result<T, ApiError> {
    let bytes = read_body(req).await?;
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Ok(T::default());
    }
    serde_json::from_slice(&bytes)
        .map_err(|e| ApiError::new(StatusCode::BAD_REQUEST, format!("malformed JSON: {e}")))
}

async fn read_body(req: Request<hyper::body::Incoming>) -> Result<Bytes, ApiError> {
    Ok(http_body_util::Limited::new(req.into_body(), MAX_BODY)
        .collect()
        .await
        .map_err(|e| ApiError::new(StatusCode::BAD_REQUEST, format!("cannot read body: {e}")))?
        .to_bytes())
}

/// Every operation the API answers after authentication: its method and path pattern
/// (`{name}` segments), as the route table holds them.
pub fn operations() -> impl Iterator<Item = (&'static str, &'static str)> {
    ROUTES.iter().map(|r| (r.method, r.pattern))
}

/// True when the request is for the REST API.
pub fn is_api(path: &str) -> bool {
    path == "/api/v1" || path.starts_with("/api/v1/")
}

/// An answer: a status and a JSON body, or a raw response (object downloads).
pub(crate) enum Reply {
    Json(StatusCode, Value),
    Empty(StatusCode),
    Raw(Response<s3s::Body>),
}

pub(crate) type Answer = Result<Reply, ApiError>;

/// The parsed query string.
pub(crate) struct Query(Vec<(String, String)>);

impl Query {
    fn parse(q: Option<&str>) -> Self {
        let mut pairs = Vec::new();
        for pair in q.unwrap_or("").split('&').filter(|p| !p.is_empty()) {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            let decode = |s: &str| {
                percent_encoding::percent_decode_str(&s.replace('+', " "))
                    .decode_utf8_lossy()
                    .into_owned()
            };
            pairs.push((decode(k), decode(v)));
        }
        Self(pairs)
    }
    /// The last non-empty value of `k`.
    pub(crate) fn get(&self, k: &str) -> Option<&str> {
        self.0
            .iter()
            .rev()
            .find(|(name, _)| name == k)
            .map(|(_, v)| v.as_str())
            .filter(|v| !v.is_empty())
    }
    /// Every non-empty value of a repeated parameter (`objects=a&objects=b`).
    pub(crate) fn all(&self, k: &str) -> Vec<String> {
        self.0
            .iter()
            .filter(|(name, v)| name == k && !v.is_empty())
            .map(|(_, v)| v.clone())
            .collect()
    }
    /// A boolean parameter, spelled as lakeFS (Go's `ParseBool`) accepts it: `true`,
    /// `True`, `TRUE`, `t`, `1` and their false forms; absent is `None`.
    pub(crate) fn flag(&self, k: &str) -> Result<Option<bool>, ApiError> {
        match self.get(k) {
            None => Ok(None),
            Some("1" | "t" | "T" | "true" | "True" | "TRUE") => Ok(Some(true)),
            Some("0" | "f" | "F" | "false" | "False" | "FALSE") => Ok(Some(false)),
            Some(other) => Err(ApiError::new(
                StatusCode::BAD_REQUEST,
                format!("{k} must be true or false, not {other:?}"),
            )),
        }
    }

    pub(crate) fn require(&self, k: &str) -> Result<&str, ApiError> {
        self.get(k).ok_or_else(|| {
            ApiError::new(
                StatusCode::BAD_REQUEST,
                format!("missing query parameter {k:?}"),
            )
        })
    }
    /// `amount`, lakeFS's page size: default 100, at most 1000.
    pub(crate) fn amount(&self) -> Result<usize, ApiError> {
        match self.get("amount") {
            None => Ok(100),
            Some(a) => a
                .parse::<usize>()
                .ok()
                .filter(|n| *n >= 1)
                .map(|n| n.min(1000))
                .ok_or_else(|| {
                    ApiError::new(StatusCode::BAD_REQUEST, "amount must be a positive integer")
                }),
        }
    }
}

/// A JSON answer: `body`, one of the [`crate::api`] types (or a sluice-query report).
pub(crate) fn reply(status: StatusCode, body: impl Serialize) -> Answer {
    let value = serde_json::to_value(body)
        .map_err(|e| ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()))?;
    Ok(Reply::Json(status, value))
}

/// Everything a handler needs.
pub(crate) struct Call {
    pub engine: Engine,
    pub committer: String,
    /// The user, and what it may do.
    pub gate: Gate,
    pub method: Method,
    /// The path's `{name}` segments, percent-decoded, in the route's order.
    pub params: Params,
    pub query: Query,
    pub req: Request<hyper::body::Incoming>,
}

impl Call {
    /// The path segment the route names `{name}`.
    pub(crate) fn param(&self, name: &str) -> String {
        self.params
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, v)| v.clone())
            .unwrap_or_else(|| panic!("the route has no {{{name}}}"))
    }
}

/// A route's `{name}` segments and their values.
type Params = Vec<(&'static str, String)>;

type Handler = fn(Call) -> futures::future::BoxFuture<'static, Answer>;

/// One operation: a method, a path under `/api/v1` whose `{name}` segments match any one
/// segment, and what answers it.
struct Route {
    method: &'static str,
    pattern: &'static str,
    handler: Handler,
}

macro_rules! route {
    ($method:literal $pattern:literal => $handler:path) => {
        Route {
            method: $method,
            pattern: $pattern,
            handler: |call| Box::pin($handler(call)),
        }
    };
}

/// Operations answered without credentials, as lakeFS's healthcheck and swagger.json are.
static PUBLIC: &[Route] = &[
    route!("GET" "/healthcheck" => healthcheck),
    route!("GET" "/openapi.json" => openapi),
];

/// Every operation of the API, in one place. The first route whose method and pattern
/// match answers; a path that matches only with other methods is 405, any other 404.
static ROUTES: &[Route] = &[
    route!("GET" "/config" => repos::config),
    route!("GET" "/config/version" => repos::version),
    route!("GET" "/config/storage" => repos::storage),
    route!("GET" "/user" => auth::current_user),
    route!("GET" "/auth/users" => auth::list_users),
    route!("POST" "/auth/users" => auth::create_user),
    route!("GET" "/auth/users/{user}" => auth::get_user),
    route!("DELETE" "/auth/users/{user}" => auth::delete_user),
    route!("GET" "/auth/users/{user}/credentials" => auth::list_credentials),
    route!("POST" "/auth/users/{user}/credentials" => auth::create_credentials),
    route!("GET" "/auth/users/{user}/credentials/{key}" => auth::get_credentials),
    route!("DELETE" "/auth/users/{user}/credentials/{key}" => auth::delete_credentials),
    route!("GET" "/auth/users/{user}/groups" => auth::user_groups),
    route!("GET" "/auth/users/{user}/policies" => auth::user_policies),
    route!("PUT" "/auth/users/{user}/policies/{policy}" => auth::attach_user_policy),
    route!("DELETE" "/auth/users/{user}/policies/{policy}" => auth::detach_user_policy),
    route!("GET" "/auth/groups" => auth::list_groups),
    route!("POST" "/auth/groups" => auth::create_group),
    route!("GET" "/auth/groups/{group}" => auth::get_group),
    route!("DELETE" "/auth/groups/{group}" => auth::delete_group),
    route!("GET" "/auth/groups/{group}/members" => auth::members),
    route!("PUT" "/auth/groups/{group}/members/{user}" => auth::add_member),
    route!("DELETE" "/auth/groups/{group}/members/{user}" => auth::remove_member),
    route!("GET" "/auth/groups/{group}/policies" => auth::group_policies),
    route!("PUT" "/auth/groups/{group}/policies/{policy}" => auth::attach_group_policy),
    route!("DELETE" "/auth/groups/{group}/policies/{policy}" => auth::detach_group_policy),
    route!("GET" "/auth/policies" => auth::list_policies),
    route!("POST" "/auth/policies" => auth::create_policy),
    route!("GET" "/auth/policies/{policy}" => auth::get_policy),
    route!("PUT" "/auth/policies/{policy}" => auth::update_policy),
    route!("DELETE" "/auth/policies/{policy}" => auth::delete_policy),
    route!("GET" "/repositories" => repos::list),
    route!("POST" "/repositories" => repos::create),
    route!("GET" "/repositories/{repo}" => repos::get),
    route!("DELETE" "/repositories/{repo}" => repos::delete),
    route!("GET" "/repositories/{repo}/branches" => refs::list_branches),
    route!("POST" "/repositories/{repo}/branches" => refs::create_branch),
    route!("GET" "/repositories/{repo}/branches/{branch}" => refs::get_branch),
    route!("DELETE" "/repositories/{repo}/branches/{branch}" => refs::delete_branch),
    route!("PUT" "/repositories/{repo}/branches/{branch}" => refs::reset_branch),
    route!("POST" "/repositories/{repo}/branches/{branch}/revert" => refs::revert),
    route!("POST" "/repositories/{repo}/branches/{branch}/cherry-pick" => refs::cherry_pick),
    route!("GET" "/repositories/{repo}/branches/{branch}/diff" => refs::diff_uncommitted),
    route!("POST" "/repositories/{repo}/branches/{branch}/import" => imports::start),
    route!("GET" "/repositories/{repo}/branches/{branch}/import" => imports::status),
    route!("DELETE" "/repositories/{repo}/branches/{branch}/import" => imports::cancel),
    route!("POST" "/repositories/{repo}/branches/{branch}/commits" => refs::commit),
    route!("POST" "/repositories/{repo}/branches/{branch}/objects" => objects::upload),
    route!("DELETE" "/repositories/{repo}/branches/{branch}/objects" => objects::delete),
    route!("POST" "/repositories/{repo}/branches/{branch}/objects/delete" => objects::delete_many),
    route!("POST" "/repositories/{repo}/branches/{branch}/objects/copy" => objects::copy),
    route!("GET" "/repositories/{repo}/commits/{commit}" => refs::get_commit),
    route!("GET" "/repositories/{repo}/refs/{ref}/commits" => refs::log),
    route!("GET" "/repositories/{repo}/refs/{left}/diff/{right}" => refs::diff),
    route!("GET" "/repositories/{repo}/refs/{left}/diff/{right}/rows" => quality::row_diff),
    route!("GET" "/repositories/{repo}/refs/{source}/merge/{dest}" => refs::merge_base),
    route!("POST" "/repositories/{repo}/refs/{source}/merge/{dest}" => refs::merge),
    route!("POST" "/repositories/{repo}/refs/{source}/merge/{dest}/async" => async_merge::start),
    route!("GET" "/repositories/{repo}/refs/{source}/merge/{dest}/async/{id}/status" => async_merge::status),
    route!("GET" "/repositories/{repo}/refs/{ref}/objects" => objects::download),
    route!("HEAD" "/repositories/{repo}/refs/{ref}/objects" => objects::download),
    route!("GET" "/repositories/{repo}/refs/{ref}/objects/stat" => objects::stat),
    route!("GET" "/repositories/{repo}/branches/{branch}/staging/backing" => objects::staging_location),
    route!("PUT" "/repositories/{repo}/branches/{branch}/staging/backing" => objects::link_physical_address),
    route!("PUT" "/repositories/{repo}/branches/{branch}/objects/stat/user_metadata" => objects::update_user_metadata),
    route!("GET" "/repositories/{repo}/metadata" => repos::get_metadata),
    route!("POST" "/repositories/{repo}/metadata" => repos::set_metadata),
    route!("DELETE" "/repositories/{repo}/metadata" => repos::delete_metadata),
    route!("GET" "/repositories/{repo}/refs/{ref}/objects/ls" => objects::list),
    route!("GET" "/repositories/{repo}/refs/{ref}/rows" => quality::count),
    route!("GET" "/repositories/{repo}/refs/{left}/compare/{right}" => quality::compare),
    route!("POST" "/repositories/{repo}/refs/{ref}/sql" => quality::sql),
    route!("GET" "/repositories/{repo}/actions/runs" => quality::list_runs),
    route!("GET" "/repositories/{repo}/actions/runs/{run}" => quality::get_run),
    route!("GET" "/repositories/{repo}/actions/runs/{run}/hooks" => quality::run_hooks),
    route!("GET" "/repositories/{repo}/actions/runs/{run}/hooks/{hook}/output" => quality::hook_output),
    route!("GET" "/repositories/{repo}/settings/branch_protection" => refs::get_protection),
    route!("PUT" "/repositories/{repo}/settings/branch_protection" => refs::set_protection),
    route!("GET" "/repositories/{repo}/branch_protection" => refs::get_protection),
    route!("POST" "/repositories/{repo}/branch_protection" => refs::add_protection),
    route!("DELETE" "/repositories/{repo}/branch_protection" => refs::remove_protection),
    route!("GET" "/repositories/{repo}/settings/required_checks" => required::list),
    route!("PUT" "/repositories/{repo}/settings/required_checks/{name}" => required::set),
    route!("DELETE" "/repositories/{repo}/settings/required_checks/{name}" => required::delete),
    route!("GET" "/repositories/{repo}/tags" => refs::list_tags),
    route!("POST" "/repositories/{repo}/tags" => refs::create_tag),
    route!("GET" "/repositories/{repo}/tags/{tag}" => refs::get_tag),
    route!("DELETE" "/repositories/{repo}/tags/{tag}" => refs::delete_tag),
    route!("POST" "/repositories/{repo}/gc" => gc::gc),
    route!("GET" "/repositories/{repo}/settings/gc_rules" => gc::get_rules),
    route!("PUT" "/repositories/{repo}/settings/gc_rules" => gc::set_rules),
    route!("DELETE" "/repositories/{repo}/settings/gc_rules" => gc::delete_rules),
];

/// Routes whose POST runs a merge, and so its pre-merge gate.
const QUERY_WORK: &[&str] = &["/repositories/{repo}/refs/{source}/merge/{dest}"];
/// Routes that decode rows whatever their method.
const ROW_READS: &[&str] = &[
    "/repositories/{repo}/refs/{ref}/rows",
    "/repositories/{repo}/refs/{left}/compare/{right}",
    "/repositories/{repo}/refs/{left}/diff/{right}/rows",
    "/repositories/{repo}/refs/{ref}/sql",
];

/// The `{name}` segments of `segments` when they match `pattern`.
fn match_pattern(
    pattern: &'static str,
    segments: &[String],
) -> Option<Vec<(&'static str, String)>> {
    let parts: Vec<&'static str> = pattern.split('/').filter(|s| !s.is_empty()).collect();
    if parts.len() != segments.len() {
        return None;
    }
    let mut params = Vec::new();
    for (part, segment) in parts.into_iter().zip(segments) {
        match part.strip_prefix('{').and_then(|p| p.strip_suffix('}')) {
            Some(name) => params.push((name, segment.clone())),
            None if part == segment => {}
            None => return None,
        }
    }
    Some(params)
}

/// The route for `method` on `segments` and its parameters; else whether the path is
/// known with other methods.
fn find(
    table: &'static [Route],
    method: &Method,
    segments: &[String],
) -> Result<(&'static Route, Params), bool> {
    let mut path_known = false;
    for route in table {
        if let Some(params) = match_pattern(route.pattern, segments) {
            if route.method == method.as_str() {
                return Ok((route, params));
            }
            path_known = true;
        }
    }
    Err(path_known)
}

async fn healthcheck(_: Call) -> Answer {
    Ok(Reply::Empty(StatusCode::NO_CONTENT))
}

async fn openapi(_: Call) -> Answer {
    let doc: Value = serde_json::from_str(OPENAPI).expect("openapi.json is valid JSON");
    Ok(Reply::Json(StatusCode::OK, doc))
}

/// Answer one API request.
pub async fn handle(
    engine: &Engine,
    access: &Access,
    req: Request<hyper::body::Incoming>,
) -> Response<s3s::Body> {
    let result = route(engine, access, req).await;
    match result {
        Ok(Reply::Json(status, body)) => json_response(status, &body),
        Ok(Reply::Empty(status)) => Response::builder()
            .status(status)
            .body(s3s::Body::empty())
            .expect("valid response"),
        Ok(Reply::Raw(r)) => r,
        Err(e) => json_response(e.status, &e.body),
    }
}

async fn route(engine: &Engine, access: &Access, req: Request<hyper::body::Incoming>) -> Answer {
    let path = req.uri().path().to_string();
    let segments: Vec<String> = crate::request::path_segments(&path, "/api/v1");
    let method = req.method().clone();
    let call = |params, user: String, query, req| Call {
        engine: engine.clone(),
        committer: user.clone(),
        gate: Gate {
            access: access.clone(),
            user,
        },
        method: method.clone(),
        params,
        query,
        req,
    };
    if let Ok((route, params)) = find(PUBLIC, &method, &segments) {
        return (route.handler)(call(params, String::new(), Query::parse(None), req)).await;
    }
    let Some(identity) = crate::auth::basic(req.headers(), access).await else {
        return Err(ApiError::new(
            StatusCode::UNAUTHORIZED,
            "error authenticating request",
        ));
    };
    match find(ROUTES, &method, &segments) {
        Ok((route, params)) => {
            let query = Query::parse(req.uri().query());
            let needs = permissions::needs(route.method, route.pattern, &params, &query)
                .map_err(|e| ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, e))?;
            let call = call(params, identity.user, query, req);
            if let Some(needs) = needs {
                call.gate.require(&needs).await?;
            }
            if (QUERY_WORK.contains(&route.pattern) && route.method == "POST")
                || ROW_READS.contains(&route.pattern)
            {
                // Work that decodes rows runs on the query runtime, not beside S3 requests.
                crate::query_pool::run((route.handler)(call)).await
            } else {
                (route.handler)(call).await
            }
        }
        Err(true) => Err(ApiError::new(
            StatusCode::METHOD_NOT_ALLOWED,
            format!("{method} is not supported on {path}"),
        )),
        Err(false) => Err(not_found(&method, &path)),
    }
}

pub(crate) fn not_found(method: &Method, path: &str) -> ApiError {
    ApiError::new(
        StatusCode::NOT_FOUND,
        format!("no API operation {method} {path}"),
    )
}

#[cfg(test)]
mod openapi_check;

#[cfg(test)]
mod tests {
    use super::*;

    /// Every route names what it needs (or leaves it to its handler): none is open to any
    /// key by mistake.
    #[test]
    fn every_route_names_its_permissions() {
        let query = Query::parse(Some("path=a&prefix=p"));
        for route in ROUTES {
            let params = match_pattern(
                route.pattern,
                &route
                    .pattern
                    .split('/')
                    .filter(|s| !s.is_empty())
                    .map(|s| s.trim_matches(['{', '}']).to_string())
                    .collect::<Vec<_>>(),
            );
            let params = params.unwrap_or_default();
            if let Err(e) = permissions::needs(route.method, route.pattern, &params, &query) {
                panic!("{e}");
            }
        }
    }
}
