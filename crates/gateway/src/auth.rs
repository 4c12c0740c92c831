//! Authentication, in one place for the three ways in: HTTP Basic with an access key (the
//! REST API), SigV4 signatures (the S3 API, verified by s3s with the secret [`KeyAuth`]
//! hands it) and a UI session cookie (after a sign-in with an access key). Each yields the
//! same [`Identity`]. Secrets are compared in constant time, in full, so that timing tells
//! nothing about where a guess went wrong.

use base64::Engine as _;
use s3s::auth::{S3Auth, SecretKey};
use s3s::{S3Result, s3_error};

use crate::access::Access;
use crate::ui::session::{SessionView, Sessions, session_cookie};

/// How a request proved who it is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Via {
    /// HTTP Basic with the access key pair.
    Basic,
    /// An S3 signature (SigV4) made with the secret key.
    SigV4,
    /// A web UI session, started by a sign-in with the key pair.
    Session,
}

/// Who a request is from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identity {
    /// The user (the admin's is its access key id): the committer of what the request
    /// changes, and whose policies decide what it may do.
    pub user: String,
    /// How it was proven.
    pub via: Via,
}

/// Equality whose time does not depend on where the inputs differ.
pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// The identity `id` and `secret` prove: a user's key (the admin's included), its secret
/// compared in constant time, in full.
pub async fn key_pair(access: &Access, id: &str, secret: &str, via: Via) -> Option<Identity> {
    let user = access.verify(id, secret).await?;
    Some(Identity { user, via })
}

/// The identity an `Authorization: Basic ...` header proves.
pub async fn basic(headers: &http::HeaderMap, access: &Access) -> Option<Identity> {
    let value = headers.get(http::header::AUTHORIZATION)?.to_str().ok()?;
    let encoded = value.strip_prefix("Basic ")?;
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(encoded.trim())
        .ok()?;
    let decoded = String::from_utf8(decoded).ok()?;
    let (id, secret) = decoded.split_once(':')?;
    key_pair(access, id, secret, Via::Basic).await
}

/// The identity of a live UI session named by the request's cookie, and the session.
pub(crate) async fn session(
    sessions: &Sessions,
    headers: &http::HeaderMap,
) -> Option<(Identity, SessionView)> {
    let s = sessions.get(&session_cookie(headers)?).await?;
    let identity = Identity {
        user: s.user.clone(),
        via: Via::Session,
    };
    Some((identity, s))
}

/// The identity of a request s3s has verified the SigV4 signature of: the user whose key
/// signed it.
pub async fn sigv4(
    access: &Access,
    credentials: Option<&s3s::auth::Credentials>,
) -> Option<Identity> {
    let (user, _) = access.secret(&credentials?.access_key).await.ok()??;
    Some(Identity {
        user,
        via: Via::SigV4,
    })
}

/// The secret s3s checks SigV4 signatures with: the signing key's, the admin's or a
/// user's; unknown key ids are refused as S3 refuses them.
pub(crate) struct KeyAuth(pub Access);

#[async_trait::async_trait]
impl S3Auth for KeyAuth {
    async fn get_secret_key(&self, access_key: &str) -> S3Result<SecretKey> {
        match self.0.secret(access_key).await {
            Ok(Some((_, secret))) => Ok(SecretKey::from(secret)),
            Ok(None) => Err(s3_error!(
                InvalidAccessKeyId,
                "The AWS Access Key Id you provided does not exist in our records."
            )),
            Err(e) => Err(s3_error!(InternalError, "cannot read access keys: {e}")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn access() -> Access {
        Access::new(
            std::sync::Arc::new(sluice_meta::kv::memory::MemoryKv::default()),
            crate::access::SecretCipher::from_material(b"k"),
            crate::credentials::KeyPair {
                access_key_id: "AKID".into(),
                secret_access_key: "s3cr:et".into(),
            },
        )
    }

    fn basic_header(v: &str) -> http::HeaderMap {
        let mut h = http::HeaderMap::new();
        let token = base64::engine::general_purpose::STANDARD.encode(v);
        h.insert(
            http::header::AUTHORIZATION,
            format!("Basic {token}").parse().unwrap(),
        );
        h
    }

    #[tokio::test]
    async fn basic_auth_takes_a_key_and_its_secret_only() {
        let a = access();
        let id = basic(&basic_header("AKID:s3cr:et"), &a).await.unwrap();
        assert_eq!((id.user.as_str(), id.via), ("AKID", Via::Basic));
        assert!(basic(&basic_header("AKID:s3cr:eX"), &a).await.is_none());
        assert!(basic(&basic_header("AKIX:s3cr:et"), &a).await.is_none());
        assert!(basic(&basic_header("AKIDs3cr:et"), &a).await.is_none());
        assert!(basic(&http::HeaderMap::new(), &a).await.is_none());
        a.setup().await.unwrap();
        a.directory().create_user("ann", None, None).await.unwrap();
        let k = a.directory().create_credentials("ann").await.unwrap();
        let header = basic_header(&format!("{}:{}", k.access_key_id, k.secret_access_key));
        assert_eq!(basic(&header, &a).await.unwrap().user, "ann");
    }

    #[tokio::test]
    async fn a_session_is_an_identity() {
        let sessions = Sessions::default();
        let s = sessions.create("AKID").await.unwrap();
        let mut h = http::HeaderMap::new();
        h.insert(
            http::header::COOKIE,
            format!("{}={}", crate::ui::session::COOKIE, s.id)
                .parse()
                .unwrap(),
        );
        let (id, _) = session(&sessions, &h).await.unwrap();
        assert_eq!((id.user.as_str(), id.via), ("AKID", Via::Session));
        assert!(session(&Sessions::default(), &h).await.is_none());
    }
}
