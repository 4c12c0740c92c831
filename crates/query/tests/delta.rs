//! Delta Lake tables inside a ref: counts, duplicate checks, SQL and the row diff read the
//! files the table's log holds live at the ref, not every Parquet file in its folder. The
//! logs are written here as a Delta writer writes them (one JSON commit per version).

mod common;

use common::{Lake, keyed, lake, parquet};
use serde_json::{Value, json};
use sluice_meta::{CommitRequest, ErrorKind};
use sluice_query::count::TableFormat;
use sluice_query::duplicates::DuplicateOptions;
use sluice_query::{CompareOptions, RowDiffOptions, count, row_diff, run_sql};

const SCHEMA: &str = r#"{"type":"struct","fields":[{"name":"id","type":"long","nullable":true,"metadata":{}},{"name":"text","type":"string","nullable":true,"metadata":{}}]}"#;

/// The first commit's protocol and metadata; `deletion_vectors` turns that table feature on.
fn create(deletion_vectors: bool) -> Vec<Value> {
    let protocol = if deletion_vectors {
        json!({"protocol": {"minReaderVersion": 3, "minWriterVersion": 7,
            "readerFeatures": ["deletionVectors"], "writerFeatures": ["deletionVectors"]}})
    } else {
        json!({"protocol": {"minReaderVersion": 1, "minWriterVersion": 2}})
    };
    vec![
        protocol,
        json!({"metaData": {"id": "6f1b3c9e-0000-4000-8000-000000000001",
            "format": {"provider": "parquet", "options": {}}, "schemaString": SCHEMA,
            "partitionColumns": [], "configuration": {}, "createdTime": 0}}),
    ]
}

fn add(path: &str, size: usize) -> Value {
    json!({"add": {"path": path, "partitionValues": {}, "size": size,
        "modificationTime": 0, "dataChange": true}})
}

fn remove(path: &str) -> Value {
    json!({"remove": {"path": path, "deletionTimestamp": 1, "dataChange": true}})
}

impl Lake {
    /// Write the Parquet file of `ids` at `table/file`, and return its `add` action.
    async fn put_rows(&self, branch: &str, table: &str, file: &str, ids: Vec<i64>) -> Value {
        let bytes = parquet(&keyed(ids), 1000);
        let size = bytes.len();
        self.put(branch, &format!("{table}/{file}"), bytes).await;
        add(file, size)
    }

    /// Write version `version` of the log of `table`.
    async fn log(&self, branch: &str, table: &str, version: u64, actions: Vec<Value>) {
        let lines: Vec<String> = actions.iter().map(Value::to_string).collect();
        self.put(
            branch,
            &format!("{table}/_delta_log/{version:020}.json"),
            lines.join("\n") + "\n",
        )
        .await;
    }

    async fn commit_id(&self, branch: &str) -> String {
        self.engine
            .commit("lake", branch, CommitRequest::new("c", "t"))
            .await
            .unwrap()
            .0
            .to_string()
    }
}

/// main: `t` at version 1 after an overwrite. Version 0 added ids 0..200 in two files;
/// version 1 removed both and added ids 0..50, plus ids 1000..1010 in a folder `k=1/`. The
/// removed files stay in the folder, as they do until VACUUM, and a stray file in `k=1/`
/// that no log names sits beside the live one. Returns the commit of version 0.
async fn overwritten() -> (Lake, String) {
    let lake = lake().await;
    let mut v0 = create(false);
    v0.push(
        lake.put_rows("main", "t", "part-0.parquet", (0..100).collect())
            .await,
    );
    v0.push(
        lake.put_rows("main", "t", "part-1.parquet", (100..200).collect())
            .await,
    );
    lake.log("main", "t", 0, v0).await;
    let version_0 = lake.commit_id("main").await;

    let v1 = vec![
        remove("part-0.parquet"),
        remove("part-1.parquet"),
        lake.put_rows("main", "t", "part-2.parquet", (0..50).collect())
            .await,
        lake.put_rows("main", "t", "k=1/part-3.parquet", (1000..1010).collect())
            .await,
    ];
    lake.log("main", "t", 1, v1).await;
    lake.put_rows("main", "t", "k=1/stray.parquet", (5000..5100).collect())
        .await;
    lake.commit("main").await;
    (lake, version_0)
}

#[tokio::test]
async fn an_overwritten_table_counts_its_live_files_at_each_ref() {
    let (lake, version_0) = overwritten().await;
    let now = count(&lake.engine, "lake", "main", "t", true)
        .await
        .unwrap();
    assert_eq!((now.rows, now.files), (60, 2), "{now:?}");
    assert_eq!((now.format, now.version), (TableFormat::Delta, Some(1)));
    assert!(now.verified && now.problems.is_empty(), "{now:?}");
    // Two removed files, the stray one and two log files.
    assert_eq!(now.skipped_objects, 5);
    assert_eq!(now.delta_tables.len(), 1);
    assert_eq!(now.delta_tables[0].path, "t/");

    let before = count(&lake.engine, "lake", &version_0, "t/", false)
        .await
        .unwrap();
    assert_eq!((before.rows, before.files), (200, 2), "{before:?}");
    assert_eq!(before.version, Some(0));

    // A folder inside the table is read through the table: the stray file is no row of it.
    let partition = count(&lake.engine, "lake", "main", "t/k=1", false)
        .await
        .unwrap();
    assert_eq!((partition.rows, partition.files), (10, 1), "{partition:?}");
    assert_eq!(partition.format, TableFormat::Delta);

    // The folder above the table: the table's live files, and its version listed.
    let above = count(&lake.engine, "lake", "main", "", false)
        .await
        .unwrap();
    assert_eq!((above.rows, above.format), (60, TableFormat::Parquet));
    assert_eq!(above.delta_tables[0].version, 1);

    // A log that names a file the ref does not hold: a problem, not a silent count.
    lake.engine
        .delete_object("lake", "main", "t/part-2.parquet")
        .await
        .unwrap();
    let broken = count(&lake.engine, "lake", "main", "t", false)
        .await
        .unwrap();
    assert_eq!(broken.rows, 10);
    assert_eq!(broken.problems.len(), 1, "{broken:?}");
    assert_eq!(broken.problems[0].path, "t/part-2.parquet");
}

#[tokio::test]
async fn checks_read_only_the_live_rows() {
    let (lake, _) = overwritten().await;
    // A branch re-adds the rows of a removed file (ids 100..200): no row of the table now.
    lake.branch("readd").await;
    let readd = vec![
        lake.put_rows("readd", "t", "part-4.parquet", (100..200).collect())
            .await,
    ];
    lake.log("readd", "t", 2, readd).await;
    lake.commit("readd").await;
    // Another appends the live rows 0..50 again.
    lake.branch("again").await;
    let again = vec![
        lake.put_rows("again", "t", "part-5.parquet", (0..50).collect())
            .await,
    ];
    lake.log("again", "t", 2, again).await;
    lake.commit("again").await;

    let options = CompareOptions {
        prefix: "t".into(),
        find_duplicates: true,
        duplicates: DuplicateOptions::default(),
        base: None,
        rows: true,
    };
    let report = sluice_query::compare(&lake.engine, "lake", "main", "readd", &options)
        .await
        .unwrap();
    assert_eq!(report.change.files_added, 1, "{report:?}");
    // Each side says which version of the table it read.
    assert_eq!(report.left.delta_tables[0].version, 1);
    assert_eq!(report.right.delta_tables[0].version, 2);
    assert_eq!(report.change.rows_added, 100);
    assert_eq!(report.change.files_removed, 0);
    assert_eq!(report.rows_after_merge, 160);
    assert_eq!(
        report.duplicates.duplicate_rows, 0,
        "{:?}",
        report.duplicates
    );
    // The compare report's row diff: what the change does to the table's rows.
    let rows = report.rows.as_ref().expect("rows were asked for");
    assert_eq!((rows.rows_added, rows.rows_removed), (100, 0), "{rows:?}");

    let report = sluice_query::compare(&lake.engine, "lake", "main", "again", &options)
        .await
        .unwrap();
    assert_eq!(report.change.rows_added, 50);
    assert_eq!(
        report.duplicates.duplicate_rows, 50,
        "{:?}",
        report.duplicates
    );

    let sql = run_sql(
        &lake.engine,
        "lake",
        "main",
        "SELECT count(*) AS n FROM t",
        10,
    )
    .await
    .unwrap();
    assert_eq!(sql.rows[0]["n"], 60, "{sql:?}");

    let diff = row_diff(
        &lake.engine,
        "lake",
        "main",
        "readd",
        &RowDiffOptions {
            prefix: "t".into(),
            ..Default::default()
        },
    )
    .await
    .unwrap();
    assert_eq!((diff.rows_added, diff.rows_removed), (100, 0), "{diff:?}");
}

#[tokio::test]
async fn deletion_vectors_are_counted_and_refused_where_rows_are_read() {
    let lake = lake().await;
    let mut v0 = create(true);
    let mut file = lake
        .put_rows("main", "t", "part-0.parquet", (0..100).collect())
        .await;
    // An inline deletion vector of 10 rows: counts need only its cardinality.
    file["add"]["deletionVector"] = json!({"storageType": "i",
        "pathOrInlineDv": "wi5b=000010000siXQKl0rr91000f55c8Xg0@@D72lkbi5=-{L",
        "sizeInBytes": 40, "cardinality": 10});
    v0.push(file);
    lake.log("main", "t", 0, v0).await;
    lake.commit("main").await;

    let report = count(&lake.engine, "lake", "main", "t", false)
        .await
        .unwrap();
    assert_eq!((report.rows, report.files), (90, 1), "{report:?}");
    assert_eq!(report.delta_tables[0].deleted_rows, 10);

    lake.branch("more").await;
    let more = vec![
        lake.put_rows("more", "t", "part-1.parquet", (0..10).collect())
            .await,
    ];
    lake.log("more", "t", 1, more).await;
    lake.commit("more").await;
    let options = CompareOptions {
        prefix: "t".into(),
        find_duplicates: true,
        ..Default::default()
    };
    let e = sluice_query::compare(&lake.engine, "lake", "main", "more", &options)
        .await
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Invalid);
    assert!(e.to_string().contains("deletion vectors"), "{e}");
}
