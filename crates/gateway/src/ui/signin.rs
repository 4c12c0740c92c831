//! Signing in with the admin key pair, and out.

use bytes::Bytes;
use http::{Request, Response, StatusCode};
use maud::html;

use super::form::{Form, read_form};
use super::layout::page;
use super::session::{self, Flash, SessionView, Sessions};
use super::{Reply, html, redirect};
use crate::access::Access;

/// Where to go after signing in: a page of the UI, never another site.
fn next_page(form: &Form) -> String {
    match form.get("next") {
        Some(n) if n.starts_with("/ui/") && !n.starts_with("/ui//") && !n.contains('\\') => {
            n.to_string()
        }
        _ => "/ui/repositories".to_string(),
    }
}

/// The sign-in form, with an error when the last try failed.
pub(crate) fn page_with(error: Option<&str>, form: &Form, status: StatusCode) -> Reply {
    let flash = error.map(Flash::error);
    let body = html! {
        section.signin {
            h1 { "Sign in to Sluice" }
            p.hint { "Use the access key pair that " code { "sluice run" } " printed on its first start (or the one in "
                code { "SLUICE_ACCESS_KEY_ID" } " and " code { "SLUICE_SECRET_ACCESS_KEY" } ")." }
            form method="post" action="/ui/login" {
                input type="hidden" name="next" value=(next_page(form));
                label for="access_key_id" { "Access key ID" }
                input #access_key_id type="text" name="access_key_id" autocomplete="username"
                    required autofocus value=(form.text("access_key_id"));
                label for="secret_access_key" { "Secret access key" }
                input #secret_access_key type="password" name="secret_access_key"
                    autocomplete="current-password" required;
                button type="submit" { "Sign in" }
            }
        }
    };
    html(status, page("Sign in", None, None, flash.as_ref(), body))
}

/// `GET /ui/login`.
pub(crate) fn form_page(error: Option<&str>, query: Form) -> Reply {
    page_with(error, &query, StatusCode::OK)
}

/// `POST /ui/login`: a session for the right key pair, the form again with an error for a
/// wrong one.
pub(crate) async fn sign_in<B>(sessions: &Sessions, access: &Access, req: Request<B>) -> Reply
where
    B: hyper::body::Body<Data = Bytes> + Send,
    B::Error: std::error::Error + Send + Sync + 'static,
{
    let form = match read_form(req.into_body()).await {
        Ok(f) => f,
        Err(e) => return page_with(Some(&e.message), &Form::default(), e.status),
    };
    let id = form.text("access_key_id").trim();
    let secret = form.text("secret_access_key");
    if id.is_empty() || secret.is_empty() {
        return page_with(
            Some("Enter both the access key ID and the secret access key."),
            &form,
            StatusCode::OK,
        );
    }
    let Some(identity) = crate::auth::key_pair(access, id, secret, crate::auth::Via::Session).await
    else {
        return page_with(
            Some("Wrong access key ID or secret access key: check the pair and try again."),
            &form,
            StatusCode::OK,
        );
    };
    let s = match sessions.create(&identity.user).await {
        Ok(s) => s,
        Err(e) => {
            return page_with(
                Some(&format!("Cannot start a session now: {e}")),
                &form,
                StatusCode::SERVICE_UNAVAILABLE,
            );
        }
    };
    Response::builder()
        .status(StatusCode::SEE_OTHER)
        .header(http::header::LOCATION, next_page(&form))
        .header(http::header::SET_COOKIE, session::set_cookie(&s.id))
        .body(s3s::Body::empty())
        .expect("valid response")
}

/// `POST /ui/logout`.
pub(crate) async fn sign_out<B>(sessions: &Sessions, s: &SessionView, req: Request<B>) -> Reply
where
    B: hyper::body::Body<Data = Bytes> + Send,
    B::Error: std::error::Error + Send + Sync + 'static,
{
    let form = read_form(req.into_body()).await.unwrap_or_default();
    if !sessions.check_csrf(s, form.text("csrf")) {
        return super::layout::error_page(&super::csrf_refused());
    }
    sessions.remove(&s.id).await;
    let mut r = redirect("/ui/login");
    r.headers_mut().insert(
        http::header::SET_COOKIE,
        session::clear_cookie().parse().expect("valid header"),
    );
    r
}
