//! Listings: V1, V2 and versions over one code path. Below a ref (`prefix` = `main/...`)
//! the engine lists the ref; at the repository root, refs show as folders: with delimiter
//! `/` each branch is a common prefix, and without one the branches' objects follow each
//! other in key order.

use base64::Engine as _;
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};
use s3s::dto::*;
use s3s::{S3Request, S3Response, S3Result, s3_error};
use sluice_meta::{Entry, ErrorKind, ListItem, ListOptions};

use super::errors::{Resource, on, s3_error as to_s3};
use super::{SluiceS3, etag, owner, timestamp};

/// What a listing asks.
struct Ask<'a> {
    bucket: &'a str,
    prefix: &'a str,
    delimiter: Option<&'a str>,
    /// Keys and prefixes strictly after this one.
    after: Option<String>,
    max_keys: usize,
}

/// What it found, in key order.
#[derive(Default)]
struct Found {
    items: Vec<(String, Option<Entry>)>,
    truncated: bool,
}

impl Found {
    fn last_key(&self) -> Option<&str> {
        self.items.last().map(|(k, _)| k.as_str())
    }
    fn split(self) -> (Vec<(String, Entry)>, Vec<String>) {
        let mut objects = Vec::new();
        let mut prefixes = Vec::new();
        for (k, e) in self.items {
            match e {
                Some(e) => objects.push((k, e)),
                None => prefixes.push(k),
            }
        }
        (objects, prefixes)
    }
}

/// S3's url encoding-type: everything but unreserved characters and '/'.
const KEY_ENCODE: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'_')
    .remove(b'.')
    .remove(b'~')
    .remove(b'/');

struct Encoder(bool);

impl Encoder {
    fn new(t: &Option<EncodingType>) -> Self {
        Self(
            t.as_ref()
                .is_some_and(|t| t.as_str().eq_ignore_ascii_case(EncodingType::URL)),
        )
    }
    fn key(&self, k: &str) -> String {
        if self.0 {
            utf8_percent_encode(k, KEY_ENCODE).to_string()
        } else {
            k.to_string()
        }
    }
    fn opt(&self, k: Option<&str>) -> Option<String> {
        k.map(|k| self.key(k))
    }
}

/// The delimiter asked for; an empty one is no delimiter (S3 neither applies nor echoes it).
fn delimiter(d: &Option<String>) -> Option<&str> {
    d.as_deref().filter(|d| !d.is_empty())
}

fn max_keys(requested: Option<i32>) -> S3Result<usize> {
    match requested {
        None => Ok(1000),
        Some(n) if n < 0 => Err(s3_error!(InvalidArgument, "max-keys must be non-negative")),
        Some(n) => Ok((n as usize).min(1000)),
    }
}

fn encode_token(key: &str) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(key)
}

fn decode_token(token: &str) -> S3Result<String> {
    base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(token)
        .ok()
        .and_then(|b| String::from_utf8(b).ok())
        .ok_or_else(|| {
            s3_error!(
                InvalidArgument,
                "The continuation token provided is incorrect"
            )
        })
}

fn common_prefixes(prefixes: Vec<String>, enc: &Encoder) -> Vec<CommonPrefix> {
    prefixes
        .into_iter()
        .map(|p| CommonPrefix {
            prefix: Some(enc.key(&p)),
        })
        .collect()
}

fn object(key: String, e: &Entry, enc: &Encoder, with_owner: bool) -> Object {
    Object {
        key: Some(enc.key(&key)),
        size: Some(e.size as i64),
        e_tag: Some(etag(&e.etag)),
        last_modified: Some(timestamp(e.last_modified_ms)),
        storage_class: Some(ObjectStorageClass::from_static(
            ObjectStorageClass::STANDARD,
        )),
        owner: with_owner.then(owner),
        ..Default::default()
    }
}

impl SluiceS3 {
    async fn list(&self, ask: Ask<'_>) -> S3Result<Found> {
        self.repository(ask.bucket).await?;
        if ask.max_keys == 0 {
            return Ok(Found::default());
        }
        let mut found = match ask.prefix.split_once('/') {
            Some((reference, path_prefix)) => {
                self.list_ref(&ask, reference, path_prefix, ask.max_keys + 1)
                    .await?
            }
            None => self.list_root(&ask).await?,
        };
        if found.items.len() > ask.max_keys {
            found.items.truncate(ask.max_keys);
            found.truncated = true;
        }
        Ok(found)
    }

    /// Objects of one ref whose paths start with `path_prefix`, keyed `ref/path`.
    async fn list_ref(
        &self,
        ask: &Ask<'_>,
        reference: &str,
        path_prefix: &str,
        limit: usize,
    ) -> S3Result<Found> {
        let root = format!("{reference}/");
        let after = match &ask.after {
            Some(a) if a.starts_with(&root) => Some(a[root.len()..].to_string()),
            Some(a) if a.as_str() < root.as_str() => None,
            Some(_) => return Ok(Found::default()),
            None => None,
        };
        let options = ListOptions {
            prefix: path_prefix.to_string(),
            delimiter: ask.delimiter.map(str::to_string),
            after,
            limit,
        };
        let page = match self
            .engine
            .list_objects(ask.bucket, reference, &options)
            .await
        {
            Ok(p) => p,
            // A prefix naming no ref matches nothing, as a prefix matching no key.
            Err(e) if e.kind() == ErrorKind::NotFound => return Ok(Found::default()),
            Err(e) => return Err(to_s3(e, Resource::Object)),
        };
        Ok(Found {
            truncated: page.has_more,
            items: page
                .items
                .into_iter()
                .map(|i| match i {
                    ListItem::Object(p, e) => (format!("{root}{p}"), Some(e)),
                    ListItem::Prefix(p) => (format!("{root}{p}"), None),
                })
                .collect(),
        })
    }

    /// The repository root: branches as folders.
    async fn list_root(&self, ask: &Ask<'_>) -> S3Result<Found> {
        let mut roots: Vec<String> = self
            .engine
            .list_branches(ask.bucket, &sluice_meta::PageRequest::all())
            .await
            .map_err(on(Resource::Bucket))?
            .items
            .into_iter()
            .map(|b| format!("{}/", b.name))
            .filter(|r| r.starts_with(ask.prefix))
            .collect();
        // Key order, not name order: "a-b/" sorts before "a/".
        roots.sort();
        let mut found = Found::default();
        let want = ask.max_keys + 1;
        for root in roots {
            if found.items.len() >= want {
                break;
            }
            if let Some(d) = ask.delimiter.filter(|d| !d.is_empty())
                && let Some(i) = root[ask.prefix.len()..].find(d)
            {
                let common = root[..ask.prefix.len() + i + d.len()].to_string();
                let seen = ask.after.as_deref().is_some_and(|a| {
                    a >= common.as_str() && (a == common || !a.starts_with(&common))
                });
                if !seen && found.last_key() != Some(common.as_str()) {
                    found.items.push((common, None));
                }
                continue;
            }
            let reference = root.trim_end_matches('/');
            let part = self
                .list_ref(ask, reference, "", want - found.items.len())
                .await?;
            found.items.extend(part.items);
        }
        Ok(found)
    }

    pub(super) async fn op_list_objects_v2(
        &self,
        req: S3Request<ListObjectsV2Input>,
    ) -> S3Result<S3Response<ListObjectsV2Output>> {
        let input = req.input;
        let enc = Encoder::new(&input.encoding_type);
        let prefix = input.prefix.clone().unwrap_or_default();
        let token_after = input
            .continuation_token
            .as_deref()
            .map(decode_token)
            .transpose()?;
        let after = match (token_after, input.start_after.clone()) {
            (Some(t), Some(s)) => Some(t.max(s)),
            (t, s) => t.or(s),
        };
        let max = max_keys(input.max_keys)?;
        let found = self
            .list(Ask {
                bucket: &input.bucket,
                prefix: &prefix,
                delimiter: delimiter(&input.delimiter),
                after,
                max_keys: max,
            })
            .await?;
        let next = found
            .truncated
            .then(|| found.last_key().map(encode_token))
            .flatten();
        let truncated = found.truncated;
        let with_owner = input.fetch_owner.unwrap_or(false);
        let (objects, prefixes) = found.split();
        let key_count = (objects.len() + prefixes.len()) as i32;
        Ok(S3Response::new(ListObjectsV2Output {
            name: Some(input.bucket.clone()),
            prefix: Some(enc.key(&prefix)),
            delimiter: enc.opt(delimiter(&input.delimiter)),
            max_keys: Some(max as i32),
            key_count: Some(key_count),
            is_truncated: Some(truncated),
            continuation_token: input.continuation_token.clone(),
            next_continuation_token: next,
            start_after: enc.opt(input.start_after.as_deref()),
            encoding_type: enc.0.then(|| input.encoding_type.clone()).flatten(),
            contents: Some(
                objects
                    .into_iter()
                    .map(|(k, e)| object(k, &e, &enc, with_owner))
                    .collect(),
            ),
            common_prefixes: Some(common_prefixes(prefixes, &enc)),
            ..Default::default()
        }))
    }

    pub(super) async fn op_list_objects(
        &self,
        req: S3Request<ListObjectsInput>,
    ) -> S3Result<S3Response<ListObjectsOutput>> {
        let input = req.input;
        let enc = Encoder::new(&input.encoding_type);
        let prefix = input.prefix.clone().unwrap_or_default();
        let max = max_keys(input.max_keys)?;
        let found = self
            .list(Ask {
                bucket: &input.bucket,
                prefix: &prefix,
                delimiter: delimiter(&input.delimiter),
                after: input.marker.clone().filter(|m| !m.is_empty()),
                max_keys: max,
            })
            .await?;
        let truncated = found.truncated;
        let next_marker = truncated
            .then(|| found.last_key().map(|k| enc.key(k)))
            .flatten();
        let (objects, prefixes) = found.split();
        Ok(S3Response::new(ListObjectsOutput {
            name: Some(input.bucket.clone()),
            prefix: Some(enc.key(&prefix)),
            delimiter: enc.opt(delimiter(&input.delimiter)),
            marker: Some(enc.key(input.marker.as_deref().unwrap_or(""))),
            max_keys: Some(max as i32),
            is_truncated: Some(truncated),
            next_marker,
            encoding_type: enc.0.then(|| input.encoding_type.clone()).flatten(),
            contents: Some(
                objects
                    .into_iter()
                    .map(|(k, e)| object(k, &e, &enc, true))
                    .collect(),
            ),
            common_prefixes: Some(common_prefixes(prefixes, &enc)),
            ..Default::default()
        }))
    }

    /// An unversioned bucket's answer: every object once, version id `null`.
    pub(super) async fn op_list_object_versions(
        &self,
        req: S3Request<ListObjectVersionsInput>,
    ) -> S3Result<S3Response<ListObjectVersionsOutput>> {
        let input = req.input;
        let enc = Encoder::new(&input.encoding_type);
        let prefix = input.prefix.clone().unwrap_or_default();
        let max = max_keys(input.max_keys)?;
        let found = self
            .list(Ask {
                bucket: &input.bucket,
                prefix: &prefix,
                delimiter: delimiter(&input.delimiter),
                after: input.key_marker.clone().filter(|m| !m.is_empty()),
                max_keys: max,
            })
            .await?;
        let truncated = found.truncated;
        let next = truncated
            .then(|| found.last_key().map(|k| enc.key(k)))
            .flatten();
        let (objects, prefixes) = found.split();
        Ok(S3Response::new(ListObjectVersionsOutput {
            name: Some(input.bucket.clone()),
            prefix: Some(enc.key(&prefix)),
            delimiter: enc.opt(delimiter(&input.delimiter)),
            key_marker: enc.opt(input.key_marker.as_deref()),
            max_keys: Some(max as i32),
            is_truncated: Some(truncated),
            next_key_marker: next,
            next_version_id_marker: truncated.then(|| "null".to_string()),
            encoding_type: enc.0.then(|| input.encoding_type.clone()).flatten(),
            versions: Some(
                objects
                    .into_iter()
                    .map(|(k, e)| ObjectVersion {
                        key: Some(enc.key(&k)),
                        size: Some(e.size as i64),
                        e_tag: Some(etag(&e.etag)),
                        last_modified: Some(timestamp(e.last_modified_ms)),
                        is_latest: Some(true),
                        version_id: Some("null".into()),
                        owner: Some(owner()),
                        storage_class: Some(ObjectVersionStorageClass::from_static(
                            ObjectVersionStorageClass::STANDARD,
                        )),
                        ..Default::default()
                    })
                    .collect(),
            ),
            common_prefixes: Some(common_prefixes(prefixes, &enc)),
            ..Default::default()
        }))
    }
}
