//! Repository handles: what nearly every request reads of a repository (its record, with the
//! immutable instance and namespace, and its branch protection rules), kept in memory for a
//! short, bounded time so that a request costs round trips to the metadata store only for
//! what changes often (branch heads, staging).
//!
//! Staleness is bounded by [`HANDLE_TTL`]: a repository deleted (and re-created under the
//! same name) or a protection rule changed through another sidecar is seen here within
//! that time; through this engine, at once. Branch heads and staging are never cached.

use std::sync::Arc;
use std::time::{Duration, Instant};

use dashmap::DashMap;

use crate::repo::Repository;

/// How long a cached repository record or protection rule set is trusted.
pub const HANDLE_TTL: Duration = Duration::from_secs(1);

/// The cache of repository records (by name) and protection rules (by instance).
#[derive(Default)]
pub(crate) struct Handles {
    repositories: DashMap<String, (Repository, Instant)>,
    protection: DashMap<String, (Arc<Vec<String>>, Instant)>,
}

impl Handles {
    pub fn repository(&self, name: &str) -> Option<Repository> {
        let entry = self.repositories.get(name)?;
        (entry.1.elapsed() < HANDLE_TTL).then(|| entry.0.clone())
    }

    pub fn remember_repository(&self, repo: &Repository) {
        self.repositories
            .insert(repo.name.clone(), (repo.clone(), Instant::now()));
    }

    pub fn forget_repository(&self, name: &str) {
        if let Some((_, (repo, _))) = self.repositories.remove(name) {
            self.protection.remove(&repo.instance);
        }
    }

    pub fn protection(&self, instance: &str) -> Option<Arc<Vec<String>>> {
        let entry = self.protection.get(instance)?;
        (entry.1.elapsed() < HANDLE_TTL).then(|| entry.0.clone())
    }

    pub fn remember_protection(&self, instance: &str, rules: Arc<Vec<String>>) {
        self.protection
            .insert(instance.to_string(), (rules, Instant::now()));
    }
}
