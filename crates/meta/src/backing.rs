//! Writes that bypass the sidecar (lakeFS's `getPhysicalAddress` / `linkPhysicalAddress`):
//! a client asks for a fresh physical address in the repository's namespace (with a
//! pre-signed URL for it where the namespace can sign), writes the bytes straight to the
//! backing store, and links the address to a path on a branch. The link checks that the
//! address is one this namespace hands out and that the object is there with the size
//! the client says; bytes written and never linked are garbage once past the grace period.

use std::time::Duration;

use crate::engine::Engine;
use crate::entry::Entry;
use crate::error::{Error, Result};
use crate::object::{PutOptions, WriteCondition};
use crate::storage::fresh_address;

/// Where a client may write an object's bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StagingLocation {
    /// The physical address (`s3://bucket/prefix/data/..`, `local://name/data/..`).
    pub physical_address: String,
    /// A URL to `PUT` the bytes to without credentials, when asked for and possible.
    pub presigned_url: Option<String>,
    /// When the URL stops working, in Unix seconds.
    pub presigned_url_expiry: Option<i64>,
}

/// What a client reports of the bytes it wrote.
#[derive(Debug, Clone, Default)]
pub struct LinkRequest {
    /// The physical address from [`Engine::staging_location`].
    pub physical_address: String,
    /// The size of the bytes written.
    pub size: u64,
    /// The backing store's ETag of them, as the client saw it.
    pub checksum: String,
    /// Content type, user metadata and the write's condition.
    pub options: PutOptions,
}

/// How long a pre-signed URL works.
pub const PRESIGN_EXPIRY: Duration = Duration::from_secs(15 * 60);

impl Engine {
    /// A fresh physical address for `path` on `branch` (which must accept writes), with a
    /// pre-signed `PUT` URL for it when `presign` and the namespace can sign.
    pub async fn staging_location(
        &self,
        repo: &str,
        branch: &str,
        path: &str,
        presign: bool,
    ) -> Result<StagingLocation> {
        self.check_writable(repo, branch, path, &WriteCondition::Always)
            .await?;
        let store = self.namespace_store(repo).await?;
        let address = fresh_address();
        let mut location = StagingLocation {
            physical_address: store.physical_address(&address),
            presigned_url: None,
            presigned_url_expiry: None,
        };
        if presign {
            let url = store
                .presign(http::Method::PUT, &address, PRESIGN_EXPIRY)
                .await?
                .ok_or_else(|| {
                    Error::invalid(
                        "this repository's storage cannot pre-sign URLs (only s3:// namespaces can)",
                    )
                })?;
            location.presigned_url = Some(url);
            location.presigned_url_expiry =
                Some(self.now_ms() / 1000 + PRESIGN_EXPIRY.as_secs() as i64);
        }
        Ok(location)
    }

    /// Stage the bytes a client wrote at a physical address from
    /// [`staging_location`](Self::staging_location) as `path` on `branch`.
    pub async fn link_physical_address(
        &self,
        repo: &str,
        branch: &str,
        path: &str,
        link: LinkRequest,
    ) -> Result<Entry> {
        let store = self.namespace_store(repo).await?;
        let address = store.address_of(&link.physical_address)?;
        let (size, etag) = store.head(&address).await.map_err(|e| {
            if e.kind() == crate::ErrorKind::NotFound {
                Error::invalid(format!(
                    "nothing was written at {}: write the bytes before linking them",
                    link.physical_address
                ))
            } else {
                e
            }
        })?;
        if size != link.size {
            return Err(Error::invalid(format!(
                "the object at {} has {size} bytes, not the {} the link says",
                link.physical_address, link.size
            )));
        }
        let etag = etag
            .map(|t| t.trim_matches('"').to_string())
            .unwrap_or_else(|| link.checksum.trim_matches('"').to_string());
        if !link.checksum.is_empty() && link.checksum.trim_matches('"') != etag {
            return Err(Error::invalid(format!(
                "the object at {} has ETag {etag}, not the checksum {} the link says",
                link.physical_address, link.checksum
            )));
        }
        let entry = Entry {
            address,
            parts: Vec::new(),
            size,
            etag,
            last_modified_ms: self.now_ms(),
            content_type: link.options.content_type,
            metadata: link.options.metadata,
            checksums: link.options.checksums,
        };
        self.stage_entry(repo, branch, path, entry.clone(), &link.options.condition)
            .await?;
        Ok(entry)
    }

    /// A URL to `GET` an object straight from the backing store, where the namespace can
    /// sign and the object is one stored object (not inline, not a list of parts).
    pub async fn presigned_read(&self, repo: &str, entry: &Entry) -> Result<Option<String>> {
        if !entry.parts.is_empty()
            || entry.address.starts_with(crate::storage::INLINE_PREFIX)
            || crate::external::is_external(&entry.address)
        {
            return Ok(None);
        }
        let store = self.namespace_store(repo).await?;
        store
            .presign(http::Method::GET, &entry.address, PRESIGN_EXPIRY)
            .await
    }
}
