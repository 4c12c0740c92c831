//! The REST API under `/api/v1`, shaped like lakeFS's v1 API for what the two share, so
//! lakeFS clients work unchanged. HTTP Basic auth with the admin key pair; errors are JSON
//! `{"message": ...}` with lakeFS's statuses. This first cut covers what scripts and the
//! integration tests need to manage branches: health, branches, commits and merges.

use std::collections::BTreeMap;

use base64::Engine as _;
use bytes::Bytes;
use http::{Method, Request, Response, StatusCode};
use http_body_util::BodyExt;
use serde::Deserialize;
use serde_json::{Value, json};
use sluice_meta::{
    CommitRequest, Engine, Error, ErrorDetail, ErrorKind, MergeRequest, MergeStrategy,
};

use crate::credentials::KeyPair;

/// The largest JSON body the API reads.
const MAX_BODY: usize = 1024 * 1024;

/// An API failure: a status and a message.
#[derive(Debug)]
pub struct ApiError {
    status: StatusCode,
    body: Value,
}

impl ApiError {
    fn new(status: StatusCode, message: impl Into<String>) -> Self {
        Self {
            status,
            body: json!({ "message": message.into() }),
        }
    }
}

impl From<Error> for ApiError {
    fn from(e: Error) -> Self {
        let status = match e.kind() {
            ErrorKind::NotFound => StatusCode::NOT_FOUND,
            ErrorKind::AlreadyExists | ErrorKind::Conflict => StatusCode::CONFLICT,
            ErrorKind::Invalid => StatusCode::BAD_REQUEST,
            ErrorKind::PreconditionFailed => StatusCode::PRECONDITION_FAILED,
            ErrorKind::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
            ErrorKind::Corrupt | ErrorKind::Internal => StatusCode::INTERNAL_SERVER_ERROR,
        };
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

async fn read_json<T: for<'de> Deserialize<'de>>(
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

/// Answer one API request.
pub async fn handle(
    engine: &Engine,
    keys: &KeyPair,
    req: Request<hyper::body::Incoming>,
) -> Response<s3s::Body> {
    let result = route(engine, keys, req).await;
    match result {
        Ok((status, body)) => match body {
            Some(b) => json_response(status, &b),
            None => Response::builder()
                .status(status)
                .body(s3s::Body::empty())
                .expect("valid response"),
        },
        Err(e) => json_response(e.status, &e.body),
    }
}

#[derive(Deserialize)]
struct BranchCreation {
    name: String,
    source: String,
}

#[derive(Deserialize)]
struct CommitCreation {
    message: String,
    #[serde(default)]
    metadata: BTreeMap<String, String>,
    #[serde(default)]
    allow_empty: bool,
}

#[derive(Deserialize, Default)]
struct Merge {
    message: Option<String>,
    #[serde(default)]
    metadata: BTreeMap<String, String>,
    strategy: Option<String>,
    #[serde(default)]
    allow_empty: bool,
}

fn commit_json(id: &str, c: &sluice_meta::Commit) -> Value {
    json!({
        "id": id,
        "parents": c.parents,
        "committer": c.committer,
        "message": c.message,
        "creation_date": c.created_ms / 1000,
        "meta_range_id": c.tree,
        "metadata": c.metadata,
        "generation": c.generation,
    })
}

type Answer = Result<(StatusCode, Option<Value>), ApiError>;

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
    let segs: Vec<&str> = segments.iter().map(String::as_str).collect();
    let method = req.method().clone();
    if let (&Method::GET, ["healthcheck"]) = (&method, segs.as_slice()) {
        return Ok((StatusCode::NO_CONTENT, None));
    }
    if !authorized(&req, keys) {
        return Err(ApiError::new(
            StatusCode::UNAUTHORIZED,
            "error authenticating request",
        ));
    }
    let committer = keys.access_key_id.clone();
    match (&method, segs.as_slice()) {
        (&Method::GET, ["repositories", repo, "branches"]) => {
            let branches = engine.list_branches(repo, None, usize::MAX).await?;
            let results: Vec<Value> = branches
                .iter()
                .map(|b| json!({ "id": b.name, "commit_id": b.head }))
                .collect();
            Ok((
                StatusCode::OK,
                Some(json!({
                    "pagination": { "has_more": false, "next_offset": "", "results": results.len(), "max_per_page": 1000 },
                    "results": results,
                })),
            ))
        }
        (&Method::POST, ["repositories", repo, "branches"]) => {
            let repo = repo.to_string();
            let body: BranchCreation = read_json(req).await?;
            let b = engine
                .create_branch(&repo, &body.name, &body.source)
                .await?;
            Ok((StatusCode::CREATED, Some(Value::String(b.head))))
        }
        (&Method::GET, ["repositories", repo, "branches", branch]) => {
            let b = engine.branch(repo, branch).await?;
            Ok((
                StatusCode::OK,
                Some(json!({ "id": b.name, "commit_id": b.head })),
            ))
        }
        (&Method::DELETE, ["repositories", repo, "branches", branch]) => {
            engine.delete_branch(repo, branch).await?;
            Ok((StatusCode::NO_CONTENT, None))
        }
        (&Method::POST, ["repositories", repo, "branches", branch, "commits"]) => {
            let (repo, branch) = (repo.to_string(), branch.to_string());
            let body: CommitCreation = read_json(req).await?;
            let request = CommitRequest {
                message: body.message,
                committer,
                metadata: body.metadata,
                allow_empty: body.allow_empty,
            };
            let (id, c) = engine.commit(&repo, &branch, request).await?;
            Ok((StatusCode::CREATED, Some(commit_json(&id, &c))))
        }
        (&Method::GET, ["repositories", repo, "commits", commit]) => {
            let (id, c) = engine.get_commit(repo, commit).await?;
            Ok((StatusCode::OK, Some(commit_json(&id, &c))))
        }
        (&Method::POST, ["repositories", repo, "refs", source, "merge", dest]) => {
            let (repo, source, dest) = (repo.to_string(), source.to_string(), dest.to_string());
            let body: Merge = read_json(req).await?;
            let strategy = match body.strategy.as_deref() {
                None | Some("") => MergeStrategy::Fail,
                Some("source-wins") => MergeStrategy::SourceWins,
                Some("dest-wins") => MergeStrategy::DestWins,
                Some(other) => {
                    return Err(ApiError::new(
                        StatusCode::BAD_REQUEST,
                        format!("unknown merge strategy {other:?}: use source-wins or dest-wins"),
                    ));
                }
            };
            let (id, _) = engine
                .merge(
                    &repo,
                    &source,
                    &dest,
                    MergeRequest {
                        message: body.message,
                        committer,
                        metadata: body.metadata,
                        strategy,
                        allow_empty: body.allow_empty,
                    },
                )
                .await?;
            Ok((StatusCode::OK, Some(json!({ "reference": id }))))
        }
        _ => Err(ApiError::new(
            StatusCode::NOT_FOUND,
            format!("no API operation {method} {path}"),
        )),
    }
}
