//! lakeFS's auth API (`/api/v1/auth/...`): users, their access keys, groups and policies,
//! in lakeFS's shapes and statuses, so that lakeFS's SDKs and `lakectl auth` manage them.
//! What each call needs is in [`super::permissions`]; creations, which name their subject
//! in the body, are checked here.

use http::StatusCode;

use super::{Answer, ApiError, Call, Reply, read_json, reply};
use crate::access::directory::{Page, PageQuery};
use crate::access::{AccessError, Need, Policy, arn};
use crate::api::{GroupCreation, List, Pagination, UserCreation};

fn page_query(call: &Call) -> Result<PageQuery, ApiError> {
    Ok(PageQuery {
        prefix: call.query.get("prefix").unwrap_or("").to_string(),
        after: call.query.get("after").map(str::to_string),
        amount: call.query.amount()?,
    })
}

fn listing<T: serde::Serialize>(page: Page<T>, amount: usize) -> Answer {
    let results = page.results.len();
    reply(
        StatusCode::OK,
        List {
            pagination: Pagination {
                has_more: page.has_more,
                next_offset: page.next_offset,
                results,
                max_per_page: amount,
            },
            results: page.results,
        },
    )
}

fn created() -> Answer {
    Ok(Reply::Empty(StatusCode::CREATED))
}

fn deleted() -> Answer {
    Ok(Reply::Empty(StatusCode::NO_CONTENT))
}

pub(super) async fn list_users(call: Call) -> Answer {
    let page = page_query(&call)?;
    listing(
        call.gate.access.directory().users(&page).await?,
        page.amount,
    )
}

pub(super) async fn create_user(call: Call) -> Answer {
    let gate = call.gate.clone();
    let body: UserCreation = read_json(call.req).await?;
    gate.require(&[Need::new("auth:CreateUser", arn::user(&body.id))])
        .await?;
    let user = gate
        .access
        .directory()
        .create_user(&body.id, body.friendly_name, body.email)
        .await?;
    tracing::info!(by = %gate.user, user = %user.id, "audit: user created");
    reply(StatusCode::CREATED, user)
}

pub(super) async fn get_user(call: Call) -> Answer {
    let user = call
        .gate
        .access
        .directory()
        .user(&call.param("user"))
        .await?;
    reply(StatusCode::OK, user)
}

pub(super) async fn delete_user(call: Call) -> Answer {
    let id = call.param("user");
    if call.gate.access.is_admin(&id) {
        return Err(AccessError::Protected(
            "the first start's admin cannot be deleted; replace its key pair instead".into(),
        )
        .into());
    }
    call.gate.access.directory().delete_user(&id).await?;
    call.gate.access.changed();
    tracing::info!(by = %call.gate.user, user = %id, "audit: user deleted");
    deleted()
}

pub(super) async fn list_credentials(call: Call) -> Answer {
    let page = page_query(&call)?;
    let keys = call
        .gate
        .access
        .directory()
        .list_credentials(&call.param("user"), &page)
        .await?;
    listing(keys, page.amount)
}

pub(super) async fn create_credentials(call: Call) -> Answer {
    let user = call.param("user");
    let key = call
        .gate
        .access
        .directory()
        .create_credentials(&user)
        .await?;
    // The secret is in the answer only, never in a log line.
    tracing::info!(by = %call.gate.user, user = %user, access_key_id = %key.access_key_id, "audit: access key created");
    reply(StatusCode::CREATED, key)
}

pub(super) async fn get_credentials(call: Call) -> Answer {
    let key = call
        .gate
        .access
        .directory()
        .credentials(&call.param("user"), &call.param("key"))
        .await?;
    reply(StatusCode::OK, key)
}

pub(super) async fn delete_credentials(call: Call) -> Answer {
    let (user, key) = (call.param("user"), call.param("key"));
    call.gate
        .access
        .directory()
        .delete_credentials(&user, &key)
        .await?;
    tracing::info!(by = %call.gate.user, user = %user, access_key_id = %key, "audit: access key deleted");
    deleted()
}

pub(super) async fn user_groups(call: Call) -> Answer {
    let page = page_query(&call)?;
    let groups = call
        .gate
        .access
        .directory()
        .groups_of(&call.param("user"), &page)
        .await?;
    listing(groups, page.amount)
}

pub(super) async fn user_policies(call: Call) -> Answer {
    let page = page_query(&call)?;
    let user = call.param("user");
    let directory = call.gate.access.directory();
    if call.query.flag("effective")?.unwrap_or(false) {
        directory.user(&user).await?;
        let all = directory.effective_policies(&user).await?;
        let after = page.after.clone().unwrap_or_default();
        let mut matching: Vec<Policy> = all
            .into_iter()
            .filter(|p| p.id.starts_with(&page.prefix) && p.id > after)
            .collect();
        let has_more = matching.len() > page.amount;
        matching.truncate(page.amount);
        let next_offset = match (has_more, matching.last()) {
            (true, Some(p)) => p.id.clone(),
            _ => String::new(),
        };
        return listing(
            Page {
                results: matching,
                has_more,
                next_offset,
            },
            page.amount,
        );
    }
    listing(directory.attached(false, &user, &page).await?, page.amount)
}

async fn attach(call: Call, group: bool, attach: bool) -> Answer {
    let holder = call.param(if group { "group" } else { "user" });
    let policy = call.param("policy");
    call.gate
        .access
        .directory()
        .attach(group, &holder, &policy, attach)
        .await?;
    call.gate.access.changed();
    let what = if group { "group" } else { "user" };
    tracing::info!(by = %call.gate.user, %what, holder = %holder, policy = %policy, attach, "audit: policy attachment changed");
    if attach { created() } else { deleted() }
}

pub(super) async fn attach_user_policy(call: Call) -> Answer {
    attach(call, false, true).await
}

pub(super) async fn detach_user_policy(call: Call) -> Answer {
    attach(call, false, false).await
}

pub(super) async fn attach_group_policy(call: Call) -> Answer {
    attach(call, true, true).await
}

pub(super) async fn detach_group_policy(call: Call) -> Answer {
    attach(call, true, false).await
}

pub(super) async fn list_groups(call: Call) -> Answer {
    let page = page_query(&call)?;
    listing(
        call.gate.access.directory().groups(&page).await?,
        page.amount,
    )
}

pub(super) async fn create_group(call: Call) -> Answer {
    let gate = call.gate.clone();
    let body: GroupCreation = read_json(call.req).await?;
    gate.require(&[Need::new("auth:CreateGroup", arn::group(&body.id))])
        .await?;
    let group = gate
        .access
        .directory()
        .create_group(&body.id, body.description)
        .await?;
    tracing::info!(by = %gate.user, group = %group.id, "audit: group created");
    reply(StatusCode::CREATED, group)
}

pub(super) async fn get_group(call: Call) -> Answer {
    let group = call
        .gate
        .access
        .directory()
        .group(&call.param("group"))
        .await?;
    reply(StatusCode::OK, group)
}

pub(super) async fn delete_group(call: Call) -> Answer {
    let id = call.param("group");
    call.gate.access.directory().delete_group(&id).await?;
    call.gate.access.changed();
    tracing::info!(by = %call.gate.user, group = %id, "audit: group deleted");
    deleted()
}

pub(super) async fn members(call: Call) -> Answer {
    let page = page_query(&call)?;
    let users = call
        .gate
        .access
        .directory()
        .members(&call.param("group"), &page)
        .await?;
    listing(users, page.amount)
}

async fn membership(call: Call, member: bool) -> Answer {
    let (group, user) = (call.param("group"), call.param("user"));
    call.gate
        .access
        .directory()
        .set_member(&group, &user, member)
        .await?;
    call.gate.access.changed();
    tracing::info!(by = %call.gate.user, group = %group, user = %user, member, "audit: membership changed");
    if member { created() } else { deleted() }
}

pub(super) async fn add_member(call: Call) -> Answer {
    membership(call, true).await
}

pub(super) async fn remove_member(call: Call) -> Answer {
    membership(call, false).await
}

pub(super) async fn group_policies(call: Call) -> Answer {
    let page = page_query(&call)?;
    let policies = call
        .gate
        .access
        .directory()
        .attached(true, &call.param("group"), &page)
        .await?;
    listing(policies, page.amount)
}

pub(super) async fn list_policies(call: Call) -> Answer {
    let page = page_query(&call)?;
    listing(
        call.gate.access.directory().policies(&page).await?,
        page.amount,
    )
}

pub(super) async fn create_policy(call: Call) -> Answer {
    let gate = call.gate.clone();
    let policy: Policy = read_json(call.req).await?;
    gate.require(&[Need::new("auth:CreatePolicy", arn::policy(&policy.id))])
        .await?;
    let policy = gate.access.directory().put_policy(policy, false).await?;
    tracing::info!(by = %gate.user, policy = %policy.id, "audit: policy created");
    reply(StatusCode::CREATED, policy)
}

pub(super) async fn get_policy(call: Call) -> Answer {
    let policy = call
        .gate
        .access
        .directory()
        .policy(&call.param("policy"))
        .await?;
    reply(StatusCode::OK, policy)
}

pub(super) async fn update_policy(call: Call) -> Answer {
    let gate = call.gate.clone();
    let id = call.param("policy");
    let policy: Policy = read_json(call.req).await?;
    if policy.id != id {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            format!("the body's id {:?} is not the path's {id:?}", policy.id),
        ));
    }
    let policy = gate.access.directory().put_policy(policy, true).await?;
    gate.access.changed();
    tracing::info!(by = %gate.user, policy = %policy.id, "audit: policy updated");
    reply(StatusCode::OK, policy)
}

pub(super) async fn delete_policy(call: Call) -> Answer {
    let id = call.param("policy");
    call.gate.access.directory().delete_policy(&id).await?;
    call.gate.access.changed();
    tracing::info!(by = %call.gate.user, policy = %id, "audit: policy deleted");
    deleted()
}

/// `GET /user`: who the request's key belongs to.
pub(super) async fn current_user(call: Call) -> Answer {
    let user = match call.gate.access.directory().user(&call.gate.user).await {
        Ok(user) => user,
        // An admin key pair replaced by the environment has no record until the next start.
        Err(AccessError::NotFound(_)) => crate::api::User {
            id: call.gate.user.clone(),
            creation_date: 0,
            friendly_name: None,
            email: None,
        },
        Err(e) => return Err(e.into()),
    };
    reply(StatusCode::OK, crate::api::CurrentUser { user })
}
