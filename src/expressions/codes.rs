//! Quantized embeddings: `quantize` (to Int8 codes or packed sign bits) and
//! the Hamming distance between binary codes, row by row.

use polars::prelude::*;
use pyo3_polars::derive::polars_expr;
use serde::Deserialize;

use super::columns::ColumnFloat;
use super::dtypes::Shape;
use super::vector::{
    binary_codes, check_constant_width, constant_values, exact_codes, first_field, first_input,
    input_rows, row_slices, vector_input, vector_series_of, vector_shape,
};
use crate::kernels::element::Element;
use crate::kernels::row_access::VectorRows;
use crate::kernels::search::codes::{self, QuantizeFloat};

// ---------------------------------------------------------------- quantize

#[derive(Deserialize)]
struct QuantizeKwargs {
    function: String,
    /// `"int8"` or `"binary"`.
    precision: String,
    /// The width `d` of the `(2, d)` ranges (mins then maxs) given as the
    /// second input, or `None` to take them from the column.
    ranges: Option<usize>,
}

/// The container of the output: `Array` keeps its layout, `List` stays `List`.
fn code_dtype(shape: &Shape, inner: DataType, width: usize) -> DataType {
    match shape {
        Shape::Array(_) => DataType::Array(Box::new(inner), width),
        _ => DataType::List(Box::new(inner)),
    }
}

fn quantize_output(fields: &[Field], kwargs: QuantizeKwargs) -> PolarsResult<Field> {
    let function = kwargs.function.as_str();
    let field = first_field(fields, function)?;
    let (shape, _) = vector_shape(field, function)?;
    let d = match shape {
        Shape::Array(width) => width,
        _ => 0,
    };
    if let Some(len) = kwargs.ranges {
        check_constant_width(&shape, len, function, "ranges")?;
    }
    let dtype = match kwargs.precision.as_str() {
        "int8" => code_dtype(&shape, DataType::Int8, d),
        "binary" => code_dtype(&shape, DataType::UInt8, d.div_ceil(8)),
        other => polars_bail!(InvalidOperation:
            "{function}: precision must be \"int8\" or \"binary\", got {other:?}"),
    };
    Ok(Field::new(field.name().clone(), dtype))
}

#[polars_expr(output_type_func_with_kwargs=quantize_output)]
fn quantize(inputs: &[Series], kwargs: QuantizeKwargs) -> PolarsResult<Series> {
    let function = kwargs.function.as_str();
    let (a, shape, kind) = vector_input(inputs, function)?;
    let ranges = match kwargs.ranges {
        Some(d) => constant_values(inputs, 1, 2 * d, function, "ranges")?,
        None => None,
    };
    with_float!(kind, T => {
        let rows = input_rows::<T>(&a, function)?;
        match kwargs.precision.as_str() {
            "int8" => quantize_int8::<T>(&a, &shape, &rows, ranges, function),
            "binary" => quantize_binary::<T>(&a, &shape, &rows),
            other => polars_bail!(InvalidOperation:
                "{function}: precision must be \"int8\" or \"binary\", got {other:?}"),
        }
    })
}

/// The width shared by the valid rows (`None` if there is none), or an
/// error naming a row of another length.
fn rows_width<T: Element>(
    rows: &impl VectorRows<T>,
    function: &str,
) -> PolarsResult<Option<usize>> {
    let mut width = None;
    for i in 0..rows.row_count() {
        if let Some(len) = rows.row_len(i) {
            match width {
                None => width = Some(len),
                Some(w) if w != len => polars_bail!(ComputeError:
                    "{function}: vectors must all have one length, but row {i} has {len} values where others have {w}"),
                _ => {}
            }
        }
    }
    Ok(width)
}

/// Per-dimension minimum and maximum over the valid rows, skipping NaN; an
/// infinite value is an error (its range could not be mapped).
fn column_ranges<T: Element>(
    rows: &impl VectorRows<T>,
    d: usize,
    function: &str,
) -> PolarsResult<(Vec<f64>, Vec<f64>)> {
    let (mut mins, mut maxs) = (vec![f64::INFINITY; d], vec![f64::NEG_INFINITY; d]);
    let mut scratch = Vec::new();
    for i in 0..rows.row_count() {
        let Some(row) = rows.row(i, &mut scratch) else {
            continue;
        };
        for (j, x) in row.iter().enumerate().take(d) {
            let x = x.to_f64();
            polars_ensure!(!x.is_infinite(), ComputeError:
                "{function}: row {i} holds an infinite value ({x}); int8 ranges must be finite");
            if x < mins[j] {
                mins[j] = x;
            }
            if x > maxs[j] {
                maxs[j] = x;
            }
        }
    }
    // A dimension with no value maps everything to -128.
    for (lo, hi) in mins.iter_mut().zip(maxs.iter_mut()) {
        if *lo > *hi {
            (*lo, *hi) = (0.0, 0.0);
        }
    }
    Ok((mins, maxs))
}

fn quantize_int8<T: ColumnFloat + QuantizeFloat>(
    a: &Series,
    shape: &Shape,
    rows: &impl VectorRows<T>,
    ranges: Option<Vec<f64>>,
    function: &str,
) -> PolarsResult<Series> {
    let n = rows.row_count();
    let d = match ranges.as_ref() {
        Some(r) => r.len() / 2,
        None => rows_width(rows, function)?.unwrap_or(match shape {
            Shape::Array(w) => *w,
            _ => 0,
        }),
    };
    let (mins, maxs) = match ranges {
        Some(r) => {
            let (mins, maxs) = r.split_at(d);
            for (j, (lo, hi)) in mins.iter().zip(maxs).enumerate() {
                polars_ensure!(lo < hi && (hi - lo).is_finite(), ComputeError:
                    "{function}: ranges must be finite with min < max in every dimension, got ({lo}, {hi}) in dimension {j}");
            }
            (mins.to_vec(), maxs.to_vec())
        }
        None => column_ranges(rows, d, function)?,
    };
    let steps = codes::int8_steps::<T>(&mins, &maxs);
    let mut values: Vec<i8> = Vec::with_capacity(n * d);
    let mut valid = Vec::with_capacity(n);
    let mut scratch = Vec::new();
    for i in 0..n {
        let start = values.len();
        let ok = match rows.row(i, &mut scratch) {
            Some(row) => {
                polars_ensure!(row.len() == d, ComputeError:
                    "{function}: row {i} has a vector of length {} but the ranges have length {d}", row.len());
                let mut ok = true;
                for (&x, &(lo, step)) in row.iter().zip(&steps) {
                    match x.int8_code(lo, step) {
                        Some(code) => values.push(code),
                        None => {
                            ok = false; // NaN has no code: the row is null
                            break;
                        }
                    }
                }
                ok
            }
            None => false,
        };
        if !ok {
            values.truncate(start);
            values.resize(start + d, 0);
        }
        valid.push(ok);
    }
    vector_series_of(
        a.name().clone(),
        code_dtype(shape, DataType::Int8, d),
        d,
        values,
        valid,
    )
}

fn quantize_binary<T: ColumnFloat>(
    a: &Series,
    shape: &Shape,
    rows: &impl VectorRows<T>,
) -> PolarsResult<Series> {
    let n = rows.row_count();
    let d = rows_width(rows, "quantize")?.unwrap_or(match shape {
        Shape::Array(w) => *w,
        _ => 0,
    });
    let bytes = d.div_ceil(8);
    let mut values: Vec<u8> = Vec::with_capacity(n * bytes);
    let mut valid = Vec::with_capacity(n);
    let mut scratch = Vec::new();
    for i in 0..n {
        match rows.row(i, &mut scratch) {
            Some(row) => {
                codes::pack_signs(row, &mut values);
                valid.push(true);
            }
            None => {
                values.resize(values.len() + bytes, 0);
                valid.push(false);
            }
        }
    }
    vector_series_of(
        a.name().clone(),
        code_dtype(shape, DataType::UInt8, bytes),
        bytes,
        values,
        valid,
    )
}

// ---------------------------------------------------------------- hamming

#[derive(Deserialize)]
struct HammingKwargs {
    function: String,
    /// The byte length of a constant code given as the second input, or
    /// `None` for a second column.
    constant: Option<usize>,
}

fn hamming_output(fields: &[Field], kwargs: HammingKwargs) -> PolarsResult<Field> {
    let function = kwargs.function.as_str();
    let a = first_field(fields, function)?;
    let check = |field: &Field| -> PolarsResult<Shape> {
        let (shape, _) = vector_shape(field, function)?;
        polars_ensure!(field.dtype().inner_dtype() == Some(&DataType::UInt8), InvalidOperation:
            "{function}: Hamming distance needs packed binary codes (an Array or List of UInt8, e.g. from ml.quantize(\"binary\")), got {} for column {:?}",
            field.dtype(), field.name().as_str());
        Ok(shape)
    };
    let shape_a = check(a)?;
    match kwargs.constant {
        Some(len) => check_constant_width(&shape_a, len, function, "other code")?,
        None => {
            let b = fields.get(1).ok_or_else(
                || polars_err!(ComputeError: "{function}: expected a second code column"),
            )?;
            if let (Shape::Array(wa), Shape::Array(wb)) = (&shape_a, &check(b)?) {
                polars_ensure!(wa == wb, ComputeError:
                    "{function}: the columns hold codes of different widths: {wa} and {wb} bytes");
            }
        }
    }
    Ok(Field::new(a.name().clone(), DataType::UInt32))
}

#[polars_expr(output_type_func_with_kwargs=hamming_output)]
fn hamming(inputs: &[Series], kwargs: HammingKwargs) -> PolarsResult<Series> {
    let function = kwargs.function.as_str();
    let a = first_input(inputs, function)?;
    let a_rows = row_slices(&binary_codes(a, function)?);
    let constant;
    let b_series;
    let b_rows: Vec<Option<&[u8]>> = match kwargs.constant {
        Some(len) => {
            let values = constant_values(inputs, 1, len, function, "other code")?;
            constant = match values {
                Some(v) => exact_codes::<u8>(&v, function, "other code")?,
                None => Vec::new(),
            };
            vec![Some(constant.as_slice())]
        }
        None => {
            b_series = inputs.get(1).ok_or_else(
                || polars_err!(ComputeError: "{function}: expected a second code column"),
            )?;
            row_slices(&binary_codes(b_series, function)?)
        }
    };
    let (na, nb) = (a_rows.len(), b_rows.len());
    let n = match (na, nb) {
        (x, y) if x == y => x,
        (1, y) => y,
        (x, 1) => x,
        (x, y) => polars_bail!(ShapeMismatch:
            "{function}: the columns have {x} and {y} rows; expected equal lengths or one of length 1"),
    };
    let mut out: Vec<Option<u32>> = Vec::with_capacity(n);
    for i in 0..n {
        match (broadcast_row(&a_rows, i), broadcast_row(&b_rows, i)) {
            (Some(x), Some(y)) => {
                polars_ensure!(x.len() == y.len(), ComputeError:
                    "{function}: row {i} pairs codes of different widths: {} and {} bytes", x.len(), y.len());
                out.push(Some(codes::hamming(x, y)));
            }
            _ => out.push(None),
        }
    }
    Ok(UInt32Chunked::from_iter_options(a.name().clone(), out.into_iter()).into_series())
}

/// Row `i` of a side that is broadcast when it has one row.
fn broadcast_row<'a>(rows: &[Option<&'a [u8]>], i: usize) -> Option<&'a [u8]> {
    let i = if rows.len() == 1 { 0 } else { i };
    rows.get(i).copied().flatten()
}
