//! How ranges are laid out in bytes. Format 2 (written since 2026-12) stores each key as
//! the length it shares with the key before it and the rest, and child ids as raw hash
//! bytes: paths in one range share long prefixes (`tables/events/date=.../part-...`), so a
//! range is about half the bytes of format 1 (plain postcard of [`Node`]), which is still
//! read. A range's id is the hash of its bytes, so the same entries in the two formats
//! are two ranges: correct, only not shared.

use serde::{Deserialize, Serialize};

use crate::encoding::{self, FORMAT_V1};
use crate::entry::Entry;
use crate::error::{Error, Result};
use crate::range::{ChildRef, Node};

/// The format byte of ranges written by this version.
pub(crate) const RANGE_V2: u8 = 2;

/// A key as the part it shares with the previous key (in bytes) and the rest.
#[derive(Serialize)]
struct KeyOut<'a> {
    shared: u32,
    rest: &'a str,
}

#[derive(Deserialize)]
struct KeyIn {
    shared: u32,
    rest: String,
}

#[derive(Serialize)]
struct ChildOut<'a> {
    id: IdOut<'a>,
    min: KeyOut<'a>,
    max: KeyOut<'a>,
    count: u64,
    size: u64,
}

#[derive(Deserialize)]
struct ChildIn {
    id: IdIn,
    min: KeyIn,
    max: KeyIn,
    count: u64,
    size: u64,
}

#[derive(Serialize)]
enum NodeOut<'a> {
    Leaf(Vec<(KeyOut<'a>, &'a Entry)>),
    Inner {
        level: u8,
        children: Vec<ChildOut<'a>>,
    },
}

#[derive(Deserialize)]
enum NodeIn {
    Leaf(Vec<(KeyIn, Entry)>),
    Inner { level: u8, children: Vec<ChildIn> },
}

/// `key` against `previous`: the shared length, cut back to a character boundary.
fn key_out<'a>(previous: &str, key: &'a str) -> KeyOut<'a> {
    let mut shared = previous
        .bytes()
        .zip(key.bytes())
        .take_while(|(a, b)| a == b)
        .count();
    while !key.is_char_boundary(shared) {
        shared -= 1;
    }
    KeyOut {
        shared: shared as u32,
        rest: &key[shared..],
    }
}

fn key_in(previous: &str, key: KeyIn) -> Result<String> {
    let shared = key.shared as usize;
    if shared > previous.len() || !previous.is_char_boundary(shared) {
        return Err(Error::corrupt(
            "range key shares more than the key before it",
        ));
    }
    let mut out = String::with_capacity(shared + key.rest.len());
    out.push_str(&previous[..shared]);
    out.push_str(&key.rest);
    Ok(out)
}

/// A child's id: the bytes of its hex hash, as every id the engine makes is; any other
/// text (hand-made ranges in tests) as itself.
#[derive(Serialize)]
enum IdOut<'a> {
    Hash([u8; 32]),
    Text(&'a str),
}

#[derive(Deserialize)]
enum IdIn {
    Hash([u8; 32]),
    Text(String),
}

fn id_out(id: &str) -> IdOut<'_> {
    match hash_bytes(id.as_bytes()) {
        Some(raw) => IdOut::Hash(raw),
        None => IdOut::Text(id),
    }
}

fn id_in(id: IdIn) -> String {
    match id {
        IdIn::Hash(raw) => hex::encode(raw),
        IdIn::Text(text) => text,
    }
}

/// The 32 bytes of a 64-digit lowercase hex hash.
fn hash_bytes(text: &[u8]) -> Option<[u8; 32]> {
    fn nibble(c: u8) -> Option<u8> {
        match c {
            b'0'..=b'9' => Some(c - b'0'),
            b'a'..=b'f' => Some(c - b'a' + 10),
            _ => None,
        }
    }
    if text.len() != 64 {
        return None;
    }
    let mut out = [0u8; 32];
    for (byte, pair) in out.iter_mut().zip(text.chunks_exact(2)) {
        *byte = (nibble(pair[0])? << 4) | nibble(pair[1])?;
    }
    Some(out)
}

/// `node` in the current format.
pub(crate) fn encode(node: &Node) -> Vec<u8> {
    let wire = match node {
        Node::Leaf(entries) => {
            let mut previous = "";
            NodeOut::Leaf(
                entries
                    .iter()
                    .map(|(path, entry)| {
                        let key = key_out(previous, path);
                        previous = path;
                        (key, entry)
                    })
                    .collect(),
            )
        }
        Node::Inner { level, children } => {
            let mut previous = "";
            NodeOut::Inner {
                level: *level,
                children: children
                    .iter()
                    .map(|c| {
                        let out = ChildOut {
                            id: id_out(&c.id),
                            min: key_out(previous, &c.min_key),
                            max: key_out(&c.min_key, &c.max_key),
                            count: c.count,
                            size: c.size,
                        };
                        previous = &c.max_key;
                        out
                    })
                    .collect(),
            }
        }
    };
    let mut out = vec![RANGE_V2];
    // Serialising our own plain data structures into a Vec cannot fail.
    postcard::to_io(&wire, &mut out).expect("postcard encoding of a range");
    out
}

/// A stored range of either format.
pub(crate) fn decode(bytes: &[u8]) -> Result<Node> {
    match bytes.split_first() {
        Some((&FORMAT_V1, _)) => encoding::decode(bytes, "range"),
        Some((&RANGE_V2, body)) => {
            let wire: NodeIn = postcard::from_bytes(body)
                .map_err(|e| Error::corrupt("cannot decode range").with_source(e))?;
            Ok(match wire {
                NodeIn::Leaf(items) => {
                    let mut entries: Vec<(String, Entry)> = Vec::with_capacity(items.len());
                    for (key, entry) in items {
                        let previous = entries.last().map_or("", |(p, _)| p.as_str());
                        let path = key_in(previous, key)?;
                        entries.push((path, entry));
                    }
                    Node::Leaf(entries)
                }
                NodeIn::Inner { level, children } => {
                    let mut out: Vec<ChildRef> = Vec::with_capacity(children.len());
                    for c in children {
                        let previous = out.last().map_or("", |p| p.max_key.as_str());
                        let min_key = key_in(previous, c.min)?;
                        let max_key = key_in(&min_key, c.max)?;
                        out.push(ChildRef {
                            id: id_in(c.id),
                            min_key,
                            max_key,
                            count: c.count,
                            size: c.size,
                        });
                    }
                    Node::Inner {
                        level,
                        children: out,
                    }
                }
            })
        }
        Some((v, _)) => Err(Error::corrupt(format!(
            "range has unknown format version {v}"
        ))),
        None => Err(Error::corrupt("range is empty")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn leaf() -> Node {
        Node::Leaf(
            ["a/é/1", "a/é/2", "a/éz", "b", "bb"]
                .iter()
                .enumerate()
                .map(|(i, p)| (p.to_string(), Entry::new(format!("x{i}"), i as u64, "e")))
                .collect(),
        )
    }

    fn inner() -> Node {
        let id = encoding::content_id(b"child");
        Node::Inner {
            level: 1,
            children: vec![
                ChildRef {
                    id: id.clone(),
                    min_key: "tables/t/date=1/a".into(),
                    max_key: "tables/t/date=1/z".into(),
                    count: 3,
                    size: 30,
                },
                ChildRef {
                    id: "not-a-hash".into(),
                    min_key: "tables/t/date=2/a".into(),
                    max_key: "tables/t/date=2/a".into(),
                    count: 1,
                    size: 1,
                },
            ],
        }
    }

    /// Both node kinds round-trip, multi-byte characters at a shared boundary included,
    /// and format 2 is smaller than format 1 for keys with common prefixes.
    #[test]
    fn ranges_round_trip_in_format_2_and_format_1_still_reads() {
        for node in [leaf(), inner(), Node::empty()] {
            let bytes = encode(&node);
            assert_eq!(bytes[0], RANGE_V2);
            assert_eq!(decode(&bytes).unwrap(), node);
            assert_eq!(decode(&encoding::encode(&node)).unwrap(), node);
        }
        assert!(encode(&inner()).len() < encoding::encode(&inner()).len());
    }

    #[test]
    fn damaged_ranges_are_corrupt() {
        let entry = Entry::new("x", 1, "e");
        // The first key claims to share bytes with a key before it, which it has not.
        let wire = NodeOut::Leaf(vec![(
            KeyOut {
                shared: 5,
                rest: "a",
            },
            &entry,
        )]);
        let mut bytes = vec![RANGE_V2];
        postcard::to_io(&wire, &mut bytes).unwrap();
        assert_eq!(
            decode(&bytes).unwrap_err().kind(),
            crate::ErrorKind::Corrupt
        );
        assert!(decode(&[9, 1]).is_err());
        assert!(decode(&[]).is_err());
        assert!(decode(&[RANGE_V2, 0xff]).is_err());
    }
}
