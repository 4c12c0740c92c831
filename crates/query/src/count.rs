//! Row counts of the Parquet files under a prefix of a ref: from footers alone, or verified
//! by decoding every row.

use futures::{StreamExt, TryStreamExt};
use serde::Serialize;
use sluice_meta::Engine;

use crate::error::{QueryError, Result};
use crate::files::{self, DataFile};
use crate::parquet_file::{self, OpenFile};
use crate::ref_store::RefStore;

/// Footers read at once (each is one small ranged read).
const FOOTER_CONCURRENCY: usize = 32;

/// A file that could not be counted.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct FileProblem {
    /// Its logical path.
    pub path: String,
    /// What is wrong.
    pub error: String,
}

/// The count of a prefix.
#[derive(Debug, Clone, Serialize, Default, PartialEq)]
pub struct CountReport {
    /// Repository.
    pub repository: String,
    /// The ref as asked.
    pub reference: String,
    /// The folder counted.
    pub prefix: String,
    /// Rows in the files that could be read.
    pub rows: u64,
    /// Parquet files counted.
    pub files: u64,
    /// Their bytes.
    pub bytes: u64,
    /// Their row groups.
    pub row_groups: u64,
    /// Objects under the prefix that are not data files (markers, hidden files, other formats,
    /// a Delta table's log and the files it no longer holds).
    pub skipped_objects: u64,
    /// `"delta"` when the prefix is a Delta table (or inside one), else `"parquet"`.
    pub format: TableFormat,
    /// The Delta table version read, when `format` is `"delta"`.
    pub version: Option<u64>,
    /// Every Delta table counted under the prefix, with the version read (its live files
    /// are counted, not every file in its folder).
    pub delta_tables: Vec<DeltaTableVersion>,
    /// True only when verification was asked for and every data file under the prefix was
    /// decoded and agreed with its footer: one problem makes it false.
    pub verified: bool,
    /// Data files decoded row by row and found to agree with their footers (0 unless
    /// verification was asked for).
    pub verified_files: u64,
    /// Files that could not be read, or whose data disagrees with their footer; their rows
    /// are not in `rows`.
    pub problems: Vec<FileProblem>,
}

/// How the prefix was read.
#[derive(Debug, Clone, Copy, Serialize, Default, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum TableFormat {
    /// A folder of Parquet files, read by Spark's rules.
    #[default]
    Parquet,
    /// A Delta Lake table: the files its log holds live.
    Delta,
}

/// A Delta table and the version of it that was read.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct DeltaTableVersion {
    /// The table's folder.
    pub path: String,
    /// The table version.
    pub version: u64,
    /// Rows of its live files that deletion vectors remove (already left out of `rows`).
    pub deleted_rows: u64,
}

/// Read the footers of `files`, `concurrency` at a time, in order; a file that fails is a
/// problem, not an error.
pub async fn open_all(
    store: &RefStore,
    files: Vec<DataFile>,
) -> Vec<Result<OpenFile, FileProblem>> {
    futures::stream::iter(files)
        .map(|file| async move {
            parquet_file::open(store, &file)
                .await
                .map_err(|error| FileProblem {
                    path: file.path.clone(),
                    error,
                })
        })
        .buffered(FOOTER_CONCURRENCY)
        .collect()
        .await
}

/// Decode every row of `open` and check the count against its footer.
pub async fn verify_file(store: &RefStore, open: &OpenFile) -> Result<(), String> {
    let stream = parquet_file::batches_as_views(store, open)?;
    let decoded: u64 = stream
        .map_ok(|b| b.num_rows() as u64)
        .try_fold(0, |n, rows| async move { Ok(n + rows) })
        .await
        .map_err(|e| e.to_string())?;
    if decoded != open.footer_rows() {
        return Err(format!(
            "footer says {} rows but {decoded} decoded",
            open.footer_rows()
        ));
    }
    Ok(())
}

/// A prefix of a ref, surveyed: the count and the files whose footers were read.
pub struct Survey {
    /// The count.
    pub report: CountReport,
    /// The data files that count, footers read.
    pub files: Vec<OpenFile>,
}

/// Count rows, files and bytes under `prefix` on `reference`; with `verify`, decode every
/// row too (files in parallel, one per core).
pub async fn count(
    engine: &Engine,
    repo: &str,
    reference: &str,
    prefix: &str,
    verify: bool,
) -> Result<CountReport> {
    Ok(survey(engine, repo, reference, prefix, verify)
        .await?
        .report)
}

/// [`count`], keeping the opened files for further checks.
pub async fn survey(
    engine: &Engine,
    repo: &str,
    reference: &str,
    prefix: &str,
    verify: bool,
) -> Result<Survey> {
    let prefix = files::folder_prefix(prefix);
    let listing = files::list_data_files(engine, repo, reference, &prefix).await?;
    let store = RefStore::new(engine.clone(), repo, reference);
    // The prefix is one table when the table's folder is the prefix or holds it.
    let table = listing.tables.iter().find(|t| prefix.starts_with(&t.path));
    let mut report = CountReport {
        repository: repo.to_string(),
        reference: reference.to_string(),
        prefix: prefix.clone(),
        skipped_objects: listing.skipped,
        format: if table.is_some() {
            TableFormat::Delta
        } else {
            TableFormat::Parquet
        },
        version: table.map(|t| t.version),
        delta_tables: listing
            .tables
            .iter()
            .map(|t| DeltaTableVersion {
                path: t.path.clone(),
                version: t.version,
                deleted_rows: listing
                    .files
                    .iter()
                    .filter(|f| f.delta.as_ref().is_some_and(|d| d.table == t.path))
                    .map(DataFile::deleted_rows)
                    .sum(),
            })
            .collect(),
        ..CountReport::default()
    };
    report
        .problems
        .extend(listing.missing.into_iter().map(|path| FileProblem {
            path,
            error: "the Delta log holds this file live, but the ref does not have it".into(),
        }));
    let opened = open_all(&store, listing.files).await;
    let mut good = Vec::new();
    for o in opened {
        match o {
            Ok(open) => good.push(open),
            Err(problem) => report.problems.push(problem),
        }
    }
    if verify {
        let workers = std::thread::available_parallelism().map_or(2, |n| n.get());
        let checked: Vec<(OpenFile, Result<(), String>)> = futures::stream::iter(good)
            .map(|open| {
                let store = store.clone();
                tokio::spawn(async move {
                    let outcome = verify_file(&store, &open).await;
                    (open, outcome)
                })
            })
            .buffered(workers)
            .try_collect()
            .await
            .map_err(|e| QueryError::Internal(e.to_string()))?;
        good = Vec::new();
        for (open, outcome) in checked {
            match outcome {
                Ok(()) => good.push(open),
                Err(error) => report.problems.push(FileProblem {
                    path: open.file.path.clone(),
                    error,
                }),
            }
        }
    }
    for open in &good {
        report.rows += open.rows();
        report.files += 1;
        report.bytes += open.file.entry.size;
        report.row_groups += open.parquet().num_row_groups() as u64;
    }
    report.problems.sort_by(|a, b| a.path.cmp(&b.path));
    if verify {
        report.verified_files = report.files;
        report.verified = report.problems.is_empty();
    }
    Ok(Survey {
        report,
        files: good,
    })
}
