//! The S3 API over the engine. The bucket is a repository; a key's first segment is a ref
//! (branch, tag or commit) and the rest the path on it. Reads work on any ref; writes go to
//! branches. The protocol itself (SigV4, presigned URLs, aws-chunked bodies, XML) is the
//! `s3s` crate's; this module and its children are the only code that knows it.

mod address;
mod body;
mod buckets;
mod errors;
mod front;
mod listing;
mod multipart;
mod objects;
mod permissions;

use std::sync::Arc;

use s3s::config::{S3Config, StaticConfigProvider};
use s3s::dto::*;
use s3s::service::{S3Service, S3ServiceBuilder};
use s3s::{S3, S3Request, S3Response, S3Result, s3_error};
use sluice_meta::{Engine, Entry, ErrorKind, Repository};

use crate::access::Access;
use crate::auth::KeyAuth;
use address::{Hosts, split_key};
use errors::{Resource, on};
pub(crate) use front::call;

/// Build the S3 service over `engine`.
pub fn service(engine: Engine, access: Access, domain: &str) -> S3Service {
    let mut builder = S3ServiceBuilder::new(SluiceS3 {
        engine,
        access: access.clone(),
    });
    builder.set_auth(KeyAuth(access.clone()));
    builder.set_access(permissions::S3Permissions(access));
    builder.set_host(Hosts::new(domain));
    let mut config = S3Config::default();
    // Multi-object delete and complete-multipart bodies: 1,000 keys or 10,000 parts fit.
    config.xml_max_body_size = 8 * 1024 * 1024;
    builder.set_config(Arc::new(StaticConfigProvider::new(Arc::new(config))));
    builder.build()
}

pub(crate) struct SluiceS3 {
    engine: Engine,
    access: Access,
}

/// The owner every listing names.
pub(crate) fn owner() -> Owner {
    Owner {
        display_name: Some("sluice".into()),
        id: Some("sluice".into()),
    }
}

pub(crate) fn timestamp(ms: i64) -> Timestamp {
    Timestamp::from(std::time::UNIX_EPOCH + std::time::Duration::from_millis(ms.max(0) as u64))
}

pub(crate) fn etag(value: &str) -> ETag {
    ETag::Strong(value.to_string())
}

impl SluiceS3 {
    async fn repository(&self, bucket: &str) -> S3Result<Repository> {
        self.engine
            .repository(bucket)
            .await
            .map_err(on(Resource::Bucket))
    }

    /// Check that `key` names a path on an existing branch, for a write.
    async fn writable<'k>(&self, bucket: &str, key: &'k str) -> S3Result<(&'k str, &'k str)> {
        let (reference, path) = self.writable_ref(bucket, key).await?;
        if path.is_empty() {
            return Err(s3_error!(
                InvalidArgument,
                "a key names a ref and a path: {key:?} has no path"
            ));
        }
        Ok((reference, path))
    }

    /// Like [`writable`](Self::writable), but the branch itself (`main` or `main/`, an empty
    /// path) is allowed: clients create and remove folder markers there.
    async fn writable_ref<'k>(&self, bucket: &str, key: &'k str) -> S3Result<(&'k str, &'k str)> {
        self.repository(bucket).await?;
        let rp = split_key(key);
        match self.engine.resolve_ref(bucket, rp.reference).await {
            Ok(r) if r.branch.as_deref() == Some(rp.reference) => Ok((rp.reference, rp.path)),
            Ok(_) => Err(s3_error!(
                MethodNotAllowed,
                "{} is a tag or a commit; writes go to branches",
                rp.reference
            )),
            Err(e) if e.kind() == ErrorKind::NotFound => Err(s3_error!(
                NoSuchBucket,
                "branch {:?} does not exist in repository {bucket:?}",
                rp.reference
            )),
            Err(e) => Err(errors::s3_error(e, Resource::Bucket)),
        }
    }

    /// The key a copy reads from: a copy stays inside the destination's repository, where it
    /// is a metadata copy; across repositories it would move bytes, and is refused.
    fn copy_source_key(source: &CopySource, bucket: &str, op: &str) -> S3Result<String> {
        match source {
            CopySource::Bucket { bucket: b, key, .. } if &**b == bucket => Ok(key.to_string()),
            CopySource::Bucket { .. } => Err(s3_error!(
                NotImplemented,
                "{op} works within one repository (a metadata copy); copying across repositories would move bytes"
            )),
            _ => Err(s3_error!(NotImplemented, "copy sources are buckets")),
        }
    }

    /// The entry at `key`, on any ref.
    async fn entry(&self, bucket: &str, key: &str) -> S3Result<Entry> {
        self.repository(bucket).await?;
        let rp = split_key(key);
        if rp.path.is_empty() {
            return Err(s3_error!(NoSuchKey));
        }
        self.engine
            .stat_object(bucket, rp.reference, rp.path)
            .await
            .map_err(on(Resource::Object))
    }
}

#[async_trait::async_trait]
impl S3 for SluiceS3 {
    async fn list_buckets(
        &self,
        req: S3Request<ListBucketsInput>,
    ) -> S3Result<S3Response<ListBucketsOutput>> {
        self.op_list_buckets(req).await
    }
    async fn head_bucket(
        &self,
        req: S3Request<HeadBucketInput>,
    ) -> S3Result<S3Response<HeadBucketOutput>> {
        self.op_head_bucket(req).await
    }
    async fn get_bucket_location(
        &self,
        req: S3Request<GetBucketLocationInput>,
    ) -> S3Result<S3Response<GetBucketLocationOutput>> {
        self.op_get_bucket_location(req).await
    }
    async fn create_bucket(
        &self,
        req: S3Request<CreateBucketInput>,
    ) -> S3Result<S3Response<CreateBucketOutput>> {
        self.op_create_bucket(req).await
    }
    async fn delete_bucket(
        &self,
        req: S3Request<DeleteBucketInput>,
    ) -> S3Result<S3Response<DeleteBucketOutput>> {
        self.op_delete_bucket(req).await
    }
    async fn get_bucket_versioning(
        &self,
        req: S3Request<GetBucketVersioningInput>,
    ) -> S3Result<S3Response<GetBucketVersioningOutput>> {
        self.repository(&req.input.bucket).await?;
        Ok(S3Response::new(GetBucketVersioningOutput::default()))
    }
    async fn list_objects(
        &self,
        req: S3Request<ListObjectsInput>,
    ) -> S3Result<S3Response<ListObjectsOutput>> {
        self.op_list_objects(req).await
    }
    async fn list_objects_v2(
        &self,
        req: S3Request<ListObjectsV2Input>,
    ) -> S3Result<S3Response<ListObjectsV2Output>> {
        self.op_list_objects_v2(req).await
    }
    async fn list_object_versions(
        &self,
        req: S3Request<ListObjectVersionsInput>,
    ) -> S3Result<S3Response<ListObjectVersionsOutput>> {
        self.op_list_object_versions(req).await
    }
    async fn head_object(
        &self,
        req: S3Request<HeadObjectInput>,
    ) -> S3Result<S3Response<HeadObjectOutput>> {
        self.op_head_object(req).await
    }
    async fn get_object(
        &self,
        req: S3Request<GetObjectInput>,
    ) -> S3Result<S3Response<GetObjectOutput>> {
        self.op_get_object(req).await
    }
    async fn get_object_attributes(
        &self,
        req: S3Request<GetObjectAttributesInput>,
    ) -> S3Result<S3Response<GetObjectAttributesOutput>> {
        self.op_get_object_attributes(req).await
    }
    async fn put_object(
        &self,
        req: S3Request<PutObjectInput>,
    ) -> S3Result<S3Response<PutObjectOutput>> {
        self.op_put_object(req).await
    }
    async fn copy_object(
        &self,
        req: S3Request<CopyObjectInput>,
    ) -> S3Result<S3Response<CopyObjectOutput>> {
        self.op_copy_object(req).await
    }
    async fn delete_object(
        &self,
        req: S3Request<DeleteObjectInput>,
    ) -> S3Result<S3Response<DeleteObjectOutput>> {
        self.op_delete_object(req).await
    }
    async fn delete_objects(
        &self,
        req: S3Request<DeleteObjectsInput>,
    ) -> S3Result<S3Response<DeleteObjectsOutput>> {
        self.op_delete_objects(req).await
    }
    async fn create_multipart_upload(
        &self,
        req: S3Request<CreateMultipartUploadInput>,
    ) -> S3Result<S3Response<CreateMultipartUploadOutput>> {
        self.op_create_multipart_upload(req).await
    }
    async fn upload_part(
        &self,
        req: S3Request<UploadPartInput>,
    ) -> S3Result<S3Response<UploadPartOutput>> {
        self.op_upload_part(req).await
    }
    async fn upload_part_copy(
        &self,
        req: S3Request<UploadPartCopyInput>,
    ) -> S3Result<S3Response<UploadPartCopyOutput>> {
        self.op_upload_part_copy(req).await
    }
    async fn complete_multipart_upload(
        &self,
        req: S3Request<CompleteMultipartUploadInput>,
    ) -> S3Result<S3Response<CompleteMultipartUploadOutput>> {
        self.op_complete_multipart_upload(req).await
    }
    async fn abort_multipart_upload(
        &self,
        req: S3Request<AbortMultipartUploadInput>,
    ) -> S3Result<S3Response<AbortMultipartUploadOutput>> {
        self.op_abort_multipart_upload(req).await
    }
    async fn list_parts(
        &self,
        req: S3Request<ListPartsInput>,
    ) -> S3Result<S3Response<ListPartsOutput>> {
        self.op_list_parts(req).await
    }
    async fn list_multipart_uploads(
        &self,
        req: S3Request<ListMultipartUploadsInput>,
    ) -> S3Result<S3Response<ListMultipartUploadsOutput>> {
        self.op_list_multipart_uploads(req).await
    }
}
