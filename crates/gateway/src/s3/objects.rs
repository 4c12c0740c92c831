//! Objects: HEAD, GET (ranges, conditions, overrides), PUT (streamed and checked), copy
//! (metadata only, also across branches) and deletes.

use std::collections::{BTreeMap, HashMap};

use http::HeaderMap;
use s3s::dto::*;
use s3s::{S3Error, S3ErrorCode, S3Request, S3Response, S3Result, s3_error};
use sluice_meta::{Entry, PutOptions, WriteCondition};

use super::address::split_key;
use super::body;
use super::errors::{Resource, on, s3_error as to_s3};
use super::{SluiceS3, etag, timestamp};
use crate::request::etags;
use crate::sync_stream::SyncStream;

fn seconds(ts: &Timestamp) -> i64 {
    let t: time::OffsetDateTime = ts.clone().into();
    t.unix_timestamp()
}

/// The answer to a conditional read that must not return the object.
fn not_modified(entry: &Entry) -> S3Error {
    let mut e = S3Error::new(S3ErrorCode::NotModified);
    let mut h = HeaderMap::new();
    if let Ok(v) = format!("\"{}\"", entry.etag).parse() {
        h.insert(http::header::ETAG, v);
    }
    e.set_headers(h);
    e
}

/// RFC 7232 as S3 applies it: If-Match (else If-Unmodified-Since) may fail with 412;
/// If-None-Match (else If-Modified-Since) may answer 304 (`read`) or 412 (copy sources).
pub(crate) fn check_conditions(
    entry: &Entry,
    if_match: Option<Vec<String>>,
    if_none_match: Option<Vec<String>>,
    if_modified_since: Option<&Timestamp>,
    if_unmodified_since: Option<&Timestamp>,
    read: bool,
) -> S3Result<()> {
    let modified = entry.last_modified_ms.div_euclid(1000);
    let precondition = || {
        s3_error!(
            PreconditionFailed,
            "At least one of the pre-conditions you specified did not hold"
        )
    };
    match &if_match {
        Some(list) => {
            if !list.iter().any(|t| t == "*" || *t == entry.etag) {
                return Err(precondition());
            }
        }
        None => {
            if let Some(t) = if_unmodified_since
                && modified > seconds(t)
            {
                return Err(precondition());
            }
        }
    }
    let unchanged = match &if_none_match {
        Some(list) => list.iter().any(|t| t == "*" || *t == entry.etag),
        None => if_modified_since.is_some_and(|t| modified <= seconds(t)),
    };
    if unchanged {
        return Err(if read {
            not_modified(entry)
        } else {
            precondition()
        });
    }
    Ok(())
}

/// The conditions of a read (GET, HEAD, GetObjectAttributes): the If-* headers as S3
/// applies them, answering 304 where the object is unchanged.
fn check_read(
    entry: &Entry,
    headers: &HeaderMap,
    if_modified_since: Option<&Timestamp>,
    if_unmodified_since: Option<&Timestamp>,
) -> S3Result<()> {
    check_conditions(
        entry,
        etags(headers, "if-match"),
        etags(headers, "if-none-match"),
        if_modified_since,
        if_unmodified_since,
        true,
    )
}

fn metadata_map(m: Option<HashMap<String, String>>) -> BTreeMap<String, String> {
    m.unwrap_or_default().into_iter().collect()
}

/// Headers S3 stores with an object and returns on GET and HEAD. They live in the entry's
/// metadata map under [`SYSTEM_PREFIX`], which no `x-amz-meta-*` header can produce (a ':'
/// cannot be part of a header name), so the stored encoding of entries stays as it is.
const SYSTEM_HEADERS: [&str; 5] = [
    "cache-control",
    "content-disposition",
    "content-encoding",
    "content-language",
    "expires",
];

/// The prefix of the metadata keys that hold [`SYSTEM_HEADERS`].
const SYSTEM_PREFIX: &str = "sluice:";

/// User metadata from `m` and the system headers of `headers`, as stored in an entry.
/// `aws-chunked` is how the body was sent, not how the object is encoded: it is dropped
/// from Content-Encoding.
pub(crate) fn stored_metadata(
    m: Option<HashMap<String, String>>,
    headers: &HeaderMap,
) -> BTreeMap<String, String> {
    let mut out = metadata_map(m);
    out.retain(|k, _| !k.starts_with(SYSTEM_PREFIX));
    for name in SYSTEM_HEADERS {
        let Some(value) = headers.get(name).and_then(|v| v.to_str().ok()) else {
            continue;
        };
        let value = if name == "content-encoding" {
            value
                .split(',')
                .map(str::trim)
                .filter(|e| !e.is_empty() && !e.eq_ignore_ascii_case("aws-chunked"))
                .collect::<Vec<_>>()
                .join(",")
        } else {
            value.to_string()
        };
        if !value.is_empty() {
            out.insert(format!("{SYSTEM_PREFIX}{name}"), value);
        }
    }
    out
}

/// The user metadata to return: the entry's, without the system headers.
fn user_metadata(entry: &Entry) -> HashMap<String, String> {
    entry
        .metadata
        .iter()
        .filter(|(k, _)| !k.starts_with(SYSTEM_PREFIX))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect()
}

/// A stored system header.
fn system(entry: &Entry, name: &str) -> Option<String> {
    entry
        .metadata
        .get(&format!("{SYSTEM_PREFIX}{name}"))
        .cloned()
}

/// The stored Expires, as the date it was given.
fn expires(entry: &Entry) -> Option<Timestamp> {
    system(entry, "expires").and_then(|v| Timestamp::parse(TimestampFormat::HttpDate, &v).ok())
}

fn content_type(entry: &Entry) -> String {
    entry
        .content_type
        .clone()
        .unwrap_or_else(|| "application/octet-stream".to_string())
}

/// Checksums to return: all stored ones when the client asked (`x-amz-checksum-mode`).
struct Sums {
    crc32: Option<String>,
    crc32c: Option<String>,
    crc64nvme: Option<String>,
    sha1: Option<String>,
    sha256: Option<String>,
}

fn sums(map: &BTreeMap<String, String>, wanted: bool) -> Sums {
    let get = |k: &str| wanted.then(|| map.get(k).cloned()).flatten();
    Sums {
        crc32: get("crc32"),
        crc32c: get("crc32c"),
        crc64nvme: get("crc64nvme"),
        sha1: get("sha1"),
        sha256: get("sha256"),
    }
}

fn checksum_mode(m: &Option<ChecksumMode>) -> bool {
    m.as_ref()
        .is_some_and(|m| m.as_str().eq_ignore_ascii_case(ChecksumMode::ENABLED))
}

/// Which bytes a GET or HEAD returns: a range, or one part of an object completed from a
/// multipart upload (part 1 of an object written whole is all of it).
fn byte_range(
    entry: &Entry,
    range: &Option<Range>,
    part_number: Option<i32>,
) -> S3Result<Option<std::ops::Range<u64>>> {
    if let Some(n) = part_number {
        if range.is_some() {
            return Err(s3_error!(
                InvalidRequest,
                "Cannot specify both Range header and partNumber query parameter"
            ));
        }
        let spans = entry.spans();
        let Some((_, start, end)) = usize::try_from(n)
            .ok()
            .and_then(|n| n.checked_sub(1))
            .and_then(|i| spans.get(i))
        else {
            let mut e = S3Error::with_message(
                "InvalidPartNumber"
                    .parse::<S3ErrorCode>()
                    .expect("infallible"),
                format!("The requested partnumber {n} is not satisfiable"),
            );
            e.set_status_code(http::StatusCode::BAD_REQUEST);
            return Err(e);
        };
        return Ok(if entry.parts.is_empty() {
            None
        } else {
            Some(*start..*end)
        });
    }
    match range {
        None => Ok(None),
        Some(r) => {
            let checked = r.check(entry.size)?;
            // A suffix range of an empty object checks as 0..0: nothing is satisfiable.
            if checked.is_empty() {
                return Err(s3_error!(
                    InvalidRange,
                    "The requested range is not satisfiable"
                ));
            }
            Ok(Some(checked))
        }
    }
}

/// The length a GET or HEAD answers with, and its Content-Range when it is partial.
fn span(entry: &Entry, range: &Option<std::ops::Range<u64>>) -> (u64, Option<String>) {
    match range {
        Some(r) => (
            r.end - r.start,
            Some(format!(
                "bytes {}-{}/{}",
                r.start,
                r.end.saturating_sub(1),
                entry.size
            )),
        ),
        None => (entry.size, None),
    }
}

/// The parts count S3 reports when a part was asked for.
fn parts_count(entry: &Entry, part_number: Option<i32>) -> Option<i32> {
    part_number.map(|_| entry.parts.len().max(1) as i32)
}

impl SluiceS3 {
    pub(super) async fn op_head_object(
        &self,
        req: S3Request<HeadObjectInput>,
    ) -> S3Result<S3Response<HeadObjectOutput>> {
        let input = &req.input;
        let entry = self.entry(&input.bucket, &input.key).await?;
        check_read(
            &entry,
            &req.headers,
            input.if_modified_since.as_ref(),
            input.if_unmodified_since.as_ref(),
        )?;
        let range = byte_range(&entry, &input.range, input.part_number)?;
        let s = sums(&entry.checksums, checksum_mode(&input.checksum_mode));
        let (len, content_range) = span(&entry, &range);
        let mut out = HeadObjectOutput {
            accept_ranges: Some("bytes".into()),
            content_length: Some(len as i64),
            content_range,
            content_type: Some(content_type(&entry)),
            e_tag: Some(etag(&entry.etag)),
            last_modified: Some(timestamp(entry.last_modified_ms)),
            metadata: Some(user_metadata(&entry)),
            parts_count: parts_count(&entry, input.part_number),
            checksum_crc32: s.crc32,
            checksum_crc32c: s.crc32c,
            checksum_crc64nvme: s.crc64nvme,
            checksum_sha1: s.sha1,
            checksum_sha256: s.sha256,
            cache_control: system(&entry, "cache-control"),
            content_disposition: system(&entry, "content-disposition"),
            content_encoding: system(&entry, "content-encoding"),
            content_language: system(&entry, "content-language"),
            expires: expires(&entry),
            ..Default::default()
        };
        // s3s applies response-* overrides to GET only; HEAD gets them here.
        if let Some(v) = &input.response_content_type {
            out.content_type = Some(v.clone());
        }
        if let Some(v) = &input.response_cache_control {
            out.cache_control = Some(v.clone());
        }
        if let Some(v) = &input.response_content_disposition {
            out.content_disposition = Some(v.clone());
        }
        if let Some(v) = &input.response_content_encoding {
            out.content_encoding = Some(v.clone());
        }
        if let Some(v) = &input.response_content_language {
            out.content_language = Some(v.clone());
        }
        if let Some(v) = &input.response_expires {
            out.expires = Some(v.clone());
        }
        Ok(S3Response::new(out))
    }

    pub(super) async fn op_get_object(
        &self,
        req: S3Request<GetObjectInput>,
    ) -> S3Result<S3Response<GetObjectOutput>> {
        let input = &req.input;
        let entry = self.entry(&input.bucket, &input.key).await?;
        check_read(
            &entry,
            &req.headers,
            input.if_modified_since.as_ref(),
            input.if_unmodified_since.as_ref(),
        )?;
        let range = byte_range(&entry, &input.range, input.part_number)?;
        let (len, content_range) = span(&entry, &range);
        let body = if len == 0 {
            // An empty object or range needs no storage read.
            StreamingBlob::wrap(futures::stream::empty::<Result<bytes::Bytes, std::io::Error>>())
        } else {
            let stream = self
                .engine
                .read_object(&input.bucket, &entry, range.clone())
                .await
                .map_err(on(Resource::Object))?;
            StreamingBlob::wrap(SyncStream::new(stream))
        };
        let s = sums(
            &entry.checksums,
            checksum_mode(&input.checksum_mode) && range.is_none(),
        );
        Ok(S3Response::new(GetObjectOutput {
            body: Some(body),
            accept_ranges: Some("bytes".into()),
            content_length: Some(len as i64),
            content_range,
            content_type: Some(content_type(&entry)),
            e_tag: Some(etag(&entry.etag)),
            last_modified: Some(timestamp(entry.last_modified_ms)),
            metadata: Some(user_metadata(&entry)),
            parts_count: parts_count(&entry, input.part_number),
            checksum_crc32: s.crc32,
            checksum_crc32c: s.crc32c,
            checksum_crc64nvme: s.crc64nvme,
            checksum_sha1: s.sha1,
            checksum_sha256: s.sha256,
            cache_control: system(&entry, "cache-control"),
            content_disposition: system(&entry, "content-disposition"),
            content_encoding: system(&entry, "content-encoding"),
            content_language: system(&entry, "content-language"),
            expires: expires(&entry),
            ..Default::default()
        }))
    }

    /// GetObjectAttributes: what newer SDKs ask before a download (ETag, size, checksums,
    /// parts), without the body.
    pub(super) async fn op_get_object_attributes(
        &self,
        req: S3Request<GetObjectAttributesInput>,
    ) -> S3Result<S3Response<GetObjectAttributesOutput>> {
        let input = &req.input;
        let entry = self.entry(&input.bucket, &input.key).await?;
        check_read(&entry, &req.headers, None, None)?;
        // s3s keeps `x-amz-object-attributes: ETag,ObjectSize` as one item: split it.
        let wanted = |name: &str| {
            input
                .object_attributes
                .iter()
                .flat_map(|a| a.as_str().split(','))
                .any(|a| a.trim().eq_ignore_ascii_case(name))
        };
        let mut out = GetObjectAttributesOutput {
            last_modified: Some(timestamp(entry.last_modified_ms)),
            ..Default::default()
        };
        if wanted(ObjectAttributes::ETAG) {
            out.e_tag = Some(etag(&entry.etag));
        }
        if wanted(ObjectAttributes::OBJECT_SIZE) {
            out.object_size = Some(entry.size as i64);
        }
        if wanted(ObjectAttributes::STORAGE_CLASS) {
            out.storage_class = Some(StorageClass::from_static(StorageClass::STANDARD));
        }
        if wanted(ObjectAttributes::CHECKSUM) && !entry.checksums.is_empty() {
            let s = sums(&entry.checksums, true);
            out.checksum = Some(Checksum {
                checksum_crc32: s.crc32,
                checksum_crc32c: s.crc32c,
                checksum_crc64nvme: s.crc64nvme,
                checksum_sha1: s.sha1,
                checksum_sha256: s.sha256,
                checksum_type: Some(ChecksumType::from_static(ChecksumType::FULL_OBJECT)),
            });
        }
        if wanted(ObjectAttributes::OBJECT_PARTS) && !entry.parts.is_empty() {
            let max = input.max_parts.unwrap_or(1000).clamp(0, 1000) as usize;
            let marker = input.part_number_marker.unwrap_or(0).max(0) as usize;
            let parts: Vec<ObjectPart> = entry
                .parts
                .iter()
                .enumerate()
                .skip(marker)
                .take(max)
                .map(|(i, p)| ObjectPart {
                    part_number: Some(i as i32 + 1),
                    size: Some(p.size as i64),
                    ..Default::default()
                })
                .collect();
            let truncated = marker + parts.len() < entry.parts.len();
            out.object_parts = Some(GetObjectAttributesParts {
                is_truncated: Some(truncated),
                max_parts: Some(max as i32),
                next_part_number_marker: parts.last().and_then(|p| p.part_number),
                part_number_marker: Some(marker as i32),
                parts: Some(parts),
                total_parts_count: Some(entry.parts.len() as i32),
            });
        }
        Ok(S3Response::new(out))
    }

    pub(super) async fn op_put_object(
        &self,
        req: S3Request<PutObjectInput>,
    ) -> S3Result<S3Response<PutObjectOutput>> {
        let S3Request {
            input,
            headers,
            trailing_headers,
            ..
        } = req;
        let (reference, path) = self.writable_ref(&input.bucket, &input.key).await?;
        if path.is_empty() {
            // A folder marker for the branch itself (pyarrow and Hadoop make them for every
            // parent): the branch is a folder already, so there is nothing to store.
            if input.content_length.unwrap_or(0) != 0 {
                return Err(s3_error!(
                    InvalidArgument,
                    "{:?} is a branch; objects need a path below it",
                    input.key
                ));
            }
            return Ok(S3Response::new(PutObjectOutput {
                e_tag: Some(etag("d41d8cd98f00b204e9800998ecf8427e")),
                size: Some(0),
                ..Default::default()
            }));
        }
        let condition = match (
            etags(&headers, "if-none-match"),
            etags(&headers, "if-match"),
        ) {
            (Some(list), _) if list.iter().any(|t| t == "*") => WriteCondition::IfAbsent,
            (Some(_), _) => {
                return Err(s3_error!(
                    NotImplemented,
                    "If-None-Match on PUT supports only '*'"
                ));
            }
            (None, Some(list)) => match list.as_slice() {
                [one] => WriteCondition::IfETag(one.clone()),
                _ => return Err(s3_error!(InvalidArgument, "If-Match takes one ETag")),
            },
            (None, None) => WriteCondition::Always,
        };
        // Refuse before any byte moves: a write to a missing or protected branch, or one
        // whose condition fails now, would otherwise store its bytes first.
        let checked = self
            .engine
            .check_writable(&input.bucket, reference, path, &condition)
            .await
            .map_err(on(Resource::Object))?;
        let expect = body::expectations(
            &headers,
            input.content_md5.as_deref(),
            input.content_length,
            trailing_headers,
        )?;
        let store = self
            .engine
            .namespace_store(&input.bucket)
            .await
            .map_err(on(Resource::Bucket))?;
        let stored = body::consume_checked(
            input.body,
            expect,
            |stream| async move { store.write_or_inline(stream).await },
            |e| to_s3(e, Resource::Object),
        )
        .await?;
        let (written, checksums) = (stored.value, stored.checksums);
        let options = PutOptions {
            content_type: input.content_type.clone(),
            metadata: stored_metadata(input.metadata, &headers),
            condition,
            checksums: checksums.clone(),
        };
        let entry = self
            .engine
            .stage_written(
                &input.bucket,
                reference,
                path,
                written,
                options,
                Some(checked),
            )
            .await
            .map_err(on(Resource::Object))?;
        let s = sums(&checksums, true);
        Ok(S3Response::new(PutObjectOutput {
            e_tag: Some(etag(&entry.etag)),
            size: Some(entry.size as i64),
            checksum_crc32: s.crc32,
            checksum_crc32c: s.crc32c,
            checksum_crc64nvme: s.crc64nvme,
            checksum_sha1: s.sha1,
            checksum_sha256: s.sha256,
            ..Default::default()
        }))
    }

    pub(super) async fn op_copy_object(
        &self,
        req: S3Request<CopyObjectInput>,
    ) -> S3Result<S3Response<CopyObjectOutput>> {
        let input = req.input;
        let src_key = Self::copy_source_key(&input.copy_source, &input.bucket, "CopyObject")?;
        let source = self.entry(&input.bucket, &src_key).await?;
        check_conditions(
            &source,
            etags(&req.headers, "x-amz-copy-source-if-match"),
            etags(&req.headers, "x-amz-copy-source-if-none-match"),
            input.copy_source_if_modified_since.as_ref(),
            input.copy_source_if_unmodified_since.as_ref(),
            false,
        )?;
        let (reference, path) = self.writable(&input.bucket, &input.key).await?;
        let replace = input
            .metadata_directive
            .as_ref()
            .is_some_and(|d| d.as_str() == MetadataDirective::REPLACE);
        if src_key == input.key
            && !replace
            && input.storage_class.is_none()
            && input.website_redirect_location.is_none()
            && input.server_side_encryption.is_none()
        {
            return Err(s3_error!(
                InvalidRequest,
                "This copy request is illegal because it is trying to copy an object to itself without changing the object's metadata, storage class, website redirect location or encryption attributes."
            ));
        }
        let src = split_key(&src_key);
        let options = replace.then(|| PutOptions {
            content_type: input.content_type.clone(),
            metadata: stored_metadata(input.metadata.clone(), &req.headers),
            ..Default::default()
        });
        let entry = self
            .engine
            .copy_object(
                &input.bucket,
                src.reference,
                src.path,
                reference,
                path,
                options,
            )
            .await
            .map_err(on(Resource::Object))?;
        Ok(S3Response::new(CopyObjectOutput {
            copy_object_result: Some(CopyObjectResult {
                e_tag: Some(etag(&entry.etag)),
                last_modified: Some(timestamp(entry.last_modified_ms)),
                ..Default::default()
            }),
            ..Default::default()
        }))
    }

    pub(super) async fn op_delete_object(
        &self,
        req: S3Request<DeleteObjectInput>,
    ) -> S3Result<S3Response<DeleteObjectOutput>> {
        let input = &req.input;
        let (reference, path) = self.writable_ref(&input.bucket, &input.key).await?;
        if path.is_empty() {
            // Removing the branch's folder marker: there is none to remove.
            return Ok(S3Response::new(DeleteObjectOutput::default()));
        }
        if let Some(list) = etags(&req.headers, "if-match") {
            let current = self.entry(&input.bucket, &input.key).await?;
            check_conditions(&current, Some(list), None, None, None, false)?;
        }
        self.engine
            .delete_object(&input.bucket, reference, path)
            .await
            .map_err(on(Resource::Object))?;
        Ok(S3Response::new(DeleteObjectOutput::default()))
    }

    pub(super) async fn op_delete_objects(
        &self,
        req: S3Request<DeleteObjectsInput>,
    ) -> S3Result<S3Response<DeleteObjectsOutput>> {
        // S3 requires Content-MD5 or a checksum on this call; the body was checked against
        // it before s3s parsed it (see `front`).
        if let Some(e) = req
            .extensions
            .get::<super::front::DeleteDigest>()
            .and_then(|d| d.error())
        {
            return Err(e);
        }
        let input = req.input;
        self.repository(&input.bucket).await?;
        if input.delete.objects.len() > 1000 {
            return Err(s3_error!(
                MalformedXML,
                "a multi-object delete names at most 1,000 keys"
            ));
        }
        let quiet = input.delete.quiet.unwrap_or(false);
        // One atomic staging write per branch named.
        let mut per_branch: BTreeMap<String, Vec<String>> = BTreeMap::new();
        let mut errors = Vec::new();
        let mut deleted = Vec::new();
        for obj in &input.delete.objects {
            match self.writable_ref(&input.bucket, &obj.key).await {
                // The branch's own folder marker: nothing to delete (Hadoop removes "fake
                // directories" up to the bucket after every rename).
                Ok((_, "")) => deleted.push(DeletedObject {
                    key: Some(obj.key.clone()),
                    ..Default::default()
                }),
                Ok((reference, _)) => per_branch
                    .entry(reference.to_string())
                    .or_default()
                    .push(obj.key.clone()),
                Err(e) => errors.push(Error {
                    code: Some(e.code().as_str().to_string()),
                    key: Some(obj.key.clone()),
                    message: e.message().map(str::to_string),
                    version_id: None,
                }),
            }
        }
        for (branch, keys) in per_branch {
            let changes = keys
                .iter()
                .map(|k| (split_key(k).path.to_string(), None))
                .collect();
            match self
                .engine
                .stage_entries(&input.bucket, &branch, changes)
                .await
            {
                Ok(()) => deleted.extend(keys.into_iter().map(|k| DeletedObject {
                    key: Some(k),
                    ..Default::default()
                })),
                Err(e) => {
                    let e = to_s3(e, Resource::Object);
                    errors.extend(keys.into_iter().map(|k| Error {
                        code: Some(e.code().as_str().to_string()),
                        key: Some(k),
                        message: e.message().map(str::to_string),
                        version_id: None,
                    }));
                }
            }
        }
        Ok(S3Response::new(DeleteObjectsOutput {
            deleted: (!quiet).then_some(deleted),
            errors: Some(errors),
            ..Default::default()
        }))
    }
}
