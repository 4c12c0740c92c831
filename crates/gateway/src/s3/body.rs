//! Request bodies: streamed through, never held whole, with Content-MD5 and the
//! `x-amz-checksum-*` values (in headers or aws-chunked trailers) verified at the end and
//! the size capped. A failed check ends the stream with an error, so the engine discards the
//! write and stages nothing.

use std::collections::BTreeMap;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};

use base64::Engine as _;
use bytes::Bytes;
use futures::Stream;
use http::HeaderMap;
use s3s::checksum::ChecksumHasher;
use s3s::crypto::{Checksum as _, Crc32, Crc32c, Crc64Nvme, Md5, Sha1, Sha256};
use s3s::dto::StreamingBlob;
use s3s::{S3Error, S3ErrorCode, TrailingHeaders};
use std::future::Future as _;

/// The largest single PUT or part S3 accepts.
pub(crate) const MAX_OBJECT_BYTES: u64 = 5 * 1024 * 1024 * 1024;

/// The checksum algorithms S3 knows, with their header names.
pub(crate) const ALGORITHMS: [&str; 5] = ["crc32", "crc32c", "crc64nvme", "sha1", "sha256"];

/// What a body must satisfy.
#[derive(Default)]
pub(crate) struct Expectations {
    /// Content-MD5, decoded.
    pub md5: Option<[u8; 16]>,
    /// Checksums given in headers, by algorithm (base64).
    pub checksums: BTreeMap<String, String>,
    /// Algorithms to compute (declared, or present in headers or trailers).
    pub compute: Vec<String>,
    /// The decoded length the client declared.
    pub length: Option<u64>,
    /// Trailers of an aws-chunked body, readable once it ended.
    pub trailers: Option<TrailingHeaders>,
    /// The checksum trailer `x-amz-trailer` announced: it must arrive.
    pub announced_trailer: Option<String>,
}

/// Read what a request says about its body. Fails on a malformed Content-MD5.
pub(crate) fn expectations(
    headers: &HeaderMap,
    content_md5: Option<&str>,
    length: Option<i64>,
    trailers: Option<TrailingHeaders>,
) -> Result<Expectations, S3Error> {
    // s3s reads an empty header as no header; S3 refuses an empty Content-MD5.
    let content_md5 = match (content_md5, headers.get("content-md5")) {
        (None, Some(_)) => Some(""),
        (given, _) => given,
    };
    let md5 = match content_md5 {
        Some(b64) => {
            let raw = base64::engine::general_purpose::STANDARD
                .decode(b64.trim())
                .ok()
                .and_then(|v| <[u8; 16]>::try_from(v).ok())
                .ok_or_else(|| {
                    S3Error::with_message(
                        S3ErrorCode::InvalidDigest,
                        "The Content-MD5 you specified is not valid.",
                    )
                })?;
            Some(raw)
        }
        None => None,
    };
    let mut checksums = BTreeMap::new();
    let mut compute = Vec::new();
    for alg in ALGORITHMS {
        if let Some(v) = headers
            .get(format!("x-amz-checksum-{alg}"))
            .and_then(|v| v.to_str().ok())
        {
            checksums.insert(alg.to_string(), v.to_string());
            compute.push(alg.to_string());
        }
    }
    let declared = [
        "x-amz-sdk-checksum-algorithm",
        "x-amz-checksum-algorithm",
        "x-amz-trailer",
    ];
    let mut announced_trailer = None;
    for name in declared {
        if let Some(v) = headers.get(name).and_then(|v| v.to_str().ok()) {
            let alg = v
                .trim()
                .to_ascii_lowercase()
                .trim_start_matches("x-amz-checksum-")
                .to_string();
            if ALGORITHMS.contains(&alg.as_str()) && !compute.contains(&alg) {
                compute.push(alg.clone());
            }
            if name == "x-amz-trailer" && ALGORITHMS.contains(&alg.as_str()) {
                announced_trailer = Some(alg);
            }
        }
    }
    Ok(Expectations {
        md5,
        checksums,
        compute,
        length: length.and_then(|l| u64::try_from(l).ok()),
        trailers,
        announced_trailer,
    })
}

/// What the checked stream found, once it ended.
#[derive(Default)]
pub(crate) struct Outcome {
    /// The first failure, as the S3 error to answer with.
    pub failure: Option<S3Error>,
    /// Checksums computed over the body, by algorithm (base64).
    pub checksums: BTreeMap<String, String>,
}

/// How long a body may go without a byte before the request is cut with S3's
/// `RequestTimeout`: 60 s, or `SLUICE_BODY_IDLE_SECONDS`. A client that trickles a body
/// (or stops sending it) holds a connection and a write for no longer than that.
fn idle_limit() -> std::time::Duration {
    static LIMIT: std::sync::OnceLock<std::time::Duration> = std::sync::OnceLock::new();
    *LIMIT.get_or_init(|| {
        let seconds = std::env::var("SLUICE_BODY_IDLE_SECONDS")
            .ok()
            .and_then(|v| v.parse::<u64>().ok())
            .filter(|n| *n > 0)
            .unwrap_or(60);
        std::time::Duration::from_secs(seconds)
    })
}

/// A body stream that checks as it goes.
pub(crate) struct CheckedBody {
    inner: StreamingBlob,
    /// Fires when no byte arrived for [`idle_limit`].
    idle: Pin<Box<tokio::time::Sleep>>,
    expect: Expectations,
    md5: Option<Md5>,
    hasher: Option<ChecksumHasher>,
    seen: u64,
    outcome: Arc<Mutex<Outcome>>,
    done: bool,
}

impl CheckedBody {
    pub fn new(inner: StreamingBlob, expect: Expectations) -> (Self, Arc<Mutex<Outcome>>) {
        let outcome = Arc::new(Mutex::new(Outcome::default()));
        let hasher = (!expect.compute.is_empty()).then(|| {
            let mut h = ChecksumHasher::default();
            for alg in &expect.compute {
                match alg.as_str() {
                    "crc32" => h.crc32 = Some(Crc32::new()),
                    "crc32c" => h.crc32c = Some(Crc32c::new()),
                    "crc64nvme" => h.crc64nvme = Some(Crc64Nvme::new()),
                    "sha1" => h.sha1 = Some(Sha1::new()),
                    "sha256" => h.sha256 = Some(Sha256::new()),
                    _ => {}
                }
            }
            h
        });
        let md5 = expect.md5.map(|_| Md5::new());
        (
            Self {
                inner,
                idle: Box::pin(tokio::time::sleep(idle_limit())),
                expect,
                md5,
                hasher,
                seen: 0,
                outcome: outcome.clone(),
                done: false,
            },
            outcome,
        )
    }

    fn fail(&mut self, error: S3Error) -> Poll<Option<std::io::Result<Bytes>>> {
        self.done = true;
        let message = error.message().unwrap_or("invalid body").to_string();
        self.outcome.lock().expect("outcome lock").failure = Some(error);
        Poll::Ready(Some(Err(std::io::Error::other(message))))
    }

    /// All bytes are in: compare lengths, digests and checksums.
    fn finish(&mut self) -> Result<(), S3Error> {
        if let Some(len) = self.expect.length
            && len != self.seen
        {
            return Err(S3Error::with_message(
                S3ErrorCode::IncompleteBody,
                format!(
                    "You did not provide the number of bytes specified by the Content-Length ({len}); got {}",
                    self.seen
                ),
            ));
        }
        if let (Some(md5), Some(want)) = (self.md5.take(), self.expect.md5) {
            let got = md5.finalize();
            if got.as_ref() != want.as_slice() {
                return Err(S3Error::with_message(
                    S3ErrorCode::BadDigest,
                    "The Content-MD5 you specified did not match what we received.",
                ));
            }
        }
        let mut computed = BTreeMap::new();
        if let Some(h) = self.hasher.take() {
            let c = h.finalize();
            for (alg, v) in [
                ("crc32", c.checksum_crc32),
                ("crc32c", c.checksum_crc32c),
                ("crc64nvme", c.checksum_crc64nvme),
                ("sha1", c.checksum_sha1),
                ("sha256", c.checksum_sha256),
            ] {
                if let Some(v) = v {
                    computed.insert(alg.to_string(), v);
                }
            }
        }
        let mut expected = self.expect.checksums.clone();
        let mut trailed = Vec::new();
        if let Some(trailers) = self.expect.trailers.as_ref().and_then(|t| t.take()) {
            for alg in ALGORITHMS {
                if let Some(v) = trailers
                    .get(format!("x-amz-checksum-{alg}"))
                    .and_then(|v| v.to_str().ok())
                {
                    expected.insert(alg.to_string(), v.to_string());
                    trailed.push(alg.to_string());
                }
            }
        }
        // A body whose announced checksum trailer never came (or came mangled) is not
        // checked by anything: refuse it rather than store bytes nothing vouched for.
        if let Some(alg) = &self.expect.announced_trailer
            && !trailed.contains(alg)
        {
            let mut err = S3Error::with_message(
                "MalformedTrailerError"
                    .parse::<S3ErrorCode>()
                    .expect("infallible"),
                format!(
                    "The x-amz-checksum-{alg} trailer that x-amz-trailer announced did not arrive."
                ),
            );
            err.set_status_code(http::StatusCode::BAD_REQUEST);
            return Err(err);
        }
        for (alg, want) in &expected {
            match computed.get(alg) {
                Some(got) if got == want => {}
                Some(_) => {
                    return Err(S3Error::with_message(
                        S3ErrorCode::BadDigest,
                        format!("The {alg} you specified did not match the calculated checksum."),
                    ));
                }
                None => {
                    return Err(S3Error::with_message(
                        S3ErrorCode::InvalidRequest,
                        format!("checksum {alg} was given but not declared"),
                    ));
                }
            }
        }
        self.outcome.lock().expect("outcome lock").checksums = computed;
        Ok(())
    }
}

/// s3s reports body failures as opaque errors; their text says which.
fn body_error(e: &(dyn std::error::Error + Send + Sync)) -> S3Error {
    let text = e.to_string();
    if text.contains("Sha256Mismatch") {
        let mut err = S3Error::with_message(
            "XAmzContentSHA256Mismatch"
                .parse::<S3ErrorCode>()
                .expect("infallible"),
            "The provided 'x-amz-content-sha256' header does not match what was computed.",
        );
        err.set_status_code(http::StatusCode::BAD_REQUEST);
        err
    } else if text.contains("SignatureMismatch") {
        S3Error::with_message(
            S3ErrorCode::SignatureDoesNotMatch,
            "A chunk signature does not match.",
        )
    } else if text.contains("FormatError") || text.contains("TooLarge") {
        S3Error::with_message(S3ErrorCode::InvalidRequest, "Malformed aws-chunked body.")
    } else {
        S3Error::with_message(S3ErrorCode::IncompleteBody, "The request body ended early.")
    }
}

impl Stream for CheckedBody {
    type Item = std::io::Result<Bytes>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        if self.done {
            return Poll::Ready(None);
        }
        match Pin::new(&mut self.inner).poll_next(cx) {
            Poll::Pending => match self.idle.as_mut().poll(cx) {
                Poll::Pending => Poll::Pending,
                Poll::Ready(()) => {
                    let mut err = S3Error::with_message(
                        "RequestTimeout".parse::<S3ErrorCode>().expect("infallible"),
                        "Your socket connection to the server was not read from or written to within the timeout period.",
                    );
                    err.set_status_code(http::StatusCode::BAD_REQUEST);
                    self.fail(err)
                }
            },
            Poll::Ready(Some(Ok(chunk))) => {
                let next = tokio::time::Instant::now() + idle_limit();
                self.idle.as_mut().reset(next);
                self.seen += chunk.len() as u64;
                if self.seen > MAX_OBJECT_BYTES {
                    return self.fail(S3Error::with_message(
                        S3ErrorCode::EntityTooLarge,
                        "Your proposed upload exceeds the maximum allowed object size (5 GiB).",
                    ));
                }
                if let Some(m) = self.md5.as_mut() {
                    m.update(&chunk);
                }
                if let Some(h) = self.hasher.as_mut() {
                    h.update(&chunk);
                }
                Poll::Ready(Some(Ok(chunk)))
            }
            Poll::Ready(Some(Err(e))) => {
                let err = body_error(e.as_ref());
                self.fail(err)
            }
            Poll::Ready(None) => match self.finish() {
                Ok(()) => {
                    self.done = true;
                    Poll::Ready(None)
                }
                Err(e) => self.fail(e),
            },
        }
    }
}

/// What a body turned into once checked and stored.
pub(crate) struct Stored<T> {
    pub value: T,
    /// Checksums computed over the body, by algorithm.
    pub checksums: BTreeMap<String, String>,
}

/// Run `consume` over the checked `blob`; a failed check becomes its own S3 error, any
/// other failure goes through `otherwise`.
pub(crate) async fn consume_checked<T, F, Fut>(
    blob: Option<StreamingBlob>,
    expect: Expectations,
    consume: F,
    otherwise: impl FnOnce(sluice_meta::Error) -> S3Error,
) -> Result<Stored<T>, S3Error>
where
    F: FnOnce(CheckedBody) -> Fut,
    Fut: std::future::Future<Output = sluice_meta::Result<T>>,
{
    let blob = blob.unwrap_or_else(|| {
        StreamingBlob::wrap(futures::stream::empty::<Result<Bytes, std::io::Error>>())
    });
    let (stream, outcome) = CheckedBody::new(blob, expect);
    match consume(stream).await {
        Ok(value) => Ok(Stored {
            value,
            checksums: std::mem::take(&mut outcome.lock().expect("outcome lock").checksums),
        }),
        Err(e) => Err(outcome
            .lock()
            .expect("outcome lock")
            .failure
            .take()
            .unwrap_or_else(|| otherwise(e))),
    }
}
