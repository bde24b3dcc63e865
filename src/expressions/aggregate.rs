//! `vector_mean`, `vector_sum`, `vector_min`, `vector_max`: aggregations over
//! the rows of an `Array`/`List` column, dimension by dimension. One vector
//! per column, or per group in `group_by().agg` (broadcast by `.over`).

use polars::prelude::*;
use pyo3_polars::derive::polars_expr;
use serde::Deserialize;

use super::columns::{common_width, vector_chunks, ColumnFloat};
use super::dtypes::{shaped_dtype, FloatKind, Shape};
use super::vector::vector_shape;
use crate::kernels::aggregate::{Accumulator, VectorAggregate};

#[derive(Deserialize)]
struct AggregateKwargs {
    /// The name the user called, for errors.
    function: String,
    /// `mean`, `sum`, `min` or `max`.
    op: String,
}

fn aggregate_output(fields: &[Field], kwargs: AggregateKwargs) -> PolarsResult<Field> {
    let field = fields.first().ok_or_else(
        || polars_err!(ComputeError: "{}: expected an input column", kwargs.function),
    )?;
    let (shape, kind) = vector_shape(field, &kwargs.function)?;
    Ok(Field::new(field.name().clone(), shaped_dtype(&shape, kind)))
}

/// The aggregate of every dimension over the rows (nulls skipped: a null
/// row, or a null element in its dimension), accumulated in f64 in row
/// order; Float32 input gives Float32. No valid row gives a null vector.
#[polars_expr(output_type_func_with_kwargs=aggregate_output)]
fn vector_aggregate(inputs: &[Series], kwargs: AggregateKwargs) -> PolarsResult<Series> {
    let function = kwargs.function.as_str();
    let op = VectorAggregate::parse(&kwargs.op).ok_or_else(
        || polars_err!(ComputeError: "{function}: unknown aggregation {:?}", kwargs.op),
    )?;
    let input = inputs
        .first()
        .ok_or_else(|| polars_err!(ComputeError: "{function}: expected an input column"))?;
    let (shape, kind) = vector_shape(&input.field(), function)?;
    let dtype = shaped_dtype(&shape, kind);
    let series = input.cast(&dtype)?;
    let found = with_float!(kind, T => aggregate::<T>(&series, op, function)?);
    let name = input.name().clone();
    let Some((width, values, valid)) = found else {
        return Ok(Series::full_null(name, 1, &dtype));
    };
    let flat: Series = match kind {
        FloatKind::F32 => Float32Chunked::from_iter_options(
            name.clone(),
            values
                .iter()
                .zip(&valid)
                .map(|(&v, &ok)| ok.then_some(v as f32)),
        )
        .into_series(),
        FloatKind::F64 => Float64Chunked::from_iter_options(
            name.clone(),
            values.iter().zip(&valid).map(|(&v, &ok)| ok.then_some(v)),
        )
        .into_series(),
    };
    let list = flat.implode()?.into_series().with_name(name);
    match shape {
        Shape::Array(_) => list.cast(&DataType::Array(Box::new(kind.dtype()), width)),
        _ => Ok(list),
    }
}

type Aggregated = Option<(usize, Vec<f64>, Vec<bool>)>;

fn aggregate<T: ColumnFloat>(
    series: &Series,
    op: VectorAggregate,
    function: &str,
) -> PolarsResult<Aggregated> {
    let chunks = vector_chunks::<T>(series, function)?;
    let Some(width) = common_width(&chunks, function)? else {
        return Ok(None);
    };
    let mut acc = Accumulator::new(width, op);
    for chunk in &chunks {
        // Complete rows that lie back to back go to the kernel as one run.
        let mut run = 0..0;
        for i in 0..chunk.rows {
            if !chunk.row_is_valid(i) {
                continue;
            }
            let range = chunk.row_range(i);
            let complete = width > 0 && range.len() == width;
            if complete && chunk.elements_valid(range.clone()) {
                if range.start != run.end {
                    acc.add_rows(chunk.values.get(run.clone()).unwrap_or(&[]));
                    run = range.start..range.start;
                }
                run.end = range.end;
                continue;
            }
            // Rows are added in order: the run before this row goes first.
            acc.add_rows(chunk.values.get(run.clone()).unwrap_or(&[]));
            run = range.end..range.end;
            let Some(row) = chunk.values.get(range.clone()) else {
                continue;
            };
            match chunk.inner {
                Some(inner) => acc.add_partial_row(row, |j| inner.is_valid(range.start + j)),
                None => acc.add_partial_row(row, |_| true),
            }
        }
        acc.add_rows(chunk.values.get(run).unwrap_or(&[]));
    }
    Ok(acc.finish().map(|(values, valid)| (width, values, valid)))
}
