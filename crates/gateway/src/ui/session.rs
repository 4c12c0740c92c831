//! Browser sessions: a random id in a cookie (HttpOnly, SameSite=Strict, Path=/ui), kept in
//! memory with an expiry; each session has its own CSRF token, which every POST form
//! carries and which is checked in constant time. A flash message carries the outcome of
//! a form (an error, a refused merge's report) to the page it redirects to.

use std::sync::Arc;
use std::time::{Duration, Instant};

use dashmap::DashMap;

/// The cookie's name.
pub(crate) const COOKIE: &str = "sluice_session";

/// How long a session lasts after sign-in.
pub(crate) const LIFETIME: Duration = Duration::from_secs(12 * 60 * 60);

/// What a form left for the next page to show.
#[derive(Debug, Clone, PartialEq)]
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

#[derive(Debug)]
struct Session {
    csrf: String,
    user: String,
    expires: Instant,
    flash: Option<Flash>,
}

/// A signed-in session, as a request sees it.
#[derive(Debug, Clone)]
pub(crate) struct SessionView {
    pub id: String,
    pub csrf: String,
    pub user: String,
}

/// The sessions of one server.
#[derive(Clone, Default)]
pub(crate) struct Sessions {
    map: Arc<DashMap<String, Session>>,
}

/// 256 random bits as hex.
fn random_token() -> String {
    format!(
        "{}{}",
        uuid::Uuid::new_v4().simple(),
        uuid::Uuid::new_v4().simple()
    )
}

pub(crate) use crate::auth::constant_time_eq;

impl Sessions {
    /// A new session for `user`; expired ones are dropped on the way.
    pub(crate) fn create(&self, user: &str) -> SessionView {
        let now = Instant::now();
        self.map.retain(|_, s| s.expires > now);
        let id = random_token();
        let csrf = random_token();
        self.map.insert(
            id.clone(),
            Session {
                csrf: csrf.clone(),
                user: user.to_string(),
                expires: now + LIFETIME,
                flash: None,
            },
        );
        SessionView {
            id,
            csrf,
            user: user.to_string(),
        }
    }

    /// The live session `id` names.
    pub(crate) fn get(&self, id: &str) -> Option<SessionView> {
        let now = Instant::now();
        let found = self.map.get(id).map(|s| {
            (s.expires > now).then(|| SessionView {
                id: id.to_string(),
                csrf: s.csrf.clone(),
                user: s.user.clone(),
            })
        })?;
        if found.is_none() {
            self.map.remove(id);
        }
        found
    }

    /// End session `id`.
    pub(crate) fn remove(&self, id: &str) {
        self.map.remove(id);
    }

    /// Leave `flash` for the session's next page.
    pub(crate) fn set_flash(&self, id: &str, flash: Flash) {
        if let Some(mut s) = self.map.get_mut(id) {
            s.flash = Some(flash);
        }
    }

    /// Take what the last form left, once.
    pub(crate) fn take_flash(&self, id: &str) -> Option<Flash> {
        self.map.get_mut(id).and_then(|mut s| s.flash.take())
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

    #[test]
    fn sessions_live_until_removed_and_carry_one_flash() {
        let sessions = Sessions::default();
        let s = sessions.create("AK");
        assert_eq!(sessions.get(&s.id).unwrap().csrf, s.csrf);
        assert!(sessions.check_csrf(&s, &s.csrf));
        assert!(!sessions.check_csrf(&s, "nope"));
        assert_ne!(s.id, s.csrf);
        sessions.set_flash(&s.id, Flash::error("bad"));
        assert_eq!(sessions.take_flash(&s.id), Some(Flash::error("bad")));
        assert_eq!(sessions.take_flash(&s.id), None);
        sessions.remove(&s.id);
        assert!(sessions.get(&s.id).is_none());
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
