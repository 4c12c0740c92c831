//! # sluice-gateway: the sidecar
//!
//! One hyper server on one port. The S3 API ([`s3`]) maps buckets to repositories and the
//! first key segment to a ref, so that Spark, boto3, the AWS CLI and pyarrow read and write
//! `s3://repo/branch/path`. The lakeFS-shaped REST API ([`rest`]) and the web UI ([`ui`],
//! under `/ui`) share the port. Everything S3 protocol-specific (SigV4, aws-chunked bodies,
//! XML) comes from the `s3s` crate and stays behind [`s3`].
#![warn(missing_docs)]

pub mod access;
pub mod api;
pub mod auth;
pub mod credentials;
pub mod merge_tasks;
pub mod query_pool;
mod request;
pub mod rest;
pub mod s3;
pub mod server;
pub mod sync_stream;
pub mod tls;
pub mod ui;

use std::future::Future;

use futures::FutureExt as _;
use std::pin::Pin;

use sluice_meta::Engine;

use crate::access::Access;

/// The sidecar's request handler: cheap to clone, one per connection.
#[derive(Clone)]
pub struct App {
    s3: s3s::service::S3Service,
    engine: Engine,
    access: Access,
    ui: ui::Ui,
}

impl App {
    /// The handler over `engine`, with `access` deciding who may do what, and virtual-host
    /// style requests addressed as `{repo}.{domain}`.
    pub fn new(engine: Engine, access: Access, domain: &str) -> Self {
        Self {
            s3: s3::service(engine.clone(), access.clone(), domain),
            ui: ui::Ui::new(engine.kv().clone()),
            engine,
            access,
        }
    }
}

/// The answer to a request whose handler panicked, in its protocol's form.
fn internal_error(api: bool) -> http::Response<s3s::Body> {
    let (content_type, body) = if api {
        ("application/json", r#"{"message":"internal error"}"#)
    } else {
        (
            "application/xml",
            r#"<?xml version="1.0" encoding="UTF-8"?><Error><Code>InternalError</Code><Message>We encountered an internal error. Please try again.</Message></Error>"#,
        )
    };
    http::Response::builder()
        .status(http::StatusCode::INTERNAL_SERVER_ERROR)
        .header(http::header::CONTENT_TYPE, content_type)
        .body(s3s::Body::from(body.to_string()))
        .expect("valid response")
}

/// True when the request announces a body (a length above zero, or chunked).
fn request_has_body<B>(req: &http::Request<B>) -> bool {
    let headers = req.headers();
    headers.contains_key(http::header::TRANSFER_ENCODING)
        || headers
            .get(http::header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<u64>().ok())
            .is_some_and(|n| n > 0)
}

impl hyper::service::Service<http::Request<hyper::body::Incoming>> for App {
    type Response = http::Response<s3s::Body>;
    type Error = s3s::HttpError;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, Self::Error>> + Send>>;

    fn call(&self, req: http::Request<hyper::body::Incoming>) -> Self::Future {
        let app = self.clone();
        Box::pin(async move {
            // The REST API is routed before s3s, whose path parsing would take `api` for a
            // bucket and refuse Basic auth.
            let carries_body = request_has_body(&req);
            let api = rest::is_api(req.uri().path());
            let routed = async move {
                let response = if api {
                    rest::handle(&app.engine, &app.access, req).await
                } else if ui::is_ui(&req) {
                    ui::handle(&app.ui, &app.engine, &app.access, req).await
                } else {
                    s3::call(&app.s3, req).await?
                };
                Ok::<_, s3s::HttpError>(response)
            };
            // A bug that panics answers 500 and is logged, instead of dropping the
            // connection without a word; nothing it held is shared with other requests.
            let mut response = match std::panic::AssertUnwindSafe(routed).catch_unwind().await {
                Ok(answer) => answer?,
                Err(panic) => {
                    let what = panic
                        .downcast_ref::<&str>()
                        .map(|s| s.to_string())
                        .or_else(|| panic.downcast_ref::<String>().cloned())
                        .unwrap_or_default();
                    tracing::error!(panic = %what, "a request panicked");
                    internal_error(api)
                }
            };
            // An error answered before the body was read leaves the body unsent (a client
            // waiting on `Expect: 100-continue` never sends it) or unread; either way the
            // connection's framing is in doubt, so it is not reused.
            if carries_body && !response.status().is_success() {
                response.headers_mut().insert(
                    http::header::CONNECTION,
                    http::HeaderValue::from_static("close"),
                );
            }
            Ok(response)
        })
    }
}
