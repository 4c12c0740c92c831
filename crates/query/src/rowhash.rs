//! Row identity for duplicate detection: each row of the chosen columns becomes a 128-bit
//! hash of its Arrow row encoding, so rows compare alike whatever file or writer they
//! come from. At 128 bits, a false match among even billions of rows is negligible.

use std::sync::Arc;

use arrow::array::{Array, ArrayRef, RecordBatch};
use arrow::compute::cast;
use arrow::datatypes::DataType;
use arrow::row::{RowConverter, SortField};

use crate::error::Result;

/// One representation per logical type, so that a dictionary-encoded or "large" column
/// hashes as its plain form does.
fn normalize(column: &ArrayRef) -> Result<ArrayRef> {
    let target = match column.data_type() {
        DataType::Dictionary(_, value) => Some(value.as_ref().clone()),
        DataType::LargeUtf8 | DataType::Utf8View => Some(DataType::Utf8),
        DataType::LargeBinary | DataType::BinaryView => Some(DataType::Binary),
        _ => None,
    };
    Ok(match target {
        Some(t) => normalize(&cast(column, &t)?)?,
        None => Arc::clone(column),
    })
}

/// The columns of `batch` named `names`, in that order.
pub fn select(batch: &RecordBatch, names: &[String]) -> Result<Vec<ArrayRef>> {
    names
        .iter()
        .map(|n| {
            let i = batch.schema().index_of(n)?;
            normalize(batch.column(i))
        })
        .collect()
}

/// The hash of each row of `columns` (all of one length).
pub fn hash_rows(columns: &[ArrayRef]) -> Result<Vec<u128>> {
    let fields = columns
        .iter()
        .map(|c| SortField::new(c.data_type().clone()))
        .collect();
    let converter = RowConverter::new(fields)?;
    let rows = converter.convert_columns(columns)?;
    Ok(rows
        .iter()
        .map(|r| xxhash_rust::xxh3::xxh3_128(r.as_ref()))
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow::array::{DictionaryArray, Int32Array, LargeStringArray, StringArray};
    use arrow::datatypes::Int32Type;

    #[test]
    fn encodings_of_one_value_hash_alike() {
        let plain: ArrayRef = Arc::new(StringArray::from(vec![Some("a"), None, Some("b")]));
        let large: ArrayRef = Arc::new(LargeStringArray::from(vec![Some("a"), None, Some("b")]));
        let dict: ArrayRef = Arc::new(
            vec![Some("a"), None, Some("b")]
                .into_iter()
                .collect::<DictionaryArray<Int32Type>>(),
        );
        let h = |c: &ArrayRef| hash_rows(&[normalize(c).unwrap()]).unwrap();
        assert_eq!(h(&plain), h(&large));
        assert_eq!(h(&plain), h(&dict));
        let hashes = h(&plain);
        assert_ne!(hashes[0], hashes[1]);
        assert_ne!(hashes[0], hashes[2]);
    }

    #[test]
    fn columns_are_not_concatenated_ambiguously() {
        let a1: ArrayRef = Arc::new(StringArray::from(vec!["ab", "a"]));
        let b1: ArrayRef = Arc::new(StringArray::from(vec!["c", "bc"]));
        let hashes = hash_rows(&[a1, b1]).unwrap();
        assert_ne!(hashes[0], hashes[1]);
        let n: ArrayRef = Arc::new(Int32Array::from(vec![Some(0), None]));
        let hashes = hash_rows(&[n]).unwrap();
        assert_ne!(hashes[0], hashes[1], "null differs from zero");
    }
}
