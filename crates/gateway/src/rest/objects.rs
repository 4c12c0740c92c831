//! Objects through the API: upload (raw or multipart form), download (with ranges), stat,
//! list, delete, delete many, copy.

use bytes::Bytes;
use futures::{StreamExt, TryStreamExt};
use http::{Method, Response, StatusCode};
use http_body_util::BodyStream;
use sluice_meta::{ListItem, ListOptions, PutOptions, WriteCondition};

use super::{Answer, ApiError, Call, Reply, read_json, reply};
use crate::access::{Need, arn};
use crate::api::{
    List, ObjectCopyCreation, ObjectErrorList, ObjectStats, PathList, StagingLocation,
    StagingMetadata, UpdateObjectUserMetadata,
};
use crate::request::etags;
use crate::sync_stream::SyncStream;

/// An HTTP date (RFC 7231's IMF-fixdate) for a time in milliseconds since the Unix epoch.
fn httpdate(ms: i64) -> String {
    const FORMAT: &[time::format_description::BorrowedFormatItem<'_>] = time::macros::format_description!(
        "[weekday repr:short], [day] [month repr:short] [year] [hour]:[minute]:[second] GMT"
    );
    time::OffsetDateTime::from_unix_timestamp(ms.div_euclid(1000))
        .unwrap_or(time::OffsetDateTime::UNIX_EPOCH)
        .format(FORMAT)
        .unwrap_or_default()
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

pub(super) async fn download(call: Call) -> Answer {
    let (engine, repo, reference) = (call.engine.clone(), call.param("repo"), call.param("ref"));
    let path = call.query.require("path")?.to_string();
    let entry = engine.stat_object(&repo, &reference, &path).await?;
    // With presign=true, lakeFS redirects to a URL that reads the bytes without the server
    // (where the storage can sign one; otherwise the bytes come from here).
    if presign(&call)?
        && let Some(url) = engine.presigned_read(&repo, &entry).await?
    {
        let answer = Response::builder()
            .status(StatusCode::FOUND)
            .header(http::header::LOCATION, url)
            .body(s3s::Body::empty())
            .expect("valid response");
        return Ok(Reply::Raw(answer));
    }
    let last_modified = httpdate(entry.last_modified_ms);
    // A cached copy that is still current: 304, no body (lakeFS answers the same).
    let cached = etags(call.req.headers(), http::header::IF_NONE_MATCH)
        .is_some_and(|list| list.iter().any(|t| t == "*" || *t == entry.etag));
    if cached {
        let answer = Response::builder()
            .status(StatusCode::NOT_MODIFIED)
            .header(http::header::ETAG, format!("\"{}\"", entry.etag))
            .header(http::header::LAST_MODIFIED, &last_modified)
            .body(s3s::Body::empty())
            .expect("valid response");
        return Ok(Reply::Raw(answer));
    }
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
        .header(http::header::LAST_MODIFIED, &last_modified)
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
        let stream = engine.read_object(&repo, &entry, range).await?;
        s3s::Body::from(s3s::dto::StreamingBlob::wrap(SyncStream::new(stream)))
    };
    Ok(Reply::Raw(builder.body(body).expect("valid response")))
}

/// `presign=true|false` of a request (absent: false).
fn presign(call: &Call) -> Result<bool, ApiError> {
    Ok(call.query.flag("presign")?.unwrap_or(false))
}

pub(super) async fn stat(call: Call) -> Answer {
    let path = call.query.require("path")?;
    let repo = call.param("repo");
    let entry = call
        .engine
        .stat_object(&repo, &call.param("ref"), path)
        .await?;
    let mut stats = ObjectStats::object(path, &entry);
    // With presign=true, lakeFS answers a URL that reads the bytes without the server.
    if presign(&call)?
        && let Some(url) = call.engine.presigned_read(&repo, &entry).await?
    {
        stats.physical_address = url;
    }
    reply(StatusCode::OK, stats)
}

/// lakeFS's `getPhysicalAddress`: a fresh address for the client to write to itself, with
/// a pre-signed URL when `presign=true`.
pub(super) async fn staging_location(call: Call) -> Answer {
    let path = call.query.require("path")?;
    let location = call
        .engine
        .staging_location(
            &call.param("repo"),
            &call.param("branch"),
            path,
            presign(&call)?,
        )
        .await?;
    reply(
        StatusCode::OK,
        StagingLocation {
            physical_address: Some(location.physical_address),
            presigned_url: location.presigned_url,
            presigned_url_expiry: location.presigned_url_expiry,
        },
    )
}

/// lakeFS's `linkPhysicalAddress`: stage what the client wrote at a staging location
/// (`If-None-Match: *` for create-only, as on upload).
pub(super) async fn link_physical_address(call: Call) -> Answer {
    let (engine, repo, branch) = (
        call.engine.clone(),
        call.param("repo"),
        call.param("branch"),
    );
    let path = call.query.require("path")?.to_string();
    let mut options = upload_options(call.req.headers())?;
    let body: StagingMetadata = read_json(call.req).await?;
    let physical_address = body.staging.physical_address.ok_or_else(|| {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            "staging.physical_address is required",
        )
    })?;
    options
        .metadata
        .extend(body.user_metadata.unwrap_or_default());
    options.content_type = body.content_type;
    let link = sluice_meta::LinkRequest {
        physical_address,
        size: body.size_bytes,
        checksum: body.checksum,
        options,
    };
    let entry = engine
        .link_physical_address(&repo, &branch, &path, link)
        .await?;
    reply(StatusCode::OK, ObjectStats::object(&path, &entry))
}

/// lakeFS's `updateObjectUserMetadata`: replace an object's user metadata on a branch.
pub(super) async fn update_user_metadata(call: Call) -> Answer {
    let (engine, repo, branch) = (
        call.engine.clone(),
        call.param("repo"),
        call.param("branch"),
    );
    let path = call.query.require("path")?.to_string();
    let body: UpdateObjectUserMetadata = read_json(call.req).await?;
    engine
        .update_object_metadata(&repo, &branch, &path, body.set)
        .await?;
    Ok(Reply::Empty(StatusCode::CREATED))
}

pub(super) async fn list(call: Call) -> Answer {
    let amount = call.query.amount()?;
    let options = ListOptions {
        prefix: call.query.get("prefix").unwrap_or("").to_string(),
        delimiter: call.query.get("delimiter").map(str::to_string),
        after: call.query.get("after").map(str::to_string),
        limit: amount,
    };
    let page = call
        .engine
        .list_objects(&call.param("repo"), &call.param("ref"), &options)
        .await?;
    let next = page.items.last().map(|i| i.key().to_string());
    let results = page
        .items
        .iter()
        .map(|i| match i {
            ListItem::Object(p, e) => ObjectStats::object(p, e),
            ListItem::Prefix(p) => ObjectStats::prefix(p),
        })
        .collect();
    reply(
        StatusCode::OK,
        List::new(results, page.has_more, next.as_deref(), amount),
    )
}

/// What lakeFS's upload takes from headers: `If-None-Match: *` (create only; 412 when the
/// path holds an object) and user metadata as `x-lakefs-meta-*`.
fn upload_options(headers: &http::HeaderMap) -> Result<PutOptions, ApiError> {
    let condition = match headers
        .get(http::header::IF_NONE_MATCH)
        .map(|v| v.to_str().unwrap_or(""))
    {
        None => WriteCondition::Always,
        Some("*") => WriteCondition::IfAbsent,
        Some(other) => {
            return Err(ApiError::new(
                StatusCode::BAD_REQUEST,
                format!("If-None-Match supports only '*', not {other:?}"),
            ));
        }
    };
    let metadata = headers
        .iter()
        .filter_map(|(name, value)| {
            let key = name.as_str().strip_prefix("x-lakefs-meta-")?;
            Some((key.to_string(), value.to_str().ok()?.to_string()))
        })
        .collect();
    Ok(PutOptions {
        metadata,
        condition,
        ..PutOptions::default()
    })
}

pub(super) async fn upload(call: Call) -> Answer {
    let (engine, repo, branch) = (
        call.engine.clone(),
        call.param("repo"),
        call.param("branch"),
    );
    let path = call.query.require("path")?.to_string();
    let options = upload_options(call.req.headers())?;
    let stream = upload_stream(call.req)?;
    let entry = engine
        .put_object(&repo, &branch, &path, stream, options)
        .await?;
    reply(StatusCode::CREATED, ObjectStats::object(&path, &entry))
}

pub(super) async fn delete(call: Call) -> Answer {
    let path = call.query.require("path")?;
    if !call
        .engine
        .delete_object(&call.param("repo"), &call.param("branch"), path)
        .await?
    {
        return Err(ApiError::new(
            StatusCode::NOT_FOUND,
            format!("object {path:?} not found"),
        ));
    }
    Ok(Reply::Empty(StatusCode::NO_CONTENT))
}

pub(super) async fn delete_many(call: Call) -> Answer {
    let (engine, repo, branch) = (
        call.engine.clone(),
        call.param("repo"),
        call.param("branch"),
    );
    let body: PathList = read_json(call.req).await?;
    if body.paths.len() > 1000 {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            "at most 1,000 paths per call",
        ));
    }
    let needs: Vec<Need> = body
        .paths
        .iter()
        .map(|p| Need::new("fs:DeleteObject", arn::object(&repo, p)).on_branch(&branch))
        .collect();
    call.gate.require(&needs).await?;
    let changes = body.paths.iter().map(|p| (p.clone(), None)).collect();
    engine.stage_entries(&repo, &branch, changes).await?;
    reply(StatusCode::OK, ObjectErrorList { errors: Vec::new() })
}

pub(super) async fn copy(call: Call) -> Answer {
    let (engine, repo, branch) = (
        call.engine.clone(),
        call.param("repo"),
        call.param("branch"),
    );
    let dest = call.query.require("dest_path")?.to_string();
    let body: ObjectCopyCreation = read_json(call.req).await?;
    let src_ref = body.src_ref.unwrap_or_else(|| branch.clone());
    let needs = [
        Need::new("fs:ReadObject", arn::object(&repo, &body.src_path)).on_branch(&src_ref),
        Need::new("fs:WriteObject", arn::object(&repo, &dest)).on_branch(&branch),
    ];
    call.gate.require(&needs).await?;
    let entry = engine
        .copy_object(&repo, &src_ref, &body.src_path, &branch, &dest, None)
        .await?;
    reply(StatusCode::CREATED, ObjectStats::object(&dest, &entry))
}

#[cfg(test)]
mod tests {
    use super::parse_range;
    use proptest::prelude::*;

    #[test]
    fn http_dates() {
        assert_eq!(super::httpdate(0), "Thu, 01 Jan 1970 00:00:00 GMT");
        assert_eq!(
            super::httpdate(1_700_000_000_123),
            "Tue, 14 Nov 2023 22:13:20 GMT"
        );
    }

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
