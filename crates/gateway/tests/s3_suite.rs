//! The S3 API against the gateway on port 0, driven by object_store's S3 client and by raw
//! signed requests: listings, conditions, checksums, multipart, copies, errors, and the
//! behaviours S3 clients rely on.

mod common;

use common::{Server, bytes, checksum, md5_hex, xml_value, xml_values};
use object_store::path::Path;
use object_store::{
    GetOptions, ObjectStore, ObjectStoreExt, PutMode, PutOptions, PutPayload, UpdateVersion,
};

const MIB: usize = 1024 * 1024;

fn keys_of(xml: &str) -> Vec<String> {
    xml_values(xml, "Contents")
        .iter()
        .filter_map(|c| xml_value(c, "Key"))
        .collect()
}

fn prefixes_of(xml: &str) -> Vec<String> {
    xml_values(xml, "CommonPrefixes")
        .iter()
        .filter_map(|c| xml_value(c, "Prefix"))
        .collect()
}

fn etag_of(r: &common::Response) -> String {
    r.header("etag")
        .unwrap_or_default()
        .trim_matches('"')
        .to_string()
}

async fn put_ok(s: &Server, key: &str, body: &[u8]) {
    let r = s.put(key, body).await;
    assert_eq!(r.status, 200, "PUT {key}: {}", r.text());
}

// ---------------------------------------------------------------------------------------
// Listings

async fn listing_fixture(s: &Server) {
    for k in [
        "main/a/1",
        "main/a/2",
        "main/b/1",
        "main/c",
        "main/d/e/f",
        "main/e",
    ] {
        put_ok(s, k, k.as_bytes()).await;
    }
}

#[tokio::test]
async fn list_v2_with_delimiter_and_tokens() {
    let s = Server::start().await;
    listing_fixture(&s).await;
    let r = s
        .send(
            &s.request("GET", "")
                .query("list-type", "2")
                .query("prefix", "main/")
                .query("delimiter", "/")
                .signed(),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(keys_of(&r.text()), ["main/c", "main/e"]);
    assert_eq!(prefixes_of(&r.text()), ["main/a/", "main/b/", "main/d/"]);
    assert_eq!(xml_value(&r.text(), "KeyCount").as_deref(), Some("5"));

    // Pages of two, keys and prefixes together, through continuation tokens.
    let mut seen = Vec::new();
    let mut token: Option<String> = None;
    for _ in 0..10 {
        let mut req = s
            .request("GET", "")
            .query("list-type", "2")
            .query("prefix", "main/")
            .query("delimiter", "/")
            .query("max-keys", "2");
        if let Some(t) = &token {
            req = req.query("continuation-token", t);
        }
        let r = s.send(&req.signed()).await;
        assert_eq!(r.status, 200, "{}", r.text());
        let text = r.text();
        seen.extend(keys_of(&text));
        seen.extend(prefixes_of(&text));
        token = xml_value(&text, "NextContinuationToken");
        let truncated = xml_value(&text, "IsTruncated").as_deref() == Some("true");
        assert_eq!(truncated, token.is_some());
        if !truncated {
            break;
        }
    }
    seen.sort();
    assert_eq!(seen, ["main/a/", "main/b/", "main/c", "main/d/", "main/e"]);

    // Without a delimiter every key, in order; start-after skips.
    let r = s
        .send(
            &s.request("GET", "")
                .query("list-type", "2")
                .query("prefix", "main/")
                .query("start-after", "main/b/1")
                .signed(),
        )
        .await;
    assert_eq!(keys_of(&r.text()), ["main/c", "main/d/e/f", "main/e"]);

    // The repository root lists branches as folders.
    s.engine
        .create_branch(common::REPO, "dev", "main")
        .await
        .unwrap();
    let r = s
        .send(
            &s.request("GET", "")
                .query("list-type", "2")
                .query("delimiter", "/")
                .signed(),
        )
        .await;
    assert_eq!(prefixes_of(&r.text()), ["dev/", "main/"]);

    // A bad token is refused.
    let r = s
        .send(
            &s.request("GET", "")
                .query("list-type", "2")
                .query("continuation-token", "!!!")
                .signed(),
        )
        .await;
    assert_eq!(r.status, 400);
}

#[tokio::test]
async fn list_v1_with_markers() {
    let s = Server::start().await;
    listing_fixture(&s).await;
    let r = s
        .send(
            &s.request("GET", "")
                .query("prefix", "main/")
                .query("marker", "main/a/2")
                .signed(),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(
        keys_of(&r.text()),
        ["main/b/1", "main/c", "main/d/e/f", "main/e"]
    );

    // Pages of one with a delimiter: NextMarker carries on, prefixes count once.
    let mut seen = Vec::new();
    let mut marker = String::new();
    for _ in 0..10 {
        let r = s
            .send(
                &s.request("GET", "")
                    .query("prefix", "main/")
                    .query("delimiter", "/")
                    .query("max-keys", "1")
                    .query("marker", &marker)
                    .signed(),
            )
            .await;
        let text = r.text();
        seen.extend(keys_of(&text));
        seen.extend(prefixes_of(&text));
        if xml_value(&text, "IsTruncated").as_deref() != Some("true") {
            break;
        }
        marker = xml_value(&text, "NextMarker").expect("NextMarker when truncated");
    }
    assert_eq!(seen, ["main/a/", "main/b/", "main/c", "main/d/", "main/e"]);
}

#[tokio::test]
async fn an_empty_delimiter_is_not_echoed() {
    let s = Server::start().await;
    listing_fixture(&s).await;
    for v2 in [true, false] {
        let mut req = s
            .request("GET", "")
            .query("prefix", "main/")
            .query("delimiter", "");
        if v2 {
            req = req.query("list-type", "2");
        }
        let r = s.send(&req.signed()).await;
        assert_eq!(r.status, 200, "{}", r.text());
        assert!(
            !r.text().contains("<Delimiter"),
            "an empty delimiter came back: {}",
            r.text()
        );
        assert_eq!(keys_of(&r.text()).len(), 6);
    }
}

// ---------------------------------------------------------------------------------------
// object_store's S3 client

#[tokio::test]
async fn object_store_client_round_trip() {
    let s = Server::start().await;
    let store = s.object_store();
    let big = bytes(100_000, 1);
    store
        .put(&Path::from("main/t/big.bin"), PutPayload::from(big.clone()))
        .await
        .unwrap();
    store
        .put(
            &Path::from("main/t/x/small"),
            PutPayload::from_static(b"small"),
        )
        .await
        .unwrap();
    let got = store.get(&Path::from("main/t/big.bin")).await.unwrap();
    assert_eq!(got.bytes().await.unwrap().as_ref(), big.as_slice());
    let range = store
        .get_range(&Path::from("main/t/big.bin"), 10..20)
        .await
        .unwrap();
    assert_eq!(range.as_ref(), &big[10..20]);
    let head = store.head(&Path::from("main/t/big.bin")).await.unwrap();
    assert_eq!(head.size, big.len() as u64);

    let listed = store
        .list_with_delimiter(Some(&Path::from("main/t")))
        .await
        .unwrap();
    assert_eq!(
        listed
            .objects
            .iter()
            .map(|o| o.location.to_string())
            .collect::<Vec<_>>(),
        ["main/t/big.bin"]
    );
    assert_eq!(
        listed
            .common_prefixes
            .iter()
            .map(|p| p.to_string())
            .collect::<Vec<_>>(),
        ["main/t/x"]
    );

    // Create-only and conditional updates.
    let err = store
        .put_opts(
            &Path::from("main/t/x/small"),
            PutPayload::from_static(b"again"),
            PutOptions::from(PutMode::Create),
        )
        .await
        .unwrap_err();
    assert!(
        matches!(err, object_store::Error::AlreadyExists { .. }),
        "{err:?}"
    );
    let err = store
        .put_opts(
            &Path::from("main/t/x/small"),
            PutPayload::from_static(b"again"),
            PutOptions::from(PutMode::Update(UpdateVersion {
                e_tag: Some("\"0000\"".into()),
                version: None,
            })),
        )
        .await
        .unwrap_err();
    assert!(
        matches!(err, object_store::Error::Precondition { .. }),
        "{err:?}"
    );
    let etag = md5_hex(b"small");
    let err = store
        .get_opts(
            &Path::from("main/t/x/small"),
            GetOptions {
                if_none_match: Some(format!("\"{etag}\"")),
                ..Default::default()
            },
        )
        .await
        .unwrap_err();
    assert!(
        matches!(err, object_store::Error::NotModified { .. }),
        "{err:?}"
    );
    let err = store
        .get_opts(
            &Path::from("main/t/x/small"),
            GetOptions {
                if_match: Some("\"nope\"".into()),
                ..Default::default()
            },
        )
        .await
        .unwrap_err();
    assert!(
        matches!(err, object_store::Error::Precondition { .. }),
        "{err:?}"
    );

    // Copies across branches are metadata copies, visible only on the target branch.
    s.engine
        .create_branch(common::REPO, "dev", "main")
        .await
        .unwrap();
    store
        .copy(&Path::from("main/t/big.bin"), &Path::from("dev/copied.bin"))
        .await
        .unwrap();
    let got = store.get(&Path::from("dev/copied.bin")).await.unwrap();
    assert_eq!(got.bytes().await.unwrap().as_ref(), big.as_slice());
    assert!(matches!(
        store.head(&Path::from("main/copied.bin")).await,
        Err(object_store::Error::NotFound { .. })
    ));

    // Multipart through the client: three parts, the last one short.
    let mut upload = store
        .put_multipart(&Path::from("main/t/multi.bin"))
        .await
        .unwrap();
    let data = bytes(11 * MIB, 5);
    for piece in data.chunks(5 * MIB) {
        upload
            .put_part(PutPayload::from(piece.to_vec()))
            .await
            .unwrap();
    }
    upload.complete().await.unwrap();
    let got = store.get(&Path::from("main/t/multi.bin")).await.unwrap();
    assert!(got.bytes().await.unwrap().as_ref() == data.as_slice());

    // Bulk delete (DeleteObjects, with the Content-MD5 the client computes).
    let paths = vec![
        Ok(Path::from("main/t/big.bin")),
        Ok(Path::from("main/t/x/small")),
    ];
    let deleted: Vec<_> =
        futures::StreamExt::collect(store.delete_stream(Box::pin(futures::stream::iter(paths))))
            .await;
    assert!(deleted.iter().all(|d| d.is_ok()), "{deleted:?}");
    let left: Vec<_> =
        futures::StreamExt::collect::<Vec<_>>(store.list(Some(&Path::from("main/t"))))
            .await
            .into_iter()
            .map(|m| m.unwrap().location.to_string())
            .collect();
    assert_eq!(left, ["main/t/multi.bin"]);
}

// ---------------------------------------------------------------------------------------
// Conditions and checksums

#[tokio::test]
async fn conditional_requests() {
    let s = Server::start().await;
    put_ok(&s, "main/c", b"content").await;
    let etag = md5_hex(b"content");
    let get = |h: &'static str, v: String| {
        let s = &s;
        async move {
            s.send(&s.request("GET", "main/c").header(h, &v).signed())
                .await
                .status
        }
    };
    assert_eq!(get("if-match", format!("\"{etag}\"")).await, 200);
    assert_eq!(get("if-match", "\"other\"".into()).await, 412);
    assert_eq!(get("if-none-match", format!("\"{etag}\"")).await, 304);
    assert_eq!(get("if-none-match", "\"other\"".into()).await, 200);
    assert_eq!(
        get("if-modified-since", "Sat, 01 Jan 2000 00:00:00 GMT".into()).await,
        200
    );
    assert_eq!(
        get(
            "if-unmodified-since",
            "Sat, 01 Jan 2000 00:00:00 GMT".into()
        )
        .await,
        412
    );
    assert_eq!(
        get("if-modified-since", "Fri, 01 Jan 2100 00:00:00 GMT".into()).await,
        304
    );

    // Conditional writes.
    let mut put = s.request("PUT", "main/c").header("if-none-match", "*");
    put.body = b"new".to_vec();
    assert_eq!(s.send(&put.signed()).await.status, 412);
    let mut put = s.request("PUT", "main/c").header("if-match", "\"other\"");
    put.body = b"new".to_vec();
    assert_eq!(s.send(&put.signed()).await.status, 412);
    let mut put = s
        .request("PUT", "main/c")
        .header("if-match", &format!("\"{etag}\""));
    put.body = b"new".to_vec();
    assert_eq!(s.send(&put.signed()).await.status, 200);
    assert_eq!(s.get("main/c").await.body, b"new");
}

#[tokio::test]
async fn checksums_and_content_md5() {
    let s = Server::start().await;
    let data = bytes(50_000, 3);
    for alg in ["crc32", "crc32c", "crc64nvme", "sha1", "sha256"] {
        let key = format!("main/sum/{alg}");
        let req = s
            .request("PUT", &key)
            .header(&format!("x-amz-checksum-{alg}"), &checksum(alg, &data))
            .body(data.clone());
        let r = s.send(&req.signed()).await;
        assert_eq!(r.status, 200, "{alg}: {}", r.text());
        let req = s
            .request("PUT", &format!("{key}-bad"))
            .header(&format!("x-amz-checksum-{alg}"), &checksum(alg, b"x"))
            .body(data.clone());
        let r = s.send(&req.signed()).await;
        assert_eq!(r.status, 400, "{alg}");
        assert_eq!(r.code().as_deref(), Some("BadDigest"));
        assert_eq!(s.get(&format!("{key}-bad")).await.status, 404);
    }
    let req = s
        .request("PUT", "main/md5")
        .header("content-md5", &checksum("md5", &data))
        .body(data.clone());
    assert_eq!(s.send(&req.signed()).await.status, 200);
    let req = s
        .request("PUT", "main/md5-bad")
        .header("content-md5", &checksum("md5", b"x"))
        .body(data.clone());
    let r = s.send(&req.signed()).await;
    assert_eq!(r.code().as_deref(), Some("BadDigest"));
    let req = s
        .request("PUT", "main/md5-bad")
        .header("content-md5", "bm90IGFuIG1kNQ==")
        .body(data.clone());
    let r = s.send(&req.signed()).await;
    assert_eq!(r.code().as_deref(), Some("InvalidDigest"));
}

#[tokio::test]
async fn an_empty_content_md5_is_invalid_digest() {
    let s = Server::start().await;
    let req = s
        .request("PUT", "main/empty-md5")
        .header("content-md5", "")
        .body(b"data".to_vec());
    let r = s.send(&req.signed()).await;
    assert_eq!(r.status, 400, "{}", r.text());
    assert_eq!(r.code().as_deref(), Some("InvalidDigest"));
    assert_eq!(s.get("main/empty-md5").await.status, 404);
}

// ---------------------------------------------------------------------------------------
// Multipart

async fn create_upload(s: &Server, key: &str) -> String {
    let r = s
        .send(&s.request("POST", key).query("uploads", "").signed())
        .await;
    assert_eq!(r.status, 200, "{}", r.text());
    xml_value(&r.text(), "UploadId").expect("UploadId")
}

async fn upload_part(s: &Server, key: &str, id: &str, n: u32, data: &[u8]) -> String {
    let req = s
        .request("PUT", key)
        .query("partNumber", &n.to_string())
        .query("uploadId", id)
        .body(data.to_vec());
    let r = s.send(&req.signed()).await;
    assert_eq!(r.status, 200, "part {n}: {}", r.text());
    etag_of(&r)
}

fn completion(parts: &[(u32, &str)]) -> String {
    let mut xml = String::from("<CompleteMultipartUpload>");
    for (n, e) in parts {
        xml.push_str(&format!(
            "<Part><PartNumber>{n}</PartNumber><ETag>\"{e}\"</ETag></Part>"
        ));
    }
    xml.push_str("</CompleteMultipartUpload>");
    xml
}

async fn complete(s: &Server, key: &str, id: &str, parts: &[(u32, &str)]) -> common::Response {
    let req = s
        .request("POST", key)
        .query("uploadId", id)
        .body(completion(parts));
    s.send(&req.signed()).await
}

#[tokio::test]
async fn multipart_rules() {
    let s = Server::start().await;
    let key = "main/mp/object";
    let id = create_upload(&s, key).await;
    let p1 = bytes(5 * MIB, 1);
    let p2 = bytes(5 * MIB, 2);
    let p3 = bytes(1000, 3);
    // Parts arrive out of order.
    let e3 = upload_part(&s, key, &id, 3, &p3).await;
    let e1 = upload_part(&s, key, &id, 1, &p1).await;
    let e2 = upload_part(&s, key, &id, 2, &p2).await;

    // Listed uploads and parts.
    let r = s
        .send(&s.request("GET", "").query("uploads", "").signed())
        .await;
    assert_eq!(r.status, 200);
    assert_eq!(
        xml_value(&r.text(), "UploadId").as_deref(),
        Some(id.as_str())
    );
    assert_eq!(xml_value(&r.text(), "Key").as_deref(), Some(key));
    let r = s
        .send(&s.request("GET", key).query("uploadId", &id).signed())
        .await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(xml_values(&r.text(), "PartNumber"), ["1", "2", "3"]);
    let r = s
        .send(
            &s.request("GET", key)
                .query("uploadId", &id)
                .query("max-parts", "2")
                .signed(),
        )
        .await;
    assert_eq!(xml_values(&r.text(), "PartNumber"), ["1", "2"]);
    assert_eq!(xml_value(&r.text(), "IsTruncated").as_deref(), Some("true"));

    // The list out of order, a wrong ETag, a small part in the middle.
    let r = complete(&s, key, &id, &[(2, &e2), (1, &e1)]).await;
    assert_eq!(
        r.code().as_deref(),
        Some("InvalidPartOrder"),
        "{}",
        r.text()
    );
    let r = complete(&s, key, &id, &[(1, &e1), (2, "0123")]).await;
    assert_eq!(r.code().as_deref(), Some("InvalidPart"), "{}", r.text());
    let r = complete(&s, key, &id, &[(1, &e1), (7, &e1)]).await;
    assert_eq!(r.code().as_deref(), Some("InvalidPart"), "{}", r.text());
    let r = complete(&s, key, &id, &[(1, &e1), (2, &e2), (4, &e3)]).await;
    assert_eq!(r.code().as_deref(), Some("InvalidPart"), "{}", r.text());
    let small = create_upload(&s, "main/mp/small").await;
    let s1 = upload_part(&s, "main/mp/small", &small, 1, &p3).await;
    let s2 = upload_part(&s, "main/mp/small", &small, 2, &p3).await;
    let r = complete(&s, "main/mp/small", &small, &[(1, &s1), (2, &s2)]).await;
    assert_eq!(r.status, 400);
    assert_eq!(r.code().as_deref(), Some("EntityTooSmall"), "{}", r.text());

    // Complete, then read whole, by part, and by a range across parts.
    let r = complete(&s, key, &id, &[(1, &e1), (2, &e2), (3, &e3)]).await;
    assert_eq!(r.status, 200, "{}", r.text());
    let etag = xml_value(&r.text(), "ETag")
        .unwrap()
        .replace("&quot;", "\"");
    assert!(etag.trim_matches('"').ends_with("-3"), "{etag}");
    let whole: Vec<u8> = [p1.as_slice(), &p2, &p3].concat();
    let got = s.get(key).await;
    assert!(got.body == whole);
    let got = s
        .send(&s.request("GET", key).query("partNumber", "2").signed())
        .await;
    assert_eq!(got.status, 206);
    assert!(got.body == p2);
    let got = s
        .send(
            &s.request("GET", key)
                .header("range", &format!("bytes={}-{}", 5 * MIB - 5, 5 * MIB + 4))
                .signed(),
        )
        .await;
    assert_eq!(got.status, 206);
    assert_eq!(got.body, &whole[5 * MIB - 5..5 * MIB + 5]);

    // Abort: the upload is gone.
    let gone = create_upload(&s, "main/mp/aborted").await;
    upload_part(&s, "main/mp/aborted", &gone, 1, &p3).await;
    let r = s
        .send(
            &s.request("DELETE", "main/mp/aborted")
                .query("uploadId", &gone)
                .signed(),
        )
        .await;
    assert_eq!(r.status, 204, "{}", r.text());
    let r = s
        .send(
            &s.request("GET", "main/mp/aborted")
                .query("uploadId", &gone)
                .signed(),
        )
        .await;
    assert_eq!(r.code().as_deref(), Some("NoSuchUpload"));
    assert_eq!(s.get("main/mp/aborted").await.status, 404);
}

#[tokio::test]
async fn a_repeated_complete_answers_the_same_etag() {
    let s = Server::start().await;
    let key = "main/mp/retried";
    let id = create_upload(&s, key).await;
    let e1 = upload_part(&s, key, &id, 1, &bytes(5 * MIB, 1)).await;
    let e2 = upload_part(&s, key, &id, 2, &bytes(10, 2)).await;
    let parts = [(1, e1.as_str()), (2, e2.as_str())];
    let first = complete(&s, key, &id, &parts).await;
    assert_eq!(first.status, 200, "{}", first.text());
    let again = complete(&s, key, &id, &parts).await;
    assert_eq!(again.status, 200, "the retry failed: {}", again.text());
    assert_eq!(
        xml_value(&again.text(), "ETag"),
        xml_value(&first.text(), "ETag")
    );
    // Other parts, or another key, are not the same completion.
    let r = complete(&s, key, &id, &[(1, e1.as_str())]).await;
    assert_eq!(r.code().as_deref(), Some("NoSuchUpload"), "{}", r.text());
    let r = complete(&s, "main/mp/other", &id, &parts).await;
    assert_eq!(r.code().as_deref(), Some("NoSuchUpload"), "{}", r.text());
}

#[tokio::test]
async fn upload_part_copy_ranges() {
    let s = Server::start().await;
    let src = bytes(1000, 4);
    put_ok(&s, "main/src", &src).await;
    let key = "main/mp/copied";
    let id = create_upload(&s, key).await;
    let copy = |range: &str| {
        s.request("PUT", key)
            .query("partNumber", "1")
            .query("uploadId", &id)
            .header("x-amz-copy-source", &format!("{}/main/src", common::REPO))
            .header("x-amz-copy-source-range", range)
            .signed()
    };
    let r = s.send(&copy("bytes=10-19")).await;
    assert_eq!(r.status, 200, "{}", r.text());
    for outside in ["bytes=0-1000", "bytes=999-2000", "bytes=5000-6000"] {
        let r = s.send(&copy(outside)).await;
        assert_eq!(
            r.code().as_deref(),
            Some("InvalidRange"),
            "{outside}: {}",
            r.text()
        );
    }
    for malformed in ["bytes=-10", "bytes=5-", "bytes=9-3", "10-20", "bytes=a-b"] {
        let r = s.send(&copy(malformed)).await;
        assert_eq!(r.status, 400, "{malformed}: {}", r.text());
        assert_eq!(r.code().as_deref(), Some("InvalidArgument"), "{malformed}");
    }
}

// ---------------------------------------------------------------------------------------
// Objects: copies, attributes, stored headers

#[tokio::test]
async fn copy_across_branches_and_onto_itself() {
    let s = Server::start().await;
    s.engine
        .create_branch(common::REPO, "dev", "main")
        .await
        .unwrap();
    put_ok(&s, "main/orig", b"original").await;
    let copy = |to: &str, from: &str| {
        s.request("PUT", to)
            .header("x-amz-copy-source", &format!("/{}/{from}", common::REPO))
            .signed()
    };
    let r = s.send(&copy("dev/copy", "main/orig")).await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(s.get("dev/copy").await.body, b"original");
    assert_eq!(s.get("main/copy").await.status, 404);

    // Onto itself without a change: refused, as S3 does.
    let r = s.send(&copy("main/orig", "main/orig")).await;
    assert_eq!(r.status, 400, "{}", r.text());
    assert_eq!(r.code().as_deref(), Some("InvalidRequest"));
    // With new metadata it is allowed.
    let req = s
        .request("PUT", "main/orig")
        .header("x-amz-copy-source", &format!("/{}/main/orig", common::REPO))
        .header("x-amz-metadata-directive", "REPLACE")
        .header("x-amz-meta-k", "v");
    let r = s.send(&req.signed()).await;
    assert_eq!(r.status, 200, "{}", r.text());
    let head = s.send(&s.request("HEAD", "main/orig").signed()).await;
    assert_eq!(head.header("x-amz-meta-k"), Some("v"));
}

#[tokio::test]
async fn get_object_attributes() {
    let s = Server::start().await;
    let data = bytes(2000, 6);
    let req = s
        .request("PUT", "main/attrs")
        .header("x-amz-checksum-sha256", &checksum("sha256", &data))
        .body(data.clone());
    assert_eq!(s.send(&req.signed()).await.status, 200);
    let r = s
        .send(
            &s.request("GET", "main/attrs")
                .query("attributes", "")
                .header(
                    "x-amz-object-attributes",
                    "ETag,ObjectSize,StorageClass,Checksum,ObjectParts",
                )
                .signed(),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text());
    let text = r.text();
    assert_eq!(
        xml_value(&text, "ETag").map(|e| e.replace("&quot;", "").trim_matches('"').to_string()),
        Some(md5_hex(&data)),
        "{text}"
    );
    assert_eq!(xml_value(&text, "ObjectSize").as_deref(), Some("2000"));
    assert_eq!(
        xml_value(&text, "StorageClass").as_deref(),
        Some("STANDARD")
    );
    assert_eq!(
        xml_value(&text, "ChecksumSHA256"),
        Some(checksum("sha256", &data))
    );

    // A multipart object reports its parts.
    let key = "main/attrs-mp";
    let id = create_upload(&s, key).await;
    let e1 = upload_part(&s, key, &id, 1, &bytes(5 * MIB, 1)).await;
    let e2 = upload_part(&s, key, &id, 2, &bytes(7, 2)).await;
    assert_eq!(
        complete(&s, key, &id, &[(1, &e1), (2, &e2)]).await.status,
        200
    );
    let r = s
        .send(
            &s.request("GET", key)
                .query("attributes", "")
                .header("x-amz-object-attributes", "ObjectParts,ObjectSize")
                .signed(),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(xml_value(&r.text(), "PartsCount").as_deref(), Some("2"));
    assert_eq!(
        xml_value(&r.text(), "ObjectSize"),
        Some((5 * MIB + 7).to_string())
    );
    let r = s
        .send(
            &s.request("GET", "main/missing")
                .query("attributes", "")
                .header("x-amz-object-attributes", "ETag")
                .signed(),
        )
        .await;
    assert_eq!(r.status, 404);
}

#[tokio::test]
async fn stored_headers_come_back() {
    let s = Server::start().await;
    let expires = "Wed, 21 Oct 2037 07:28:00 GMT";
    let with_headers = |r: common::Request| {
        r.header("cache-control", "max-age=60")
            .header("expires", expires)
            .header("content-disposition", "attachment; filename=\"a.txt\"")
            .header("content-language", "de-DE")
            .header("x-amz-meta-owner", "team")
    };
    let req = with_headers(s.request("PUT", "main/h"))
        .header("content-encoding", "gzip")
        .body(b"zipped".to_vec());
    assert_eq!(s.send(&req.signed()).await.status, 200);
    let check = |r: &common::Response, encoding: Option<&str>| {
        assert_eq!(r.header("cache-control"), Some("max-age=60"), "{r:?}");
        assert_eq!(r.header("expires"), Some(expires));
        assert_eq!(
            r.header("content-disposition"),
            Some("attachment; filename=\"a.txt\"")
        );
        assert_eq!(r.header("content-language"), Some("de-DE"));
        assert_eq!(r.header("content-encoding"), encoding);
        assert_eq!(r.header("x-amz-meta-owner"), Some("team"));
        assert!(
            !r.headers.iter().any(|(k, _)| k.contains("sluice")),
            "{:?}",
            r.headers
        );
    };
    for method in ["GET", "HEAD"] {
        let r = s.send(&s.request(method, "main/h").signed()).await;
        assert_eq!(r.status, 200);
        check(&r, Some("gzip"));
    }
    // Response overrides win on HEAD as on GET.
    let r = s
        .send(
            &s.request("HEAD", "main/h")
                .query("response-cache-control", "no-store")
                .signed(),
        )
        .await;
    assert_eq!(r.header("cache-control"), Some("no-store"));

    // aws-chunked is how the body travelled, not how the object is encoded.
    let data = bytes(40_000, 8);
    for (sent, kept) in [("aws-chunked", None), ("aws-chunked,gzip", Some("gzip"))] {
        let req = with_headers(s.request("PUT", "main/chunked")).header("content-encoding", sent);
        let req = common::Chunked::signed(&[8192]).apply(req, &data);
        let r = s.send(&req).await;
        assert_eq!(r.status, 200, "{sent}: {}", r.text());
        let r = s.send(&s.request("HEAD", "main/chunked").signed()).await;
        check(&r, kept);
    }

    // Multipart uploads keep them; a COPY keeps them, a REPLACE replaces them.
    let key = "main/h-mp";
    let req = with_headers(s.request("POST", key).query("uploads", ""));
    let r = s.send(&req.signed()).await;
    let id = xml_value(&r.text(), "UploadId").unwrap();
    let e1 = upload_part(&s, key, &id, 1, b"part").await;
    assert_eq!(complete(&s, key, &id, &[(1, &e1)]).await.status, 200);
    let r = s.send(&s.request("HEAD", key).signed()).await;
    check(&r, None);
    let r = s
        .send(
            &s.request("PUT", "main/h-copy")
                .header("x-amz-copy-source", &format!("/{}/main/h", common::REPO))
                .signed(),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text());
    check(
        &s.send(&s.request("HEAD", "main/h-copy").signed()).await,
        Some("gzip"),
    );
    let r = s
        .send(
            &s.request("PUT", "main/h-copy")
                .header("x-amz-copy-source", &format!("/{}/main/h", common::REPO))
                .header("x-amz-metadata-directive", "REPLACE")
                .header("cache-control", "no-cache")
                .signed(),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text());
    let r = s.send(&s.request("HEAD", "main/h-copy").signed()).await;
    assert_eq!(r.header("cache-control"), Some("no-cache"));
    assert_eq!(r.header("content-language"), None);
}

#[tokio::test]
async fn part_number_past_the_parts_is_invalid_part_number() {
    let s = Server::start().await;
    put_ok(&s, "main/one", b"whole").await;
    let r = s
        .send(
            &s.request("GET", "main/one")
                .query("partNumber", "1")
                .signed(),
        )
        .await;
    assert_eq!(r.status, 200);
    for method in ["GET", "HEAD"] {
        let r = s
            .send(
                &s.request(method, "main/one")
                    .query("partNumber", "2")
                    .signed(),
            )
            .await;
        assert_eq!(r.status, 400, "{method}: {}", r.text());
        if method == "GET" {
            assert_eq!(r.code().as_deref(), Some("InvalidPartNumber"));
        }
    }
}

// ---------------------------------------------------------------------------------------
// Refused writes, deletes, errors

/// A PUT with `Expect: 100-continue` that the server must refuse from its headers alone:
/// the answer comes before any `100 Continue`, so no byte of the body is asked for.
async fn refused_before_body(s: &Server, req: common::Request, len: usize) -> common::Response {
    let req = req
        .header("expect", "100-continue")
        .header("content-length", &len.to_string());
    let mut req = req;
    req.payload_hash = Some("UNSIGNED-PAYLOAD".into());
    let wire = req.signed().encode();
    s.send_raw(&wire, false).await
}

#[tokio::test]
async fn refused_writes_move_no_bytes() {
    let s = Server::start().await;
    put_ok(&s, "main/exists", b"here").await;
    s.engine
        .set_branch_protection(common::REPO, vec!["main".into()])
        .await
        .unwrap();
    let before = s.files();

    // With the whole body sent: refused, nothing stored, no file left.
    let big = bytes(100_000, 2);
    let r = s.put("main/protected.bin", &big).await;
    assert_eq!(r.status, 403, "{}", r.text());
    assert_eq!(s.get("main/protected.bin").await.status, 404);
    assert_eq!(s.files(), before, "a refused PUT left a file");

    // Refused on the headers: no 100 Continue, so the client never sends the body.
    let r = refused_before_body(&s, s.request("PUT", "main/protected.bin"), 100_000).await;
    assert_eq!(
        r.interim,
        Vec::<u16>::new(),
        "the server asked for the body"
    );
    assert_eq!(r.status, 403, "{}", r.text());

    // The same for failing conditions, on an unprotected branch.
    s.engine
        .set_branch_protection(common::REPO, vec![])
        .await
        .unwrap();
    let r = refused_before_body(
        &s,
        s.request("PUT", "main/exists").header("if-none-match", "*"),
        100_000,
    )
    .await;
    assert_eq!(
        r.interim,
        Vec::<u16>::new(),
        "the server asked for the body"
    );
    assert_eq!(r.status, 412, "{}", r.text());
    let r = refused_before_body(
        &s,
        s.request("PUT", "main/exists")
            .header("if-match", "\"0000\""),
        100_000,
    )
    .await;
    assert_eq!(
        r.interim,
        Vec::<u16>::new(),
        "the server asked for the body"
    );
    assert_eq!(r.status, 412, "{}", r.text());
    assert_eq!(s.get("main/exists").await.body, b"here");
    assert_eq!(s.files(), before);

    // A part for an upload whose branch was protected since it began.
    let id = create_upload(&s, "main/mp/late").await;
    s.engine
        .set_branch_protection(common::REPO, vec!["main".into()])
        .await
        .unwrap();
    let r = refused_before_body(
        &s,
        s.request("PUT", "main/mp/late")
            .query("partNumber", "1")
            .query("uploadId", &id),
        100_000,
    )
    .await;
    assert_eq!(
        r.interim,
        Vec::<u16>::new(),
        "the server asked for the part"
    );
    assert_eq!(r.status, 403, "{}", r.text());
    assert_eq!(s.files(), before);
}

fn delete_xml(keys: &[&str]) -> String {
    let mut xml = String::from("<Delete>");
    for k in keys {
        xml.push_str(&format!("<Object><Key>{k}</Key></Object>"));
    }
    xml.push_str("</Delete>");
    xml
}

#[tokio::test]
async fn delete_objects_checks_the_digest() {
    let s = Server::start().await;
    put_ok(&s, "main/d1", b"1").await;
    put_ok(&s, "main/d2", b"2").await;
    let body = delete_xml(&["main/d1", "main/d2"]);
    let delete = |h: Option<(&str, String)>| {
        let mut r = s.request("POST", "").query("delete", "").body(body.clone());
        if let Some((k, v)) = h {
            r = r.header(k, &v);
        }
        r.signed()
    };
    let cases = [
        (None, 400, "InvalidRequest"),
        (Some(("content-md5", String::new())), 400, "InvalidDigest"),
        (
            Some(("content-md5", "zzz".to_string())),
            400,
            "InvalidDigest",
        ),
        (
            Some(("content-md5", checksum("md5", b"other"))),
            400,
            "BadDigest",
        ),
        (
            Some(("x-amz-checksum-crc32", checksum("crc32", b"other"))),
            400,
            "BadDigest",
        ),
    ];
    for (header, status, code) in cases {
        let r = s.send(&delete(header.clone())).await;
        assert_eq!(r.status, status, "{header:?}: {}", r.text());
        assert_eq!(r.code().as_deref(), Some(code), "{header:?}");
        assert_eq!(
            s.get("main/d1").await.status,
            200,
            "deleted despite {header:?}"
        );
    }
    let r = s
        .send(&delete(Some((
            "content-md5",
            checksum("md5", body.as_bytes()),
        ))))
        .await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(xml_values(&r.text(), "Deleted").len(), 2);
    assert_eq!(s.get("main/d1").await.status, 404);
    put_ok(&s, "main/d1", b"1").await;
    let r = s
        .send(&delete(Some((
            "x-amz-checksum-crc32",
            checksum("crc32", body.as_bytes()),
        ))))
        .await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(s.get("main/d1").await.status, 404);
}

#[tokio::test]
async fn errors_carry_s3_codes_and_request_ids() {
    let s = Server::start().await;
    let r = s.get("main/nothing").await;
    assert_eq!(r.status, 404);
    assert_eq!(r.code().as_deref(), Some("NoSuchKey"));
    let id = r
        .header("x-amz-request-id")
        .expect("x-amz-request-id")
        .to_string();
    assert!(!id.is_empty());
    assert_eq!(xml_value(&r.text(), "RequestId"), Some(id.clone()));
    // Every answer has its own.
    let again = s.get("main/nothing").await;
    assert_ne!(again.header("x-amz-request-id"), Some(id.as_str()));

    let r = s
        .send(&common::Request::new(&s.addr.to_string(), "GET", "/nobucket/main/x").signed())
        .await;
    assert_eq!(r.code().as_deref(), Some("NoSuchBucket"));
    assert_eq!(
        xml_value(&r.text(), "RequestId").as_deref(),
        r.header("x-amz-request-id")
    );
    let r = s.get("nobranch/x").await;
    assert_eq!(r.status, 404);

    // Errors from s3s itself (a bad signature) carry the id too.
    let mut bad = s.request("GET", "main/x").signed();
    for (k, v) in bad.headers.iter_mut() {
        if k == "authorization" {
            *v = v.replace("Signature=", "Signature=0");
        }
    }
    let r = s.send(&bad).await;
    assert_eq!(r.status, 403);
    assert_eq!(
        xml_value(&r.text(), "RequestId").as_deref(),
        r.header("x-amz-request-id")
    );

    // Writes to a tag or a commit are refused.
    put_ok(&s, "main/t", b"t").await;
    let (commit, _) = s
        .engine
        .commit(
            common::REPO,
            "main",
            sluice_meta::CommitRequest::new("c", "test"),
        )
        .await
        .unwrap();
    s.engine
        .create_tag(common::REPO, "v1", "main")
        .await
        .unwrap();
    let r = s.put("v1/t", b"x").await;
    assert_eq!(r.status, 405, "{}", r.text());
    assert_eq!(r.code().as_deref(), Some("MethodNotAllowed"));
    let r = s.put(&format!("{commit}/t"), b"x").await;
    assert_eq!(r.status, 405, "{}", r.text());
    // Reads on the tag work.
    assert_eq!(s.get("v1/t").await.body, b"t");
    // Deleting on a tag is refused as well.
    let r = s.send(&s.request("DELETE", "v1/t").signed()).await;
    assert_eq!(r.status, 405);
}
