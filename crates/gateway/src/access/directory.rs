//! Users, their access keys, groups, policies and what is attached to what, kept in the
//! metadata store under `z/` so that every sidecar sharing the store sees the same. Each
//! relation is a key of its own (`z/ug/{user}/{group}` beside `z/gu/{group}/{user}`),
//! written in one batch with its reverse and conditioned on both ends existing, so that
//! concurrent changes never leave half a membership.

use std::sync::Arc;

use serde::{Deserialize, Serialize};
use sluice_meta::kv::{Kv, KvExt, WriteBatch, prefix_end};
use sluice_meta::{Clock, ErrorKind, SystemClock};

use super::AccessError;
use super::cipher::SecretCipher;
use super::policy::{Policy, valid_name, validate};
use crate::credentials::random_string;

/// A user, as lakeFS's API shows one.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct User {
    /// The user's name.
    pub id: String,
    /// Unix epoch seconds.
    pub creation_date: i64,
    /// A display name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub friendly_name: Option<String>,
    /// An email address.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
}

/// A group of users.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Group {
    /// The group's name.
    pub id: String,
    /// The same, as lakeFS also shows it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// What the group is for.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// Unix epoch seconds.
    pub creation_date: i64,
}

/// An access key, without its secret.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Credentials {
    /// The access key id.
    pub access_key_id: String,
    /// Unix epoch seconds.
    pub creation_date: i64,
}

/// An access key with its secret: shown once, when it is created.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CredentialsWithSecret {
    /// The access key id.
    pub access_key_id: String,
    /// The secret access key.
    pub secret_access_key: String,
    /// Unix epoch seconds.
    pub creation_date: i64,
}

/// An access key as stored: its secret sealed.
#[derive(Serialize, Deserialize)]
struct StoredKey {
    user: String,
    sealed_secret: String,
    creation_date: i64,
}

/// A page of a listing: lakeFS's `prefix`, `after` and `amount`.
#[derive(Debug, Clone)]
pub struct PageQuery {
    /// Only names starting with this.
    pub prefix: String,
    /// Only names after this one.
    pub after: Option<String>,
    /// At most this many.
    pub amount: usize,
}

impl PageQuery {
    /// Every name.
    pub fn all() -> Self {
        Self {
            prefix: String::new(),
            after: None,
            amount: usize::MAX,
        }
    }
}

/// A page of results and whether more follow.
#[derive(Debug, Clone)]
pub struct Page<T> {
    /// The results, in name order.
    pub results: Vec<T>,
    /// True when a next page exists.
    pub has_more: bool,
    /// The name to continue after.
    pub next_offset: String,
}

fn key(parts: &[&str]) -> Vec<u8> {
    let mut k = b"z".to_vec();
    for p in parts {
        k.push(b'/');
        k.extend_from_slice(p.as_bytes());
    }
    k
}

/// The prefix of keys `z/{parts}/`.
fn prefix(parts: &[&str]) -> Vec<u8> {
    let mut k = key(parts);
    k.push(b'/');
    k
}

fn now() -> i64 {
    SystemClock.now_ms() / 1000
}

fn to_json<T: Serialize>(v: &T) -> Vec<u8> {
    serde_json::to_vec(v).expect("plain records serialise")
}

fn from_json<T: for<'de> Deserialize<'de>>(bytes: &[u8]) -> Result<T, AccessError> {
    serde_json::from_slice(bytes).map_err(|e| AccessError::Corrupt(e.to_string()))
}

/// The records, over a metadata store.
#[derive(Clone)]
pub struct Directory {
    kv: Arc<dyn Kv>,
    cipher: SecretCipher,
}

impl Directory {
    /// The directory in `kv`, sealing secrets with `cipher`.
    pub fn new(kv: Arc<dyn Kv>, cipher: SecretCipher) -> Self {
        Self { kv, cipher }
    }

    /// Fails when the store holds secrets sealed under another key: every sidecar sharing
    /// a store must be given the same `SLUICE_AUTH_ENCRYPT_SECRET_KEY`.
    pub async fn check_cipher(&self) -> Result<(), AccessError> {
        let k = key(&["cipher-check"]);
        match self.kv.get(&k).await? {
            Some(sealed) => {
                let sealed = String::from_utf8_lossy(&sealed).into_owned();
                match self.cipher.open(&sealed) {
                    Some(_) => Ok(()),
                    None => Err(AccessError::Cipher),
                }
            }
            None => {
                let sealed = self.cipher.seal("sluice");
                if !self
                    .kv
                    .compare_and_swap(&k, None, Some(sealed.as_bytes()))
                    .await?
                {
                    // Another sidecar wrote it first: it must open under our key too.
                    return Box::pin(self.check_cipher()).await;
                }
                Ok(())
            }
        }
    }

    async fn get<T: for<'de> Deserialize<'de>>(&self, k: &[u8]) -> Result<Option<T>, AccessError> {
        match self.kv.get(k).await? {
            Some(v) => Ok(Some(from_json(&v)?)),
            None => Ok(None),
        }
    }

    /// Create `value` at `k`; `AlreadyExists` when something is there.
    async fn create(&self, k: Vec<u8>, value: Vec<u8>, what: String) -> Result<(), AccessError> {
        let mut b = WriteBatch::new();
        b.require(k.clone(), None).put(k, value);
        match self.kv.write(b).await {
            Err(e) if e.kind() == ErrorKind::PreconditionFailed => {
                Err(AccessError::AlreadyExists(what))
            }
            other => Ok(other?),
        }
    }

    /// The names under `p` (the last key segment), paged.
    async fn names(&self, p: &[u8], page: &PageQuery) -> Result<Page<String>, AccessError> {
        let mut start = p.to_vec();
        start.extend_from_slice(page.prefix.as_bytes());
        if let Some(after) = &page.after {
            let mut a = p.to_vec();
            a.extend_from_slice(after.as_bytes());
            a.push(0);
            start = start.max(a);
        }
        let mut with_prefix = p.to_vec();
        with_prefix.extend_from_slice(page.prefix.as_bytes());
        let end = prefix_end(&with_prefix);
        let limit = page.amount.saturating_add(1).min(100_000);
        let rows = self.kv.scan(&start, &end, limit).await?;
        let mut results: Vec<String> = rows
            .into_iter()
            .map(|(k, _)| String::from_utf8_lossy(&k[p.len()..]).into_owned())
            .collect();
        let has_more = results.len() > page.amount;
        results.truncate(page.amount);
        let next_offset = if has_more {
            results.last().cloned().unwrap_or_default()
        } else {
            String::new()
        };
        Ok(Page {
            results,
            has_more,
            next_offset,
        })
    }

    /// Records named by a page of names.
    async fn records<T: for<'de> Deserialize<'de>>(
        &self,
        names: Page<String>,
        record_key: impl Fn(&str) -> Vec<u8>,
    ) -> Result<Page<T>, AccessError> {
        let mut results = Vec::with_capacity(names.results.len());
        for name in &names.results {
            // A relation whose far end was deleted concurrently is skipped.
            if let Some(r) = self.get(&record_key(name)).await? {
                results.push(r);
            }
        }
        Ok(Page {
            results,
            has_more: names.has_more,
            next_offset: names.next_offset,
        })
    }

    // Users.

    /// Create a user.
    pub async fn create_user(
        &self,
        id: &str,
        friendly_name: Option<String>,
        email: Option<String>,
    ) -> Result<User, AccessError> {
        check_name("user", id)?;
        let user = User {
            id: id.to_string(),
            creation_date: now(),
            friendly_name,
            email,
        };
        self.create(key(&["u", id]), to_json(&user), format!("user {id:?}"))
            .await?;
        Ok(user)
    }

    /// A user.
    pub async fn user(&self, id: &str) -> Result<User, AccessError> {
        self.get(&key(&["u", id]))
            .await?
            .ok_or_else(|| AccessError::NotFound(format!("user {id:?}")))
    }

    /// Users, by name.
    pub async fn users(&self, page: &PageQuery) -> Result<Page<User>, AccessError> {
        let names = self.names(&prefix(&["u"]), page).await?;
        self.records(names, |n| key(&["u", n])).await
    }

    /// Delete a user with its keys, memberships and attachments.
    pub async fn delete_user(&self, id: &str) -> Result<(), AccessError> {
        self.user(id).await?;
        let mut b = WriteBatch::new();
        for k in self
            .names(&prefix(&["uk", id]), &PageQuery::all())
            .await?
            .results
        {
            b.delete(key(&["k", &k])).delete(key(&["uk", id, &k]));
        }
        for g in self
            .names(&prefix(&["ug", id]), &PageQuery::all())
            .await?
            .results
        {
            b.delete(key(&["gu", &g, id])).delete(key(&["ug", id, &g]));
        }
        for p in self
            .names(&prefix(&["up", id]), &PageQuery::all())
            .await?
            .results
        {
            b.delete(key(&["up", id, &p]));
        }
        b.delete(key(&["u", id]));
        Ok(self.kv.write(b).await?)
    }

    // Access keys.

    /// A new access key for `user`, in AWS's shapes (lakeFS's `AKIAJ...Q` ids).
    pub async fn create_credentials(
        &self,
        user: &str,
    ) -> Result<CredentialsWithSecret, AccessError> {
        self.create_credentials_with(user, new_key_id(), new_secret())
            .await
    }

    /// An access key for `user` with the given id and secret (`sluice key create` with
    /// both given, and tests).
    pub async fn create_credentials_with(
        &self,
        user: &str,
        access_key_id: String,
        secret_access_key: String,
    ) -> Result<CredentialsWithSecret, AccessError> {
        let record = self.kv.get(&key(&["u", user])).await?;
        let Some(record) = record else {
            return Err(AccessError::NotFound(format!("user {user:?}")));
        };
        if !valid_key_id(&access_key_id) || secret_access_key.len() < 8 {
            return Err(AccessError::Invalid(
                "an access key id is 3-128 letters and digits, and a secret at least 8 characters"
                    .into(),
            ));
        }
        let creation_date = now();
        let stored = StoredKey {
            user: user.to_string(),
            sealed_secret: self.cipher.seal(&secret_access_key),
            creation_date,
        };
        let mut b = WriteBatch::new();
        b.require(key(&["u", user]), Some(record))
            .require(key(&["k", &access_key_id]), None)
            .put(key(&["k", &access_key_id]), to_json(&stored))
            .put(key(&["uk", user, &access_key_id]), Vec::new());
        match self.kv.write(b).await {
            Err(e) if e.kind() == ErrorKind::PreconditionFailed => {
                return Err(AccessError::AlreadyExists(format!(
                    "access key {access_key_id:?} (or user {user:?} changed)"
                )));
            }
            other => other?,
        }
        Ok(CredentialsWithSecret {
            access_key_id,
            secret_access_key,
            creation_date,
        })
    }

    /// The user and secret of an access key; `None` when there is no such key.
    pub async fn secret(
        &self,
        access_key_id: &str,
    ) -> Result<Option<(String, String)>, AccessError> {
        if !valid_key_id(access_key_id) {
            return Ok(None);
        }
        let Some(stored) = self.get::<StoredKey>(&key(&["k", access_key_id])).await? else {
            return Ok(None);
        };
        let secret = self
            .cipher
            .open(&stored.sealed_secret)
            .ok_or(AccessError::Cipher)?;
        Ok(Some((stored.user, secret)))
    }

    /// A user's access key, without its secret.
    pub async fn credentials(
        &self,
        user: &str,
        access_key_id: &str,
    ) -> Result<Credentials, AccessError> {
        match self.get::<StoredKey>(&key(&["k", access_key_id])).await? {
            Some(k) if k.user == user => Ok(Credentials {
                access_key_id: access_key_id.to_string(),
                creation_date: k.creation_date,
            }),
            _ => Err(AccessError::NotFound(format!(
                "access key {access_key_id:?} of user {user:?}"
            ))),
        }
    }

    /// A user's access keys.
    pub async fn list_credentials(
        &self,
        user: &str,
        page: &PageQuery,
    ) -> Result<Page<Credentials>, AccessError> {
        self.user(user).await?;
        let names = self.names(&prefix(&["uk", user]), page).await?;
        let mut results = Vec::new();
        for id in &names.results {
            if let Some(k) = self.get::<StoredKey>(&key(&["k", id])).await? {
                results.push(Credentials {
                    access_key_id: id.clone(),
                    creation_date: k.creation_date,
                });
            }
        }
        Ok(Page {
            results,
            has_more: names.has_more,
            next_offset: names.next_offset,
        })
    }

    /// Delete a user's access key.
    pub async fn delete_credentials(
        &self,
        user: &str,
        access_key_id: &str,
    ) -> Result<(), AccessError> {
        self.credentials(user, access_key_id).await?;
        let mut b = WriteBatch::new();
        b.delete(key(&["k", access_key_id]))
            .delete(key(&["uk", user, access_key_id]));
        Ok(self.kv.write(b).await?)
    }

    // Groups.

    /// Create a group.
    pub async fn create_group(
        &self,
        id: &str,
        description: Option<String>,
    ) -> Result<Group, AccessError> {
        check_name("group", id)?;
        let group = Group {
            id: id.to_string(),
            name: Some(id.to_string()),
            description,
            creation_date: now(),
        };
        self.create(key(&["g", id]), to_json(&group), format!("group {id:?}"))
            .await?;
        Ok(group)
    }

    /// A group.
    pub async fn group(&self, id: &str) -> Result<Group, AccessError> {
        self.get(&key(&["g", id]))
            .await?
            .ok_or_else(|| AccessError::NotFound(format!("group {id:?}")))
    }

    /// Groups, by name.
    pub async fn groups(&self, page: &PageQuery) -> Result<Page<Group>, AccessError> {
        let names = self.names(&prefix(&["g"]), page).await?;
        self.records(names, |n| key(&["g", n])).await
    }

    /// Delete a group with its memberships and attachments.
    pub async fn delete_group(&self, id: &str) -> Result<(), AccessError> {
        self.group(id).await?;
        let mut b = WriteBatch::new();
        for u in self
            .names(&prefix(&["gu", id]), &PageQuery::all())
            .await?
            .results
        {
            b.delete(key(&["ug", &u, id])).delete(key(&["gu", id, &u]));
        }
        for p in self
            .names(&prefix(&["gp", id]), &PageQuery::all())
            .await?
            .results
        {
            b.delete(key(&["gp", id, &p]));
        }
        b.delete(key(&["g", id]));
        Ok(self.kv.write(b).await?)
    }

    /// A write of `pairs` conditioned on `ends` (record keys) holding what they hold now.
    async fn relate(
        &self,
        ends: &[(Vec<u8>, String)],
        put: bool,
        pairs: &[Vec<u8>],
    ) -> Result<(), AccessError> {
        let mut b = WriteBatch::new();
        for (k, what) in ends {
            let current = self.kv.get(k).await?;
            if current.is_none() {
                return Err(AccessError::NotFound(what.clone()));
            }
            b.require(k.clone(), current);
        }
        for k in pairs {
            if put {
                b.put(k.clone(), Vec::new());
            } else {
                b.delete(k.clone());
            }
        }
        match self.kv.write(b).await {
            Err(e) if e.kind() == ErrorKind::PreconditionFailed => Err(AccessError::Conflict(
                "a user, group or policy changed at the same time; try again".into(),
            )),
            other => Ok(other?),
        }
    }

    /// Add or remove `user` in `group`.
    pub async fn set_member(
        &self,
        group: &str,
        user: &str,
        member: bool,
    ) -> Result<(), AccessError> {
        if !member && self.kv.get(&key(&["gu", group, user])).await?.is_none() {
            return Err(AccessError::NotFound(format!(
                "user {user:?} in group {group:?}"
            )));
        }
        self.relate(
            &[
                (key(&["g", group]), format!("group {group:?}")),
                (key(&["u", user]), format!("user {user:?}")),
            ],
            member,
            &[key(&["gu", group, user]), key(&["ug", user, group])],
        )
        .await
    }

    /// A group's members.
    pub async fn members(&self, group: &str, page: &PageQuery) -> Result<Page<User>, AccessError> {
        self.group(group).await?;
        let names = self.names(&prefix(&["gu", group]), page).await?;
        self.records(names, |n| key(&["u", n])).await
    }

    /// The groups a user is in.
    pub async fn groups_of(
        &self,
        user: &str,
        page: &PageQuery,
    ) -> Result<Page<Group>, AccessError> {
        self.user(user).await?;
        let names = self.names(&prefix(&["ug", user]), page).await?;
        self.records(names, |n| key(&["g", n])).await
    }

    // Policies.

    /// Create a policy (`replace`: or replace it, keeping its creation date).
    pub async fn put_policy(
        &self,
        mut policy: Policy,
        replace: bool,
    ) -> Result<Policy, AccessError> {
        validate(&policy).map_err(AccessError::Invalid)?;
        let k = key(&["p", &policy.id]);
        if replace {
            let old: Policy = self
                .get(&k)
                .await?
                .ok_or_else(|| AccessError::NotFound(format!("policy {:?}", policy.id)))?;
            policy.creation_date = old.creation_date;
            self.kv.put(&k, &to_json(&policy)).await?;
        } else {
            policy.creation_date = Some(now());
            self.create(k, to_json(&policy), format!("policy {:?}", policy.id))
                .await?;
        }
        Ok(policy)
    }

    /// A policy.
    pub async fn policy(&self, id: &str) -> Result<Policy, AccessError> {
        self.get(&key(&["p", id]))
            .await?
            .ok_or_else(|| AccessError::NotFound(format!("policy {id:?}")))
    }

    /// Policies, by name.
    pub async fn policies(&self, page: &PageQuery) -> Result<Page<Policy>, AccessError> {
        let names = self.names(&prefix(&["p"]), page).await?;
        self.records(names, |n| key(&["p", n])).await
    }

    /// Delete a policy and every attachment of it.
    pub async fn delete_policy(&self, id: &str) -> Result<(), AccessError> {
        self.policy(id).await?;
        let mut b = WriteBatch::new();
        for family in ["up", "gp"] {
            for (k, _) in self.kv.scan_prefix(&prefix(&[family]), 1000).await? {
                if k.ends_with(format!("/{id}").as_bytes()) {
                    b.delete(k);
                }
            }
        }
        b.delete(key(&["p", id]));
        Ok(self.kv.write(b).await?)
    }

    /// Attach a policy to (or detach it from) a user (`group: false`) or a group.
    pub async fn attach(
        &self,
        group: bool,
        holder: &str,
        policy: &str,
        attach: bool,
    ) -> Result<(), AccessError> {
        let (record, relation, what) = if group {
            (key(&["g", holder]), key(&["gp", holder, policy]), "group")
        } else {
            (key(&["u", holder]), key(&["up", holder, policy]), "user")
        };
        if !attach && self.kv.get(&relation).await?.is_none() {
            return Err(AccessError::NotFound(format!(
                "policy {policy:?} attached to {what} {holder:?}"
            )));
        }
        self.relate(
            &[
                (record, format!("{what} {holder:?}")),
                (key(&["p", policy]), format!("policy {policy:?}")),
            ],
            attach,
            &[relation],
        )
        .await
    }

    /// The policies attached to a user (`group: false`) or a group.
    pub async fn attached(
        &self,
        group: bool,
        holder: &str,
        page: &PageQuery,
    ) -> Result<Page<Policy>, AccessError> {
        let family = if group { "gp" } else { "up" };
        if group {
            self.group(holder).await?;
        } else {
            self.user(holder).await?;
        }
        let names = self.names(&prefix(&[family, holder]), page).await?;
        self.records(names, |n| key(&["p", n])).await
    }

    /// Every policy that applies to a user: its own and its groups', each once, by name.
    pub async fn effective_policies(&self, user: &str) -> Result<Vec<Policy>, AccessError> {
        let mut names: Vec<String> = self
            .names(&prefix(&["up", user]), &PageQuery::all())
            .await?
            .results;
        for g in self
            .names(&prefix(&["ug", user]), &PageQuery::all())
            .await?
            .results
        {
            names.extend(
                self.names(&prefix(&["gp", &g]), &PageQuery::all())
                    .await?
                    .results,
            );
        }
        names.sort();
        names.dedup();
        let mut out = Vec::with_capacity(names.len());
        for n in names {
            if let Some(p) = self.get(&key(&["p", &n])).await? {
                out.push(p);
            }
        }
        Ok(out)
    }
}

fn check_name(what: &str, id: &str) -> Result<(), AccessError> {
    if valid_name(id) {
        Ok(())
    } else {
        Err(AccessError::Invalid(format!(
            "{what} id {id:?} must be 1-128 letters, digits or _.@+=- characters"
        )))
    }
}

fn valid_key_id(id: &str) -> bool {
    (3..=128).contains(&id.len()) && id.chars().all(|c| c.is_ascii_alphanumeric())
}

/// An access key id in lakeFS's shape: `AKIAJ`, 14 characters, `Q`.
fn new_key_id() -> String {
    format!(
        "AKIAJ{}Q",
        random_string(b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567", 14)
    )
}

fn new_secret() -> String {
    random_string(
        b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/",
        40,
    )
}
