//! Multipart upload from the browser: a large file goes up in parts, each its own request
//! with its own retry point, through the engine's multipart uploads (the parts are recorded,
//! never copied). `POST .../upload/start?ref=&path=` answers the upload id,
//! `.../upload/part?upload=&n=` (the part as the body) the part's ETag,
//! `.../upload/complete?upload=` (lines `N ETAG`) the object, `.../upload/abort?upload=`
//! nothing. Answers are plain text for the page's script.

use bytes::Bytes;
use futures::TryStreamExt;
use http::{Request, StatusCode};
use http_body_util::{BodyExt, BodyStream};
use sluice_meta::PutOptions;

use super::layout::size;
use super::objects::text;
use super::{Ctx, Reply, UiError};

/// The largest completion list read (10,000 parts of `N ETAG` lines fit).
const MAX_COMPLETION: usize = 1024 * 1024;

fn required<'a>(ctx: &'a Ctx, name: &str) -> Result<&'a str, UiError> {
    ctx.param(name)
        .ok_or_else(|| UiError::bad_request(format!("The upload request lacks “{name}”.")))
}

/// One step of a multipart upload; a failure is its message as plain text.
pub(crate) async fn step<B>(ctx: &Ctx, repo: &str, step: &str, req: Request<B>) -> Reply
where
    B: hyper::body::Body<Data = Bytes> + Send + Unpin + 'static,
    B::Error: std::error::Error + Send + Sync + 'static,
{
    let answer = match step {
        "start" => start(ctx, repo, &req).await,
        "part" => part(ctx, repo, req).await,
        "complete" => complete(ctx, repo, req).await,
        "abort" => abort(ctx, repo).await,
        _ => Err(UiError::not_found()),
    };
    answer.unwrap_or_else(|e| text(e.status, e.message))
}

async fn start<B>(ctx: &Ctx, repo: &str, req: &Request<B>) -> Result<Reply, UiError> {
    let (branch, path) = (required(ctx, "ref")?, required(ctx, "path")?);
    let resolved = ctx.engine.resolve_ref(repo, branch).await?;
    if resolved.branch.is_none() {
        return Err(UiError::bad_request(format!(
            "“{branch}” is not a branch: objects can be uploaded to a branch only."
        )));
    }
    let content_type = req
        .headers()
        .get("x-object-content-type")
        .and_then(|v| v.to_str().ok())
        .filter(|t| !t.is_empty())
        .map(str::to_string);
    let options = PutOptions {
        content_type,
        ..PutOptions::default()
    };
    let upload = ctx
        .engine
        .create_upload(repo, branch, path, options)
        .await?;
    Ok(text(StatusCode::CREATED, upload.id))
}

async fn part<B>(ctx: &Ctx, repo: &str, req: Request<B>) -> Result<Reply, UiError>
where
    B: hyper::body::Body<Data = Bytes> + Send + Unpin + 'static,
    B::Error: std::error::Error + Send + Sync + 'static,
{
    let id = required(ctx, "upload")?.to_string();
    let number: u32 = required(ctx, "n")?
        .parse()
        .map_err(|_| UiError::bad_request("The part number is not a number."))?;
    let body = BodyStream::new(req.into_body())
        .try_filter_map(|frame| async move { Ok(frame.into_data().ok()) })
        .map_err(std::io::Error::other);
    let part = ctx
        .engine
        .upload_part(repo, &id, number, body, Default::default())
        .await?;
    Ok(text(StatusCode::OK, part.etag))
}

async fn complete<B>(ctx: &Ctx, repo: &str, req: Request<B>) -> Result<Reply, UiError>
where
    B: hyper::body::Body<Data = Bytes> + Send + Unpin + 'static,
    B::Error: std::error::Error + Send + Sync + 'static,
{
    let id = required(ctx, "upload")?.to_string();
    let body = http_body_util::Limited::new(req.into_body(), MAX_COMPLETION)
        .collect()
        .await
        .map_err(|e| UiError::bad_request(format!("The list of parts could not be read: {e}")))?
        .to_bytes();
    let listed = std::str::from_utf8(&body)
        .map_err(|_| UiError::bad_request("The list of parts is not text."))?;
    let mut parts = Vec::new();
    for line in listed.lines().filter(|l| !l.trim().is_empty()) {
        let (n, etag) = line
            .trim()
            .split_once(' ')
            .and_then(|(n, e)| Some((n.parse::<u32>().ok()?, e.trim().to_string())))
            .ok_or_else(|| UiError::bad_request(format!("“{line}” is not “NUMBER ETAG”.")))?;
        parts.push((n, etag));
    }
    let entry = ctx.engine.complete_upload(repo, &id, &parts).await?;
    Ok(text(
        StatusCode::CREATED,
        format!("Uploaded in {} parts ({})", parts.len(), size(entry.size)),
    ))
}

async fn abort(ctx: &Ctx, repo: &str) -> Result<Reply, UiError> {
    let id = required(ctx, "upload")?;
    ctx.engine.abort_upload(repo, id).await?;
    Ok(text(StatusCode::OK, "Aborted".to_string()))
}
