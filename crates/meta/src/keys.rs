//! The layout of metadata keys. Every family starts with one letter; everything inside a
//! repository is keyed by the repository's instance id, so that a deleted repository's
//! leftovers can never reappear under a new repository of the same name.

/// `r/{name}` -> repository record.
pub(crate) fn repo(name: &str) -> Vec<u8> {
    format!("r/{name}").into_bytes()
}
pub(crate) fn repo_prefix() -> Vec<u8> {
    b"r/".to_vec()
}
/// `b/{repo}/{branch}` -> branch record.
pub(crate) fn branch(repo: &str, name: &str) -> Vec<u8> {
    format!("b/{repo}/{name}").into_bytes()
}
pub(crate) fn branch_prefix(repo: &str) -> Vec<u8> {
    format!("b/{repo}/").into_bytes()
}
/// `t/{repo}/{tag}` -> commit id.
pub(crate) fn tag(repo: &str, name: &str) -> Vec<u8> {
    format!("t/{repo}/{name}").into_bytes()
}
pub(crate) fn tag_prefix(repo: &str) -> Vec<u8> {
    format!("t/{repo}/").into_bytes()
}
/// `c/{repo}/{commit id}` -> commit.
pub(crate) fn commit(repo: &str, id: &str) -> Vec<u8> {
    format!("c/{repo}/{id}").into_bytes()
}
pub(crate) fn commit_prefix(repo: &str) -> Vec<u8> {
    format!("c/{repo}/").into_bytes()
}
/// `g/{repo}/{range id}` -> range (a node of a tree, at any level).
pub(crate) fn range(repo: &str, id: &str) -> Vec<u8> {
    format!("g/{repo}/{id}").into_bytes()
}
/// `s/{repo}/{token}/{path}` -> staged value (entry or tombstone).
pub(crate) fn staged(repo: &str, token: &str, path: &[u8]) -> Vec<u8> {
    let mut k = staging_prefix(repo, token);
    k.extend_from_slice(path);
    k
}
pub(crate) fn staging_prefix(repo: &str, token: &str) -> Vec<u8> {
    format!("s/{repo}/{token}/").into_bytes()
}
/// `d/{repo}/{id}` -> the bytes of a small object kept inline (address `kv/{id}`).
pub(crate) fn blob(repo: &str, id: &str) -> Vec<u8> {
    format!("d/{repo}/{id}").into_bytes()
}
pub(crate) fn blob_prefix(repo: &str) -> Vec<u8> {
    format!("d/{repo}/").into_bytes()
}
/// `u/{repo}/{upload id}` -> multipart upload.
pub(crate) fn upload(repo: &str, id: &str) -> Vec<u8> {
    format!("u/{repo}/{id}").into_bytes()
}
pub(crate) fn upload_prefix(repo: &str) -> Vec<u8> {
    format!("u/{repo}/").into_bytes()
}
/// `p/{repo}/{upload id}/{part:05}` -> uploaded part.
pub(crate) fn part(repo: &str, upload: &str, number: u32) -> Vec<u8> {
    format!("p/{repo}/{upload}/{number:05}").into_bytes()
}
pub(crate) fn part_prefix(repo: &str, upload: &str) -> Vec<u8> {
    format!("p/{repo}/{upload}/").into_bytes()
}
/// `x/{repo}` -> branch protection rules.
pub(crate) fn protection(repo: &str) -> Vec<u8> {
    format!("x/{repo}").into_bytes()
}
/// `k/{repo}` -> retention (garbage collection) rules.
pub(crate) fn retention(repo: &str) -> Vec<u8> {
    format!("k/{repo}").into_bytes()
}
/// `q/{repo}` -> the repository's required checks.
pub(crate) fn required_checks(repo: &str) -> Vec<u8> {
    format!("q/{repo}").into_bytes()
}
/// `e/{repo}` -> the repository's user metadata (lakeFS's repository metadata).
pub(crate) fn repo_metadata(repo: &str) -> Vec<u8> {
    format!("e/{repo}").into_bytes()
}
/// `a/{repo}/{run id}` -> the record of a pre-merge action run (JSON).
pub(crate) fn action_run(repo: &str, id: &str) -> Vec<u8> {
    format!("a/{repo}/{id}").into_bytes()
}
pub(crate) fn action_run_prefix(repo: &str) -> Vec<u8> {
    format!("a/{repo}/").into_bytes()
}
/// `h/{repo}/{address digest}/{kind digest}` -> an index derived from a physical object.
pub(crate) fn file_index(repo: &str, address: &str, kind: &str) -> Vec<u8> {
    format!("h/{repo}/{address}/{kind}").into_bytes()
}
pub(crate) fn file_index_prefix(repo: &str, address: &str) -> Vec<u8> {
    format!("h/{repo}/{address}/").into_bytes()
}
/// `i/{repo}/{import id}` -> an import's status.
pub(crate) fn import(repo: &str, id: &str) -> Vec<u8> {
    format!("i/{repo}/{id}").into_bytes()
}
/// Every family that lives inside a repository, for deleting one (`m/` holds completed
/// multipart uploads, see `multipart.rs`). The single keys `x/{repo}`, `k/{repo}`,
/// `e/{repo}` and `q/{repo}` are deleted beside these.
pub(crate) fn repo_families(repo: &str) -> Vec<Vec<u8>> {
    ["b", "t", "c", "g", "s", "u", "p", "d", "a", "m", "i", "h"]
        .iter()
        .map(|f| format!("{f}/{repo}/").into_bytes())
        .collect()
}
