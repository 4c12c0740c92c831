//! Branches, commits, history, diffs, merges and tags.

use http::StatusCode;
use sluice_meta::{
    ChangeKind, CommitRequest, DiffEntry, DiffOptions, LogFilter, LogOptions, MergeRequest,
    MergeStrategy, PageRequest,
};

use super::{Answer, ApiError, Call, Reply, read_json, reply};
use crate::access::{Need, arn};
use crate::api::{
    BranchCreation, BranchProtectionRule, CherryPickCreation, Commit, CommitCreation, Diff,
    FindMergeBaseResult, List, Merge, MergeResult, Ref, ResetCreation, RevertCreation, TagCreation,
};

fn diff_entry(d: &DiffEntry) -> Diff {
    let kind = match d.kind {
        ChangeKind::Added => "added",
        ChangeKind::Removed => "removed",
        ChangeKind::Changed => "changed",
    };
    let size = d.right.as_ref().or(d.left.as_ref()).map_or(0, |e| e.size);
    Diff {
        kind: kind.into(),
        path: d.path.clone(),
        path_type: "object".into(),
        size_bytes: Some(size),
    }
}

/// The diff options of a request: `prefix`, `after`, `amount`.
fn diff_options(call: &Call) -> Result<DiffOptions, ApiError> {
    Ok(DiffOptions {
        prefix: call.query.get("prefix").unwrap_or("").to_string(),
        after: call.query.get("after").map(str::to_string),
        limit: call.query.amount()?,
    })
}

/// A page of a diff, as lakeFS answers it. With a `delimiter`, the changes below the next
/// delimiter after the prefix collapse into one `prefix_changed` entry per common prefix
/// (`path_type: common_prefix`), in path order, and an `after` that is such a prefix
/// continues past everything under it.
async fn diff_page<F, Fut>(
    options: DiffOptions,
    delimiter: Option<&str>,
    mut fetch: F,
) -> Result<List<Diff>, ApiError>
where
    F: FnMut(DiffOptions) -> Fut,
    Fut: std::future::Future<Output = sluice_meta::Result<sluice_meta::DiffPage>>,
{
    let limit = options.limit;
    let Some(delimiter) = delimiter.filter(|d| !d.is_empty()) else {
        let page = fetch(options).await?;
        let next = page.changes.last().map(|d| d.path.clone());
        let results = page.changes.iter().map(diff_entry).collect();
        return Ok(List::new(results, page.has_more, next.as_deref(), limit));
    };
    // Past every path under `common`: no path has a character above U+10FFFF.
    let past = |common: &str| format!("{common}\u{10FFFF}");
    let mut after = match options.after {
        Some(a) if a.ends_with(delimiter) => Some(past(&a)),
        other => other,
    };
    let mut out: Vec<Diff> = Vec::new();
    let mut has_more = false;
    'pages: loop {
        let page = fetch(DiffOptions {
            prefix: options.prefix.clone(),
            after: after.clone(),
            limit,
        })
        .await?;
        if out.len() == limit {
            has_more = !page.changes.is_empty();
            break;
        }
        for d in &page.changes {
            let rest = &d.path[options.prefix.len().min(d.path.len())..];
            if let Some(i) = rest.find(delimiter) {
                let common = format!("{}{}", options.prefix, &rest[..i + delimiter.len()]);
                after = Some(past(&common));
                out.push(Diff {
                    kind: "prefix_changed".into(),
                    path: common,
                    path_type: "common_prefix".into(),
                    size_bytes: None,
                });
                continue 'pages;
            }
            out.push(diff_entry(d));
            after = Some(d.path.clone());
            if out.len() == limit {
                continue 'pages;
            }
        }
        if !page.has_more {
            break;
        }
    }
    let next = out.last().map(|d| d.path.clone());
    Ok(List::new(out, has_more, next.as_deref(), limit))
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

/// A page request from `amount`, `after` and `prefix`.
fn page_request(call: &Call) -> Result<(PageRequest, usize), ApiError> {
    let amount = call.query.amount()?;
    let request = PageRequest::first(amount)
        .with_prefix(call.query.get("prefix").unwrap_or(""))
        .with_after(call.query.get("after").map(str::to_string));
    Ok((request, amount))
}

pub(super) async fn list_branches(call: Call) -> Answer {
    let (request, amount) = page_request(&call)?;
    let page = call
        .engine
        .list_branches(&call.param("repo"), &request)
        .await?;
    let next = page.items.last().map(|b| b.name.clone());
    let results = page
        .items
        .iter()
        .map(|b| Ref {
            id: b.name.clone(),
            commit_id: b.head.clone(),
        })
        .collect();
    reply(
        StatusCode::OK,
        List::new(results, page.has_more, next.as_deref(), amount),
    )
}

pub(super) async fn create_branch(call: Call) -> Answer {
    let (engine, repo) = (call.engine.clone(), call.param("repo"));
    let body: BranchCreation = read_json(call.req).await?;
    let need = Need::new("fs:CreateBranch", arn::branch(&repo, &body.name)).on_branch(&body.name);
    call.gate.require(&[need]).await?;
    let b = engine
        .create_branch(&repo, &body.name, &body.source)
        .await?;
    // lakeFS answers the new branch's head as bare text (`text/html`), not JSON.
    let answer = http::Response::builder()
        .status(StatusCode::CREATED)
        .header(http::header::CONTENT_TYPE, "text/html; charset=utf-8")
        .body(s3s::Body::from(b.head))
        .expect("valid response");
    Ok(Reply::Raw(answer))
}

pub(super) async fn get_branch(call: Call) -> Answer {
    let b = call
        .engine
        .branch(&call.param("repo"), &call.param("branch"))
        .await?;
    reply(
        StatusCode::OK,
        Ref {
            id: b.name,
            commit_id: b.head,
        },
    )
}

pub(super) async fn delete_branch(call: Call) -> Answer {
    call.engine
        .delete_branch(&call.param("repo"), &call.param("branch"))
        .await?;
    Ok(Reply::Empty(StatusCode::NO_CONTENT))
}

pub(super) async fn reset_branch(call: Call) -> Answer {
    let (engine, repo, branch) = (
        call.engine.clone(),
        call.param("repo"),
        call.param("branch"),
    );
    let body: ResetCreation = read_json(call.req).await?;
    match (body.kind.as_str(), body.path.as_deref()) {
        ("reset", _) => engine.reset_branch(&repo, &branch).await?,
        ("object" | "common_prefix", Some(p)) => engine.reset_prefix(&repo, &branch, p).await?,
        _ => {
            return Err(ApiError::new(
                StatusCode::BAD_REQUEST,
                "reset type is reset, object or common_prefix (with path)",
            ));
        }
    }
    Ok(Reply::Empty(StatusCode::NO_CONTENT))
}

pub(super) async fn revert(call: Call) -> Answer {
    let (engine, repo, branch) = (
        call.engine.clone(),
        call.param("repo"),
        call.param("branch"),
    );
    let committer = call.committer.clone();
    let body: RevertCreation = read_json(call.req).await?;
    let parent = (body.parent_number > 0).then_some(body.parent_number);
    let overrides = body.commit_overrides.unwrap_or_default();
    let request = CommitRequest {
        message: overrides.message.unwrap_or_default(),
        committer,
        metadata: overrides.metadata,
        allow_empty: body.allow_empty,
        ..Default::default()
    };
    engine
        .revert(&repo, &branch, &body.reference, parent, request)
        .await?;
    Ok(Reply::Empty(StatusCode::NO_CONTENT))
}

pub(super) async fn cherry_pick(call: Call) -> Answer {
    let (engine, repo, branch) = (
        call.engine.clone(),
        call.param("repo"),
        call.param("branch"),
    );
    let committer = call.committer.clone();
    let body: CherryPickCreation = read_json(call.req).await?;
    let overrides = body.commit_overrides.unwrap_or_default();
    let request = CommitRequest {
        message: overrides.message.unwrap_or_default(),
        committer,
        metadata: overrides.metadata,
        allow_empty: body.force,
        ..Default::default()
    };
    let (id, c) = engine
        .cherry_pick(&repo, &branch, &body.reference, body.parent_number, request)
        .await?;
    reply(StatusCode::CREATED, Commit::from_meta(&id, &c))
}

pub(super) async fn diff_uncommitted(call: Call) -> Answer {
    let options = diff_options(&call)?;
    let (repo, branch) = (call.param("repo"), call.param("branch"));
    let (engine, repo, branch) = (&call.engine, &repo, &branch);
    let page = diff_page(options, call.query.get("delimiter"), |o| async move {
        engine.diff_uncommitted(repo, branch, &o).await
    })
    .await?;
    reply(StatusCode::OK, page)
}

pub(super) async fn commit(call: Call) -> Answer {
    let (engine, repo, branch) = (
        call.engine.clone(),
        call.param("repo"),
        call.param("branch"),
    );
    let committer = call.committer.clone();
    let body: CommitCreation = read_json(call.req).await?;
    let request = CommitRequest {
        message: body.message,
        committer,
        metadata: body.metadata,
        allow_empty: body.allow_empty,
        created_ms: body.date.map(|s| s * 1000),
    };
    let (id, c) = engine.commit(&repo, &branch, request).await?;
    reply(StatusCode::CREATED, Commit::from_meta(&id, &c))
}

pub(super) async fn get_commit(call: Call) -> Answer {
    let (id, c) = call
        .engine
        .get_commit(&call.param("repo"), &call.param("commit"))
        .await?;
    reply(StatusCode::OK, Commit::from_meta(&id, &c))
}

pub(super) async fn log(call: Call) -> Answer {
    let amount = call.query.amount()?;
    let options = LogOptions {
        first_parent: call.query.flag("first_parent")?.unwrap_or(false),
        after: call.query.get("after").map(str::to_string),
        limit: amount,
    };
    // lakeFS's logCommits filters: objects and prefixes (repeated), since, stop_at.
    let since_ms = match call.query.get("since") {
        None => None,
        Some(t) => Some(
            time::OffsetDateTime::parse(t, &time::format_description::well_known::Rfc3339)
                .map_err(|_| {
                    ApiError::new(
                        StatusCode::BAD_REQUEST,
                        format!("since must be an RFC 3339 date-time, not {t:?}"),
                    )
                })?
                .unix_timestamp()
                * 1000,
        ),
    };
    let filter = LogFilter {
        objects: call.query.all("objects"),
        prefixes: call.query.all("prefixes"),
        since_ms,
        stop_at: call.query.get("stop_at").map(str::to_string),
    };
    let page = call
        .engine
        .log_filtered(&call.param("repo"), &call.param("ref"), &options, &filter)
        .await?;
    let next = page.commits.last().map(|(id, _)| id.clone());
    let results = page
        .commits
        .iter()
        .map(|(id, c)| Commit::from_meta(id, c))
        .collect();
    reply(
        StatusCode::OK,
        List::new(results, page.has_more, next.as_deref(), amount),
    )
}

pub(super) async fn diff(call: Call) -> Answer {
    let (engine, repo) = (call.engine.clone(), call.param("repo"));
    let (left, right) = (call.param("left"), call.param("right"));
    let options = diff_options(&call)?;
    // lakeFS's default is three-dot: the right side's changes since the merge base.
    let left = if call.query.get("type") == Some("two_dot") {
        left
    } else {
        engine
            .merge_base(&repo, &left, &right)
            .await?
            .unwrap_or(left)
    };
    let (engine, repo, left, right) = (&engine, &repo, &left, &right);
    let page = diff_page(options, call.query.get("delimiter"), |o| async move {
        engine.diff(repo, left, right, &o).await
    })
    .await?;
    reply(StatusCode::OK, page)
}

pub(super) async fn merge_base(call: Call) -> Answer {
    let (engine, repo) = (call.engine.clone(), call.param("repo"));
    let src = engine
        .resolve_ref(&repo, &call.param("source"))
        .await?
        .commit;
    let dst = engine.resolve_ref(&repo, &call.param("dest")).await?.commit;
    let base = engine
        .merge_base(&repo, &src, &dst)
        .await?
        .unwrap_or_default();
    reply(
        StatusCode::OK,
        FindMergeBaseResult {
            source_commit_id: src,
            destination_commit_id: dst,
            base_commit_id: base,
        },
    )
}

/// A merge call's request: the body is optional (lakeFS clients send none), but a body
/// that is not a merge is refused rather than ignored.
pub(super) async fn merge_request(call: Call) -> Result<MergeRequest, ApiError> {
    let committer = call.committer.clone();
    let body: Merge = super::read_optional_json(call.req).await?;
    Ok(MergeRequest {
        message: body.message,
        committer,
        metadata: body.metadata,
        strategy: strategy(body.strategy.as_deref())?,
        allow_empty: body.allow_empty,
        squash: body.squash_merge,
    })
}

pub(super) async fn merge(call: Call) -> Answer {
    let (engine, repo) = (call.engine.clone(), call.param("repo"));
    let (source, dest) = (call.param("source"), call.param("dest"));
    let request = merge_request(call).await?;
    let (id, _) = engine.merge(&repo, &source, &dest, request).await?;
    reply(StatusCode::OK, MergeResult { reference: id })
}

/// The rules with their version in an `ETag` header, as lakeFS answers
/// `getBranchProtectionRules`; a `PUT` with `If-Match` then fails with 412 if they changed.
pub(super) async fn get_protection(call: Call) -> Answer {
    let (rules, etag) = call
        .engine
        .branch_protection_versioned(&call.param("repo"))
        .await?;
    let rules: Vec<BranchProtectionRule> = rules
        .into_iter()
        .map(|pattern| BranchProtectionRule { pattern })
        .collect();
    let body = serde_json::to_vec(&rules).expect("rules serialize");
    let answer = http::Response::builder()
        .status(StatusCode::OK)
        .header(http::header::CONTENT_TYPE, "application/json")
        .header(http::header::ETAG, format!("\"{etag}\""))
        .body(s3s::Body::from(bytes::Bytes::from(body)))
        .expect("valid response");
    Ok(Reply::Raw(answer))
}

pub(super) async fn set_protection(call: Call) -> Answer {
    let (engine, repo) = (call.engine.clone(), call.param("repo"));
    let if_match = call
        .req
        .headers()
        .get(http::header::IF_MATCH)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    let rules: Vec<BranchProtectionRule> = read_json(call.req).await?;
    let etag = engine
        .set_branch_protection_if(
            &repo,
            rules.into_iter().map(|r| r.pattern).collect(),
            if_match.as_deref(),
        )
        .await?;
    let answer = http::Response::builder()
        .status(StatusCode::NO_CONTENT)
        .header(http::header::ETAG, format!("\"{etag}\""))
        .body(s3s::Body::empty())
        .expect("valid response");
    Ok(Reply::Raw(answer))
}

/// Change the rules by `edit`, atomically: a concurrent change makes it start over, so
/// neither is lost (two sidecars adding a rule each keep both).
async fn edit_protection(
    engine: &sluice_meta::Engine,
    repo: &str,
    edit: impl Fn(&mut Vec<String>) -> Result<(), ApiError>,
) -> Result<(), ApiError> {
    loop {
        let (mut rules, etag) = engine.branch_protection_versioned(repo).await?;
        edit(&mut rules)?;
        match engine
            .set_branch_protection_if(repo, rules, Some(&etag))
            .await
        {
            Err(e) if e.kind() == sluice_meta::ErrorKind::PreconditionFailed => continue,
            other => return other.map(|_| ()).map_err(ApiError::from),
        }
    }
}

pub(super) async fn add_protection(call: Call) -> Answer {
    let (engine, repo) = (call.engine.clone(), call.param("repo"));
    let rule: BranchProtectionRule = read_json(call.req).await?;
    edit_protection(&engine, &repo, |rules| {
        if !rules.contains(&rule.pattern) {
            rules.push(rule.pattern.clone());
        }
        Ok(())
    })
    .await?;
    Ok(Reply::Empty(StatusCode::NO_CONTENT))
}

pub(super) async fn remove_protection(call: Call) -> Answer {
    let (engine, repo) = (call.engine.clone(), call.param("repo"));
    let rule: BranchProtectionRule = read_json(call.req).await?;
    edit_protection(&engine, &repo, |rules| {
        let before = rules.len();
        rules.retain(|p| *p != rule.pattern);
        if rules.len() == before {
            return Err(ApiError::new(
                StatusCode::NOT_FOUND,
                "no such protection rule",
            ));
        }
        Ok(())
    })
    .await?;
    Ok(Reply::Empty(StatusCode::NO_CONTENT))
}

pub(super) async fn list_tags(call: Call) -> Answer {
    let (request, amount) = page_request(&call)?;
    let page = call.engine.list_tags(&call.param("repo"), &request).await?;
    let next = page.items.last().map(|t| t.name.clone());
    let results = page
        .items
        .iter()
        .map(|t| Ref {
            id: t.name.clone(),
            commit_id: t.commit.clone(),
        })
        .collect();
    reply(
        StatusCode::OK,
        List::new(results, page.has_more, next.as_deref(), amount),
    )
}

pub(super) async fn create_tag(call: Call) -> Answer {
    let (engine, repo) = (call.engine.clone(), call.param("repo"));
    let body: TagCreation = read_json(call.req).await?;
    call.gate
        .require(&[Need::new("fs:CreateTag", arn::tag(&repo, &body.id))])
        .await?;
    let t = engine.create_tag(&repo, &body.id, &body.reference).await?;
    reply(
        StatusCode::CREATED,
        Ref {
            id: t.name,
            commit_id: t.commit,
        },
    )
}

pub(super) async fn get_tag(call: Call) -> Answer {
    let t = call
        .engine
        .tag(&call.param("repo"), &call.param("tag"))
        .await?;
    reply(
        StatusCode::OK,
        Ref {
            id: t.name,
            commit_id: t.commit,
        },
    )
}

pub(super) async fn delete_tag(call: Call) -> Answer {
    call.engine
        .delete_tag(&call.param("repo"), &call.param("tag"))
        .await?;
    Ok(Reply::Empty(StatusCode::NO_CONTENT))
}
