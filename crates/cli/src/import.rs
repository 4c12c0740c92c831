//! `sluice import`: start an import on the server (lakeFS's importStart), follow it with a
//! progress line until its commit lands, and print the commit. Interrupting the command
//! does not stop the import; `DELETE .../import?id=` does.

use std::time::Duration;

use reqwest::Method;
use sluice_gateway::api::{
    CommitCreation, ImportCreation, ImportCreationResponse, ImportLocation, ImportStatus,
};

use crate::client::{Address, Api, ClientError, enc};
use crate::commands::{parse_meta, print, spinner};

/// How often the status is asked for.
const POLL: Duration = Duration::from_millis(500);

/// The source as the server takes it: a URI as given (a key prefix, as S3's), a local
/// path made absolute (a folder, or one file).
fn source_location(source: &str, destination: &str) -> Result<ImportLocation, ClientError> {
    let (uri, is_file) = if source.contains("://") {
        (source.to_string(), false)
    } else {
        let path = std::fs::canonicalize(source)
            .map_err(|e| ClientError::Local(format!("{source}: {e}")))?;
        let is_file = path.is_file();
        let mut uri = format!("file://{}", path.display());
        if !is_file && !uri.ends_with('/') {
            uri.push('/');
        }
        (uri, is_file)
    };
    if is_file {
        // One file lands at the path given, or under the prefix given, by its own name.
        let name = source.rsplit('/').next().unwrap_or(source);
        let path = if destination.is_empty() || destination.ends_with('/') {
            format!("{destination}{name}")
        } else {
            destination.to_string()
        };
        return Ok(ImportLocation {
            kind: "object".into(),
            path: uri,
            destination: path,
        });
    }
    let mut prefix = destination.to_string();
    if !prefix.is_empty() && !prefix.ends_with('/') {
        prefix.push('/');
    }
    Ok(ImportLocation {
        kind: "common_prefix".into(),
        path: uri,
        destination: prefix,
    })
}

pub async fn import(
    api: &Api,
    source: String,
    destination: String,
    message: Option<String>,
    meta: Vec<String>,
    json_out: bool,
) -> Result<(), ClientError> {
    let to = Address::parse(&destination)?;
    let branch_path = to.branch_path()?;
    let location = source_location(&source, to.path.as_deref().unwrap_or(""))?;
    let body = ImportCreation {
        paths: vec![location],
        commit: CommitCreation {
            message: message.unwrap_or_else(|| format!("Import {source}")),
            metadata: parse_meta(meta)?,
            allow_empty: true,
            date: None,
        },
        force: false,
    };
    let started: ImportCreationResponse = api
        .json(
            api.request(Method::POST, &format!("{branch_path}/import"))
                .json(&body),
        )
        .await?;
    let bar = spinner("{spinner} import {msg} {elapsed}", json_out);
    let status_path = format!("{branch_path}/import?id={}", enc(&started.id));
    let status = loop {
        let status: ImportStatus = api.json(api.request(Method::GET, &status_path)).await?;
        bar.set_message(format!("{} objects", status.ingested_objects));
        if status.completed || status.error.is_some() {
            break status;
        }
        tokio::time::sleep(POLL).await;
    };
    bar.finish_and_clear();
    if let Some(error) = &status.error {
        return Err(ClientError::Local(format!(
            "import {} failed: {}",
            started.id, error.message
        )));
    }
    print(json_out, &status, || {
        let commit = status.commit.as_ref().map_or("", |c| c.id.as_str());
        format!(
            "imported {} objects from {source} to {destination}\ncommit {commit}",
            status.ingested_objects
        )
    });
    Ok(())
}
