//! Multipart uploads: state in the engine (so uploads survive a restart), S3's rules for
//! part order, ETags and minimum sizes checked here so that each failure has S3's code.

use std::collections::BTreeMap;

use s3s::dto::*;
use s3s::{S3Request, S3Response, S3Result, s3_error};
use sluice_meta::{PutOptions, S3_MIN_PART_SIZE, Upload};

use super::address::split_key;
use super::body;
use super::errors::{Resource, on, s3_error as to_s3};
use super::{SluiceS3, etag, owner, timestamp};

fn part_number(n: i32) -> S3Result<u32> {
    u32::try_from(n)
        .ok()
        .filter(|n| (1..=sluice_meta::multipart::MAX_PART_NUMBER).contains(n))
        .ok_or_else(|| {
            s3_error!(
                InvalidArgument,
                "Part number must be an integer between 1 and 10000, inclusive"
            )
        })
}

/// An `x-amz-copy-source-range`: S3 takes only `bytes=first-last`, wholly inside the
/// source (no suffix or open ranges, no clamping as GET does).
fn copy_range(value: &str, size: u64) -> S3Result<std::ops::Range<u64>> {
    let (first, last) = value
        .trim()
        .strip_prefix("bytes=")
        .and_then(|r| r.split_once('-'))
        .and_then(|(a, b)| Some((a.trim().parse::<u64>().ok()?, b.trim().parse::<u64>().ok()?)))
        .filter(|(a, b)| a <= b)
        .ok_or_else(|| {
            s3_error!(
                InvalidArgument,
                "The x-amz-copy-source-range value must be of the form bytes=first-last where first and last are the zero-based offsets of the first and last bytes to copy"
            )
        })?;
    if last >= size {
        return Err(s3_error!(
            InvalidRange,
            "The x-amz-copy-source-range {value:?} is outside the source object of {size} bytes"
        ));
    }
    Ok(first..last + 1)
}

fn upload_key(u: &Upload) -> String {
    format!("{}/{}", u.branch, u.path)
}

impl SluiceS3 {
    /// The upload, checked to belong to `key`.
    async fn upload_for(&self, bucket: &str, key: &str, id: &str) -> S3Result<Upload> {
        self.repository(bucket).await?;
        let upload = self
            .engine
            .upload(bucket, id)
            .await
            .map_err(on(Resource::Upload))?;
        if upload_key(&upload) != key {
            return Err(s3_error!(
                NoSuchUpload,
                "The specified upload does not exist for this key."
            ));
        }
        Ok(upload)
    }

    pub(super) async fn op_create_multipart_upload(
        &self,
        req: S3Request<CreateMultipartUploadInput>,
    ) -> S3Result<S3Response<CreateMultipartUploadOutput>> {
        let input = req.input;
        let (reference, path) = self.writable(&input.bucket, &input.key).await?;
        let upload = self
            .engine
            .create_upload(
                &input.bucket,
                reference,
                path,
                PutOptions {
                    content_type: input.content_type.clone(),
                    metadata: super::objects::stored_metadata(input.metadata.clone(), &req.headers),
                    ..Default::default()
                },
            )
            .await
            .map_err(on(Resource::Object))?;
        Ok(S3Response::new(CreateMultipartUploadOutput {
            bucket: Some(input.bucket),
            key: Some(input.key),
            upload_id: Some(upload.id),
            checksum_algorithm: input.checksum_algorithm,
            ..Default::default()
        }))
    }

    pub(super) async fn op_upload_part(
        &self,
        req: S3Request<UploadPartInput>,
    ) -> S3Result<S3Response<UploadPartOutput>> {
        let S3Request {
            input,
            headers,
            trailing_headers,
            ..
        } = req;
        let number = part_number(input.part_number)?;
        let upload = self
            .upload_for(&input.bucket, &input.key, &input.upload_id)
            .await?;
        // A part for a branch that was protected or deleted since the upload began could
        // never be completed: refuse it before its bytes move.
        self.engine
            .check_writable(
                &input.bucket,
                &upload.branch,
                &upload.path,
                &sluice_meta::WriteCondition::Always,
            )
            .await
            .map_err(on(Resource::Object))?;
        let expect = body::expectations(
            &headers,
            input.content_md5.as_deref(),
            input.content_length,
            trailing_headers,
        )?;
        let engine = self.engine.clone();
        let (bucket, upload_id) = (input.bucket.clone(), input.upload_id.clone());
        let stored = body::consume_checked(
            input.body,
            expect,
            // The checksums are known only at the end of the body; they go in the answer.
            |stream| async move {
                engine
                    .upload_part(&bucket, &upload_id, number, stream, BTreeMap::new())
                    .await
            },
            |e| to_s3(e, Resource::Upload),
        )
        .await?;
        let (part, checksums) = (stored.value, stored.checksums);
        Ok(S3Response::new(UploadPartOutput {
            e_tag: Some(etag(&part.etag)),
            checksum_crc32: checksums.get("crc32").cloned(),
            checksum_crc32c: checksums.get("crc32c").cloned(),
            checksum_crc64nvme: checksums.get("crc64nvme").cloned(),
            checksum_sha1: checksums.get("sha1").cloned(),
            checksum_sha256: checksums.get("sha256").cloned(),
            ..Default::default()
        }))
    }

    pub(super) async fn op_upload_part_copy(
        &self,
        req: S3Request<UploadPartCopyInput>,
    ) -> S3Result<S3Response<UploadPartCopyOutput>> {
        let input = req.input;
        let number = part_number(input.part_number)?;
        self.upload_for(&input.bucket, &input.key, &input.upload_id)
            .await?;
        let src_key = Self::copy_source_key(&input.copy_source, &input.bucket, "UploadPartCopy")?;
        let source = self.entry(&input.bucket, &src_key).await?;
        super::objects::check_conditions(
            &source,
            input
                .copy_source_if_match
                .as_ref()
                .map(|c| vec![c.as_etag().map_or("*".into(), |e| e.value().to_string())]),
            input
                .copy_source_if_none_match
                .as_ref()
                .map(|c| vec![c.as_etag().map_or("*".into(), |e| e.value().to_string())]),
            input.copy_source_if_modified_since.as_ref(),
            input.copy_source_if_unmodified_since.as_ref(),
            false,
        )?;
        let range = input
            .copy_source_range
            .as_deref()
            .map(|r| copy_range(r, source.size))
            .transpose()?;
        let part = self
            .engine
            .upload_part_copy(&input.bucket, &input.upload_id, number, &source, range)
            .await
            .map_err(on(Resource::Upload))?;
        Ok(S3Response::new(UploadPartCopyOutput {
            copy_part_result: Some(CopyPartResult {
                e_tag: Some(etag(&part.etag)),
                last_modified: Some(timestamp(part.last_modified_ms)),
                ..Default::default()
            }),
            ..Default::default()
        }))
    }

    pub(super) async fn op_complete_multipart_upload(
        &self,
        req: S3Request<CompleteMultipartUploadInput>,
    ) -> S3Result<S3Response<CompleteMultipartUploadOutput>> {
        let input = req.input;
        let pending = self
            .upload_for(&input.bucket, &input.key, &input.upload_id)
            .await;
        let listed: Vec<(u32, String)> = input
            .multipart_upload
            .and_then(|m| m.parts)
            .unwrap_or_default()
            .into_iter()
            .map(|p| {
                let n = p
                    .part_number
                    .ok_or_else(|| s3_error!(MalformedXML, "a part has no PartNumber"))?;
                let tag = p
                    .e_tag
                    .map(|e| e.value().to_string())
                    .ok_or_else(|| s3_error!(MalformedXML, "a part has no ETag"))?;
                Ok((part_number(n)?, tag))
            })
            .collect::<S3Result<_>>()?;
        if listed.is_empty() {
            return Err(s3_error!(
                MalformedXML,
                "You must specify at least one part"
            ));
        }
        if listed.windows(2).any(|w| w[0].0 >= w[1].0) {
            return Err(s3_error!(
                InvalidPartOrder,
                "The list of parts was not in ascending order. Parts must be ordered by part number."
            ));
        }
        if let Err(e) = pending {
            return self
                .repeated_completion(&input.bucket, &input.key, &input.upload_id, &listed)
                .await
                .ok_or(e);
        }
        let stored: BTreeMap<u32, sluice_meta::Part> = self
            .engine
            .list_parts(&input.bucket, &input.upload_id)
            .await
            .map_err(on(Resource::Upload))?
            .into_iter()
            .map(|p| (p.number, p))
            .collect();
        for (i, (n, tag)) in listed.iter().enumerate() {
            let part = stored
                .get(n)
                .filter(|p| p.etag == *tag)
                .ok_or_else(|| {
                    s3_error!(
                        InvalidPart,
                        "One or more of the specified parts could not be found or its entity tag did not match (part {n})"
                    )
                })?;
            if i + 1 < listed.len() && part.size < S3_MIN_PART_SIZE {
                return Err(s3_error!(
                    EntityTooSmall,
                    "Your proposed upload is smaller than the minimum allowed size (part {n} is {} bytes)",
                    part.size
                ));
            }
        }
        let entry = self
            .engine
            .complete_upload(&input.bucket, &input.upload_id, &listed)
            .await
            .map_err(on(Resource::Upload))?;
        Ok(S3Response::new(CompleteMultipartUploadOutput {
            bucket: Some(input.bucket.clone()),
            key: Some(input.key.clone()),
            location: Some(format!("/{}/{}", input.bucket, input.key)),
            e_tag: Some(etag(&entry.etag)),
            ..Default::default()
        }))
    }

    /// The answer to a Complete of an upload already completed with the same parts: the
    /// same success, as S3 gives (a client whose first answer was lost retries).
    async fn repeated_completion(
        &self,
        bucket: &str,
        key: &str,
        upload_id: &str,
        listed: &[(u32, String)],
    ) -> Option<S3Response<CompleteMultipartUploadOutput>> {
        let done = self.engine.completed_upload(bucket, upload_id).await.ok()?;
        if format!("{}/{}", done.branch, done.path) != key || done.parts != listed {
            return None;
        }
        Some(S3Response::new(CompleteMultipartUploadOutput {
            bucket: Some(bucket.to_string()),
            key: Some(key.to_string()),
            location: Some(format!("/{bucket}/{key}")),
            e_tag: Some(etag(&done.etag)),
            ..Default::default()
        }))
    }

    pub(super) async fn op_abort_multipart_upload(
        &self,
        req: S3Request<AbortMultipartUploadInput>,
    ) -> S3Result<S3Response<AbortMultipartUploadOutput>> {
        let input = req.input;
        self.upload_for(&input.bucket, &input.key, &input.upload_id)
            .await?;
        self.engine
            .abort_upload(&input.bucket, &input.upload_id)
            .await
            .map_err(on(Resource::Upload))?;
        Ok(S3Response::new(AbortMultipartUploadOutput::default()))
    }

    pub(super) async fn op_list_parts(
        &self,
        req: S3Request<ListPartsInput>,
    ) -> S3Result<S3Response<ListPartsOutput>> {
        let input = req.input;
        self.upload_for(&input.bucket, &input.key, &input.upload_id)
            .await?;
        let max = input.max_parts.unwrap_or(1000).clamp(0, 1000) as usize;
        let marker = input.part_number_marker.unwrap_or(0);
        let mut parts: Vec<sluice_meta::Part> = self
            .engine
            .list_parts(&input.bucket, &input.upload_id)
            .await
            .map_err(on(Resource::Upload))?
            .into_iter()
            .filter(|p| p.number as i32 > marker)
            .collect();
        let truncated = parts.len() > max;
        parts.truncate(max);
        let next = parts.last().map(|p| p.number as i32);
        Ok(S3Response::new(ListPartsOutput {
            bucket: Some(input.bucket.clone()),
            key: Some(input.key.clone()),
            upload_id: Some(input.upload_id.clone()),
            max_parts: Some(max as i32),
            part_number_marker: input.part_number_marker,
            next_part_number_marker: next,
            is_truncated: Some(truncated),
            owner: Some(owner()),
            initiator: Some(Initiator {
                display_name: Some("sluice".into()),
                id: Some("sluice".into()),
            }),
            parts: Some(
                parts
                    .into_iter()
                    .map(|p| Part {
                        e_tag: Some(etag(&p.etag)),
                        last_modified: Some(timestamp(p.last_modified_ms)),
                        part_number: Some(p.number as i32),
                        size: Some(p.size as i64),
                        ..Default::default()
                    })
                    .collect(),
            ),
            ..Default::default()
        }))
    }

    pub(super) async fn op_list_multipart_uploads(
        &self,
        req: S3Request<ListMultipartUploadsInput>,
    ) -> S3Result<S3Response<ListMultipartUploadsOutput>> {
        let input = req.input;
        self.repository(&input.bucket).await?;
        let prefix = input.prefix.clone().unwrap_or_default();
        let max = input.max_uploads.unwrap_or(1000).clamp(0, 1000) as usize;
        // Uploads are per branch; the prefix's ref, if any, narrows the search.
        let rp = split_key(&prefix);
        let branches: Vec<String> = if prefix.contains('/') {
            vec![rp.reference.to_string()]
        } else {
            self.engine
                .list_branches(&input.bucket, &sluice_meta::PageRequest::all())
                .await
                .map_err(on(Resource::Bucket))?
                .items
                .into_iter()
                .map(|b| b.name)
                .collect()
        };
        let all = self
            .engine
            .list_uploads(&input.bucket, "")
            .await
            .map_err(on(Resource::Bucket))?;
        let key_marker = input.key_marker.clone().unwrap_or_default();
        let id_marker = input.upload_id_marker.clone().unwrap_or_default();
        let mut uploads: Vec<(String, Upload)> = all
            .into_iter()
            .filter(|u| branches.contains(&u.branch))
            .map(|u| (upload_key(&u), u))
            .filter(|(k, _)| k.starts_with(&prefix))
            .filter(|(k, u)| {
                key_marker.is_empty()
                    || k.as_str() > key_marker.as_str()
                    || (*k == key_marker
                        && !id_marker.is_empty()
                        && u.id.as_str() > id_marker.as_str())
            })
            .collect();
        uploads
            .sort_by(|a, b| (&a.0, a.1.created_ms, &a.1.id).cmp(&(&b.0, b.1.created_ms, &b.1.id)));
        let truncated = uploads.len() > max;
        uploads.truncate(max);
        let (next_key, next_id) = match uploads.last() {
            Some((k, u)) if truncated => (Some(k.clone()), Some(u.id.clone())),
            _ => (None, None),
        };
        Ok(S3Response::new(ListMultipartUploadsOutput {
            bucket: Some(input.bucket.clone()),
            prefix: input.prefix.clone(),
            key_marker: input.key_marker.clone(),
            upload_id_marker: input.upload_id_marker.clone(),
            max_uploads: Some(max as i32),
            is_truncated: Some(truncated),
            next_key_marker: next_key,
            next_upload_id_marker: next_id,
            uploads: Some(
                uploads
                    .into_iter()
                    .map(|(k, u)| MultipartUpload {
                        key: Some(k),
                        upload_id: Some(u.id),
                        initiated: Some(timestamp(u.created_ms)),
                        owner: Some(owner()),
                        initiator: Some(Initiator {
                            display_name: Some("sluice".into()),
                            id: Some("sluice".into()),
                        }),
                        storage_class: Some(StorageClass::from_static(StorageClass::STANDARD)),
                        ..Default::default()
                    })
                    .collect(),
            ),
            ..Default::default()
        }))
    }
}
