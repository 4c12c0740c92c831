//! aws-chunked request bodies, sent byte for byte with signatures computed here: signed
//! chunks of several sizes, empty objects, chunk boundaries inside multi-byte characters,
//! wrong chunk signatures, truncated bodies, and trailing checksums (unsigned and signed).

mod common;

use common::{Chunked, Server, bytes, checksum, md5_hex};

/// PUT `data` at `key` as an aws-chunked body framed by `how`.
async fn put_chunked(s: &Server, key: &str, data: &[u8], how: &Chunked) -> common::Response {
    let req = how.apply(s.request("PUT", key), data);
    s.send(&req).await
}

async fn assert_stored(s: &Server, key: &str, data: &[u8]) {
    let got = s.get(key).await;
    assert_eq!(got.status, 200, "GET {key}: {}", got.text());
    assert_eq!(got.body.len(), data.len(), "length of {key}");
    assert!(got.body == data, "bytes of {key} differ");
    assert_eq!(
        got.header("etag").map(|e| e.trim_matches('"').to_string()),
        Some(md5_hex(data))
    );
}

async fn assert_absent(s: &Server, key: &str) {
    let got = s.get(key).await;
    assert_eq!(got.status, 404, "{key} must not exist: {}", got.text());
}

#[tokio::test]
async fn signed_chunks_of_several_sizes() {
    let s = Server::start().await;
    let data = bytes(200_000, 7);
    for (i, sizes) in [
        vec![8192],
        vec![65_536],
        vec![1, 2, 3, 4096],
        vec![100_000, 99_999, 1],
        vec![200_000],
        vec![250_000],
    ]
    .iter()
    .enumerate()
    {
        let key = format!("main/chunked/{i}.bin");
        let r = put_chunked(&s, &key, &data, &Chunked::signed(sizes)).await;
        assert_eq!(r.status, 200, "sizes {sizes:?}: {}", r.text());
        assert_eq!(
            r.header("etag").map(|e| e.trim_matches('"').to_string()),
            Some(md5_hex(&data))
        );
        assert_stored(&s, &key, &data).await;
    }
    // Small (inline) objects take the same path.
    let small = bytes(1000, 3);
    let r = put_chunked(&s, "main/chunked/small", &small, &Chunked::signed(&[10])).await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert_stored(&s, "main/chunked/small", &small).await;
}

#[tokio::test]
async fn signed_chunked_empty_object() {
    let s = Server::start().await;
    let r = put_chunked(&s, "main/empty", b"", &Chunked::signed(&[8192])).await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert_stored(&s, "main/empty", b"").await;
    let head = s.send(&s.request("HEAD", "main/empty").signed()).await;
    assert_eq!(head.status, 200);
    assert_eq!(head.header("content-length"), Some("0"));
}

#[tokio::test]
async fn chunk_boundaries_inside_multibyte_characters() {
    let s = Server::start().await;
    let text = "données naïves — 日本語のテキスト 🦀 ".repeat(2000);
    let data = text.as_bytes();
    assert!(data.len() > 32 * 1024);
    let key = "main/données/日本語 🦀.txt";
    // Chunks of 1, 2 and 5 bytes cut almost every multi-byte character somewhere.
    for sizes in [vec![1], vec![2], vec![5, 8191]] {
        let r = put_chunked(&s, key, data, &Chunked::signed(&sizes)).await;
        assert_eq!(r.status, 200, "{}", r.text());
        assert_stored(&s, key, data).await;
    }
    // And listed under its own name.
    let list = s
        .send(
            &s.request("GET", "")
                .query("list-type", "2")
                .query("prefix", "main/données/")
                .signed(),
        )
        .await;
    assert_eq!(list.status, 200);
    assert_eq!(common::xml_value(&list.text(), "Key").as_deref(), Some(key));
}

#[tokio::test]
async fn a_wrong_chunk_signature_is_refused_and_nothing_is_stored() {
    let s = Server::start().await;
    let data = bytes(100_000, 9);
    for at in [0, 1, 3] {
        let before = s.files();
        let mut how = Chunked::signed(&[40_000]);
        how.bad_signature_at = Some(at);
        let r = put_chunked(&s, "main/forged", &data, &how).await;
        assert_eq!(r.status, 403, "chunk {at}: {}", r.text());
        assert_eq!(r.code().as_deref(), Some("SignatureDoesNotMatch"));
        assert_absent(&s, "main/forged").await;
        assert_eq!(s.files(), before, "a refused body left files");
    }
}

#[tokio::test]
async fn a_truncated_chunked_body_is_refused_and_nothing_is_stored() {
    let s = Server::start().await;
    let data = bytes(100_000, 11);
    let req = Chunked::signed(&[16_384]).apply(s.request("PUT", "main/cut"), &data);
    let wire = req.encode();
    let before = s.files();
    for keep in [wire.len() - 3, wire.len() - 200, wire.len() / 2] {
        let r = s.send_raw(&wire[..keep], true).await;
        assert_ne!(r.status, 200, "a body cut at {keep} was accepted");
        assert_absent(&s, "main/cut").await;
        assert_eq!(s.files(), before, "a truncated body left files");
    }
    // The final chunk or its trailing CRLF missing: the declared lengths still hold, so
    // the framing itself must be checked.
    let r = s.send_raw(&wire[..wire.len() - 2], true).await;
    assert_ne!(r.status, 200);
    assert_absent(&s, "main/cut").await;
}

#[tokio::test]
async fn unsigned_payload_trailers_for_every_algorithm() {
    let s = Server::start().await;
    let data = bytes(70_000, 13);
    for alg in ["crc32", "crc32c", "crc64nvme", "sha1", "sha256"] {
        let key = format!("main/trailer/{alg}");
        let sum = checksum(alg, &data);
        let how = Chunked::unsigned_trailer(&[16_384], alg, sum.clone());
        let r = put_chunked(&s, &key, &data, &how).await;
        assert_eq!(r.status, 200, "{alg}: {}", r.text());
        assert_stored(&s, &key, &data).await;
        let head = s
            .send(
                &s.request("HEAD", &key)
                    .header("x-amz-checksum-mode", "ENABLED")
                    .signed(),
            )
            .await;
        assert_eq!(head.status, 200);
        assert_eq!(
            head.header(&format!("x-amz-checksum-{alg}")),
            Some(sum.as_str()),
            "{alg} not returned"
        );
    }
}

#[tokio::test]
async fn a_wrong_trailing_checksum_is_bad_digest_and_nothing_is_stored() {
    let s = Server::start().await;
    let data = bytes(70_000, 17);
    let before = s.files();
    for alg in ["crc32", "crc32c", "crc64nvme", "sha1", "sha256"] {
        let key = format!("main/wrong/{alg}");
        let wrong = checksum(alg, b"something else");
        let how = Chunked::unsigned_trailer(&[8192], alg, wrong);
        let r = put_chunked(&s, &key, &data, &how).await;
        assert_eq!(r.status, 400, "{alg}: {}", r.text());
        assert_eq!(r.code().as_deref(), Some("BadDigest"), "{alg}");
        assert_absent(&s, &key).await;
    }
    assert_eq!(s.files(), before, "refused bodies left files");
}

#[tokio::test]
async fn signed_payload_with_a_signed_trailer() {
    let s = Server::start().await;
    let data = bytes(90_000, 19);
    let mut how = Chunked::signed(&[32_768]);
    how.trailer = Some(("crc32c".into(), checksum("crc32c", &data)));
    let r = put_chunked(&s, "main/signed-trailer", &data, &how).await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert_stored(&s, "main/signed-trailer", &data).await;

    // The same with a checksum that does not match: BadDigest, nothing stored.
    let mut bad = how.clone();
    bad.trailer = Some(("crc32c".into(), checksum("crc32c", b"other")));
    let r = put_chunked(&s, "main/signed-trailer-bad", &data, &bad).await;
    assert_eq!(r.status, 400, "{}", r.text());
    assert_eq!(r.code().as_deref(), Some("BadDigest"));
    assert_absent(&s, "main/signed-trailer-bad").await;
}

#[tokio::test]
async fn chunked_multipart_parts() {
    let s = Server::start().await;
    let create = s
        .send(
            &s.request("POST", "main/mp-chunked")
                .query("uploads", "")
                .signed(),
        )
        .await;
    assert_eq!(create.status, 200, "{}", create.text());
    let id = common::xml_value(&create.text(), "UploadId").expect("upload id");
    let part = bytes(50_000, 23);
    let how = Chunked::unsigned_trailer(&[8192], "crc32", checksum("crc32", &part));
    let req = how.apply(
        s.request("PUT", "main/mp-chunked")
            .query("partNumber", "1")
            .query("uploadId", &id),
        &part,
    );
    let r = s.send(&req).await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(
        r.header("etag").map(|e| e.trim_matches('"').to_string()),
        Some(md5_hex(&part))
    );
}

/// A body whose announced checksum trailer is missing or mangled is refused, even when its
/// data was changed on the way (found by protocol_fuzz.rs: such a body was stored).
#[tokio::test]
async fn an_announced_trailer_that_does_not_arrive_is_refused() {
    let s = Server::start().await;
    let data = bytes(3000, 7);
    for mangle in ["x-mz-checksum-crc32:", ""] {
        let how = Chunked::unsigned_trailer(&[1024], "crc32", checksum("crc32", &data));
        let mut req = how.apply(s.request("PUT", "main/mangled"), &data);
        let name = b"x-amz-checksum-crc32:";
        let at = req
            .body
            .windows(name.len())
            .position(|w| w == name)
            .expect("trailer");
        let mut body = req.body[..at].to_vec();
        if !mangle.is_empty() {
            body.extend_from_slice(&req.body[at..]);
            body.splice(at..at + "x-amz-checksum-crc32:".len(), mangle.bytes());
        } else {
            body.extend_from_slice(b"\r\n");
        }
        body[1040] ^= 0xff; // and a byte of the data changed
        req.body = body;
        req.headers.retain(|(k, _)| k != "content-length");
        let r = s.send(&req).await;
        assert_eq!(r.status, 400, "{mangle:?}: {}", r.text());
        assert_absent(&s, "main/mangled").await;
    }
}
