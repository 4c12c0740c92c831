//! Required checks: pre-merge action definitions an admin sets per repository (through the
//! API or `sluice checks`), kept in the metadata store where no branch can edit them. The
//! pre-merge gate runs them on every merge whose destination they name, beside the action
//! files of the destination's head. The engine stores the text; the gate parses it.

use serde::{Deserialize, Serialize};

use crate::encoding;
use crate::engine::Engine;
use crate::error::{Error, Result};
use crate::keys;
use crate::kv::KvExt;

/// One required check: a name and an action definition (YAML, in the action-file shape).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RequiredCheck {
    /// Its name, unique in the repository.
    pub name: String,
    /// The action definition.
    pub action: String,
}

/// The longest name a required check may have.
const MAX_NAME: usize = 128;

impl Engine {
    /// The repository's required checks, by name.
    pub async fn required_checks(&self, repo: &str) -> Result<Vec<RequiredCheck>> {
        let repo = self.repository(repo).await?;
        Ok(self
            .inner
            .kv
            .get(&keys::required_checks(&repo.instance))
            .await?
            .map(|b| encoding::decode(&b, "required checks"))
            .transpose()?
            .unwrap_or_default())
    }

    /// Add or replace the required check `check.name`. The caller has checked that the
    /// definition parses.
    pub async fn set_required_check(&self, repo: &str, check: RequiredCheck) -> Result<()> {
        if check.name.is_empty()
            || check.name.len() > MAX_NAME
            || !check
                .name
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b))
        {
            return Err(Error::invalid(format!(
                "check name {:?}: 1 to {MAX_NAME} letters, digits, '-', '_' or '.'",
                check.name
            )));
        }
        self.update_required_checks(repo, |checks| {
            checks.retain(|c| c.name != check.name);
            checks.push(check.clone());
            checks.sort_by(|a, b| a.name.cmp(&b.name));
            Ok(())
        })
        .await
    }

    /// Remove the required check `name`.
    pub async fn delete_required_check(&self, repo: &str, name: &str) -> Result<()> {
        self.update_required_checks(repo, |checks| {
            let before = checks.len();
            checks.retain(|c| c.name != name);
            if checks.len() == before {
                return Err(Error::not_found(format!("required check {name:?}")));
            }
            Ok(())
        })
        .await
    }

    /// Read, change and write the list with compare-and-swap, so that two admins' changes
    /// never overwrite each other.
    async fn update_required_checks(
        &self,
        repo: &str,
        change: impl Fn(&mut Vec<RequiredCheck>) -> Result<()>,
    ) -> Result<()> {
        let repo = self.repository(repo).await?;
        let key = keys::required_checks(&repo.instance);
        loop {
            let stored = self.inner.kv.get(&key).await?;
            let mut checks: Vec<RequiredCheck> = stored
                .as_deref()
                .map(|b| encoding::decode(b, "required checks"))
                .transpose()?
                .unwrap_or_default();
            change(&mut checks)?;
            let next = (!checks.is_empty()).then(|| encoding::encode(&checks));
            if self
                .inner
                .kv
                .compare_and_swap(&key, stored.as_deref(), next.as_deref())
                .await?
            {
                return Ok(());
            }
        }
    }
}
