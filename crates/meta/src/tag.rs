//! Tags: immutable names for commits.

use crate::commit::CommitId;
use crate::engine::Engine;
use crate::error::{Error, ErrorKind, Result};
use crate::keys;
use crate::kv::{KvExt, WriteBatch};
use crate::page::{Page, PageRequest, scan_page};
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

    /// A page of tags in name order, the prefix applied while scanning.
    pub async fn list_tags(&self, repo: &str, request: &PageRequest) -> Result<Page<Tag>> {
        let repo = self.repository(repo).await?;
        let page = scan_page(
            self.inner.kv.as_ref(),
            &keys::tag_prefix(&repo.instance),
            request,
            |_, _| Ok(true),
        )
        .await?;
        let mut items = Vec::with_capacity(page.items.len());
        for (name, value) in page.items {
            let commit = String::from_utf8(value).map_err(|_| Error::corrupt("tag target"))?;
            items.push(Tag { name, commit });
        }
        Ok(Page {
            items,
            has_more: page.has_more,
        })
    }
}
