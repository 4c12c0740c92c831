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

/// Raw bytes (an inline object's content) in the current format.
pub(crate) fn encode_raw(bytes: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(bytes.len() + 1);
    out.push(FORMAT_V1);
    out.extend_from_slice(bytes);
    out
}

/// The bytes stored by [`encode_raw`].
pub(crate) fn decode_raw(bytes: &[u8], what: &str) -> Result<bytes::Bytes> {
    match bytes.split_first() {
        Some((&FORMAT_V1, body)) => Ok(bytes::Bytes::copy_from_slice(body)),
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
}
