//! What each REST operation needs, by its route, in lakeFS's actions and resources (its
//! `pkg/api/controller.go`), so that lakeFS policies mean the same here. A few operations
//! name what they act on in their body (a new branch, tag or repository, the paths of a
//! bulk delete, a copy's source): their handlers ask [`crate::access::Gate::require`] once they have read
//! it. Sluice's own operations (row counts, SQL, required checks, GC runs) use the nearest
//! lakeFS action, listed in `docs/security.md`.

use http::StatusCode;

use super::{ApiError, Params, Query};
use crate::access::{AccessError, Need, arn};

impl From<AccessError> for ApiError {
    fn from(e: AccessError) -> Self {
        let status = match &e {
            // lakeFS answers a refusal with 401 "insufficient permissions".
            AccessError::Denied { .. } => StatusCode::UNAUTHORIZED,
            AccessError::NotFound(_) => StatusCode::NOT_FOUND,
            AccessError::AlreadyExists(_) | AccessError::Conflict(_) => StatusCode::CONFLICT,
            AccessError::Invalid(_) | AccessError::Protected(_) => StatusCode::BAD_REQUEST,
            AccessError::Cipher | AccessError::Corrupt(_) | AccessError::Store(_) => {
                StatusCode::INTERNAL_SERVER_ERROR
            }
        };
        ApiError::new(status, e.to_string())
    }
}

/// What the route checks before its handler runs: the needs, or `None` when the handler
/// checks what its body names. `Err` for a route this table does not know (a test keeps
/// every route known).
pub(super) fn needs(
    method: &str,
    pattern: &str,
    params: &Params,
    query: &Query,
) -> Result<Option<Vec<Need>>, String> {
    let p = |name: &str| {
        params
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, v)| v.as_str())
            .unwrap_or("")
    };
    let repo = p("repo");
    let path = query.get("path").unwrap_or("");
    let prefix = query.get("prefix").unwrap_or("");
    let on_repo = |action| Need::new(action, arn::repository(repo));
    let on_branch =
        |action, branch: &str| Need::new(action, arn::branch(repo, branch)).on_branch(branch);
    let on_object = |action, path: &str, branch: &str| {
        Need::new(action, arn::object(repo, path)).on_branch(branch)
    };
    let on_user = |action| Need::new(action, arn::user(p("user")));
    let on_group = |action| Need::new(action, arn::group(p("group")));
    let on_policy = |action| Need::new(action, arn::policy(p("policy")));
    let rest = pattern
        .strip_prefix("/repositories/{repo}")
        .unwrap_or(pattern);
    let needs = match (method, rest) {
        // Anyone signed in: who they are, the server's version and storage.
        ("GET", "/config" | "/config/version" | "/config/storage" | "/user") => vec![],
        // The listing shows what the user may read; creation names the repository in its body.
        ("GET", "/repositories") => vec![],
        ("POST", "/repositories") => return Ok(None),
        ("GET", "") => vec![on_repo("fs:ReadRepository")],
        ("DELETE", "") => vec![on_repo("fs:DeleteRepository")],
        ("GET", "/branches") => vec![on_repo("fs:ListBranches")],
        ("POST", "/branches") => return Ok(None),
        ("GET", "/branches/{branch}") => vec![on_branch("fs:ReadBranch", p("branch"))],
        ("DELETE", "/branches/{branch}") => vec![on_branch("fs:DeleteBranch", p("branch"))],
        ("PUT", "/branches/{branch}") | ("POST", "/branches/{branch}/revert") => {
            vec![on_branch("fs:RevertBranch", p("branch"))]
        }
        ("POST", "/branches/{branch}/cherry-pick" | "/branches/{branch}/commits") => {
            vec![on_branch("fs:CreateCommit", p("branch"))]
        }
        ("GET", "/branches/{branch}/diff") => {
            vec![on_repo("fs:ListObjects").on_branch(p("branch"))]
        }
        ("POST" | "DELETE", "/branches/{branch}/import") => vec![
            on_repo("fs:ImportFromStorage").on_branch(p("branch")),
            on_object("fs:WriteObject", "*", p("branch")),
        ],
        ("GET", "/branches/{branch}/import") => vec![on_branch("fs:ReadBranch", p("branch"))],
        ("POST", "/branches/{branch}/objects")
        | ("GET" | "PUT", "/branches/{branch}/staging/backing")
        | ("PUT", "/branches/{branch}/objects/stat/user_metadata") => {
            vec![on_object("fs:WriteObject", path, p("branch"))]
        }
        ("DELETE", "/branches/{branch}/objects") => {
            vec![on_object("fs:DeleteObject", path, p("branch"))]
        }
        ("POST", "/branches/{branch}/objects/delete" | "/branches/{branch}/objects/copy") => {
            return Ok(None);
        }
        ("GET", "/commits/{commit}") => vec![on_repo("fs:ReadCommit")],
        ("GET", "/refs/{ref}/commits") => vec![on_branch("fs:ReadBranch", p("ref"))],
        ("GET", "/refs/{left}/diff/{right}") => vec![on_repo("fs:ListObjects")],
        ("GET", "/refs/{source}/merge/{dest}") => vec![on_repo("fs:ReadRepository")],
        ("POST", "/refs/{source}/merge/{dest}" | "/refs/{source}/merge/{dest}/async") => {
            vec![on_branch("fs:CreateCommit", p("dest"))]
        }
        ("GET", "/refs/{source}/merge/{dest}/async/{id}/status") => {
            vec![on_branch("fs:ReadBranch", p("dest"))]
        }
        ("GET" | "HEAD", "/refs/{ref}/objects" | "/refs/{ref}/objects/stat") => {
            vec![on_object("fs:ReadObject", path, p("ref"))]
        }
        ("GET", "/refs/{ref}/objects/ls") => vec![on_repo("fs:ListObjects").on_branch(p("ref"))],
        // Checks that read rows read the objects under their prefix, on each ref.
        ("GET", "/refs/{ref}/rows") => vec![on_object("fs:ReadObject", prefix, p("ref"))],
        ("GET", "/refs/{left}/diff/{right}/rows" | "/refs/{left}/compare/{right}") => vec![
            on_object("fs:ReadObject", prefix, p("left")),
            on_object("fs:ReadObject", prefix, p("right")),
        ],
        // A query may read any table of the ref.
        ("POST", "/refs/{ref}/sql") => vec![on_object("fs:ReadObject", "*", p("ref"))],
        ("GET", "/metadata") => vec![on_repo("fs:ReadRepository")],
        ("POST" | "DELETE", "/metadata") => vec![on_repo("fs:UpdateRepository")],
        ("GET", "/actions/runs" | "/actions/runs/{run}" | "/actions/runs/{run}/hooks")
        | ("GET", "/actions/runs/{run}/hooks/{hook}/output") => vec![on_repo("ci:ReadAction")],
        (
            "GET",
            "/settings/branch_protection" | "/branch_protection" | "/settings/required_checks",
        ) => {
            vec![on_repo("branches:GetBranchProtectionRules")]
        }
        ("PUT", "/settings/branch_protection" | "/settings/required_checks/{name}")
        | ("POST" | "DELETE", "/branch_protection")
        | ("DELETE", "/settings/required_checks/{name}") => {
            vec![on_repo("branches:SetBranchProtectionRules")]
        }
        ("GET", "/tags") => vec![on_repo("fs:ListTags")],
        ("POST", "/tags") => return Ok(None),
        ("GET", "/tags/{tag}") => vec![Need::new("fs:ReadTag", arn::tag(repo, p("tag")))],
        ("DELETE", "/tags/{tag}") => vec![Need::new("fs:DeleteTag", arn::tag(repo, p("tag")))],
        ("POST", "/gc") => vec![on_repo("retention:RunGarbageCollection")],
        ("GET", "/settings/gc_rules") => vec![on_repo("retention:GetGarbageCollectionRules")],
        ("PUT" | "DELETE", "/settings/gc_rules") => {
            vec![on_repo("retention:SetGarbageCollectionRules")]
        }
        // The auth API, as lakeFS checks it.
        ("GET", "/auth/users") => vec![Need::new("auth:ListUsers", arn::ALL.into())],
        ("POST", "/auth/users") => return Ok(None),
        ("GET", "/auth/users/{user}") => vec![on_user("auth:ReadUser")],
        ("DELETE", "/auth/users/{user}") => vec![on_user("auth:DeleteUser")],
        ("GET", "/auth/users/{user}/credentials") => vec![on_user("auth:ListCredentials")],
        ("POST", "/auth/users/{user}/credentials") => vec![on_user("auth:CreateCredentials")],
        ("GET", "/auth/users/{user}/credentials/{key}") => vec![on_user("auth:ReadCredentials")],
        ("DELETE", "/auth/users/{user}/credentials/{key}") => {
            vec![on_user("auth:DeleteCredentials")]
        }
        ("GET", "/auth/users/{user}/groups") => vec![on_user("auth:ReadUser")],
        ("GET", "/auth/users/{user}/policies") => vec![on_user("auth:ReadUser")],
        ("PUT", "/auth/users/{user}/policies/{policy}") => vec![on_user("auth:AttachPolicy")],
        ("DELETE", "/auth/users/{user}/policies/{policy}") => vec![on_user("auth:DetachPolicy")],
        ("GET", "/auth/groups") => vec![Need::new("auth:ListGroups", arn::ALL.into())],
        ("POST", "/auth/groups") => return Ok(None),
        ("GET", "/auth/groups/{group}") => vec![on_group("auth:ReadGroup")],
        ("DELETE", "/auth/groups/{group}") => vec![on_group("auth:DeleteGroup")],
        ("GET", "/auth/groups/{group}/members") => vec![on_group("auth:ReadGroup")],
        ("PUT", "/auth/groups/{group}/members/{user}") => vec![on_group("auth:AddGroupMember")],
        ("DELETE", "/auth/groups/{group}/members/{user}") => {
            vec![on_group("auth:RemoveGroupMember")]
        }
        ("GET", "/auth/groups/{group}/policies") => vec![on_group("auth:ReadGroup")],
        ("PUT", "/auth/groups/{group}/policies/{policy}") => vec![on_group("auth:AttachPolicy")],
        ("DELETE", "/auth/groups/{group}/policies/{policy}") => {
            vec![on_group("auth:DetachPolicy")]
        }
        ("GET", "/auth/policies") => vec![Need::new("auth:ListPolicies", arn::ALL.into())],
        ("POST", "/auth/policies") => return Ok(None),
        ("GET", "/auth/policies/{policy}") => vec![on_policy("auth:ReadPolicy")],
        ("PUT", "/auth/policies/{policy}") => vec![on_policy("auth:UpdatePolicy")],
        ("DELETE", "/auth/policies/{policy}") => vec![on_policy("auth:DeletePolicy")],
        _ => return Err(format!("no permissions are named for {method} {pattern}")),
    };
    Ok(Some(needs))
}
