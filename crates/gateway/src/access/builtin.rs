//! The policies and groups every installation starts with, named and shaped as lakeFS's
//! (`pkg/auth/setup`), so that a lakeFS user's group assignments mean the same here. They
//! are written on the first start only: an administrator's later edits are kept.

use super::AccessError;
use super::directory::Directory;
use super::policy::{Policy, Statement};

fn allow_all(id: &str, actions: &[&str]) -> Policy {
    Policy {
        id: id.to_string(),
        creation_date: None,
        statement: vec![Statement {
            effect: "allow".into(),
            resource: "*".into(),
            action: actions.iter().map(|a| a.to_string()).collect(),
            condition: None,
        }],
    }
}

/// The built-in policies.
pub fn policies() -> Vec<Policy> {
    vec![
        allow_all("FSFullAccess", &["fs:*"]),
        allow_all("FSReadAll", &["fs:List*", "fs:Read*"]),
        allow_all(
            "FSReadWriteAll",
            &[
                "fs:Read*",
                "fs:List*",
                "fs:WriteObject",
                "fs:DeleteObject",
                "fs:RevertBranch",
                "fs:CreateBranch",
                "fs:CreateTag",
                "fs:DeleteBranch",
                "fs:DeleteTag",
                "fs:CreateCommit",
            ],
        ),
        allow_all("AuthFullAccess", &["auth:*"]),
        Policy {
            id: "AuthManageOwnCredentials".into(),
            creation_date: None,
            statement: vec![Statement {
                effect: "allow".into(),
                resource: "arn:lakefs:auth:::user/${user}".into(),
                action: [
                    "auth:CreateCredentials",
                    "auth:DeleteCredentials",
                    "auth:ListCredentials",
                    "auth:ReadCredentials",
                ]
                .iter()
                .map(|a| a.to_string())
                .collect(),
                condition: None,
            }],
        },
        allow_all(
            "RepoManagementFullAccess",
            &["ci:*", "retention:*", "branches:*", "pr:*", "fs:ReadConfig"],
        ),
        allow_all(
            "RepoManagementReadAll",
            &[
                "ci:Read*",
                "retention:Get*",
                "branches:Get*",
                "pr:Read*",
                "pr:List*",
                "fs:ReadConfig",
            ],
        ),
    ]
}

/// The built-in groups and the policies attached to each.
pub fn groups() -> Vec<(&'static str, &'static [&'static str])> {
    vec![
        (
            "Admins",
            &["AuthFullAccess", "FSFullAccess", "RepoManagementFullAccess"],
        ),
        (
            "SuperUsers",
            &[
                "FSFullAccess",
                "AuthManageOwnCredentials",
                "RepoManagementReadAll",
            ],
        ),
        (
            "Developers",
            &[
                "FSReadWriteAll",
                "AuthManageOwnCredentials",
                "RepoManagementReadAll",
            ],
        ),
        ("Viewers", &["FSReadAll", "AuthManageOwnCredentials"]),
    ]
}

/// A policy that lets its holder read `repo` and write the branches whose names match
/// `branches` (a glob): objects, commits, and creating, resetting and deleting those
/// branches. Writes to any other branch stay denied. Sluice's own template (`sluice
/// policy branch-writer`), in lakeFS's policy shape.
pub fn branch_writer(id: &str, repo: &str, branches: &str) -> Policy {
    let repo_arns = serde_json::to_string(&[
        super::arn::repository(repo),
        format!("{}/*", super::arn::repository(repo)),
    ])
    .expect("strings serialise");
    let on_branches = [(
        "StringLike".to_string(),
        [(
            super::policy::BRANCH_FIELD.to_string(),
            vec![branches.to_string()],
        )]
        .into_iter()
        .collect(),
    )]
    .into_iter()
    .collect();
    Policy {
        id: id.to_string(),
        creation_date: None,
        statement: vec![
            Statement {
                effect: "allow".into(),
                resource: repo_arns,
                action: vec!["fs:Read*".into(), "fs:List*".into()],
                condition: None,
            },
            Statement {
                effect: "allow".into(),
                resource: super::arn::object(repo, "*"),
                action: vec!["fs:WriteObject".into(), "fs:DeleteObject".into()],
                condition: Some(on_branches),
            },
            Statement {
                effect: "allow".into(),
                resource: super::arn::branch(repo, branches),
                action: vec![
                    "fs:CreateBranch".into(),
                    "fs:DeleteBranch".into(),
                    "fs:RevertBranch".into(),
                    "fs:CreateCommit".into(),
                ],
                condition: None,
            },
        ],
    }
}

/// Write the built-in policies and groups that are not there yet.
pub async fn install(directory: &Directory) -> Result<(), AccessError> {
    for p in policies() {
        match directory.put_policy(p, false).await {
            Ok(_) | Err(AccessError::AlreadyExists(_)) => {}
            Err(e) => return Err(e),
        }
    }
    for (group, attached) in groups() {
        match directory.create_group(group, None).await {
            Ok(_) => {
                for p in attached {
                    directory.attach(true, group, p, true).await?;
                }
            }
            Err(AccessError::AlreadyExists(_)) => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}
