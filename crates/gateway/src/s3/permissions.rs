//! What each S3 operation needs, asked of [`Access`] after s3s has checked the signature
//! and parsed the input, before the operation runs. The permissions are lakeFS's for its
//! S3 gateway: reads need `fs:ReadObject` on the object, writes `fs:WriteObject`, deletes
//! `fs:DeleteObject`, a copy both reading its source and writing its destination, listings
//! `fs:ListObjects` on the repository; each names the ref in the key as the request's
//! branch, for policies that limit writes to branches. A refusal is S3's `AccessDenied`.

use s3s::access::{S3Access, S3AccessContext};
use s3s::dto::*;
use s3s::{S3Request, S3Result, s3_error};

use super::address::split_key;
use crate::access::{Access, AccessError, Need, arn};
use crate::auth::Identity;

/// The S3 API's gate.
pub(crate) struct S3Permissions(pub Access);

/// `action` on the object `key` of `bucket`, through the ref the key names.
fn on_object(action: &'static str, bucket: &str, key: &str) -> Need {
    let rp = split_key(key);
    Need::new(action, arn::object(bucket, rp.path)).on_branch(rp.reference)
}

/// `action` on the repository `bucket`, through the ref a listing's prefix names, if any.
fn on_repository(action: &'static str, bucket: &str, prefix: Option<&str>) -> Need {
    let need = Need::new(action, arn::repository(bucket));
    // Without a `/` the prefix is part of a ref's name (a listing of refs).
    match prefix.and_then(|p| p.split_once('/')) {
        Some((reference, _)) => need.on_branch(reference),
        None => need,
    }
}

fn copy_source(source: &CopySource) -> Option<(&str, &str)> {
    match source {
        CopySource::Bucket { bucket, key, .. } => Some((bucket, key)),
        _ => None,
    }
}

impl S3Permissions {
    /// Ok when the request's signer may do every one of `needs`; the signer's identity is
    /// left in the request's extensions for the operation.
    async fn require<T>(&self, req: &mut S3Request<T>, needs: &[Need]) -> S3Result<()> {
        let identity = crate::auth::sigv4(&self.0, req.credentials.as_ref())
            .await
            .ok_or_else(|| s3_error!(AccessDenied, "the request is not signed by a known key"))?;
        match self.0.authorize(&identity.user, needs).await {
            Ok(()) => {
                req.extensions.insert(identity);
                Ok(())
            }
            Err(AccessError::Denied { action, resource }) => Err(s3_error!(
                AccessDenied,
                "insufficient permissions: {action} on {resource}"
            )),
            Err(e) => Err(s3_error!(InternalError, "cannot check permissions: {e}")),
        }
    }
}

/// The identity [`S3Permissions`] left in a request.
pub(crate) fn identity_of<T>(req: &S3Request<T>) -> Option<&Identity> {
    req.extensions.get::<Identity>()
}

#[async_trait::async_trait]
impl S3Access for S3Permissions {
    async fn check(&self, cx: &mut S3AccessContext<'_>) -> S3Result<()> {
        // Unsigned requests are refused before their input is read.
        match cx.credentials() {
            Some(_) => Ok(()),
            None => Err(s3_error!(AccessDenied, "Signature is required")),
        }
    }

    async fn list_buckets(&self, req: &mut S3Request<ListBucketsInput>) -> S3Result<()> {
        // Every signer may list; the listing shows the repositories it may read.
        self.require(req, &[]).await
    }
    async fn head_bucket(&self, req: &mut S3Request<HeadBucketInput>) -> S3Result<()> {
        let need = on_repository("fs:ReadRepository", &req.input.bucket, None);
        self.require(req, &[need]).await
    }
    async fn get_bucket_location(
        &self,
        req: &mut S3Request<GetBucketLocationInput>,
    ) -> S3Result<()> {
        let need = on_repository("fs:ReadRepository", &req.input.bucket, None);
        self.require(req, &[need]).await
    }
    async fn get_bucket_versioning(
        &self,
        req: &mut S3Request<GetBucketVersioningInput>,
    ) -> S3Result<()> {
        let need = on_repository("fs:ReadRepository", &req.input.bucket, None);
        self.require(req, &[need]).await
    }
    async fn create_bucket(&self, req: &mut S3Request<CreateBucketInput>) -> S3Result<()> {
        let need = on_repository("fs:CreateRepository", &req.input.bucket, None);
        self.require(req, &[need]).await
    }
    async fn delete_bucket(&self, req: &mut S3Request<DeleteBucketInput>) -> S3Result<()> {
        let need = on_repository("fs:DeleteRepository", &req.input.bucket, None);
        self.require(req, &[need]).await
    }
    async fn list_objects(&self, req: &mut S3Request<ListObjectsInput>) -> S3Result<()> {
        let need = on_repository(
            "fs:ListObjects",
            &req.input.bucket,
            req.input.prefix.as_deref(),
        );
        self.require(req, &[need]).await
    }
    async fn list_objects_v2(&self, req: &mut S3Request<ListObjectsV2Input>) -> S3Result<()> {
        let need = on_repository(
            "fs:ListObjects",
            &req.input.bucket,
            req.input.prefix.as_deref(),
        );
        self.require(req, &[need]).await
    }
    async fn list_object_versions(
        &self,
        req: &mut S3Request<ListObjectVersionsInput>,
    ) -> S3Result<()> {
        let need = on_repository(
            "fs:ListObjects",
            &req.input.bucket,
            req.input.prefix.as_deref(),
        );
        self.require(req, &[need]).await
    }
    async fn list_multipart_uploads(
        &self,
        req: &mut S3Request<ListMultipartUploadsInput>,
    ) -> S3Result<()> {
        let need = on_repository(
            "fs:ListObjects",
            &req.input.bucket,
            req.input.prefix.as_deref(),
        );
        self.require(req, &[need]).await
    }
    async fn head_object(&self, req: &mut S3Request<HeadObjectInput>) -> S3Result<()> {
        let need = on_object("fs:ReadObject", &req.input.bucket, &req.input.key);
        self.require(req, &[need]).await
    }
    async fn get_object(&self, req: &mut S3Request<GetObjectInput>) -> S3Result<()> {
        let need = on_object("fs:ReadObject", &req.input.bucket, &req.input.key);
        self.require(req, &[need]).await
    }
    async fn get_object_attributes(
        &self,
        req: &mut S3Request<GetObjectAttributesInput>,
    ) -> S3Result<()> {
        let need = on_object("fs:ReadObject", &req.input.bucket, &req.input.key);
        self.require(req, &[need]).await
    }
    async fn put_object(&self, req: &mut S3Request<PutObjectInput>) -> S3Result<()> {
        let need = on_object("fs:WriteObject", &req.input.bucket, &req.input.key);
        self.require(req, &[need]).await
    }
    async fn copy_object(&self, req: &mut S3Request<CopyObjectInput>) -> S3Result<()> {
        let mut needs = vec![on_object(
            "fs:WriteObject",
            &req.input.bucket,
            &req.input.key,
        )];
        if let Some((bucket, key)) = copy_source(&req.input.copy_source) {
            needs.push(on_object("fs:ReadObject", bucket, key));
        }
        self.require(req, &needs).await
    }
    async fn delete_object(&self, req: &mut S3Request<DeleteObjectInput>) -> S3Result<()> {
        let need = on_object("fs:DeleteObject", &req.input.bucket, &req.input.key);
        self.require(req, &[need]).await
    }
    async fn delete_objects(&self, req: &mut S3Request<DeleteObjectsInput>) -> S3Result<()> {
        if req.input.delete.objects.len() > 1000 {
            return Err(s3_error!(
                MalformedXML,
                "at most 1,000 keys per DeleteObjects request"
            ));
        }
        // The whole request is refused when any one key may not be deleted.
        let needs: Vec<Need> = req
            .input
            .delete
            .objects
            .iter()
            .map(|o| on_object("fs:DeleteObject", &req.input.bucket, &o.key))
            .collect();
        self.require(req, &needs).await
    }
    async fn create_multipart_upload(
        &self,
        req: &mut S3Request<CreateMultipartUploadInput>,
    ) -> S3Result<()> {
        let need = on_object("fs:WriteObject", &req.input.bucket, &req.input.key);
        self.require(req, &[need]).await
    }
    async fn upload_part(&self, req: &mut S3Request<UploadPartInput>) -> S3Result<()> {
        let need = on_object("fs:WriteObject", &req.input.bucket, &req.input.key);
        self.require(req, &[need]).await
    }
    async fn upload_part_copy(&self, req: &mut S3Request<UploadPartCopyInput>) -> S3Result<()> {
        let mut needs = vec![on_object(
            "fs:WriteObject",
            &req.input.bucket,
            &req.input.key,
        )];
        if let Some((bucket, key)) = copy_source(&req.input.copy_source) {
            needs.push(on_object("fs:ReadObject", bucket, key));
        }
        self.require(req, &needs).await
    }
    async fn complete_multipart_upload(
        &self,
        req: &mut S3Request<CompleteMultipartUploadInput>,
    ) -> S3Result<()> {
        let need = on_object("fs:WriteObject", &req.input.bucket, &req.input.key);
        self.require(req, &[need]).await
    }
    async fn abort_multipart_upload(
        &self,
        req: &mut S3Request<AbortMultipartUploadInput>,
    ) -> S3Result<()> {
        let need = on_object("fs:WriteObject", &req.input.bucket, &req.input.key);
        self.require(req, &[need]).await
    }
    async fn list_parts(&self, req: &mut S3Request<ListPartsInput>) -> S3Result<()> {
        let need = on_object("fs:ReadObject", &req.input.bucket, &req.input.key);
        self.require(req, &[need]).await
    }
}
