//! Two refs side by side under one prefix: rows on each side and at their merge base, the
//! rows the right side's change adds and removes, the duplicates it brings, and how the
//! schema differs. `left` plays the destination, `right` the source, as in a merge.

use std::collections::{BTreeMap, HashSet};

use serde::Serialize;
use sluice_meta::Engine;

use crate::count::{self, DeltaTableVersion, FileProblem, Survey};
use crate::duplicates::{self, DuplicateOptions, DuplicateReport};
use crate::error::{QueryError, Result};
use crate::files::{self, DataFile};
use crate::parquet_file::OpenFile;
use crate::ref_store::RefStore;
use crate::row_diff::{self, RowDiff, RowDiffOptions};

/// Rows shown per kind of change when a comparison diffs rows.
const ROW_SAMPLES: usize = 20;

/// How to compare.
#[derive(Debug, Clone, Default)]
pub struct CompareOptions {
    /// The folder compared.
    pub prefix: String,
    /// Look for duplicates (the costliest part).
    pub find_duplicates: bool,
    /// Duplicate detection settings.
    pub duplicates: DuplicateOptions,
    /// The commit the change is measured from; `None`: the merge base of the two refs.
    pub base: Option<String>,
    /// Also diff the change's rows against the base (rows added, removed and, with the
    /// duplicate check's key columns, changed), reading only the files the change touched.
    pub rows: bool,
}

/// Figures of one side.
#[derive(Debug, Clone, Serialize, Default, PartialEq)]
pub struct Side {
    /// The ref.
    pub reference: String,
    /// Rows.
    pub rows: u64,
    /// Parquet files.
    pub files: u64,
    /// Bytes.
    pub bytes: u64,
    /// The Delta tables read on this side, with the version each was read at.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub delta_tables: Vec<DeltaTableVersion>,
}

/// What the right side changed since the base.
#[derive(Debug, Clone, Serialize, Default, PartialEq)]
pub struct ChangeSummary {
    /// Files new or rewritten on the right.
    pub files_added: u64,
    /// Files removed or rewritten on the right.
    pub files_removed: u64,
    /// Rows in the added files.
    pub rows_added: u64,
    /// Rows in the removed files (as the base had them).
    pub rows_removed: u64,
}

/// A column whose type differs.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct TypeChange {
    /// The column.
    pub column: String,
    /// Its type on the left.
    pub left: String,
    /// Its type on the right.
    pub right: String,
}

/// How the right side's columns differ from the left's.
#[derive(Debug, Clone, Serialize, Default, PartialEq)]
pub struct SchemaDiff {
    /// Columns only on the right.
    pub added: Vec<String>,
    /// Columns only on the left.
    pub removed: Vec<String>,
    /// Columns on both with different types.
    pub changed: Vec<TypeChange>,
}

impl SchemaDiff {
    /// Whether the schemas are the same.
    pub fn is_empty(&self) -> bool {
        self.added.is_empty() && self.removed.is_empty() && self.changed.is_empty()
    }
}

/// The comparison.
#[derive(Debug, Clone, Serialize, Default, PartialEq)]
pub struct CompareReport {
    /// Repository.
    pub repository: String,
    /// The folder compared.
    pub prefix: String,
    /// The destination side.
    pub left: Side,
    /// The source side.
    pub right: Side,
    /// The merge base.
    pub base: Side,
    /// The right side's change since the base.
    pub change: ChangeSummary,
    /// Rows the left would have after merging the right: left + added - removed.
    pub rows_after_merge: u64,
    /// Duplicates the change brings.
    pub duplicates: DuplicateReport,
    /// Columns of the right against the left.
    pub schema: SchemaDiff,
    /// The change's rows against the base, when asked for.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rows: Option<RowDiff>,
    /// Files that could not be read on either side; with any, the figures are incomplete.
    pub problems: Vec<FileProblem>,
}

fn side(s: &Survey) -> Side {
    Side {
        reference: s.report.reference.clone(),
        rows: s.report.rows,
        files: s.report.files,
        bytes: s.report.bytes,
        delta_tables: s.report.delta_tables.clone(),
    }
}

/// Column name -> type, over every file of a side.
fn columns(files: &[OpenFile]) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    for f in files {
        for field in f.schema().fields() {
            out.entry(field.name().clone())
                .or_insert_with(|| field.data_type().to_string());
        }
    }
    out
}

/// The schema of `right` against `left`.
pub fn schema_diff(left: &[OpenFile], right: &[OpenFile]) -> SchemaDiff {
    let (l, r) = (columns(left), columns(right));
    let mut diff = SchemaDiff::default();
    for (name, ty) in &r {
        match l.get(name) {
            None => diff.added.push(name.clone()),
            Some(lt) if lt != ty => diff.changed.push(TypeChange {
                column: name.clone(),
                left: lt.clone(),
                right: ty.clone(),
            }),
            _ => {}
        }
    }
    diff.removed = l.keys().filter(|n| !r.contains_key(*n)).cloned().collect();
    diff
}

/// The opened files among `surveyed` that are at the paths of `wanted`.
fn pick(surveyed: &[OpenFile], wanted: &[DataFile]) -> Vec<OpenFile> {
    let paths: HashSet<&str> = wanted.iter().map(|f| f.path.as_str()).collect();
    surveyed
        .iter()
        .filter(|f| paths.contains(f.file.path.as_str()))
        .cloned()
        .collect()
}

/// Compare `right` (the source) with `left` (the destination) under `options.prefix`.
pub async fn compare(
    engine: &Engine,
    repo: &str,
    left: &str,
    right: &str,
    options: &CompareOptions,
) -> Result<CompareReport> {
    let prefix = files::folder_prefix(&options.prefix);
    let base = match &options.base {
        Some(b) => b.clone(),
        None => engine
            .merge_base(repo, left, right)
            .await?
            .ok_or_else(|| {
                QueryError::invalid(format!("{left:?} and {right:?} have no common ancestor"))
            })?
            .to_string(),
    };
    let left_survey = count::survey(engine, repo, left, &prefix, false).await?;
    let right_survey = count::survey(engine, repo, right, &prefix, false).await?;
    let base_survey = count::survey(engine, repo, &base, &prefix, false).await?;
    let change = files::change_since(engine, repo, &base, right, &prefix).await?;

    let mut report = CompareReport {
        repository: repo.to_string(),
        prefix: prefix.clone(),
        left: side(&left_survey),
        right: side(&right_survey),
        base: side(&base_survey),
        schema: schema_diff(&left_survey.files, &right_survey.files),
        ..CompareReport::default()
    };
    for s in [&left_survey, &right_survey, &base_survey] {
        report.problems.extend(s.report.problems.iter().cloned());
    }
    // Every footer was read once, by the surveys; the change picks its files from them
    // (a file whose footer failed is among the problems already).
    let added = pick(&right_survey.files, &change.added);
    let removed = pick(&base_survey.files, &change.removed);
    report.change.files_added = change.added.len() as u64;
    report.change.files_removed = change.removed.len() as u64;
    report.change.rows_added = added.iter().map(OpenFile::rows).sum();
    report.change.rows_removed = removed.iter().map(OpenFile::rows).sum();
    report.rows_after_merge =
        (report.left.rows + report.change.rows_added).saturating_sub(report.change.rows_removed);

    if options.find_duplicates {
        // The destination as the merge would leave it, less the files the change brings:
        // files that the change rewrites or removes are not there any more.
        let touched: HashSet<&str> = change.touched().collect();
        let destination: Vec<OpenFile> = left_survey
            .files
            .iter()
            .filter(|f| !touched.contains(f.file.path.as_str()))
            .cloned()
            .collect();
        report.duplicates = duplicates::find_duplicates(
            &RefStore::new(engine.clone(), repo, right),
            added,
            &RefStore::new(engine.clone(), repo, left),
            destination,
            &options.duplicates,
        )
        .await?;
    }
    if options.rows {
        let rows = RowDiffOptions {
            prefix: prefix.clone(),
            key_columns: options.duplicates.key_columns.clone().unwrap_or_default(),
            samples: ROW_SAMPLES,
        };
        report.rows = Some(row_diff::row_diff(engine, repo, &base, right, &rows).await?);
    }
    report.problems.sort_by(|a, b| a.path.cmp(&b.path));
    report.problems.dedup();
    Ok(report)
}
