//! Opening a data file of a ref with the Parquet reader: footers, and record batch streams
//! over chosen columns and row groups.

use std::ops::Range;
use std::sync::Arc;

use arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use bytes::Bytes;
use futures::future::BoxFuture;
use futures::{FutureExt, TryStreamExt};
use parquet::arrow::ParquetRecordBatchStreamBuilder;
use parquet::arrow::ProjectionMask;
use parquet::arrow::arrow_reader::{ArrowReaderMetadata, ArrowReaderOptions};
use parquet::arrow::async_reader::{AsyncFileReader, ParquetRecordBatchStream};
use parquet::errors::ParquetError;
use parquet::file::metadata::{ParquetMetaData, ParquetMetaDataReader};

use crate::files::DataFile;
use crate::ref_store::RefStore;

/// Bytes read from the end of a file in the first request: most footers fit, so a footer
/// costs one ranged read.
const FOOTER_HINT: usize = 64 * 1024;

/// Rows per decoded batch.
pub const BATCH_ROWS: usize = 8192;

/// A data file with its footer read.
#[derive(Clone)]
pub struct OpenFile {
    /// The file.
    pub file: DataFile,
    /// Footer and the Arrow schema derived from the Parquet schema alone (the Arrow schema a
    /// writer stored is ignored, so that files from different writers compare alike).
    pub meta: ArrowReaderMetadata,
}

impl OpenFile {
    /// The footer.
    pub fn parquet(&self) -> &Arc<ParquetMetaData> {
        self.meta.metadata()
    }

    /// The Arrow schema.
    pub fn schema(&self) -> &SchemaRef {
        self.meta.schema()
    }

    /// Rows according to the footer.
    pub fn footer_rows(&self) -> u64 {
        self.parquet().file_metadata().num_rows().max(0) as u64
    }

    /// Rows the file holds for its table: the footer's, less those a Delta deletion vector
    /// removed.
    pub fn rows(&self) -> u64 {
        self.footer_rows().saturating_sub(self.file.deleted_rows())
    }
}

/// The Parquet reader's view of one data file: ranged reads of its entry, straight from
/// the physical objects, with no metadata lookup per read.
pub struct FileReader {
    store: RefStore,
    file: DataFile,
}

impl FileReader {
    async fn read(&self, range: Range<u64>) -> parquet::errors::Result<Bytes> {
        let external = |e: sluice_meta::Error| ParquetError::External(Box::new(e));
        let chunks: Vec<Bytes> = self
            .store
            .engine()
            .read_object(self.store.repo(), &self.file.entry, Some(range.clone()))
            .await
            .map_err(external)?
            .map_err(external)
            .try_collect()
            .await?;
        let bytes = match chunks.len() {
            // One chunk is the common case: no copy.
            1 => chunks.into_iter().next().unwrap_or_default(),
            _ => Bytes::from(chunks.concat()),
        };
        if bytes.len() as u64 != range.end - range.start {
            return Err(ParquetError::EOF(format!(
                "{}: wanted bytes {}..{}, got {}",
                self.file.path,
                range.start,
                range.end,
                bytes.len()
            )));
        }
        Ok(bytes)
    }
}

impl AsyncFileReader for FileReader {
    fn get_bytes(&mut self, range: Range<u64>) -> BoxFuture<'_, parquet::errors::Result<Bytes>> {
        self.read(range).boxed()
    }

    fn get_byte_ranges(
        &mut self,
        ranges: Vec<Range<u64>>,
    ) -> BoxFuture<'_, parquet::errors::Result<Vec<Bytes>>> {
        let this = &*self;
        async move {
            // A row group's column chunks lie side by side: read them as few ranges, each
            // one open and one read of the file, and hand out slices (no copies).
            let merged = coalesce(&ranges);
            let reads =
                futures::future::try_join_all(merged.iter().map(|r| this.read(r.clone()))).await?;
            Ok(ranges
                .iter()
                .map(|r| {
                    let (i, m) = merged
                        .iter()
                        .enumerate()
                        .find(|(_, m)| m.start <= r.start && r.end <= m.end)
                        .expect("every range lies in a merged one");
                    reads[i].slice((r.start - m.start) as usize..(r.end - m.start) as usize)
                })
                .collect())
        }
        .boxed()
    }

    fn get_metadata<'a>(
        &'a mut self,
        options: Option<&'a ArrowReaderOptions>,
    ) -> BoxFuture<'a, parquet::errors::Result<Arc<ParquetMetaData>>> {
        async move {
            let size = self.file.entry.size;
            let reader = ParquetMetaDataReader::new()
                .with_metadata_options(options.map(|o| o.metadata_options().clone()))
                .with_prefetch_hint(Some(FOOTER_HINT));
            Ok(Arc::new(reader.load_and_finish(self, size).await?))
        }
        .boxed()
    }
}

/// Gaps up to this size between wanted ranges are read through rather than split.
const COALESCE_GAP: u64 = 1024 * 1024;
/// The largest single read made of merged ranges.
const COALESCE_MAX: u64 = 64 * 1024 * 1024;

/// `ranges` merged where they touch or lie within [`COALESCE_GAP`] of each other, sorted.
fn coalesce(ranges: &[Range<u64>]) -> Vec<Range<u64>> {
    let mut sorted: Vec<Range<u64>> = ranges.to_vec();
    sorted.sort_by_key(|r| r.start);
    let mut out: Vec<Range<u64>> = Vec::with_capacity(sorted.len());
    for r in sorted {
        match out.last_mut() {
            Some(last)
                if r.start <= last.end + COALESCE_GAP
                    && r.end.max(last.end) - last.start <= COALESCE_MAX =>
            {
                last.end = last.end.max(r.end);
            }
            _ => out.push(r),
        }
    }
    out
}

fn reader(store: &RefStore, file: &DataFile) -> FileReader {
    FileReader {
        store: store.clone(),
        file: file.clone(),
    }
}

fn options() -> ArrowReaderOptions {
    ArrowReaderOptions::new().with_skip_arrow_metadata(true)
}

/// Read a file's footer. The error is the reader's message (a truncated file, a file that
/// is no Parquet).
pub async fn open(store: &RefStore, file: &DataFile) -> Result<OpenFile, String> {
    if file.entry.size < 12 {
        return Err(format!(
            "{} bytes is too small for a Parquet file (truncated?)",
            file.entry.size
        ));
    }
    let mut r = reader(store, file);
    let meta = ArrowReaderMetadata::load_async(&mut r, options())
        .await
        .map_err(|e| e.to_string())?;
    let footer_rows = meta.metadata().file_metadata().num_rows();
    let group_rows: i64 = meta
        .metadata()
        .row_groups()
        .iter()
        .map(|g| g.num_rows())
        .sum();
    if footer_rows != group_rows {
        return Err(format!(
            "footer says {footer_rows} rows but its row groups hold {group_rows}"
        ));
    }
    Ok(OpenFile {
        file: file.clone(),
        meta,
    })
}

/// A stream of record batches of an open file: the columns of `projection` (all when
/// `None`), the row groups listed (all when `None`).
pub fn batches(
    store: &RefStore,
    open: &OpenFile,
    projection: Option<ProjectionMask>,
    row_groups: Option<Vec<usize>>,
) -> Result<ParquetRecordBatchStream<FileReader>, String> {
    let mut builder = ParquetRecordBatchStreamBuilder::new_with_metadata(
        reader(store, &open.file),
        open.meta.clone(),
    )
    .with_batch_size(BATCH_ROWS);
    if let Some(p) = projection {
        builder = builder.with_projection(p);
    }
    if let Some(g) = row_groups {
        builder = builder.with_row_groups(g);
    }
    builder.build().map_err(|e| e.to_string())
}

/// A stream of every row of an open file with strings and binaries decoded into view
/// arrays, as DataFusion's own scan decodes them: each value is still read and its UTF-8
/// checked, without being copied again into one contiguous buffer. For reads that only
/// need the rows decoded (verification), not a particular array type.
pub fn batches_as_views(
    store: &RefStore,
    open: &OpenFile,
) -> Result<ParquetRecordBatchStream<FileReader>, String> {
    let fields: Vec<Field> = open
        .schema()
        .fields()
        .iter()
        .map(|f| {
            let viewed = match f.data_type() {
                DataType::Utf8 | DataType::LargeUtf8 => DataType::Utf8View,
                DataType::Binary | DataType::LargeBinary => DataType::BinaryView,
                other => other.clone(),
            };
            f.as_ref().clone().with_data_type(viewed)
        })
        .collect();
    let schema = Arc::new(Schema::new_with_metadata(
        fields,
        open.schema().metadata().clone(),
    ));
    let meta = ArrowReaderMetadata::try_new(open.parquet().clone(), options().with_schema(schema))
        .map_err(|e| e.to_string())?;
    ParquetRecordBatchStreamBuilder::new_with_metadata(reader(store, &open.file), meta)
        .with_batch_size(BATCH_ROWS)
        .build()
        .map_err(|e| e.to_string())
}

/// The root column indices of `names` in an open file's schema, or the first missing name.
pub fn root_columns(open: &OpenFile, names: &[String]) -> Result<Vec<usize>, String> {
    names
        .iter()
        .map(|n| {
            open.schema()
                .index_of(n)
                .map_err(|_| format!("has no column {n:?}"))
        })
        .collect()
}

/// The projection of root columns `indices`.
pub fn project_roots(open: &OpenFile, indices: &[usize]) -> ProjectionMask {
    ProjectionMask::roots(
        open.parquet().file_metadata().schema_descr(),
        indices.iter().copied(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_merge_across_small_gaps_only() {
        let mb = 1024 * 1024;
        let merged = coalesce(&[10..20, 0..5, 30..40, 5 * mb..6 * mb, 6 * mb + 1..6 * mb + 9]);
        assert_eq!(merged, vec![0..40, 5 * mb..6 * mb + 9]);
        // A merged read never passes the cap.
        let big = coalesce(&[0..60 * mb, 60 * mb..70 * mb]);
        assert_eq!(big, vec![0..60 * mb, 60 * mb..70 * mb]);
        assert!(coalesce(&[]).is_empty());
    }
}
