//! Garbage collection of physical objects: delete what no retained commit, branch, tag,
//! staging area or multipart upload reaches, once it is older than a grace period (which
//! protects writes in flight: their bytes land before their metadata does). Which commits
//! are retained: all reachable ones, or what the retention rules keep (`retention.rs`).

use std::collections::{HashMap, HashSet};
use std::time::Duration;

use futures::StreamExt;

use crate::branch::BranchRecord;
use crate::encoding;
use crate::engine::Engine;
use crate::error::Result;
use crate::keys;
use crate::kv::KvExt;
use crate::multipart::Part;
use crate::range::Node;
use crate::repo::Repository;
use crate::retention::RetentionRules;
use crate::staging::decode_staged;
use crate::storage::INLINE_PREFIX;

/// Inline objects read from the metadata store per step.
const GC_PAGE: usize = 1000;

/// Marking passes (each over the branch records that changed since the last) before a
/// collection gives up on a repository whose branches never stop moving.
const MARK_PASSES: usize = 100;

/// How to collect.
#[derive(Debug, Clone)]
pub struct GcOptions {
    /// Objects younger than this are never deleted.
    pub grace: Duration,
    /// Report what would be deleted without deleting it.
    pub dry_run: bool,
}

impl Default for GcOptions {
    fn default() -> Self {
        Self {
            grace: Duration::from_secs(6 * 3600),
            dry_run: false,
        }
    }
}

/// What a collection did.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct GcReport {
    /// Physical objects seen.
    pub examined: u64,
    /// Objects still reachable.
    pub reachable: u64,
    /// Objects deleted (or that would be, in a dry run).
    pub deleted: u64,
    /// Their bytes.
    pub deleted_bytes: u64,
    /// Unreachable objects spared by the grace period.
    pub too_young: u64,
}

impl Engine {
    /// Collect a repository's unreachable physical objects.
    pub async fn collect_garbage(&self, repo: &str, options: &GcOptions) -> Result<GcReport> {
        let repo = self.repository(repo).await?;
        // Note the time before marking: anything written after it is younger than the cut.
        let cutoff = self.now_ms() - options.grace.as_millis() as i64;
        let live = self.reachable_addresses(&repo).await?;
        let store = self.storage_of(&repo)?;
        let mut report = GcReport::default();
        // Inline objects are read a page at a time, like files. They get the same grace
        // period: marking is no snapshot, so a small write staged after the staging areas
        // were scanned (or committed while they were) is unreachable to this pass.
        let blob_prefix = keys::blob_prefix(&repo.instance);
        let blob_end = crate::kv::prefix_end(&blob_prefix);
        let mut start = blob_prefix.clone();
        loop {
            let page = self.inner.kv.scan(&start, &blob_end, GC_PAGE).await?;
            let Some((last, _)) = page.last() else { break };
            start = last.clone();
            start.push(0);
            let full = page.len() == GC_PAGE;
            for (k, v) in page {
                let id = String::from_utf8_lossy(&k[blob_prefix.len()..]).into_owned();
                report.examined += 1;
                if live.contains(&format!("{INLINE_PREFIX}{id}")) {
                    report.reachable += 1;
                    continue;
                }
                let blob = encoding::decode_blob(&v, "inline object")?;
                if blob.stored_ms > cutoff {
                    report.too_young += 1;
                    continue;
                }
                report.deleted += 1;
                report.deleted_bytes += blob.bytes.len() as u64;
                if !options.dry_run {
                    self.inner.kv.delete(&k).await?;
                    self.delete_file_indexes(&repo.instance, &format!("{INLINE_PREFIX}{id}"))
                        .await?;
                }
            }
            if !full {
                break;
            }
        }
        let mut listing = store.list_data();
        while let Some(meta) = listing.next().await {
            let meta = meta?;
            report.examined += 1;
            if live.contains(meta.location.as_ref()) {
                report.reachable += 1;
                continue;
            }
            if meta.last_modified.timestamp_millis() > cutoff {
                report.too_young += 1;
                continue;
            }
            report.deleted += 1;
            report.deleted_bytes += meta.size;
            if !options.dry_run {
                store.delete(meta.location.as_ref()).await?;
                self.delete_file_indexes(&repo.instance, meta.location.as_ref())
                    .await?;
            }
        }
        Ok(report)
    }

    async fn reachable_addresses(&self, repo: &Repository) -> Result<HashSet<String>> {
        let kv = &self.inner.kv;
        let mut live = HashSet::new();
        let rules: Option<RetentionRules> = match kv.get(&keys::retention(&repo.instance)).await? {
            Some(bytes) => Some(encoding::decode(&bytes, "retention rules")?),
            None => None,
        };
        let now = self.now_ms();
        // Marking is no snapshot: a commit or fold that moves staged entries into a tree
        // while it runs empties staging areas already read, or not yet read. Every such
        // move swaps a branch record first, so the branches are read again after each
        // pass, and any record not marked yet is marked, until none is new.
        let mut marked_records: HashSet<Vec<u8>> = HashSet::new();
        let mut marked_tags: HashSet<Vec<u8>> = HashSet::new();
        // A commit reached again with an earlier cutoff (a branch that keeps more history)
        // has its ancestors walked again; subtrees that trees share are walked once.
        let mut best_cutoff: HashMap<String, i64> = HashMap::new();
        let mut seen_ranges = HashSet::new();
        for pass in 0.. {
            if pass == MARK_PASSES {
                return Err(crate::error::Error::conflict(
                    "the repository's branches kept changing while garbage was collected; try again",
                ));
            }
            // (commit, cutoff): the commit is retained, and so are its ancestors created
            // at or after the cutoff (i64::MIN: all of them; i64::MAX: none).
            let mut heads: Vec<(String, i64)> = Vec::new();
            let mut trees = Vec::new();
            let mut tokens = Vec::new();
            let branch_prefix = keys::branch_prefix(&repo.instance);
            for (k, v) in kv.scan_prefix(&branch_prefix, 1000).await? {
                if marked_records.contains(&v) {
                    continue;
                }
                let record = BranchRecord::decode(&v)?;
                let name = String::from_utf8_lossy(&k[branch_prefix.len()..]);
                let cutoff = match &rules {
                    None => i64::MIN,
                    Some(r) => now - i64::from(r.days_for(&name)) * 86_400_000,
                };
                heads.push((record.head.clone(), cutoff));
                tokens.extend(record.tokens());
                trees.extend(record.workspace.clone());
                marked_records.insert(v);
            }
            for (_, v) in kv
                .scan_prefix(&keys::tag_prefix(&repo.instance), 1000)
                .await?
            {
                if !marked_tags.insert(v.clone()) {
                    continue;
                }
                let cutoff = if rules.is_some() { i64::MAX } else { i64::MIN };
                heads.push((String::from_utf8_lossy(&v).into_owned(), cutoff));
            }
            if heads.is_empty() {
                break;
            }
            while let Some((id, cutoff)) = heads.pop() {
                if best_cutoff.get(&id).is_some_and(|c| *c <= cutoff) {
                    continue;
                }
                best_cutoff.insert(id.clone(), cutoff);
                let commit = self.commit_record(repo, &id).await?;
                for parent in &commit.parents {
                    if self.commit_record(repo, parent).await?.created_ms >= cutoff {
                        heads.push((parent.clone(), cutoff));
                    }
                }
                trees.push(commit.tree.clone());
            }
            // Each tree's ranges: the retained commits' and the branches' folded trees.
            let mut ranges = trees;
            while let Some(range) = ranges.pop() {
                if !seen_ranges.insert(range.clone()) {
                    continue;
                }
                match &*self.inner.trees.node(&repo.instance, &range).await? {
                    Node::Leaf(entries) => {
                        for (_, e) in entries.iter() {
                            live.extend(e.addresses().map(str::to_string));
                        }
                    }
                    Node::Inner { children, .. } => {
                        ranges.extend(children.iter().map(|c| c.id.clone()));
                    }
                }
            }
            for token in tokens {
                for (_, v) in kv
                    .scan_prefix(&keys::staging_prefix(&repo.instance, &token), 10_000)
                    .await?
                {
                    if let Some(e) = decode_staged(&v)? {
                        live.extend(e.addresses().map(str::to_string));
                    }
                }
            }
        }
        let parts_prefix = format!("p/{}/", repo.instance).into_bytes();
        for (_, v) in kv.scan_prefix(&parts_prefix, 10_000).await? {
            let part: Part = encoding::decode(&v, "part")?;
            live.insert(part.address);
        }
        Ok(live)
    }
}
