//! Paged listings of named records (repositories, branches, tags, action runs): one request
//! shape and one answer shape, with the prefix and any filter applied while scanning, so a
//! page is never short or empty while matches remain.

use crate::error::Result;
use crate::kv::{Kv, prefix_end};

/// Which part of a listing to answer.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PageRequest {
    /// Only names that start with this.
    pub prefix: String,
    /// Only names strictly after this one (the last name of the previous page).
    pub after: Option<String>,
    /// At most this many items; 0 means no limit.
    pub limit: usize,
    /// Only names that contain this (lakeFS's `search`); empty for all.
    pub search: String,
}

impl PageRequest {
    /// Every name, in one page.
    pub fn all() -> Self {
        Self::default()
    }

    /// The first `limit` names.
    pub fn first(limit: usize) -> Self {
        Self {
            limit,
            ..Self::default()
        }
    }

    /// With only names under `prefix`.
    pub fn with_prefix(mut self, prefix: impl Into<String>) -> Self {
        self.prefix = prefix.into();
        self
    }

    /// With only names that contain `search`.
    pub fn with_search(mut self, search: impl Into<String>) -> Self {
        self.search = search.into();
        self
    }

    /// With only names after `after`.
    pub fn with_after(mut self, after: Option<impl Into<String>>) -> Self {
        self.after = after.map(Into::into);
        self
    }
}

/// A page of a listing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Page<T> {
    /// The items, in name order.
    pub items: Vec<T>,
    /// True when more items match after the last one.
    pub has_more: bool,
}

impl<T> Page<T> {
    /// The page with each item mapped.
    pub fn map<U>(self, f: impl FnMut(T) -> U) -> Page<U> {
        Page {
            items: self.items.into_iter().map(f).collect(),
            has_more: self.has_more,
        }
    }
}

/// KV pairs read per step of a scan.
const SCAN_STEP: usize = 1000;

/// Scan the records whose keys are `family` + name, answering the page `request` asks for
/// with the names for which `keep` holds. Items are `(name, value)`.
pub(crate) async fn scan_page(
    kv: &dyn Kv,
    family: &[u8],
    request: &PageRequest,
    mut keep: impl FnMut(&str, &[u8]) -> Result<bool>,
) -> Result<Page<(String, Vec<u8>)>> {
    let mut lower = family.to_vec();
    lower.extend_from_slice(request.prefix.as_bytes());
    let end = prefix_end(&lower);
    let mut start = lower;
    if let Some(after) = &request.after {
        let mut k = family.to_vec();
        k.extend_from_slice(after.as_bytes());
        k.push(0);
        start = start.max(k);
    }
    let limit = if request.limit == 0 {
        usize::MAX
    } else {
        request.limit
    };
    let mut items = Vec::new();
    loop {
        let rows = kv.scan(&start, &end, SCAN_STEP).await?;
        let exhausted = rows.len() < SCAN_STEP;
        if let Some((last, _)) = rows.last() {
            start = last.clone();
            start.push(0);
        }
        for (k, v) in rows {
            let name = String::from_utf8_lossy(&k[family.len()..]).into_owned();
            if !name.contains(request.search.as_str()) || !keep(&name, &v)? {
                continue;
            }
            if items.len() == limit {
                return Ok(Page {
                    items,
                    has_more: true,
                });
            }
            items.push((name, v));
        }
        if exhausted {
            return Ok(Page {
                items,
                has_more: false,
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kv::WriteBatch;
    use crate::kv::memory::MemoryKv;

    async fn kv_with(names: &[String]) -> MemoryKv {
        let kv = MemoryKv::new();
        let mut b = WriteBatch::new();
        for n in names {
            b.put(format!("f/{n}").into_bytes(), n.clone().into_bytes());
        }
        b.put(b"g/other".to_vec(), b"x".to_vec());
        kv.write(b).await.unwrap();
        kv
    }

    /// Paging with a prefix and a filter over more keys than one scan step: every match
    /// comes back once, in order, and no page is short while matches remain.
    #[tokio::test]
    async fn pages_with_prefix_and_filter_lose_nothing() {
        let names: Vec<String> = (0..3000)
            .map(|i| format!("{}-{i:05}", if i % 3 == 0 { "dev" } else { "feat" }))
            .collect();
        let kv = kv_with(&names).await;
        let keep_even = |_: &str, v: &[u8]| Ok(v.last().is_some_and(|b| b % 2 == 0));
        let want: Vec<&String> = names
            .iter()
            .filter(|n| n.starts_with("feat") && n.as_bytes().last().unwrap() % 2 == 0)
            .collect();
        let mut got = Vec::new();
        let mut after: Option<String> = None;
        loop {
            let request = PageRequest {
                prefix: "feat".into(),
                after: after.clone(),
                limit: 7,
                ..PageRequest::default()
            };
            let page = scan_page(&kv, b"f/", &request, keep_even).await.unwrap();
            assert!(page.items.len() == 7 || !page.has_more, "a short page");
            after = page.items.last().map(|(n, _)| n.clone());
            got.extend(page.items.into_iter().map(|(n, _)| n));
            if !page.has_more {
                break;
            }
        }
        assert_eq!(got.len(), want.len());
        assert!(got.iter().zip(&want).all(|(a, b)| a == *b));
        // A prefix with no match far from the start; `after` before the prefix.
        let none = scan_page(
            &kv,
            b"f/",
            &PageRequest::all().with_prefix("zzz"),
            |_, _| Ok(true),
        )
        .await
        .unwrap();
        assert!(none.items.is_empty() && !none.has_more);
        let from_a = PageRequest::first(2)
            .with_prefix("feat")
            .with_after(Some("aaa"));
        let page = scan_page(&kv, b"f/", &from_a, |_, _| Ok(true))
            .await
            .unwrap();
        assert_eq!(page.items[0].0, "feat-00001");
        assert!(page.has_more);
        let searched = PageRequest::first(5).with_search("-0299");
        let found = scan_page(&kv, b"f/", &searched, |_, _| Ok(true))
            .await
            .unwrap();
        let names: Vec<_> = found.items.iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(
            (names, found.has_more),
            (
                vec![
                    "dev-02991",
                    "dev-02994",
                    "dev-02997",
                    "feat-02990",
                    "feat-02992"
                ],
                true
            )
        );
        let all = scan_page(&kv, b"f/", &PageRequest::all(), |_, _| Ok(true))
            .await
            .unwrap();
        assert_eq!((all.items.len(), all.has_more), (3000, false));
    }
}
