//! Browser sessions: a random id in a cookie (HttpOnly, SameSite=Strict, Path=/ui), kept in
//! the metadata store with an expiry, so that every sidecar sharing the store knows every
//! session (a load balancer needs no affinity); the store holds a hash of the id, never the
//! id itself. Each session has its own CSRF token, which every POST form carries and which
//! is checked in constant time. A flash message carries the outcome of a form (an error, a
//! refused merge's report) to the page it redirects to, whichever sidecar serves it.

use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};
use sluice_meta::kv::memory::MemoryKv;
use sluice_meta::kv::{Kv, KvExt, prefix_end};

/// The cookie's name.
pub(crate) const COOKIE: &str = "sluice_session";

/// How long a session lasts after sign-in.
pub(crate) const LIFETIME: Duration = Duration::from_secs(12 * 60 * 60);

/// The metadata store's key family of sessions: `w/{hash of the id}`.
const KEY_PREFIX: &[u8] = b"w/";
/// Expired sessions removed, at most, when a new one starts.
const SWEEP: usize = 100;

/// What a form left for the next page to show.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct Flash {
    /// An error (shown as such) or a confirmation.
    pub error: bool,
    /// The message.
    pub message: String,
    /// A report that explains it (a refused merge's).
    pub report: Option<serde_json::Value>,
}

impl Flash {
    pub(crate) fn ok(message: impl Into<String>) -> Self {
        Self {
            error: false,
            message: message.into(),
            report: None,
        }
    }

    pub(crate) fn error(message: impl Into<String>) -> Self {
        Self {
            error: true,
            message: message.into(),
            report: None,
        }
    }
}

/// A session as stored.
#[derive(Debug, Serialize, Deserialize)]
struct Session {
    csrf: String,
    user: String,
    /// Wall-clock milliseconds: sidecars share it, not their monotonic clocks.
    expires_ms: i64,
    flash: Option<Flash>,
}

/// A signed-in session, as a request sees it.
#[derive(Debug, Clone)]
pub(crate) struct SessionView {
    pub id: String,
    pub csrf: String,
    pub user: String,
}

/// The sessions, in a metadata store (in memory when none is given).
#[derive(Clone)]
pub(crate) struct Sessions {
    kv: Arc<dyn Kv>,
}

impl Default for Sessions {
    fn default() -> Self {
        Self::new(Arc::new(MemoryKv::new()))
    }
}

/// 256 random bits as hex.
fn random_token() -> String {
    format!(
        "{}{}",
        uuid::Uuid::new_v4().simple(),
        uuid::Uuid::new_v4().simple()
    )
}

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

/// The key of session `id`: a hash, so that the store never holds a usable session id.
fn key(id: &str) -> Vec<u8> {
    let mut k = KEY_PREFIX.to_vec();
    k.extend_from_slice(blake3::hash(id.as_bytes()).to_hex().as_bytes());
    k
}

pub(crate) use crate::auth::constant_time_eq;

impl Sessions {
    /// Sessions kept in `kv`.
    pub(crate) fn new(kv: Arc<dyn Kv>) -> Self {
        Self { kv }
    }

    async fn load(&self, id: &str) -> Option<Session> {
        let bytes = self.kv.get(&key(id)).await.ok()??;
        serde_json::from_slice(&bytes).ok()
    }

    async fn store(&self, id: &str, s: &Session) -> sluice_meta::Result<()> {
        let bytes = serde_json::to_vec(s).expect("a session serializes");
        self.kv.put(&key(id), &bytes).await
    }

    /// A new session for `user`; some expired ones are removed on the way.
    pub(crate) async fn create(&self, user: &str) -> sluice_meta::Result<SessionView> {
        self.sweep().await;
        let id = random_token();
        let csrf = random_token();
        let session = Session {
            csrf: csrf.clone(),
            user: user.to_string(),
            expires_ms: now_ms() + LIFETIME.as_millis() as i64,
            flash: None,
        };
        self.store(&id, &session).await?;
        Ok(SessionView {
            id,
            csrf,
            user: user.to_string(),
        })
    }

    /// Remove up to [`SWEEP`] expired sessions; a failure is left for the next sign-in.
    async fn sweep(&self) {
        let Ok(rows) = self
            .kv
            .scan(KEY_PREFIX, &prefix_end(KEY_PREFIX), SWEEP)
            .await
        else {
            return;
        };
        let now = now_ms();
        for (k, v) in rows {
            let expired =
                serde_json::from_slice::<Session>(&v).map_or(true, |s| s.expires_ms <= now);
            if expired {
                let _ = self.kv.delete(&k).await;
            }
        }
    }

    /// The live session `id` names.
    pub(crate) async fn get(&self, id: &str) -> Option<SessionView> {
        let s = self.load(id).await?;
        if s.expires_ms <= now_ms() {
            let _ = self.kv.delete(&key(id)).await;
            return None;
        }
        Some(SessionView {
            id: id.to_string(),
            csrf: s.csrf,
            user: s.user,
        })
    }

    /// End session `id`.
    pub(crate) async fn remove(&self, id: &str) {
        let _ = self.kv.delete(&key(id)).await;
    }

    /// Leave `flash` for the session's next page.
    pub(crate) async fn set_flash(&self, id: &str, flash: Flash) {
        if let Some(mut s) = self.load(id).await {
            s.flash = Some(flash);
            if let Err(e) = self.store(id, &s).await {
                tracing::warn!(error = %e, "could not keep a form's message for the next page");
            }
        }
    }

    /// Take what the last form left, once.
    pub(crate) async fn take_flash(&self, id: &str) -> Option<Flash> {
        let mut s = self.load(id).await?;
        let flash = s.flash.take()?;
        let _ = self.store(id, &s).await;
        Some(flash)
    }

    /// Whether `token` is session `id`'s CSRF token.
    pub(crate) fn check_csrf(&self, session: &SessionView, token: &str) -> bool {
        constant_time_eq(session.csrf.as_bytes(), token.as_bytes())
    }
}

/// The session id in a request's cookies.
pub(crate) fn session_cookie(headers: &http::HeaderMap) -> Option<String> {
    headers
        .get_all(http::header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|c| c.trim().split_once('='))
        .find(|(name, _)| *name == COOKIE)
        .map(|(_, value)| value.to_string())
}

/// The `Set-Cookie` value that starts session `id`.
pub(crate) fn set_cookie(id: &str) -> String {
    format!(
        "{COOKIE}={id}; HttpOnly; SameSite=Strict; Path=/ui; Max-Age={}",
        LIFETIME.as_secs()
    )
}

/// The `Set-Cookie` value that ends the session in the browser.
pub(crate) fn clear_cookie() -> String {
    format!("{COOKIE}=; HttpOnly; SameSite=Strict; Path=/ui; Max-Age=0")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn sessions_live_until_removed_and_carry_one_flash() {
        let sessions = Sessions::default();
        let s = sessions.create("AK").await.unwrap();
        assert_eq!(sessions.get(&s.id).await.unwrap().csrf, s.csrf);
        assert!(sessions.check_csrf(&s, &s.csrf));
        assert!(!sessions.check_csrf(&s, "nope"));
        assert_ne!(s.id, s.csrf);
        sessions.set_flash(&s.id, Flash::error("bad")).await;
        assert_eq!(sessions.take_flash(&s.id).await, Some(Flash::error("bad")));
        assert_eq!(sessions.take_flash(&s.id).await, None);
        sessions.remove(&s.id).await;
        assert!(sessions.get(&s.id).await.is_none());
    }

    #[tokio::test]
    async fn two_sidecars_on_one_store_share_sessions_and_never_store_the_id() {
        let kv: Arc<dyn Kv> = Arc::new(MemoryKv::new());
        let (a, b) = (Sessions::new(kv.clone()), Sessions::new(kv.clone()));
        let s = a.create("AK").await.unwrap();
        assert_eq!(b.get(&s.id).await.unwrap().user, "AK");
        b.set_flash(&s.id, Flash::ok("done")).await;
        assert_eq!(a.take_flash(&s.id).await, Some(Flash::ok("done")));
        let stored = kv.scan(b"", b"\xff", 10).await.unwrap();
        assert_eq!(stored.len(), 1);
        assert!(!String::from_utf8_lossy(&stored[0].0).contains(&s.id));
        assert!(!String::from_utf8_lossy(&stored[0].1).contains(&s.id));
        a.remove(&s.id).await;
        assert!(b.get(&s.id).await.is_none());
    }

    #[test]
    fn the_cookie_is_found_among_others() {
        let mut h = http::HeaderMap::new();
        h.insert(
            http::header::COOKIE,
            "a=1; sluice_session=abc; b=2".parse().unwrap(),
        );
        assert_eq!(session_cookie(&h).as_deref(), Some("abc"));
        assert!(set_cookie("x").contains("HttpOnly; SameSite=Strict; Path=/ui"));
    }
}
