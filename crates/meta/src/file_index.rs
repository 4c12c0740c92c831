//! Indexes derived from an immutable physical object (the query crate's row-hash runs of a
//! Parquet file), kept in the metadata store beside the metadata, keyed by the object's
//! address: an object never changes, so an index built once serves every later check and
//! every branch that shares the object. The engine stores them as opaque bytes; garbage
//! collection deletes an object's indexes with the object.

use crate::engine::Engine;
use crate::error::Result;
use crate::keys;
use crate::kv::{KvExt, WriteBatch};

/// The largest index stored (bytes): a larger file is checked without one.
pub const MAX_FILE_INDEX: usize = 256 * 1024 * 1024;

fn digest(s: &str) -> String {
    blake3::hash(s.as_bytes()).to_hex()[..32].to_string()
}

impl Engine {
    /// The index `kind` of the object at `address` in `repo`, if one was stored.
    pub async fn file_index(
        &self,
        repo: &str,
        address: &str,
        kind: &str,
    ) -> Result<Option<Vec<u8>>> {
        let repo = self.repository(repo).await?;
        self.inner
            .kv
            .get(&keys::file_index(
                &repo.instance,
                &digest(address),
                &digest(kind),
            ))
            .await
    }

    /// Store several indexes (`kind`, bytes) of the object at `address` at once: a reader
    /// sees all of them or none. Ignored when they add up past [`MAX_FILE_INDEX`].
    pub async fn put_file_indexes(
        &self,
        repo: &str,
        address: &str,
        indexes: &[(String, Vec<u8>)],
    ) -> Result<()> {
        if indexes.iter().map(|(_, b)| b.len()).sum::<usize>() > MAX_FILE_INDEX {
            return Ok(());
        }
        let repo = self.repository(repo).await?;
        let object = digest(address);
        let mut batch = WriteBatch::new();
        for (kind, bytes) in indexes {
            batch.put(
                keys::file_index(&repo.instance, &object, &digest(kind)),
                bytes.as_slice(),
            );
        }
        self.inner.kv.write(batch).await
    }

    /// Delete every index of the object at `address` (its object is being collected).
    pub(crate) async fn delete_file_indexes(&self, instance: &str, address: &str) -> Result<()> {
        self.inner
            .kv
            .delete_prefix(&keys::file_index_prefix(instance, &digest(address)), 1000)
            .await
            .map(|_| ())
    }
}
