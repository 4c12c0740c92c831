//! Query strings and `application/x-www-form-urlencoded` bodies, and the URLs the pages
//! link to.

use bytes::Bytes;
use http_body_util::BodyExt;
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};

use super::UiError;

/// The largest form body read.
const MAX_FORM: usize = 1024 * 1024;

/// Characters escaped in a query value: everything but unreserved ones and `/`.
const QUERY_VALUE: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'_')
    .remove(b'.')
    .remove(b'~')
    .remove(b'/');

/// Characters escaped in a path segment.
const SEGMENT: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'_')
    .remove(b'.')
    .remove(b'~');

/// Name/value pairs in order; a name may repeat.
#[derive(Debug, Default, Clone)]
pub(crate) struct Form(Vec<(String, String)>);

impl Form {
    pub(crate) fn parse(s: &str) -> Self {
        let decode = |s: &str| {
            percent_encoding::percent_decode_str(&s.replace('+', " "))
                .decode_utf8_lossy()
                .into_owned()
        };
        Self(
            s.split('&')
                .filter(|p| !p.is_empty())
                .map(|pair| {
                    let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
                    (decode(k), decode(v))
                })
                .collect(),
        )
    }

    /// The first value of `name`, when not empty.
    pub(crate) fn get(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
            .filter(|v| !v.is_empty())
    }

    /// The first value of `name`, or "".
    pub(crate) fn text(&self, name: &str) -> &str {
        self.get(name).unwrap_or("")
    }

    /// Every value of `name`, in order (empty ones too, so that pairs of lists line up).
    pub(crate) fn all(&self, name: &str) -> Vec<&str> {
        self.0
            .iter()
            .filter(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
            .collect()
    }
}

/// Read a form body.
pub(crate) async fn read_form<B>(body: B) -> Result<Form, UiError>
where
    B: hyper::body::Body<Data = Bytes> + Send,
    B::Error: std::error::Error + Send + Sync + 'static,
{
    let bytes = http_body_util::Limited::new(body, MAX_FORM)
        .collect()
        .await
        .map_err(|e| UiError::bad_request(format!("the form could not be read: {e}")))?
        .to_bytes();
    Ok(Form::parse(&String::from_utf8_lossy(&bytes)))
}

/// `path` with `params` as its query string (empty values left out).
pub(crate) fn url(path: &str, params: &[(&str, &str)]) -> String {
    let query: Vec<String> = params
        .iter()
        .filter(|(_, v)| !v.is_empty())
        .map(|(k, v)| format!("{k}={}", utf8_percent_encode(v, QUERY_VALUE)))
        .collect();
    if query.is_empty() {
        path.to_string()
    } else {
        format!("{path}?{}", query.join("&"))
    }
}

/// The address of a repository's page: `/ui/repositories/{repo}/{page}`.
pub(crate) fn repo_url(repo: &str, page: &str, params: &[(&str, &str)]) -> String {
    let base = format!("/ui/repositories/{}", utf8_percent_encode(repo, SEGMENT));
    let path = if page.is_empty() {
        base
    } else {
        format!("{base}/{page}")
    };
    url(&path, params)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn forms_and_urls_round_trip() {
        let f = Form::parse("a=1&b=x+y%2Fz&a=2&k=&k=v");
        assert_eq!(f.get("a"), Some("1"));
        assert_eq!(f.get("b"), Some("x y/z"));
        assert_eq!(f.all("a"), ["1", "2"]);
        assert_eq!(f.all("k"), ["", "v"]);
        assert_eq!(f.get("k"), None);
        let u = url("/p", &[("path", "a b/<c>&"), ("ref", "")]);
        assert_eq!(u, "/p?path=a%20b/%3Cc%3E%26");
        let back = Form::parse(u.split_once('?').unwrap().1);
        assert_eq!(back.get("path"), Some("a b/<c>&"));
        assert_eq!(repo_url("r", "objects", &[]), "/ui/repositories/r/objects");
    }
}
