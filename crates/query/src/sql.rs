//! Ad-hoc SQL over a ref: each folder of Parquet files becomes a table, read through the
//! ref's `ObjectStore` by DataFusion's listing tables. Hive partition folders (`k=v`) are
//! columns of their table, as Spark reads them.

use std::collections::BTreeSet;
use std::sync::Arc;

use arrow::datatypes::DataType;
use datafusion::common::TableReference;
use datafusion::datasource::file_format::parquet::ParquetFormat;
use datafusion::datasource::listing::{
    ListingOptions, ListingTable, ListingTableConfig, ListingTableUrl,
};
use datafusion::execution::context::SQLOptions;
use datafusion::prelude::SessionContext;
use futures::StreamExt;
use serde::Serialize;
use sluice_meta::Engine;

use crate::error::{QueryError, Result};
use crate::files::{self, View};
use crate::ref_store::RefStore;

/// The URL the ref's store is registered under inside one query's session.
const STORE_URL: &str = "sluice://ref/";

/// A column of a result.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Column {
    /// Its name.
    pub name: String,
    /// Its Arrow type.
    #[serde(rename = "type")]
    pub data_type: String,
}

/// A query's answer.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct SqlResult {
    /// The tables the ref offered.
    pub tables: Vec<String>,
    /// The result's columns.
    pub columns: Vec<Column>,
    /// Rows as JSON objects.
    pub rows: Vec<serde_json::Value>,
    /// Whether rows beyond `max_rows` were left out.
    pub truncated: bool,
}

/// The table a data file belongs to: its folder, less trailing `k=v` partition folders.
pub fn table_of(path: &str) -> Option<String> {
    let mut parts: Vec<&str> = path.split('/').collect();
    parts.pop();
    while parts.last().is_some_and(|p| p.contains('=')) {
        parts.pop();
    }
    (!parts.is_empty()).then(|| parts.join("/"))
}

/// Run `query` on `reference`; at most `max_rows` rows come back. Only queries run: DDL,
/// DML and session statements are refused.
pub async fn run_sql(
    engine: &Engine,
    repo: &str,
    reference: &str,
    query: &str,
    max_rows: usize,
) -> Result<SqlResult> {
    run_sql_in(
        engine,
        repo,
        &View::Ref(reference.to_string()),
        query,
        max_rows,
    )
    .await
}

/// [`run_sql`] on any view: a ref, or a tree such as the one a merge would produce.
pub async fn run_sql_in(
    engine: &Engine,
    repo: &str,
    view: &View,
    query: &str,
    max_rows: usize,
) -> Result<SqlResult> {
    let listing = files::list_view_data_files(engine, repo, view, "").await?;
    let data_files = listing.files;
    files::require_plain_rows(&data_files, "SQL")?;
    let tables: BTreeSet<String> = data_files
        .iter()
        .filter_map(|f| table_of(&f.path))
        .collect();
    let store = RefStore::over(engine.clone(), repo, view.clone()).showing_only(&data_files);
    let ctx = session()?;
    let url = url::Url::parse(STORE_URL).map_err(|e| QueryError::Internal(e.to_string()))?;
    ctx.register_object_store(&url, Arc::new(store));
    let state = ctx.state();
    for table in &tables {
        let table_url = ListingTableUrl::parse(format!("{STORE_URL}{table}/"))?;
        let base =
            ListingOptions::new(Arc::new(ParquetFormat::default())).with_file_extension(".parquet");
        // A Delta table's partition columns are its log's; elsewhere the folders' names.
        let delta = listing
            .tables
            .iter()
            .find(|t| t.path == format!("{table}/"));
        let partitions = match delta {
            Some(t) => t.partition_columns.clone(),
            None => base.infer_partitions(&state, &table_url).await?,
        };
        let options = base.with_table_partition_cols(
            partitions
                .into_iter()
                .map(|p| (p, DataType::Utf8))
                .collect(),
        );
        let schema = options.infer_schema(&state, &table_url).await?;
        let config = ListingTableConfig::new(table_url)
            .with_listing_options(options)
            .with_schema(schema);
        let provider = ListingTable::try_new(config)?;
        ctx.register_table(TableReference::bare(table.as_str()), Arc::new(provider))?;
    }
    let options = SQLOptions::new()
        .with_allow_ddl(false)
        .with_allow_dml(false)
        .with_allow_statements(false);
    let frame = ctx.sql_with_options(query, options).await?;
    let schema = frame.schema().as_arrow().clone();
    let mut stream = frame.execute_stream().await?;
    let mut writer = arrow::json::ArrayWriter::new(Vec::new());
    let mut taken = 0;
    let mut truncated = false;
    while let Some(batch) = stream.next().await {
        let batch = batch?;
        let room = max_rows - taken;
        if batch.num_rows() > room {
            truncated = true;
            writer.write(&batch.slice(0, room))?;
            break;
        }
        taken += batch.num_rows();
        writer.write(&batch)?;
    }
    writer.finish()?;
    let bytes = writer.into_inner();
    let rows: Vec<serde_json::Value> = if bytes.is_empty() {
        Vec::new()
    } else {
        serde_json::from_slice(&bytes)
            .map_err(|e| QueryError::Internal(format!("rows as JSON: {e}")))?
    };
    Ok(SqlResult {
        tables: tables.into_iter().collect(),
        columns: schema
            .fields()
            .iter()
            .map(|f| Column {
                name: f.name().clone(),
                data_type: f.data_type().to_string(),
            })
            .collect(),
        rows,
        truncated,
    })
}

/// The variable that bounds the memory one query's operators may hold.
pub const MEMORY_VARIABLE: &str = "SLUICE_QUERY_MEMORY_BYTES";

/// A DataFusion session whose operators may hold at most `SLUICE_QUERY_MEMORY_BYTES`
/// (1 GiB unless set): a query that needs more fails with DataFusion's "resources
/// exhausted" instead of taking the sidecar's memory from S3 requests.
pub fn session() -> Result<SessionContext> {
    let limit = std::env::var(MEMORY_VARIABLE)
        .ok()
        .and_then(|v| v.parse::<usize>().ok())
        .filter(|n| *n > 0)
        .unwrap_or(1 << 30);
    let runtime = datafusion::execution::runtime_env::RuntimeEnvBuilder::new()
        .with_memory_limit(limit, 1.0)
        .build_arc()?;
    Ok(SessionContext::new_with_config_rt(
        datafusion::prelude::SessionConfig::new(),
        runtime,
    ))
}

#[cfg(test)]
mod tests {
    use super::table_of;

    #[test]
    fn tables_are_folders_less_partitions() {
        assert_eq!(
            table_of("reviews/part-0.parquet").as_deref(),
            Some("reviews")
        );
        assert_eq!(
            table_of("reviews/year=2024/m=1/p.parquet").as_deref(),
            Some("reviews")
        );
        assert_eq!(table_of("db/t/p.parquet").as_deref(), Some("db/t"));
        assert_eq!(table_of("p.parquet"), None);
    }
}
