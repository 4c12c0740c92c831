//! The resources permissions name, as lakeFS writes them, so that lakeFS users' policies
//! carry over: `arn:lakefs:fs:::repository/{repo}`, `.../branch/{branch}`,
//! `.../tag/{tag}`, `.../object/{path}` (the path without the branch: a branch is a
//! condition's business), and `arn:lakefs:auth:::{user|group|policy}/{id}`.

/// Every resource (lakeFS's `*`).
pub const ALL: &str = "*";

/// A repository.
pub fn repository(repo: &str) -> String {
    format!("arn:lakefs:fs:::repository/{repo}")
}

/// A branch of a repository.
pub fn branch(repo: &str, branch: &str) -> String {
    format!("arn:lakefs:fs:::repository/{repo}/branch/{branch}")
}

/// A tag of a repository.
pub fn tag(repo: &str, tag: &str) -> String {
    format!("arn:lakefs:fs:::repository/{repo}/tag/{tag}")
}

/// An object (or a prefix of objects) of a repository, on whichever ref.
pub fn object(repo: &str, path: &str) -> String {
    format!("arn:lakefs:fs:::repository/{repo}/object/{path}")
}

/// A user.
pub fn user(id: &str) -> String {
    format!("arn:lakefs:auth:::user/{id}")
}

/// A group.
pub fn group(id: &str) -> String {
    format!("arn:lakefs:auth:::group/{id}")
}

/// A policy.
pub fn policy(id: &str) -> String {
    format!("arn:lakefs:auth:::policy/{id}")
}
