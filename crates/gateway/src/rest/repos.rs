//! Repositories, and what clients ask first: configuration, version, the current user.

use http::StatusCode;
use sluice_meta::PageRequest;

use super::{Answer, ApiError, Call, Reply, read_json, reply};
use crate::access::{Need, arn};
use crate::api::{Config, List, Repository, RepositoryCreation, StorageConfig, VersionConfig};
use crate::api::{RepositoryMetadataKeys, RepositoryMetadataSet};

/// The version reported to clients; lakeFS SDKs compare it against features they use.
pub(crate) const VERSION: &str = env!("CARGO_PKG_VERSION");

/// What the storage of new repositories is: S3 when the default namespace prefix is S3.
fn storage_config(engine: &sluice_meta::Engine) -> StorageConfig {
    let prefix = engine.default_namespace_prefix();
    let blockstore_type = if prefix.starts_with("s3://") {
        "s3"
    } else {
        "local"
    };
    StorageConfig {
        blockstore_type: blockstore_type.into(),
        blockstore_namespace_example: engine.default_namespace("my-repository"),
        blockstore_namespace_validity_regex: "^(local|s3)://".into(),
        default_namespace_prefix: prefix.into(),
        // Pre-signed URLs come from S3 namespaces (`getPhysicalAddress`, `presign=true`).
        pre_sign_support: blockstore_type == "s3",
        pre_sign_support_ui: false,
        // Imports read s3:// prefixes, and local folders under the config's import roots.
        import_support: true,
        import_validity_regex: "^(s3|s3a|file|local)://".into(),
        pre_sign_multipart_upload: false,
    }
}

fn version_config() -> VersionConfig {
    VersionConfig {
        version: crate::api::LAKEFS_API_VERSION.into(),
        version_context: format!("sluice {VERSION}"),
        upgrade_recommended: false,
    }
}

/// The API's view of a repository.
pub(crate) fn repository(r: &sluice_meta::Repository) -> Repository {
    Repository {
        id: r.name.clone(),
        creation_date: r.created_ms / 1000,
        default_branch: r.default_branch.clone(),
        storage_namespace: r.storage_namespace.clone(),
        read_only: false,
    }
}

pub(super) async fn config(call: Call) -> Answer {
    reply(
        StatusCode::OK,
        Config {
            version_config: version_config(),
            storage_config: storage_config(&call.engine),
        },
    )
}

pub(super) async fn version(_: Call) -> Answer {
    reply(StatusCode::OK, version_config())
}

pub(super) async fn storage(call: Call) -> Answer {
    reply(StatusCode::OK, storage_config(&call.engine))
}

pub(super) async fn list(call: Call) -> Answer {
    let amount = call.query.amount()?;
    let prefix = call.query.get("prefix").unwrap_or("").to_string();
    let after = call.query.get("after").map(str::to_string);
    let request = PageRequest::first(amount)
        .with_prefix(prefix)
        .with_search(call.query.get("search").unwrap_or(""))
        .with_after(after);
    let page = call.engine.list_repositories(&request).await?;
    let next = page.items.last().map(|r| r.name.clone());
    // The caller sees the repositories it may read, as lakeFS filters its listing.
    let mut results = Vec::with_capacity(page.items.len());
    for r in &page.items {
        let need = Need::new("fs:ReadRepository", arn::repository(&r.name));
        if call.gate.may(&need).await {
            results.push(repository(r));
        }
    }
    reply(
        StatusCode::OK,
        List::new(results, page.has_more, next.as_deref(), amount),
    )
}

pub(super) async fn create(call: Call) -> Answer {
    let engine = call.engine.clone();
    let body: RepositoryCreation = read_json(call.req).await?;
    let need = Need::new("fs:CreateRepository", arn::repository(&body.name));
    call.gate.require(&[need]).await?;
    if body.sample_data || body.read_only {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            "Sluice offers neither sample data nor read-only repositories",
        ));
    }
    if body.storage_id.as_deref().is_some_and(|s| !s.is_empty()) {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            "Sluice has one storage configuration: leave storage_id empty",
        ));
    }
    let r = engine
        .create_repository(&body.name, &body.storage_namespace, &body.default_branch)
        .await?;
    reply(StatusCode::CREATED, repository(&r))
}

pub(super) async fn get(call: Call) -> Answer {
    let r = call.engine.repository(&call.param("repo")).await?;
    reply(StatusCode::OK, repository(&r))
}

pub(super) async fn delete(call: Call) -> Answer {
    call.engine.delete_repository(&call.param("repo")).await?;
    Ok(Reply::Empty(StatusCode::NO_CONTENT))
}

/// lakeFS's `getRepositoryMetadata`: the repository's user metadata.
pub(super) async fn get_metadata(call: Call) -> Answer {
    let map = call.engine.repository_metadata(&call.param("repo")).await?;
    reply(StatusCode::OK, map)
}

/// lakeFS's `setRepositoryMetadata`: set some keys.
pub(super) async fn set_metadata(call: Call) -> Answer {
    let (engine, repo) = (call.engine.clone(), call.param("repo"));
    let body: RepositoryMetadataSet = read_json(call.req).await?;
    engine
        .update_repository_metadata(&repo, body.metadata, &[])
        .await?;
    Ok(Reply::Empty(StatusCode::NO_CONTENT))
}

/// lakeFS's `deleteRepositoryMetadata`: remove some keys.
pub(super) async fn delete_metadata(call: Call) -> Answer {
    let (engine, repo) = (call.engine.clone(), call.param("repo"));
    let body: RepositoryMetadataKeys = read_json(call.req).await?;
    engine
        .update_repository_metadata(&repo, Default::default(), &body.keys)
        .await?;
    Ok(Reply::Empty(StatusCode::NO_CONTENT))
}
