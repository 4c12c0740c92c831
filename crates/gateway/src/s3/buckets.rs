//! Buckets are repositories.

use s3s::dto::*;
use s3s::{S3Request, S3Response, S3Result, s3_error};
use sluice_meta::{ErrorKind, ListOptions};

use super::errors::{Resource, on};
use super::{SluiceS3, owner, timestamp};
use crate::access::{Need, arn};

/// The branch S3's CreateBucket gives a new repository.
const DEFAULT_BRANCH: &str = "main";

impl SluiceS3 {
    pub(super) async fn op_list_buckets(
        &self,
        req: S3Request<ListBucketsInput>,
    ) -> S3Result<S3Response<ListBucketsOutput>> {
        let repos = self
            .engine
            .list_repositories(&sluice_meta::PageRequest::all())
            .await
            .map_err(on(Resource::Bucket))?
            .items;
        // The signer sees the repositories it may read, as lakeFS filters its listing.
        let user = super::permissions::identity_of(&req).map(|i| i.user.clone());
        let mut readable = Vec::with_capacity(repos.len());
        for r in repos {
            let need = Need::new("fs:ReadRepository", arn::repository(&r.name));
            if let Some(user) = &user
                && self.access.may(user, &need).await
            {
                readable.push(r);
            }
        }
        let buckets = readable
            .into_iter()
            .map(|r| Bucket {
                name: Some(r.name),
                creation_date: Some(timestamp(r.created_ms)),
                bucket_region: Some("us-east-1".into()),
            })
            .collect();
        Ok(S3Response::new(ListBucketsOutput {
            buckets: Some(buckets),
            owner: Some(owner()),
            ..Default::default()
        }))
    }

    pub(super) async fn op_head_bucket(
        &self,
        req: S3Request<HeadBucketInput>,
    ) -> S3Result<S3Response<HeadBucketOutput>> {
        self.repository(&req.input.bucket).await?;
        Ok(S3Response::new(HeadBucketOutput {
            bucket_region: Some("us-east-1".into()),
            ..Default::default()
        }))
    }

    pub(super) async fn op_get_bucket_location(
        &self,
        req: S3Request<GetBucketLocationInput>,
    ) -> S3Result<S3Response<GetBucketLocationOutput>> {
        self.repository(&req.input.bucket).await?;
        // An empty LocationConstraint means us-east-1.
        Ok(S3Response::new(GetBucketLocationOutput::default()))
    }

    pub(super) async fn op_create_bucket(
        &self,
        req: S3Request<CreateBucketInput>,
    ) -> S3Result<S3Response<CreateBucketOutput>> {
        let name = &req.input.bucket;
        self.engine
            .create_repository(name, &self.engine.default_namespace(name), DEFAULT_BRANCH)
            .await
            .map_err(|e| match e.kind() {
                ErrorKind::AlreadyExists => s3_error!(
                    BucketAlreadyOwnedByYou,
                    "Your previous request to create the named bucket succeeded and you already own it."
                ),
                ErrorKind::Invalid => s3_error!(InvalidBucketName, "{}", e.message()),
                _ => super::errors::s3_error(e, Resource::Bucket),
            })?;
        Ok(S3Response::new(CreateBucketOutput {
            location: Some(format!("/{name}")),
        }))
    }

    pub(super) async fn op_delete_bucket(
        &self,
        req: S3Request<DeleteBucketInput>,
    ) -> S3Result<S3Response<DeleteBucketOutput>> {
        let name = &req.input.bucket;
        self.repository(name).await?;
        // Only an empty repository: no object on any branch, committed or not.
        let branches = self
            .engine
            .list_branches(name, &sluice_meta::PageRequest::all())
            .await
            .map_err(on(Resource::Bucket))?
            .items;
        for b in branches {
            let page = self
                .engine
                .list_objects(
                    name,
                    &b.name,
                    &ListOptions {
                        limit: 1,
                        ..Default::default()
                    },
                )
                .await
                .map_err(on(Resource::Bucket))?;
            if !page.items.is_empty() {
                return Err(s3_error!(
                    BucketNotEmpty,
                    "The bucket you tried to delete is not empty (branch {:?} has objects).",
                    b.name
                ));
            }
        }
        self.engine
            .delete_repository(name)
            .await
            .map_err(on(Resource::Bucket))?;
        Ok(S3Response::new(DeleteBucketOutput {}))
    }
}
