//! sluice-query against a real engine (in-memory metadata, objects in a temporary folder),
//! on small Parquet files written here: several row groups, nulls, nested and
//! dictionary-encoded columns, an empty file, a corrupt and a truncated one.

mod common;

use std::sync::Arc;

use arrow::array::{ArrayRef, Int32Array, RecordBatch, StringArray};
use bytes::Bytes;
use common::{Lake, keyed, lake, lake_with, parquet, reviews};
use sluice_meta::{ErrorKind, PutOptions};
use sluice_query::duplicates::DuplicateOptions;
use sluice_query::{CompareOptions, QualityGate};

#[tokio::test]
async fn counts_come_from_footers_and_skip_what_spark_skips() {
    let lake = lake().await;
    lake.put_reviews("main", "reviews/part-0.parquet", 0, 1000, 300)
        .await;
    lake.put_reviews(
        "main",
        "reviews/date=2024-01-02/part-1.parquet",
        1000,
        5000,
        1000,
    )
    .await;
    lake.put_reviews("main", "reviews/empty.parquet", 0, 0, 100)
        .await;
    lake.put("main", "reviews/_SUCCESS", "").await;
    lake.put("main", "reviews/_committed_123", "{}").await;
    lake.put("main", "reviews/.part-0.parquet.crc", "crc").await;
    lake.put_reviews("main", "reviews/_temporary/0/part-9.parquet", 0, 10, 10)
        .await;
    lake.put("main", "reviews/notes.csv", "a,b").await;
    lake.put_reviews("main", "reviews_old/part-0.parquet", 0, 10, 10)
        .await;

    // Uncommitted writes on a branch count, as S3 reads see them.
    let c = sluice_query::count(&lake.engine, "lake", "main", "reviews", false)
        .await
        .unwrap();
    assert_eq!((c.rows, c.files, c.skipped_objects), (6000, 3, 5), "{c:?}");
    assert_eq!(c.row_groups, 4 + 5, "the empty file has no row group");
    assert!(c.problems.is_empty());
    assert!(c.bytes > 0);
    lake.commit("main").await;
    let v = sluice_query::count(&lake.engine, "lake", "main", "reviews/", true)
        .await
        .unwrap();
    assert_eq!(
        (v.rows, v.files, v.verified, v.verified_files),
        (6000, 3, true, 3)
    );
    let one = sluice_query::count(
        &lake.engine,
        "lake",
        "main",
        "reviews/part-0.parquet",
        false,
    )
    .await
    .unwrap();
    assert_eq!((one.rows, one.files), (1000, 1));
    let all = sluice_query::count(&lake.engine, "lake", "main", "", false)
        .await
        .unwrap();
    assert_eq!(all.rows, 6010);
}

#[tokio::test]
async fn corrupt_and_truncated_files_are_reported_by_path() {
    let lake = lake().await;
    let good = parquet(&reviews(0, 4000), 1000);
    lake.put("main", "t/good.parquet", good.clone()).await;
    lake.put(
        "main",
        "t/truncated.parquet",
        good[..good.len() / 2].to_vec(),
    )
    .await;
    lake.put("main", "t/tiny.parquet", "PAR1").await;
    lake.put("main", "t/not-parquet.parquet", vec![7u8; 5000])
        .await;
    // Footer intact, a data page overwritten: only decoding notices.
    let mut damaged = good.clone();
    for b in &mut damaged[200..2200] {
        *b = 0xA5;
    }
    lake.put("main", "t/damaged.parquet", damaged).await;

    let c = sluice_query::count(&lake.engine, "lake", "main", "t", false)
        .await
        .unwrap();
    let bad: Vec<&str> = c.problems.iter().map(|p| p.path.as_str()).collect();
    assert_eq!(
        bad,
        vec![
            "t/not-parquet.parquet",
            "t/tiny.parquet",
            "t/truncated.parquet"
        ],
        "{c:?}"
    );
    assert_eq!(
        (c.rows, c.files),
        (8000, 2),
        "the damaged footer still reads"
    );

    let v = sluice_query::count(&lake.engine, "lake", "main", "t", true)
        .await
        .unwrap();
    let bad: Vec<&str> = v.problems.iter().map(|p| p.path.as_str()).collect();
    assert!(bad.contains(&"t/damaged.parquet"), "{v:?}");
    assert_eq!((v.rows, v.files), (4000, 1));
    // Verification failed for some files: the report must not say it succeeded.
    assert_eq!((v.verified, v.verified_files), (false, 1), "{v:?}");
    assert!(!c.verified, "a count without verification verifies nothing");
}

#[tokio::test]
async fn multipart_objects_read_across_their_parts() {
    let lake = lake().await;
    let bytes = parquet(&reviews(0, 20_000), 4000);
    assert!(bytes.len() > 3 * 1024, "needs several parts");
    let upload = lake
        .engine
        .create_upload("lake", "main", "big/file.parquet", PutOptions::default())
        .await
        .unwrap();
    let mut parts = Vec::new();
    for (i, chunk) in bytes.chunks(bytes.len() / 3 + 1).enumerate() {
        let chunk = Bytes::copy_from_slice(chunk);
        let part = lake
            .engine
            .upload_part(
                "lake",
                &upload.id,
                i as u32 + 1,
                futures::stream::once(async move { Ok(chunk) }),
                Default::default(),
            )
            .await
            .unwrap();
        parts.push((i as u32 + 1, part.etag));
    }
    let entry = lake
        .engine
        .complete_upload("lake", &upload.id, &parts)
        .await
        .unwrap();
    assert!(entry.parts.len() > 1);
    let v = sluice_query::count(&lake.engine, "lake", "main", "big", true)
        .await
        .unwrap();
    assert_eq!((v.rows, v.problems.len()), (20_000, 0), "{v:?}");
}

async fn seeded() -> Lake {
    let lake = lake().await;
    for i in 0..4 {
        lake.put_reviews(
            "main",
            &format!("reviews/part-{i}.parquet"),
            i * 1000,
            1000,
            250,
        )
        .await;
    }
    lake.commit("main").await;
    lake
}

fn dup_options() -> CompareOptions {
    CompareOptions {
        prefix: "reviews".into(),
        find_duplicates: true,
        ..Default::default()
    }
}

#[tokio::test]
async fn appending_the_same_rows_again_is_all_duplicates() {
    let lake = seeded().await;
    lake.branch("double").await;
    // Byte-identical copies of every file, as a rerun of the same job writes them.
    for i in 0..4 {
        lake.put_reviews(
            "double",
            &format!("reviews/again-{i}.parquet"),
            i * 1000,
            1000,
            250,
        )
        .await;
    }
    let r = sluice_query::compare(&lake.engine, "lake", "main", "double", &dup_options())
        .await
        .unwrap();
    assert_eq!((r.left.rows, r.right.rows, r.base.rows), (4000, 8000, 4000));
    assert_eq!(
        (
            r.change.rows_added,
            r.change.rows_removed,
            r.rows_after_merge
        ),
        (4000, 0, 8000)
    );
    assert_eq!(r.duplicates.duplicate_rows, 4000);
    assert_eq!(r.duplicates.identical_files, 4);
    assert_eq!(r.duplicates.samples.len(), 5);
    assert!(r.schema.is_empty());

    // The same rows written differently (other row groups): found by hashing.
    lake.branch("rewritten").await;
    lake.put_reviews("rewritten", "reviews/all.parquet", 0, 4000, 1500)
        .await;
    let r = sluice_query::compare(&lake.engine, "lake", "main", "rewritten", &dup_options())
        .await
        .unwrap();
    assert_eq!(r.duplicates.duplicate_rows, 4000, "{:?}", r.duplicates);
    assert_eq!(r.duplicates.identical_files, 0);
    assert!(
        r.duplicates.samples[0]
            .found_in
            .starts_with("reviews/part-")
    );
    assert_eq!(
        r.duplicates.samples[0].row["review_id"]
            .as_i64()
            .map(|v| v < 4000),
        Some(true)
    );

    // The same, checked in many passes under a tiny memory budget.
    let mut tiny = dup_options();
    tiny.duplicates = DuplicateOptions {
        memory_budget_rows: 700,
        ..Default::default()
    };
    let r = sluice_query::compare(&lake.engine, "lake", "main", "rewritten", &tiny)
        .await
        .unwrap();
    assert_eq!(r.duplicates.duplicate_rows, 4000);
    assert!(r.duplicates.passes >= 6);
}

#[tokio::test]
async fn new_rows_are_not_duplicates_and_cost_follows_the_change() {
    let lake = seeded().await;
    lake.branch("new").await;
    lake.put_reviews("new", "reviews/part-9.parquet", 9000, 500, 250)
        .await;
    lake.commit("new").await;
    let r = sluice_query::compare(&lake.engine, "lake", "main", "new", &dup_options())
        .await
        .unwrap();
    assert_eq!(r.duplicates.duplicate_rows, 0);
    assert_eq!(r.duplicates.rows_checked, 500);
    // review_id ranges do not overlap: no destination row group is read.
    assert_eq!(
        r.duplicates.destination_row_groups_read, 0,
        "{:?}",
        r.duplicates
    );
    assert_eq!(r.duplicates.destination_row_groups_skipped, 16);
}

#[tokio::test]
async fn duplicates_within_the_change_and_on_keys() {
    let lake = seeded().await;
    lake.branch("b").await;
    // 300 new rows, twice, in two differently shaped files; and 10 rows whose id exists.
    lake.put_reviews("b", "reviews/x.parquet", 5000, 300, 100)
        .await;
    lake.put_reviews("b", "reviews/y.parquet", 5000, 300, 300)
        .await;
    let mut keyed = reviews(100, 10);
    // Same ids, other text: a duplicate on the key only.
    keyed = RecordBatch::try_new(keyed.schema(), {
        let mut cols = keyed.columns().to_vec();
        cols[2] = Arc::new(StringArray::from(vec!["changed"; 10]));
        cols
    })
    .unwrap();
    lake.put("b", "reviews/z.parquet", parquet(&keyed, 10))
        .await;
    let r = sluice_query::compare(&lake.engine, "lake", "main", "b", &dup_options())
        .await
        .unwrap();
    assert_eq!(r.duplicates.duplicate_rows, 300, "{:?}", r.duplicates);
    assert!(r.duplicates.samples.iter().any(|s| s.found_in == "change"));

    let mut by_key = dup_options();
    by_key.duplicates.key_columns = Some(vec!["review_id".into()]);
    let r = sluice_query::compare(&lake.engine, "lake", "main", "b", &by_key)
        .await
        .unwrap();
    assert_eq!(r.duplicates.duplicate_rows, 310);
    assert_eq!(r.duplicates.columns, vec!["review_id"]);

    by_key.duplicates.key_columns = Some(vec!["nope".into()]);
    let e = sluice_query::compare(&lake.engine, "lake", "main", "b", &by_key)
        .await
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Corrupt);
    assert!(e.to_string().contains("nope"), "{e}");
}

#[tokio::test]
async fn a_rewritten_file_is_a_change_not_a_duplicate() {
    let lake = seeded().await;
    lake.branch("fix").await;
    // Rewrite part-0 with its rows plus 100 new ones: the old rows replace themselves.
    let mut rows = reviews(0, 1000);
    rows = arrow::compute::concat_batches(&rows.schema(), &[rows.clone(), reviews(20_000, 100)])
        .unwrap();
    lake.put("fix", "reviews/part-0.parquet", parquet(&rows, 400))
        .await;
    let r = sluice_query::compare(&lake.engine, "lake", "main", "fix", &dup_options())
        .await
        .unwrap();
    assert_eq!((r.change.files_added, r.change.files_removed), (1, 1));
    assert_eq!((r.change.rows_added, r.change.rows_removed), (1100, 1000));
    assert_eq!(r.rows_after_merge, 4100);
    assert_eq!(r.duplicates.duplicate_rows, 0, "{:?}", r.duplicates);
}

#[tokio::test]
async fn schema_differences_are_named() {
    let lake = seeded().await;
    lake.branch("s").await;
    let batch = RecordBatch::try_from_iter(vec![
        (
            "review_id",
            Arc::new(StringArray::from(vec!["a"])) as ArrayRef,
        ),
        ("score", Arc::new(Int32Array::from(vec![1])) as ArrayRef),
    ])
    .unwrap();
    lake.put("s", "reviews/part-0.parquet", parquet(&batch, 10))
        .await;
    for i in 1..4 {
        lake.engine
            .delete_object("lake", "s", &format!("reviews/part-{i}.parquet"))
            .await
            .unwrap();
    }
    let r = sluice_query::compare(
        &lake.engine,
        "lake",
        "main",
        "s",
        &CompareOptions {
            prefix: "reviews".into(),
            ..Default::default()
        },
    )
    .await
    .unwrap();
    assert_eq!(r.schema.added, vec!["score"]);
    assert_eq!(r.schema.removed, vec!["category", "tags", "text", "votes"]);
    assert_eq!(r.schema.changed[0].column, "review_id");
    assert_eq!((r.change.rows_removed, r.rows_after_merge), (4000, 1));
}

#[tokio::test]
async fn sql_sees_each_folder_as_a_table() {
    let lake = seeded().await;
    lake.put_reviews("main", "events/day=1/e.parquet", 0, 10, 10)
        .await;
    lake.put_reviews("main", "events/day=2/e.parquet", 10, 5, 10)
        .await;
    let r = sluice_query::run_sql(
        &lake.engine,
        "lake",
        "main",
        "SELECT count(*) AS n, count(text) AS with_text, max(review_id) AS top FROM reviews",
        100,
    )
    .await
    .unwrap();
    assert_eq!(r.tables, vec!["events", "reviews"]);
    assert_eq!(r.rows[0]["n"], 4000);
    assert_eq!(r.rows[0]["top"], 3999);
    assert_eq!(r.rows[0]["with_text"], 4000 - 572);
    let r = sluice_query::run_sql(
        &lake.engine,
        "lake",
        "main",
        "SELECT day, count(*) AS n FROM events GROUP BY day ORDER BY day",
        100,
    )
    .await
    .unwrap();
    assert_eq!(r.rows.len(), 2);
    assert_eq!(r.rows[1]["n"], 5);
    let r = sluice_query::run_sql(
        &lake.engine,
        "lake",
        "main",
        "SELECT review_id FROM reviews ORDER BY review_id",
        3,
    )
    .await
    .unwrap();
    assert!(r.truncated);
    assert_eq!(r.rows.len(), 3);
    for bad in [
        "SELECT * FROM nowhere",
        "SELEC 1",
        "CREATE TABLE x AS SELECT 1",
        "DROP TABLE reviews",
    ] {
        let e = sluice_query::run_sql(&lake.engine, "lake", "main", bad, 10)
            .await
            .unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Invalid, "{bad}: {e}");
    }
}

const GATE: &str = r#"
name: reviews quality gate
on:
  pre-merge:
    branches: [main]
hooks:
  - id: reviews_not_duplicated
    type: row_check
    properties:
      prefix: reviews/
      no_duplicate_rows: true
      max_row_growth_pct: 50
      schema_unchanged: true
"#;

#[tokio::test]
async fn the_gate_refuses_duplicates_and_records_its_runs() {
    let lake = lake_with(Some(Arc::new(QualityGate::default()))).await;
    for i in 0..4 {
        lake.put_reviews(
            "main",
            &format!("reviews/part-{i}.parquet"),
            i * 1000,
            1000,
            250,
        )
        .await;
    }
    lake.put("main", "_sluice_actions/gate.yaml", GATE).await;
    lake.commit("main").await;
    lake.branch("double").await;
    lake.put_reviews("double", "reviews/again.parquet", 0, 4000, 1000)
        .await;
    lake.commit("double").await;
    let head = lake.engine.branch("lake", "main").await.unwrap().head;
    let e = lake.merge_into_main("double").await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::PreconditionFailed);
    assert!(
        e.message().contains("reviews_not_duplicated"),
        "{}",
        e.message()
    );
    let Some(sluice_meta::ErrorDetail::MergeRefused(report)) = e.detail() else {
        panic!("{e:?}")
    };
    assert_eq!(report["failed_checks"][0], "reviews_not_duplicated");
    let hook = &report["hooks"][0]["report"];
    assert_eq!(hook["duplicates"]["duplicate_rows"], 4000);
    assert_eq!(hook["left"]["rows"], 4000);
    assert_eq!(hook["right"]["rows"], 8000);
    assert!(
        report["hooks"][0]["failures"].as_array().unwrap().len() >= 2,
        "duplicates and growth"
    );
    assert_eq!(
        lake.engine.branch("lake", "main").await.unwrap().head,
        head,
        "destination untouched"
    );

    let runs = lake
        .engine
        .list_action_runs(
            "lake",
            &sluice_meta::PageRequest::first(10),
            &sluice_meta::RunFilter::default(),
        )
        .await
        .unwrap()
        .items;
    assert_eq!(runs.len(), 1);
    assert_eq!(runs[0].1["status"], "failed");

    // New rows merge.
    lake.branch("fresh").await;
    lake.put_reviews("fresh", "reviews/new.parquet", 100_000, 500, 250)
        .await;
    lake.commit("fresh").await;
    lake.merge_into_main("fresh").await.unwrap();
    let runs = lake
        .engine
        .list_action_runs(
            "lake",
            &sluice_meta::PageRequest::first(10),
            &sluice_meta::RunFilter::default(),
        )
        .await
        .unwrap()
        .items;
    assert_eq!(runs.len(), 2);
    assert_eq!(runs[0].1["status"], "completed");
}

#[tokio::test]
async fn a_broken_action_file_refuses_the_merge() {
    let lake = lake_with(Some(Arc::new(QualityGate::default()))).await;
    lake.put_reviews("main", "a.parquet", 0, 10, 10).await;
    lake.commit("main").await;
    lake.branch("b").await;
    lake.put("b", "_sluice_actions/bad.yaml", "name: x\non: {pre-merge: }\nhooks:\n  - id: a\n    type: row_check\n    properties: {no_dupes: true}\n").await;
    lake.commit("b").await;
    let e = lake.merge_into_main("b").await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::PreconditionFailed);
    assert!(
        e.message().contains("_sluice_actions/bad.yaml"),
        "{}",
        e.message()
    );
}

#[tokio::test]
async fn random_keys_are_checked_through_row_hash_indexes_after_the_first_check() {
    let lake = lake().await;
    // Four files whose ids interleave: statistics cannot tell any row group apart.
    for f in 0..4i64 {
        let ids = (0..1000i64).map(|i| i * 4 + f).collect();
        lake.put(
            "main",
            &format!("t/part-{f}.parquet"),
            parquet(&keyed(ids), 250),
        )
        .await;
    }
    lake.commit("main").await;
    lake.branch("change").await;
    // 10 rows main has, 90 it has not, spread over the same range.
    let ids = (0..100i64)
        .map(|i| if i < 10 { i * 37 } else { 10_000 + i * 41 })
        .collect();
    lake.put("change", "t/new.parquet", parquet(&keyed(ids), 50))
        .await;
    let options = CompareOptions {
        prefix: "t".into(),
        find_duplicates: true,
        ..Default::default()
    };
    let cold = sluice_query::compare(&lake.engine, "lake", "main", "change", &options)
        .await
        .unwrap()
        .duplicates;
    assert_eq!(cold.duplicate_rows, 10, "{cold:?}");
    assert_eq!(cold.destination_row_groups_read, 16, "{cold:?}");
    assert_eq!((cold.indexes_built, cold.destination_files_indexed), (4, 0));
    // The indexes are stored in the background, after the check answered.
    let kind = &sluice_query::row_index::kind(&["id".to_string(), "text".to_string()]);
    for f in 0..4 {
        let entry = lake
            .engine
            .stat_object("lake", "main", &format!("t/part-{f}.parquet"))
            .await
            .unwrap();
        for _ in 0..200 {
            if sluice_query::row_index::is_stored(&lake.engine, "lake", &entry.address, kind)
                .await
                .unwrap()
            {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        }
    }

    let warm = sluice_query::compare(&lake.engine, "lake", "main", "change", &options)
        .await
        .unwrap()
        .duplicates;
    assert_eq!(warm.duplicate_rows, 10, "{warm:?}");
    assert_eq!(warm.destination_row_groups_read, 0, "{warm:?}");
    assert_eq!(warm.destination_row_groups_indexed, 16);
    assert_eq!(warm.destination_files_indexed, 4);
    // Each file's filter, and only the blocks where a filter let a hash through: far less
    // than the 16 bytes per destination row of the whole sorted runs.
    assert!(warm.index_bytes_read > 0, "{warm:?}");
    assert!(warm.index_bytes_read < 4000 * 16 / 3, "{warm:?}");
    assert_eq!(warm.indexes_built, 0);
    assert_eq!(warm.samples.len(), 5);
    for s in &warm.samples {
        let id = s.row["id"].as_i64().unwrap();
        assert!(id % 37 == 0 && id < 370, "{s:?}");
        assert_eq!(s.found_in, format!("t/part-{}.parquet", id % 4));
    }
    // Within-change repeats still count, through the index as without it.
    lake.put(
        "change",
        "t/again.parquet",
        parquet(&keyed(vec![10_410, 10_451]), 50),
    )
    .await;
    let warm = sluice_query::compare(&lake.engine, "lake", "main", "change", &options)
        .await
        .unwrap()
        .duplicates;
    assert_eq!(warm.duplicate_rows, 12, "{warm:?}");

    // Garbage collection takes a collected file's index with it.
    let entry = lake
        .engine
        .stat_object("lake", "main", "t/part-0.parquet")
        .await
        .unwrap();
    assert!(
        sluice_query::row_index::is_stored(&lake.engine, "lake", &entry.address, kind)
            .await
            .unwrap()
    );
    lake.engine
        .delete_object("lake", "main", "t/part-0.parquet")
        .await
        .unwrap();
    lake.commit("main").await;
    lake.engine.delete_branch("lake", "change").await.unwrap();
    // Only the latest commit keeps objects: history goes with retention of 0 days.
    lake.engine
        .set_retention_rules(
            "lake",
            &sluice_meta::RetentionRules {
                default_retention_days: 0,
                branches: vec![],
            },
        )
        .await
        .unwrap();
    let gc = lake
        .engine
        .collect_garbage(
            "lake",
            &sluice_meta::GcOptions {
                grace: std::time::Duration::ZERO,
                dry_run: false,
            },
        )
        .await
        .unwrap();
    assert!(gc.deleted >= 1, "{gc:?}");
    assert!(
        !sluice_query::row_index::is_stored(&lake.engine, "lake", &entry.address, kind)
            .await
            .unwrap()
    );
}
