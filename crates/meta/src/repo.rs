//! Repositories: names, storage namespaces and the stored repository record; and the name
//! rules shared by branches and tags.

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// A repository as stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Repository {
    /// Its name, under S3's bucket-name rules.
    pub name: String,
    /// Where its objects live: `local://NAME` or `s3://bucket/prefix`.
    pub storage_namespace: String,
    /// The branch that cannot be deleted and that S3 `CreateBucket` makes.
    pub default_branch: String,
    /// Creation time, milliseconds since the Unix epoch.
    pub created_ms: i64,
    /// A unique id of this incarnation; keys of the repository's metadata live under it.
    pub(crate) instance: String,
}

/// Check `name` against S3's bucket-name rules (the repository is the bucket).
pub fn validate_repository_name(name: &str) -> Result<()> {
    let bad = |why: &str| {
        Err(Error::invalid(format!(
            "invalid repository name {name:?}: {why}"
        )))
    };
    if name.len() < 3 || name.len() > 63 {
        return bad("must be 3 to 63 characters long");
    }
    if !name
        .bytes()
        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'.')
    {
        return bad("only lowercase letters, digits, hyphens and dots are allowed");
    }
    let first = name.as_bytes()[0];
    let last = name.as_bytes()[name.len() - 1];
    if !first.is_ascii_alphanumeric() || !last.is_ascii_alphanumeric() {
        return bad("must begin and end with a letter or digit");
    }
    if name.contains("..") || name.contains(".-") || name.contains("-.") {
        return bad("dots may not be adjacent to dots or hyphens");
    }
    if name.split('.').count() == 4 && name.split('.').all(|p| p.parse::<u8>().is_ok()) {
        return bad("must not look like an IP address");
    }
    if name.starts_with("xn--") || name.ends_with("-s3alias") {
        return bad("reserved prefix or suffix");
    }
    Ok(())
}

/// Check a branch or tag name: lakeFS's rule, a word character then word characters or
/// hyphens, at most 256 bytes.
pub fn validate_ref_name(kind: &str, name: &str) -> Result<()> {
    let ok = !name.is_empty()
        && name.len() <= 256
        && name
            .bytes()
            .next()
            .is_some_and(|b| b.is_ascii_alphanumeric() || b == b'_')
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
    if ok {
        Ok(())
    } else {
        Err(Error::invalid(format!(
            "invalid {kind} name {name:?}: use letters, digits, '_' and '-', starting with a letter, digit or '_'"
        )))
    }
}

/// A parsed storage namespace.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Namespace {
    /// A folder under the data directory's storage root.
    Local(String),
    /// A bucket and key prefix in S3.
    S3 {
        /// The bucket.
        bucket: String,
        /// The key prefix, without leading or trailing slashes; may be empty.
        prefix: String,
    },
}

impl Namespace {
    /// Parse `local://NAME` or `s3://bucket/prefix`.
    pub fn parse(uri: &str) -> Result<Self> {
        if let Some(name) = uri.strip_prefix("local://") {
            let name = name.trim_end_matches('/');
            let ok = !name.is_empty()
                && name != "."
                && name != ".."
                && name
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b));
            if !ok {
                return Err(Error::invalid(format!(
                    "invalid storage namespace {uri:?}: local://NAME takes one folder name of letters, digits, '-', '_' and '.'"
                )));
            }
            return Ok(Namespace::Local(name.to_string()));
        }
        if let Some(rest) = uri.strip_prefix("s3://") {
            let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
            if bucket.is_empty() {
                return Err(Error::invalid(format!(
                    "invalid storage namespace {uri:?}: no bucket"
                )));
            }
            return Ok(Namespace::S3 {
                bucket: bucket.to_string(),
                prefix: prefix.trim_matches('/').to_string(),
            });
        }
        Err(Error::invalid(format!(
            "invalid storage namespace {uri:?}: expected local://NAME or s3://bucket/prefix"
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn repository_names() {
        for ok in ["abc", "my-repo", "data.lake-2", "a23"] {
            validate_repository_name(ok).unwrap();
        }
        for bad in [
            "ab",
            "Abc",
            "-abc",
            "abc-",
            "a..b",
            "a.-b",
            "192.168.1.1",
            "xn--abc",
            "has_underscore",
            "has/slash",
            &"a".repeat(64),
        ] {
            assert!(validate_repository_name(bad).is_err(), "{bad} accepted");
        }
    }

    #[test]
    fn ref_names() {
        for ok in ["main", "double-branch", "_x", "v1", "feature_1-2"] {
            validate_ref_name("branch", ok).unwrap();
        }
        for bad in ["", "-x", "a/b", "a~1", "a^", "a b", "a.b", "é"] {
            assert!(validate_ref_name("branch", bad).is_err(), "{bad} accepted");
        }
    }

    #[test]
    fn namespaces() {
        assert_eq!(
            Namespace::parse("local://lake").unwrap(),
            Namespace::Local("lake".into())
        );
        assert_eq!(
            Namespace::parse("s3://b/p/q/").unwrap(),
            Namespace::S3 {
                bucket: "b".into(),
                prefix: "p/q".into()
            }
        );
        for bad in [
            "local://",
            "local://..",
            "local://a/b",
            "file:///x",
            "s3://",
        ] {
            assert!(Namespace::parse(bad).is_err(), "{bad} accepted");
        }
    }
}

mod ops {
    use crate::commit::Commit;
    use crate::encoding;
    use crate::engine::Engine;
    use crate::error::{Error, ErrorKind, Result};
    use crate::keys;
    use crate::kv::{KvExt, WriteBatch};
    use crate::page::{Page, PageRequest, scan_page};

    use super::{Namespace, Repository, validate_ref_name, validate_repository_name};
    use crate::branch::BranchRecord;

    impl Engine {
        /// Create a repository with an empty first commit on its default branch.
        pub async fn create_repository(
            &self,
            name: &str,
            storage_namespace: &str,
            default_branch: &str,
        ) -> Result<Repository> {
            validate_repository_name(name)?;
            validate_ref_name("branch", default_branch)?;
            Namespace::parse(storage_namespace)?;
            let kv = &self.inner.kv;
            if kv.get(&keys::repo(name)).await?.is_some() {
                return Err(Error::already_exists(format!("repository {name:?}")));
            }
            for existing in self.list_repositories(&PageRequest::all()).await?.items {
                if existing.storage_namespace.trim_end_matches('/')
                    == storage_namespace.trim_end_matches('/')
                {
                    return Err(Error::conflict(format!(
                        "storage namespace {storage_namespace} is already used by repository {:?}",
                        existing.name
                    )));
                }
            }
            // Open (and for local namespaces, create) the storage before recording anything.
            self.inner.storage.namespace(storage_namespace)?;

            let repo = Repository {
                name: name.to_string(),
                storage_namespace: storage_namespace.to_string(),
                default_branch: default_branch.to_string(),
                created_ms: self.now_ms(),
                instance: uuid::Uuid::new_v4().simple().to_string(),
            };
            let (tree_id, tree_bytes) = crate::tree::TreeStore::empty_root();
            let first = Commit {
                parents: vec![],
                tree: tree_id.clone(),
                message: "Repository created".into(),
                committer: String::new(),
                created_ms: repo.created_ms,
                metadata: Default::default(),
                generation: 1,
            };
            let (commit_id, commit_bytes) = first.encode_with_id();
            let branch = BranchRecord::clean(commit_id.clone());
            let mut batch = WriteBatch::new();
            batch.require(keys::repo(name), None);
            batch.put(keys::repo(name), encoding::encode(&repo));
            batch.put(keys::range(&repo.instance, &tree_id), tree_bytes);
            batch.put(keys::commit(&repo.instance, &commit_id), commit_bytes);
            batch.put(
                keys::branch(&repo.instance, default_branch),
                branch.encode(),
            );
            match kv.write(batch).await {
                Err(e) if e.kind() == ErrorKind::PreconditionFailed => {
                    Err(Error::already_exists(format!("repository {name:?}")))
                }
                other => other.map(|()| repo),
            }
        }

        /// A repository by name.
        /// Served from the repository handles within [`HANDLE_TTL`](crate::HANDLE_TTL).
        pub async fn repository(&self, name: &str) -> Result<Repository> {
            if let Some(repo) = self.inner.handles.repository(name) {
                return Ok(repo);
            }
            let bytes = self
                .inner
                .kv
                .get(&keys::repo(name))
                .await?
                .ok_or_else(|| Error::not_found(format!("repository {name:?}")))?;
            let repo: Repository = encoding::decode(&bytes, "repository")?;
            self.inner.handles.remember_repository(&repo);
            Ok(repo)
        }

        /// The repository's user metadata (lakeFS's repository metadata).
        pub async fn repository_metadata(
            &self,
            name: &str,
        ) -> Result<std::collections::BTreeMap<String, String>> {
            let repo = self.repository(name).await?;
            match self
                .inner
                .kv
                .get(&keys::repo_metadata(&repo.instance))
                .await?
            {
                Some(bytes) => encoding::decode(&bytes, "repository metadata"),
                None => Ok(Default::default()),
            }
        }

        /// Set some keys of the repository's metadata (`set`) and remove others
        /// (`remove`), atomically against concurrent changes.
        pub async fn update_repository_metadata(
            &self,
            name: &str,
            set: std::collections::BTreeMap<String, String>,
            remove: &[String],
        ) -> Result<std::collections::BTreeMap<String, String>> {
            let repo = self.repository(name).await?;
            let key = keys::repo_metadata(&repo.instance);
            loop {
                let current = self.inner.kv.get(&key).await?;
                let mut map: std::collections::BTreeMap<String, String> = match &current {
                    Some(bytes) => encoding::decode(bytes, "repository metadata")?,
                    None => Default::default(),
                };
                for k in remove {
                    map.remove(k);
                }
                map.extend(set.clone());
                let new = encoding::encode(&map);
                if self
                    .inner
                    .kv
                    .compare_and_swap(&key, current.as_deref(), Some(&new))
                    .await?
                {
                    return Ok(map);
                }
            }
        }

        /// A page of repositories in name order, the prefix applied while scanning.
        pub async fn list_repositories(&self, request: &PageRequest) -> Result<Page<Repository>> {
            let page = scan_page(
                self.inner.kv.as_ref(),
                &keys::repo_prefix(),
                request,
                |_, _| Ok(true),
            )
            .await?;
            let mut items = Vec::with_capacity(page.items.len());
            for (_, value) in page.items {
                items.push(encoding::decode(&value, "repository")?);
            }
            Ok(Page {
                items,
                has_more: page.has_more,
            })
        }

        /// Delete a repository's metadata. Its objects stay in the storage namespace.
        pub async fn delete_repository(&self, name: &str) -> Result<()> {
            let kv = &self.inner.kv;
            let key = keys::repo(name);
            let bytes = kv
                .get(&key)
                .await?
                .ok_or_else(|| Error::not_found(format!("repository {name:?}")))?;
            let repo: Repository = encoding::decode(&bytes, "repository")?;
            self.inner.handles.forget_repository(name);
            if !kv.compare_and_swap(&key, Some(&bytes), None).await? {
                return Err(Error::conflict(format!(
                    "repository {name:?} changed while being deleted"
                )));
            }
            // The record is gone, so nothing reaches the rest; removing it is cleanup.
            for prefix in keys::repo_families(&repo.instance) {
                kv.delete_prefix(&prefix, 10_000).await?;
            }
            kv.delete(&keys::protection(&repo.instance)).await?;
            kv.delete(&keys::retention(&repo.instance)).await?;
            kv.delete(&keys::repo_metadata(&repo.instance)).await?;
            kv.delete(&keys::required_checks(&repo.instance)).await?;
            Ok(())
        }
    }
}
