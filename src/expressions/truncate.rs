//! `truncate_dim`: Matryoshka truncation of embeddings — each vector's first
//! `n` numbers, renormalised to unit L2 norm with `unit_normalize`'s rule
//! (one kernel: a norm below `10 * eps` counts as 1, so a zero vector stays
//! zero) unless `renormalize` is off. Elementwise; `Array(_, w)` becomes
//! `Array(_, n)`, `List` stays `List`; Float32 stays Float32.

use polars::prelude::*;
use polars_arrow::array::{FixedSizeListArray, PrimitiveArray};
use polars_arrow::bitmap::Bitmap;
use pyo3_polars::derive::polars_expr;
use serde::Deserialize;

use super::columns::{vector_chunks, ColumnFloat};
use super::dtypes::{shaped_dtype, Shape};
use super::vector::vector_shape;
use crate::kernels::vector::{self, UnitNorm};

#[derive(Deserialize)]
struct TruncateKwargs {
    /// The name the user called, for errors.
    function: String,
    /// The dimensions kept (checked ≥ 1 in Python).
    n: usize,
    renormalize: bool,
}

fn truncate_output(fields: &[Field], kwargs: TruncateKwargs) -> PolarsResult<Field> {
    let function = kwargs.function.as_str();
    let field = fields
        .first()
        .ok_or_else(|| polars_err!(ComputeError: "{function}: expected an input column"))?;
    let (shape, kind) = vector_shape(field, function)?;
    let shape = checked_shape(&shape, &kwargs)?;
    Ok(Field::new(field.name().clone(), shaped_dtype(&shape, kind)))
}

fn checked_shape(shape: &Shape, kwargs: &TruncateKwargs) -> PolarsResult<Shape> {
    let (function, n) = (kwargs.function.as_str(), kwargs.n);
    if n == 0 {
        polars_bail!(InvalidOperation: "{function}: n must be at least 1, got 0");
    }
    match shape {
        Shape::Array(width) if n > *width => polars_bail!(InvalidOperation:
            "{function}: n = {n} is more than the vectors' {width} dimensions"),
        Shape::Array(_) => Ok(Shape::Array(n)),
        _ => Ok(Shape::List),
    }
}

#[polars_expr(output_type_func_with_kwargs=truncate_output)]
fn truncate_dim(inputs: &[Series], kwargs: TruncateKwargs) -> PolarsResult<Series> {
    let function = kwargs.function.as_str();
    let input = inputs
        .first()
        .ok_or_else(|| polars_err!(ComputeError: "{function}: expected an input column"))?;
    let (shape, kind) = vector_shape(&input.field(), function)?;
    let out_shape = checked_shape(&shape, &kwargs)?;
    let series = input.cast(&shaped_dtype(&shape, kind))?;
    let array = with_float!(kind, T => truncate_typed::<T>(&series, &kwargs)?);
    let dtype = DataType::Array(Box::new(kind.dtype()), kwargs.n);
    // SAFETY: `array` was built with `dtype`'s own Arrow type.
    let out = unsafe {
        Series::from_chunks_and_dtype_unchecked(input.name().clone(), vec![array], &dtype)
    };
    match out_shape {
        Shape::Array(_) => Ok(out),
        _ => out.cast(&shaped_dtype(&Shape::List, kind)),
    }
}

/// Every row's first `n` numbers (normalised), as one `FixedSizeList`
/// chunk. A null row, or a null among the first `n` numbers, gives a null
/// row; a `List` row shorter than `n` is an error naming it.
fn truncate_typed<T: ColumnFloat>(
    series: &Series,
    kwargs: &TruncateKwargs,
) -> PolarsResult<ArrayRef> {
    let (function, n) = (kwargs.function.as_str(), kwargs.n);
    let chunks = vector_chunks::<T>(series, function)?;
    let rows: usize = chunks.iter().map(|c| c.rows).sum();
    let mut values: Vec<T> = Vec::with_capacity(rows * n);
    let mut valid: Vec<bool> = Vec::with_capacity(rows);
    let mut base = 0usize;
    for chunk in &chunks {
        for i in 0..chunk.rows {
            let range = chunk.row_range(i);
            if !chunk.row_is_valid(i) {
                values.extend(std::iter::repeat_n(T::default(), n));
                valid.push(false);
                continue;
            }
            if range.len() < n {
                polars_bail!(ComputeError:
                    "{function}: row {} has {} values, fewer than n = {n}", base + i, range.len());
            }
            let head = range.start..range.start + n;
            match chunk.values.get(head.clone()) {
                Some(row) if chunk.elements_valid(head) => {
                    if kwargs.renormalize {
                        vector::unit_normalize_into(row, UnitNorm::L2, &mut values);
                    } else {
                        values.extend_from_slice(row);
                    }
                    valid.push(true);
                }
                _ => {
                    values.extend(std::iter::repeat_n(T::default(), n));
                    valid.push(false);
                }
            }
        }
        base += chunk.rows;
    }
    let dtype = DataType::Array(Box::new(T::KIND.dtype()), n).to_arrow(CompatLevel::newest());
    let validity = valid.iter().any(|v| !v).then(|| Bitmap::from_iter(valid));
    let child = PrimitiveArray::from_vec(values);
    Ok(Box::new(FixedSizeListArray::try_new(
        dtype,
        rows,
        Box::new(child),
        validity,
    )?))
}
