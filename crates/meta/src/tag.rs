//! Tags: immutable names for commits.

use crate::commit::CommitId;
use crate::engine::Engine;
use crate::error::{Error, ErrorKind, Result};
use crate::keys;
use crate::kv::{KvExt, WriteBatch, prefix_end};
use crate::repo::validate_ref_name;

/// A tag.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tag {
    /// Its name.
    pub name: String,
    /// The commit it names.
    pub commit: CommitId,
}

impl Engine {
    /// Create tag `name` at the commit `target` resolves to.
    pub async fn create_tag(&self, repo: &str, name: &str, target: &str) -> Result<Tag> {
        validate_ref_name("tag", name)?;
        let repo = self.repository(repo).await?;
        let commit = self.resolve(&repo, target).await?.commit;
        let key = keys::tag(&repo.instance, name);
        let mut batch = WriteBatch::new();
        batch.require(key.clone(), None);
        batch.put(key, commit.as_bytes());
        match self.inner.kv.write(batch).await {
            Err(e) if e.kind() == ErrorKind::PreconditionFailed => {
                Err(Error::already_exists(format!("tag {name:?}")))
            }
            Err(e) => Err(e),
            Ok(()) => Ok(Tag {
                name: name.to_string(),
                commit,
            }),
        }
    }

    /// A tag.
    pub async fn tag(&self, repo: &str, name: &str) -> Result<Tag> {
        let repo = self.repository(repo).await?;
        let bytes = self
            .inner
            .kv
            .get(&keys::tag(&repo.instance, name))
            .await?
            .ok_or_else(|| Error::not_found(format!("tag {name:?}")))?;
        Ok(Tag {
            name: name.to_string(),
            commit: String::from_utf8(bytes).map_err(|_| Error::corrupt("tag target"))?,
        })
    }

    /// Delete a tag.
    pub async fn delete_tag(&self, repo: &str, name: &str) -> Result<()> {
        let repo = self.repository(repo).await?;
        let key = keys::tag(&repo.instance, name);
        let Some(bytes) = self.inner.kv.get(&key).await? else {
            return Err(Error::not_found(format!("tag {name:?}")));
        };
        self.inner
            .kv
            .compare_and_swap(&key, Some(&bytes), None)
            .await?;
        Ok(())
    }

    /// Tags in name order, strictly after `after`, at most `limit`.
    pub async fn list_tags(
        &self,
        repo: &str,
        after: Option<&str>,
        limit: usize,
    ) -> Result<Vec<Tag>> {
        let repo = self.repository(repo).await?;
        let prefix = keys::tag_prefix(&repo.instance);
        let start = match after {
            Some(a) => {
                let mut s = keys::tag(&repo.instance, a);
                s.push(0);
                s
            }
            None => prefix.clone(),
        };
        let rows = self
            .inner
            .kv
            .scan(&start, &prefix_end(&prefix), limit)
            .await?;
        rows.into_iter()
            .map(|(k, v)| {
                Ok(Tag {
                    name: String::from_utf8_lossy(&k[prefix.len()..]).into_owned(),
                    commit: String::from_utf8(v).map_err(|_| Error::corrupt("tag target"))?,
                })
            })
            .collect()
    }
}
