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
use serde::Deserialize;

use super::columns::{map_vector_chunks, vector_chunks, ColumnFloat, VectorChunk};
use super::dtypes::{numeric_shape, reject_zero_width, shaped_dtype, FloatKind, Shape};
use crate::kernels::element::Element;
use crate::kernels::rowwise::{self, RowError, RowValues};
use crate::kernels::vector::{self, UnitNorm};
use crate::options::{self, PairOp};

/// Shape and float type of a vector input, or the error a user should see.
pub(super) fn vector_shape(field: &Field, function: &str) -> PolarsResult<(Shape, FloatKind)> {
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

/// Every row of a vector column, collected for the row-wise drivers.
fn row_slices<'a, T: Element>(chunks: &'a [VectorChunk<'a, T>]) -> Vec<Option<&'a [T]>> {
    rows(chunks).collect()
}

/// Builds a float column of `T` from the drivers' per-row results.
fn float_series<T: ColumnFloat>(name: PlSmallStr, results: RowValues<T>) -> Series {
    let validity = results.valid.map(Bitmap::from_iter);
    let array = PrimitiveArray::from_vec(results.values).with_validity(validity);
    ChunkedArray::<T::PolarsType>::with_chunk(name, array).into_series()
}

/// An option that did not parse, as the error a user sees.
fn option_error(message: String) -> PolarsError {
    polars_err!(ComputeError: "{message}")
}

/// The numbers of a constant (a query vector, `project`'s matrix, `nearest`'s
/// queries), checked to hold `expected` numbers. Python passes each as a
/// Binary literal holding the values as little-endian float64 (Arrow data,
/// not a pickle of Python floats); its shape travels in the kwargs. The
/// streaming engine repeats a literal to the length of a morsel (cheap for
/// Binary: the rows share one buffer), so any number of equal rows is
/// accepted; `None` for an empty morsel, which carries no row.
fn constant_values(
    inputs: &[Series],
    index: usize,
    expected: usize,
    function: &str,
    what: &str,
) -> PolarsResult<Option<Vec<f64>>> {
    let series = inputs
        .get(index)
        .ok_or_else(|| polars_err!(ComputeError: "{function}: the {what} is missing"))?;
    if series.is_empty() {
        return Ok(None);
    }
    let bytes = series
        .binary()
        .map_err(|_| polars_err!(ComputeError: "{function}: the {what} must be a Binary constant, got {}", series.dtype()))?
        .get(0)
        .ok_or_else(|| polars_err!(ComputeError: "{function}: the {what} is null"))?;
    polars_ensure!(bytes.len() == expected * 8, ComputeError:
        "{function}: the {what} holds {} bytes, expected {expected} float64 values", bytes.len());
    Ok(Some(
        bytes
            .chunks_exact(8)
            .map(|b| f64::from_le_bytes([b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7]]))
            .collect(),
    ))
}

/// A driver error as the message of the plugin face; `what` names the other
/// side (`"query"`, `"matrix (rows)"`, ...; empty for a second column).
fn row_error(error: RowError, function: &str, what: &str) -> PolarsError {
    match error {
        RowError::RowCounts { left, right } => polars_err!(ShapeMismatch:
            "{function}: the columns have {left} and {right} rows; expected equal lengths or one of length 1"),
        RowError::Pair { row, left, right } => {
            let suffix = if what.is_empty() {
                String::new()
            } else {
                format!(" (the {what})")
            };
            polars_err!(ComputeError:
                "{function}: row {row} pairs vectors of different lengths: {left} and {right}{suffix}")
        }
        RowError::Width {
            row,
            found,
            expected,
        } => polars_err!(ComputeError:
            "{function}: row {row} has a vector of length {found} but the {what} has length {expected}"),
    }
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
    /// The length of a constant vector given as the second input (which
    /// follows the column's float type), or `None` for a second column.
    constant: Option<usize>,
}

/// The float type both sides are computed in: Float32 only when every
/// vector *column* is Float32 (a constant follows the column).
fn pair_kind(fields: &[Field], kwargs: &PairwiseKwargs) -> PolarsResult<FloatKind> {
    let function = kwargs.function.as_str();
    let a = first_field(fields, function)?;
    let (shape_a, kind_a) = vector_shape(a, function)?;
    if let Some(len) = kwargs.constant {
        check_constant_width(&shape_a, len, function, "other vector")?;
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
    Ok(kind_a.common(kind_b))
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
    with_float!(kind, T => pairwise_typed::<T>(inputs, &kwargs))
}

fn pairwise_typed<T: ColumnFloat>(
    inputs: &[Series],
    kwargs: &PairwiseKwargs,
) -> PolarsResult<Series> {
    let function = kwargs.function.as_str();
    let op = PairOp::parse(&kwargs.op, function).map_err(option_error)?;
    let a = cast_vectors(first_input(inputs, function)?, T::KIND, function)?;
    let a_chunks = vector_chunks::<T>(&a, function)?;
    let a_rows = row_slices(&a_chunks);
    let results = if let Some(width) = kwargs.constant {
        let constant: Option<Vec<T>> = constant_values(inputs, 1, width, function, "other vector")?
            .map(|values| values.into_iter().map(T::from_f64).collect());
        let b_rows: Vec<Option<&[T]>> = constant.iter().map(|c| Some(c.as_slice())).collect();
        rowwise::pair_values(a_rows.as_slice(), b_rows.as_slice(), op.kernel::<T>())
            .map_err(|e| row_error(e, function, "other vector"))?
    } else {
        let b_series = inputs.get(1).ok_or_else(
            || polars_err!(ComputeError: "{function}: expected a second vector column"),
        )?;
        let b = cast_vectors(b_series, T::KIND, function)?;
        let b_chunks = vector_chunks::<T>(&b, function)?;
        let b_rows = row_slices(&b_chunks);
        rowwise::pair_values(a_rows.as_slice(), b_rows.as_slice(), op.kernel::<T>())
            .map_err(|e| row_error(e, function, ""))?
    };
    Ok(float_series::<T>(a.name().clone(), results))
}

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
    let function = kwargs.function.as_str();
    let (a, _, kind) = vector_input(inputs, function)?;
    with_float!(kind, T => {
        let kernel = options::norm_kernel::<T>(&kwargs.ord, function).map_err(option_error)?;
        let chunks = vector_chunks::<T>(&a, function)?;
        let results = rowwise::row_values(row_slices(&chunks).as_slice(), kernel);
        Ok(float_series::<T>(a.name().clone(), results))
    })
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
    let norm = options::unit_norm(&kwargs.norm, function).map_err(option_error)?;
    let (a, _, kind) = vector_input(inputs, function)?;
    with_float!(kind, T => unit_normalize_typed::<T>(&a, norm, function))
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
    /// The matrix (second input) is `inputs` × `outputs`, row-major.
    inputs: usize,
    outputs: usize,
    /// Whether a bias vector of length `outputs` is the third input.
    bias: bool,
}

impl ProjectKwargs {
    fn output_shape(&self, shape: &Shape) -> Shape {
        match shape {
            Shape::Array(_) => Shape::Array(self.outputs),
            _ => Shape::List,
        }
    }

    /// The matrix and the bias, checked against the declared shape (an
    /// empty morsel carries no constants: zeros, never used).
    fn constants(&self, inputs: &[Series]) -> PolarsResult<(Vec<f64>, Option<Vec<f64>>)> {
        let function = &self.function;
        let size = self.inputs * self.outputs;
        let matrix =
            constant_values(inputs, 1, size, function, "matrix")?.unwrap_or(vec![0.0; size]);
        let bias = match self.bias {
            true => Some(
                constant_values(inputs, 2, self.outputs, function, "bias")?
                    .unwrap_or(vec![0.0; self.outputs]),
            ),
            false => None,
        };
        Ok((matrix, bias))
    }
}

fn project_output(fields: &[Field], kwargs: ProjectKwargs) -> PolarsResult<Field> {
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
    let function = kwargs.function.as_str();
    let (matrix, bias) = kwargs.constants(inputs)?;
    let (a, shape, kind) = vector_input(inputs, function)?;
    with_float!(kind, T => {
        let chunks = vector_chunks::<T>(&a, function)?;
        let (values, valid) = rowwise::project_rows::<T, _>(
            row_slices(&chunks).as_slice(),
            &matrix,
            kwargs.inputs,
            kwargs.outputs,
            bias.as_deref(),
        )
        .map_err(|e| row_error(e, function, "matrix (rows)"))?;
        vector_series::<T>(a.name().clone(), &kwargs.output_shape(&shape), kwargs.outputs, values, valid)
    })
}

/// A vector column (`Array(T, width)` or `List(T)`) from `n × width`
/// row-major values and row validity.
fn vector_series<T: ColumnFloat>(
    name: PlSmallStr,
    shape: &Shape,
    width: usize,
    values: Vec<T>,
    valid: Vec<bool>,
) -> PolarsResult<Series> {
    let n = valid.len();
    let dtype = shaped_dtype(shape, T::KIND);
    let validity = if valid.iter().all(|&v| v) {
        None
    } else {
        Some(Bitmap::from_iter(valid))
    };
    let values = Box::new(PrimitiveArray::from_vec(values));
    let arrow_dtype = dtype.to_arrow(CompatLevel::newest());
    let array: ArrayRef = match shape {
        Shape::Array(_) => Box::new(polars_arrow::array::FixedSizeListArray::try_new(
            arrow_dtype,
            n,
            values,
            validity,
        )?),
        _ => {
            let offsets: Vec<i64> = (0..=n).map(|i| (i * width) as i64).collect();
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
    Ok(unsafe { Series::from_chunks_and_dtype_unchecked(name, vec![array], &dtype) })
}

// ---------------------------------------------------------------- neighbours

#[derive(Deserialize)]
struct TopKKwargs {
    function: String,
    /// The length of the query (the second input).
    width: usize,
    k: i64,
    metric: String,
}

fn top_k_output(fields: &[Field], kwargs: TopKKwargs) -> PolarsResult<Field> {
    let (shape, _) = single_vector_kind(fields, &kwargs.function)?;
    check_constant_width(&shape, kwargs.width, &kwargs.function, "query")?;
    Ok(Field::new(
        first_field(fields, &kwargs.function)?.name().clone(),
        DataType::UInt32,
    ))
}

#[polars_expr(output_type_func_with_kwargs=top_k_output)]
fn top_k_similar(inputs: &[Series], kwargs: TopKKwargs) -> PolarsResult<Series> {
    let function = kwargs.function.as_str();
    let metric = options::metric(&kwargs.metric, function).map_err(option_error)?;
    let k = options::positive_k(kwargs.k, function).map_err(option_error)?;
    let query = constant_values(inputs, 1, kwargs.width, function, "query")?.unwrap_or_default();
    let (a, _, kind) = vector_input(inputs, function)?;
    polars_ensure!(a.len() <= u32::MAX as usize, ComputeError: "{function}: more than 2^32 rows");
    let positions = with_float!(kind, T => {
        let query: Vec<T> = query.iter().map(|&v| T::from_f64(v)).collect();
        let chunks = vector_chunks::<T>(&a, function)?;
        rowwise::top_k_rows(row_slices(&chunks).as_slice(), &query, k, metric)
            .map_err(|e| row_error(e, function, "query"))?
    });
    Ok(UInt32Chunked::from_vec(a.name().clone(), positions).into_series())
}

#[derive(Deserialize)]
struct NearestKwargs {
    function: String,
    /// The queries (second input) are `n_queries` × `dim`, row-major.
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
    let metric = options::metric(&kwargs.metric, function).map_err(option_error)?;
    let k = options::positive_k(kwargs.k, function).map_err(option_error)?;
    let (a, _, kind) = vector_input(inputs, function)?;
    let size = kwargs.n_queries * kwargs.dim;
    let Some(queries) = constant_values(inputs, 1, size, function, "queries")? else {
        return nearest_struct(a.name().clone(), &[]); // an empty frame: no matches
    };
    polars_ensure!(a.len() <= u32::MAX as usize, ComputeError: "{function}: more than 2^32 rows");
    let found = with_float!(kind, T => {
        let chunks = vector_chunks::<T>(&a, function)?;
        let rows = row_slices(&chunks);
        rowwise::nearest_rows(&queries, kwargs.n_queries, kwargs.dim, k, metric, &rows)
            .map_err(|e| row_error(e, function, "queries (columns)"))?
    });
    nearest_struct(a.name().clone(), &found)
}

/// The struct column `nearest` returns: one row per (query, rank).
fn nearest_struct(name: PlSmallStr, found: &[Vec<(u32, f64)>]) -> PolarsResult<Series> {
    let (query, rank, index, score) = rowwise::flatten_found(found);
    let fields = [
        UInt32Chunked::from_vec("query".into(), query).into_series(),
        UInt32Chunked::from_vec("rank".into(), rank).into_series(),
        UInt32Chunked::from_vec("index".into(), index).into_series(),
        Float64Chunked::from_vec("score".into(), score).into_series(),
    ];
    Ok(StructChunked::from_series(name, fields[0].len(), fields.iter())?.into_series())
}
