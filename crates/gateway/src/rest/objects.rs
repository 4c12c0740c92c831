//! Objects through the API: upload (raw or multipart form), download (with ranges), stat,
//! list, delete, delete many, copy.

use bytes::Bytes;
use futures::{StreamExt, TryStreamExt};
use http::{Method, Response, StatusCode};
use http_body_util::BodyStream;
use serde::Deserialize;
use serde_json::{Value, json};
use sluice_meta::{Entry, ListItem, ListOptions, PutOptions};

use super::{Answer, ApiError, Call, Reply, not_found, pagination, read_json};
use crate::sync_stream::SyncStream;

/// True for the object routes: `refs/{ref}/objects...` and `branches/{branch}/objects...`.
pub(super) fn is_objects(segs: &[&str]) -> bool {
    matches!(
        segs,
        ["repositories", _, "refs" | "branches", _, "objects", ..]
    )
}

pub(crate) fn stats_json(path: &str, e: &Entry) -> Value {
    json!({
        "path": path,
        "path_type": "object",
        "physical_address": e.address,
        "checksum": e.etag,
        "size_bytes": e.size,
        "mtime": e.last_modified_ms / 1000,
        // Keys under `sluice:` hold S3's system headers (Cache-Control, ...), not user metadata.
        "metadata": e.metadata.iter().filter(|(k, _)| !k.starts_with("sluice:")).collect::<std::collections::BTreeMap<_, _>>(),
        "content_type": e.content_type.clone().unwrap_or_else(|| "application/octet-stream".into()),
    })
}

fn prefix_json(path: &str) -> Value {
    json!({ "path": path, "path_type": "common_prefix", "physical_address": "", "checksum": "", "mtime": 0 })
}

/// A single `bytes=a-b`, `bytes=a-` or `bytes=-n` range over `size` bytes.
pub(crate) fn parse_range(header: &str, size: u64) -> Result<std::ops::Range<u64>, ApiError> {
    let bad = || {
        ApiError::new(
            StatusCode::RANGE_NOT_SATISFIABLE,
            format!("invalid range {header:?}"),
        )
    };
    let spec = header.strip_prefix("bytes=").ok_or_else(bad)?;
    let (a, b) = spec.split_once('-').ok_or_else(bad)?;
    let r = match (a.trim(), b.trim()) {
        ("", n) => {
            let n: u64 = n.parse().map_err(|_| bad())?;
            size.saturating_sub(n)..size
        }
        (a, "") => a.parse::<u64>().map_err(|_| bad())?..size,
        (a, b) => {
            let (a, b): (u64, u64) = (a.parse().map_err(|_| bad())?, b.parse().map_err(|_| bad())?);
            // `b` may be any u64 (u64::MAX included): the end saturates at the size.
            a..b.saturating_add(1).min(size)
        }
    };
    if r.start >= size || r.start >= r.end {
        return Err(bad());
    }
    Ok(r)
}

#[derive(Deserialize)]
struct DeleteMany {
    paths: Vec<String>,
}

#[derive(Deserialize)]
struct Copy {
    src_path: String,
    src_ref: Option<String>,
}

/// The upload's bytes: a `content` field of a multipart form, or the raw body.
fn upload_stream(
    req: http::Request<hyper::body::Incoming>,
) -> Result<futures::stream::BoxStream<'static, std::io::Result<Bytes>>, ApiError> {
    let content_type = req
        .headers()
        .get(http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_string();
    let body = BodyStream::new(req.into_body())
        .try_filter_map(|frame| async move { Ok(frame.into_data().ok()) })
        .map_err(std::io::Error::other);
    if content_type.starts_with("multipart/form-data") {
        let boundary = multer::parse_boundary(&content_type).map_err(|e| {
            ApiError::new(StatusCode::BAD_REQUEST, format!("bad multipart form: {e}"))
        })?;
        let mut form = multer::Multipart::new(body, boundary);
        let stream = async_stream_field(async move {
            while let Some(field) = form.next_field().await.map_err(std::io::Error::other)? {
                if field.name() == Some("content") {
                    return Ok(Some(field));
                }
            }
            Ok(None)
        });
        Ok(stream)
    } else {
        Ok(body.boxed())
    }
}

/// The bytes of the form field that `find` yields, or an error when there is none.
fn async_stream_field<F>(find: F) -> futures::stream::BoxStream<'static, std::io::Result<Bytes>>
where
    F: std::future::Future<Output = std::io::Result<Option<multer::Field<'static>>>>
        + Send
        + 'static,
{
    futures::stream::once(find)
        .map(|found| match found {
            Ok(Some(field)) => field.map_err(std::io::Error::other).boxed(),
            Ok(None) => futures::stream::once(async {
                Err(std::io::Error::other("the form has no 'content' field"))
            })
            .boxed(),
            Err(e) => futures::stream::once(async move { Err(e) }).boxed(),
        })
        .flatten()
        .boxed()
}

pub(super) async fn objects(call: Call) -> Answer {
    let segs: Vec<String> = call.segments.clone();
    let segs: Vec<&str> = segs.iter().map(String::as_str).collect();
    let engine = call.engine.clone();
    match (&call.method, segs.as_slice()) {
        (&Method::GET | &Method::HEAD, [_, repo, "refs", reference, "objects"]) => {
            let path = call.query.require("path")?.to_string();
            let entry = engine.stat_object(repo, reference, &path).await?;
            let range = call
                .req
                .headers()
                .get(http::header::RANGE)
                .and_then(|v| v.to_str().ok())
                .map(|h| parse_range(h, entry.size))
                .transpose()?;
            let mut builder = Response::builder()
                .header(http::header::ETAG, format!("\"{}\"", entry.etag))
                .header(http::header::ACCEPT_RANGES, "bytes")
                .header(
                    http::header::CONTENT_TYPE,
                    entry
                        .content_type
                        .clone()
                        .unwrap_or_else(|| "application/octet-stream".into()),
                );
            let (status, len) = match &range {
                Some(r) => {
                    builder = builder.header(
                        http::header::CONTENT_RANGE,
                        format!("bytes {}-{}/{}", r.start, r.end - 1, entry.size),
                    );
                    (StatusCode::PARTIAL_CONTENT, r.end - r.start)
                }
                None => (StatusCode::OK, entry.size),
            };
            builder = builder
                .status(status)
                .header(http::header::CONTENT_LENGTH, len);
            let body = if call.method == Method::HEAD || len == 0 {
                s3s::Body::empty()
            } else {
                let stream = engine.read_object(repo, &entry, range).await?;
                s3s::Body::from(s3s::dto::StreamingBlob::wrap(SyncStream::new(stream)))
            };
            Ok(Reply::Raw(builder.body(body).expect("valid response")))
        }
        (&Method::GET, [_, repo, "refs", reference, "objects", "stat"]) => {
            let path = call.query.require("path")?;
            let entry = engine.stat_object(repo, reference, path).await?;
            Ok(Reply::Json(StatusCode::OK, stats_json(path, &entry)))
        }
        (&Method::GET, [_, repo, "refs", reference, "objects", "ls"]) => {
            let amount = call.query.amount()?;
            let options = ListOptions {
                prefix: call.query.get("prefix").unwrap_or("").to_string(),
                delimiter: call.query.get("delimiter").map(str::to_string),
                after: call.query.get("after").map(str::to_string),
                limit: amount,
            };
            let page = engine.list_objects(repo, reference, &options).await?;
            let next = page.items.last().map(|i| i.key().to_string());
            let results: Vec<Value> = page
                .items
                .iter()
                .map(|i| match i {
                    ListItem::Object(p, e) => stats_json(p, e),
                    ListItem::Prefix(p) => prefix_json(p),
                })
                .collect();
            Ok(Reply::Json(
                StatusCode::OK,
                json!({ "pagination": pagination(page.has_more, next.as_deref(), results.len(), amount), "results": results }),
            ))
        }
        (&Method::POST, [_, repo, "branches", branch, "objects"]) => {
            let (repo, branch) = (repo.to_string(), branch.to_string());
            let path = call.query.require("path")?.to_string();
            let stream = upload_stream(call.req)?;
            let entry = engine
                .put_object(&repo, &branch, &path, stream, PutOptions::default())
                .await?;
            Ok(Reply::Json(StatusCode::CREATED, stats_json(&path, &entry)))
        }
        (&Method::DELETE, [_, repo, "branches", branch, "objects"]) => {
            let path = call.query.require("path")?;
            if !engine.delete_object(repo, branch, path).await? {
                return Err(ApiError::new(
                    StatusCode::NOT_FOUND,
                    format!("object {path:?} not found"),
                ));
            }
            Ok(Reply::Empty(StatusCode::NO_CONTENT))
        }
        (&Method::POST, [_, repo, "branches", branch, "objects", "delete"]) => {
            let (repo, branch) = (repo.to_string(), branch.to_string());
            let body: DeleteMany = read_json(call.req).await?;
            if body.paths.len() > 1000 {
                return Err(ApiError::new(
                    StatusCode::BAD_REQUEST,
                    "at most 1,000 paths per call",
                ));
            }
            let changes = body.paths.iter().map(|p| (p.clone(), None)).collect();
            engine.stage_entries(&repo, &branch, changes).await?;
            Ok(Reply::Json(StatusCode::OK, json!({ "errors": [] })))
        }
        (&Method::POST, [_, repo, "branches", branch, "objects", "copy"]) => {
            let (repo, branch) = (repo.to_string(), branch.to_string());
            let dest = call.query.require("dest_path")?.to_string();
            let body: Copy = read_json(call.req).await?;
            let src_ref = body.src_ref.unwrap_or_else(|| branch.clone());
            let entry = engine
                .copy_object(&repo, &src_ref, &body.src_path, &branch, &dest, None)
                .await?;
            Ok(Reply::Json(StatusCode::CREATED, stats_json(&dest, &entry)))
        }
        _ => Err(not_found(&call.method, call.req.uri().path())),
    }
}

#[cfg(test)]
mod tests {
    use super::parse_range;
    use proptest::prelude::*;

    #[test]
    fn the_largest_end_is_the_object_end() {
        assert_eq!(
            parse_range("bytes=0-18446744073709551615", 10).unwrap(),
            0..10
        );
        assert_eq!(parse_range("bytes=3-", 10).unwrap(), 3..10);
        assert_eq!(parse_range("bytes=-4", 10).unwrap(), 6..10);
        assert_eq!(
            parse_range("bytes=-18446744073709551615", 10).unwrap(),
            0..10
        );
        assert!(parse_range("bytes=10-", 10).is_err());
        assert!(parse_range("bytes=5-4", 10).is_err());
        assert!(parse_range("bytes=0-0", 0).is_err());
    }

    proptest! {
        /// Any header and any size: an error or a non-empty range inside the object,
        /// never a panic.
        #[test]
        fn any_header_is_a_range_inside_the_object_or_an_error(
            header in prop_oneof![
                any::<String>(),
                "bytes=[0-9]{0,21}-[0-9]{0,21}",
                (any::<u64>(), any::<u64>()).prop_map(|(a, b)| format!("bytes={a}-{b}")),
                any::<u64>().prop_map(|n| format!("bytes=-{n}")),
                any::<u64>().prop_map(|n| format!("bytes={n}-")),
            ],
            size in prop_oneof![Just(0u64), Just(u64::MAX), any::<u64>(), 0u64..100],
        ) {
            if let Ok(r) = parse_range(&header, size) {
                prop_assert!(r.start < r.end && r.end <= size, "{header} over {size}: {r:?}");
            }
        }

        /// A well-formed range inside the object is answered exactly.
        #[test]
        fn a_range_inside_the_object_is_exact(size in 1u64..u64::MAX, a in any::<u64>(), b in any::<u64>()) {
            let (a, b) = (a % size, b % size);
            let (a, b) = (a.min(b), a.max(b));
            prop_assert_eq!(parse_range(&format!("bytes={a}-{b}"), size).unwrap(), a..b + 1);
        }
    }
}
