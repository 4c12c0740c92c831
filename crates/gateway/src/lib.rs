//! # sluice-gateway: the sidecar
//!
//! One hyper server on one port. The S3 API ([`s3`]) maps buckets to repositories and the
//! first key segment to a ref, so that Spark, boto3, the AWS CLI and pyarrow read and write
//! `s3://repo/branch/path`. The lakeFS-shaped REST API ([`rest`]) shares the port. Everything S3
//! protocol-specific (SigV4, aws-chunked bodies, XML) comes from the `s3s` crate and stays
//! behind [`s3`].
#![warn(missing_docs)]

pub mod credentials;
pub mod rest;
pub mod s3;
pub mod server;
pub mod sync_stream;

use std::future::Future;
use std::pin::Pin;

use sluice_meta::Engine;

use crate::credentials::KeyPair;

/// The sidecar's request handler: cheap to clone, one per connection.
#[derive(Clone)]
pub struct App {
    s3: s3s::service::S3Service,
    engine: Engine,
    keys: KeyPair,
}

impl App {
    /// The handler over `engine`, accepting `keys`, with virtual-host style requests
    /// addressed as `{repo}.{domain}`.
    pub fn new(engine: Engine, keys: KeyPair, domain: &str) -> Self {
        Self {
            s3: s3::service(engine.clone(), keys.clone(), domain),
            engine,
            keys,
        }
    }
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
            if rest::is_api(req.uri().path()) {
                return Ok(rest::handle(&app.engine, &app.keys, req).await);
            }
            app.s3.call(req.map(s3s::Body::from)).await
        })
    }
}
