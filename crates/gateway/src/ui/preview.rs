//! A Parquet file's or folder's preview: the schema and row count from the footers (the
//! same survey `sluice count` makes) and the first rows of the first file.

use futures::StreamExt;
use maud::{Markup, html};
use sluice_meta::Engine;
use sluice_query::RefStore;
use sluice_query::count::survey;
use sluice_query::parquet_file;

use super::UiError;
use super::layout::{count, size};

/// Rows shown.
const FIRST_ROWS: usize = 10;

/// What a preview shows.
pub(crate) struct Preview {
    pub rows: u64,
    pub files: u64,
    pub bytes: u64,
    /// Name, type, nullable.
    pub schema: Vec<(String, String, bool)>,
    pub columns: Vec<String>,
    pub first_rows: Vec<serde_json::Value>,
    /// Files that could not be read, and why.
    pub problems: Vec<(String, String)>,
}

/// The preview of `prefix` (a folder or one Parquet file) on `reference`; `None` when it
/// holds no Parquet file.
pub(crate) async fn preview(
    engine: &Engine,
    repo: &str,
    reference: &str,
    prefix: &str,
) -> Result<Option<Preview>, UiError> {
    let surveyed = survey(engine, repo, reference, prefix, false).await?;
    let report = surveyed.report;
    let problems: Vec<(String, String)> = report
        .problems
        .iter()
        .map(|p| (p.path.clone(), p.error.clone()))
        .collect();
    let Some(first) = surveyed.files.first() else {
        if problems.is_empty() {
            return Ok(None);
        }
        return Ok(Some(Preview {
            rows: 0,
            files: 0,
            bytes: 0,
            schema: Vec::new(),
            columns: Vec::new(),
            first_rows: Vec::new(),
            problems,
        }));
    };
    let schema: Vec<(String, String, bool)> = first
        .schema()
        .fields()
        .iter()
        .map(|f| (f.name().clone(), f.data_type().to_string(), f.is_nullable()))
        .collect();
    let columns = schema.iter().map(|(n, _, _)| n.clone()).collect();
    let mut first_rows = Vec::new();
    if first.rows() > 0 {
        let store = RefStore::new(engine.clone(), repo, reference);
        let mut stream = parquet_file::batches(&store, first, None, Some(vec![0]))
            .map_err(|e| UiError::new(http::StatusCode::INTERNAL_SERVER_ERROR, e))?;
        if let Some(batch) = stream.next().await {
            let batch = batch.map_err(|e| {
                UiError::new(http::StatusCode::INTERNAL_SERVER_ERROR, e.to_string())
            })?;
            let batch = batch.slice(0, batch.num_rows().min(FIRST_ROWS));
            let mut writer = arrow::json::ArrayWriter::new(Vec::new());
            let written = writer.write(&batch).and_then(|()| writer.finish());
            if written.is_ok() {
                first_rows = serde_json::from_slice(&writer.into_inner()).unwrap_or_default();
            }
        }
    }
    Ok(Some(Preview {
        rows: report.rows,
        files: report.files,
        bytes: report.bytes,
        schema,
        columns,
        first_rows,
        problems,
    }))
}

/// A JSON value as a table cell's text.
pub(crate) fn cell(v: Option<&serde_json::Value>) -> String {
    match v {
        None | Some(serde_json::Value::Null) => String::new(),
        Some(serde_json::Value::String(s)) => s.clone(),
        Some(other) => other.to_string(),
    }
}

/// Rows as a table with `columns`.
pub(crate) fn rows_table(columns: &[String], rows: &[serde_json::Value]) -> Markup {
    html! {
        div.scroll {
            table.rows {
                thead { tr { @for c in columns { th scope="col" { (c) } } } }
                tbody {
                    @for row in rows {
                        tr { @for c in columns { td { (cell(row.get(c))) } } }
                    }
                }
            }
        }
    }
}

pub(crate) fn render(p: &Preview) -> Markup {
    html! {
        section.card.preview aria-label="Table preview" {
            h2 { "Table preview" }
            p.figures {
                strong.rows { (count(p.rows)) " rows" } " in " (count(p.files))
                @if p.files == 1 { " Parquet file" } @else { " Parquet files" }
                " (" (size(p.bytes)) "), counted from the footers"
            }
            @if !p.problems.is_empty() {
                div.flash.error role="alert" {
                    strong { "Files that could not be read: " }
                    ul { @for (path, error) in &p.problems { li { code { (path) } ": " (error) } } }
                }
            }
            @if !p.schema.is_empty() {
                details open {
                    summary { "Schema (" (p.schema.len()) " columns)" }
                    table.schema {
                        thead { tr { th { "Column" } th { "Type" } th { "Nullable" } } }
                        tbody {
                            @for (name, ty, nullable) in &p.schema {
                                tr { td { code { (name) } } td { (ty) } td { @if *nullable { "yes" } @else { "no" } } }
                            }
                        }
                    }
                }
            }
            @if !p.first_rows.is_empty() {
                h3 { "First rows" }
                (rows_table(&p.columns, &p.first_rows))
            }
        }
    }
}
