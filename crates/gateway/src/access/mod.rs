//! Who may do what: users with access keys, groups and policies in lakeFS's shape
//! ([`directory`], [`policy`], [`builtin`]), and the one question every interface asks
//! before it acts, [`Access::authorize`]. The S3 API, the REST API and the UI each name the
//! permissions an operation needs ([`Need`]s built from [`arn`]) and ask here, so a policy
//! means the same on all three.
//!
//! The first start's admin key pair (`credentials.json`) belongs to the admin user, whose
//! id is that key's id; the admin has every right whatever the policies say, so that no
//! edit of policies can lock the installation out.

pub mod arn;
pub mod builtin;
pub mod cipher;
pub mod directory;
pub mod policy;

use std::sync::Arc;
use std::time::{Duration, Instant};

use dashmap::DashMap;
use sluice_meta::kv::Kv;

use crate::auth::constant_time_eq;
use crate::credentials::KeyPair;
pub use cipher::SecretCipher;
pub use directory::Directory;
pub use policy::{Need, Policy};

/// How long a user's effective policies are reused before they are read again. Another
/// sidecar's change of a policy or membership applies here within this time; a change
/// made through this sidecar applies at once.
const POLICY_CACHE_TTL: Duration = Duration::from_secs(2);

/// A user's effective policies and when they were read.
type CachedPolicies = (Instant, Arc<Vec<Policy>>);

/// Errors of users, keys, groups and policies.
#[derive(Debug, thiserror::Error)]
pub enum AccessError {
    /// No such user, group, policy, key or relation.
    #[error("{0} not found")]
    NotFound(String),
    /// The name is taken.
    #[error("{0} already exists")]
    AlreadyExists(String),
    /// The input is not valid.
    #[error("{0}")]
    Invalid(String),
    /// A concurrent change won; try again.
    #[error("{0}")]
    Conflict(String),
    /// The request is not allowed.
    #[error("insufficient permissions: {action} on {resource}")]
    Denied {
        /// The action refused.
        action: &'static str,
        /// The resource it was refused on.
        resource: String,
    },
    /// The admin cannot be changed this way.
    #[error("{0}")]
    Protected(String),
    /// Stored secrets do not open under this sidecar's encryption key.
    #[error(
        "stored access keys were encrypted with another key: give every sidecar the same {}",
        cipher::KEY_VARIABLE
    )]
    Cipher,
    /// A stored record does not parse.
    #[error("corrupt auth record: {0}")]
    Corrupt(String),
    /// The metadata store failed.
    #[error(transparent)]
    Store(#[from] sluice_meta::Error),
}

/// Users, keys and policies, and the checks made with them. Cheap to clone.
#[derive(Clone)]
pub struct Access {
    directory: Directory,
    admin: KeyPair,
    policies: Arc<DashMap<String, CachedPolicies>>,
}

impl std::fmt::Debug for Access {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Access")
            .field("admin", &self.admin)
            .finish_non_exhaustive()
    }
}

impl Access {
    /// Access over `kv`, with `admin` the first start's key pair.
    pub fn new(kv: Arc<dyn Kv>, cipher: SecretCipher, admin: KeyPair) -> Self {
        Self {
            directory: Directory::new(kv, cipher),
            admin,
            policies: Arc::default(),
        }
    }

    /// Check the encryption key against the store, write the built-in policies and groups
    /// on a first start, and record the admin user (in `Admins`).
    pub async fn setup(&self) -> Result<(), AccessError> {
        self.directory.check_cipher().await?;
        builtin::install(&self.directory).await?;
        let admin = self.admin_id();
        match self.directory.create_user(admin, None, None).await {
            Ok(_) => self.directory.set_member("Admins", admin, true).await?,
            Err(AccessError::AlreadyExists(_)) => {}
            Err(e) => return Err(e),
        }
        Ok(())
    }

    /// The records.
    pub fn directory(&self) -> &Directory {
        &self.directory
    }

    /// The admin user's id.
    pub fn admin_id(&self) -> &str {
        &self.admin.access_key_id
    }

    /// True for the admin user, who has every right.
    pub fn is_admin(&self, user: &str) -> bool {
        user == self.admin.access_key_id
    }

    /// The user and secret of `access_key_id`: the admin key pair or a stored key.
    pub async fn secret(
        &self,
        access_key_id: &str,
    ) -> Result<Option<(String, String)>, AccessError> {
        if access_key_id == self.admin.access_key_id {
            return Ok(Some((
                self.admin.access_key_id.clone(),
                self.admin.secret_access_key.clone(),
            )));
        }
        self.directory.secret(access_key_id).await
    }

    /// The user whose key `access_key_id` has the secret `secret`; compared in constant
    /// time, in full.
    pub async fn verify(&self, access_key_id: &str, secret: &str) -> Option<String> {
        let (user, expected) = self.secret(access_key_id).await.ok()??;
        constant_time_eq(secret.as_bytes(), expected.as_bytes()).then_some(user)
    }

    /// Forget cached policies after a change made here.
    pub fn changed(&self) {
        self.policies.clear();
    }

    async fn effective_policies(&self, user: &str) -> Result<Arc<Vec<Policy>>, AccessError> {
        if let Some(entry) = self.policies.get(user)
            && entry.0.elapsed() < POLICY_CACHE_TTL
        {
            return Ok(entry.1.clone());
        }
        let policies = Arc::new(self.directory.effective_policies(user).await?);
        self.policies
            .insert(user.to_string(), (Instant::now(), policies.clone()));
        Ok(policies)
    }

    /// Ok when `user` may do everything `needs` names; else the first need refused.
    pub async fn authorize(&self, user: &str, needs: &[Need]) -> Result<(), AccessError> {
        if !self.is_admin(user) {
            let policies = self.effective_policies(user).await?;
            for need in needs {
                if !policy::allows(policies.iter(), user, need) {
                    tracing::info!(target: "sluice::audit", user, action = need.action, resource = %need.resource, "denied");
                    return Err(AccessError::Denied {
                        action: need.action,
                        resource: need.resource.clone(),
                    });
                }
            }
        }
        // One audit line per change allowed: who, what, where (reads are not logged).
        for need in needs.iter().filter(|n| changes_something(n.action)) {
            tracing::info!(target: "sluice::audit", user, action = need.action, resource = %need.resource, branch = need.branch.as_deref().unwrap_or(""), "allowed");
        }
        Ok(())
    }

    /// True when `user` may do `need` (for showing or hiding what a page offers).
    pub async fn may(&self, user: &str, need: &Need) -> bool {
        self.authorize(user, std::slice::from_ref(need))
            .await
            .is_ok()
    }
}

/// True for actions that change something (lakeFS names reads Read*, List* and Get*).
fn changes_something(action: &str) -> bool {
    let name = action.split_once(':').map_or(action, |(_, n)| n);
    !["Read", "List", "Get"].iter().any(|p| name.starts_with(p))
}

/// A request's user and the means to check what it may do, as handlers carry it.
#[derive(Clone, Debug)]
pub struct Gate {
    /// The checks.
    pub access: Access,
    /// Who asks.
    pub user: String,
}

impl Gate {
    /// Ok when the user may do every one of `needs`.
    pub async fn require(&self, needs: &[Need]) -> Result<(), AccessError> {
        self.access.authorize(&self.user, needs).await
    }

    /// True when the user may do `need`.
    pub async fn may(&self, need: &Need) -> bool {
        self.access.may(&self.user, need).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use sluice_meta::kv::memory::MemoryKv;

    fn access() -> Access {
        Access::new(
            Arc::new(MemoryKv::default()),
            SecretCipher::from_material(b"k"),
            KeyPair {
                access_key_id: "ADMINKEY".into(),
                secret_access_key: "adminsecret".into(),
            },
        )
    }

    #[tokio::test]
    async fn groups_grant_and_the_admin_has_every_right() {
        let a = access();
        a.setup().await.unwrap();
        a.setup().await.unwrap(); // a second start changes nothing
        let d = a.directory();
        assert!(a.is_admin("ADMINKEY"));
        d.user("ADMINKEY").await.unwrap();
        d.create_user("ann", None, None).await.unwrap();
        let key = d.create_credentials("ann").await.unwrap();
        assert!(key.access_key_id.starts_with("AKIAJ") && key.access_key_id.ends_with('Q'));
        assert_eq!(
            a.verify(&key.access_key_id, &key.secret_access_key).await,
            Some("ann".to_string())
        );
        assert_eq!(a.verify(&key.access_key_id, "wrong-secret").await, None);
        let read = Need::new("fs:ReadObject", arn::object("lake", "a"));
        let write = Need::new("fs:WriteObject", arn::object("lake", "a"));
        assert!(!a.may("ann", &read).await);
        d.set_member("Viewers", "ann", true).await.unwrap();
        a.changed();
        assert!(a.may("ann", &read).await);
        assert!(!a.may("ann", &write).await);
        let own_keys = Need::new("auth:ListCredentials", arn::user("ann"));
        let others = Need::new("auth:ListCredentials", arn::user("bob"));
        assert!(a.may("ann", &own_keys).await);
        assert!(!a.may("ann", &others).await);
        assert!(a.may("ADMINKEY", &write).await);
        d.delete_user("ann").await.unwrap();
        assert_eq!(
            a.verify(&key.access_key_id, &key.secret_access_key).await,
            None
        );
        assert!(
            d.members("Viewers", &directory::PageQuery::all())
                .await
                .unwrap()
                .results
                .is_empty()
        );
    }

    #[tokio::test]
    async fn the_branch_writer_writes_only_its_branches() {
        let a = access();
        a.setup().await.unwrap();
        let d = a.directory();
        d.create_user("dev", None, None).await.unwrap();
        d.put_policy(
            builtin::branch_writer("DevBranches", "lake", "dev-*"),
            false,
        )
        .await
        .unwrap();
        d.attach(false, "dev", "DevBranches", true).await.unwrap();
        let write = Need::new("fs:WriteObject", arn::object("lake", "t/a.parquet"));
        assert!(a.may("dev", &write.clone().on_branch("dev-1")).await);
        assert!(!a.may("dev", &write.clone().on_branch("main")).await);
        let other_repo = Need::new("fs:WriteObject", arn::object("lake2", "t")).on_branch("dev-1");
        assert!(!a.may("dev", &other_repo).await);
        assert!(
            a.may("dev", &Need::new("fs:ReadObject", arn::object("lake", "x")))
                .await
        );
        assert!(
            !a.may(
                "dev",
                &Need::new("fs:ReadObject", arn::object("lake2", "x"))
            )
            .await
        );
        assert!(
            a.may(
                "dev",
                &Need::new("fs:CreateCommit", arn::branch("lake", "dev-2"))
            )
            .await
        );
        assert!(
            !a.may(
                "dev",
                &Need::new("fs:CreateCommit", arn::branch("lake", "main"))
            )
            .await
        );
        // Deleting the policy detaches it.
        d.delete_policy("DevBranches").await.unwrap();
        a.changed();
        assert!(!a.may("dev", &write.on_branch("dev-1")).await);
        assert!(
            d.attached(false, "dev", &directory::PageQuery::all())
                .await
                .unwrap()
                .results
                .is_empty()
        );
    }

    #[tokio::test]
    async fn a_store_sealed_under_another_key_is_refused() {
        let kv: Arc<dyn Kv> = Arc::new(MemoryKv::default());
        let admin = KeyPair {
            access_key_id: "ADMINKEY".into(),
            secret_access_key: "adminsecret".into(),
        };
        Access::new(
            kv.clone(),
            SecretCipher::from_material(b"one"),
            admin.clone(),
        )
        .setup()
        .await
        .unwrap();
        let other = Access::new(kv, SecretCipher::from_material(b"two"), admin);
        assert!(matches!(other.setup().await, Err(AccessError::Cipher)));
    }
}
