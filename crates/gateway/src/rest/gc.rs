//! Garbage collection on demand: `POST /repositories/{repo}/gc`, a dry run or a real one,
//! answering the collector's report. lakeFS runs GC as a Spark job; Sluice runs it in the
//! sidecar, so the call does the work and returns when it is done. The retention rules it
//! honours are lakeFS's `gc_rules` settings (`getGCRules`, `setGCRules`, `deleteGCRules`).

use std::time::Duration;

use http::StatusCode;
use sluice_meta::GcOptions;

use super::{Answer, ApiError, Call, Reply, read_json, read_optional_json, reply};
use crate::api::{GarbageCollectionRules, GcRequest, GcResult};

pub(super) async fn gc(call: Call) -> Answer {
    let repo = call.param("repo");
    let query_dry_run = call.query.flag("dry_run")?;
    let mut request: GcRequest = read_optional_json(call.req).await?;
    if let Some(d) = query_dry_run {
        request.dry_run = d;
    }
    let mut options = GcOptions {
        dry_run: request.dry_run,
        ..GcOptions::default()
    };
    if let Some(s) = request.grace_seconds {
        options.grace = Duration::from_secs(s);
    }
    let report = call.engine.collect_garbage(&repo, &options).await?;
    reply(
        StatusCode::OK,
        GcResult::new(&report, options.dry_run, options.grace.as_secs()),
    )
}

pub(super) async fn get_rules(call: Call) -> Answer {
    match call.engine.retention_rules(&call.param("repo")).await? {
        Some(rules) => reply(StatusCode::OK, GarbageCollectionRules::from(rules)),
        None => Err(ApiError::new(
            StatusCode::NOT_FOUND,
            "no garbage collection rules are set for this repository",
        )),
    }
}

pub(super) async fn set_rules(call: Call) -> Answer {
    let (engine, repo) = (call.engine.clone(), call.param("repo"));
    let rules: GarbageCollectionRules = read_json(call.req).await?;
    engine.set_retention_rules(&repo, &rules.into()).await?;
    Ok(Reply::Empty(StatusCode::NO_CONTENT))
}

pub(super) async fn delete_rules(call: Call) -> Answer {
    call.engine
        .delete_retention_rules(&call.param("repo"))
        .await?;
    Ok(Reply::Empty(StatusCode::NO_CONTENT))
}
