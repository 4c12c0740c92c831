//! Required checks, set per repository by an admin (Sluice's own operations): pre-merge
//! actions that live outside every branch, so that no branch can remove or loosen them.
//! A definition that does not parse as an action is refused with 400 before it is stored.

use http::StatusCode;

use super::{Answer, ApiError, Call, Reply, read_json, reply};
use crate::api::{RequiredCheck, RequiredCheckCreation, RequiredCheckList};

pub(super) async fn list(call: Call) -> Answer {
    let checks = call.engine.required_checks(&call.param("repo")).await?;
    reply(
        StatusCode::OK,
        RequiredCheckList {
            checks: checks
                .into_iter()
                .map(|c| RequiredCheck {
                    name: c.name,
                    action: c.action,
                })
                .collect(),
        },
    )
}

pub(super) async fn set(call: Call) -> Answer {
    let (engine, repo, name) = (call.engine.clone(), call.param("repo"), call.param("name"));
    let body: RequiredCheckCreation = read_json(call.req).await?;
    let path = format!("{}{name}", sluice_query::gate::REQUIRED_PREFIX);
    sluice_query::actions::Action::parse(&path, &body.action)
        .map_err(|e| ApiError::new(StatusCode::BAD_REQUEST, e.to_string()))?;
    engine
        .set_required_check(
            &repo,
            sluice_meta::RequiredCheck {
                name,
                action: body.action,
            },
        )
        .await?;
    Ok(Reply::Empty(StatusCode::NO_CONTENT))
}

pub(super) async fn delete(call: Call) -> Answer {
    call.engine
        .delete_required_check(&call.param("repo"), &call.param("name"))
        .await?;
    Ok(Reply::Empty(StatusCode::NO_CONTENT))
}
