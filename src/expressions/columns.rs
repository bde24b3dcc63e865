//! Series <-> kernel slices. Scalar columns become `Segment`s (one per chunk);
//! `Array`/`List` columns become `VectorChunk`s that expose each row as a
//! contiguous slice of the child values buffer, honouring slices, offsets and
//! both outer (row) and inner (element) validity.

use std::collections::HashMap;

use polars::prelude::*;
use polars_arrow::array::{Array as ArrowArray, FixedSizeListArray, ListArray, PrimitiveArray};
use polars_arrow::bitmap::Bitmap;
use polars_arrow::types::NativeType;

use super::dtypes::FloatKind;
use crate::kernels::element::Element;
use crate::kernels::element::F16;
use crate::kernels::segments::{Segment, Validity};

/// A float type with its Polars counterpart.
pub trait ColumnFloat: Element + NativeType {
    type PolarsType: PolarsNumericType<Native = Self>;
    const KIND: FloatKind;
    fn chunked(series: &Series) -> PolarsResult<&ChunkedArray<Self::PolarsType>>;
}

impl ColumnFloat for f32 {
    type PolarsType = Float32Type;
    const KIND: FloatKind = FloatKind::F32;
    fn chunked(series: &Series) -> PolarsResult<&Float32Chunked> {
        series.f32()
    }
}

impl ColumnFloat for f64 {
    type PolarsType = Float64Type;
    const KIND: FloatKind = FloatKind::F64;
    fn chunked(series: &Series) -> PolarsResult<&Float64Chunked> {
        series.f64()
    }
}

pub fn validity_of(bitmap: Option<&Bitmap>) -> Option<Validity<'_>> {
    bitmap.map(|b| {
        let (bytes, offset, _) = b.as_slice();
        Validity { bytes, offset }
    })
}

/// One `Segment` per chunk of a float column.
pub fn segments<T: ColumnFloat>(ca: &ChunkedArray<T::PolarsType>) -> Vec<Segment<'_, T>> {
    ca.downcast_iter()
        .map(|arr| Segment::new(arr.values().as_slice(), validity_of(arr.validity())))
        .collect()
}

/// Builds a float column chunk by chunk from `map(values)`, keeping the
/// input's name, chunking and validity.
pub fn map_float_chunks<T: ColumnFloat>(
    ca: &ChunkedArray<T::PolarsType>,
    mut map: impl FnMut(&[T]) -> Vec<T>,
) -> Series {
    let chunks = ca.downcast_iter().map(|arr| {
        let output = map(arr.values().as_slice());
        PrimitiveArray::from_vec(output).with_validity(arr.validity().cloned())
    });
    ChunkedArray::<T::PolarsType>::from_chunk_iter(ca.name().clone(), chunks).into_series()
}

/// Where the rows of a vector chunk start in its child values buffer.
#[derive(Debug, Clone, Copy)]
pub enum RowStarts<'a> {
    /// `Array(_, width)`: row `i` starts at `i * width` (the child is pre-sliced).
    Fixed(usize),
    /// `List`: row `i` spans `offsets[i]..offsets[i + 1]`.
    Offsets(&'a [i64]),
}

/// One chunk of an `Array` or `List` float column.
pub struct VectorChunk<'a, T> {
    /// The whole child values buffer.
    pub values: &'a [T],
    pub starts: RowStarts<'a>,
    pub rows: usize,
    pub outer: Option<Validity<'a>>,
    pub inner: Option<Validity<'a>>,
}

impl<'a, T: Copy> VectorChunk<'a, T> {
    /// The value range of row `i` in `values`.
    #[inline(always)]
    pub fn row_range(&self, i: usize) -> std::ops::Range<usize> {
        match self.starts {
            RowStarts::Fixed(width) => i * width..(i + 1) * width,
            RowStarts::Offsets(offsets) => {
                let start = offsets.get(i).copied().unwrap_or(0).max(0) as usize;
                let end = offsets.get(i + 1).copied().unwrap_or(0).max(0) as usize;
                start..end.max(start)
            }
        }
    }

    #[inline(always)]
    pub fn row_is_valid(&self, i: usize) -> bool {
        self.outer.is_none_or(|v| v.is_valid(i))
    }

    /// Whether every element of the row range is valid (no null inside the vector).
    #[inline(always)]
    pub fn elements_valid(&self, range: std::ops::Range<usize>) -> bool {
        match self.inner {
            None => true,
            Some(v) => range.clone().all(|j| v.is_valid(j)),
        }
    }

    /// Row `i` as a slice, or `None` if the row or any element is null or the
    /// offsets point outside the buffer.
    #[inline(always)]
    pub fn row(&self, i: usize) -> Option<&'a [T]> {
        if !self.row_is_valid(i) {
            return None;
        }
        let range = self.row_range(i);
        if !self.elements_valid(range.clone()) {
            return None;
        }
        self.values.get(range)
    }
}

fn child_values<'a, T: NativeType>(
    child: &'a dyn ArrowArray,
    function: &str,
) -> PolarsResult<(&'a [T], Option<Validity<'a>>)> {
    let prim = child
        .as_any()
        .downcast_ref::<PrimitiveArray<T>>()
        .ok_or_else(|| polars_err!(ComputeError: "{function}: unexpected vector layout"))?;
    Ok((prim.values().as_slice(), validity_of(prim.validity())))
}

/// The chunks of a vector column whose inner dtype is already `T`.
pub fn vector_chunks<'a, T: NativeType>(
    series: &'a Series,
    function: &str,
) -> PolarsResult<Vec<VectorChunk<'a, T>>> {
    match series.dtype() {
        DataType::Array(_, width) => {
            let width = *width;
            series
                .array()?
                .downcast_iter()
                .map(|arr: &FixedSizeListArray| {
                    let (values, inner) = child_values::<T>(arr.values().as_ref(), function)?;
                    Ok(VectorChunk {
                        values,
                        starts: RowStarts::Fixed(width),
                        rows: arr.len(),
                        outer: validity_of(arr.validity()),
                        inner,
                    })
                })
                .collect()
        }
        DataType::List(_) => series
            .list()?
            .downcast_iter()
            .map(|arr: &ListArray<i64>| {
                let (values, inner) = child_values::<T>(arr.values().as_ref(), function)?;
                Ok(VectorChunk {
                    values,
                    starts: RowStarts::Offsets(arr.offsets().as_slice()),
                    rows: arr.len(),
                    outer: validity_of(arr.validity()),
                    inner,
                })
            })
            .collect(),
        dtype => {
            polars_bail!(InvalidOperation: "{function}: expected an Array or List column, got {dtype}")
        }
    }
}

/// The chunks of a `Float16` vector column, read in place as half-precision bits.
pub fn f16_vector_chunks<'a>(
    series: &'a Series,
    function: &str,
) -> PolarsResult<Vec<VectorChunk<'a, F16>>> {
    let chunks = vector_chunks::<pf16>(series, function)?;
    Ok(chunks
        .into_iter()
        .map(|c| VectorChunk {
            // SAFETY: `pf16` is `repr(transparent)` over `half::f16`, itself
            // `repr(transparent)` over `u16`, as is `F16`: same size,
            // alignment and bit validity, so the slice is reinterpreted as is.
            values: unsafe {
                std::slice::from_raw_parts(c.values.as_ptr().cast::<F16>(), c.values.len())
            },
            starts: c.starts,
            rows: c.rows,
            outer: c.outer,
            inner: c.inner,
        })
        .collect())
}

/// The one length shared by every non-null row of a vector column, or an
/// error naming two rows whose lengths differ. `None` when no row is valid.
pub fn common_width<T: Copy>(
    chunks: &[VectorChunk<'_, T>],
    function: &str,
) -> PolarsResult<Option<usize>> {
    let mut first: Option<(usize, usize)> = None; // (row, length)
    let mut base = 0usize;
    for chunk in chunks {
        if let RowStarts::Fixed(width) = chunk.starts {
            return Ok(Some(width));
        }
        for i in 0..chunk.rows {
            if !chunk.row_is_valid(i) {
                continue;
            }
            let len = chunk.row_range(i).len();
            match first {
                None => first = Some((base + i, len)),
                Some((row, width)) if width != len => polars_bail!(
                    ComputeError: "{function}: vectors must all have one length, but row {row} has {width} values and row {} has {len}",
                    base + i
                ),
                _ => {}
            }
        }
        base += chunk.rows;
    }
    Ok(first.map(|(_, width)| width))
}

/// A new vector column like `template` (same chunking, offsets and element
/// validity) whose rows are produced by `map_row(values, complete, out)`,
/// which must push exactly `values.len()` numbers onto `out`; `complete`
/// says whether every element of the row is valid (null elements hold
/// arbitrary values). Null rows and gaps between list rows are filled with
/// zeros. The output is built by pushing, never zeroed first. With
/// `null_if_any_null_element`, a row holding a null element becomes null.
pub fn map_vector_chunks<T: ColumnFloat>(
    template: &Series,
    chunks: &[VectorChunk<'_, T>],
    null_if_any_null_element: bool,
    mut map_row: impl FnMut(&[T], bool, &mut Vec<T>),
) -> PolarsResult<Series> {
    let dtype = template.dtype().clone();
    let arrow_dtype = dtype.to_arrow(CompatLevel::newest());
    let mut arrays: Vec<ArrayRef> = Vec::with_capacity(chunks.len());
    for (index, chunk) in chunks.iter().enumerate() {
        let mut values: Vec<T> = Vec::with_capacity(chunk.values.len());
        for i in 0..chunk.rows {
            let range = chunk.row_range(i);
            if range.start > values.len() {
                values.resize(range.start.min(chunk.values.len()), T::default());
            }
            let before = values.len();
            let row = chunk
                .values
                .get(range.clone())
                .filter(|_| chunk.row_is_valid(i));
            match row {
                Some(row) if before == range.start => {
                    map_row(row, chunk.elements_valid(range), &mut values)
                }
                _ => values.resize(range.end.min(chunk.values.len()).max(before), T::default()),
            }
            polars_ensure!(values.len() >= before, ComputeError: "row {i} shrank its output");
        }
        values.resize(chunk.values.len(), T::default());
        let inner_validity = template_inner_validity(template, index);
        let child = PrimitiveArray::from_vec(values).with_validity(inner_validity);
        let outer = if null_if_any_null_element && chunk.inner.is_some() {
            Some(Bitmap::from_iter(
                (0..chunk.rows).map(|i| chunk.row(i).is_some()),
            ))
        } else {
            template_outer_validity(template, index)
        };
        let array: ArrayRef = match &dtype {
            DataType::Array(_, _) => Box::new(FixedSizeListArray::try_new(
                arrow_dtype.clone(),
                chunk.rows,
                Box::new(child),
                outer,
            )?),
            _ => {
                let offsets = template
                    .list()?
                    .downcast_iter()
                    .nth(index)
                    .map(|a| a.offsets().clone());
                let offsets =
                    offsets.ok_or_else(|| polars_err!(ComputeError: "chunk {index} is missing"))?;
                Box::new(ListArray::<i64>::try_new(
                    arrow_dtype.clone(),
                    offsets,
                    Box::new(child),
                    outer,
                )?)
            }
        };
        arrays.push(array);
    }
    // SAFETY: every array was built with `dtype`'s own Arrow type.
    Ok(unsafe { Series::from_chunks_and_dtype_unchecked(template.name().clone(), arrays, &dtype) })
}

fn template_outer_validity(template: &Series, index: usize) -> Option<Bitmap> {
    template
        .chunks()
        .get(index)
        .and_then(|a| a.validity().cloned())
}

fn template_inner_validity(template: &Series, index: usize) -> Option<Bitmap> {
    let chunk = template.chunks().get(index)?;
    if let Some(arr) = chunk.as_any().downcast_ref::<FixedSizeListArray>() {
        return arr.values().validity().cloned();
    }
    if let Some(arr) = chunk.as_any().downcast_ref::<ListArray<i64>>() {
        return arr.values().validity().cloned();
    }
    None
}

/// A vector column transformed per dimension, as scikit-learn treats the
/// columns of a 2-D matrix: each dimension gathered into one contiguous
/// column (1/width of the input; null rows and null elements as validity)
/// and fitted by `fit(column, dimension)`, then every row mapped by
/// `apply(fitted, value)`. Rows of another width (null rows) stay null.
pub fn map_per_dimension<T: ColumnFloat, M>(
    series: &Series,
    function: &str,
    mut fit: impl FnMut(&[Segment<'_, T>], usize) -> PolarsResult<M>,
    apply: impl Fn(&M, T) -> T,
) -> PolarsResult<Series> {
    let chunks = vector_chunks::<T>(series, function)?;
    let Some(width) = common_width(&chunks, function)? else {
        return Ok(series.clone()); // no valid row: all null already
    };
    let rows: usize = chunks.iter().map(|c| c.rows).sum();
    let mut column = vec![T::default(); rows];
    let mut valid = vec![0u8; rows.div_ceil(8)];
    let mut fitted: Vec<M> = Vec::with_capacity(width);
    for dimension in 0..width {
        valid.fill(0);
        let mut row = 0usize;
        for chunk in &chunks {
            for i in 0..chunk.rows {
                let at = chunk.row_range(i).start + dimension;
                let present = chunk.row_is_valid(i) && chunk.inner.is_none_or(|v| v.is_valid(at));
                if let (true, Some(&value)) = (present, chunk.values.get(at)) {
                    column[row] = value;
                    valid[row / 8] |= 1 << (row % 8);
                }
                row += 1;
            }
        }
        let segment = [Segment::new(
            &column[..],
            Some(Validity {
                bytes: &valid,
                offset: 0,
            }),
        )];
        fitted.push(fit(&segment, dimension)?);
    }
    map_vector_chunks::<T>(series, &chunks, false, |row, _, out| {
        if row.len() == width {
            out.extend(row.iter().zip(&fitted).map(|(&x, f)| apply(f, x)));
        } else {
            out.extend(std::iter::repeat_n(T::default(), row.len()));
        }
    })
}

/// What a row whose group was not seen at fit time becomes.
#[derive(Clone, Copy)]
pub enum UnseenGroup<'a> {
    /// An error; the text is said after it (how to get nulls instead, if
    /// the caller has a way).
    Error(&'a str),
    /// No group (the caller nulls the row).
    Null,
}

/// Each row's group among the fitted `keys`, read from `key_input` (the
/// rows' rendered group keys; the wrappers' second input, the encoders'
/// third), or `None` when there are no groups.
pub fn row_groups(
    key_input: Option<&Series>,
    keys: &[String],
    unseen: UnseenGroup<'_>,
    function: &str,
) -> PolarsResult<Option<Vec<Option<usize>>>> {
    if keys.is_empty() {
        return Ok(None);
    }
    let rows = key_input
        .ok_or_else(|| polars_err!(ComputeError: "{function}: expected a group key input"))?
        .str()?;
    let index: HashMap<&str, usize> = keys
        .iter()
        .enumerate()
        .map(|(i, k)| (k.as_str(), i))
        .collect();
    let mut groups = Vec::with_capacity(rows.len());
    for key in rows.iter() {
        let group = key.and_then(|k| index.get(k).copied());
        if let (None, UnseenGroup::Error(hint)) = (group, unseen) {
            polars_bail!(ComputeError: "{function}: group {} was not seen at fit time{hint}",
                key.map_or_else(|| "null".to_string(), |k| format!("{k:?}")));
        }
        groups.push(group);
    }
    Ok(Some(groups))
}
