//! Versioned encodings of everything stored: a format byte, then the postcard body.
//!
//! A format change is a decision: add a new version byte and a decoder for the old one here.

use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::error::{Error, Result};

/// The format byte of every record written by this version of Sluice.
pub(crate) const FORMAT_V1: u8 = 1;

/// Encode `value` in the current format.
pub(crate) fn encode<T: Serialize>(value: &T) -> Vec<u8> {
    let mut out = vec![FORMAT_V1];
    // Serialising our own plain data structures into a Vec cannot fail.
    postcard::to_io(value, &mut out).expect("postcard encoding of a plain record");
    out
}

/// Decode a record written by [`encode`]; `what` names it in errors.
pub(crate) fn decode<T: DeserializeOwned>(bytes: &[u8], what: &str) -> Result<T> {
    match bytes.split_first() {
        Some((&FORMAT_V1, body)) => postcard::from_bytes(body)
            .map_err(|e| Error::corrupt(format!("cannot decode {what}")).with_source(e)),
        Some((v, _)) => Err(Error::corrupt(format!(
            "{what} has unknown format version {v}"
        ))),
        None => Err(Error::corrupt(format!("{what} is empty"))),
    }
}

/// The format byte of an inline object's bytes that carry the time they were stored.
pub(crate) const BLOB_V2: u8 = 2;

/// An inline object's bytes, with the time they were stored (format 2): the garbage
/// collector spares young ones, as it spares young files.
pub(crate) fn encode_blob(bytes: &[u8], stored_ms: i64) -> Vec<u8> {
    let mut out = Vec::with_capacity(bytes.len() + 9);
    out.push(BLOB_V2);
    out.extend_from_slice(&stored_ms.to_le_bytes());
    out.extend_from_slice(bytes);
    out
}

/// An inline object as stored by [`encode_blob`].
#[derive(Debug)]
pub(crate) struct Blob {
    /// When it was stored; 0 for format 1, which predates the field (and so is old).
    pub stored_ms: i64,
    /// Its bytes.
    pub bytes: bytes::Bytes,
}

/// Decode an inline object, of format 1 (bytes only) or 2 (time, then bytes).
pub(crate) fn decode_blob(raw: &[u8], what: &str) -> Result<Blob> {
    match raw.split_first() {
        Some((&FORMAT_V1, body)) => Ok(Blob {
            stored_ms: 0,
            bytes: bytes::Bytes::copy_from_slice(body),
        }),
        Some((&BLOB_V2, body)) if body.len() >= 8 => {
            let (time, bytes) = body.split_at(8);
            Ok(Blob {
                stored_ms: i64::from_le_bytes(time.try_into().expect("8 bytes")),
                bytes: bytes::Bytes::copy_from_slice(bytes),
            })
        }
        Some((&BLOB_V2, _)) => Err(Error::corrupt(format!("{what} is truncated"))),
        Some((v, _)) => Err(Error::corrupt(format!(
            "{what} has unknown format version {v}"
        ))),
        None => Err(Error::corrupt(format!("{what} is empty"))),
    }
}

/// The content hash of stored bytes, as lowercase hex.
pub(crate) fn content_id(bytes: &[u8]) -> String {
    blake3::hash(bytes).to_hex().to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_version_check() {
        let v = (String::from("a"), 7u64, vec![1u8, 2]);
        let bytes = encode(&v);
        assert_eq!(bytes[0], FORMAT_V1);
        let back: (String, u64, Vec<u8>) = decode(&bytes, "tuple").unwrap();
        assert_eq!(back, v);
        let mut future = bytes.clone();
        future[0] = 9;
        let err = decode::<(String, u64, Vec<u8>)>(&future, "tuple").unwrap_err();
        assert_eq!(err.kind(), crate::ErrorKind::Corrupt);
        assert!(decode::<u8>(&[], "x").is_err());
        assert_eq!(content_id(b"x"), content_id(b"x"));
        assert_ne!(content_id(b"x"), content_id(b"y"));
    }

    #[test]
    fn blobs_of_both_formats_decode() {
        let new = decode_blob(&encode_blob(b"abc", 1234), "blob").unwrap();
        assert_eq!((new.stored_ms, &new.bytes[..]), (1234, &b"abc"[..]));
        let old = decode_blob(&[FORMAT_V1, b'x'], "blob").unwrap();
        assert_eq!((old.stored_ms, &old.bytes[..]), (0, &b"x"[..]));
        let empty = decode_blob(&encode_blob(b"", 7), "blob").unwrap();
        assert!(empty.bytes.is_empty());
        assert_eq!(
            decode_blob(&[BLOB_V2, 1, 2], "blob").unwrap_err().kind(),
            crate::ErrorKind::Corrupt
        );
        assert!(decode_blob(&[], "blob").is_err());
        assert!(decode_blob(&[7, 1], "blob").is_err());
    }
}
