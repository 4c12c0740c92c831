//! The REST API under `/api/v1`, shaped like lakeFS's v1 API for what the two share, so
//! lakeFS clients work unchanged. HTTP Basic auth with the admin key pair; errors are JSON
//! `{"message": ...}` with lakeFS's statuses. One module per resource: [`repos`],
//! [`refs`] (branches, commits, log, diff, merge, tags) and [`objects`].

mod gc;
mod objects;
mod quality;
mod refs;
mod repos;

use std::collections::HashMap;

use base64::Engine as _;
use bytes::Bytes;
use http::{Method, Request, Response, StatusCode};
use http_body_util::BodyExt;
use serde::Deserialize;
use serde_json::{Value, json};
use sluice_meta::{Engine, Error, ErrorDetail, ErrorKind};

use crate::credentials::KeyPair;

/// The OpenAPI document of what Sluice implements, served at `/api/v1/openapi.json`.
const OPENAPI: &str = include_str!("openapi.json");

/// The largest JSON body the API reads.
const MAX_BODY: usize = 1024 * 1024;

/// An API failure: a status and a message.
#[derive(Debug)]
pub struct ApiError {
    status: StatusCode,
    body: Value,
}

impl ApiError {
    pub(crate) fn new(status: StatusCode, message: impl Into<String>) -> Self {
        Self {
            status,
            body: json!({ "message": message.into() }),
        }
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
        let status = status_of(e.kind());
        let mut body = json!({ "message": e.message() });
        match e.detail() {
            Some(ErrorDetail::Conflicts(paths)) => body["conflicts"] = json!(paths),
            Some(ErrorDetail::MergeRefused(report)) => body["report"] = report.clone(),
            None => {}
        }
        Self { status, body }
    }
}

fn json_response(status: StatusCode, body: &Value) -> Response<s3s::Body> {
    Response::builder()
        .status(status)
        .header(http::header::CONTENT_TYPE, "application/json")
        .body(s3s::Body::from(body.to_string()))
        .expect("valid response")
}

fn authorized(req: &Request<hyper::body::Incoming>, keys: &KeyPair) -> bool {
    let Some(value) = req
        .headers()
        .get(http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
    else {
        return false;
    };
    let Some(encoded) = value.strip_prefix("Basic ") else {
        return false;
    };
    let Ok(decoded) = base64::engine::general_purpose::STANDARD.decode(encoded.trim()) else {
        return false;
    };
    let expected = format!("{}:{}", keys.access_key_id, keys.secret_access_key);
    // Constant-time comparison: the secret must not leak through timing.
    decoded.len() == expected.len()
        && decoded
            .iter()
            .zip(expected.as_bytes())
            .fold(0u8, |acc, (a, b)| acc | (a ^ b))
            == 0
}

pub(crate) async fn read_json<T: for<'de> Deserialize<'de>>(
    req: Request<hyper::body::Incoming>,
) -> Result<T, ApiError> {
    let limited = http_body_util::Limited::new(req.into_body(), MAX_BODY);
    let bytes: Bytes = limited
        .collect()
        .await
        .map_err(|e| ApiError::new(StatusCode::BAD_REQUEST, format!("cannot read body: {e}")))?
        .to_bytes();
    serde_json::from_slice(&bytes)
        .map_err(|e| ApiError::new(StatusCode::BAD_REQUEST, format!("malformed JSON: {e}")))
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
pub(crate) struct Query(HashMap<String, String>);

impl Query {
    fn parse(q: Option<&str>) -> Self {
        let mut map = HashMap::new();
        for pair in q.unwrap_or("").split('&').filter(|p| !p.is_empty()) {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            let decode = |s: &str| {
                percent_encoding::percent_decode_str(&s.replace('+', " "))
                    .decode_utf8_lossy()
                    .into_owned()
            };
            map.insert(decode(k), decode(v));
        }
        Self(map)
    }
    pub(crate) fn get(&self, k: &str) -> Option<&str> {
        self.0.get(k).map(String::as_str).filter(|v| !v.is_empty())
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

/// lakeFS's pagination object.
pub(crate) fn pagination(has_more: bool, next: Option<&str>, results: usize, max: usize) -> Value {
    json!({
        "has_more": has_more,
        "next_offset": if has_more { next.unwrap_or("") } else { "" },
        "results": results,
        "max_per_page": max,
    })
}

/// Everything a handler needs.
pub(crate) struct Call {
    pub engine: Engine,
    pub committer: String,
    pub method: Method,
    pub segments: Vec<String>,
    pub query: Query,
    pub req: Request<hyper::body::Incoming>,
}

/// Answer one API request.
pub async fn handle(
    engine: &Engine,
    keys: &KeyPair,
    req: Request<hyper::body::Incoming>,
) -> Response<s3s::Body> {
    let result = route(engine, keys, req).await;
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

async fn route(engine: &Engine, keys: &KeyPair, req: Request<hyper::body::Incoming>) -> Answer {
    let path = req.uri().path().to_string();
    let segments: Vec<String> = path
        .trim_start_matches("/api/v1")
        .split('/')
        .filter(|s| !s.is_empty())
        .map(|s| {
            percent_encoding::percent_decode_str(s)
                .decode_utf8_lossy()
                .into_owned()
        })
        .collect();
    let method = req.method().clone();
    if method == Method::GET && segments == ["healthcheck"] {
        return Ok(Reply::Empty(StatusCode::NO_CONTENT));
    }
    // The description of the API is public, as lakeFS's swagger.json is.
    if method == Method::GET && segments == ["openapi.json"] {
        let doc: Value = serde_json::from_str(OPENAPI).expect("openapi.json is valid JSON");
        return Ok(Reply::Json(StatusCode::OK, doc));
    }
    if !authorized(&req, keys) {
        return Err(ApiError::new(
            StatusCode::UNAUTHORIZED,
            "error authenticating request",
        ));
    }
    let query = Query::parse(req.uri().query());
    let call = Call {
        engine: engine.clone(),
        committer: keys.access_key_id.clone(),
        method: method.clone(),
        segments,
        query,
        req,
    };
    let segs: Vec<&str> = call.segments.iter().map(String::as_str).collect();
    match segs.as_slice() {
        ["config"] | ["config", ..] | ["user"] => repos::config(call).await,
        ["repositories"] | ["repositories", _] => repos::repositories(call).await,
        _ if quality::is_quality(&segs) => quality::quality(call).await,
        _ if gc::is_gc(&segs) => gc::gc(call).await,
        ["repositories", _, "objects" | "branches" | "refs", ..] if objects::is_objects(&segs) => {
            objects::objects(call).await
        }
        ["repositories", _, ..] => refs::refs(call).await,
        _ => Err(not_found(&method, &path)),
    }
}

pub(crate) fn not_found(method: &Method, path: &str) -> ApiError {
    ApiError::new(
        StatusCode::NOT_FOUND,
        format!("no API operation {method} {path}"),
    )
}
