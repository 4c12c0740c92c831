//! What each page and form needs, in the same actions and resources as the REST API's
//! routes ([`crate::rest`]) and the S3 API's operations, so that a policy allows or denies
//! the same thing from a browser. A page needs what the REST calls it shows need; a form
//! what the REST call it makes needs.

use super::form::Form;
use crate::access::{Need, arn};

/// What the page at `segs` (under `/ui`) needs, `query` being its query string.
pub(crate) fn page(segs: &[&str], query: &Form) -> Vec<Need> {
    let reference = query.get("ref");
    let on_repo = |repo: &str, action| {
        let need = Need::new(action, arn::repository(repo));
        match reference {
            Some(r) => need.on_branch(r),
            None => need,
        }
    };
    match segs {
        ["repositories", repo] | ["repositories", repo, "merges", _] => {
            vec![on_repo(repo, "fs:ReadRepository")]
        }
        ["repositories", repo, "objects" | "changes" | "compare"] => {
            vec![on_repo(repo, "fs:ListObjects")]
        }
        ["repositories", repo, "object"] => {
            let path = query.get("path").unwrap_or("");
            let need = Need::new("fs:ReadObject", arn::object(repo, path));
            vec![match reference {
                Some(r) => need.on_branch(r),
                None => need,
            }]
        }
        ["repositories", repo, "branches"] => vec![on_repo(repo, "fs:ListBranches")],
        ["repositories", repo, "commits"] | ["repositories", repo, "commits", _] => {
            vec![on_repo(repo, "fs:ReadCommit")]
        }
        ["repositories", repo, "actions"] | ["repositories", repo, "actions", _] => {
            vec![on_repo(repo, "ci:ReadAction")]
        }
        // The list of repositories shows those the user may read.
        _ => vec![],
    }
}

/// What the form posted to `segs` needs.
pub(crate) fn form(segs: &[&str], form: &Form) -> Vec<Need> {
    let text = |name| form.text(name).trim();
    let on_branch = |repo: &str, action, branch: &str| {
        Need::new(action, arn::branch(repo, branch)).on_branch(branch)
    };
    match segs {
        ["repositories"] => vec![Need::new(
            "fs:CreateRepository",
            arn::repository(text("name")),
        )],
        ["repositories", repo, "delete"] => {
            vec![Need::new("fs:DeleteRepository", arn::repository(repo))]
        }
        ["repositories", repo, "objects", "delete"] => vec![
            Need::new("fs:DeleteObject", arn::object(repo, form.text("path")))
                .on_branch(text("ref")),
        ],
        ["repositories", repo, "changes", "commit"] => {
            vec![on_branch(repo, "fs:CreateCommit", text("ref"))]
        }
        ["repositories", repo, "changes", "reset"] => {
            vec![on_branch(repo, "fs:RevertBranch", text("ref"))]
        }
        ["repositories", repo, "branches", "create"] => {
            vec![on_branch(repo, "fs:CreateBranch", text("name"))]
        }
        ["repositories", repo, "branches", "delete"] => {
            vec![on_branch(repo, "fs:DeleteBranch", text("name"))]
        }
        ["repositories", repo, "branches", "reset"] => {
            vec![on_branch(repo, "fs:RevertBranch", text("name"))]
        }
        ["repositories", repo, "branches", "protect" | "unprotect"] => vec![Need::new(
            "branches:SetBranchProtectionRules",
            arn::repository(repo),
        )],
        ["repositories", repo, "tags", "create"] => {
            vec![Need::new("fs:CreateTag", arn::tag(repo, text("name")))]
        }
        ["repositories", repo, "tags", "delete"] => {
            vec![Need::new("fs:DeleteTag", arn::tag(repo, text("name")))]
        }
        ["repositories", repo, "merge"] => vec![on_branch(repo, "fs:CreateCommit", text("ref"))],
        // Unknown forms are answered 404 by the dispatcher; they need nothing here.
        _ => vec![],
    }
}

/// What writing `path` on `branch` of `repo` from the browser needs (an upload, or each
/// step of a multipart one).
pub(crate) fn upload(repo: &str, branch: &str, path: &str) -> Vec<Need> {
    vec![Need::new("fs:WriteObject", arn::object(repo, path)).on_branch(branch)]
}
