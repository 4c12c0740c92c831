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
use crate::sync_stream::SyncStream;

/// The ETags a conditional header lists (`*` as `["*"]`), quotes and `W/` removed.
fn etags(headers: &HeaderMap, name: &str) -> Option<Vec<String>> {
    let raw = headers.get(name)?.to_str().ok()?;
    Some(
        raw.split(',')
            .map(|t| {
                t.trim()
                    .trim_start_matches("W/")
                    .trim_matches('"')
                    .to_string()
            })
            .filter(|t| !t.is_empty())
            .collect(),
    )
}

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

fn metadata_map(m: Option<HashMap<String, String>>) -> BTreeMap<String, String> {
    m.unwrap_or_default().into_iter().collect()
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
            e.set_status_code(http::StatusCode::RANGE_NOT_SATISFIABLE);
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
        Some(r) => Ok(Some(r.check(entry.size)?)),
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
        check_conditions(
            &entry,
            etags(&req.headers, "if-match"),
            etags(&req.headers, "if-none-match"),
            input.if_modified_since.as_ref(),
            input.if_unmodified_since.as_ref(),
            true,
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
            metadata: Some(entry.metadata.clone().into_iter().collect()),
            parts_count: parts_count(&entry, input.part_number),
            checksum_crc32: s.crc32,
            checksum_crc32c: s.crc32c,
            checksum_crc64nvme: s.crc64nvme,
            checksum_sha1: s.sha1,
            checksum_sha256: s.sha256,
            ..Default::default()
        };
        // s3s applies response-* overrides to GET only; HEAD gets them here.
        if let Some(v) = &input.response_content_type {
            out.content_type = Some(v.clone());
        }
        out.cache_control = input.response_cache_control.clone();
        out.content_disposition = input.response_content_disposition.clone();
        out.content_encoding = input.response_content_encoding.clone();
        out.content_language = input.response_content_language.clone();
        out.expires = input.response_expires.clone();
        Ok(S3Response::new(out))
    }

    pub(super) async fn op_get_object(
        &self,
        req: S3Request<GetObjectInput>,
    ) -> S3Result<S3Response<GetObjectOutput>> {
        let input = &req.input;
        let entry = self.entry(&input.bucket, &input.key).await?;
        check_conditions(
            &entry,
            etags(&req.headers, "if-match"),
            etags(&req.headers, "if-none-match"),
            input.if_modified_since.as_ref(),
            input.if_unmodified_since.as_ref(),
            true,
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
            metadata: Some(entry.metadata.clone().into_iter().collect()),
            parts_count: parts_count(&entry, input.part_number),
            checksum_crc32: s.crc32,
            checksum_crc32c: s.crc32c,
            checksum_crc64nvme: s.crc64nvme,
            checksum_sha1: s.sha1,
            checksum_sha256: s.sha256,
            ..Default::default()
        }))
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
            metadata: metadata_map(input.metadata),
            condition,
            checksums: checksums.clone(),
        };
        let entry = self
            .engine
            .stage_written(&input.bucket, reference, path, written, options)
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
        let src = split_key(&src_key);
        let options = replace.then(|| PutOptions {
            content_type: input.content_type.clone(),
            metadata: metadata_map(input.metadata.clone()),
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
