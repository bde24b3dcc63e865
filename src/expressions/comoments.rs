//! `comoments`: the statistics a PCA fit keeps (count, mean and centred
//! cross products, [`crate::kernels::comoments`]) of one vector column
//! (`Array`/`List` of numbers) or of several scalar numeric columns, as a
//! one-row struct. An aggregation; rows holding a null (a null row, a null
//! element, a null in any of the scalar columns) are left out.

use polars::prelude::*;
use pyo3_polars::derive::polars_expr;
use serde::Deserialize;

use super::columns::{common_width, vector_chunks, ColumnFloat};
use super::dtypes::{numeric_shape, shaped_dtype, FloatKind, Shape};
use super::vector::vector_shape;
use crate::kernels::comoments::{CoFloat, CoMoments, ColumnRows, RowRuns};

#[derive(Deserialize)]
struct CoMomentsKwargs {
    /// The name the user called, for errors.
    function: String,
}

fn fields() -> Vec<Field> {
    vec![
        Field::new("count".into(), DataType::UInt64),
        Field::new("mean".into(), DataType::List(Box::new(DataType::Float64))),
        Field::new("m2".into(), DataType::List(Box::new(DataType::Float64))),
    ]
}

/// The float type the rows are multiplied in: Float32 when every input is
/// Float32 (or narrower), Float64 otherwise; one vector column or scalar
/// columns only.
fn input_kind(fields: &[Field], function: &str) -> PolarsResult<(Option<Shape>, FloatKind)> {
    let first = fields
        .first()
        .ok_or_else(|| polars_err!(ComputeError: "{function}: expected an input column"))?;
    if matches!(first.dtype(), DataType::Array(..) | DataType::List(_)) {
        if fields.len() != 1 {
            polars_bail!(InvalidOperation:
                "{function}: expected one vector column or several scalar columns, got {} columns starting with the vector column {:?}",
                fields.len(), first.name().as_str());
        }
        let (shape, kind) = vector_shape(first, function)?;
        return Ok((Some(shape), kind));
    }
    let mut kind = FloatKind::F32;
    for field in fields {
        match numeric_shape(field.dtype()) {
            Some((Shape::Scalar, k)) => kind = kind.common(k),
            _ => polars_bail!(InvalidOperation:
                "{function}: column {:?} has dtype {}; expected numeric columns or one vector column",
                field.name().as_str(), field.dtype()),
        }
    }
    Ok((None, kind))
}

fn comoments_output(input_fields: &[Field], kwargs: CoMomentsKwargs) -> PolarsResult<Field> {
    input_kind(input_fields, &kwargs.function)?;
    let name = input_fields
        .first()
        .map_or_else(|| "comoments".into(), |f| f.name().clone());
    Ok(Field::new(name, DataType::Struct(fields())))
}

/// Count, mean and centred cross products (row-major `d × d`) of the
/// complete rows, accumulated in f64 (see the kernel for the precision of
/// Float32 rows).
#[polars_expr(output_type_func_with_kwargs=comoments_output)]
fn comoments(inputs: &[Series], kwargs: CoMomentsKwargs) -> PolarsResult<Series> {
    let function = kwargs.function.as_str();
    let input_fields: Vec<Field> = inputs.iter().map(|s| s.field().into_owned()).collect();
    let (shape, kind) = input_kind(&input_fields, function)?;
    let found = match shape {
        Some(shape) => {
            let series = inputs
                .first()
                .ok_or_else(|| polars_err!(ComputeError: "{function}: expected an input column"))?
                .cast(&shaped_dtype(&shape, kind))?;
            with_float!(kind, T => of_vectors::<T>(&series, function)?)
        }
        None => {
            let columns = inputs
                .iter()
                .map(|s| s.cast(&kind.dtype()).map(|s| s.rechunk()))
                .collect::<PolarsResult<Vec<_>>>()?;
            with_float!(kind, T => of_columns::<T>(&columns)?)
        }
    };
    let name = inputs
        .first()
        .map_or_else(|| "comoments".into(), |s| s.name().clone());
    let list = |field: &str, values: Vec<f64>| -> PolarsResult<Series> {
        Ok(Float64Chunked::from_vec(field.into(), values)
            .into_series()
            .implode()?
            .into_series()
            .with_name(field.into()))
    };
    let columns = [
        UInt64Chunked::from_vec("count".into(), vec![found.count]).into_series(),
        list("mean", found.mean)?,
        list("m2", found.m2)?,
    ];
    Ok(StructChunked::from_series(name, 1, columns.iter())?.into_series())
}

/// The complete rows of a vector column, read in place in runs.
fn of_vectors<T: ColumnFloat + CoFloat>(
    series: &Series,
    function: &str,
) -> PolarsResult<CoMoments> {
    let chunks = vector_chunks::<T>(series, function)?;
    let Some(width) = common_width(&chunks, function)? else {
        return Ok(CoMoments::new(0));
    };
    if width == 0 {
        polars_bail!(InvalidOperation: "{function}: the vectors have length 0; expected at least one number");
    }
    let mut runs = RowRuns::new(width);
    for chunk in &chunks {
        // Complete rows that lie back to back go in as one run.
        let mut run = 0..0;
        for i in 0..chunk.rows {
            let range = chunk.row_range(i);
            let complete = chunk.row_is_valid(i)
                && range.len() == width
                && chunk.elements_valid(range.clone());
            if !complete {
                runs.push(chunk.values.get(run.clone()).unwrap_or(&[]));
                run = range.end..range.end;
                continue;
            }
            if range.start != run.end {
                runs.push(chunk.values.get(run.clone()).unwrap_or(&[]));
                run = range.start..range.start;
            }
            run.end = range.end;
        }
        runs.push(chunk.values.get(run).unwrap_or(&[]));
    }
    Ok(CoMoments::of_rows(&runs))
}

/// The rows of scalar columns (each one chunk) that hold no null.
fn of_columns<T: ColumnFloat + CoFloat>(columns: &[Series]) -> PolarsResult<CoMoments> {
    let mut slices: Vec<&[T]> = Vec::with_capacity(columns.len());
    let mut masks = Vec::new();
    let height = columns.first().map_or(0, |s| s.len());
    for column in columns {
        let ca = T::chunked(column)?;
        match ca.downcast_iter().next() {
            Some(arr) => {
                slices.push(arr.values().as_slice());
                if let Some(validity) = arr.validity() {
                    if validity.unset_bits() > 0 {
                        masks.push(validity.clone());
                    }
                }
            }
            None => slices.push(&[]),
        }
    }
    let rows = if masks.is_empty() {
        None
    } else {
        Some(
            (0..height)
                .filter(|&i| masks.iter().all(|m| m.get(i).unwrap_or(false)))
                .collect(),
        )
    };
    Ok(CoMoments::of_rows(&ColumnRows {
        columns: slices,
        rows,
    }))
}
