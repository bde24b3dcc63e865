//! Row-wise vector operations on `Array`/`List` columns (`dot`,
//! `cosine_similarity`, `distance`, `norm`, `unit_normalize`, `project`)
//! and the neighbour searches (`top_k_similar`, `nearest`).
//!
//! The row-wise ones are registered elementwise in Python: each output row
//! depends only on the same input row, so they stream and may be split
//! into morsels. The searches need every row and are not elementwise.

use polars::prelude::*;
use polars_arrow::array::PrimitiveArray;
use polars_arrow::bitmap::Bitmap;
use pyo3_polars::derive::polars_expr;
use rayon::prelude::*;
use serde::Deserialize;

use super::columns::{map_vector_chunks, vector_chunks, ColumnFloat, VectorChunk};
use super::dtypes::{numeric_shape, reject_zero_width, shaped_dtype, FloatKind, Shape};
use crate::kernels::element::Element;
use crate::kernels::neighbors::{self, rank_row, Metric, TopK};
use crate::kernels::vector::{self, UnitNorm};

/// Shape and float type of a vector input, or the error a user should see.
fn vector_shape(field: &Field, function: &str) -> PolarsResult<(Shape, FloatKind)> {
    reject_zero_width(field.dtype(), function)?;
    match numeric_shape(field.dtype()) {
        Some((Shape::Scalar, _)) => polars_bail!(InvalidOperation:
            "{function}: column {:?} is a scalar column ({}); expected vectors (an Array or List of numbers)",
            field.name().as_str(), field.dtype()),
        Some(shape) => Ok(shape),
        None => polars_bail!(InvalidOperation:
            "{function}: expected an Array or List column of numbers, got {} for column {:?}",
            field.dtype(), field.name().as_str()),
    }
}

fn first_input<'a>(inputs: &'a [Series], function: &str) -> PolarsResult<&'a Series> {
    inputs
        .first()
        .ok_or_else(|| polars_err!(ComputeError: "{function}: expected an input column"))
}

fn first_field<'a>(fields: &'a [Field], function: &str) -> PolarsResult<&'a Field> {
    fields
        .first()
        .ok_or_else(|| polars_err!(ComputeError: "{function}: expected an input column"))
}

fn check_constant_width(shape: &Shape, len: usize, function: &str, what: &str) -> PolarsResult<()> {
    if let Shape::Array(width) = shape {
        polars_ensure!(*width == len, ComputeError:
            "{function}: the column holds vectors of length {width} but the {what} has length {len}");
    }
    Ok(())
}

/// Every row of a vector column in order: `None` for a null row or a row
/// with a null element.
fn rows<'a, T: Element>(
    chunks: &'a [VectorChunk<'a, T>],
) -> impl Iterator<Item = Option<&'a [T]>> + 'a {
    chunks
        .iter()
        .flat_map(|c| (0..c.rows).map(move |i| c.row(i)))
}

/// Builds a float column of `T` from values and row validity.
fn float_series<T: ColumnFloat>(name: PlSmallStr, values: Vec<T>, valid: Vec<bool>) -> Series {
    let validity = if valid.iter().all(|&v| v) {
        None
    } else {
        Some(Bitmap::from_iter(valid))
    };
    let array = PrimitiveArray::from_vec(values).with_validity(validity);
    ChunkedArray::<T::PolarsType>::with_chunk(name, array).into_series()
}

fn cast_vectors(series: &Series, kind: FloatKind, function: &str) -> PolarsResult<Series> {
    let (shape, _) = vector_shape(
        &Field::new(series.name().clone(), series.dtype().clone()),
        function,
    )?;
    series.cast(&shaped_dtype(&shape, kind))
}

/// The first input as a vector column cast to the float type it is computed
/// in, with its shape and that type.
fn vector_input(inputs: &[Series], function: &str) -> PolarsResult<(Series, Shape, FloatKind)> {
    let input = first_input(inputs, function)?;
    let (shape, kind) = vector_shape(&input.field(), function)?;
    Ok((input.cast(&shaped_dtype(&shape, kind))?, shape, kind))
}

// ---------------------------------------------------------------- pairwise

#[derive(Deserialize)]
struct PairwiseKwargs {
    /// The name the user called, for errors.
    function: String,
    /// `dot`, `cosine`, `euclidean`, `sqeuclidean`, `manhattan`, `chebyshev`
    /// or `cosine_distance`.
    op: String,
    /// A constant vector broadcast to every row, or `None` for a second column.
    other: Option<Vec<f64>>,
}

type PairKernel<T> = fn(&[T], &[T]) -> f64;

fn pair_kernel<T: Element>(op: &str, function: &str) -> PolarsResult<PairKernel<T>> {
    Ok(match op {
        "dot" => vector::dot::<T>,
        "cosine" => vector::cosine::<T>,
        "euclidean" => vector::euclidean::<T>,
        "sqeuclidean" => vector::sq_euclidean::<T>,
        "manhattan" => vector::manhattan::<T>,
        "chebyshev" => vector::chebyshev::<T>,
        "cosine_distance" => vector::cosine_distance::<T>,
        other => polars_bail!(ComputeError: "{function}: unknown operation {other:?}"),
    })
}

/// The float type both sides are computed in: Float32 only when every
/// vector *column* is Float32 (a constant follows the column).
fn pair_kind(fields: &[Field], kwargs: &PairwiseKwargs) -> PolarsResult<FloatKind> {
    let function = kwargs.function.as_str();
    let a = first_field(fields, function)?;
    let (shape_a, kind_a) = vector_shape(a, function)?;
    if let Some(constant) = &kwargs.other {
        check_constant_width(&shape_a, constant.len(), function, "other vector")?;
        return Ok(kind_a);
    }
    let b = fields
        .get(1)
        .ok_or_else(|| polars_err!(ComputeError: "{function}: expected a second vector column"))?;
    let (shape_b, kind_b) = vector_shape(b, function)?;
    if let (Shape::Array(wa), Shape::Array(wb)) = (&shape_a, &shape_b) {
        polars_ensure!(wa == wb, ComputeError:
            "{function}: the columns hold vectors of different lengths: {wa} and {wb}");
    }
    Ok(if kind_a == FloatKind::F32 && kind_b == FloatKind::F32 {
        FloatKind::F32
    } else {
        FloatKind::F64
    })
}

fn pairwise_output(fields: &[Field], kwargs: PairwiseKwargs) -> PolarsResult<Field> {
    let kind = pair_kind(fields, &kwargs)?;
    Ok(Field::new(
        first_field(fields, &kwargs.function)?.name().clone(),
        kind.dtype(),
    ))
}

#[polars_expr(output_type_func_with_kwargs=pairwise_output)]
fn pairwise(inputs: &[Series], kwargs: PairwiseKwargs) -> PolarsResult<Series> {
    let fields: Vec<Field> = inputs.iter().map(|s| s.field().into_owned()).collect();
    let kind = pair_kind(&fields, &kwargs)?;
    match kind {
        FloatKind::F32 => pairwise_typed::<f32>(inputs, &kwargs),
        FloatKind::F64 => pairwise_typed::<f64>(inputs, &kwargs),
    }
}

fn pairwise_typed<T: ColumnFloat>(
    inputs: &[Series],
    kwargs: &PairwiseKwargs,
) -> PolarsResult<Series> {
    let function = kwargs.function.as_str();
    let kernel = pair_kernel::<T>(&kwargs.op, function)?;
    let a = cast_vectors(first_input(inputs, function)?, T::KIND, function)?;
    let a_chunks = vector_chunks::<T>(&a, function)?;
    let name = a.name().clone();

    // The other side: a constant, or a second column (either side may have
    // length 1 and is then broadcast).
    let constant: Option<Vec<T>> = kwargs
        .other
        .as_ref()
        .map(|c| c.iter().map(|&v| T::from_f64(v)).collect());
    let b = match &constant {
        Some(_) => None,
        None => {
            let b_series = inputs.get(1).ok_or_else(
                || polars_err!(ComputeError: "{function}: expected a second vector column"),
            )?;
            Some(cast_vectors(b_series, T::KIND, function)?)
        }
    };
    let b_chunks = match &b {
        Some(b) => vector_chunks::<T>(b, function)?,
        None => Vec::new(),
    };
    let a_rows: Vec<Option<&[T]>> = rows(&a_chunks).collect();
    let b_rows: Vec<Option<&[T]>> = match &constant {
        Some(c) => vec![Some(c.as_slice())],
        None => rows(&b_chunks).collect(),
    };
    let (n_a, n_b) = (a_rows.len(), b_rows.len());
    let n = match (n_a, n_b) {
        (x, y) if x == y => x,
        (1, y) => y,
        (x, 1) => x,
        (x, y) => polars_bail!(ShapeMismatch:
            "{function}: the columns have {x} and {y} rows; expected equal lengths or one of length 1"),
    };
    for row in 0..n {
        if let (Some(x), Some(y)) = (pick(&a_rows, row), pick(&b_rows, row)) {
            polars_ensure!(x.len() == y.len(), ComputeError:
                "{function}: row {row} pairs vectors of different lengths: {} and {}{}", x.len(), y.len(),
                if constant.is_some() { " (the other vector)" } else { "" });
        }
    }
    let one = |row: usize| match (pick(&a_rows, row), pick(&b_rows, row)) {
        (Some(x), Some(y)) => Some(T::from_f64(kernel(x, y))),
        _ => None,
    };
    let elements: usize = a_rows.iter().flatten().map(|r| r.len()).sum();
    let results: Vec<Option<T>> = if elements >= PARALLEL_MIN_ELEMENTS {
        // Rows are independent: computing them on several threads gives the
        // same bits as one thread.
        (0..n).into_par_iter().map(one).collect()
    } else {
        (0..n).map(one).collect()
    };
    let valid: Vec<bool> = results.iter().map(Option::is_some).collect();
    let values: Vec<T> = results.into_iter().map(Option::unwrap_or_default).collect();
    Ok(float_series::<T>(name, values, valid))
}

/// Row `i` of a side, broadcasting a side of length 1.
fn pick<'a, T>(side: &[Option<&'a [T]>], i: usize) -> Option<&'a [T]> {
    side.get(if side.len() == 1 { 0 } else { i })
        .copied()
        .flatten()
}

/// Vector columns with at least this many numbers are processed on several threads.
const PARALLEL_MIN_ELEMENTS: usize = 1 << 20;

// ---------------------------------------------------------------- norm

#[derive(Deserialize)]
struct NormKwargs {
    function: String,
    /// `"1"`, `"2"` or `"inf"`.
    ord: String,
}

fn single_vector_kind(fields: &[Field], function: &str) -> PolarsResult<(Shape, FloatKind)> {
    vector_shape(first_field(fields, function)?, function)
}

fn norm_output(fields: &[Field], kwargs: NormKwargs) -> PolarsResult<Field> {
    let (_, kind) = single_vector_kind(fields, &kwargs.function)?;
    Ok(Field::new(
        first_field(fields, &kwargs.function)?.name().clone(),
        kind.dtype(),
    ))
}

#[polars_expr(output_type_func_with_kwargs=norm_output)]
fn norm(inputs: &[Series], kwargs: NormKwargs) -> PolarsResult<Series> {
    let (a, _, kind) = vector_input(inputs, &kwargs.function)?;
    match kind {
        FloatKind::F32 => norm_typed::<f32>(&a, &kwargs),
        FloatKind::F64 => norm_typed::<f64>(&a, &kwargs),
    }
}

fn norm_typed<T: ColumnFloat>(a: &Series, kwargs: &NormKwargs) -> PolarsResult<Series> {
    let function = kwargs.function.as_str();
    let kernel: fn(&[T]) -> f64 = match kwargs.ord.as_str() {
        "1" => vector::norm_l1::<T>,
        "2" => vector::norm_l2::<T>,
        "inf" => vector::norm_inf::<T>,
        other => polars_bail!(ComputeError: "{function}: ord must be 1, 2 or inf, got {other}"),
    };
    let chunks = vector_chunks::<T>(a, function)?;
    let mut values = Vec::with_capacity(a.len());
    let mut valid = Vec::with_capacity(a.len());
    for slice in rows(&chunks) {
        values.push(slice.map_or(T::default(), |x| T::from_f64(kernel(x))));
        valid.push(slice.is_some());
    }
    Ok(float_series::<T>(a.name().clone(), values, valid))
}

// ---------------------------------------------------------------- unit_normalize

#[derive(Deserialize)]
struct UnitNormalizeKwargs {
    function: String,
    /// `"l1"`, `"l2"` or `"max"`.
    norm: String,
}

fn unit_normalize_output(fields: &[Field], kwargs: UnitNormalizeKwargs) -> PolarsResult<Field> {
    let (shape, kind) = single_vector_kind(fields, &kwargs.function)?;
    Ok(Field::new(
        first_field(fields, &kwargs.function)?.name().clone(),
        shaped_dtype(&shape, kind),
    ))
}

#[polars_expr(output_type_func_with_kwargs=unit_normalize_output)]
fn unit_normalize(inputs: &[Series], kwargs: UnitNormalizeKwargs) -> PolarsResult<Series> {
    let function = kwargs.function.as_str();
    let norm = match kwargs.norm.as_str() {
        "l1" => UnitNorm::L1,
        "l2" => UnitNorm::L2,
        "max" => UnitNorm::Max,
        other => {
            polars_bail!(ComputeError: "{function}: norm must be \"l1\", \"l2\" or \"max\", got {other:?}")
        }
    };
    let (a, _, kind) = vector_input(inputs, function)?;
    match kind {
        FloatKind::F32 => unit_normalize_typed::<f32>(&a, norm, function),
        FloatKind::F64 => unit_normalize_typed::<f64>(&a, norm, function),
    }
}

fn unit_normalize_typed<T: ColumnFloat>(
    a: &Series,
    norm: UnitNorm,
    function: &str,
) -> PolarsResult<Series> {
    let chunks = vector_chunks::<T>(a, function)?;
    map_vector_chunks::<T>(a, &chunks, true, |row, complete, out| {
        if complete {
            vector::unit_normalize_into(row, norm, out)
        } else {
            out.extend(std::iter::repeat_n(T::default(), row.len())) // a null row now
        }
    })
}

// ---------------------------------------------------------------- project

#[derive(Deserialize)]
struct ProjectKwargs {
    function: String,
    /// The matrix, row-major, `inputs` × `outputs`.
    matrix: Vec<f64>,
    inputs: usize,
    outputs: usize,
    bias: Option<Vec<f64>>,
}

impl ProjectKwargs {
    fn check(&self) -> PolarsResult<()> {
        let function = &self.function;
        polars_ensure!(self.matrix.len() == self.inputs * self.outputs, ComputeError:
            "{function}: the matrix holds {} numbers, not {} x {}", self.matrix.len(), self.inputs, self.outputs);
        if let Some(bias) = &self.bias {
            polars_ensure!(bias.len() == self.outputs, ComputeError:
                "{function}: bias has length {} but the matrix has {} columns", bias.len(), self.outputs);
        }
        Ok(())
    }

    fn output_shape(&self, shape: &Shape) -> Shape {
        match shape {
            Shape::Array(_) => Shape::Array(self.outputs),
            _ => Shape::List,
        }
    }
}

fn project_output(fields: &[Field], kwargs: ProjectKwargs) -> PolarsResult<Field> {
    kwargs.check()?;
    let (shape, kind) = single_vector_kind(fields, &kwargs.function)?;
    check_constant_width(&shape, kwargs.inputs, &kwargs.function, "matrix (rows)")?;
    let name = first_field(fields, &kwargs.function)?.name().clone();
    Ok(Field::new(
        name,
        shaped_dtype(&kwargs.output_shape(&shape), kind),
    ))
}

#[polars_expr(output_type_func_with_kwargs=project_output)]
fn project(inputs: &[Series], kwargs: ProjectKwargs) -> PolarsResult<Series> {
    kwargs.check()?;
    let function = kwargs.function.as_str();
    let (a, shape, kind) = vector_input(inputs, function)?;
    match kind {
        FloatKind::F32 => project_typed::<f32>(&a, &shape, &kwargs),
        FloatKind::F64 => project_typed::<f64>(&a, &shape, &kwargs),
    }
}

/// `row @ matrix + bias` for every row, through one matrix product per block
/// of rows (accumulated in f64).
fn project_typed<T: ColumnFloat>(
    a: &Series,
    shape: &Shape,
    kwargs: &ProjectKwargs,
) -> PolarsResult<Series> {
    let function = kwargs.function.as_str();
    let (d, k) = (kwargs.inputs, kwargs.outputs);
    let chunks = vector_chunks::<T>(a, function)?;
    let n = a.len();
    let mut out = vec![T::default(); n * k];
    let mut valid = vec![false; n];
    let block_rows = neighbors::ROW_BLOCK;
    let mut block = vec![0.0f64; block_rows * d];
    let mut product = vec![0.0f64; block_rows * k];
    let mut pending: Vec<usize> = Vec::with_capacity(block_rows);
    let mut flush = |pending: &mut Vec<usize>, block: &[f64], out: &mut [T]| -> PolarsResult<()> {
        let b = pending.len();
        if b == 0 {
            return Ok(());
        }
        let done = neighbors::matmul(
            &block[..b * d],
            b,
            d,
            &kwargs.matrix,
            k,
            &mut product[..b * k],
        );
        polars_ensure!(done, ComputeError: "{function}: matrix shape mismatch");
        for (slot, &row) in pending.iter().enumerate() {
            let result = &product[slot * k..(slot + 1) * k];
            let target = &mut out[row * k..(row + 1) * k];
            for (j, (o, &v)) in target.iter_mut().zip(result).enumerate() {
                let bias = kwargs
                    .bias
                    .as_ref()
                    .and_then(|b| b.get(j))
                    .copied()
                    .unwrap_or(0.0);
                *o = T::from_f64(v + bias);
            }
        }
        pending.clear();
        Ok(())
    };
    for (row, slice) in rows(&chunks).enumerate() {
        let Some(x) = slice else { continue };
        polars_ensure!(x.len() == d, ComputeError:
            "{function}: row {row} has a vector of length {} but the matrix has {d} rows", x.len());
        let slot = pending.len();
        for (dst, src) in block[slot * d..(slot + 1) * d].iter_mut().zip(x) {
            *dst = src.to_f64();
        }
        valid[row] = true;
        pending.push(row);
        if pending.len() == block_rows {
            flush(&mut pending, &block, &mut out)?;
        }
    }
    flush(&mut pending, &block, &mut out)?;

    let out_shape = kwargs.output_shape(shape);
    let dtype = shaped_dtype(&out_shape, T::KIND);
    let validity = if valid.iter().all(|&v| v) {
        None
    } else {
        Some(Bitmap::from_iter(valid))
    };
    let values = Box::new(PrimitiveArray::from_vec(out));
    let arrow_dtype = dtype.to_arrow(CompatLevel::newest());
    let array: ArrayRef = match out_shape {
        Shape::Array(_) => Box::new(polars_arrow::array::FixedSizeListArray::try_new(
            arrow_dtype,
            n,
            values,
            validity,
        )?),
        _ => {
            let offsets: Vec<i64> = (0..=n).map(|i| (i * k) as i64).collect();
            let offsets = polars_arrow::offset::OffsetsBuffer::<i64>::try_from(offsets)?;
            Box::new(polars_arrow::array::ListArray::<i64>::try_new(
                arrow_dtype,
                offsets,
                values,
                validity,
            )?)
        }
    };
    // SAFETY: the array was built with `dtype`'s own Arrow type.
    Ok(unsafe { Series::from_chunks_and_dtype_unchecked(a.name().clone(), vec![array], &dtype) })
}

// ---------------------------------------------------------------- neighbours

fn parse_metric(metric: &str, function: &str) -> PolarsResult<Metric> {
    Ok(match metric {
        "cosine" => Metric::Cosine,
        "dot" => Metric::Dot,
        "euclidean" => Metric::Euclidean,
        other => polars_bail!(ComputeError:
            "{function}: metric must be \"cosine\", \"dot\" or \"euclidean\", got {other:?}"),
    })
}

fn positive_k(k: i64, function: &str) -> PolarsResult<usize> {
    usize::try_from(k).ok().filter(|&k| k > 0).ok_or_else(
        || polars_err!(ComputeError: "{function}: k must be a positive integer, got {k}"),
    )
}

#[derive(Deserialize)]
struct TopKKwargs {
    function: String,
    query: Vec<f64>,
    k: i64,
    metric: String,
}

fn top_k_output(fields: &[Field], kwargs: TopKKwargs) -> PolarsResult<Field> {
    let (shape, _) = single_vector_kind(fields, &kwargs.function)?;
    check_constant_width(&shape, kwargs.query.len(), &kwargs.function, "query")?;
    Ok(Field::new(
        first_field(fields, &kwargs.function)?.name().clone(),
        DataType::UInt32,
    ))
}

#[polars_expr(output_type_func_with_kwargs=top_k_output)]
fn top_k_similar(inputs: &[Series], kwargs: TopKKwargs) -> PolarsResult<Series> {
    let function = kwargs.function.as_str();
    let (a, _, kind) = vector_input(inputs, function)?;
    let positions = match kind {
        FloatKind::F32 => top_k_typed::<f32>(&a, &kwargs)?,
        FloatKind::F64 => top_k_typed::<f64>(&a, &kwargs)?,
    };
    Ok(UInt32Chunked::from_vec(a.name().clone(), positions).into_series())
}

fn top_k_typed<T: ColumnFloat>(a: &Series, kwargs: &TopKKwargs) -> PolarsResult<Vec<u32>> {
    let function = kwargs.function.as_str();
    let metric = parse_metric(&kwargs.metric, function)?;
    let k = positive_k(kwargs.k, function)?;
    let query: Vec<T> = kwargs.query.iter().map(|&v| T::from_f64(v)).collect();
    let chunks = vector_chunks::<T>(a, function)?;
    polars_ensure!(a.len() <= u32::MAX as usize, ComputeError: "{function}: more than 2^32 rows");
    let mut top = TopK::new(k);
    for (row, slice) in rows(&chunks).enumerate() {
        let Some(x) = slice else { continue };
        polars_ensure!(x.len() == query.len(), ComputeError:
            "{function}: row {row} has a vector of length {} but the query has length {}", x.len(), query.len());
        let (key, score) = rank_row(metric, x, &query);
        top.push(key, row as u32, score);
    }
    Ok(top
        .into_sorted()
        .into_iter()
        .map(|(index, _)| index)
        .collect())
}

#[derive(Deserialize)]
struct NearestKwargs {
    function: String,
    /// Row-major `n_queries` × `dim`.
    queries: Vec<f64>,
    n_queries: usize,
    dim: usize,
    k: i64,
    metric: String,
}

fn nearest_dtype() -> DataType {
    DataType::Struct(vec![
        Field::new("query".into(), DataType::UInt32),
        Field::new("rank".into(), DataType::UInt32),
        Field::new("index".into(), DataType::UInt32),
        Field::new("score".into(), DataType::Float64),
    ])
}

fn nearest_output(fields: &[Field], kwargs: NearestKwargs) -> PolarsResult<Field> {
    let (shape, _) = single_vector_kind(fields, &kwargs.function)?;
    check_constant_width(&shape, kwargs.dim, &kwargs.function, "queries (columns)")?;
    Ok(Field::new(
        first_field(fields, &kwargs.function)?.name().clone(),
        nearest_dtype(),
    ))
}

#[polars_expr(output_type_func_with_kwargs=nearest_output)]
fn nearest(inputs: &[Series], kwargs: NearestKwargs) -> PolarsResult<Series> {
    let function = kwargs.function.as_str();
    polars_ensure!(kwargs.queries.len() == kwargs.n_queries * kwargs.dim, ComputeError:
        "{function}: queries hold {} numbers, not {} x {}", kwargs.queries.len(), kwargs.n_queries, kwargs.dim);
    let (a, _, kind) = vector_input(inputs, function)?;
    let found = match kind {
        FloatKind::F32 => nearest_typed::<f32>(&a, &kwargs)?,
        FloatKind::F64 => nearest_typed::<f64>(&a, &kwargs)?,
    };
    let total: usize = found.iter().map(Vec::len).sum();
    let (mut query, mut rank, mut index, mut score) = (
        Vec::with_capacity(total),
        Vec::with_capacity(total),
        Vec::with_capacity(total),
        Vec::with_capacity(total),
    );
    for (q, hits) in found.iter().enumerate() {
        for (r, &(i, s)) in hits.iter().enumerate() {
            query.push(q as u32);
            rank.push(r as u32 + 1);
            index.push(i);
            score.push(s);
        }
    }
    let fields = [
        UInt32Chunked::from_vec("query".into(), query).into_series(),
        UInt32Chunked::from_vec("rank".into(), rank).into_series(),
        UInt32Chunked::from_vec("index".into(), index).into_series(),
        Float64Chunked::from_vec("score".into(), score).into_series(),
    ];
    Ok(StructChunked::from_series(a.name().clone(), total, fields.iter())?.into_series())
}

fn nearest_typed<T: ColumnFloat>(
    a: &Series,
    kwargs: &NearestKwargs,
) -> PolarsResult<Vec<Vec<(u32, f64)>>> {
    let function = kwargs.function.as_str();
    let metric = parse_metric(&kwargs.metric, function)?;
    let k = positive_k(kwargs.k, function)?;
    let d = kwargs.dim;
    let chunks = vector_chunks::<T>(a, function)?;
    polars_ensure!(a.len() <= u32::MAX as usize, ComputeError: "{function}: more than 2^32 rows");
    // Check every row's length before the search so a bad row is an error.
    for (row, slice) in rows(&chunks).enumerate() {
        if let Some(x) = slice {
            polars_ensure!(x.len() == d, ComputeError:
                "{function}: row {row} has a vector of length {} but the queries have length {d}", x.len());
        }
    }
    let candidates = rows(&chunks)
        .enumerate()
        .filter_map(|(row, slice)| slice.map(|x| (row as u32, x)));
    Ok(neighbors::nearest(
        &kwargs.queries,
        kwargs.n_queries,
        d,
        k,
        metric,
        candidates,
    ))
}
