//! Authentication, in one place for the three ways in: HTTP Basic with the key pair (the
//! REST API), SigV4 signatures (the S3 API, verified by s3s with the secret [`KeyAuth`]
//! hands it) and a UI session cookie (after a sign-in with the key pair). Each yields the
//! same [`Identity`]. Secrets are compared in constant time, in full, so that timing tells
//! nothing about where a guess went wrong.

use base64::Engine as _;
use s3s::auth::{S3Auth, SecretKey};
use s3s::{S3Result, s3_error};

use crate::credentials::KeyPair;
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
    /// The access key id: the committer of what the request changes.
    pub user: String,
    /// How it was proven.
    pub via: Via,
}

/// Equality whose time does not depend on where the inputs differ.
pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// The identity of `id` and `secret` when they are the key pair. Both are compared in full.
pub fn key_pair(keys: &KeyPair, id: &str, secret: &str, via: Via) -> Option<Identity> {
    let id_ok = constant_time_eq(id.as_bytes(), keys.access_key_id.as_bytes());
    let secret_ok = constant_time_eq(secret.as_bytes(), keys.secret_access_key.as_bytes());
    (id_ok & secret_ok).then(|| Identity {
        user: keys.access_key_id.clone(),
        via,
    })
}

/// The identity an `Authorization: Basic ...` header proves.
pub fn basic(headers: &http::HeaderMap, keys: &KeyPair) -> Option<Identity> {
    let value = headers.get(http::header::AUTHORIZATION)?.to_str().ok()?;
    let encoded = value.strip_prefix("Basic ")?;
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(encoded.trim())
        .ok()?;
    let decoded = String::from_utf8(decoded).ok()?;
    let (id, secret) = decoded.split_once(':')?;
    key_pair(keys, id, secret, Via::Basic)
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

/// The identity of a request s3s has verified the SigV4 signature of.
pub fn sigv4(credentials: Option<&s3s::auth::Credentials>) -> Option<Identity> {
    credentials.map(|c| Identity {
        user: c.access_key.clone(),
        via: Via::SigV4,
    })
}

/// The secret s3s checks SigV4 signatures with: the key pair's; unknown key ids are refused
/// as S3 refuses them.
pub(crate) struct KeyAuth(pub KeyPair);

#[async_trait::async_trait]
impl S3Auth for KeyAuth {
    async fn get_secret_key(&self, access_key: &str) -> S3Result<SecretKey> {
        if access_key == self.0.access_key_id {
            Ok(SecretKey::from(self.0.secret_access_key.clone()))
        } else {
            Err(s3_error!(
                InvalidAccessKeyId,
                "The AWS Access Key Id you provided does not exist in our records."
            ))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keys() -> KeyPair {
        KeyPair {
            access_key_id: "AKID".into(),
            secret_access_key: "s3cr:et".into(),
        }
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

    #[test]
    fn basic_auth_takes_the_key_pair_only() {
        let id = basic(&basic_header("AKID:s3cr:et"), &keys()).unwrap();
        assert_eq!((id.user.as_str(), id.via), ("AKID", Via::Basic));
        assert!(basic(&basic_header("AKID:s3cr:eX"), &keys()).is_none());
        assert!(basic(&basic_header("AKIX:s3cr:et"), &keys()).is_none());
        assert!(basic(&basic_header("AKIDs3cr:et"), &keys()).is_none());
        assert!(basic(&http::HeaderMap::new(), &keys()).is_none());
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
