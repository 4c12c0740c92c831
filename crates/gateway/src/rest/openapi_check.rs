//! The OpenAPI document checked against the [`crate::api`] types: for each schema the
//! document describes, a representative value of the matching type is serialised and its
//! fields compared with the schema's properties, names and JSON types, both ways. A field
//! renamed in either place fails here.

use std::collections::{BTreeMap, BTreeSet};

use serde::Serialize;
use serde_json::{Value, json};

use super::OPENAPI;
use crate::api::*;

fn doc() -> Value {
    serde_json::from_str(OPENAPI).expect("openapi.json is valid JSON")
}

/// The schema `name`, with a `$ref` followed.
fn resolve<'a>(doc: &'a Value, schema: &'a Value) -> &'a Value {
    match schema.get("$ref").and_then(Value::as_str) {
        Some(r) => {
            let name = r
                .strip_prefix("#/components/schemas/")
                .unwrap_or_else(|| panic!("unexpected $ref {r}"));
            &doc["components"]["schemas"][name]
        }
        None => schema,
    }
}

fn json_type(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(n) if n.is_i64() || n.is_u64() => "integer",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

/// Differences between `value` and `schema`, each naming where (`at`).
fn compare(doc: &Value, schema: &Value, value: &Value, at: &str, out: &mut Vec<String>) {
    let schema = resolve(doc, schema);
    let Some(expected) = schema.get("type").and_then(Value::as_str) else {
        return;
    };
    let actual = json_type(value);
    if actual != expected && !(expected == "number" && actual == "integer") {
        out.push(format!(
            "{at}: the type serialises as {actual}, the document says {expected}"
        ));
        return;
    }
    match value {
        Value::Object(fields) => {
            if let Some(props) = schema.get("properties").and_then(Value::as_object) {
                let in_doc: BTreeSet<&String> = props.keys().collect();
                let in_type: BTreeSet<&String> = fields.keys().collect();
                for missing in in_doc.difference(&in_type) {
                    out.push(format!("{at}.{missing}: in the document, not in the type"));
                }
                for extra in in_type.difference(&in_doc) {
                    out.push(format!("{at}.{extra}: in the type, not in the document"));
                }
                for (k, v) in fields {
                    if let Some(s) = props.get(k) {
                        compare(doc, s, v, &format!("{at}.{k}"), out);
                    }
                }
            } else if let Some(s) = schema.get("additionalProperties") {
                for (k, v) in fields {
                    compare(doc, s, v, &format!("{at}[{k:?}]"), out);
                }
            }
        }
        Value::Array(items) => {
            if let Some(s) = schema.get("items") {
                for (i, v) in items.iter().enumerate() {
                    compare(doc, s, v, &format!("{at}[{i}]"), out);
                }
            }
        }
        _ => {}
    }
}

fn sample<T: Serialize>(v: T) -> Value {
    serde_json::to_value(v).expect("API types serialise")
}

fn required_check() -> RequiredCheck {
    RequiredCheck {
        name: "n".into(),
        action: "name: a".into(),
    }
}

fn merge_async_error() -> MergeAsyncError {
    MergeAsyncError {
        status_code: 412,
        message: "m".into(),
        conflicts: Some(vec!["p".into()]),
        report: Some(json!({})),
    }
}

fn import_location() -> ImportLocation {
    ImportLocation {
        kind: "common_prefix".into(),
        path: "s3://bucket/prefix/".into(),
        destination: "tables/".into(),
    }
}

fn pagination() -> Pagination {
    Pagination::new(true, Some("next"), 1, 100)
}

fn list<T: Serialize>(item: T) -> Value {
    sample(List {
        pagination: pagination(),
        results: vec![item],
    })
}

fn metadata() -> BTreeMap<String, String> {
    BTreeMap::from([("k".to_string(), "v".to_string())])
}

fn commit() -> Commit {
    Commit {
        id: "c1".into(),
        parents: vec!["c0".into()],
        committer: "me".into(),
        message: "m".into(),
        creation_date: 1,
        meta_range_id: "t".into(),
        metadata: metadata(),
        generation: 2,
        version: 1,
    }
}

fn storage() -> StorageConfig {
    StorageConfig {
        blockstore_type: "local".into(),
        blockstore_namespace_example: "local://x".into(),
        blockstore_namespace_validity_regex: "^local://".into(),
        default_namespace_prefix: "local://".into(),
        pre_sign_support: false,
        pre_sign_support_ui: false,
        import_support: false,
        import_validity_regex: "^$".into(),
        pre_sign_multipart_upload: false,
    }
}

fn version() -> VersionConfig {
    VersionConfig {
        version: "0".into(),
        version_context: "sluice 0".into(),
        upgrade_recommended: false,
    }
}

fn repository() -> Repository {
    Repository {
        id: "r".into(),
        creation_date: 1,
        default_branch: "main".into(),
        storage_namespace: "local://r".into(),
        read_only: false,
    }
}

fn object() -> ObjectStats {
    ObjectStats {
        path: "a/b".into(),
        path_type: "object".into(),
        physical_address: "local://x/y".into(),
        checksum: "e".into(),
        size_bytes: Some(3),
        mtime: 1,
        metadata: Some(metadata()),
        content_type: Some("text/plain".into()),
    }
}

fn reference() -> Ref {
    Ref {
        id: "main".into(),
        commit_id: "c1".into(),
    }
}

fn diff() -> Diff {
    Diff {
        kind: "added".into(),
        path: "a".into(),
        path_type: "object".into(),
        size_bytes: Some(1),
    }
}

/// A representative value of the type behind each schema of the document, every optional
/// field filled in.
fn samples() -> BTreeMap<&'static str, Value> {
    BTreeMap::from([
        (
            "GarbageCollectionRequest",
            sample(GcRequest {
                dry_run: true,
                grace_seconds: Some(0),
            }),
        ),
        (
            "GarbageCollectionResult",
            sample(GcResult {
                examined: 3,
                reachable: 1,
                deleted: 2,
                deleted_bytes: 10,
                too_young: 0,
                dry_run: false,
                grace_seconds: 0,
            }),
        ),
        (
            "BranchCreation",
            sample(BranchCreation {
                name: "b".into(),
                source: "main".into(),
            }),
        ),
        ("Commit", sample(commit())),
        (
            "CommitCreation",
            sample(CommitCreation {
                message: "m".into(),
                metadata: metadata(),
                allow_empty: false,
                date: Some(1),
            }),
        ),
        ("CommitList", list(commit())),
        (
            "Config",
            sample(Config {
                version_config: version(),
                storage_config: storage(),
            }),
        ),
        ("Diff", sample(diff())),
        ("DiffList", list(diff())),
        (
            "Error",
            sample(ErrorBody {
                message: "no".into(),
                conflicts: Some(vec!["a".into()]),
                report: Some(json!({ "problems": [] })),
            }),
        ),
        (
            "FindMergeBaseResult",
            sample(FindMergeBaseResult {
                source_commit_id: "s".into(),
                destination_commit_id: "d".into(),
                base_commit_id: "b".into(),
            }),
        ),
        (
            "Merge",
            sample(Merge {
                message: Some("m".into()),
                metadata: metadata(),
                strategy: Some("source-wins".into()),
                allow_empty: false,
                squash_merge: false,
                force: false,
            }),
        ),
        ("RequiredCheck", sample(required_check())),
        (
            "RequiredCheckList",
            sample(RequiredCheckList {
                checks: vec![required_check()],
            }),
        ),
        (
            "RequiredCheckCreation",
            sample(RequiredCheckCreation {
                action: "name: a".into(),
            }),
        ),
        ("TaskCreation", sample(TaskCreation { id: "t".into() })),
        ("MergeAsyncError", sample(merge_async_error())),
        (
            "MergeAsyncStatus",
            sample(MergeAsyncStatus {
                task_id: "t".into(),
                completed: true,
                update_time: "2026-01-01T00:00:00Z".into(),
                result: Some(MergeResult {
                    reference: "c".into(),
                }),
                error: Some(merge_async_error()),
            }),
        ),
        (
            "MergeResult",
            sample(MergeResult {
                reference: "c".into(),
            }),
        ),
        (
            "ObjectCopyCreation",
            sample(ObjectCopyCreation {
                src_path: "a".into(),
                src_ref: Some("main".into()),
            }),
        ),
        (
            "ObjectErrorList",
            sample(ObjectErrorList {
                errors: vec![ObjectError {
                    path: "a".into(),
                    status_code: 404,
                    message: "gone".into(),
                }],
            }),
        ),
        ("ObjectStats", sample(object())),
        ("ObjectStatsList", list(object())),
        ("Pagination", sample(pagination())),
        (
            "PathList",
            sample(PathList {
                paths: vec!["a".into()],
            }),
        ),
        ("Ref", sample(reference())),
        ("RefList", list(reference())),
        ("Repository", sample(repository())),
        (
            "RepositoryCreation",
            sample(RepositoryCreation {
                name: "r".into(),
                storage_namespace: "local://r".into(),
                default_branch: "main".into(),
                sample_data: false,
                read_only: false,
                storage_id: Some("".into()),
            }),
        ),
        ("RepositoryList", list(repository())),
        (
            "ResetCreation",
            sample(ResetCreation {
                kind: "object".into(),
                path: Some("a".into()),
            }),
        ),
        (
            "GarbageCollectionRules",
            sample(GarbageCollectionRules {
                default_retention_days: 21,
                branches: vec![GarbageCollectionRule {
                    branch_id: "main".into(),
                    retention_days: 7,
                }],
            }),
        ),
        (
            "GarbageCollectionRule",
            sample(GarbageCollectionRule {
                branch_id: "main".into(),
                retention_days: 7,
            }),
        ),
        (
            "RepositoryMetadataSet",
            sample(RepositoryMetadataSet {
                metadata: metadata(),
            }),
        ),
        (
            "RepositoryMetadataKeys",
            sample(RepositoryMetadataKeys {
                keys: vec!["k".into()],
            }),
        ),
        (
            "UpdateObjectUserMetadata",
            sample(UpdateObjectUserMetadata { set: metadata() }),
        ),
        (
            "StagingLocation",
            sample(StagingLocation {
                physical_address: Some("s3://b/p/data/00/x".into()),
                presigned_url: Some("https://b.s3/x?X-Amz-Signature=y".into()),
                presigned_url_expiry: Some(1),
            }),
        ),
        (
            "StagingMetadata",
            sample(StagingMetadata {
                staging: StagingLocation {
                    physical_address: Some("s3://b/p/data/00/x".into()),
                    presigned_url: Some("https://b.s3/x?X-Amz-Signature=y".into()),
                    presigned_url_expiry: Some(1),
                },
                checksum: "abc".into(),
                size_bytes: 3,
                user_metadata: Some(metadata()),
                content_type: Some("text/plain".into()),
                mtime: Some(1),
                force: false,
            }),
        ),
        (
            "ImportCreation",
            sample(ImportCreation {
                paths: vec![import_location()],
                commit: CommitCreation {
                    message: "m".into(),
                    metadata: metadata(),
                    allow_empty: false,
                    date: Some(1),
                },
                force: false,
            }),
        ),
        ("ImportLocation", sample(import_location())),
        (
            "ImportCreationResponse",
            sample(ImportCreationResponse { id: "i".into() }),
        ),
        (
            "ImportStatus",
            sample(ImportStatus {
                completed: true,
                update_time: "2026-01-01T00:00:00Z".into(),
                ingested_objects: 3,
                metarange_id: Some("t".into()),
                commit: Some(commit()),
                error: Some(ErrorBody {
                    message: "m".into(),
                    conflicts: Some(vec!["p".into()]),
                    report: Some(json!({})),
                }),
            }),
        ),
        (
            "CherryPickCreation",
            sample(CherryPickCreation {
                reference: "c".into(),
                parent_number: Some(1),
                commit_overrides: Some(CommitOverrides {
                    message: Some("m".into()),
                    metadata: metadata(),
                }),
                force: false,
            }),
        ),
        (
            "CommitOverrides",
            sample(CommitOverrides {
                message: Some("m".into()),
                metadata: metadata(),
            }),
        ),
        (
            "RevertCreation",
            sample(RevertCreation {
                reference: "c".into(),
                parent_number: 1,
                allow_empty: false,
                commit_overrides: Some(CommitOverrides {
                    message: Some("m".into()),
                    metadata: metadata(),
                }),
                force: false,
            }),
        ),
        ("StorageConfig", sample(storage())),
        (
            "TagCreation",
            sample(TagCreation {
                id: "v1".into(),
                reference: "main".into(),
            }),
        ),
        ("VersionConfig", sample(version())),
        ("User", sample(user())),
        ("UserList", list(user())),
        ("CurrentUser", sample(CurrentUser { user: user() })),
        (
            "UserCreation",
            sample(UserCreation {
                id: "ann".into(),
                friendly_name: Some("Ann".into()),
                email: Some("ann@example.com".into()),
                invite_user: Some(false),
            }),
        ),
        ("Group", sample(group())),
        ("GroupList", list(group())),
        (
            "GroupCreation",
            sample(GroupCreation {
                id: "Developers".into(),
                description: Some("d".into()),
            }),
        ),
        ("Credentials", sample(credentials())),
        ("CredentialsList", list(credentials())),
        (
            "CredentialsWithSecret",
            sample(CredentialsWithSecret {
                access_key_id: "AKIAJEXAMPLE".into(),
                secret_access_key: "secret".into(),
                creation_date: 1,
            }),
        ),
        ("Statement", sample(statement())),
        ("Policy", sample(policy())),
        ("PolicyList", list(policy())),
    ])
}

fn user() -> User {
    User {
        id: "ann".into(),
        creation_date: 1,
        friendly_name: Some("Ann".into()),
        email: Some("ann@example.com".into()),
    }
}

fn group() -> Group {
    Group {
        id: "Developers".into(),
        name: Some("Developers".into()),
        description: Some("d".into()),
        creation_date: 1,
    }
}

fn credentials() -> Credentials {
    Credentials {
        access_key_id: "AKIAJEXAMPLE".into(),
        creation_date: 1,
    }
}

fn statement() -> Statement {
    Statement {
        effect: "allow".into(),
        resource: "*".into(),
        action: vec!["fs:ReadObject".into()],
        condition: Some(
            [(
                "StringLike".to_string(),
                [("Branch".to_string(), vec!["dev-*".to_string()])]
                    .into_iter()
                    .collect(),
            )]
            .into_iter()
            .collect(),
        ),
    }
}

fn policy() -> Policy {
    Policy {
        id: "P".into(),
        creation_date: Some(1),
        statement: vec![statement()],
    }
}

#[test]
fn openapi_matches_types() {
    let doc = doc();
    let schemas = doc["components"]["schemas"]
        .as_object()
        .expect("components.schemas");
    let samples = samples();
    let mut problems = Vec::new();
    for name in schemas.keys() {
        if !samples.contains_key(name.as_str()) {
            problems.push(format!("{name}: a schema with no type checked against it"));
        }
    }
    for (name, value) in &samples {
        match schemas.get(*name) {
            Some(schema) => compare(&doc, schema, value, name, &mut problems),
            None => problems.push(format!("{name}: no such schema in openapi.json")),
        }
    }
    assert!(
        problems.is_empty(),
        "openapi.json and crate::api disagree:\n{}",
        problems.join("\n")
    );
}

/// The check itself: a renamed field is caught on either side.
#[test]
fn a_renamed_field_is_caught() {
    let doc = doc();
    let schema = &doc["components"]["schemas"]["Ref"];
    let mut renamed = sample(reference());
    let id = renamed
        .as_object_mut()
        .unwrap()
        .remove("commit_id")
        .unwrap();
    renamed["commitId"] = id;
    let mut problems = Vec::new();
    compare(&doc, schema, &renamed, "Ref", &mut problems);
    assert_eq!(problems.len(), 2, "{problems:?}");
    let mut wrong_type = sample(reference());
    wrong_type["id"] = json!(1);
    problems.clear();
    compare(&doc, schema, &wrong_type, "Ref", &mut problems);
    assert_eq!(problems.len(), 1, "{problems:?}");
}

/// Every route the API serves is in the document (under its method), so the document can
/// not fall behind the route table. Path parameters are compared by position, not name.
#[test]
fn every_route_is_documented() {
    let doc = doc();
    let paths = doc["paths"].as_object().expect("paths");
    let shape = |p: &str| {
        p.split('/')
            .map(|s| if s.starts_with('{') { "{}" } else { s })
            .collect::<Vec<_>>()
            .join("/")
    };
    let documented: BTreeSet<(String, String)> = paths
        .iter()
        .flat_map(|(p, ops)| {
            let p = shape(p);
            ops.as_object()
                .into_iter()
                .flat_map(|o| o.keys())
                .map(move |m| (m.to_ascii_uppercase(), p.clone()))
        })
        .collect();
    let missing: Vec<String> = super::ROUTES
        .iter()
        .filter(|r| !documented.contains(&(r.method.to_string(), shape(r.pattern))))
        .map(|r| format!("{} {}", r.method, r.pattern))
        .collect();
    assert!(
        missing.is_empty(),
        "routes missing from openapi.json: {missing:?}"
    );
}
