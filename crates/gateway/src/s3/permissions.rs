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

impl S3Permissions {
    /// [`require`](Self::require) what `needs` names from the request's input.
    async fn require_for<T>(
        &self,
        req: &mut S3Request<T>,
        needs: impl FnOnce(&T) -> Vec<Need>,
    ) -> S3Result<()> {
        let needs = needs(&req.input);
        self.require(req, &needs).await
    }
}

/// A copy's needs: writing the destination and reading the source.
fn copy_needs(bucket: &str, key: &str, source: &CopySource) -> Vec<Need> {
    let mut needs = vec![on_object("fs:WriteObject", bucket, key)];
    if let Some((bucket, key)) = copy_source(source) {
        needs.push(on_object("fs:ReadObject", bucket, key));
    }
    needs
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
        self.require_for(req, |i| {
            vec![on_repository("fs:ReadRepository", &i.bucket, None)]
        })
        .await
    }
    async fn get_bucket_location(
        &self,
        req: &mut S3Request<GetBucketLocationInput>,
    ) -> S3Result<()> {
        self.require_for(req, |i| {
            vec![on_repository("fs:ReadRepository", &i.bucket, None)]
        })
        .await
    }
    async fn get_bucket_versioning(
        &self,
        req: &mut S3Request<GetBucketVersioningInput>,
    ) -> S3Result<()> {
        self.require_for(req, |i| {
            vec![on_repository("fs:ReadRepository", &i.bucket, None)]
        })
        .await
    }
    async fn create_bucket(&self, req: &mut S3Request<CreateBucketInput>) -> S3Result<()> {
        self.require_for(req, |i| {
            vec![on_repository("fs:CreateRepository", &i.bucket, None)]
        })
        .await
    }
    async fn delete_bucket(&self, req: &mut S3Request<DeleteBucketInput>) -> S3Result<()> {
        self.require_for(req, |i| {
            vec![on_repository("fs:DeleteRepository", &i.bucket, None)]
        })
        .await
    }
    async fn list_objects(&self, req: &mut S3Request<ListObjectsInput>) -> S3Result<()> {
        self.require_for(req, |i| {
            vec![on_repository(
                "fs:ListObjects",
                &i.bucket,
                i.prefix.as_deref(),
            )]
        })
        .await
    }
    async fn list_objects_v2(&self, req: &mut S3Request<ListObjectsV2Input>) -> S3Result<()> {
        self.require_for(req, |i| {
            vec![on_repository(
                "fs:ListObjects",
                &i.bucket,
                i.prefix.as_deref(),
            )]
        })
        .await
    }
    async fn list_object_versions(
        &self,
        req: &mut S3Request<ListObjectVersionsInput>,
    ) -> S3Result<()> {
        self.require_for(req, |i| {
            vec![on_repository(
                "fs:ListObjects",
                &i.bucket,
                i.prefix.as_deref(),
            )]
        })
        .await
    }
    async fn list_multipart_uploads(
        &self,
        req: &mut S3Request<ListMultipartUploadsInput>,
    ) -> S3Result<()> {
        self.require_for(req, |i| {
            vec![on_repository(
                "fs:ListObjects",
                &i.bucket,
                i.prefix.as_deref(),
            )]
        })
        .await
    }
    async fn head_object(&self, req: &mut S3Request<HeadObjectInput>) -> S3Result<()> {
        self.require_for(req, |i| vec![on_object("fs:ReadObject", &i.bucket, &i.key)])
            .await
    }
    async fn get_object(&self, req: &mut S3Request<GetObjectInput>) -> S3Result<()> {
        self.require_for(req, |i| vec![on_object("fs:ReadObject", &i.bucket, &i.key)])
            .await
    }
    async fn get_object_attributes(
        &self,
        req: &mut S3Request<GetObjectAttributesInput>,
    ) -> S3Result<()> {
        self.require_for(req, |i| vec![on_object("fs:ReadObject", &i.bucket, &i.key)])
            .await
    }
    async fn list_parts(&self, req: &mut S3Request<ListPartsInput>) -> S3Result<()> {
        self.require_for(req, |i| vec![on_object("fs:ReadObject", &i.bucket, &i.key)])
            .await
    }
    async fn put_object(&self, req: &mut S3Request<PutObjectInput>) -> S3Result<()> {
        self.require_for(req, |i| {
            vec![on_object("fs:WriteObject", &i.bucket, &i.key)]
        })
        .await
    }
    async fn create_multipart_upload(
        &self,
        req: &mut S3Request<CreateMultipartUploadInput>,
    ) -> S3Result<()> {
        self.require_for(req, |i| {
            vec![on_object("fs:WriteObject", &i.bucket, &i.key)]
        })
        .await
    }
    async fn upload_part(&self, req: &mut S3Request<UploadPartInput>) -> S3Result<()> {
        self.require_for(req, |i| {
            vec![on_object("fs:WriteObject", &i.bucket, &i.key)]
        })
        .await
    }
    async fn complete_multipart_upload(
        &self,
        req: &mut S3Request<CompleteMultipartUploadInput>,
    ) -> S3Result<()> {
        self.require_for(req, |i| {
            vec![on_object("fs:WriteObject", &i.bucket, &i.key)]
        })
        .await
    }
    async fn abort_multipart_upload(
        &self,
        req: &mut S3Request<AbortMultipartUploadInput>,
    ) -> S3Result<()> {
        self.require_for(req, |i| {
            vec![on_object("fs:WriteObject", &i.bucket, &i.key)]
        })
        .await
    }
    async fn delete_object(&self, req: &mut S3Request<DeleteObjectInput>) -> S3Result<()> {
        self.require_for(req, |i| {
            vec![on_object("fs:DeleteObject", &i.bucket, &i.key)]
        })
        .await
    }
    async fn copy_object(&self, req: &mut S3Request<CopyObjectInput>) -> S3Result<()> {
        self.require_for(req, |i| copy_needs(&i.bucket, &i.key, &i.copy_source))
            .await
    }
    async fn upload_part_copy(&self, req: &mut S3Request<UploadPartCopyInput>) -> S3Result<()> {
        self.require_for(req, |i| copy_needs(&i.bucket, &i.key, &i.copy_source))
            .await
    }
    async fn delete_objects(&self, req: &mut S3Request<DeleteObjectsInput>) -> S3Result<()> {
        if req.input.delete.objects.len() > 1000 {
            return Err(s3_error!(
                MalformedXML,
                "at most 1,000 keys per DeleteObjects request"
            ));
        }
        // The whole request is refused when any one key may not be deleted.
        self.require_for(req, |i| {
            let bucket = &i.bucket;
            let keys = &i.delete.objects;
            keys.iter()
                .map(|o| on_object("fs:DeleteObject", bucket, &o.key))
                .collect()
        })
        .await
    }
}
