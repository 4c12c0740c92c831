//! Branches, commits, history, diffs, merges and tags.

use std::collections::BTreeMap;

use http::{Method, StatusCode};
use serde::Deserialize;
use serde_json::{Value, json};
use sluice_meta::{
    ChangeKind, CommitRequest, DiffEntry, DiffOptions, LogOptions, MergeRequest, MergeStrategy,
    PageRequest,
};

use super::{Answer, ApiError, Call, Reply, not_found, pagination, read_json};

pub(crate) fn commit_json(id: &str, c: &sluice_meta::Commit) -> Value {
    json!({
        "id": id,
        "parents": c.parents,
        "committer": c.committer,
        "message": c.message,
        "creation_date": c.created_ms / 1000,
        "meta_range_id": c.tree,
        "metadata": c.metadata,
        "generation": c.generation,
        "version": 1,
    })
}

fn diff_json(d: &DiffEntry) -> Value {
    let kind = match d.kind {
        ChangeKind::Added => "added",
        ChangeKind::Removed => "removed",
        ChangeKind::Changed => "changed",
    };
    let size = d.right.as_ref().or(d.left.as_ref()).map_or(0, |e| e.size);
    json!({ "type": kind, "path": d.path, "path_type": "object", "size_bytes": size })
}

fn diff_page(page: sluice_meta::DiffPage, amount: usize) -> Value {
    let next = page.changes.last().map(|d| d.path.clone());
    let results: Vec<Value> = page.changes.iter().map(diff_json).collect();
    json!({ "pagination": pagination(page.has_more, next.as_deref(), results.len(), amount), "results": results })
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

#[derive(Deserialize)]
struct Reset {
    #[serde(rename = "type")]
    kind: String,
    path: Option<String>,
}

#[derive(Deserialize)]
struct Revert {
    #[serde(rename = "ref")]
    reference: String,
    #[serde(default)]
    parent_number: usize,
    #[serde(default)]
    allow_empty: bool,
    message: Option<String>,
}

#[derive(Deserialize)]
struct Rule {
    pattern: String,
}

#[derive(Deserialize)]
struct TagCreation {
    id: String,
    #[serde(rename = "ref")]
    reference: String,
}

fn strategy(s: Option<&str>) -> Result<MergeStrategy, ApiError> {
    match s {
        None | Some("") => Ok(MergeStrategy::Fail),
        Some("source-wins") => Ok(MergeStrategy::SourceWins),
        Some("dest-wins") => Ok(MergeStrategy::DestWins),
        Some(other) => Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            format!("unknown merge strategy {other:?}: use source-wins or dest-wins"),
        )),
    }
}

pub(super) async fn refs(call: Call) -> Answer {
    let segs: Vec<String> = call.segments.clone();
    let segs: Vec<&str> = segs.iter().map(String::as_str).collect();
    let engine = call.engine.clone();
    let committer = call.committer.clone();
    let amount = call.query.amount()?;
    let after = call.query.get("after").map(str::to_string);
    match (&call.method, segs.as_slice()) {
        (&Method::GET, [_, repo, "branches"]) => {
            let request = PageRequest::first(amount)
                .with_prefix(call.query.get("prefix").unwrap_or(""))
                .with_after(after);
            let page = engine.list_branches(repo, &request).await?;
            let (branches, has_more) = (page.items, page.has_more);
            let next = branches.last().map(|b| b.name.clone());
            let results: Vec<Value> = branches
                .iter()
                .map(|b| json!({ "id": b.name, "commit_id": b.head }))
                .collect();
            Ok(Reply::Json(
                StatusCode::OK,
                json!({ "pagination": pagination(has_more, next.as_deref(), results.len(), amount), "results": results }),
            ))
        }
        (&Method::POST, [_, repo, "branches"]) => {
            let repo = repo.to_string();
            let body: BranchCreation = read_json(call.req).await?;
            let b = engine
                .create_branch(&repo, &body.name, &body.source)
                .await?;
            Ok(Reply::Json(StatusCode::CREATED, Value::String(b.head)))
        }
        (&Method::GET, [_, repo, "branches", branch]) => {
            let b = engine.branch(repo, branch).await?;
            Ok(Reply::Json(
                StatusCode::OK,
                json!({ "id": b.name, "commit_id": b.head }),
            ))
        }
        (&Method::DELETE, [_, repo, "branches", branch]) => {
            engine.delete_branch(repo, branch).await?;
            Ok(Reply::Empty(StatusCode::NO_CONTENT))
        }
        (&Method::PUT, [_, repo, "branches", branch]) => {
            let (repo, branch) = (repo.to_string(), branch.to_string());
            let body: Reset = read_json(call.req).await?;
            match (body.kind.as_str(), body.path.as_deref()) {
                ("reset", _) => engine.reset_branch(&repo, &branch).await?,
                ("object" | "common_prefix", Some(p)) => {
                    engine.reset_prefix(&repo, &branch, p).await?
                }
                _ => {
                    return Err(ApiError::new(
                        StatusCode::BAD_REQUEST,
                        "reset type is reset, object or common_prefix (with path)",
                    ));
                }
            }
            Ok(Reply::Empty(StatusCode::NO_CONTENT))
        }
        (&Method::POST, [_, repo, "branches", branch, "revert"]) => {
            let (repo, branch) = (repo.to_string(), branch.to_string());
            let body: Revert = read_json(call.req).await?;
            let parent = (body.parent_number > 0).then_some(body.parent_number);
            let request = CommitRequest {
                message: body.message.unwrap_or_default(),
                committer,
                metadata: BTreeMap::new(),
                allow_empty: body.allow_empty,
            };
            engine
                .revert(&repo, &branch, &body.reference, parent, request)
                .await?;
            Ok(Reply::Empty(StatusCode::NO_CONTENT))
        }
        (&Method::GET, [_, repo, "branches", branch, "diff"]) => {
            let options = DiffOptions {
                prefix: call.query.get("prefix").unwrap_or("").to_string(),
                after,
                limit: amount,
            };
            let page = engine.diff_uncommitted(repo, branch, &options).await?;
            Ok(Reply::Json(StatusCode::OK, diff_page(page, amount)))
        }
        (&Method::POST, [_, repo, "branches", branch, "commits"]) => {
            let (repo, branch) = (repo.to_string(), branch.to_string());
            let body: CommitCreation = read_json(call.req).await?;
            let request = CommitRequest {
                message: body.message,
                committer,
                metadata: body.metadata,
                allow_empty: body.allow_empty,
            };
            let (id, c) = engine.commit(&repo, &branch, request).await?;
            Ok(Reply::Json(StatusCode::CREATED, commit_json(&id, &c)))
        }
        (&Method::GET, [_, repo, "commits", commit]) => {
            let (id, c) = engine.get_commit(repo, commit).await?;
            Ok(Reply::Json(StatusCode::OK, commit_json(&id, &c)))
        }
        (&Method::GET, [_, repo, "refs", reference, "commits"]) => {
            let options = LogOptions {
                first_parent: call.query.get("first_parent") == Some("true"),
                after,
                limit: amount,
            };
            let page = engine.log(repo, reference, &options).await?;
            let next = page.commits.last().map(|(id, _)| id.clone());
            let results: Vec<Value> = page
                .commits
                .iter()
                .map(|(id, c)| commit_json(id, c))
                .collect();
            Ok(Reply::Json(
                StatusCode::OK,
                json!({ "pagination": pagination(page.has_more, next.as_deref(), results.len(), amount), "results": results }),
            ))
        }
        (&Method::GET, [_, repo, "refs", left, "diff", right]) => {
            let options = DiffOptions {
                prefix: call.query.get("prefix").unwrap_or("").to_string(),
                after,
                limit: amount,
            };
            // lakeFS's default is three-dot: the right side's changes since the merge base.
            let left = if call.query.get("type") == Some("two_dot") {
                left.to_string()
            } else {
                engine
                    .merge_base(repo, left, right)
                    .await?
                    .unwrap_or_else(|| left.to_string())
            };
            let page = engine.diff(repo, &left, right, &options).await?;
            Ok(Reply::Json(StatusCode::OK, diff_page(page, amount)))
        }
        (&Method::GET, [_, repo, "refs", source, "merge", dest]) => {
            let src = engine.resolve_ref(repo, source).await?.commit;
            let dst = engine.resolve_ref(repo, dest).await?.commit;
            let base = engine
                .merge_base(repo, &src, &dst)
                .await?
                .unwrap_or_default();
            Ok(Reply::Json(
                StatusCode::OK,
                json!({ "source_commit_id": src, "destination_commit_id": dst, "base_commit_id": base }),
            ))
        }
        (&Method::POST, [_, repo, "refs", source, "merge", dest]) => {
            let (repo, source, dest) = (repo.to_string(), source.to_string(), dest.to_string());
            let body: Merge = read_json(call.req).await.unwrap_or_default();
            let (id, _) = engine
                .merge(
                    &repo,
                    &source,
                    &dest,
                    MergeRequest {
                        message: body.message,
                        committer,
                        metadata: body.metadata,
                        strategy: strategy(body.strategy.as_deref())?,
                        allow_empty: body.allow_empty,
                    },
                )
                .await?;
            Ok(Reply::Json(StatusCode::OK, json!({ "reference": id })))
        }
        (&Method::GET, [_, repo, "settings", "branch_protection"])
        | (&Method::GET, [_, repo, "branch_protection"]) => {
            let rules: Vec<Value> = engine
                .branch_protection(repo)
                .await?
                .into_iter()
                .map(|p| json!({ "pattern": p }))
                .collect();
            Ok(Reply::Json(StatusCode::OK, Value::Array(rules)))
        }
        (&Method::PUT, [_, repo, "settings", "branch_protection"]) => {
            let repo = repo.to_string();
            let rules: Vec<Rule> = read_json(call.req).await?;
            engine
                .set_branch_protection(&repo, rules.into_iter().map(|r| r.pattern).collect())
                .await?;
            Ok(Reply::Empty(StatusCode::NO_CONTENT))
        }
        (&Method::POST, [_, repo, "branch_protection"]) => {
            let repo = repo.to_string();
            let rule: Rule = read_json(call.req).await?;
            let mut rules = engine.branch_protection(&repo).await?;
            if !rules.contains(&rule.pattern) {
                rules.push(rule.pattern);
            }
            engine.set_branch_protection(&repo, rules).await?;
            Ok(Reply::Empty(StatusCode::NO_CONTENT))
        }
        (&Method::DELETE, [_, repo, "branch_protection"]) => {
            let repo = repo.to_string();
            let rule: Rule = read_json(call.req).await?;
            let mut rules = engine.branch_protection(&repo).await?;
            let before = rules.len();
            rules.retain(|p| *p != rule.pattern);
            if rules.len() == before {
                return Err(ApiError::new(
                    StatusCode::NOT_FOUND,
                    "no such protection rule",
                ));
            }
            engine.set_branch_protection(&repo, rules).await?;
            Ok(Reply::Empty(StatusCode::NO_CONTENT))
        }
        (&Method::GET, [_, repo, "tags"]) => {
            let request = PageRequest::first(amount)
                .with_prefix(call.query.get("prefix").unwrap_or(""))
                .with_after(after);
            let page = engine.list_tags(repo, &request).await?;
            let (tags, has_more) = (page.items, page.has_more);
            let next = tags.last().map(|t| t.name.clone());
            let results: Vec<Value> = tags
                .iter()
                .map(|t| json!({ "id": t.name, "commit_id": t.commit }))
                .collect();
            Ok(Reply::Json(
                StatusCode::OK,
                json!({ "pagination": pagination(has_more, next.as_deref(), results.len(), amount), "results": results }),
            ))
        }
        (&Method::POST, [_, repo, "tags"]) => {
            let repo = repo.to_string();
            let body: TagCreation = read_json(call.req).await?;
            let t = engine.create_tag(&repo, &body.id, &body.reference).await?;
            Ok(Reply::Json(
                StatusCode::CREATED,
                json!({ "id": t.name, "commit_id": t.commit }),
            ))
        }
        (&Method::GET, [_, repo, "tags", tag]) => {
            let t = engine.tag(repo, tag).await?;
            Ok(Reply::Json(
                StatusCode::OK,
                json!({ "id": t.name, "commit_id": t.commit }),
            ))
        }
        (&Method::DELETE, [_, repo, "tags", tag]) => {
            engine.delete_tag(repo, tag).await?;
            Ok(Reply::Empty(StatusCode::NO_CONTENT))
        }
        _ => Err(not_found(&call.method, call.req.uri().path())),
    }
}
