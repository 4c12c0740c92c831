//! Row-level diff between two refs of one table folder: rows added and removed, and with
//! key columns, rows changed with the columns that changed; schema differences; samples.
//!
//! Only the files that differ between the refs are read: a file both refs share holds the
//! same rows on both sides, so it cancels out of a multiset difference. The difference is
//! a DataFusion query over the two sets of files: each side's rows grouped and counted,
//! joined null-safely on every compared column, so a row that appears twice on one side and
//! once on the other is one row added (DataFusion's `EXCEPT ALL` is an anti-join, which
//! would say none). Columns whose type differs between the sides are reported and left out
//! of the comparison; a column only one side has is compared as null on the other.

use std::collections::BTreeMap;
use std::sync::Arc;

use datafusion::datasource::file_format::parquet::ParquetFormat;
use datafusion::datasource::listing::{
    ListingOptions, ListingTable, ListingTableConfig, ListingTableUrl,
};
use datafusion::prelude::SessionContext;
use futures::TryStreamExt;
use serde::Serialize;
use sluice_meta::Engine;

use crate::compare::{SchemaDiff, TypeChange};
use crate::error::{QueryError, Result};
use crate::files::{self, DataFile};
use crate::ref_store::RefStore;

/// How to diff.
#[derive(Debug, Clone, Default)]
pub struct RowDiffOptions {
    /// The table's folder.
    pub prefix: String,
    /// Columns that identify a row: with them, an added and a removed row with the same key
    /// are one changed row.
    pub key_columns: Vec<String>,
    /// Rows shown per kind of change.
    pub samples: usize,
}

/// A changed row: its key, and each column's value on each side.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct ChangedRow {
    /// The key columns' values.
    pub key: serde_json::Value,
    /// Column -> `{"left": .., "right": ..}` for the columns that differ.
    pub changes: serde_json::Value,
}

/// Samples of each kind of change.
#[derive(Debug, Clone, Serialize, Default, PartialEq)]
pub struct RowSamples {
    /// Rows only the right side has.
    pub added: Vec<serde_json::Value>,
    /// Rows only the left side has.
    pub removed: Vec<serde_json::Value>,
    /// Rows whose key is on both sides with other values.
    pub changed: Vec<ChangedRow>,
}

/// The row-level difference of `right` against `left`.
#[derive(Debug, Clone, Serialize, Default, PartialEq)]
pub struct RowDiff {
    /// Repository.
    pub repository: String,
    /// The left ref.
    pub left: String,
    /// The right ref.
    pub right: String,
    /// The table's folder.
    pub prefix: String,
    /// The key columns, if any.
    pub key_columns: Vec<String>,
    /// Files read on each side (those that differ between the refs).
    pub files_left: u64,
    /// Files read on the right.
    pub files_right: u64,
    /// Rows only the right side has (less the changed ones, with keys).
    pub rows_added: u64,
    /// Rows only the left side has (less the changed ones, with keys).
    pub rows_removed: u64,
    /// Rows whose key is on both sides with other values (0 without key columns).
    pub rows_changed: u64,
    /// How many changed rows differ in each column.
    pub column_changes: BTreeMap<String, u64>,
    /// Columns added, removed or retyped on the right.
    pub schema: SchemaDiff,
    /// A page of each kind of change.
    pub samples: RowSamples,
}

/// Quote an identifier for SQL.
fn ident(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

/// A side's table over the given files, registered as `name`; its columns and types.
async fn register(
    ctx: &SessionContext,
    name: &str,
    store: RefStore,
    files: &[DataFile],
) -> Result<BTreeMap<String, arrow::datatypes::DataType>> {
    let base = format!("sluice://{name}/");
    let url = url::Url::parse(&base).map_err(|e| QueryError::Internal(e.to_string()))?;
    for f in files {
        store.remember(&f.path, &f.entry);
    }
    ctx.register_object_store(&url, Arc::new(store));
    let options = ListingOptions::new(Arc::new(ParquetFormat::default()));
    let state = ctx.state();
    let mut columns = BTreeMap::new();
    let mut urls = Vec::new();
    for f in files {
        let u = ListingTableUrl::parse(format!("{base}{}", f.path))?;
        let schema = options.infer_schema(&state, &u).await?;
        for field in schema.fields() {
            columns
                .entry(field.name().clone())
                .or_insert_with(|| field.data_type().clone());
        }
        urls.push(u);
    }
    let fields: Vec<arrow::datatypes::Field> = columns
        .iter()
        .map(|(n, t)| arrow::datatypes::Field::new(n, t.clone(), true))
        .collect();
    let schema = Arc::new(arrow::datatypes::Schema::new(fields));
    if urls.is_empty() {
        let empty = datafusion::datasource::empty::EmptyTable::new(schema);
        ctx.register_table(name, Arc::new(empty))?;
    } else {
        let config = ListingTableConfig::new_with_multi_paths(urls)
            .with_listing_options(options)
            .with_schema(schema);
        ctx.register_table(name, Arc::new(ListingTable::try_new(config)?))?;
    }
    Ok(columns)
}

/// Rows of a query as JSON objects.
async fn rows(ctx: &SessionContext, sql: &str) -> Result<Vec<serde_json::Value>> {
    let batches: Vec<_> = ctx
        .sql(sql)
        .await?
        .execute_stream()
        .await?
        .try_collect()
        .await?;
    let mut writer = arrow::json::ArrayWriter::new(Vec::new());
    for b in &batches {
        writer.write(b)?;
    }
    writer.finish()?;
    let bytes = writer.into_inner();
    if bytes.is_empty() {
        return Ok(Vec::new());
    }
    serde_json::from_slice(&bytes).map_err(|e| QueryError::Internal(format!("rows as JSON: {e}")))
}

/// One number a query returns.
async fn number(ctx: &SessionContext, sql: &str) -> Result<u64> {
    let got = rows(ctx, sql).await?;
    Ok(got
        .first()
        .and_then(|r| r.as_object())
        .and_then(|o| o.values().next())
        .and_then(serde_json::Value::as_u64)
        .unwrap_or(0))
}

/// Diff the rows of `right` against `left` under `options.prefix`.
pub async fn row_diff(
    engine: &Engine,
    repo: &str,
    left: &str,
    right: &str,
    options: &RowDiffOptions,
) -> Result<RowDiff> {
    let prefix = files::folder_prefix(&options.prefix);
    let left_commit = engine.resolve_ref(repo, left).await?.commit;
    let change = files::change_since(engine, repo, &left_commit, right, &prefix).await?;
    files::require_plain_rows(change.added.iter().chain(&change.removed), "the row diff")?;
    let ctx = crate::sql::session()?;
    let l_cols = register(
        &ctx,
        "l",
        RefStore::new(engine.clone(), repo, left_commit.as_str()),
        &change.removed,
    )
    .await?;
    let r_cols = register(
        &ctx,
        "r",
        RefStore::new(engine.clone(), repo, right),
        &change.added,
    )
    .await?;

    let mut schema = SchemaDiff::default();
    for (name, ty) in &r_cols {
        match l_cols.get(name) {
            None if !change.removed.is_empty() => schema.added.push(name.clone()),
            Some(lt) if lt != ty => schema.changed.push(TypeChange {
                column: name.clone(),
                left: lt.to_string(),
                right: ty.to_string(),
            }),
            _ => {}
        }
    }
    if !change.added.is_empty() {
        schema.removed = l_cols
            .keys()
            .filter(|n| !r_cols.contains_key(*n))
            .cloned()
            .collect();
    }
    // Compared: every column of either side but the retyped ones.
    let retyped: Vec<&str> = schema.changed.iter().map(|c| c.column.as_str()).collect();
    let compared: Vec<String> = l_cols
        .keys()
        .chain(r_cols.keys())
        .filter(|c| !retyped.contains(&c.as_str()))
        .cloned()
        .collect::<std::collections::BTreeSet<_>>()
        .into_iter()
        .collect();
    for key in &options.key_columns {
        if !compared.contains(key) {
            return Err(QueryError::invalid(format!(
                "key column {key:?} is not a column both sides can compare"
            )));
        }
    }
    let mut report = RowDiff {
        repository: repo.to_string(),
        left: left.to_string(),
        right: right.to_string(),
        prefix,
        key_columns: options.key_columns.clone(),
        files_left: change.removed.len() as u64,
        files_right: change.added.len() as u64,
        schema,
        ..RowDiff::default()
    };
    if compared.is_empty() {
        return Ok(report);
    }
    // A side that lacks a column reads it as null.
    let select = |side: &str, cols: &BTreeMap<String, arrow::datatypes::DataType>| {
        compared
            .iter()
            .map(|c| {
                if cols.contains_key(c) {
                    format!("{side}.{}", ident(c))
                } else {
                    format!("NULL AS {}", ident(c))
                }
            })
            .collect::<Vec<_>>()
            .join(", ")
    };
    let list = compared
        .iter()
        .map(|c| ident(c))
        .collect::<Vec<_>>()
        .join(", ");
    let on = compared
        .iter()
        .map(|c| format!("(rc.{0} IS NOT DISTINCT FROM lc.{0})", ident(c)))
        .collect::<Vec<_>>()
        .join(" AND ");
    let pick = compared
        .iter()
        .map(|c| format!("COALESCE(rc.{0}, lc.{0}) AS {0}", ident(c)))
        .collect::<Vec<_>>()
        .join(", ");
    // Each distinct row with how often each side has it, where the counts differ.
    let diff_sql = format!(
        "WITH rc AS (SELECT {list}, count(*) AS __n FROM (SELECT {rs} FROM r) GROUP BY {list}), \
         lc AS (SELECT {list}, count(*) AS __n FROM (SELECT {ls} FROM l) GROUP BY {list}) \
         SELECT {pick}, COALESCE(rc.__n, 0) AS __right, COALESCE(lc.__n, 0) AS __left \
         FROM rc FULL OUTER JOIN lc ON {on} \
         WHERE COALESCE(rc.__n, 0) <> COALESCE(lc.__n, 0)",
        rs = select("r", &r_cols),
        ls = select("l", &l_cols),
    );
    let frame = ctx.sql(&diff_sql).await?;
    ctx.register_table("d", frame.into_view())?;
    let added = "SELECT * FROM d WHERE __right > __left";
    let removed = "SELECT * FROM d WHERE __left > __right";
    let added_rows = number(
        &ctx,
        "SELECT CAST(COALESCE(SUM(__right - __left), 0) AS BIGINT) FROM d WHERE __right > __left",
    )
    .await?;
    let removed_rows = number(
        &ctx,
        "SELECT CAST(COALESCE(SUM(__left - __right), 0) AS BIGINT) FROM d WHERE __left > __right",
    )
    .await?;
    let strip = |mut v: Vec<serde_json::Value>| {
        for row in &mut v {
            if let Some(o) = row.as_object_mut() {
                o.remove("__right");
                o.remove("__left");
            }
        }
        v
    };
    let n = options.samples;
    if options.key_columns.is_empty() {
        report.rows_added = added_rows;
        report.rows_removed = removed_rows;
        report.samples.added = strip(rows(&ctx, &format!("{added} LIMIT {n}")).await?);
        report.samples.removed = strip(rows(&ctx, &format!("{removed} LIMIT {n}")).await?);
        return Ok(report);
    }
    // With keys: an added and a removed row with the same key are one changed row.
    let key_on = options
        .key_columns
        .iter()
        .map(|k| format!("(a.{0} IS NOT DISTINCT FROM b.{0})", ident(k)))
        .collect::<Vec<_>>()
        .join(" AND ");
    let pairs = format!("FROM ({added}) a JOIN ({removed}) b ON {key_on}");
    let changed = number(&ctx, &format!("SELECT count(*) {pairs}")).await?;
    report.rows_changed = changed;
    report.rows_added = added_rows.saturating_sub(changed);
    report.rows_removed = removed_rows.saturating_sub(changed);
    let others: Vec<&String> = compared
        .iter()
        .filter(|c| !options.key_columns.contains(c))
        .collect();
    if changed > 0 && !others.is_empty() {
        let sums = others
            .iter()
            .map(|c| {
                format!(
                    "CAST(SUM(CASE WHEN (a.{0} IS DISTINCT FROM b.{0}) THEN 1 ELSE 0 END) AS BIGINT) AS {0}",
                    ident(c)
                )
            })
            .collect::<Vec<_>>()
            .join(", ");
        if let Some(per) = rows(&ctx, &format!("SELECT {sums} {pairs}")).await?.first() {
            for c in &others {
                let n = per
                    .get(c.as_str())
                    .and_then(serde_json::Value::as_u64)
                    .unwrap_or(0);
                if n > 0 {
                    report.column_changes.insert((*c).clone(), n);
                }
            }
        }
    }
    let keys = options
        .key_columns
        .iter()
        .map(|k| format!("a.{0} AS {0}", ident(k)))
        .collect::<Vec<_>>()
        .join(", ");
    let sides = others
        .iter()
        .map(|c| {
            format!(
                "b.{0} AS {1}, a.{0} AS {2}",
                ident(c),
                ident(&format!("{c}\u{1}left")),
                ident(&format!("{c}\u{1}right"))
            )
        })
        .collect::<Vec<_>>()
        .join(", ");
    let fields = if sides.is_empty() {
        keys.clone()
    } else {
        format!("{keys}, {sides}")
    };
    for row in rows(&ctx, &format!("SELECT {fields} {pairs} LIMIT {n}")).await? {
        let Some(o) = row.as_object() else { continue };
        let key: serde_json::Map<_, _> = options
            .key_columns
            .iter()
            .map(|k| {
                (
                    k.clone(),
                    o.get(k).cloned().unwrap_or(serde_json::Value::Null),
                )
            })
            .collect();
        let mut changes = serde_json::Map::new();
        for c in &others {
            let l = o.get(&format!("{c}\u{1}left")).cloned().unwrap_or_default();
            let r = o
                .get(&format!("{c}\u{1}right"))
                .cloned()
                .unwrap_or_default();
            if l != r {
                changes.insert((*c).clone(), serde_json::json!({"left": l, "right": r}));
            }
        }
        report.samples.changed.push(ChangedRow {
            key: serde_json::Value::Object(key),
            changes: serde_json::Value::Object(changes),
        });
    }
    let not_changed = |side: &str, other: &str| {
        let on = options
            .key_columns
            .iter()
            .map(|k| format!("(x.{0} IS NOT DISTINCT FROM y.{0})", ident(k)))
            .collect::<Vec<_>>()
            .join(" AND ");
        format!("SELECT x.* FROM ({side}) x LEFT ANTI JOIN ({other}) y ON {on} LIMIT {n}")
    };
    report.samples.added = strip(rows(&ctx, &not_changed(added, removed)).await?);
    report.samples.removed = strip(rows(&ctx, &not_changed(removed, added)).await?);
    Ok(report)
}
