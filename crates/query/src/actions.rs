//! Action files: YAML under `_sluice_actions/` on the source branch, in lakeFS's shape.
//!
//! ```yaml
//! name: reviews quality gate
//! on:
//!   pre-merge:
//!     branches: [main]          # glob patterns; absent: every branch
//! hooks:
//!   - id: reviews_not_duplicated
//!     type: row_check
//!     properties:
//!       prefix: reviews/
//!       no_duplicate_rows: true
//! ```
//!
//! Unknown hook types and unknown `row_check` settings are errors, so that a typo refuses
//! the merge instead of passing it unchecked.

use std::collections::BTreeMap;

use serde::Deserialize;
use sluice_meta::protection::glob_matches;

use crate::error::{QueryError, Result};

/// Where action files live on a ref.
pub const ACTIONS_PREFIX: &str = "_sluice_actions/";

/// One action file.
#[derive(Debug, Clone, Deserialize, PartialEq)]
pub struct Action {
    /// Its name, shown in runs.
    pub name: String,
    /// Its description.
    #[serde(default)]
    pub description: Option<String>,
    /// The events it runs on.
    pub on: BTreeMap<String, Option<EventFilter>>,
    /// Its hooks, run in order.
    pub hooks: Vec<Hook>,
}

/// Which branches an event applies to.
#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
pub struct EventFilter {
    /// Glob patterns of destination branches; absent means all.
    #[serde(default)]
    pub branches: Option<Vec<String>>,
}

/// One hook.
#[derive(Debug, Clone, Deserialize, PartialEq)]
pub struct Hook {
    /// Its id, unique within the action.
    pub id: String,
    /// `row_check`, `sql_check` or `webhook`.
    #[serde(rename = "type")]
    pub kind: String,
    /// Its description.
    #[serde(default)]
    pub description: Option<String>,
    /// Type-specific settings.
    #[serde(default)]
    pub properties: serde_yaml_ng::Value,
}

/// What a `row_check` hook checks.
#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct RowCheck {
    /// The folder checked.
    #[serde(default)]
    pub prefix: String,
    /// Refuse a change that adds rows identical to existing ones, or repeats rows.
    #[serde(default)]
    pub no_duplicate_rows: bool,
    /// Compare rows on these columns only (implies a duplicate check).
    #[serde(default)]
    pub key_columns: Option<Vec<String>>,
    /// Refuse a merge that grows the destination's rows by more than this percentage.
    #[serde(default)]
    pub max_row_growth_pct: Option<f64>,
    /// Refuse a merge that shrinks the destination's rows by more than this percentage.
    #[serde(default)]
    pub max_row_shrink_pct: Option<f64>,
    /// Refuse a change of columns or column types.
    #[serde(default)]
    pub schema_unchanged: bool,
}

impl RowCheck {
    /// Whether duplicates are looked for.
    pub fn checks_duplicates(&self) -> bool {
        self.no_duplicate_rows || self.key_columns.as_ref().is_some_and(|k| !k.is_empty())
    }
}

/// What a `webhook` hook calls (lakeFS's properties).
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Webhook {
    /// The URL to POST the event to.
    pub url: String,
    /// How long to wait, as `30s`, `2m`, `1m30s`; default one minute.
    #[serde(default)]
    pub timeout: Option<String>,
    /// Query parameters added to the URL.
    #[serde(default)]
    pub query_params: BTreeMap<String, serde_yaml_ng::Value>,
}

/// What a `sql_check` hook asks of the tree the merge would produce.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct SqlCheck {
    /// A query over the merge's result; each folder of Parquet files is a table, named as
    /// `sluice sql` names them.
    pub query: String,
    /// How many rows the query must return for the merge to go ahead [default: 0].
    #[serde(default)]
    pub expect_rows: u64,
}

/// A hook's settings, typed.
#[derive(Debug, Clone, PartialEq)]
pub enum HookKind {
    /// A row check.
    RowCheck(RowCheck),
    /// A SQL check.
    SqlCheck(SqlCheck),
    /// A webhook.
    Webhook(Webhook),
}

impl Action {
    /// Parse an action file; `path` names it in errors.
    pub fn parse(path: &str, text: &str) -> Result<Action> {
        let bad = |message: String| QueryError::ActionFile {
            path: path.to_string(),
            message,
        };
        let action: Action = serde_yaml_ng::from_str(text).map_err(|e| bad(e.to_string()))?;
        let mut ids = std::collections::HashSet::new();
        for hook in &action.hooks {
            if !ids.insert(hook.id.as_str()) {
                return Err(bad(format!("hook id {:?} appears twice", hook.id)));
            }
            hook.settings()
                .map_err(|e| bad(format!("hook {:?}: {e}", hook.id)))?;
        }
        Ok(action)
    }

    /// Whether the action runs before a merge into `branch`.
    pub fn runs_before_merge_into(&self, branch: &str) -> bool {
        match self.on.get("pre-merge") {
            None => false,
            Some(None) => true,
            Some(Some(filter)) => match &filter.branches {
                None => true,
                Some(patterns) => patterns.iter().any(|p| glob_matches(p, branch)),
            },
        }
    }
}

impl Hook {
    /// The typed settings.
    pub fn settings(&self) -> Result<HookKind, String> {
        let props = match &self.properties {
            serde_yaml_ng::Value::Null => serde_yaml_ng::Value::Mapping(Default::default()),
            v => v.clone(),
        };
        match self.kind.as_str() {
            "row_check" => serde_yaml_ng::from_value(props)
                .map(HookKind::RowCheck)
                .map_err(|e| e.to_string()),
            "webhook" => serde_yaml_ng::from_value(props)
                .map(HookKind::Webhook)
                .map_err(|e| e.to_string()),
            "sql_check" => serde_yaml_ng::from_value(props)
                .map(HookKind::SqlCheck)
                .map_err(|e| e.to_string()),
            other => Err(format!(
                "unknown hook type {other:?} (this server runs row_check, sql_check and webhook)"
            )),
        }
    }
}

/// Parse a duration like `30s`, `2m`, `1m30s`, `500ms`, `1h`.
pub fn parse_duration(text: &str) -> Result<std::time::Duration, String> {
    let bad = || format!("invalid duration {text:?} (use e.g. 30s, 2m, 1m30s)");
    let mut total = std::time::Duration::ZERO;
    let mut rest = text.trim();
    if rest.is_empty() {
        return Err(bad());
    }
    while !rest.is_empty() {
        let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
        if digits == 0 {
            return Err(bad());
        }
        let n: u64 = rest[..digits].parse().map_err(|_| bad())?;
        rest = &rest[digits..];
        let unit = rest.bytes().take_while(u8::is_ascii_alphabetic).count();
        let step = match &rest[..unit] {
            "ms" => std::time::Duration::from_millis(n),
            "s" => std::time::Duration::from_secs(n),
            "m" => std::time::Duration::from_secs(n * 60),
            "h" => std::time::Duration::from_secs(n * 3600),
            _ => return Err(bad()),
        };
        total += step;
        rest = &rest[unit..];
    }
    Ok(total)
}

#[cfg(test)]
mod tests {
    use super::*;

    const GATE: &str = r#"
name: reviews quality gate
on:
  pre-merge:
    branches: [main]          # glob patterns
hooks:
  - id: reviews_not_duplicated
    type: row_check
    properties:
      prefix: reviews/
      no_duplicate_rows: true         # or key_columns: [review_id]
      max_row_growth_pct: 50          # optional
      schema_unchanged: true          # optional
"#;

    #[test]
    fn the_issue_example_parses() {
        let a = Action::parse("_sluice_actions/gate.yaml", GATE).unwrap();
        assert_eq!(a.name, "reviews quality gate");
        assert!(a.runs_before_merge_into("main"));
        assert!(!a.runs_before_merge_into("dev"));
        match a.hooks[0].settings().unwrap() {
            HookKind::RowCheck(c) => {
                assert_eq!(c.prefix, "reviews/");
                assert!(c.no_duplicate_rows);
                assert_eq!(c.max_row_growth_pct, Some(50.0));
                assert!(c.schema_unchanged);
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn events_and_globs() {
        let a = Action::parse(
            "a.yaml",
            "name: x\non:\n  pre-merge:\nhooks:\n  - id: w\n    type: webhook\n    properties:\n      url: http://h/\n      timeout: 1m30s\n",
        )
        .unwrap();
        assert!(a.runs_before_merge_into("anything"));
        let b = Action::parse(
            "b.yaml",
            "name: x\non:\n  pre-merge:\n    branches: ['release-*']\n  pre-commit: {}\nhooks: []\n",
        )
        .unwrap();
        assert!(b.runs_before_merge_into("release-1"));
        assert!(!b.runs_before_merge_into("main"));
        let c = Action::parse("c.yaml", "name: x\non:\n  pre-commit:\nhooks: []\n").unwrap();
        assert!(!c.runs_before_merge_into("main"));
    }

    #[test]
    fn mistakes_are_errors() {
        for (text, needle) in [
            (
                "name: x\non: {pre-merge: }\nhooks:\n  - id: a\n    type: lua\n",
                "unknown hook type",
            ),
            (
                "name: x\non: {pre-merge: }\nhooks:\n  - id: a\n    type: row_check\n    properties: {no_dupes: true}\n",
                "no_dupes",
            ),
            (
                "name: x\non: {pre-merge: }\nhooks:\n  - id: a\n    type: row_check\n  - id: a\n    type: row_check\n",
                "twice",
            ),
            ("name: x\nhooks: [", "a.yaml"),
            (
                "name: x\non: {pre-merge: }\nhooks:\n  - id: w\n    type: webhook\n",
                "url",
            ),
        ] {
            let e = Action::parse("a.yaml", text).unwrap_err().to_string();
            assert!(e.contains(needle), "{e} should mention {needle}");
        }
    }

    #[test]
    fn durations() {
        assert_eq!(parse_duration("30s").unwrap().as_secs(), 30);
        assert_eq!(parse_duration("1m30s").unwrap().as_secs(), 90);
        assert_eq!(parse_duration("250ms").unwrap().as_millis(), 250);
        assert!(parse_duration("soon").is_err());
        assert!(parse_duration("10").is_err());
    }
}
