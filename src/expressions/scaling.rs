//! Column scaling: `ml.normalize` and the four scikit-learn scalers.
//!
//! Registered non-elementwise (`is_elementwise=False` in Python): the
//! statistics need the whole column (or the whole group under `.over` /
//! `group_by`), so Polars must never split the input into morsels.

use polars::prelude::*;
use pyo3_polars::derive::polars_expr;

use super::columns::{map_float_chunks, map_per_dimension, segments, ColumnFloat};
use super::dtypes::{numeric_shape, reject_zero_width, shaped_dtype, Shape};
use crate::kernels::scaling::{Scaler, StatsError, Transform};
use crate::options::ScaleOptions;

pub(super) fn unsupported(function: &str, dtype: &DataType) -> PolarsError {
    polars_err!(InvalidOperation:
        "{function}: expected a numeric column, or an Array/List of numbers, got {dtype}")
}

fn stats_error(function: &str, error: StatsError, dimension: Option<usize>) -> PolarsError {
    let message = error.message(function, dimension.map(|j| ("dimension", j)));
    polars_err!(ComputeError: "{message}")
}

fn scale_output(input_fields: &[Field], kwargs: ScaleOptions) -> PolarsResult<Field> {
    let field = input_fields
        .first()
        .ok_or_else(|| polars_err!(ComputeError: "{}: expected one input", kwargs.function))?;
    reject_zero_width(field.dtype(), &kwargs.function)?;
    let (shape, kind) =
        numeric_shape(field.dtype()).ok_or_else(|| unsupported(&kwargs.function, field.dtype()))?;
    Ok(Field::new(field.name().clone(), shaped_dtype(&shape, kind)))
}

#[polars_expr(output_type_func_with_kwargs=scale_output)]
fn scale(inputs: &[Series], kwargs: ScaleOptions) -> PolarsResult<Series> {
    let function = kwargs.function.as_str();
    let input = inputs
        .first()
        .ok_or_else(|| polars_err!(ComputeError: "{function}: expected one input"))?;
    let (shape, kind) =
        numeric_shape(input.dtype()).ok_or_else(|| unsupported(function, input.dtype()))?;
    let series = input.cast(&shaped_dtype(&shape, kind))?;
    let scaler = kwargs
        .scaler()
        .map_err(|message| polars_err!(ComputeError: "{message}"))?;
    with_float!(kind, T => match shape {
        Shape::Scalar => scale_scalar::<T>(&series, &scaler, function),
        _ => scale_vectors::<T>(&series, &scaler, function),
    })
}

fn scale_scalar<T: ColumnFloat>(
    series: &Series,
    scaler: &Scaler,
    function: &str,
) -> PolarsResult<Series> {
    let ca = T::chunked(series)?;
    let transform = scaler
        .learn(&segments::<T>(ca))
        .map_err(|e| stats_error(function, e, None))?;
    Ok(map_float_chunks::<T>(ca, |input| {
        transform.apply_slice(input)
    }))
}

/// Scales each dimension of a vector column across rows, like scikit-learn on
/// the 2-D matrix.
fn scale_vectors<T: ColumnFloat>(
    series: &Series,
    scaler: &Scaler,
    function: &str,
) -> PolarsResult<Series> {
    map_per_dimension::<T, Transform>(
        series,
        function,
        |column, dimension| {
            scaler
                .learn(column)
                .map_err(|e| stats_error(function, e, Some(dimension)))
        },
        |transform, x| T::from_f64(transform.apply(x.to_f64())),
    )
}
