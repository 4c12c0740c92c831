//! Policies in lakeFS's shape, and how a request is judged against them.
//!
//! A policy is a list of statements: an effect (`allow` or `deny`), actions
//! (`service:Name`, globs allowed) and a resource (an ARN with globs, `*`, or a JSON list of
//! either written inside the string). A request needs one or more permissions; each is
//! allowed when some statement allows it and none denies it (deny wins; no match denies).
//! Matching follows lakeFS: `*` matches any run of characters, `/` and `:` included, `?`
//! one character; an ARN's service, partition and account must be equal, its resource part
//! may hold globs, and `${user}` in a resource stands for the user asking.
//!
//! Conditions: `StringLike` and `StringNotLike` over the request's fields, as lakeFS has
//! them. Sluice fills one field, `Branch` (the branch a request writes or reads through),
//! so that a policy can limit object writes to branches. lakeFS's `IpAddress` conditions
//! are refused when a policy is saved, not silently ignored.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// One statement of a policy.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Statement {
    /// `allow` or `deny`.
    pub effect: String,
    /// An ARN (globs allowed), `*`, or a JSON list of them inside the string.
    pub resource: String,
    /// Actions such as `fs:ReadObject` or `fs:*`.
    pub action: Vec<String>,
    /// `{operator: {field: [patterns]}}`; every operator must hold.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub condition: Option<BTreeMap<String, BTreeMap<String, Vec<String>>>>,
}

/// A named set of statements.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Policy {
    /// The policy's name.
    pub id: String,
    /// Unix epoch seconds.
    #[serde(default)]
    pub creation_date: Option<i64>,
    /// At least one statement.
    pub statement: Vec<Statement>,
}

/// What one request needs: an action on a resource, in a context.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Need {
    /// `service:Name`.
    pub action: &'static str,
    /// The ARN acted on.
    pub resource: String,
    /// The branch the request acts through, when there is one (the `Branch` field of
    /// conditions).
    pub branch: Option<String>,
}

impl Need {
    /// `action` on `resource`, outside any branch.
    pub fn new(action: &'static str, resource: String) -> Self {
        Self {
            action,
            resource,
            branch: None,
        }
    }

    /// The same need, acting through `branch`.
    pub fn on_branch(mut self, branch: impl Into<String>) -> Self {
        self.branch = Some(branch.into());
        self
    }
}

/// The condition operators Sluice evaluates.
const OPERATORS: &[&str] = &["StringLike", "StringNotLike"];
/// The condition fields Sluice fills.
pub const BRANCH_FIELD: &str = "Branch";

/// Why a policy cannot be saved.
pub fn validate(policy: &Policy) -> Result<(), String> {
    if !valid_name(&policy.id) {
        return Err(format!(
            "policy id {:?} must be 1-128 letters, digits or _.@+=- characters",
            policy.id
        ));
    }
    if policy.statement.is_empty() {
        return Err("a policy needs at least one statement".into());
    }
    for s in &policy.statement {
        if s.effect != "allow" && s.effect != "deny" {
            return Err(format!(
                "effect must be \"allow\" or \"deny\", not {:?}",
                s.effect
            ));
        }
        if s.action.is_empty() {
            return Err("a statement needs at least one action".into());
        }
        for a in &s.action {
            let valid = a.split_once(':').is_some_and(|(service, name)| {
                !service.is_empty()
                    && !name.is_empty()
                    && a.chars()
                        .all(|c| c.is_ascii_alphanumeric() || matches!(c, ':' | '*' | '?'))
            });
            if !valid {
                return Err(format!(
                    "action {a:?} is not of the form service:Action (globs allowed)"
                ));
            }
        }
        let resources = resources(&s.resource)?;
        for r in &resources {
            if r != "*" && parse_arn(r).is_none() {
                return Err(format!(
                    "resource {r:?} is not \"*\" nor an ARN like arn:lakefs:fs:::repository/name"
                ));
            }
        }
        for (operator, fields) in s.condition.iter().flatten() {
            if !OPERATORS.contains(&operator.as_str()) {
                return Err(format!(
                    "condition operator {operator:?} is not supported by Sluice (it evaluates {})",
                    OPERATORS.join(" and ")
                ));
            }
            for field in fields.keys() {
                if field != BRANCH_FIELD {
                    return Err(format!(
                        "condition field {field:?} is not known: Sluice fills {BRANCH_FIELD:?}"
                    ));
                }
            }
        }
    }
    Ok(())
}

/// True for a name lakeFS would also take for a user, group or policy, and which is safe
/// in a key and a URL path.
pub fn valid_name(name: &str) -> bool {
    (1..=128).contains(&name.len())
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '@' | '+' | '=' | '-'))
}

/// The resources a statement names: one, or a JSON list inside the string.
fn resources(resource: &str) -> Result<Vec<String>, String> {
    if resource.is_empty() {
        return Err("a statement needs a resource".into());
    }
    if resource.starts_with('[') && resource.ends_with(']') {
        return serde_json::from_str(resource)
            .map_err(|e| format!("resource list {resource:?} is not a JSON list: {e}"));
    }
    Ok(vec![resource.to_string()])
}

/// The `(partition, service, account, resource id)` of an ARN:
/// `arn:lakefs:{service}:{region}:{account}:{resource id}`.
fn parse_arn(arn: &str) -> Option<(&str, &str, &str, &str)> {
    let mut parts = arn.splitn(6, ':');
    let (prefix, partition, service, _region, account, id) = (
        parts.next()?,
        parts.next()?,
        parts.next()?,
        parts.next()?,
        parts.next()?,
        parts.next()?,
    );
    (prefix == "arn" && partition == "lakefs" && !service.is_empty() && !id.is_empty())
        .then_some((partition, service, account, id))
}

/// True when `pattern` (the statement's) matches the resource `arn` (the request's).
fn arn_matches(pattern: &str, arn: &str) -> bool {
    if pattern == "*" {
        return true;
    }
    match (parse_arn(pattern), parse_arn(arn)) {
        (Some((p1, s1, a1, id1)), Some((p2, s2, a2, id2))) => {
            p1 == p2 && s1 == s2 && a1 == a2 && glob_matches(id1, id2)
        }
        _ => false,
    }
}

/// Shell-style matching where `*` is any run of characters (`/` included) and `?` one.
pub fn glob_matches(pattern: &str, text: &str) -> bool {
    let p: Vec<char> = pattern.chars().collect();
    let t: Vec<char> = text.chars().collect();
    // Greedy matching with one backtrack point: linear in practice, never exponential.
    let (mut pi, mut ti) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while ti < t.len() {
        if pi < p.len() && (p[pi] == '?' || p[pi] == t[ti]) {
            pi += 1;
            ti += 1;
        } else if pi < p.len() && p[pi] == '*' {
            star = Some((pi, ti));
            pi += 1;
        } else if let Some((sp, st)) = star {
            pi = sp + 1;
            ti = st + 1;
            star = Some((sp, st + 1));
        } else {
            return false;
        }
    }
    p[pi..].iter().all(|c| *c == '*')
}

/// True when every condition of `s` holds for `need`.
fn conditions_hold(s: &Statement, need: &Need) -> bool {
    s.condition.iter().flatten().all(|(operator, fields)| {
        let negate = match operator.as_str() {
            "StringLike" => false,
            "StringNotLike" => true,
            // Unknown operators are refused when saved; one that got in denies.
            _ => return false,
        };
        fields.iter().all(|(field, patterns)| {
            let value = match field.as_str() {
                BRANCH_FIELD => need.branch.as_deref(),
                _ => None,
            };
            let Some(value) = value else {
                return false;
            };
            patterns.iter().any(|p| glob_matches(p, value)) != negate
        })
    })
}

/// The verdict of `policies` on `need` for `user`.
pub fn allows<'a>(policies: impl IntoIterator<Item = &'a Policy>, user: &str, need: &Need) -> bool {
    let mut allowed = false;
    for policy in policies {
        for s in &policy.statement {
            if !conditions_hold(s, need) {
                continue;
            }
            let Ok(resources) = resources(&s.resource) else {
                return false;
            };
            let resource_matches = resources
                .iter()
                .any(|r| arn_matches(&r.replace("${user}", user), &need.resource));
            if !resource_matches || !s.action.iter().any(|a| glob_matches(a, need.action)) {
                continue;
            }
            if s.effect == "deny" {
                return false;
            }
            allowed = true;
        }
    }
    allowed
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy(statements: serde_json::Value) -> Policy {
        let p: Policy = serde_json::from_value(serde_json::json!({
            "id": "P", "statement": statements
        }))
        .unwrap();
        validate(&p).unwrap();
        p
    }

    const OBJ: &str = "arn:lakefs:fs:::repository/lake/object/tables/a.parquet";

    #[test]
    fn globs_match_as_lakefs_does() {
        assert!(glob_matches("fs:Read*", "fs:ReadObject"));
        assert!(glob_matches("*", "a/b:c"));
        assert!(glob_matches(
            "repository/*/object/*",
            "repository/r/object/x/y"
        ));
        assert!(glob_matches("dev-?", "dev-1"));
        assert!(!glob_matches("dev-?", "dev-12"));
        assert!(!glob_matches("fs:Read*", "fs:WriteObject"));
        assert!(glob_matches("a*b*c", "axxbyyc"));
        assert!(!glob_matches("a*b*c", "axxbyy"));
    }

    #[test]
    fn deny_wins_and_nothing_matching_denies() {
        let p = policy(serde_json::json!([
            {"effect": "allow", "action": ["fs:*"], "resource": "*"},
            {"effect": "deny", "action": ["fs:WriteObject"],
             "resource": "arn:lakefs:fs:::repository/lake/object/tables/*"}
        ]));
        let read = Need::new("fs:ReadObject", OBJ.into());
        let write = Need::new("fs:WriteObject", OBJ.into());
        assert!(allows([&p], "u", &read));
        assert!(!allows([&p], "u", &write));
        assert!(!allows([], "u", &read));
        let auth = Need::new("auth:ListUsers", "*".into());
        assert!(!allows([&p], "u", &auth));
    }

    #[test]
    fn arn_parts_must_agree_and_user_is_interpolated() {
        let p = policy(serde_json::json!([{
            "effect": "allow", "action": ["auth:*Credentials"],
            "resource": "arn:lakefs:auth:::user/${user}"
        }]));
        let own = Need::new(
            "auth:CreateCredentials",
            "arn:lakefs:auth:::user/ann".into(),
        );
        assert!(allows([&p], "ann", &own));
        assert!(!allows([&p], "bob", &own));
        let fs = Need::new("auth:CreateCredentials", "arn:lakefs:fs:::user/ann".into());
        assert!(!allows([&p], "ann", &fs));
    }

    #[test]
    fn branch_conditions_limit_writes_to_branches() {
        let p = policy(serde_json::json!([{
            "effect": "allow", "action": ["fs:WriteObject"],
            "resource": "[\"arn:lakefs:fs:::repository/lake/object/*\"]",
            "condition": {"StringLike": {"Branch": ["dev-*"]}}
        }]));
        let w = Need::new("fs:WriteObject", OBJ.into());
        assert!(allows([&p], "u", &w.clone().on_branch("dev-1")));
        assert!(!allows([&p], "u", &w.clone().on_branch("main")));
        assert!(!allows([&p], "u", &w));
    }

    #[test]
    fn invalid_policies_are_refused() {
        let bad = |statements: serde_json::Value| {
            let p: Policy =
                serde_json::from_value(serde_json::json!({"id": "P", "statement": statements}))
                    .unwrap();
            validate(&p).unwrap_err()
        };
        bad(serde_json::json!([]));
        bad(serde_json::json!([{"effect": "maybe", "action": ["fs:*"], "resource": "*"}]));
        bad(serde_json::json!([{"effect": "allow", "action": ["*"], "resource": "*"}]));
        bad(serde_json::json!([{"effect": "allow", "action": ["fs:*"], "resource": "repo"}]));
        bad(
            serde_json::json!([{"effect": "allow", "action": ["fs:*"], "resource": "*",
            "condition": {"IpAddress": {"SourceIp": ["10.0.0.0/8"]}}}]),
        );
        assert!(!valid_name("a/b"));
        assert!(valid_name("Dev.Team-1"));
    }
}
