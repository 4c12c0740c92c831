//! Request and response bodies of the REST API under `/api/v1`, in lakeFS's shapes.
//!
//! The server builds these and serialises them; the CLI deserialises answers into them. A
//! field renamed here changes the wire format: `openapi_matches_types` (in
//! `crate::rest`) fails when this file and `openapi.json` disagree.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// lakeFS's pagination object.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Pagination {
    /// More results after these.
    pub has_more: bool,
    /// What to pass as `after` for the next page; empty on the last page.
    pub next_offset: String,
    /// How many results this page holds.
    pub results: usize,
    /// The page size asked for.
    pub max_per_page: usize,
}

impl Pagination {
    /// The pagination of a page of `results` items, `next` being the last item's key.
    pub fn new(has_more: bool, next: Option<&str>, results: usize, max_per_page: usize) -> Self {
        Self {
            has_more,
            next_offset: if has_more {
                next.unwrap_or("").to_string()
            } else {
                String::new()
            },
            results,
            max_per_page,
        }
    }
}

/// A page of a listing: `{pagination, results}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct List<T> {
    /// Where this page stands.
    pub pagination: Pagination,
    /// The items.
    pub results: Vec<T>,
}

impl<T> List<T> {
    /// A page of `results`, `next` being the key of the last one.
    pub fn new(results: Vec<T>, has_more: bool, next: Option<&str>, amount: usize) -> Self {
        Self {
            pagination: Pagination::new(has_more, next, results.len(), amount),
            results,
        }
    }
}

/// An error answer: `{"message": ...}`, with the conflicting paths of a refused merge or
/// the report of a pre-merge gate's refusal.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ErrorBody {
    /// One line for people.
    pub message: String,
    /// Paths changed on both sides of a merge.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub conflicts: Option<Vec<String>>,
    /// Why a pre-merge gate refused a merge.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub report: Option<serde_json::Value>,
}

/// The lakeFS release whose v1 API Sluice's answers are checked against: the version of the
/// `lakefs-sdk` package the integration suite drives. Reported as the server version so
/// that clients that gate features on it (lakefs-spec's `touch` needs 1.3.1) use them.
pub const LAKEFS_API_VERSION: &str = "1.88.0";

/// `GET /config/version`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct VersionConfig {
    /// The lakeFS API version Sluice answers as ([`LAKEFS_API_VERSION`]): lakeFS clients
    /// compare it against the features they use.
    pub version: String,
    /// Sluice's own name and version.
    pub version_context: String,
    /// Always false.
    pub upgrade_recommended: bool,
}

/// `GET /config/storage`: what lakeFS clients check before they upload.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[allow(missing_docs)]
pub struct StorageConfig {
    pub blockstore_type: String,
    pub blockstore_namespace_example: String,
    #[serde(rename = "blockstore_namespace_ValidityRegex")]
    pub blockstore_namespace_validity_regex: String,
    pub default_namespace_prefix: String,
    pub pre_sign_support: bool,
    pub pre_sign_support_ui: bool,
    pub import_support: bool,
    pub import_validity_regex: String,
    pub pre_sign_multipart_upload: bool,
}

/// `GET /config`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Config {
    /// The version.
    pub version_config: VersionConfig,
    /// The storage.
    pub storage_config: StorageConfig,
}

pub use crate::access::directory::{Credentials, CredentialsWithSecret, Group, User};
pub use crate::access::policy::{Policy, Statement};

/// `POST /auth/users` (lakeFS's `UserCreation`; `invite_user` is accepted and has no
/// effect: Sluice sends no email).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UserCreation {
    /// The new user's name.
    pub id: String,
    /// A display name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub friendly_name: Option<String>,
    /// An email address.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    /// lakeFS's invitation flag.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub invite_user: Option<bool>,
}

/// `POST /auth/groups` (lakeFS's `GroupCreation`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GroupCreation {
    /// The new group's name.
    pub id: String,
    /// What it is for.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
}

/// `GET /user`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CurrentUser {
    /// Who the request's credentials are.
    pub user: User,
}

/// A repository.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Repository {
    /// Its name.
    pub id: String,
    /// Seconds since the epoch.
    pub creation_date: i64,
    /// The branch it was created with.
    pub default_branch: String,
    /// Where its objects live.
    pub storage_namespace: String,
    /// Always false.
    pub read_only: bool,
}

/// `POST /repositories`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RepositoryCreation {
    /// The repository's name.
    pub name: String,
    /// Where its objects live (`local://...`, `s3://...`).
    pub storage_namespace: String,
    /// Its first branch [default: main].
    #[serde(default = "main_branch")]
    pub default_branch: String,
    /// lakeFS's sample data: not offered, so `true` is refused rather than ignored.
    #[serde(default)]
    pub sample_data: bool,
    /// lakeFS's read-only repositories: not offered, so `true` is refused.
    #[serde(default)]
    pub read_only: bool,
    /// lakeFS Enterprise's storage id: Sluice has one storage setting, so a non-empty id is
    /// refused.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub storage_id: Option<String>,
}

fn main_branch() -> String {
    "main".into()
}

/// A branch or a tag: its name and commit.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Ref {
    /// The name.
    pub id: String,
    /// The commit it points at.
    pub commit_id: String,
}

/// `POST /repositories/{repo}/branches` (answered with the new head as a JSON string).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BranchCreation {
    /// The new branch.
    pub name: String,
    /// The ref it starts from.
    pub source: String,
}

/// `PUT /repositories/{repo}/branches/{branch}`: drop uncommitted changes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ResetCreation {
    /// `reset` (everything), `object` or `common_prefix` (with `path`).
    #[serde(rename = "type")]
    pub kind: String,
    /// The object or prefix.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
}

/// `POST /repositories/{repo}/branches/{branch}/cherry-pick` (lakeFS's `cherryPick`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CherryPickCreation {
    /// The commit to cherry-pick, given by a ref.
    #[serde(rename = "ref")]
    pub reference: String,
    /// Which parent of a merge commit to take the change against (1-based).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parent_number: Option<usize>,
    /// The new commit's message and metadata, instead of the picked commit's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub commit_overrides: Option<CommitOverrides>,
    /// As lakeFS: commit even when the branch has the change already (an empty commit).
    /// Never overrides a conflict or branch protection.
    #[serde(default)]
    pub force: bool,
}

/// `POST /repositories/{repo}/branches/{branch}/import` (lakeFS's `importStart`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ImportCreation {
    /// The sources and where their objects land.
    pub paths: Vec<ImportLocation>,
    /// The import's commit.
    pub commit: CommitCreation,
    /// lakeFS's override of a read-only repository; Sluice has none, so it changes nothing.
    #[serde(default)]
    pub force: bool,
}

/// One source of an import.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ImportLocation {
    /// `common_prefix` or `object`.
    #[serde(rename = "type")]
    pub kind: String,
    /// `s3://BUCKET/PREFIX` or `file:///PATH` (under the config's import roots).
    pub path: String,
    /// The path prefix (for `common_prefix`) or the path (for `object`) on the branch.
    pub destination: String,
}

/// The answer to an import's start.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ImportCreationResponse {
    /// The import's id.
    pub id: String,
}

/// `GET /repositories/{repo}/branches/{branch}/import?id=` (lakeFS's `importStatus`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ImportStatus {
    /// The commit landed.
    pub completed: bool,
    /// When the import last made progress (RFC 3339).
    pub update_time: String,
    /// Objects found so far.
    pub ingested_objects: u64,
    /// The commit's tree, once completed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metarange_id: Option<String>,
    /// The commit, once completed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub commit: Option<Commit>,
    /// Why it stopped (a cancel, a source that cannot be read).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<ErrorBody>,
}

/// A commit's message and metadata given instead of the defaults.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CommitOverrides {
    /// The message.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    /// The metadata.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub metadata: BTreeMap<String, String>,
}

/// `POST /repositories/{repo}/branches/{branch}/revert`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RevertCreation {
    /// The commit to revert.
    #[serde(rename = "ref")]
    pub reference: String,
    /// Which parent of a merge commit (1-based; 0 for a plain commit).
    #[serde(default)]
    pub parent_number: usize,
    /// Commit even when the revert changes nothing.
    #[serde(default)]
    pub allow_empty: bool,
    /// The revert commit's message and metadata, instead of "Revert {commit}".
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub commit_overrides: Option<CommitOverrides>,
    /// lakeFS's override of a read-only repository; Sluice has none, so it changes nothing.
    #[serde(default)]
    pub force: bool,
}

/// A commit.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Commit {
    /// Its id.
    pub id: String,
    /// Its parents' ids.
    pub parents: Vec<String>,
    /// Who made it.
    pub committer: String,
    /// Its message.
    pub message: String,
    /// Seconds since the epoch.
    pub creation_date: i64,
    /// The root of its tree.
    pub meta_range_id: String,
    /// Key/values given at commit time.
    pub metadata: BTreeMap<String, String>,
    /// Distance from the first commit.
    pub generation: u64,
    /// The commit format: 1.
    pub version: u32,
}

impl Commit {
    /// The commit `c` whose id is `id`.
    pub fn from_meta(id: &str, c: &sluice_meta::Commit) -> Self {
        Self {
            id: id.to_string(),
            parents: c.parents.clone(),
            committer: c.committer.clone(),
            message: c.message.clone(),
            creation_date: c.created_ms / 1000,
            meta_range_id: c.tree.clone(),
            metadata: c.metadata.clone(),
            generation: c.generation,
            version: 1,
        }
    }
}

/// `POST /repositories/{repo}/branches/{branch}/commits`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CommitCreation {
    /// The message.
    pub message: String,
    /// Key/values to record.
    #[serde(default)]
    pub metadata: BTreeMap<String, String>,
    /// Commit even with nothing staged.
    #[serde(default)]
    pub allow_empty: bool,
    /// The commit's creation date instead of now, Unix seconds (lakeFS's override).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub date: Option<i64>,
}

/// One changed path of a diff.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Diff {
    /// `added`, `removed`, `changed`, or `prefix_changed` for a common prefix (with a
    /// delimiter).
    #[serde(rename = "type")]
    pub kind: String,
    /// The path, or the common prefix.
    pub path: String,
    /// `object`, or `common_prefix`.
    pub path_type: String,
    /// The size on the side that has it (the right side when both do); none for a prefix.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub size_bytes: Option<u64>,
}

/// `POST /repositories/{repo}/refs/{source}/merge/{destination}`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Merge {
    /// The merge commit's message.
    #[serde(default)]
    pub message: Option<String>,
    /// Key/values to record.
    #[serde(default)]
    pub metadata: BTreeMap<String, String>,
    /// `source-wins` or `dest-wins`; none fails on conflicts.
    #[serde(default)]
    pub strategy: Option<String>,
    /// Merge even when nothing changes.
    #[serde(default)]
    pub allow_empty: bool,
    /// One parent (the destination's head) instead of two.
    #[serde(default)]
    pub squash_merge: bool,
    /// lakeFS's override of a read-only repository; Sluice has none, so it changes nothing.
    #[serde(default)]
    pub force: bool,
}

/// A required check: a pre-merge action set per repository, outside every branch.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RequiredCheck {
    /// Its name.
    pub name: String,
    /// The action definition (YAML, in the action-file shape).
    pub action: String,
}

/// `GET /repositories/{repo}/settings/required_checks`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RequiredCheckList {
    /// The checks, by name.
    pub checks: Vec<RequiredCheck>,
}

/// `PUT /repositories/{repo}/settings/required_checks/{name}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RequiredCheckCreation {
    /// The action definition (YAML).
    pub action: String,
}

/// The answer to a task's start (an async merge).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TaskCreation {
    /// The task's id.
    pub id: String,
}

/// `GET .../merge/{dest}/async/{id}/status`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MergeAsyncStatus {
    /// The task's id.
    pub task_id: String,
    /// The merge finished, merged or refused.
    pub completed: bool,
    /// When the task last made progress (RFC 3339).
    pub update_time: String,
    /// The merge, once it succeeded.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub result: Option<MergeResult>,
    /// Why it failed: what the synchronous merge would have answered.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<MergeAsyncError>,
}

/// A failed async merge: the synchronous call's status and error body.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MergeAsyncError {
    /// The HTTP status the synchronous merge would have answered (409, 412, ...).
    pub status_code: u16,
    /// One line for people.
    pub message: String,
    /// Paths changed on both sides.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub conflicts: Option<Vec<String>>,
    /// Why a pre-merge check refused the merge.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub report: Option<serde_json::Value>,
}

/// A merge's answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MergeResult {
    /// The commit the destination now points at.
    pub reference: String,
}

/// `GET /repositories/{repo}/refs/{source}/merge/{destination}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FindMergeBaseResult {
    /// The source's commit.
    pub source_commit_id: String,
    /// The destination's commit.
    pub destination_commit_id: String,
    /// Their merge base; empty when they share no history.
    pub base_commit_id: String,
}

/// A branch protection rule.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BranchProtectionRule {
    /// A glob over branch names.
    pub pattern: String,
}

/// `POST /repositories/{repo}/tags`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TagCreation {
    /// The tag's name.
    pub id: String,
    /// The ref it points at.
    #[serde(rename = "ref")]
    pub reference: String,
}

/// An object, or a common prefix of a delimited listing (`path_type` `common_prefix`,
/// without size, metadata or content type).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ObjectStats {
    /// The path.
    pub path: String,
    /// `object` or `common_prefix`.
    pub path_type: String,
    /// Where the bytes are.
    pub physical_address: String,
    /// The ETag.
    pub checksum: String,
    /// The size.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub size_bytes: Option<u64>,
    /// Seconds since the epoch.
    pub mtime: i64,
    /// User metadata.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metadata: Option<BTreeMap<String, String>>,
    /// The content type.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub content_type: Option<String>,
}

impl ObjectStats {
    /// The object `e` at `path`.
    pub fn object(path: &str, e: &sluice_meta::Entry) -> Self {
        Self {
            path: path.to_string(),
            path_type: "object".into(),
            physical_address: e.address.clone(),
            checksum: e.etag.clone(),
            size_bytes: Some(e.size),
            mtime: e.last_modified_ms / 1000,
            // Keys under `sluice:` hold S3's system headers (Cache-Control, ...), not user
            // metadata.
            metadata: Some(
                e.metadata
                    .iter()
                    .filter(|(k, _)| !k.starts_with("sluice:"))
                    .map(|(k, v)| (k.clone(), v.clone()))
                    .collect(),
            ),
            content_type: Some(
                e.content_type
                    .clone()
                    .unwrap_or_else(|| "application/octet-stream".into()),
            ),
        }
    }

    /// The common prefix `path`.
    pub fn prefix(path: &str) -> Self {
        Self {
            path: path.to_string(),
            path_type: "common_prefix".into(),
            physical_address: String::new(),
            checksum: String::new(),
            size_bytes: None,
            mtime: 0,
            metadata: None,
            content_type: None,
        }
    }
}

/// `POST /repositories/{repo}/branches/{branch}/objects/delete`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PathList {
    /// At most 1,000 paths.
    pub paths: Vec<String>,
}

/// A path that could not be deleted.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ObjectError {
    /// The path.
    pub path: String,
    /// An HTTP status.
    pub status_code: u16,
    /// Why.
    pub message: String,
}

/// The answer of a delete of many paths.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ObjectErrorList {
    /// The paths not deleted.
    pub errors: Vec<ObjectError>,
}

/// `POST /repositories/{repo}/branches/{branch}/objects/copy?dest_path=...`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ObjectCopyCreation {
    /// The source object.
    pub src_path: String,
    /// Its ref [default: the destination branch].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub src_ref: Option<String>,
}

/// `POST /repositories/{repo}/gc`; every field is optional, and so is the body.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GcRequest {
    /// Report what would be deleted, delete nothing.
    #[serde(default)]
    pub dry_run: bool,
    /// Objects younger than this are kept [default: 6 hours].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub grace_seconds: Option<u64>,
}

/// What a garbage collection did, and how it was asked.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct GcResult {
    /// Physical objects seen.
    pub examined: u64,
    /// Objects still reachable.
    pub reachable: u64,
    /// Objects deleted (or that would be, in a dry run).
    pub deleted: u64,
    /// Their bytes.
    pub deleted_bytes: u64,
    /// Unreachable objects spared by the grace period.
    pub too_young: u64,
    /// Whether nothing was deleted.
    pub dry_run: bool,
    /// The grace period used.
    pub grace_seconds: u64,
}

impl GcResult {
    /// The answer for `report`.
    pub fn new(report: &sluice_meta::GcReport, dry_run: bool, grace_seconds: u64) -> Self {
        Self {
            examined: report.examined,
            reachable: report.reachable,
            deleted: report.deleted,
            deleted_bytes: report.deleted_bytes,
            too_young: report.too_young,
            dry_run,
            grace_seconds,
        }
    }
}

/// `POST /repositories/{repo}/refs/{ref}/sql`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SqlRequest {
    /// One SQL statement over the ref's tables.
    pub query: String,
    /// Rows to return at most.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_rows: Option<usize>,
}

/// lakeFS's `GarbageCollectionRules`: `GET/PUT /repositories/{repo}/settings/gc_rules`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GarbageCollectionRules {
    /// Days of history kept on a branch without a rule of its own.
    pub default_retention_days: u32,
    /// Branches with their own period.
    pub branches: Vec<GarbageCollectionRule>,
}

/// One branch's retention period.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GarbageCollectionRule {
    /// The branch.
    pub branch_id: String,
    /// Days of its history kept.
    pub retention_days: u32,
}

impl From<sluice_meta::RetentionRules> for GarbageCollectionRules {
    fn from(r: sluice_meta::RetentionRules) -> Self {
        Self {
            default_retention_days: r.default_retention_days,
            branches: r
                .branches
                .into_iter()
                .map(|b| GarbageCollectionRule {
                    branch_id: b.branch_id,
                    retention_days: b.retention_days,
                })
                .collect(),
        }
    }
}

impl From<GarbageCollectionRules> for sluice_meta::RetentionRules {
    fn from(r: GarbageCollectionRules) -> Self {
        Self {
            default_retention_days: r.default_retention_days,
            branches: r
                .branches
                .into_iter()
                .map(|b| sluice_meta::BranchRetention {
                    branch_id: b.branch_id,
                    retention_days: b.retention_days,
                })
                .collect(),
        }
    }
}

/// `POST /repositories/{repo}/metadata` (lakeFS's `setRepositoryMetadata`): keys to set.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RepositoryMetadataSet {
    /// The keys and values to set.
    pub metadata: BTreeMap<String, String>,
}

/// `DELETE /repositories/{repo}/metadata` (lakeFS's `deleteRepositoryMetadata`): keys to remove.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RepositoryMetadataKeys {
    /// The keys to remove.
    pub keys: Vec<String>,
}

/// `PUT .../objects/stat/user_metadata` (lakeFS's `updateObjectUserMetadata`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UpdateObjectUserMetadata {
    /// The object's new user metadata, replacing all of it.
    pub set: BTreeMap<String, String>,
}

/// lakeFS's `StagingLocation`: where a client may write an object's bytes itself.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StagingLocation {
    /// The physical address to link afterwards.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub physical_address: Option<String>,
    /// A URL to PUT the bytes to, when `presign=true` was asked.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub presigned_url: Option<String>,
    /// When that URL expires, in Unix seconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub presigned_url_expiry: Option<i64>,
}

/// lakeFS's `StagingMetadata`: what a client wrote at a staging location.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StagingMetadata {
    /// Where it wrote.
    pub staging: StagingLocation,
    /// The backing store's ETag of the bytes.
    pub checksum: String,
    /// Their size.
    pub size_bytes: u64,
    /// User metadata.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_metadata: Option<BTreeMap<String, String>>,
    /// The content type.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub content_type: Option<String>,
    /// Accepted for lakeFS's clients; the store's own time is kept.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mtime: Option<i64>,
    /// Accepted for lakeFS's clients (there are no read-only repositories to force).
    #[serde(default)]
    pub force: bool,
}
