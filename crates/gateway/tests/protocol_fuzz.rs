//! Hostile and malformed input on every parser a client reaches, through the real server:
//! keys and queries, SigV4 headers, aws-chunked bodies, XML bodies, conditional headers,
//! REST paths and JSON bodies, and action files. Each property is the same: the server
//! answers (it neither panics nor drops the connection), a rejection is a proper error in
//! the protocol's own form (S3 XML with a `Code`, or JSON with a `message`), never an
//! internal error, and nothing refused is stored. `tests/corpus/` holds inputs found or
//! known to be nasty; they are replayed first on every run.

mod common;

use base64::Engine as _;
use common::{
    ACCESS_KEY, Chunked, REPO, Request, Response, SECRET_KEY, Server, basic_auth, bytes, checksum,
    md5_hex,
};
use proptest::prelude::*;
use proptest::test_runner::{Config, TestRunner};

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime")
}

/// `cases` per property, times `SLUICE_FUZZ_SCALE` (default 1) for a longer hunt.
fn runner(cases: u32) -> TestRunner {
    let scale: u32 = std::env::var("SLUICE_FUZZ_SCALE")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1);
    TestRunner::new(Config {
        cases: cases * scale.max(1),
        failure_persistence: None,
        ..Config::default()
    })
}

/// An answer S3 clients can read: a status, and for an error an XML document with a code
/// that is not an internal error.
fn s3_answer_is_proper(r: &Response, head: bool) -> Result<(), TestCaseError> {
    prop_assert!(r.status != 0, "no answer");
    prop_assert!(r.status != 500, "internal error: {}", r.text());
    if r.status >= 400 && !head {
        let code = r.code();
        prop_assert!(
            code.is_some(),
            "{} without an error code: {:?}",
            r.status,
            r.text()
        );
        prop_assert!(code.as_deref() != Some("InternalError"), "{}", r.text());
    }
    Ok(())
}

/// A key: path-like, with the characters clients trip on, or anything at all.
fn key() -> impl Strategy<Value = String> {
    prop_oneof![
        "main/[a-z0-9/._-]{0,30}",
        "[a-z0-9]{0,6}/[ -~]{0,30}",
        "\\PC{0,30}",
        Just("main/../../etc/passwd".to_string()),
        Just("main//double//slash".to_string()),
        Just("main/%2e%2e/x".to_string()),
        Just(String::new()),
        Just("no-such-ref/x".to_string()),
    ]
}

/// A query parameter S3 knows, with any value; or anything.
fn query_param() -> impl Strategy<Value = (String, String)> {
    let name = prop_oneof![
        Just("list-type"),
        Just("prefix"),
        Just("delimiter"),
        Just("max-keys"),
        Just("continuation-token"),
        Just("start-after"),
        Just("marker"),
        Just("uploadId"),
        Just("partNumber"),
        Just("uploads"),
        Just("versionId"),
        Just("encoding-type"),
        Just("attributes"),
        Just("tagging"),
        Just("acl"),
    ]
    .prop_map(str::to_string);
    let value = prop_oneof![
        "[0-9]{0,20}",
        "[ -~]{0,20}",
        Just("-1".to_string()),
        Just("18446744073709551616".to_string()),
        Just("url".to_string()),
    ];
    prop_oneof![
        4 => (name, value),
        1 => ("[a-z-]{1,10}", "[ -~]{0,10}"),
    ]
}

#[test]
fn arbitrary_keys_and_queries_get_proper_answers() {
    let rt = runtime();
    let server = rt.block_on(async {
        let s = Server::start().await;
        assert_eq!(s.put("main/a", b"a").await.status, 200);
        s
    });
    let strategy = (
        prop_oneof![
            Just("GET"),
            Just("HEAD"),
            Just("PUT"),
            Just("DELETE"),
            Just("POST")
        ],
        key(),
        prop::collection::vec(query_param(), 0..4),
        prop::collection::vec(any::<u8>(), 0..64),
    );
    runner(300)
        .run(&strategy, |(method, key, query, body)| {
            let mut req = server.request(method, &key);
            for (k, v) in &query {
                req = req.query(k, v);
            }
            req.body = body;
            let r = rt.block_on(server.send(&req.signed()));
            s3_answer_is_proper(&r, method == "HEAD")
        })
        .unwrap();
    // The object written first is still there, whole.
    let r = rt.block_on(server.get("main/a"));
    assert_eq!((r.status, r.body.as_slice()), (200, b"a".as_slice()));
}

/// `text` with `edits` applied: bytes replaced, removed or inserted at positions taken
/// modulo its length.
fn mutate(text: &[u8], edits: &[(usize, u8, u8)]) -> Vec<u8> {
    let mut out = text.to_vec();
    for &(at, op, byte) in edits {
        if out.is_empty() {
            out.push(byte);
            continue;
        }
        let i = at % out.len();
        match op % 4 {
            0 => out[i] = byte,
            1 => {
                out.remove(i);
            }
            2 => out.insert(i, byte),
            _ => out.truncate(i),
        }
    }
    out
}

fn edits() -> impl Strategy<Value = Vec<(usize, u8, u8)>> {
    prop::collection::vec((any::<usize>(), any::<u8>(), any::<u8>()), 1..6)
}

#[test]
fn malformed_sigv4_headers_are_refused_cleanly() {
    let rt = runtime();
    let server = rt.block_on(async {
        let s = Server::start().await;
        assert_eq!(s.put("main/a", b"a").await.status, 200);
        s
    });
    let header = prop_oneof![
        Just("authorization"),
        Just("x-amz-date"),
        Just("x-amz-content-sha256"),
        Just("host"),
    ];
    runner(300)
        .run(&(header, edits(), any::<bool>()), |(name, edits, put)| {
            let mut req = if put {
                server.request("PUT", "main/b").body(b"bbbb".to_vec())
            } else {
                server.request("GET", "main/a")
            }
            .signed();
            let Some(slot) = req.headers.iter_mut().find(|(k, _)| k == name) else {
                return Ok(());
            };
            let mutated = mutate(slot.1.as_bytes(), &edits);
            // Control characters are HTTP's to refuse (hyper answers a bare 400 before any
            // S3 code runs); everything else goes as it is.
            slot.1 = String::from_utf8_lossy(&mutated)
                .chars()
                .map(|c| if c.is_control() { ' ' } else { c })
                .collect();
            let r = rt.block_on(server.send(&req));
            s3_answer_is_proper(&r, false)?;
            if r.status == 200 && put {
                // Only a mutation that changed nothing the signature covers may pass.
                let stored = rt.block_on(server.get("main/b"));
                prop_assert_eq!(stored.body.as_slice(), b"bbbb".as_slice());
            }
            Ok(())
        })
        .unwrap();
}

#[test]
fn corrupt_aws_chunked_bodies_never_store_other_bytes() {
    let rt = runtime();
    let server = rt.block_on(Server::start());
    let data = bytes(3000, 7);
    runner(200)
        .run(
            &(edits(), any::<bool>(), 1usize..5),
            |(edits, signed, key_n)| {
                let key = format!("main/chunked-{key_n}");
                let framing = if signed {
                    Chunked::signed(&[1024])
                } else {
                    Chunked::unsigned_trailer(&[1024], "crc32", checksum("crc32", &data))
                };
                let mut req = framing.apply(server.request("PUT", &key), &data);
                req.body = mutate(&req.body, &edits);
                req.headers.retain(|(k, _)| k != "content-length");
                let r = rt.block_on(server.send(&req));
                s3_answer_is_proper(&r, false)?;
                if r.status == 200 {
                    let stored = rt.block_on(server.get(&key));
                    prop_assert_eq!(
                        stored.body,
                        data.clone(),
                        "a corrupt body was stored as other bytes"
                    );
                }
                Ok(())
            },
        )
        .unwrap();
}

const DELETE_XML: &str = "<?xml version=\"1.0\" encoding=\"UTF-8\"?><Delete><Object><Key>main/x</Key></Object><Object><Key>main/y</Key><VersionId>null</VersionId></Object><Quiet>false</Quiet></Delete>";

fn delete_request(server: &Server, body: Vec<u8>) -> Request {
    let md5 =
        base64::engine::general_purpose::STANDARD.encode(hex::decode(md5_hex(&body)).expect("hex"));
    Request::new(&server.addr.to_string(), "POST", &format!("/{REPO}"))
        .query("delete", "")
        .header("content-md5", &md5)
        .body(body)
        .signed()
}

#[test]
fn malformed_xml_bodies_are_s3_errors() {
    let rt = runtime();
    let server = rt.block_on(async {
        let s = Server::start().await;
        assert_eq!(s.put("main/keep", b"keep").await.status, 200);
        s
    });
    let upload_id = rt.block_on(async {
        let r = server
            .send(
                &server
                    .request("POST", "main/big")
                    .query("uploads", "")
                    .signed(),
            )
            .await;
        common::xml_value(&r.text(), "UploadId").expect("upload id")
    });
    let complete_xml = "<CompleteMultipartUpload><Part><PartNumber>1</PartNumber><ETag>\"abc\"</ETag></Part></CompleteMultipartUpload>";
    runner(300)
        .run(&(edits(), any::<bool>()), |(edits, delete)| {
            let r = if delete {
                let body = mutate(DELETE_XML.as_bytes(), &edits);
                rt.block_on(server.send(&delete_request(&server, body)))
            } else {
                let body = mutate(complete_xml.as_bytes(), &edits);
                let req = server
                    .request("POST", "main/big")
                    .query("uploadId", &upload_id)
                    .body(body)
                    .signed();
                rt.block_on(server.send(&req))
            };
            s3_answer_is_proper(&r, false)?;
            prop_assert!(
                [200, 400, 404, 411, 413].contains(&r.status),
                "{} {}",
                r.status,
                r.text()
            );
            Ok(())
        })
        .unwrap();
    let r = rt.block_on(server.get("main/keep"));
    assert_eq!(r.body, b"keep");
}

#[test]
fn arbitrary_conditional_headers_get_proper_answers() {
    let rt = runtime();
    let server = rt.block_on(async {
        let s = Server::start().await;
        assert_eq!(s.put("main/c", b"c").await.status, 200);
        s
    });
    let name = prop_oneof![
        Just("if-match"),
        Just("if-none-match"),
        Just("if-modified-since"),
        Just("if-unmodified-since"),
        Just("x-amz-copy-source-if-match"),
    ];
    let value = prop_oneof![
        "[ -~]{0,40}",
        Just("*".to_string()),
        Just("Tue, 01 Dec 2026 00:00:00 GMT".to_string()),
        Just("Thu, 01 Jan 1970 00:00:00 GMT".to_string()),
        Just("\"\", W/\"x\", *".to_string()),
    ];
    let method = prop_oneof![Just("GET"), Just("HEAD"), Just("PUT")];
    runner(300)
        .run(&(method, name, value), |(method, name, value)| {
            let mut req = server.request(method, "main/c");
            if method == "PUT" {
                req = req.body(b"c".to_vec());
            }
            // SigV4 signs a header with its inner spaces folded; send it folded, so that the
            // signature is right and the value is what is tested.
            let value = value.split_whitespace().collect::<Vec<_>>().join(" ");
            let req = req.header(name, &value).signed();
            let r = rt.block_on(server.send(&req));
            s3_answer_is_proper(&r, method == "HEAD")?;
            // 501: S3's answer to an If-None-Match other than `*` on PUT.
            prop_assert!(
                [200, 304, 400, 412, 501].contains(&r.status),
                "{method} {name}: {value:?} -> {} {}",
                r.status,
                r.text()
            );
            Ok(())
        })
        .unwrap();
}

/// A REST call with HTTP Basic auth.
fn rest(server: &Server, method: &str, path: &str, body: Vec<u8>) -> Request {
    Request::new(&server.addr.to_string(), method, path)
        .header("authorization", &basic_auth(ACCESS_KEY, SECRET_KEY))
        .header("content-type", "application/json")
        .body(body)
}

/// A JSON value, nested a little, or bytes that are not JSON.
fn json_body() -> impl Strategy<Value = Vec<u8>> {
    let leaf = prop_oneof![
        Just(serde_json::Value::Null),
        any::<bool>().prop_map(serde_json::Value::from),
        any::<i64>().prop_map(serde_json::Value::from),
        any::<f64>().prop_map(|f| serde_json::json!(f)),
        "\\PC{0,20}".prop_map(serde_json::Value::from),
        prop_oneof![
            Just("main"),
            Just("dev"),
            Just("name"),
            Just("source"),
            Just("message")
        ]
        .prop_map(serde_json::Value::from),
    ];
    let value = leaf.prop_recursive(3, 24, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(serde_json::Value::from),
            prop::collection::btree_map(
                prop_oneof![
                    Just("id".to_string()),
                    Just("name".to_string()),
                    Just("source".to_string()),
                    Just("message".to_string()),
                    Just("statement".to_string()),
                    Just("effect".to_string()),
                    Just("action".to_string()),
                    Just("resource".to_string()),
                    Just("query".to_string()),
                    Just("paths".to_string()),
                    "[a-z_]{1,8}",
                ],
                inner,
                0..5
            )
            .prop_map(|m| serde_json::Value::Object(m.into_iter().collect())),
        ]
    });
    prop_oneof![
        4 => value.prop_map(|v| serde_json::to_vec(&v).expect("json")),
        1 => prop::collection::vec(any::<u8>(), 0..64),
    ]
}

#[test]
fn arbitrary_rest_bodies_and_paths_get_json_errors() {
    let rt = runtime();
    let server = rt.block_on(Server::start());
    let target = prop_oneof![
        Just(("POST", "/repositories".to_string())),
        Just(("POST", format!("/repositories/{REPO}/branches"))),
        Just((
            "POST",
            format!("/repositories/{REPO}/branches/main/commits")
        )),
        Just(("POST", format!("/repositories/{REPO}/refs/main/merge/main"))),
        Just(("POST", format!("/repositories/{REPO}/tags"))),
        Just((
            "POST",
            format!("/repositories/{REPO}/branches/main/objects/delete")
        )),
        Just(("POST", format!("/repositories/{REPO}/branches/main/revert"))),
        Just(("PUT", format!("/repositories/{REPO}/settings/gc_rules"))),
        Just(("POST", format!("/repositories/{REPO}/branch_protection"))),
        Just((
            "PUT",
            format!("/repositories/{REPO}/settings/required_checks/c")
        )),
        Just(("POST", format!("/repositories/{REPO}/refs/main/sql"))),
        Just(("POST", "/auth/users".to_string())),
        Just(("POST", "/auth/groups".to_string())),
        Just(("POST", "/auth/policies".to_string())),
        Just(("PUT", "/auth/policies/FSReadAll".to_string())),
        "[ -~]{0,12}".prop_map(|seg| (
            "GET",
            format!(
                "/repositories/{REPO}/refs/{}/objects?path={}",
                common::uri_encode(&seg, true),
                common::uri_encode(&seg, true)
            )
        )),
        "\\PC{0,12}".prop_map(|seg| (
            "GET",
            format!(
                "/repositories/{}/branches/{}",
                common::uri_encode(&seg, true),
                common::uri_encode(&seg, true)
            )
        )),
    ];
    runner(400)
        .run(&(target, json_body()), |((method, path), body)| {
            let (path, query) = match path.split_once('?') {
                Some((p, q)) => (p.to_string(), Some(q.to_string())),
                None => (path.clone(), None),
            };
            let mut req = rest(&server, method, &format!("/api/v1{path}"), body.clone());
            if let Some(q) = query {
                for pair in q.split('&') {
                    let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
                    let v = percent_encoding::percent_decode_str(v)
                        .decode_utf8_lossy()
                        .into_owned();
                    req = req.query(k, &v);
                }
            }
            let r = rt.block_on(server.send(&req));
            prop_assert!(r.status != 0, "no answer");
            prop_assert!(
                r.status < 500,
                "{method} {path} {:?} -> {} {}",
                String::from_utf8_lossy(&body),
                r.status,
                r.text()
            );
            if r.status >= 400 {
                let v: serde_json::Value = serde_json::from_slice(&r.body)
                    .map_err(|e| TestCaseError::fail(format!("{}: not JSON: {e}", r.text())))?;
                prop_assert!(v["message"].is_string(), "{}", r.text());
            }
            Ok(())
        })
        .unwrap();
}

#[test]
fn arbitrary_action_files_are_accepted_or_refused_never_panic() {
    let valid = "name: gate\non:\n  pre-merge:\n    branches: [main]\nhooks:\n  - id: a\n    type: row_check\n    properties:\n      prefix: t/\n      no_duplicate_rows: true\n  - id: b\n    type: sql_check\n    properties:\n      query: select 1\n      expect_rows: 1\n  - id: c\n    type: webhook\n    properties:\n      url: http://127.0.0.1:1/\n      timeout: 1m30s\n";
    assert!(sluice_query::actions::Action::parse("a.yaml", valid).is_ok());
    runner(2000)
        .run(
            &prop_oneof![
                edits().prop_map(
                    move |e| String::from_utf8_lossy(&mutate(valid.as_bytes(), &e)).into_owned()
                ),
                "\\PC{0,200}",
            ],
            |text| {
                if let Ok(action) = sluice_query::actions::Action::parse("a.yaml", &text) {
                    for hook in &action.hooks {
                        prop_assert!(hook.settings().is_ok());
                    }
                    let _ = action.runs_before_merge_into("main");
                }
                Ok(())
            },
        )
        .unwrap();
    runner(2000)
        .run(&"[0-9a-z ]{0,30}", |text| {
            let _ = sluice_query::actions::parse_duration(&text);
            Ok(())
        })
        .unwrap();
}

/// The saved inputs under `tests/corpus/`, replayed by kind: `*.delete.xml` as a signed
/// DeleteObjects body, `*.rest` as a REST call (first line `METHOD PATH`, the rest its
/// body), `*.http` as raw bytes (`{{HOST}}` and `{{AUTH}}` filled in, the head's lines sent
/// with CRLF), `*.yaml` as an action file. Every one must get a proper answer, promptly.
#[test]
fn the_corpus_replays() {
    let rt = runtime();
    let server = rt.block_on(Server::start());
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/corpus");
    let mut entries: Vec<_> = std::fs::read_dir(&dir)
        .expect("tests/corpus")
        .map(|e| e.expect("entry").path())
        .collect();
    entries.sort();
    let mut seen = 0;
    for path in entries {
        let text = std::fs::read_to_string(&path).expect("corpus file");
        let name = path
            .file_name()
            .expect("name")
            .to_string_lossy()
            .into_owned();
        let started = std::time::Instant::now();
        let r = if name.ends_with(".delete.xml") {
            rt.block_on(server.send(&delete_request(&server, text.into_bytes())))
        } else if name.ends_with(".rest") {
            let (line, body) = text.split_once('\n').unwrap_or((&text, ""));
            let (method, target) = line.split_once(' ').expect("METHOD PATH");
            rt.block_on(server.send(&rest(&server, method, target, body.as_bytes().to_vec())))
        } else if name.ends_with(".http") {
            let text = text
                .replace("{{AUTH}}", &basic_auth(ACCESS_KEY, SECRET_KEY))
                .replace("{{HOST}}", &server.addr.to_string());
            let (head, body) = text.split_once("\n\n").unwrap_or((&text, ""));
            let mut raw = head.replace('\n', "\r\n").into_bytes();
            raw.extend_from_slice(b"\r\n\r\n");
            raw.extend_from_slice(body.as_bytes());
            rt.block_on(server.send_raw(&raw, false))
        } else if name.ends_with(".yaml") {
            let _ = sluice_query::actions::Action::parse(&name, &text);
            seen += 1;
            assert!(
                started.elapsed().as_secs() < 5,
                "{name} took {:?}",
                started.elapsed()
            );
            continue;
        } else {
            continue;
        };
        assert!(
            r.status != 0 && r.status < 500,
            "{name}: {} {}",
            r.status,
            r.text()
        );
        assert!(
            started.elapsed().as_secs() < 5,
            "{name} took {:?}",
            started.elapsed()
        );
        seen += 1;
    }
    assert!(seen >= 10, "the corpus holds {seen} inputs");
}
