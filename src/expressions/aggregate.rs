//! `vector_mean`, `vector_sum`, `vector_min`, `vector_max`: aggregations over
//! the rows of an `Array`/`List` column, dimension by dimension. One vector
//! per column, or per group in `group_by().agg` (broadcast by `.over`), or
//! per group from lists of row numbers (`vector_aggregate_groups`, behind
//! `pmk.vector_mean(frame, column, by=...)`), which reads the rows in place
//! instead of the copy of every group's rows that `group_by().agg` makes
//! before it calls a plugin.

use polars::prelude::*;
use pyo3_polars::derive::polars_expr;
use serde::Deserialize;

use rayon::prelude::*;

use super::columns::{common_width, vector_chunks, ColumnFloat, RowStarts, VectorChunk};
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
    let Some(found) = found else {
        return Ok(Series::full_null(name, 1, &dtype));
    };
    let list = flat_vector(name.clone(), kind, found)
        .implode()?
        .into_series();
    let list = list.with_name(name);
    match shape {
        Shape::Array(width) => list.cast(&DataType::Array(Box::new(kind.dtype()), width)),
        _ => Ok(list),
    }
}

/// One aggregate vector as a series of the float kind (null where a
/// dimension had no value).
fn flat_vector(name: PlSmallStr, kind: FloatKind, found: Found) -> Series {
    let (_, values, valid) = found;
    match kind {
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
    }
}

/// The aggregate of each group of rows named by `inputs[1]`, a `List` of
/// row numbers per group (each group's rows in ascending order, as
/// `with_row_index().group_by().agg(index)` gives them): the same vectors,
/// bit for bit, as the expression computes per group in `group_by().agg`.
#[polars_expr(output_type_func_with_kwargs=aggregate_output)]
fn vector_aggregate_groups(inputs: &[Series], kwargs: AggregateKwargs) -> PolarsResult<Series> {
    let function = kwargs.function.as_str();
    let op = VectorAggregate::parse(&kwargs.op).ok_or_else(
        || polars_err!(ComputeError: "{function}: unknown aggregation {:?}", kwargs.op),
    )?;
    let [input, groups] = inputs else {
        polars_bail!(ComputeError: "{function}: expected a column and its groups");
    };
    let (shape, kind) = vector_shape(&input.field(), function)?;
    let dtype = shaped_dtype(&shape, kind);
    let series = input.cast(&dtype)?;
    let groups = groups.cast(&DataType::List(Box::new(DataType::UInt64)))?;
    let groups = groups.list()?;
    let mut members: Vec<Vec<u64>> = Vec::with_capacity(groups.len());
    for group in groups.amortized_iter() {
        let rows = match group {
            Some(rows) => rows.as_ref().u64()?.into_no_null_iter().collect(),
            None => Vec::new(),
        };
        members.push(rows);
    }
    let found = with_float!(kind, T => aggregate_groups::<T>(&series, &members, op, function)?);
    let name = input.name().clone();
    let vectors = found
        .into_iter()
        .map(|found| found.map(|found| flat_vector(name.clone(), kind, found)));
    let mut list: ListChunked = vectors.collect();
    list.rename(name);
    let list = list.cast(&DataType::List(Box::new(kind.dtype())))?;
    match shape {
        Shape::Array(width) => list.cast(&DataType::Array(Box::new(kind.dtype()), width)),
        _ => Ok(list),
    }
}

/// `(width, values, valid)` of one aggregate vector.
type Found = (usize, Vec<f64>, Vec<bool>);
type Aggregated = Option<Found>;

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
            add_row(&mut acc, chunk, i, width);
        }
        acc.add_rows(chunk.values.get(run).unwrap_or(&[]));
    }
    Ok(acc.finish().map(|(values, valid)| (width, values, valid)))
}

/// Adds row `i` of `chunk` on its own: skipped if null, its valid elements
/// if it holds a null (or is not `width` long), else the whole row.
fn add_row<T: ColumnFloat>(
    acc: &mut Accumulator,
    chunk: &VectorChunk<'_, T>,
    i: usize,
    width: usize,
) {
    if !chunk.row_is_valid(i) {
        return;
    }
    let range = chunk.row_range(i);
    let Some(row) = chunk.values.get(range.clone()) else {
        return;
    };
    if width > 0 && range.len() == width && chunk.elements_valid(range.clone()) {
        acc.add_rows(row);
        return;
    }
    match chunk.inner {
        Some(inner) => acc.add_partial_row(row, |j| inner.is_valid(range.start + j)),
        None => acc.add_partial_row(row, |_| true),
    }
}

/// [`aggregate`] of each group of row numbers, groups over threads, each
/// group's rows added in the order given (ascending: row order).
fn aggregate_groups<T: ColumnFloat>(
    series: &Series,
    groups: &[Vec<u64>],
    op: VectorAggregate,
    function: &str,
) -> PolarsResult<Vec<Aggregated>> {
    let chunks = vector_chunks::<T>(series, function)?;
    // The first row number of each chunk, and the total.
    let mut firsts = Vec::with_capacity(chunks.len());
    let mut total = 0usize;
    for chunk in &chunks {
        firsts.push(total);
        total += chunk.rows;
    }
    let locate = |row: u64| -> PolarsResult<(&VectorChunk<'_, T>, usize)> {
        let row = usize::try_from(row).unwrap_or(usize::MAX);
        let c = firsts
            .partition_point(|&first| first <= row)
            .saturating_sub(1);
        match chunks.get(c) {
            Some(chunk) if row < total => Ok((chunk, row - firsts[c])),
            _ => polars_bail!(
                ComputeError: "{function}: group row {row} is past the column's {total} rows"
            ),
        }
    };
    groups
        .par_iter()
        .map(|rows| {
            // The width: the column's (Array), or the group's rows' (List).
            let mut width = None;
            for &row in rows {
                let (chunk, i) = locate(row)?;
                if let RowStarts::Fixed(w) = chunk.starts {
                    width = Some(w);
                    break;
                }
                if !chunk.row_is_valid(i) {
                    continue;
                }
                let len = chunk.row_range(i).len();
                match width {
                    None => width = Some(len),
                    Some(w) if w != len => polars_bail!(
                        ComputeError: "{function}: vectors must all have one length in a group, but row {row} has {len} values and an earlier row {w}"
                    ),
                    _ => {}
                }
            }
            let Some(width) = width else {
                return Ok(None);
            };
            let mut acc = Accumulator::new(width, op);
            for &row in rows {
                let (chunk, i) = locate(row)?;
                add_row(&mut acc, chunk, i, width);
            }
            Ok(acc.finish().map(|(values, valid)| (width, values, valid)))
        })
        .collect()
}
