//! Duplicate detection: rows that a change adds which are identical (on all columns, or on
//! key columns) to a row already at the destination, or to another row of the change.
//!
//! The cost follows the change. Evidence is taken cheapest first:
//! 1. An added file byte-identical (same size and MD5) to a destination file, or to another
//!    added file, duplicates all its rows; its footer counts them and no row is read.
//! 2. The remaining added rows are hashed (128 bits each) into a sorted table.
//! 3. Destination row groups whose statistics prove that no row can match (some column's
//!    value range does not overlap the change's) are passed over unread; the rest are read,
//!    on the hashed columns only, and probed against the table.
//!
//! Memory is bounded: the table holds at most `memory_budget_rows` hashes (16 bytes each);
//! a larger change is checked in several passes, each keeping one slice of the hash space.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use arrow::array::RecordBatch;
use futures::{StreamExt, TryStreamExt};
use serde::Serialize;

use crate::error::{QueryError, Result};
use crate::files::DataFile;
use crate::parquet_file::{self, OpenFile};
use crate::ref_store::RefStore;
use crate::row_index;
use crate::rowhash;
use crate::stats::{self, ColumnRange};

/// How to look for duplicates.
#[derive(Debug, Clone)]
pub struct DuplicateOptions {
    /// Rows are the same when these columns are; `None` means every column of the change.
    pub key_columns: Option<Vec<String>>,
    /// How many duplicate rows to show.
    pub sample_limit: usize,
    /// At most this many row hashes held at once (16 bytes each).
    pub memory_budget_rows: usize,
}

impl Default for DuplicateOptions {
    fn default() -> Self {
        DuplicateOptions {
            key_columns: None,
            sample_limit: 5,
            memory_budget_rows: 16 << 20,
        }
    }
}

/// One duplicate row shown in a report.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct SampleRow {
    /// The row (the compared columns).
    pub row: serde_json::Value,
    /// Where an identical row already is: a destination file, or `change` for a row that
    /// repeats within the change.
    pub found_in: String,
}

/// What the search found.
#[derive(Debug, Clone, Serialize, Default, PartialEq)]
pub struct DuplicateReport {
    /// The columns compared.
    pub columns: Vec<String>,
    /// Whether `columns` are configured keys (else: every column).
    pub key_columns: bool,
    /// Rows the change adds.
    pub rows_checked: u64,
    /// Of those, rows identical to a destination row or to another added row.
    pub duplicate_rows: u64,
    /// Added files byte-identical to a destination file or to another added file.
    pub identical_files: u64,
    /// Destination row groups read, and passed over on statistics alone.
    pub destination_row_groups_read: u64,
    /// Destination row groups that statistics proved free of duplicates.
    pub destination_row_groups_skipped: u64,
    /// Destination row groups checked through their file's row-hash index, not decoded.
    pub destination_row_groups_indexed: u64,
    /// Destination files checked through a row-hash index.
    pub destination_files_indexed: u64,
    /// Bytes of row-hash indexes read.
    pub index_bytes_read: u64,
    /// Row-hash indexes this check left to be built (for files it decoded whole); they are
    /// sorted and stored in the background once it has answered.
    pub indexes_built: u64,
    /// Passes over the data (more than one when the change exceeds the memory budget).
    pub passes: u64,
    /// A few duplicate rows.
    pub samples: Vec<SampleRow>,
}

fn identity(file: &DataFile) -> (u64, &str) {
    (file.entry.size, file.entry.etag.as_str())
}

/// Look for rows that `added` (files a change brings, footers read) duplicates against
/// `dest` (the destination's files, without those the change replaces or removes).
pub async fn find_duplicates(
    source: &RefStore,
    added: Vec<OpenFile>,
    destination: &RefStore,
    dest: Vec<OpenFile>,
    options: &DuplicateOptions,
) -> Result<DuplicateReport> {
    let mut report = DuplicateReport::default();
    if added.is_empty() {
        return Ok(report);
    }
    crate::files::require_plain_rows(
        added.iter().chain(&dest).map(|f| &f.file),
        "the duplicate check",
    )?;

    let columns: Vec<String> = match &options.key_columns {
        Some(k) if !k.is_empty() => k.clone(),
        _ => added[0]
            .schema()
            .fields()
            .iter()
            .map(|f| f.name().clone())
            .collect(),
    };
    report.key_columns = options.key_columns.as_ref().is_some_and(|k| !k.is_empty());
    report.columns = columns.clone();
    for file in &added {
        parquet_file::root_columns(file, &columns)
            .map_err(|e| QueryError::file(&file.file.path, e))?;
    }

    // 1. Byte-identical files.
    let dest_identities: HashMap<(u64, &str), &str> = dest
        .iter()
        .map(|f| (identity(&f.file), f.file.path.as_str()))
        .collect();
    let mut seen_in_change: HashMap<(u64, &str), &str> = HashMap::new();
    let mut to_hash = Vec::new();
    for file in &added {
        report.rows_checked += file.rows();
        let id = identity(&file.file);
        let twin = dest_identities
            .get(&id)
            .or_else(|| seen_in_change.get(&id))
            .copied();
        match twin {
            Some(twin) if file.rows() > 0 => {
                report.identical_files += 1;
                report.duplicate_rows += file.rows();
                if report.samples.len() < options.sample_limit {
                    let want = options.sample_limit - report.samples.len();
                    for row in first_rows(source, file, &columns, want).await? {
                        report.samples.push(SampleRow {
                            row,
                            found_in: twin.to_string(),
                        });
                    }
                }
            }
            _ => {
                seen_in_change.insert(id, file.file.path.as_str());
                to_hash.push(file.clone());
            }
        }
    }
    if to_hash.is_empty() {
        report.passes = 0;
        return Ok(report);
    }

    // Statistics of the rows to hash, for pruning the destination.
    let mut change_range: Option<Vec<ColumnRange>> = None;
    for file in &to_hash {
        for group in stats::row_group_ranges(file, &columns) {
            change_range = Some(match change_range {
                None => group,
                Some(acc) => acc.iter().zip(&group).map(|(a, b)| a.union(b)).collect(),
            });
        }
    }
    let change_range = change_range.unwrap_or_default();
    // Destination row groups worth reading, per file (files lacking a column hold none).
    let mut dest_plan: Vec<(OpenFile, Vec<usize>)> = Vec::new();
    for file in dest {
        if parquet_file::root_columns(&file, &columns).is_err() {
            report.destination_row_groups_skipped += file.parquet().num_row_groups() as u64;
            continue;
        }
        let mut keep = Vec::new();
        for (g, ranges) in stats::row_group_ranges(&file, &columns).iter().enumerate() {
            let provably_apart = change_range.iter().zip(ranges).any(|(c, d)| c.disjoint(d));
            if provably_apart {
                report.destination_row_groups_skipped += 1;
            } else {
                keep.push(g);
            }
        }
        if !keep.is_empty() {
            dest_plan.push((file, keep));
        }
    }
    // Files with a row-hash index are probed through it; the rest are decoded. Indexes
    // are held one at a time, so memory does not grow with the destination.
    let kind = row_index::kind(&columns);

    let hashed_rows: u64 = to_hash.iter().map(OpenFile::rows).sum();
    let budget = options.memory_budget_rows.max(1) as u64;
    let passes = hashed_rows.div_ceil(budget).max(1);
    report.passes = passes;
    let columns = Arc::new(columns);
    let mut change_only_samples = Vec::new();
    for pass in 0..passes {
        let slice = Slice { pass, passes };
        let (hashes, retained) = build_table(source, &to_hash, &columns, slice).await?;
        let table = Arc::new(HashTable::new(hashes));
        let marks: Arc<Vec<AtomicU64>> = Arc::new(
            (0..table.hashes.len().div_ceil(64))
                .map(|_| AtomicU64::new(0))
                .collect(),
        );
        let want_samples = options.sample_limit.saturating_sub(report.samples.len());
        let indexed = probe_indexed(
            destination,
            &dest_plan,
            &kind,
            &columns,
            &table,
            &marks,
            &retained,
            want_samples,
        )
        .await?;
        report.samples.extend(indexed.samples);
        report.index_bytes_read += indexed.bytes;
        if pass == 0 {
            let groups = |plan: &[(OpenFile, Vec<usize>)]| -> u64 {
                plan.iter().map(|(_, g)| g.len() as u64).sum()
            };
            report.destination_row_groups_read = groups(&indexed.to_decode);
            report.destination_row_groups_indexed = groups(&dest_plan) - groups(&indexed.to_decode);
            report.destination_files_indexed = indexed.files;
        }
        let want_samples = options.sample_limit.saturating_sub(report.samples.len());
        let (samples, built) = probe(
            destination,
            &indexed.to_decode,
            &columns,
            &table,
            &marks,
            slice,
            want_samples,
            (pass == 0).then_some(kind.as_str()),
        )
        .await?;
        report.samples.extend(samples);
        report.indexes_built += built;
        // Count: a run of equal hashes is all duplicates if the destination has the row,
        // else all but its first.
        let hashes = &table.hashes;
        let mut i = 0;
        while i < hashes.len() {
            let mut j = i + 1;
            while j < hashes.len() && hashes[j] == hashes[i] {
                j += 1;
            }
            let in_dest = marks[i / 64].load(Ordering::Relaxed) & (1 << (i % 64)) != 0;
            let run = (j - i) as u64;
            report.duplicate_rows += if in_dest { run } else { run - 1 };
            if !in_dest && run > 1 && change_only_samples.len() < options.sample_limit {
                change_only_samples.push(hashes[i]);
            }
            i = j;
        }
    }
    let missing = options.sample_limit.saturating_sub(report.samples.len());
    if missing > 0 && !change_only_samples.is_empty() {
        change_only_samples.truncate(missing);
        for row in render_hashes(source, &to_hash, &columns, &change_only_samples).await? {
            report.samples.push(SampleRow {
                row,
                found_in: "change".to_string(),
            });
        }
    }
    Ok(report)
}

/// The sorted hashes of a change, with an index of where each bucket of the top bits
/// starts: hashes are uniform, so a probe reads one small contiguous run (one or two cache
/// misses) instead of binary-searching the whole table.
struct HashTable {
    hashes: Vec<u128>,
    starts: Vec<u32>,
    shift: u32,
}

impl HashTable {
    /// Index `sorted` (ascending) with about eight hashes per bucket.
    fn new(sorted: Vec<u128>) -> Self {
        let bits = (sorted.len() / 8).max(1).ilog2().clamp(1, 26);
        let shift = 128 - bits;
        let mut starts = Vec::with_capacity((1 << bits) + 1);
        let mut at = 0;
        for bucket in 0..(1u128 << bits) {
            while at < sorted.len() && (sorted[at] >> shift) < bucket {
                at += 1;
            }
            starts.push(at as u32);
        }
        starts.push(sorted.len() as u32);
        HashTable {
            hashes: sorted,
            starts,
            shift,
        }
    }

    /// The index of the first occurrence of `h`.
    fn find(&self, h: u128) -> Option<usize> {
        let b = (h >> self.shift) as usize;
        let (from, to) = (self.starts[b] as usize, self.starts[b + 1] as usize);
        let run = &self.hashes[from..to];
        let at = run.partition_point(|x| *x < h);
        (at < run.len() && run[at] == h).then_some(from + at)
    }
}

/// Which slice of the hash space a pass keeps.
#[derive(Debug, Clone, Copy)]
struct Slice {
    pass: u64,
    passes: u64,
}

impl Slice {
    fn keeps(self, hash: u128) -> bool {
        self.passes == 1 || ((hash >> 64) as u64) % self.passes == self.pass
    }
}

fn workers() -> usize {
    std::thread::available_parallelism().map_or(2, |n| n.get())
}

/// The hashed columns of a file's selected row groups, batch by batch.
async fn for_each_batch<F>(
    store: &RefStore,
    file: &OpenFile,
    columns: &[String],
    row_groups: Option<Vec<usize>>,
    mut each: F,
) -> Result<()>
where
    F: FnMut(&RecordBatch) -> Result<bool>,
{
    let roots = parquet_file::root_columns(file, columns)
        .map_err(|e| QueryError::file(&file.file.path, e))?;
    let mask = parquet_file::project_roots(file, &roots);
    let mut stream = parquet_file::batches(store, file, Some(mask), row_groups)
        .map_err(|e| QueryError::file(&file.file.path, e))?;
    while let Some(batch) = stream.next().await {
        let batch = batch.map_err(|e| QueryError::file(&file.file.path, e))?;
        if !each(&batch)? {
            break;
        }
    }
    Ok(())
}

/// Rows of the change kept aside while its table is built (its first batch, in the pass's
/// slice), so that samples of duplicates found through indexes are shown without decoding
/// any file again.
#[derive(Default)]
struct Retained {
    batch: Option<RecordBatch>,
    /// Row hash -> row in `batch`.
    rows: HashMap<u128, usize>,
}

/// The sorted hashes of the change's rows in `slice`, files read in parallel, and the rows
/// of its first batch.
async fn build_table(
    store: &RefStore,
    files: &[OpenFile],
    columns: &Arc<Vec<String>>,
    slice: Slice,
) -> Result<(Vec<u128>, Retained)> {
    // Each file's hashes join the table as soon as they are ready, so memory peaks at the
    // table plus the files in flight, not twice the table.
    let expected: u64 = files.iter().map(OpenFile::rows).sum::<u64>() / slice.passes;
    let mut table: Vec<u128> = Vec::with_capacity(expected as usize + expected as usize / 64);
    let mut retained = Retained::default();
    let mut parts = futures::stream::iter(files.iter().cloned().enumerate())
        .map(|(n, file)| {
            let store = store.clone();
            let columns = Arc::clone(columns);
            tokio::spawn(async move {
                let mut hashes = Vec::with_capacity(file.rows() as usize / slice.passes as usize);
                let mut kept = Retained::default();
                for_each_batch(&store, &file, &columns, None, |batch| {
                    let cols = rowhash::select(batch, &columns)?;
                    let all = rowhash::hash_rows(&cols)?;
                    if n == 0 && kept.batch.is_none() {
                        for (row, h) in all.iter().enumerate() {
                            if slice.keeps(*h) {
                                kept.rows.entry(*h).or_insert(row);
                            }
                        }
                        kept.batch = Some(batch.clone());
                    }
                    hashes.extend(all.into_iter().filter(|h| slice.keeps(*h)));
                    Ok(true)
                })
                .await?;
                Ok::<_, QueryError>((hashes, kept))
            })
        })
        .buffer_unordered(workers())
        .map(|joined| joined.map_err(|e| QueryError::Internal(e.to_string()))?);
    while let Some(part) = parts.next().await {
        let (hashes, kept) = part?;
        table.extend(hashes);
        if kept.batch.is_some() {
            retained = kept;
        }
    }
    table.sort_unstable();
    Ok((table, retained))
}

/// Probe the destination's planned row groups against `table`, marking the first of each
/// run of equal hashes that the destination has; returns up to `want` sample rows, and how
/// many row-hash indexes it built (with `build_kind`, for files it decoded whole).
#[allow(clippy::too_many_arguments)]
async fn probe(
    store: &RefStore,
    plan: &[(OpenFile, Vec<usize>)],
    columns: &Arc<Vec<String>>,
    table: &Arc<HashTable>,
    marks: &Arc<Vec<AtomicU64>>,
    slice: Slice,
    want: usize,
    build_kind: Option<&str>,
) -> Result<(Vec<SampleRow>, u64)> {
    let build_kind = build_kind.map(str::to_string);
    let results: Vec<(Vec<SampleRow>, bool)> = futures::stream::iter(plan.to_vec())
        .map(|(file, groups)| {
            let (store, columns, table, marks) = (
                store.clone(),
                Arc::clone(columns),
                Arc::clone(table),
                Arc::clone(marks),
            );
            // A file read whole yields its index for free.
            let whole = groups.len() == file.parquet().num_row_groups();
            let kind = build_kind.clone().filter(|_| whole && indexable(&file));
            tokio::spawn(async move {
                let mut samples = Vec::new();
                let mut all: Option<Vec<u128>> = kind
                    .as_ref()
                    .map(|_| Vec::with_capacity(file.rows() as usize));
                for_each_batch(&store, &file, &columns, Some(groups), |batch| {
                    let cols = rowhash::select(batch, &columns)?;
                    for (row, h) in rowhash::hash_rows(&cols)?.into_iter().enumerate() {
                        if let Some(all) = all.as_mut() {
                            all.push(h);
                        }
                        if !slice.keeps(h) {
                            continue;
                        }
                        if let Some(at) = table.find(h) {
                            marks[at / 64].fetch_or(1 << (at % 64), Ordering::Relaxed);
                            if samples.len() < want {
                                samples.push(SampleRow {
                                    row: render_row(batch, &columns, row)?,
                                    found_in: file.file.path.clone(),
                                });
                            }
                        }
                    }
                    Ok(true)
                })
                .await?;
                let mut built = false;
                if let (Some(kind), Some(all)) = (kind, all) {
                    // Sorted and stored after the check has answered, off its path: the
                    // first check costs what it did without indexes. One that cannot be
                    // stored only costs the next check a decode.
                    built = true;
                    let (engine, repo) = (store.engine().clone(), store.repo().to_string());
                    let address = file.file.entry.address.clone();
                    tokio::spawn(async move {
                        let built = tokio::task::spawn_blocking(move || {
                            let mut all = all;
                            all.sort_unstable();
                            row_index::build(&all)
                        })
                        .await;
                        if let Ok(Some(built)) = built {
                            let _ = row_index::store(&engine, &repo, &address, &kind, built).await;
                        }
                    });
                }
                Ok::<_, QueryError>((samples, built))
            })
        })
        .buffer_unordered(workers())
        .map(|joined| joined.map_err(|e| QueryError::Internal(e.to_string()))?)
        .try_collect()
        .await?;
    let built = results.iter().filter(|(_, b)| *b).count() as u64;
    let samples = results
        .into_iter()
        .flat_map(|(s, _)| s)
        .take(want)
        .collect();
    Ok((samples, built))
}

/// What probing through indexes did: samples, index bytes read, how many files had an
/// index, and the planned files that have none (to be decoded).
struct IndexedProbe {
    samples: Vec<SampleRow>,
    bytes: u64,
    files: u64,
    to_decode: Vec<(OpenFile, Vec<usize>)>,
}

/// Probe the planned destination files that have a row-hash index through it, one file's
/// index in memory at a time: no row is decoded, but for the samples shown (read back from
/// the file that has them). A change much smaller than a file asks the file's filter for
/// each of its hashes and reads only the blocks where the filter said "maybe"; a larger one
/// reads the blocks whole. The files without an index come back to be decoded.
#[allow(clippy::too_many_arguments)]
async fn probe_indexed(
    store: &RefStore,
    plan: &[(OpenFile, Vec<usize>)],
    kind: &str,
    columns: &[String],
    table: &HashTable,
    marks: &[AtomicU64],
    retained: &Retained,
    want: usize,
) -> Result<IndexedProbe> {
    let (engine, repo) = (store.engine(), store.repo());
    let mut samples = Vec::new();
    let hashes = &table.hashes;
    let distinct = (0..hashes.len())
        .filter(|&i| i == 0 || hashes[i] != hashes[i - 1])
        .count() as u64;
    let mut to_show: Vec<(usize, u128)> = Vec::new();
    let mut indexed: Vec<&OpenFile> = Vec::new();
    let (mut bytes, mut to_decode) = (0, Vec::new());
    for (file, groups) in plan {
        let address = &file.file.entry.address;
        let filter = match indexable(file) {
            true => row_index::load_filter(engine, repo, address, kind, file.rows()).await?,
            false => None,
        };
        let Some(filter) = filter else {
            to_decode.push((file.clone(), groups.clone()));
            continue;
        };
        let mut read = filter.bytes();
        // Positions in `hashes` (first of their run) that the file holds.
        let mut hits: Vec<usize> = Vec::new();
        let mut complete = true;
        if distinct.saturating_mul(4) < file.rows() {
            let mut candidates: Vec<Vec<usize>> = vec![Vec::new(); row_index::BLOCKS];
            for i in 0..hashes.len() {
                let h = hashes[i];
                if (i == 0 || h != hashes[i - 1]) && filter.may_contain(h) {
                    candidates[row_index::block_of(h)].push(i);
                }
            }
            for (b, wanted) in candidates.iter().enumerate() {
                if wanted.is_empty() {
                    continue;
                }
                let Some(block) = row_index::load_block(engine, repo, address, kind, b).await?
                else {
                    complete = false;
                    break;
                };
                read += block.len() as u64 * 16;
                // Both sorted: one walk.
                let mut at = 0;
                for &i in wanted {
                    at += block[at..].partition_point(|x| *x < hashes[i]);
                    if block.get(at) == Some(&hashes[i]) {
                        hits.push(i);
                    }
                }
            }
        } else {
            for b in 0..row_index::BLOCKS {
                let Some(block) = row_index::load_block(engine, repo, address, kind, b).await?
                else {
                    complete = false;
                    break;
                };
                read += block.len() as u64 * 16;
                // The table holds this pass's slice only: other hashes are not found.
                hits.extend(block.iter().filter_map(|h| table.find(*h)));
            }
        }
        if !complete {
            to_decode.push((file.clone(), groups.clone()));
            continue;
        }
        bytes += read;
        let i = indexed.len();
        indexed.push(file);
        // Samples: rows of the change kept aside first (rendered without decoding), then
        // rows read back from this file.
        for &at in &hits {
            marks[at / 64].fetch_or(1 << (at % 64), Ordering::Relaxed);
            let h = hashes[at];
            if samples.len() + to_show.len() >= want
                || samples.iter().any(|(s, _): &(u128, SampleRow)| *s == h)
            {
                continue;
            }
            if let (Some(batch), Some(&row)) = (&retained.batch, retained.rows.get(&h)) {
                let row = render_row(batch, columns, row)?;
                let found_in = file.file.path.clone();
                samples.push((h, SampleRow { row, found_in }));
            }
        }
        for &at in &hits {
            let h = hashes[at];
            if samples.len() + to_show.len() >= want {
                break;
            }
            if !samples.iter().any(|(s, _)| *s == h) && !to_show.iter().any(|(_, s)| *s == h) {
                to_show.push((i, h));
            }
        }
    }
    let mut samples: Vec<SampleRow> = samples.into_iter().map(|(_, s)| s).collect();
    for (i, file) in indexed.iter().copied().enumerate() {
        let wanted: Vec<u128> = to_show
            .iter()
            .filter(|(f, _)| *f == i)
            .map(|(_, h)| *h)
            .collect();
        if wanted.is_empty() {
            continue;
        }
        for row in render_hashes(store, std::slice::from_ref(file), columns, &wanted).await? {
            samples.push(SampleRow {
                row,
                found_in: file.file.path.clone(),
            });
        }
    }
    Ok(IndexedProbe {
        samples,
        bytes,
        files: indexed.len() as u64,
        to_decode,
    })
}

/// The largest file (in rows) whose index a check builds as it reads it.
const MAX_INDEXED_ROWS: u64 = 8 << 20;

/// Whether a file may have an index: one stored object of our own (not assembled from
/// parts, not an imported source that could change under it), not too large.
fn indexable(file: &OpenFile) -> bool {
    let address = &file.file.entry.address;
    !address.is_empty() && !address.contains("://") && file.rows() <= MAX_INDEXED_ROWS
}

/// One row of `batch` (the `columns`) as a JSON object.
fn render_row(batch: &RecordBatch, columns: &[String], row: usize) -> Result<serde_json::Value> {
    let indices = columns
        .iter()
        .map(|c| batch.schema().index_of(c))
        .collect::<Result<Vec<_>, _>>()?;
    let one = batch.project(&indices)?.slice(row, 1);
    let mut writer = arrow::json::ArrayWriter::new(Vec::new());
    writer.write(&one)?;
    writer.finish()?;
    let bytes = writer.into_inner();
    let mut rows: Vec<serde_json::Value> = serde_json::from_slice(&bytes)
        .map_err(|e| QueryError::Internal(format!("row as JSON: {e}")))?;
    Ok(rows.pop().unwrap_or(serde_json::Value::Null))
}

/// The first `n` rows of a file.
async fn first_rows(
    store: &RefStore,
    file: &OpenFile,
    columns: &[String],
    n: usize,
) -> Result<Vec<serde_json::Value>> {
    let mut rows = Vec::new();
    for_each_batch(store, file, columns, None, |batch| {
        for r in 0..batch.num_rows().min(n - rows.len()) {
            rows.push(render_row(batch, columns, r)?);
        }
        Ok(rows.len() < n)
    })
    .await?;
    Ok(rows)
}

/// Rows of the change whose hash is one of `wanted` (one row per hash).
async fn render_hashes(
    store: &RefStore,
    files: &[OpenFile],
    columns: &[String],
    wanted: &[u128],
) -> Result<Vec<serde_json::Value>> {
    let mut found: HashMap<u128, serde_json::Value> = HashMap::new();
    for file in files {
        for_each_batch(store, file, columns, None, |batch| {
            let cols = rowhash::select(batch, columns)?;
            for (row, h) in rowhash::hash_rows(&cols)?.into_iter().enumerate() {
                if wanted.contains(&h) && !found.contains_key(&h) {
                    found.insert(h, render_row(batch, columns, row)?);
                }
            }
            Ok(found.len() < wanted.len())
        })
        .await?;
        if found.len() == wanted.len() {
            break;
        }
    }
    Ok(wanted.iter().filter_map(|h| found.remove(h)).collect())
}

#[cfg(test)]
mod tests {
    use super::HashTable;

    #[test]
    fn the_bucket_index_finds_first_occurrences() {
        let mut hashes: Vec<u128> = (0..10_000u128)
            .map(|i| i.wrapping_mul(0x9E37_79B9_7F4A_7C15_F39C_C060_5CED_C835))
            .collect();
        hashes.extend_from_within(..100);
        hashes.push(0);
        hashes.push(u128::MAX);
        hashes.sort_unstable();
        let table = HashTable::new(hashes.clone());
        for (i, h) in hashes.iter().enumerate() {
            let found = table.find(*h).expect("present");
            assert_eq!(hashes[found], *h);
            assert!(found <= i && (found == 0 || hashes[found - 1] != *h));
        }
        assert_eq!(table.find(12345), None);
        assert_eq!(HashTable::new(Vec::new()).find(7), None);
    }
}
