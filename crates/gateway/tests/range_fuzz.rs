//! Arbitrary Range headers (well-formed, huge, inverted, multiple, and plain garbage) and
//! part numbers on S3 GET and HEAD: the server answers 200, 206, 416 or 400, the bytes
//! match what the answer says, and the connection is never dropped without an answer.

mod common;

use common::{Server, bytes};
use proptest::prelude::*;
use proptest::test_runner::{Config, TestRunner};

/// A Range header value: mostly shaped like one, sometimes anything a header may carry.
fn range_value() -> impl Strategy<Value = String> {
    let number = prop_oneof![
        0u64..2_000,
        Just(u64::MAX),
        Just(u64::MAX - 1),
        Just(i64::MAX as u64),
        Just(i64::MAX as u64 + 1),
        any::<u64>(),
    ];
    let bound = prop::option::of(number.prop_map(|n| n.to_string()));
    let spec = (bound.clone(), bound)
        .prop_map(|(a, b)| format!("{}-{}", a.unwrap_or_default(), b.unwrap_or_default()));
    let specs = prop::collection::vec(spec, 1..4).prop_map(|v| v.join(","));
    prop_oneof![
        4 => specs.clone().prop_map(|s| format!("bytes={s}")),
        1 => specs.prop_map(|s| format!("items={s}")),
        1 => "[ -~]{0,40}",
        1 => "bytes=[ -~]{0,30}",
        1 => "bytes=[0-9 ,=-]{0,30}",
        1 => prop::collection::vec(0x20u8..0x7f, 0..30)
            .prop_map(|v| String::from_utf8(v).expect("ascii")),
    ]
}

#[test]
fn arbitrary_ranges_never_break_the_server() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let objects: Vec<(String, Vec<u8>)> = vec![
        ("main/empty".into(), Vec::new()),
        ("main/small".into(), bytes(1000, 1)),
        ("main/large".into(), bytes(70_000, 2)),
    ];
    let server = rt.block_on(async {
        let s = Server::start().await;
        for (k, v) in &objects {
            assert_eq!(s.put(k, v).await.status, 200);
        }
        s
    });
    let mut runner = TestRunner::new(Config {
        cases: 400,
        failure_persistence: None,
        ..Config::default()
    });
    let strategy = (
        range_value(),
        0usize..3,
        prop::option::of(-2i32..4),
        any::<bool>(),
    );
    runner
        .run(&strategy, |(range, which, part, head)| {
            let (key, data) = &objects[which];
            let method = if head { "HEAD" } else { "GET" };
            let mut req = server.request(method, key);
            if let Some(p) = part {
                req = req.query("partNumber", &p.to_string());
            }
            // The range goes unsigned: SigV4 would fold its spaces, which is not the point.
            let mut req = req.signed();
            req.headers.push(("range".into(), range.clone()));
            let r = rt.block_on(server.send(&req));
            prop_assert!(
                [200, 206, 416, 400].contains(&r.status),
                "{method} {key} range {range:?} part {part:?}: status {} {}",
                r.status,
                r.text()
            );
            if head {
                return Ok(());
            }
            match r.status {
                200 => prop_assert!(r.body == *data, "200 with other bytes"),
                206 => {
                    let cr = r.header("content-range").unwrap_or_default().to_string();
                    let span = cr
                        .strip_prefix("bytes ")
                        .and_then(|s| s.split_once('/'))
                        .and_then(|(s, total)| {
                            let (a, b) = s.split_once('-')?;
                            Some((a.parse::<usize>().ok()?, b.parse::<usize>().ok()?, total))
                        });
                    let Some((a, b, total)) = span else {
                        return Err(TestCaseError::fail(format!(
                            "206 with Content-Range {cr:?}"
                        )));
                    };
                    prop_assert_eq!(total, data.len().to_string());
                    prop_assert!(a <= b && b < data.len(), "{cr}");
                    prop_assert!(r.body == data[a..=b], "206 bytes differ from {cr}");
                }
                _ => prop_assert!(r.code().is_some(), "an error without a code: {}", r.text()),
            }
            Ok(())
        })
        .expect("every range answered sanely");
    // And the server still serves.
    let r = rt.block_on(server.get("main/small"));
    assert_eq!(r.status, 200);
    drop(server);
}
