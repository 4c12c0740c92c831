//! Which objects under a prefix are data files, by Spark's rules, and how to find them on
//! a ref or in the change between two refs.

use std::collections::BTreeMap;

use sluice_meta::{ChangeKind, DiffEntry, DiffOptions, Engine, Entry, ListItem, ListOptions};

use crate::error::Result;

/// A Parquet data file on a ref.
#[derive(Debug, Clone)]
pub struct DataFile {
    /// Its logical path.
    pub path: String,
    /// Its entry (size, ETag, physical address).
    pub entry: Entry,
}

/// Whether `path` (under `prefix`) is a Parquet data file as Spark reads a folder: a
/// component below the prefix that starts with `_` (but is no `k=v` partition folder) or
/// `.` hides what is under it (`_SUCCESS`, `_committed_*`, `_temporary/`, `.crc` files,
/// `_sluice_actions/`), and only `.parquet` / `.parq` files hold rows.
pub fn is_data_file(prefix: &str, path: &str) -> bool {
    let below = match path.strip_prefix(prefix) {
        // The prefix names the file itself: judge its name alone.
        Some("") | None => path.rsplit('/').next().unwrap_or(path),
        Some(rest) => rest,
    };
    let hidden = below.split('/').any(|part| {
        part.starts_with('.')
            || (part.starts_with('_') && !part.contains('='))
            || part.ends_with("._COPYING_")
    });
    if hidden {
        return false;
    }
    let name = below
        .rsplit('/')
        .next()
        .unwrap_or(below)
        .to_ascii_lowercase();
    name.ends_with(".parquet") || name.ends_with(".parq")
}

/// A prefix as a folder: `reviews` means `reviews/` (not `reviews_old/`); a prefix that
/// names a Parquet file itself stays as it is.
pub fn folder_prefix(prefix: &str) -> String {
    let p = prefix.trim_start_matches('/');
    if p.is_empty() || p.ends_with('/') || is_data_file("", p) {
        p.to_string()
    } else {
        format!("{p}/")
    }
}

/// Every item under `prefix` on a ref, page after page, in path order; with a delimiter,
/// common prefixes too.
/// What a reader reads: a ref, or a tree no commit names yet (the tree a merge would
/// produce, for the checks that judge it before it is committed).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum View {
    /// A branch (with its uncommitted changes), a tag, a commit, any ref expression.
    Ref(String),
    /// A tree by its root range id.
    Tree(String),
}

impl std::fmt::Display for View {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Ref(r) => f.write_str(r),
            Self::Tree(t) => write!(f, "tree:{t}"),
        }
    }
}

/// Every item under `prefix` of a ref (see [`list_view_items`]).
pub async fn list_items(
    engine: &Engine,
    repo: &str,
    reference: &str,
    prefix: &str,
    delimiter: Option<&str>,
) -> sluice_meta::Result<Vec<ListItem>> {
    list_view_items(
        engine,
        repo,
        &View::Ref(reference.to_string()),
        prefix,
        delimiter,
    )
    .await
}

/// Every item under `prefix` of a view, paging through the listing.
pub async fn list_view_items(
    engine: &Engine,
    repo: &str,
    view: &View,
    prefix: &str,
    delimiter: Option<&str>,
) -> sluice_meta::Result<Vec<ListItem>> {
    let mut items = Vec::new();
    let mut after = None;
    loop {
        let options = ListOptions {
            prefix: prefix.to_string(),
            delimiter: delimiter.map(str::to_string),
            after: after.clone(),
            limit: 1000,
        };
        let page = match view {
            View::Ref(reference) => engine.list_objects(repo, reference, &options).await?,
            View::Tree(tree) => engine.list_tree(repo, tree, &options).await?,
        };
        after = page.items.last().map(|i| i.key().to_string());
        items.extend(page.items);
        if !page.has_more {
            return Ok(items);
        }
    }
}

/// Every object under `prefix` on a ref, in path order.
pub async fn list_all(
    engine: &Engine,
    repo: &str,
    reference: &str,
    prefix: &str,
) -> Result<Vec<(String, Entry)>> {
    let items = list_items(engine, repo, reference, prefix, None).await?;
    Ok(items
        .into_iter()
        .filter_map(|item| match item {
            ListItem::Object(path, entry) => Some((path, entry)),
            ListItem::Prefix(_) => None,
        })
        .collect())
}

/// The data files, and how many other objects were passed over, under `prefix` on a ref.
pub async fn list_data_files(
    engine: &Engine,
    repo: &str,
    reference: &str,
    prefix: &str,
) -> Result<(Vec<DataFile>, u64)> {
    list_view_data_files(engine, repo, &View::Ref(reference.to_string()), prefix).await
}

/// The data files, and how many other objects were passed over, under `prefix` of a view.
pub async fn list_view_data_files(
    engine: &Engine,
    repo: &str,
    view: &View,
    prefix: &str,
) -> Result<(Vec<DataFile>, u64)> {
    let objects: Vec<(String, Entry)> = list_view_items(engine, repo, view, prefix, None)
        .await?
        .into_iter()
        .filter_map(|item| match item {
            ListItem::Object(path, entry) => Some((path, entry)),
            ListItem::Prefix(_) => None,
        })
        .collect();
    let total = objects.len() as u64;
    let files: Vec<DataFile> = objects
        .into_iter()
        .filter(|(path, _)| is_data_file(prefix, path))
        .map(|(path, entry)| DataFile { path, entry })
        .collect();
    let skipped = total - files.len() as u64;
    Ok((files, skipped))
}

/// What a ref changed under a prefix since a commit: each touched data path with its entry
/// before (at the base) and after (on the ref, including a branch's uncommitted changes).
#[derive(Debug, Default, Clone)]
pub struct Change {
    /// Data files on the ref that are new or differ from the base.
    pub added: Vec<DataFile>,
    /// Data files at the base that the ref removed or replaced.
    pub removed: Vec<DataFile>,
}

impl Change {
    /// Every touched path (added or removed).
    pub fn touched(&self) -> impl Iterator<Item = &str> {
        self.added
            .iter()
            .chain(&self.removed)
            .map(|f| f.path.as_str())
    }
}

/// The change from commit `base` to `reference` under `prefix`. The walk follows the size of
/// the change: shared ranges of the two trees are passed over unread.
pub async fn change_since(
    engine: &Engine,
    repo: &str,
    base: &str,
    reference: &str,
    prefix: &str,
) -> Result<Change> {
    let resolved = engine.resolve_ref(repo, reference).await?;
    // path -> (before, after)
    let mut touched: BTreeMap<String, (Option<Entry>, Option<Entry>)> = BTreeMap::new();
    let head = resolved.commit.as_str();
    let committed = all_diffs(prefix, |options| async move {
        engine.diff(repo, base, head, &options).await
    })
    .await?;
    for d in committed {
        touched.insert(d.path, (d.left, d.right));
    }
    if let Some(branch) = &resolved.branch {
        let staged = all_diffs(prefix, |options| async move {
            engine.diff_uncommitted(repo, branch, &options).await
        })
        .await?;
        for d in staged {
            let right = match d.kind {
                ChangeKind::Removed => None,
                _ => d.right,
            };
            match touched.get_mut(&d.path) {
                Some(pair) => pair.1 = right,
                // Untouched by commits: the head's entry is the base's.
                None => {
                    touched.insert(d.path, (d.left, right));
                }
            }
        }
    }
    let mut change = Change::default();
    for (path, (before, after)) in touched {
        if before == after || !is_data_file(prefix, &path) {
            continue;
        }
        if let Some(entry) = before {
            change.removed.push(DataFile {
                path: path.clone(),
                entry,
            });
        }
        if let Some(entry) = after {
            change.added.push(DataFile { path, entry });
        }
    }
    Ok(change)
}

/// Every page of a diff under `prefix`.
async fn all_diffs<F, Fut>(prefix: &str, mut page: F) -> Result<Vec<DiffEntry>>
where
    F: FnMut(DiffOptions) -> Fut,
    Fut: std::future::Future<Output = sluice_meta::Result<sluice_meta::DiffPage>>,
{
    let mut out = Vec::new();
    let mut after = None;
    loop {
        let options = DiffOptions {
            prefix: prefix.to_string(),
            after: after.clone(),
            limit: 1000,
        };
        let p = page(options).await?;
        after = p.changes.last().map(|d| d.path.clone());
        out.extend(p.changes);
        if !p.has_more {
            return Ok(out);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spark_rules() {
        let p = "t/";
        assert!(is_data_file(p, "t/part-0000.snappy.parquet"));
        assert!(is_data_file(p, "t/date=2024-01-01/part-0.parquet"));
        assert!(is_data_file(p, "t/_col=1/part-0.parquet"));
        assert!(is_data_file(p, "t/x.PARQ"));
        assert!(!is_data_file(p, "t/_SUCCESS"));
        assert!(!is_data_file(p, "t/_committed_123"));
        assert!(!is_data_file(p, "t/_temporary/0/part-0.parquet"));
        assert!(!is_data_file(p, "t/.part-0.parquet.crc"));
        assert!(!is_data_file(p, "t/.hidden/part-0.parquet"));
        assert!(!is_data_file(p, "t/part-0.csv"));
        assert!(!is_data_file(p, "t/part-0.parquet._COPYING_"));
        // Only what is below the prefix counts: a hidden prefix itself may be asked for.
        assert!(is_data_file("_staging/", "_staging/a.parquet"));
        assert!(is_data_file("t/a.parquet", "t/a.parquet"));
    }

    #[test]
    fn prefixes_are_folders() {
        assert_eq!(folder_prefix(""), "");
        assert_eq!(folder_prefix("reviews"), "reviews/");
        assert_eq!(folder_prefix("/reviews/"), "reviews/");
        assert_eq!(folder_prefix("reviews/a.parquet"), "reviews/a.parquet");
    }
}
