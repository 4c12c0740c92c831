//! What happens around s3s for every S3 request: a request id on each answer (the
//! `x-amz-request-id` header and, in error documents, `RequestId`), and the digest check
//! of DeleteObjects, whose body s3s parses before any of our code sees it.

use base64::Engine as _;
use bytes::Bytes;
use http_body_util::BodyExt;
use s3s::crypto::{Checksum as _, Crc32, Crc32c, Crc64Nvme, Md5, Sha1, Sha256};
use s3s::service::S3Service;
use s3s::{S3Error, S3ErrorCode};

use super::body::ALGORITHMS;

/// The largest DeleteObjects body (1,000 keys fit), as s3s's own XML limit.
const MAX_DELETE_BODY: u64 = 8 * 1024 * 1024;

/// Serve one S3 request through s3s.
pub(crate) async fn call(
    s3: &S3Service,
    req: http::Request<hyper::body::Incoming>,
) -> Result<http::Response<s3s::Body>, s3s::HttpError> {
    let id = request_id();
    let req = if is_delete_objects(&req) {
        with_delete_digest(req).await
    } else {
        req.map(s3s::Body::from)
    };
    let mut response = match s3.call(req).await {
        Ok(r) => r,
        // s3s could not read the request at all (a path whose percent-encoding is broken,
        // say): answer S3's error instead of dropping the connection without a word.
        Err(e) => {
            tracing::debug!(error = ?e, "an S3 request that could not be read");
            unreadable()
        }
    };
    stamp(&mut response, &id);
    Ok(response)
}

/// S3's answer to a request it cannot parse.
fn unreadable() -> http::Response<s3s::Body> {
    let body = "<?xml version=\"1.0\" encoding=\"UTF-8\"?><Error><Code>InvalidURI</Code><Message>Couldn't parse the specified URI.</Message></Error>";
    http::Response::builder()
        .status(http::StatusCode::BAD_REQUEST)
        .header(http::header::CONTENT_TYPE, "application/xml")
        .body(s3s::Body::from(body.to_string()))
        .expect("valid response")
}

/// A fresh request id, in S3's shape (16 upper-case hex digits).
fn request_id() -> String {
    uuid::Uuid::new_v4().simple().to_string()[..16].to_ascii_uppercase()
}

/// Name the request on the answer; an error document carries the same id as the header.
fn stamp(response: &mut http::Response<s3s::Body>, id: &str) {
    if let Ok(v) = http::HeaderValue::from_str(id) {
        response.headers_mut().insert("x-amz-request-id", v);
    }
    if response.status().is_success() {
        return;
    }
    let Some(bytes) = response.body().bytes() else {
        return;
    };
    let Ok(text) = std::str::from_utf8(&bytes) else {
        return;
    };
    let Some(at) = text.rfind("</Error>") else {
        return;
    };
    if text.contains("<RequestId>") {
        return;
    }
    let stamped = format!("{}<RequestId>{id}</RequestId>{}", &text[..at], &text[at..]);
    if let Some(len) = response.headers_mut().get_mut(http::header::CONTENT_LENGTH) {
        *len = http::HeaderValue::from(stamped.len());
    }
    *response.body_mut() = s3s::Body::from(stamped);
}

/// `POST /{bucket}?delete`: the only S3 POST with a `delete` parameter.
fn is_delete_objects<B>(req: &http::Request<B>) -> bool {
    req.method() == http::Method::POST
        && req.uri().query().is_some_and(|q| {
            q.split('&')
                .any(|p| p == "delete" || p.starts_with("delete="))
        })
}

/// The digest check of a DeleteObjects body, for the operation to answer with once s3s
/// has authenticated the request.
#[derive(Debug, Clone)]
pub(crate) struct DeleteDigest(pub Result<(), (S3ErrorCode, String)>);

impl DeleteDigest {
    /// The error to answer with, if the check failed.
    pub fn error(&self) -> Option<S3Error> {
        self.0
            .as_ref()
            .err()
            .map(|(code, message)| S3Error::with_message(code.clone(), message.clone()))
    }
}

/// Buffer a DeleteObjects body (it is small, and s3s buffers it anyway), check it against
/// Content-MD5 or an `x-amz-checksum-*` header (S3 requires one of them on this call), and
/// hand s3s the same bytes with the verdict attached.
async fn with_delete_digest(req: http::Request<hyper::body::Incoming>) -> http::Request<s3s::Body> {
    let headers = req.headers();
    let streaming = headers
        .get("x-amz-content-sha256")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("STREAMING-"));
    let length = headers
        .get(http::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if streaming || length.is_none_or(|n| n > MAX_DELETE_BODY) {
        // An aws-chunked body is decoded by s3s: only the presence of a digest can be
        // checked here. A body without a length or over the limit is s3s's to refuse.
        let verdict = if streaming {
            present(req.headers())
        } else {
            Ok(())
        };
        let (mut parts, body) = req.into_parts();
        parts.extensions.insert(DeleteDigest(verdict));
        return http::Request::from_parts(parts, s3s::Body::from(body));
    }
    let (mut parts, body) = req.into_parts();
    let limited = http_body_util::Limited::new(body, MAX_DELETE_BODY as usize);
    let (bytes, verdict) = match limited.collect().await {
        Ok(collected) => {
            let bytes = collected.to_bytes();
            let verdict = check(&parts.headers, &bytes);
            (bytes, verdict)
        }
        Err(_) => (
            Bytes::new(),
            Err((
                S3ErrorCode::IncompleteBody,
                "The request body ended early.".to_string(),
            )),
        ),
    };
    parts.extensions.insert(DeleteDigest(verdict));
    http::Request::from_parts(parts, s3s::Body::from(bytes))
}

fn missing() -> (S3ErrorCode, String) {
    (
        S3ErrorCode::InvalidRequest,
        "Missing required header for this request: Content-Md5".to_string(),
    )
}

/// For a body we cannot see: a digest header must be there.
fn present(headers: &http::HeaderMap) -> Result<(), (S3ErrorCode, String)> {
    let named = headers.contains_key("content-md5")
        || headers.contains_key("x-amz-trailer")
        || ALGORITHMS
            .iter()
            .any(|a| headers.contains_key(format!("x-amz-checksum-{a}")));
    if named { Ok(()) } else { Err(missing()) }
}

/// Content-MD5 first, else the first `x-amz-checksum-*` header, against `body`.
fn check(headers: &http::HeaderMap, body: &[u8]) -> Result<(), (S3ErrorCode, String)> {
    let b64 = base64::engine::general_purpose::STANDARD;
    if let Some(v) = headers.get("content-md5") {
        let want = v
            .to_str()
            .ok()
            .and_then(|v| b64.decode(v.trim()).ok())
            .filter(|raw| raw.len() == 16)
            .ok_or_else(|| {
                (
                    S3ErrorCode::InvalidDigest,
                    "The Content-MD5 you specified is not valid.".to_string(),
                )
            })?;
        let mut md5 = Md5::new();
        md5.update(body);
        return if md5.finalize().as_ref() == want.as_slice() {
            Ok(())
        } else {
            Err((
                S3ErrorCode::BadDigest,
                "The Content-MD5 you specified did not match what we received.".to_string(),
            ))
        };
    }
    for alg in ALGORITHMS {
        let Some(v) = headers.get(format!("x-amz-checksum-{alg}")) else {
            continue;
        };
        let got = digest(alg, body);
        let want = v.to_str().unwrap_or_default().trim();
        if !b64.decode(want).is_ok_and(|raw| raw.len() == got.len()) {
            return Err((
                S3ErrorCode::InvalidRequest,
                format!("Value for x-amz-checksum-{alg} header is invalid."),
            ));
        }
        return if b64.encode(&got) == want {
            Ok(())
        } else {
            Err((
                S3ErrorCode::BadDigest,
                format!("The {alg} you specified did not match the calculated checksum."),
            ))
        };
    }
    Err(missing())
}

/// The raw checksum `alg` of `body`.
fn digest(alg: &str, body: &[u8]) -> Vec<u8> {
    fn run<C: s3s::crypto::Checksum>(mut c: C, body: &[u8]) -> Vec<u8> {
        c.update(body);
        c.finalize().as_ref().to_vec()
    }
    match alg {
        "crc32" => run(Crc32::new(), body),
        "crc32c" => run(Crc32c::new(), body),
        "crc64nvme" => run(Crc64Nvme::new(), body),
        "sha1" => run(Sha1::new(), body),
        _ => run(Sha256::new(), body),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&str, &str)]) -> http::HeaderMap {
        let mut h = http::HeaderMap::new();
        for (k, v) in pairs {
            h.insert(
                http::HeaderName::from_bytes(k.as_bytes()).unwrap(),
                v.parse().unwrap(),
            );
        }
        h
    }

    fn code(r: Result<(), (S3ErrorCode, String)>) -> Option<String> {
        r.err().map(|(c, _)| c.as_str().to_string())
    }

    #[test]
    fn delete_digests() {
        let body = b"<Delete><Object><Key>main/a</Key></Object></Delete>";
        let md5 = base64::engine::general_purpose::STANDARD.encode(digest_md5(body));
        assert_eq!(code(check(&headers(&[("content-md5", &md5)]), body)), None);
        assert_eq!(
            code(check(&headers(&[]), body)).as_deref(),
            Some("InvalidRequest")
        );
        assert_eq!(
            code(check(&headers(&[("content-md5", "")]), body)).as_deref(),
            Some("InvalidDigest")
        );
        assert_eq!(
            code(check(&headers(&[("content-md5", "not base64!")]), body)).as_deref(),
            Some("InvalidDigest")
        );
        let other = base64::engine::general_purpose::STANDARD.encode(digest_md5(b"x"));
        assert_eq!(
            code(check(&headers(&[("content-md5", &other)]), body)).as_deref(),
            Some("BadDigest")
        );
        let crc = base64::engine::general_purpose::STANDARD.encode(digest("crc32", body));
        assert_eq!(
            code(check(&headers(&[("x-amz-checksum-crc32", &crc)]), body)),
            None
        );
        assert_eq!(
            code(check(
                &headers(&[("x-amz-checksum-crc32", "AAAAAA==")]),
                body
            ))
            .as_deref(),
            Some("BadDigest")
        );
    }

    fn digest_md5(body: &[u8]) -> Vec<u8> {
        let mut m = Md5::new();
        m.update(body);
        m.finalize().as_ref().to_vec()
    }

    #[test]
    fn request_ids_join_error_documents() {
        let mut r = http::Response::new(s3s::Body::from(
            "<?xml version=\"1.0\"?><Error><Code>NoSuchKey</Code></Error>".to_string(),
        ));
        *r.status_mut() = http::StatusCode::NOT_FOUND;
        stamp(&mut r, "ABC");
        assert_eq!(r.headers()["x-amz-request-id"], "ABC");
        let body = r.body().bytes().unwrap();
        assert!(
            std::str::from_utf8(&body)
                .unwrap()
                .ends_with("<RequestId>ABC</RequestId></Error>")
        );
    }
}
