//! The protocol's ceiling: an s3s server that keeps objects in memory and does nothing
//! else, so that Sluice's S3 figures can be read against what s3s itself allows.
//! `mem-s3 ADDR ACCESS_KEY SECRET_KEY`; prints `listening on http://ADDR` when ready.

use std::collections::BTreeMap;
use std::sync::RwLock;

use bytes::{Bytes, BytesMut};
use futures::StreamExt;
use hyper_util::rt::TokioIo;
use s3s::auth::SimpleAuth;
use s3s::dto::*;
use s3s::service::S3ServiceBuilder;
use s3s::{S3, S3Request, S3Response, S3Result, s3_error};

#[derive(Default)]
struct Mem {
    objects: RwLock<BTreeMap<String, (Bytes, String)>>,
    uploads: RwLock<BTreeMap<String, BTreeMap<i32, Bytes>>>,
}

async fn collect(body: Option<StreamingBlob>) -> S3Result<Bytes> {
    let mut buf = BytesMut::new();
    if let Some(mut b) = body {
        while let Some(chunk) = b.next().await {
            buf.extend_from_slice(&chunk.map_err(|e| s3_error!(IncompleteBody, "{e}"))?);
        }
    }
    Ok(buf.freeze())
}

/// A stand-in ETag (the length): the ceiling server must not spend time hashing.
fn etag_of(b: &[u8]) -> String {
    format!("{:032x}", b.len())
}

#[async_trait::async_trait]
impl S3 for Mem {
    async fn create_bucket(
        &self,
        _req: S3Request<CreateBucketInput>,
    ) -> S3Result<S3Response<CreateBucketOutput>> {
        Ok(S3Response::new(CreateBucketOutput::default()))
    }

    async fn put_object(
        &self,
        req: S3Request<PutObjectInput>,
    ) -> S3Result<S3Response<PutObjectOutput>> {
        let data = collect(req.input.body).await?;
        let etag = etag_of(&data);
        self.objects
            .write()
            .unwrap()
            .insert(req.input.key, (data, etag.clone()));
        Ok(S3Response::new(PutObjectOutput {
            e_tag: Some(ETag::Strong(etag)),
            ..Default::default()
        }))
    }

    async fn get_object(
        &self,
        req: S3Request<GetObjectInput>,
    ) -> S3Result<S3Response<GetObjectOutput>> {
        let (data, etag) = self
            .objects
            .read()
            .unwrap()
            .get(&req.input.key)
            .cloned()
            .ok_or_else(|| s3_error!(NoSuchKey))?;
        let len = data.len() as u64;
        let (body, range) = match &req.input.range {
            Some(r) => {
                let r = r.check(len)?;
                (data.slice(r.start as usize..r.end as usize), Some(r))
            }
            None => (data, None),
        };
        let n = body.len();
        // Hand out the bytes in 1 MiB pieces, as a storage-backed server would stream them.
        let pieces: Vec<Result<Bytes, std::io::Error>> = (0..n)
            .step_by(1 << 20)
            .map(|i| Ok(body.slice(i..(i + (1 << 20)).min(n))))
            .collect();
        Ok(S3Response::new(GetObjectOutput {
            body: Some(StreamingBlob::wrap(futures::stream::iter(pieces))),
            content_length: Some(n as i64),
            content_range: range.map(|r| format!("bytes {}-{}/{len}", r.start, r.end - 1)),
            e_tag: Some(ETag::Strong(etag)),
            last_modified: Some(Timestamp::from(std::time::SystemTime::now())),
            ..Default::default()
        }))
    }

    async fn head_object(
        &self,
        req: S3Request<HeadObjectInput>,
    ) -> S3Result<S3Response<HeadObjectOutput>> {
        let (data, etag) = self
            .objects
            .read()
            .unwrap()
            .get(&req.input.key)
            .cloned()
            .ok_or_else(|| s3_error!(NoSuchKey))?;
        Ok(S3Response::new(HeadObjectOutput {
            content_length: Some(data.len() as i64),
            e_tag: Some(ETag::Strong(etag)),
            last_modified: Some(Timestamp::from(std::time::SystemTime::now())),
            ..Default::default()
        }))
    }

    async fn list_objects_v2(
        &self,
        req: S3Request<ListObjectsV2Input>,
    ) -> S3Result<S3Response<ListObjectsV2Output>> {
        let input = req.input;
        let prefix = input.prefix.clone().unwrap_or_default();
        let after = input
            .continuation_token
            .clone()
            .or(input.start_after.clone());
        let max = input.max_keys.unwrap_or(1000).clamp(1, 1000) as usize;
        let objects = self.objects.read().unwrap();
        let start = after
            .clone()
            .map(|a| a + "\0")
            .unwrap_or_else(|| prefix.clone());
        let mut contents = Vec::new();
        let mut truncated = false;
        for (k, (data, etag)) in objects.range(start..) {
            if !k.starts_with(&prefix) {
                break;
            }
            if contents.len() == max {
                truncated = true;
                break;
            }
            contents.push(Object {
                key: Some(k.clone()),
                size: Some(data.len() as i64),
                e_tag: Some(ETag::Strong(etag.clone())),
                last_modified: Some(Timestamp::from(std::time::SystemTime::now())),
                ..Default::default()
            });
        }
        let next = truncated
            .then(|| contents.last().and_then(|o: &Object| o.key.clone()))
            .flatten();
        Ok(S3Response::new(ListObjectsV2Output {
            key_count: Some(contents.len() as i32),
            contents: Some(contents),
            is_truncated: Some(truncated),
            next_continuation_token: next,
            name: Some(input.bucket),
            prefix: Some(prefix),
            max_keys: Some(max as i32),
            ..Default::default()
        }))
    }

    async fn create_multipart_upload(
        &self,
        req: S3Request<CreateMultipartUploadInput>,
    ) -> S3Result<S3Response<CreateMultipartUploadOutput>> {
        let id = format!("{}", self.uploads.read().unwrap().len() + 1);
        self.uploads
            .write()
            .unwrap()
            .insert(id.clone(), BTreeMap::new());
        Ok(S3Response::new(CreateMultipartUploadOutput {
            bucket: Some(req.input.bucket),
            key: Some(req.input.key),
            upload_id: Some(id),
            ..Default::default()
        }))
    }

    async fn upload_part(
        &self,
        req: S3Request<UploadPartInput>,
    ) -> S3Result<S3Response<UploadPartOutput>> {
        let data = collect(req.input.body).await?;
        let etag = etag_of(&data);
        self.uploads
            .write()
            .unwrap()
            .get_mut(&req.input.upload_id)
            .ok_or_else(|| s3_error!(NoSuchUpload))?
            .insert(req.input.part_number, data);
        Ok(S3Response::new(UploadPartOutput {
            e_tag: Some(ETag::Strong(etag)),
            ..Default::default()
        }))
    }

    async fn complete_multipart_upload(
        &self,
        req: S3Request<CompleteMultipartUploadInput>,
    ) -> S3Result<S3Response<CompleteMultipartUploadOutput>> {
        let parts = self
            .uploads
            .write()
            .unwrap()
            .remove(&req.input.upload_id)
            .ok_or_else(|| s3_error!(NoSuchUpload))?;
        let mut all = BytesMut::new();
        for p in parts.values() {
            all.extend_from_slice(p);
        }
        let data = all.freeze();
        let etag = etag_of(&data);
        self.objects
            .write()
            .unwrap()
            .insert(req.input.key.clone(), (data, etag.clone()));
        Ok(S3Response::new(CompleteMultipartUploadOutput {
            bucket: Some(req.input.bucket),
            key: Some(req.input.key),
            e_tag: Some(ETag::Strong(etag)),
            ..Default::default()
        }))
    }
}

#[tokio::main(flavor = "multi_thread")]
async fn main() {
    let args: Vec<String> = std::env::args().collect();
    let (addr, access, secret) = (&args[1], &args[2], &args[3]);
    let mut builder = S3ServiceBuilder::new(Mem::default());
    builder.set_auth(SimpleAuth::from_single(access.clone(), secret.clone()));
    let service = builder.build();
    let listener = tokio::net::TcpListener::bind(addr).await.expect("bind");
    println!("listening on http://{}", listener.local_addr().unwrap());
    loop {
        let (stream, _) = listener.accept().await.expect("accept");
        let service = service.clone();
        tokio::spawn(async move {
            let _ = hyper::server::conn::http1::Builder::new()
                .serve_connection(TokioIo::new(stream), service)
                .await;
        });
    }
}
