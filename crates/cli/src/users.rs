//! `sluice user`, `sluice key`, `sluice group` and `sluice policy`: users, their access
//! keys, groups and policies, through the sidecar's lakeFS-shaped auth API.

use clap::Subcommand;
use reqwest::Method;
use serde_json::json;
use sluice_gateway::access::builtin::branch_writer;
use sluice_gateway::api::{
    Credentials, CredentialsWithSecret, Group, GroupCreation, Policy, User, UserCreation,
};

use crate::client::{Api, ClientError, enc};
use crate::commands::print;

#[derive(Subcommand)]
pub enum UserCmd {
    /// Create a user (it may do nothing until it is in a group or has a policy).
    Create {
        id: String,
        #[arg(long)]
        email: Option<String>,
        #[arg(long)]
        friendly_name: Option<String>,
        /// Add the user to this group (repeatable): Admins, SuperUsers, Developers,
        /// Viewers, or one of yours.
        #[arg(long)]
        group: Vec<String>,
    },
    /// List users.
    List,
    /// A user, its groups and the policies that apply to it.
    Show { id: String },
    /// Delete a user with its keys.
    Delete { id: String },
}

#[derive(Subcommand)]
pub enum KeyCmd {
    /// Create an access key for USER; its secret is printed this once.
    Create { user: String },
    /// List USER's access keys.
    List { user: String },
    /// Delete one of USER's access keys.
    Delete { user: String, access_key_id: String },
}

#[derive(Subcommand)]
pub enum GroupCmd {
    /// Create a group.
    Create {
        id: String,
        #[arg(long)]
        description: Option<String>,
    },
    /// List groups.
    List,
    /// A group's members and policies.
    Show { id: String },
    /// Delete a group.
    Delete { id: String },
    /// Add USER to GROUP.
    Add { group: String, user: String },
    /// Remove USER from GROUP.
    Remove { group: String, user: String },
}

#[derive(Subcommand)]
pub enum PolicyCmd {
    /// Create (or with --replace, replace) a policy from a JSON file in lakeFS's shape:
    /// {"id": ..., "statement": [{"effect", "action": [...], "resource", "condition"?}]}.
    Create {
        file: std::path::PathBuf,
        #[arg(long)]
        replace: bool,
    },
    /// Create a policy that reads REPO and writes only the branches matching --branches
    /// (a glob such as `dev-*`): objects, commits and those branches themselves.
    BranchWriter {
        id: String,
        #[arg(long)]
        repo: String,
        #[arg(long)]
        branches: String,
    },
    /// List policies.
    List,
    /// A policy's statements.
    Show { id: String },
    /// Delete a policy (and detach it everywhere).
    Delete { id: String },
    /// Attach a policy to a user or a group.
    Attach {
        id: String,
        #[arg(long, conflicts_with = "group", required_unless_present = "group")]
        user: Option<String>,
        #[arg(long)]
        group: Option<String>,
    },
    /// Detach a policy from a user or a group.
    Detach {
        id: String,
        #[arg(long, conflicts_with = "group", required_unless_present = "group")]
        user: Option<String>,
        #[arg(long)]
        group: Option<String>,
    },
}

fn ids<T>(items: &[T], id: impl Fn(&T) -> &str) -> String {
    items.iter().map(id).collect::<Vec<_>>().join("\n")
}

pub async fn user(api: &Api, cmd: UserCmd, json_out: bool) -> Result<(), ClientError> {
    match cmd {
        UserCmd::Create {
            id,
            email,
            friendly_name,
            group,
        } => {
            let body = UserCreation {
                id: id.clone(),
                friendly_name,
                email,
                invite_user: None,
            };
            let user: User = api
                .json(api.request(Method::POST, "/auth/users").json(&body))
                .await?;
            for g in &group {
                let path = format!("/auth/groups/{}/members/{}", enc(g), enc(&id));
                api.send(api.request(Method::PUT, &path)).await?;
            }
            print(json_out, &json!({"user": user, "groups": group}), || {
                format!("created user {id}")
            });
        }
        UserCmd::List => {
            let users: Vec<User> = api.all("/auth/users", "").await?;
            print(json_out, &users, || ids(&users, |u| &u.id));
        }
        UserCmd::Show { id } => {
            let user: User = api
                .json(api.request(Method::GET, &format!("/auth/users/{}", enc(&id))))
                .await?;
            let groups: Vec<Group> = api
                .all(&format!("/auth/users/{}/groups", enc(&id)), "")
                .await?;
            let policies: Vec<Policy> = api
                .all(
                    &format!("/auth/users/{}/policies", enc(&id)),
                    "&effective=true",
                )
                .await?;
            let value = json!({"user": user, "groups": groups, "effective_policies": policies});
            print(json_out, &value, || {
                format!(
                    "user {}\ngroups: {}\npolicies: {}",
                    user.id,
                    ids(&groups, |g| &g.id).replace('\n', ", "),
                    ids(&policies, |p| &p.id).replace('\n', ", ")
                )
            });
        }
        UserCmd::Delete { id } => {
            api.send(api.request(Method::DELETE, &format!("/auth/users/{}", enc(&id))))
                .await?;
            print(json_out, &json!({"deleted": id}), || {
                format!("deleted user {id}")
            });
        }
    }
    Ok(())
}

pub async fn key(api: &Api, cmd: KeyCmd, json_out: bool) -> Result<(), ClientError> {
    match cmd {
        KeyCmd::Create { user } => {
            let path = format!("/auth/users/{}/credentials", enc(&user));
            let key: CredentialsWithSecret = api.json(api.request(Method::POST, &path)).await?;
            print(json_out, &key, || {
                format!(
                    "created an access key for {user} (the secret is shown only this once):\n  SLUICE_ACCESS_KEY_ID={}\n  SLUICE_SECRET_ACCESS_KEY={}",
                    key.access_key_id, key.secret_access_key
                )
            });
        }
        KeyCmd::List { user } => {
            let keys: Vec<Credentials> = api
                .all(&format!("/auth/users/{}/credentials", enc(&user)), "")
                .await?;
            print(json_out, &keys, || ids(&keys, |k| &k.access_key_id));
        }
        KeyCmd::Delete {
            user,
            access_key_id,
        } => {
            let path = format!(
                "/auth/users/{}/credentials/{}",
                enc(&user),
                enc(&access_key_id)
            );
            api.send(api.request(Method::DELETE, &path)).await?;
            print(json_out, &json!({"deleted": access_key_id}), || {
                format!("deleted access key {access_key_id} of {user}")
            });
        }
    }
    Ok(())
}

pub async fn group(api: &Api, cmd: GroupCmd, json_out: bool) -> Result<(), ClientError> {
    match cmd {
        GroupCmd::Create { id, description } => {
            let body = GroupCreation {
                id: id.clone(),
                description,
            };
            let g: Group = api
                .json(api.request(Method::POST, "/auth/groups").json(&body))
                .await?;
            print(json_out, &g, || format!("created group {id}"));
        }
        GroupCmd::List => {
            let groups: Vec<Group> = api.all("/auth/groups", "").await?;
            print(json_out, &groups, || ids(&groups, |g| &g.id));
        }
        GroupCmd::Show { id } => {
            let members: Vec<User> = api
                .all(&format!("/auth/groups/{}/members", enc(&id)), "")
                .await?;
            let policies: Vec<Policy> = api
                .all(&format!("/auth/groups/{}/policies", enc(&id)), "")
                .await?;
            let value = json!({"id": id, "members": members, "policies": policies});
            print(json_out, &value, || {
                format!(
                    "group {id}\nmembers: {}\npolicies: {}",
                    ids(&members, |u| &u.id).replace('\n', ", "),
                    ids(&policies, |p| &p.id).replace('\n', ", ")
                )
            });
        }
        GroupCmd::Delete { id } => {
            api.send(api.request(Method::DELETE, &format!("/auth/groups/{}", enc(&id))))
                .await?;
            print(json_out, &json!({"deleted": id}), || {
                format!("deleted group {id}")
            });
        }
        GroupCmd::Add { group, user } => {
            let path = format!("/auth/groups/{}/members/{}", enc(&group), enc(&user));
            api.send(api.request(Method::PUT, &path)).await?;
            print(json_out, &json!({"group": group, "added": user}), || {
                format!("added {user} to {group}")
            });
        }
        GroupCmd::Remove { group, user } => {
            let path = format!("/auth/groups/{}/members/{}", enc(&group), enc(&user));
            api.send(api.request(Method::DELETE, &path)).await?;
            print(json_out, &json!({"group": group, "removed": user}), || {
                format!("removed {user} from {group}")
            });
        }
    }
    Ok(())
}

/// The path of an attachment: a user's or a group's.
fn holder(user: Option<String>, group: Option<String>, policy: &str) -> (String, String) {
    match (user, group) {
        (Some(u), _) => (
            format!("/auth/users/{}/policies/{}", enc(&u), enc(policy)),
            format!("user {u}"),
        ),
        (None, Some(g)) => (
            format!("/auth/groups/{}/policies/{}", enc(&g), enc(policy)),
            format!("group {g}"),
        ),
        (None, None) => unreachable!("clap requires --user or --group"),
    }
}

pub async fn policy(api: &Api, cmd: PolicyCmd, json_out: bool) -> Result<(), ClientError> {
    match cmd {
        PolicyCmd::Create { file, replace } => {
            let text = std::fs::read_to_string(&file)
                .map_err(|e| ClientError::Local(format!("{}: {e}", file.display())))?;
            let policy: Policy = serde_json::from_str(&text).map_err(|e| {
                ClientError::Usage(format!("{} is not a policy: {e}", file.display()))
            })?;
            let req = if replace {
                api.request(Method::PUT, &format!("/auth/policies/{}", enc(&policy.id)))
            } else {
                api.request(Method::POST, "/auth/policies")
            };
            let saved: Policy = api.json(req.json(&policy)).await?;
            print(json_out, &saved, || format!("saved policy {}", saved.id));
        }
        PolicyCmd::BranchWriter { id, repo, branches } => {
            let policy = branch_writer(&id, &repo, &branches);
            let saved: Policy = api
                .json(api.request(Method::POST, "/auth/policies").json(&policy))
                .await?;
            print(json_out, &saved, || {
                format!("created policy {id}: reads {repo}, writes its branches {branches}")
            });
        }
        PolicyCmd::List => {
            let policies: Vec<Policy> = api.all("/auth/policies", "").await?;
            print(json_out, &policies, || ids(&policies, |p| &p.id));
        }
        PolicyCmd::Show { id } => {
            let p: Policy = api
                .json(api.request(Method::GET, &format!("/auth/policies/{}", enc(&id))))
                .await?;
            print(json_out, &p, || {
                serde_json::to_string_pretty(&p).expect("policies serialise")
            });
        }
        PolicyCmd::Delete { id } => {
            api.send(api.request(Method::DELETE, &format!("/auth/policies/{}", enc(&id))))
                .await?;
            print(json_out, &json!({"deleted": id}), || {
                format!("deleted policy {id}")
            });
        }
        PolicyCmd::Attach { id, user, group } => {
            let (path, who) = holder(user, group, &id);
            api.send(api.request(Method::PUT, &path)).await?;
            print(json_out, &json!({"attached": id}), || {
                format!("attached {id} to {who}")
            });
        }
        PolicyCmd::Detach { id, user, group } => {
            let (path, who) = holder(user, group, &id);
            api.send(api.request(Method::DELETE, &path)).await?;
            print(json_out, &json!({"detached": id}), || {
                format!("detached {id} from {who}")
            });
        }
    }
    Ok(())
}
