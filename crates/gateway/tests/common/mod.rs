//! A gateway on port 0 over an embedded engine in a temporary folder, and the means to talk
//! to it byte for byte: a SigV4 signer (headers, aws-chunked chunk and trailer signatures)
//! and a one-request-per-connection HTTP client.
#![allow(dead_code)]

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use base64::Engine as _;
use hmac::{Hmac, KeyInit, Mac};
use s3s::crypto::Checksum as _;
use sha2::{Digest, Sha256};
use sluice_gateway::credentials::KeyPair;
use sluice_meta::Engine;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

pub const ACCESS_KEY: &str = "AKIDSLUICETEST";
pub const SECRET_KEY: &str = "sluice-test-secret-key";
pub const REGION: &str = "us-east-1";
pub const REPO: &str = "lake";
pub const EMPTY_SHA256: &str = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

/// A running gateway.
pub struct Server {
    pub addr: SocketAddr,
    pub engine: Engine,
    /// Users, keys and policies.
    pub access: sluice_gateway::access::Access,
    pub dir: tempfile::TempDir,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

impl Server {
    /// A gateway with repository `lake` (branch `main`).
    pub async fn start() -> Server {
        let dir = tempfile::tempdir().expect("tempdir");
        let engine = Engine::open_embedded(dir.path()).expect("engine").build();
        engine
            .create_repository(REPO, &format!("local://{REPO}"), "main")
            .await
            .expect("repository");
        let keys = KeyPair {
            access_key_id: ACCESS_KEY.into(),
            secret_access_key: SECRET_KEY.into(),
        };
        let access = sluice_gateway::access::Access::new(
            engine.kv().clone(),
            sluice_gateway::access::SecretCipher::from_material(b"gateway tests"),
            keys,
        );
        access.setup().await.expect("auth setup");
        let app = sluice_gateway::App::new(engine.clone(), access.clone(), "localhost");
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let addr = listener.local_addr().expect("addr");
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        tokio::spawn(async move {
            let _ = sluice_gateway::server::serve(listener, app, async move {
                let _ = stopped.await;
            })
            .await;
        });
        Server {
            addr,
            engine,
            access,
            dir,
            stop: Some(stop),
        }
    }

    /// The namespace folder of the repository (where file-backed objects go).
    pub fn namespace_dir(&self) -> PathBuf {
        self.dir.path().join("storage").join(REPO)
    }

    /// Every file under the namespace folder.
    pub fn files(&self) -> Vec<PathBuf> {
        fn walk(dir: &std::path::Path, out: &mut Vec<PathBuf>) {
            let Ok(rd) = std::fs::read_dir(dir) else {
                return;
            };
            for e in rd.flatten() {
                let p = e.path();
                if p.is_dir() {
                    walk(&p, out);
                } else {
                    out.push(p);
                }
            }
        }
        let mut out = Vec::new();
        walk(&self.namespace_dir(), &mut out);
        out.sort();
        out
    }

    pub fn endpoint(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// An object_store client for `lake`, with keys under `main/`-style paths.
    pub fn object_store(&self) -> object_store::aws::AmazonS3 {
        object_store::aws::AmazonS3Builder::new()
            .with_endpoint(self.endpoint())
            .with_allow_http(true)
            .with_bucket_name(REPO)
            .with_region(REGION)
            .with_access_key_id(ACCESS_KEY)
            .with_secret_access_key(SECRET_KEY)
            .with_virtual_hosted_style_request(false)
            .build()
            .expect("object store")
    }

    /// Send `req` (signed or not) on a fresh connection and read the answer to the end.
    pub async fn send(&self, req: &Request) -> Response {
        self.send_raw(&req.encode(), false).await
    }

    /// Write `bytes` as they are; with `half_close`, end the write side after them (a body
    /// cut short). Reads the answer until the server closes.
    pub async fn send_raw(&self, bytes: &[u8], half_close: bool) -> Response {
        let stream = TcpStream::connect(self.addr).await.expect("connect");
        let (mut rd, mut wr) = stream.into_split();
        // Read while writing: the server may answer (and close) before it read everything,
        // and an answer not read before the close's reset could be lost. A failed write is
        // not the test's failure; the answer decides.
        let bytes = bytes.to_vec();
        let writer = tokio::spawn(async move {
            let _ = wr.write_all(&bytes).await;
            if half_close {
                let _ = wr.shutdown().await;
            }
            wr
        });
        let mut raw = Vec::new();
        let read = tokio::time::timeout(Duration::from_secs(20), async {
            let mut buf = vec![0u8; 64 * 1024];
            loop {
                match rd.read(&mut buf).await {
                    Ok(0) | Err(_) => break,
                    Ok(n) => raw.extend_from_slice(&buf[..n]),
                }
            }
        })
        .await;
        assert!(read.is_ok(), "the server neither answered nor closed");
        drop(writer.await);
        Response::parse(&raw)
    }

    /// A signed request on path `/{REPO}/{key}`.
    pub fn request(&self, method: &str, key: &str) -> Request {
        Request::new(
            &self.addr.to_string(),
            method,
            &format!("/{REPO}/{}", uri_encode(key, false)),
        )
    }

    /// PUT `body` at `key` (single signed payload); the status.
    pub async fn put(&self, key: &str, body: &[u8]) -> Response {
        let mut r = self.request("PUT", key);
        r.body = body.to_vec();
        self.send(&r.signed()).await
    }

    /// GET `key`.
    pub async fn get(&self, key: &str) -> Response {
        self.send(&self.request("GET", key).signed()).await
    }
}

/// An HTTP request to sign and send.
#[derive(Clone, Debug)]
pub struct Request {
    pub host: String,
    pub method: String,
    /// The path, already URI-encoded as it goes on the wire.
    pub path: String,
    /// Query parameters, not encoded.
    pub query: Vec<(String, String)>,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
    /// The `x-amz-content-sha256` to sign with; the body's hash when `None`.
    pub payload_hash: Option<String>,
    pub date: time::OffsetDateTime,
    /// The key pair that signs it.
    pub credentials: (String, String),
}

impl Request {
    pub fn new(host: &str, method: &str, path: &str) -> Request {
        Request {
            host: host.into(),
            method: method.into(),
            path: path.into(),
            query: Vec::new(),
            headers: Vec::new(),
            body: Vec::new(),
            payload_hash: None,
            date: time::OffsetDateTime::now_utc(),
            credentials: (ACCESS_KEY.to_string(), SECRET_KEY.to_string()),
        }
    }

    /// Sign with another key pair.
    pub fn signed_by(mut self, key: &str, secret: &str) -> Request {
        self.credentials = (key.to_string(), secret.to_string());
        self
    }

    pub fn query(mut self, k: &str, v: &str) -> Request {
        self.query.push((k.into(), v.into()));
        self
    }

    pub fn header(mut self, k: &str, v: &str) -> Request {
        self.headers.push((k.to_ascii_lowercase(), v.into()));
        self
    }

    pub fn body(mut self, b: impl Into<Vec<u8>>) -> Request {
        self.body = b.into();
        self
    }

    fn query_string(&self) -> String {
        let mut q: Vec<(String, String)> = self
            .query
            .iter()
            .map(|(k, v)| (uri_encode(k, true), uri_encode(v, true)))
            .collect();
        q.sort();
        q.iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join("&")
    }

    pub fn amz_date(&self) -> String {
        let d = self.date;
        format!(
            "{:04}{:02}{:02}T{:02}{:02}{:02}Z",
            d.year(),
            d.month() as u8,
            d.day(),
            d.hour(),
            d.minute(),
            d.second()
        )
    }

    pub fn scope(&self) -> String {
        format!("{}/{REGION}/s3/aws4_request", &self.amz_date()[..8])
    }

    /// Add the SigV4 headers (host, x-amz-date, x-amz-content-sha256, authorization).
    pub fn signed(&self) -> Request {
        self.signed_seed().0
    }

    /// [`signed`](Self::signed), and the signature: the seed of chunk signatures.
    pub fn signed_seed(&self) -> (Request, String) {
        let mut r = self.clone();
        let payload = r
            .payload_hash
            .clone()
            .unwrap_or_else(|| hex::encode(Sha256::digest(&r.body)));
        r.headers.retain(|(k, _)| {
            !matches!(
                k.as_str(),
                "authorization" | "x-amz-date" | "x-amz-content-sha256" | "host"
            )
        });
        r.headers.push(("host".into(), r.host.clone()));
        r.headers.push(("x-amz-date".into(), r.amz_date()));
        r.headers
            .push(("x-amz-content-sha256".into(), payload.clone()));
        let mut canon: Vec<(String, String)> = r
            .headers
            .iter()
            .map(|(k, v)| (k.clone(), v.trim().to_string()))
            .collect();
        canon.sort();
        let names = canon
            .iter()
            .map(|(k, _)| k.as_str())
            .collect::<Vec<_>>()
            .join(";");
        let canonical_headers: String = canon.iter().map(|(k, v)| format!("{k}:{v}\n")).collect();
        let canonical = format!(
            "{}\n{}\n{}\n{}\n{}\n{}",
            r.method,
            r.path,
            r.query_string(),
            canonical_headers,
            names,
            payload
        );
        let to_sign = format!(
            "AWS4-HMAC-SHA256\n{}\n{}\n{}",
            r.amz_date(),
            r.scope(),
            hex::encode(Sha256::digest(canonical.as_bytes()))
        );
        let signature = sign_with(&r.credentials.1, &to_sign, &r.amz_date()[..8]);
        r.headers.push((
            "authorization".into(),
            format!(
                "AWS4-HMAC-SHA256 Credential={}/{}, SignedHeaders={names}, Signature={signature}",
                r.credentials.0,
                r.scope()
            ),
        ));
        (r, signature)
    }

    /// The request's bytes as they go on the wire (one request per connection).
    pub fn encode(&self) -> Vec<u8> {
        let mut headers = self.headers.clone();
        if !headers.iter().any(|(k, _)| k == "host") {
            headers.push(("host".into(), self.host.clone()));
        }
        if !headers.iter().any(|(k, _)| k == "content-length") {
            headers.push(("content-length".into(), self.body.len().to_string()));
        }
        headers.push(("connection".into(), "close".into()));
        let q = self.query_string();
        let target = if q.is_empty() {
            self.path.clone()
        } else {
            format!("{}?{q}", self.path)
        };
        let mut out = format!("{} {target} HTTP/1.1\r\n", self.method).into_bytes();
        for (k, v) in &headers {
            out.extend_from_slice(format!("{k}: {v}\r\n").as_bytes());
        }
        out.extend_from_slice(b"\r\n");
        out.extend_from_slice(&self.body);
        out
    }
}

/// An `Authorization` value for HTTP Basic with `key` and `secret` (the REST API, the UI).
pub fn basic_auth(key: &str, secret: &str) -> String {
    format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(format!("{key}:{secret}"))
    )
}

/// HMAC-SHA256 of `data` under `key`.
pub fn hmac_sha256(key: &[u8], data: &[u8]) -> Vec<u8> {
    let mut m = <Hmac<Sha256> as KeyInit>::new_from_slice(key).expect("any key length");
    m.update(data);
    m.finalize().into_bytes().to_vec()
}

/// The SigV4 signature of `to_sign` on day `yyyymmdd`, with the test key pair.
pub fn sign(to_sign: &str, day: &str) -> String {
    sign_with(SECRET_KEY, to_sign, day)
}

/// The SigV4 signature of `to_sign` on day `yyyymmdd` with `secret`.
pub fn sign_with(secret: &str, to_sign: &str, day: &str) -> String {
    let k = hmac_sha256(format!("AWS4{secret}").as_bytes(), day.as_bytes());
    let k = hmac_sha256(&k, REGION.as_bytes());
    let k = hmac_sha256(&k, b"s3");
    let k = hmac_sha256(&k, b"aws4_request");
    hex::encode(hmac_sha256(&k, to_sign.as_bytes()))
}

/// S3's URI encoding: unreserved characters stay; '/' stays in paths.
pub fn uri_encode(s: &str, encode_slash: bool) -> String {
    let mut out = String::new();
    for b in s.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                out.push(b as char)
            }
            b'/' if !encode_slash => out.push('/'),
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

/// An HTTP answer.
#[derive(Debug, Clone)]
pub struct Response {
    /// 0 when the server closed without answering.
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
    /// Interim answers seen before the final one (`100 Continue`).
    pub interim: Vec<u16>,
}

impl Response {
    pub fn parse(raw: &[u8]) -> Response {
        let mut rest = raw;
        let mut interim = Vec::new();
        loop {
            let Some(end) = find(rest, b"\r\n\r\n") else {
                return Response {
                    status: 0,
                    headers: Vec::new(),
                    body: Vec::new(),
                    interim,
                };
            };
            let head = String::from_utf8_lossy(&rest[..end]).to_string();
            let body = &rest[end + 4..];
            let mut lines = head.split("\r\n");
            let status: u16 = lines
                .next()
                .and_then(|l| l.split(' ').nth(1))
                .and_then(|s| s.parse().ok())
                .unwrap_or(0);
            let headers: Vec<(String, String)> = lines
                .filter_map(|l| l.split_once(':'))
                .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_string()))
                .collect();
            if (100..200).contains(&status) {
                interim.push(status);
                rest = body;
                continue;
            }
            let chunked = headers
                .iter()
                .any(|(k, v)| k == "transfer-encoding" && v.contains("chunked"));
            let body = if chunked {
                dechunk(body)
            } else {
                body.to_vec()
            };
            return Response {
                status,
                headers,
                body,
                interim,
            };
        }
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).to_string()
    }

    /// The `<Code>` of an error document.
    pub fn code(&self) -> Option<String> {
        xml_value(&self.text(), "Code")
    }
}

/// The text of the first `<tag>` in `xml`.
pub fn xml_value(xml: &str, tag: &str) -> Option<String> {
    let open = format!("<{tag}>");
    let start = xml.find(&open)? + open.len();
    let end = xml[start..].find(&format!("</{tag}>"))? + start;
    Some(xml[start..end].to_string())
}

/// Every `<tag>` text in `xml`, in order.
pub fn xml_values(xml: &str, tag: &str) -> Vec<String> {
    let open = format!("<{tag}>");
    let close = format!("</{tag}>");
    let mut out = Vec::new();
    let mut rest = xml;
    while let Some(s) = rest.find(&open) {
        let after = &rest[s + open.len()..];
        let Some(e) = after.find(&close) else { break };
        out.push(after[..e].to_string());
        rest = &after[e + close.len()..];
    }
    out
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

fn dechunk(mut body: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    while let Some(eol) = find(body, b"\r\n") {
        let size = std::str::from_utf8(&body[..eol])
            .ok()
            .and_then(|s| usize::from_str_radix(s.split(';').next()?.trim(), 16).ok())
            .unwrap_or(0);
        body = &body[eol + 2..];
        if size == 0 || body.len() < size {
            break;
        }
        out.extend_from_slice(&body[..size]);
        body = &body[(size + 2).min(body.len())..];
    }
    out
}

/// Base64 of the raw checksum `alg` (crc32, crc32c, crc64nvme, sha1, sha256, md5) of `data`.
pub fn checksum(alg: &str, data: &[u8]) -> String {
    fn run<C: s3s::crypto::Checksum>(mut c: C, data: &[u8]) -> Vec<u8> {
        c.update(data);
        c.finalize().as_ref().to_vec()
    }
    let raw = match alg {
        "crc32" => run(s3s::crypto::Crc32::new(), data),
        "crc32c" => run(s3s::crypto::Crc32c::new(), data),
        "crc64nvme" => run(s3s::crypto::Crc64Nvme::new(), data),
        "sha1" => run(s3s::crypto::Sha1::new(), data),
        "sha256" => run(s3s::crypto::Sha256::new(), data),
        "md5" => run(s3s::crypto::Md5::new(), data),
        other => panic!("unknown checksum {other}"),
    };
    base64::engine::general_purpose::STANDARD.encode(raw)
}

/// Hex MD5, as single-part ETags are.
pub fn md5_hex(data: &[u8]) -> String {
    let raw = base64::engine::general_purpose::STANDARD
        .decode(checksum("md5", data))
        .expect("base64");
    hex::encode(raw)
}

/// Deterministic bytes of any length.
pub fn bytes(len: usize, seed: u8) -> Vec<u8> {
    (0..len)
        .map(|i| {
            (i as u32)
                .wrapping_mul(2_654_435_761)
                .rotate_left(seed as u32 % 31) as u8
                ^ seed
        })
        .collect()
}

/// How an aws-chunked body is framed and signed.
#[derive(Clone, Debug)]
pub struct Chunked {
    /// Sizes of the data chunks, used in turn (the last one repeats).
    pub sizes: Vec<usize>,
    /// Sign each chunk (STREAMING-AWS4-HMAC-SHA256-PAYLOAD) or not
    /// (STREAMING-UNSIGNED-PAYLOAD-TRAILER, which needs a trailer).
    pub signed: bool,
    /// A trailing checksum: algorithm and the value to send (base64).
    pub trailer: Option<(String, String)>,
    /// Corrupt the signature of this chunk (0-based; the final empty chunk counts).
    pub bad_signature_at: Option<usize>,
}

impl Chunked {
    pub fn signed(sizes: &[usize]) -> Chunked {
        Chunked {
            sizes: sizes.to_vec(),
            signed: true,
            trailer: None,
            bad_signature_at: None,
        }
    }

    pub fn unsigned_trailer(sizes: &[usize], alg: &str, value: String) -> Chunked {
        Chunked {
            sizes: sizes.to_vec(),
            signed: false,
            trailer: Some((alg.into(), value)),
            bad_signature_at: None,
        }
    }

    /// `req` with `data` as its aws-chunked body, headers set and signed.
    pub fn apply(&self, req: Request, data: &[u8]) -> Request {
        let mode = match (self.signed, self.trailer.is_some()) {
            (true, false) => "STREAMING-AWS4-HMAC-SHA256-PAYLOAD",
            (true, true) => "STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER",
            (false, _) => "STREAMING-UNSIGNED-PAYLOAD-TRAILER",
        };
        // A content-encoding the caller set already names aws-chunked among others.
        let mut req = if req.headers.iter().any(|(k, _)| k == "content-encoding") {
            req
        } else {
            req.header("content-encoding", "aws-chunked")
        };
        req = req.header("x-amz-decoded-content-length", &data.len().to_string());
        if let Some((alg, _)) = &self.trailer {
            req = req.header("x-amz-trailer", &format!("x-amz-checksum-{alg}"));
        }
        req.payload_hash = Some(mode.into());
        req.body = Vec::new();
        let (mut req, seed) = req.signed_seed();
        let day = req.amz_date()[..8].to_string();
        let head = format!("{}\n{}\n", req.amz_date(), req.scope());
        let mut prev = seed;
        let mut body = Vec::new();
        let mut pieces: Vec<&[u8]> = Vec::new();
        let mut rest = data;
        let mut i = 0;
        while !rest.is_empty() {
            let size = self.sizes[i.min(self.sizes.len() - 1)]
                .max(1)
                .min(rest.len());
            pieces.push(&rest[..size]);
            rest = &rest[size..];
            i += 1;
        }
        pieces.push(&[]);
        for (n, piece) in pieces.iter().enumerate() {
            if self.signed {
                let to_sign = format!(
                    "AWS4-HMAC-SHA256-PAYLOAD\n{head}{prev}\n{EMPTY_SHA256}\n{}",
                    hex::encode(Sha256::digest(piece))
                );
                let mut sig = sign(&to_sign, &day);
                prev = sig.clone();
                if self.bad_signature_at == Some(n) {
                    sig = sig.chars().rev().collect();
                }
                body.extend_from_slice(
                    format!("{:x};chunk-signature={sig}\r\n", piece.len()).as_bytes(),
                );
            } else {
                body.extend_from_slice(format!("{:x}\r\n", piece.len()).as_bytes());
            }
            if !piece.is_empty() {
                body.extend_from_slice(piece);
                body.extend_from_slice(b"\r\n");
            }
        }
        match &self.trailer {
            Some((alg, value)) => {
                let line = format!("x-amz-checksum-{alg}:{value}");
                body.extend_from_slice(line.as_bytes());
                body.extend_from_slice(b"\r\n");
                if self.signed {
                    let to_sign = format!(
                        "AWS4-HMAC-SHA256-TRAILER\n{head}{prev}\n{}",
                        hex::encode(Sha256::digest(format!("{line}\n").as_bytes()))
                    );
                    let sig = sign(&to_sign, &day);
                    body.extend_from_slice(format!("x-amz-trailer-signature:{sig}\r\n").as_bytes());
                }
                body.extend_from_slice(b"\r\n");
            }
            None => body.extend_from_slice(b"\r\n"),
        }
        req.body = body;
        req
    }
}
