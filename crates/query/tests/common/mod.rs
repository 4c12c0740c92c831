//! What the sluice-query tests share: a lake on a real engine (in-memory metadata, objects in
//! a temporary folder) and the Parquet files they write into it.
#![allow(dead_code)] // each test binary uses its own part of this module

use std::sync::Arc;

use arrow::array::{
    ArrayRef, DictionaryArray, Int32Array, Int64Array, ListArray, RecordBatch, StringArray,
    StructArray,
};
use arrow::datatypes::{DataType, Field, Int32Type};
use bytes::Bytes;
use parquet::arrow::ArrowWriter;
use parquet::file::properties::WriterProperties;
use sluice_meta::kv::memory::MemoryKv;
use sluice_meta::{CommitRequest, Engine, MergeRequest, PutOptions};
use sluice_query::QualityGate;

pub struct Lake {
    pub engine: Engine,
    _dir: tempfile::TempDir,
}

pub async fn lake_with(hook: Option<Arc<QualityGate>>) -> Lake {
    let dir = tempfile::tempdir().unwrap();
    let mut builder =
        Engine::builder(Arc::new(MemoryKv::new()), dir.path()).with_min_part_size(1024);
    if let Some(h) = hook {
        builder = builder.with_merge_hook(h);
    }
    let engine = builder.build();
    engine
        .create_repository("lake", "local://lake", "main")
        .await
        .unwrap();
    Lake { engine, _dir: dir }
}

pub async fn lake() -> Lake {
    lake_with(None).await
}

impl Lake {
    pub async fn put(&self, branch: &str, path: &str, bytes: impl Into<Bytes>) {
        self.engine
            .put_bytes("lake", branch, path, bytes, PutOptions::default())
            .await
            .unwrap();
    }

    /// Review rows `from .. from + n` as a Parquet file at `path`.
    pub async fn put_reviews(
        &self,
        branch: &str,
        path: &str,
        from: i64,
        n: usize,
        group_rows: usize,
    ) {
        self.put(branch, path, parquet(&reviews(from, n), group_rows))
            .await;
    }

    /// Merge `source` into main.
    pub async fn merge_into_main(&self, source: &str) -> sluice_meta::Result<()> {
        let request = MergeRequest {
            committer: "t".into(),
            ..Default::default()
        };
        self.engine
            .merge("lake", source, "main", request)
            .await
            .map(|_| ())
    }

    pub async fn commit(&self, branch: &str) {
        self.engine
            .commit("lake", branch, CommitRequest::new("c", "t"))
            .await
            .unwrap();
    }

    pub async fn branch(&self, name: &str) {
        self.engine
            .create_branch("lake", name, "main")
            .await
            .unwrap();
    }
}

/// `n` review rows starting at id `from`: id, a dictionary-encoded category, a text with
/// nulls, a nested struct and a list.
pub fn reviews(from: i64, n: usize) -> RecordBatch {
    let ids: Vec<i64> = (from..from + n as i64).collect();
    let cats: DictionaryArray<Int32Type> = ids
        .iter()
        .map(|i| Some(["books", "music", "toys"][(*i % 3) as usize]))
        .collect();
    let text: StringArray = ids
        .iter()
        .map(|i| (i % 7 != 0).then(|| format!("review {i}")))
        .collect();
    let stars: ArrayRef = Arc::new(Int32Array::from_iter_values(
        ids.iter().map(|i| (i % 5) as i32 + 1),
    ));
    let helpful: ArrayRef = Arc::new(Int32Array::from_iter(
        ids.iter().map(|i| (i % 4 != 0).then_some(*i as i32 % 11)),
    ));
    let votes = StructArray::from(vec![
        (Arc::new(Field::new("stars", DataType::Int32, false)), stars),
        (
            Arc::new(Field::new("helpful", DataType::Int32, true)),
            helpful,
        ),
    ]);
    let tags = ListArray::from_iter_primitive::<Int32Type, _, _>(
        ids.iter().map(|i| Some(vec![Some(*i as i32 % 3), None])),
    );
    RecordBatch::try_from_iter(vec![
        ("review_id", Arc::new(Int64Array::from(ids)) as ArrayRef),
        ("category", Arc::new(cats) as ArrayRef),
        ("text", Arc::new(text) as ArrayRef),
        ("votes", Arc::new(votes) as ArrayRef),
        ("tags", Arc::new(tags) as ArrayRef),
    ])
    .unwrap()
}

/// A Parquet file of `batch` with row groups of `group_rows` rows, snappy-compressed as
/// Spark and pyarrow write by default.
pub fn parquet(batch: &RecordBatch, group_rows: usize) -> Vec<u8> {
    let props = WriterProperties::builder()
        .set_max_row_group_row_count(Some(group_rows))
        .set_compression(parquet::basic::Compression::SNAPPY)
        .build();
    let mut out = Vec::new();
    let mut w = ArrowWriter::try_new(&mut out, batch.schema(), Some(props)).unwrap();
    w.write(batch).unwrap();
    w.close().unwrap();
    out
}

/// Rows with the given ids (spread over the whole range, as random keys are), and a text.
pub fn keyed(ids: Vec<i64>) -> RecordBatch {
    let text: StringArray = ids.iter().map(|i| Some(format!("row {i}"))).collect();
    RecordBatch::try_from_iter(vec![
        ("id", Arc::new(Int64Array::from(ids)) as ArrayRef),
        ("text", Arc::new(text) as ArrayRef),
    ])
    .unwrap()
}
