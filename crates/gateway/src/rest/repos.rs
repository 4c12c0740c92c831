//! Repositories, and what clients ask first: configuration, version, the current user.

use http::{Method, StatusCode};
use serde::Deserialize;
use serde_json::{Value, json};
use sluice_meta::{PageRequest, Repository};

use super::{Answer, ApiError, Call, Reply, not_found, pagination, read_json};

/// The version reported to clients; lakeFS SDKs compare it against features they use.
pub(crate) const VERSION: &str = env!("CARGO_PKG_VERSION");

fn storage_config() -> Value {
    json!({
        "blockstore_type": "local",
        "blockstore_namespace_example": "local://my-repository",
        "blockstore_namespace_ValidityRegex": "^(local|s3)://",
        "default_namespace_prefix": "local://",
        "pre_sign_support": false,
        "pre_sign_support_ui": false,
        "import_support": false,
        "import_validity_regex": "^$",
        "pre_sign_multipart_upload": false,
    })
}

pub(crate) fn repository_json(r: &Repository) -> Value {
    json!({
        "id": r.name,
        "creation_date": r.created_ms / 1000,
        "default_branch": r.default_branch,
        "storage_namespace": r.storage_namespace,
        "read_only": false,
    })
}

pub(super) async fn config(call: Call) -> Answer {
    let segs: Vec<&str> = call.segments.iter().map(String::as_str).collect();
    let version = json!({ "version": VERSION, "upgrade_recommended": false });
    match (&call.method, segs.as_slice()) {
        (&Method::GET, ["config"]) => Ok(Reply::Json(
            StatusCode::OK,
            json!({
                "version_config": version,
                "storage_config": storage_config(),
            }),
        )),
        (&Method::GET, ["config", "version"]) => Ok(Reply::Json(StatusCode::OK, version)),
        (&Method::GET, ["config", "storage"]) => Ok(Reply::Json(StatusCode::OK, storage_config())),
        (&Method::GET, ["user"]) => Ok(Reply::Json(
            StatusCode::OK,
            json!({ "user": { "id": call.committer, "creation_date": 0 } }),
        )),
        _ => Err(not_found(&call.method, call.req.uri().path())),
    }
}

#[derive(Deserialize)]
struct RepositoryCreation {
    name: String,
    storage_namespace: String,
    #[serde(default = "main")]
    default_branch: String,
}

fn main() -> String {
    "main".into()
}

pub(super) async fn repositories(call: Call) -> Answer {
    let segs: Vec<String> = call.segments.clone();
    let engine = call.engine.clone();
    match (&call.method, segs.as_slice()) {
        (&Method::GET, [_]) => {
            let amount = call.query.amount()?;
            let prefix = call.query.get("prefix").unwrap_or("").to_string();
            let after = call.query.get("after").map(str::to_string);
            let request = PageRequest::first(amount)
                .with_prefix(prefix)
                .with_after(after);
            let page = engine.list_repositories(&request).await?;
            let (repos, has_more) = (page.items, page.has_more);
            let next = repos.last().map(|r| r.name.clone());
            let results: Vec<Value> = repos.iter().map(repository_json).collect();
            Ok(Reply::Json(
                StatusCode::OK,
                json!({ "pagination": pagination(has_more, next.as_deref(), results.len(), amount), "results": results }),
            ))
        }
        (&Method::POST, [_]) => {
            let body: RepositoryCreation = read_json(call.req).await?;
            let r = engine
                .create_repository(&body.name, &body.storage_namespace, &body.default_branch)
                .await?;
            Ok(Reply::Json(StatusCode::CREATED, repository_json(&r)))
        }
        (&Method::GET, [_, repo]) => {
            let r = engine.repository(repo).await?;
            Ok(Reply::Json(StatusCode::OK, repository_json(&r)))
        }
        (&Method::DELETE, [_, repo]) => {
            engine.delete_repository(repo).await?;
            Ok(Reply::Empty(StatusCode::NO_CONTENT))
        }
        _ => Err(ApiError::new(
            StatusCode::METHOD_NOT_ALLOWED,
            format!("{} is not supported here", call.method),
        )),
    }
}
