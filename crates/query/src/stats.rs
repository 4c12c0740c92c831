//! Row-group statistics as value ranges, to prove cheaply that two sets of rows cannot
//! share a row: if some column's ranges do not overlap, no row of one equals a row of the
//! other.

use std::cmp::Ordering;

use arrow::array::Array;
use datafusion::common::ScalarValue;
use parquet::arrow::arrow_reader::statistics::StatisticsConverter;

use crate::parquet_file::OpenFile;

/// What statistics say about one column of a set of rows. `None` bounds mean unknown.
#[derive(Debug, Clone, PartialEq)]
pub struct ColumnRange {
    /// Lower bound of the non-null values.
    pub min: Option<ScalarValue>,
    /// Upper bound of the non-null values.
    pub max: Option<ScalarValue>,
    /// Whether the rows may hold nulls in the column.
    pub nulls: bool,
    /// Whether the rows may hold non-null values in the column.
    pub values: bool,
}

impl ColumnRange {
    /// Nothing known: overlaps everything.
    pub fn unknown() -> Self {
        ColumnRange {
            min: None,
            max: None,
            nulls: true,
            values: true,
        }
    }

    /// The range of two row sets together.
    pub fn union(&self, other: &ColumnRange) -> ColumnRange {
        let pick = |a: &Option<ScalarValue>, b: &Option<ScalarValue>, want: Ordering| match (a, b) {
            (Some(x), Some(y)) => match x.partial_cmp(y) {
                Some(o) if o == want => Some(x.clone()),
                Some(_) => Some(y.clone()),
                None => None,
            },
            _ => None,
        };
        let bound = |r: &ColumnRange, want| match want {
            Ordering::Less => r.min.clone(),
            _ => r.max.clone(),
        };
        let merged = |a: &ColumnRange, b: &ColumnRange, want| {
            // A side with no values does not bound the other.
            match (a.values, b.values) {
                (false, _) => bound(b, want),
                (_, false) => bound(a, want),
                _ if want == Ordering::Less => pick(&a.min, &b.min, want),
                _ => pick(&a.max, &b.max, want),
            }
        };
        ColumnRange {
            min: merged(self, other, Ordering::Less),
            max: merged(self, other, Ordering::Greater),
            nulls: self.nulls || other.nulls,
            values: self.values || other.values,
        }
    }

    /// Whether no value of `self` can equal a value of `other` (nulls equal nulls here, as
    /// duplicate rows go).
    pub fn disjoint(&self, other: &ColumnRange) -> bool {
        if self.nulls && other.nulls {
            return false;
        }
        if !self.values || !other.values {
            return true;
        }
        let before = |a: &Option<ScalarValue>, b: &Option<ScalarValue>| match (a, b) {
            (Some(x), Some(y)) => x.partial_cmp(y) == Some(Ordering::Less),
            _ => false,
        };
        before(&self.max, &other.min) || before(&other.max, &self.min)
    }
}

/// For each row group of `open`, the range of each of `columns` (unknown where the file has
/// no usable statistics).
pub fn row_group_ranges(open: &OpenFile, columns: &[String]) -> Vec<Vec<ColumnRange>> {
    let groups = open.parquet().row_groups();
    let per_column: Vec<Vec<ColumnRange>> = columns
        .iter()
        .map(|name| {
            column_ranges(open, name).unwrap_or_else(|| vec![ColumnRange::unknown(); groups.len()])
        })
        .collect();
    (0..groups.len())
        .map(|g| per_column.iter().map(|c| c[g].clone()).collect())
        .collect()
}

fn column_ranges(open: &OpenFile, name: &str) -> Option<Vec<ColumnRange>> {
    let groups = open.parquet().row_groups();
    let converter = StatisticsConverter::try_new(
        name,
        open.schema(),
        open.parquet().file_metadata().schema_descr(),
    )
    .ok()?
    .with_missing_null_counts_as_zero(false);
    let mins = converter.row_group_mins(groups.iter()).ok()?;
    let maxes = converter.row_group_maxes(groups.iter()).ok()?;
    let nulls = converter.row_group_null_counts(groups.iter()).ok()?;
    let mut out = Vec::with_capacity(groups.len());
    for (g, group) in groups.iter().enumerate() {
        let scalar = |a: &dyn arrow::array::Array| {
            if a.is_null(g) {
                None
            } else {
                ScalarValue::try_from_array(a, g).ok()
            }
        };
        let (min, max) = (scalar(mins.as_ref()), scalar(maxes.as_ref()));
        let null_count = (!nulls.is_null(g)).then(|| nulls.value(g));
        let rows = group.num_rows().max(0) as u64;
        out.push(ColumnRange {
            nulls: null_count.is_none_or(|n| n > 0),
            values: match null_count {
                Some(n) => n < rows,
                None => true,
            },
            // Without both bounds, a range bounds nothing.
            min: min.clone().filter(|_| max.is_some()),
            max: max.filter(|_| min.is_some()),
        });
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn r(min: i64, max: i64, nulls: bool) -> ColumnRange {
        ColumnRange {
            min: Some(ScalarValue::Int64(Some(min))),
            max: Some(ScalarValue::Int64(Some(max))),
            nulls,
            values: true,
        }
    }

    #[test]
    fn overlap_rules() {
        assert!(r(0, 9, false).disjoint(&r(10, 20, false)));
        assert!(!r(0, 10, false).disjoint(&r(10, 20, false)));
        assert!(!r(0, 9, true).disjoint(&r(10, 20, true)), "nulls may match");
        assert!(r(0, 9, true).disjoint(&r(10, 20, false)));
        assert!(!ColumnRange::unknown().disjoint(&r(10, 20, false)));
        let u = r(0, 5, false).union(&r(3, 20, true));
        assert_eq!(u, r(0, 20, true));
        let only_nulls = ColumnRange {
            min: None,
            max: None,
            nulls: true,
            values: false,
        };
        assert_eq!(only_nulls.union(&r(1, 2, false)), r(1, 2, true));
        assert!(only_nulls.disjoint(&r(1, 2, false)));
    }
}
