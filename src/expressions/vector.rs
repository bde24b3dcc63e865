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
use polars_arrow::types::NativeType;
use pyo3_polars::derive::polars_expr;
use serde::Deserialize;

use super::columns::{
    f16_vector_chunks, map_vector_chunks, vector_chunks, ColumnFloat, VectorChunk,
};
use super::dtypes::{numeric_shape, reject_zero_width, shaped_dtype, FloatKind, Shape};
use crate::kernels::element::{Element, F16};
use crate::kernels::row_access::{VectorRows, Widened};
use crate::kernels::rowwise::{self, RowError, RowValues};
use crate::kernels::search::codes::IntCode;
use crate::kernels::search::grouped::{search_gathered, search_grouped, Groups};
use crate::kernels::search::{self, Corpus, Request, SearchError, SearchMetric};
use crate::kernels::vector::{self, UnitNorm};
use crate::options::{self, PairOp};

/// Shape and float type of a vector input, or the error a user should see.
pub(super) fn vector_shape(field: &Field, function: &str) -> PolarsResult<(Shape, FloatKind)> {
    reject_zero_width(field.dtype(), function)?;
    match numeric_shape(field.dtype()) {
        Some((Shape::Scalar, _)) => polars_bail!(InvalidOperation:
            "{function}: column {:?} is a scalar column ({}); expected vectors (an Array or List of numbers)",
            field.name().as_str(), field.dtype()),
        // Float16, Int8 and UInt8 vectors are computed as Float32.
        Some((shape, _)) if is_narrow(field.dtype()) => Ok((shape, FloatKind::F32)),
        Some(shape) => Ok(shape),
        None => polars_bail!(InvalidOperation:
            "{function}: expected an Array or List column of numbers, got {} for column {:?}",
            field.dtype(), field.name().as_str()),
    }
}

pub(super) fn first_input<'a>(inputs: &'a [Series], function: &str) -> PolarsResult<&'a Series> {
    inputs
        .first()
        .ok_or_else(|| polars_err!(ComputeError: "{function}: expected an input column"))
}

pub(super) fn first_field<'a>(fields: &'a [Field], function: &str) -> PolarsResult<&'a Field> {
    fields
        .first()
        .ok_or_else(|| polars_err!(ComputeError: "{function}: expected an input column"))
}

pub(super) fn check_constant_width(
    shape: &Shape,
    len: usize,
    function: &str,
    what: &str,
) -> PolarsResult<()> {
    if let Shape::Array(width) = shape {
        polars_ensure!(*width == len, ComputeError:
            "{function}: the column holds vectors of length {width} but the {what} has length {len}");
    }
    Ok(())
}

/// Every row of a vector column in order (`None` for a null row or a row
/// with a null element), collected for the row-wise drivers.
pub(super) fn row_slices<'a, T: Copy>(chunks: &[VectorChunk<'a, T>]) -> Vec<Option<&'a [T]>> {
    chunks
        .iter()
        .flat_map(|c| (0..c.rows).map(move |i| c.row(i)))
        .collect()
}

/// The rows of a vector input as the kernels of float type `T` read them.
/// Float32 and Float64 numbers are read in place; Float16, Int8 and UInt8
/// ones (computed as Float32) are widened a row at a time as the kernels
/// reach them, so the column is never copied; other numbers were cast by
/// [`prepared`].
pub(super) enum InputRows<'a, T> {
    Native(Vec<Option<&'a [T]>>),
    F16(Widened<'a, F16>),
    I8(Widened<'a, i8>),
    U8(Widened<'a, u8>),
}

impl<T: Element> VectorRows<T> for InputRows<'_, T> {
    fn row_count(&self) -> usize {
        match self {
            InputRows::Native(rows) => rows.len(),
            InputRows::F16(rows) => VectorRows::<T>::row_count(rows),
            InputRows::I8(rows) => VectorRows::<T>::row_count(rows),
            InputRows::U8(rows) => VectorRows::<T>::row_count(rows),
        }
    }
    fn row_len(&self, i: usize) -> Option<usize> {
        match self {
            InputRows::Native(rows) => rows.as_slice().row_len(i),
            InputRows::F16(rows) => VectorRows::<T>::row_len(rows, i),
            InputRows::I8(rows) => VectorRows::<T>::row_len(rows, i),
            InputRows::U8(rows) => VectorRows::<T>::row_len(rows, i),
        }
    }
    fn row<'s>(&'s self, i: usize, scratch: &'s mut Vec<T>) -> Option<&'s [T]> {
        match self {
            InputRows::Native(rows) => rows.get(i).copied().flatten(),
            InputRows::F16(rows) => rows.row(i, scratch),
            InputRows::I8(rows) => rows.row(i, scratch),
            InputRows::U8(rows) => rows.row(i, scratch),
        }
    }
}

/// Whether a vector column's numbers are widened as they are read
/// (Float16, Int8, UInt8) rather than read in place or cast.
fn is_narrow(dtype: &DataType) -> bool {
    matches!(
        dtype.inner_dtype(),
        Some(DataType::Float16 | DataType::Int8 | DataType::UInt8)
    )
}

/// A vector input ready to be read as float type `kind`: as it is when its
/// numbers are of that type or narrow, else cast (integers other than Int8
/// and UInt8, Decimal, or a Float32 side paired with a Float64 one).
fn prepared(series: &Series, kind: FloatKind, function: &str) -> PolarsResult<Series> {
    let (shape, _) = vector_shape(&series.field(), function)?;
    let dtype = shaped_dtype(&shape, kind);
    if is_narrow(series.dtype()) || series.dtype() == &dtype {
        Ok(series.clone())
    } else {
        series.cast(&dtype)
    }
}

/// The rows of a [`prepared`] vector input, read as float type `T`.
pub(super) fn input_rows<'a, T: ColumnFloat>(
    series: &'a Series,
    function: &str,
) -> PolarsResult<InputRows<'a, T>> {
    Ok(match series.dtype().inner_dtype() {
        Some(DataType::Float16) => InputRows::F16(Widened {
            rows: row_slices(&f16_vector_chunks(series, function)?),
        }),
        Some(DataType::Int8) => InputRows::I8(Widened {
            rows: row_slices(&vector_chunks::<i8>(series, function)?),
        }),
        Some(DataType::UInt8) => InputRows::U8(Widened {
            rows: row_slices(&vector_chunks::<u8>(series, function)?),
        }),
        _ => InputRows::Native(row_slices(&vector_chunks::<T>(series, function)?)),
    })
}

/// Builds a float column of `T` from the drivers' per-row results.
fn float_series<T: ColumnFloat>(name: PlSmallStr, results: RowValues<T>) -> Series {
    let validity = results.valid.map(Bitmap::from_iter);
    let array = PrimitiveArray::from_vec(results.values).with_validity(validity);
    ChunkedArray::<T::PolarsType>::with_chunk(name, array).into_series()
}

/// An option that did not parse, as the error a user sees.
pub(super) fn option_error(message: String) -> PolarsError {
    polars_err!(ComputeError: "{message}")
}

/// The numbers of a constant (a query vector, `project`'s matrix, `nearest`'s
/// queries), checked to hold `expected` numbers. Python passes each as a
/// Binary literal holding the values as little-endian float64 (Arrow data,
/// not a pickle of Python floats); its shape travels in the kwargs. The
/// streaming engine repeats a literal to the length of a morsel (cheap for
/// Binary: the rows share one buffer), so any number of equal rows is
/// accepted; `None` for an empty morsel, which carries no row.
pub(super) fn constant_values(
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
pub(super) fn row_error(error: RowError, function: &str, what: &str) -> PolarsError {
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

/// The first input [`prepared`] for the float type it is computed in, with
/// its shape and that type.
pub(super) fn vector_input(
    inputs: &[Series],
    function: &str,
) -> PolarsResult<(Series, Shape, FloatKind)> {
    let input = first_input(inputs, function)?;
    let (shape, kind) = vector_shape(&input.field(), function)?;
    Ok((prepared(input, kind, function)?, shape, kind))
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
    let a = prepared(first_input(inputs, function)?, T::KIND, function)?;
    let a_rows = input_rows::<T>(&a, function)?;
    let results = if let Some(width) = kwargs.constant {
        let constant: Option<Vec<T>> = constant_values(inputs, 1, width, function, "other vector")?
            .map(|values| values.into_iter().map(T::from_f64).collect());
        let b_rows: Vec<Option<&[T]>> = constant.iter().map(|c| Some(c.as_slice())).collect();
        rowwise::pair_values(&a_rows, b_rows.as_slice(), op.kernel::<T>())
            .map_err(|e| row_error(e, function, "other vector"))?
    } else {
        let b_series = inputs.get(1).ok_or_else(
            || polars_err!(ComputeError: "{function}: expected a second vector column"),
        )?;
        let b = prepared(b_series, T::KIND, function)?;
        let b_rows = input_rows::<T>(&b, function)?;
        rowwise::pair_values(&a_rows, &b_rows, op.kernel::<T>())
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
        let results = rowwise::row_values(&input_rows::<T>(&a, function)?, kernel);
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
    let (a, shape, kind) = vector_input(inputs, function)?;
    // The output is a float column of the input's layout: narrow numbers
    // are cast to it first, which is the output's own size.
    let a = a.cast(&shaped_dtype(&shape, kind))?;
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
        let (values, valid) = rowwise::project_rows::<T, _>(
            &input_rows::<T>(&a, function)?,
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
    let dtype = match shape {
        Shape::Array(_) => DataType::Array(Box::new(T::KIND.dtype()), width),
        _ => DataType::List(Box::new(T::KIND.dtype())),
    };
    vector_series_of(name, dtype, width, values, valid)
}

/// A column of `dtype` (`Array(_, width)` or `List(_)` of `N`) from
/// `n × width` row-major values and row validity.
pub(super) fn vector_series_of<N: NativeType>(
    name: PlSmallStr,
    dtype: DataType,
    width: usize,
    values: Vec<N>,
    valid: Vec<bool>,
) -> PolarsResult<Series> {
    let n = valid.len();
    let validity = if valid.iter().all(|&v| v) {
        None
    } else {
        Some(Bitmap::from_iter(valid))
    };
    let values = Box::new(PrimitiveArray::from_vec(values));
    let arrow_dtype = dtype.to_arrow(CompatLevel::newest());
    let array: ArrayRef = match &dtype {
        DataType::Array(_, _) => Box::new(polars_arrow::array::FixedSizeListArray::try_new(
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
    let metric = options::search_metric(&kwargs.metric, function).map_err(option_error)?;
    let k = options::positive_k(kwargs.k, function).map_err(option_error)?;
    let query = constant_values(inputs, 1, kwargs.width, function, "query")?.unwrap_or_default();
    let (a, _, kind) = vector_input(inputs, function)?;
    polars_ensure!(a.len() <= u32::MAX as usize, ComputeError: "{function}: more than 2^32 rows");
    let positions = with_corpus(&a, kind, metric, function, |corpus| {
        search::top_k(corpus, &query, k, metric)
    })?
    .map_err(|e| search_error(&e, function, "query"))?;
    Ok(UInt32Chunked::from_vec(a.name().clone(), positions).into_series())
}

/// `values` as integers of type `C` when every one is an integer in range.
/// `values` as codes of type `C`, or an error naming the first that is not one.
pub(super) fn exact_codes<C: IntCode>(
    values: &[f64],
    function: &str,
    what: &str,
) -> PolarsResult<Vec<C>> {
    search::exact_codes::<C>(values).map_err(|e| search_error(&e, function, what))
}

/// The chunks of a binary-code column (`Array`/`List` of UInt8), or an error
/// naming the dtype found.
pub(super) fn binary_codes<'a>(
    series: &'a Series,
    function: &str,
) -> PolarsResult<Vec<VectorChunk<'a, u8>>> {
    polars_ensure!(series.dtype().inner_dtype() == Some(&DataType::UInt8), InvalidOperation:
        "{function}: Hamming distance needs packed binary codes (an Array or List of UInt8, e.g. from ml.quantize(\"binary\")), got {}",
        series.dtype());
    vector_chunks::<u8>(series, function)
}

#[derive(Deserialize)]
struct NearestKwargs {
    function: String,
    /// The queries (second input) are `n_queries` × `dim`, row-major.
    n_queries: usize,
    dim: usize,
    k: i64,
    metric: String,
    /// When set, only these candidates are scored: the third input holds
    /// `n_queries` × `candidates` row positions (`u32`, little-endian;
    /// `u32::MAX` for none), as a Binary constant.
    #[serde(default)]
    candidates: Option<usize>,
    /// When set, each query is searched only among the rows of its group:
    /// the third input is each row's group (UInt32; null: in none), the
    /// fourth the queries' groups (`n_queries` × `u32`, little-endian,
    /// `u32::MAX` for none) as a Binary constant. A Boolean third input is
    /// a filter instead: every query searches the rows where it is true.
    #[serde(default)]
    grouped: bool,
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
    let metric = options::search_metric(&kwargs.metric, function).map_err(option_error)?;
    let k = options::positive_k(kwargs.k, function).map_err(option_error)?;
    let (a, _, kind) = vector_input(inputs, function)?;
    let (m, d) = (kwargs.n_queries, kwargs.dim);
    let Some(queries) = constant_values(inputs, 1, m * d, function, "queries")? else {
        return nearest_struct(a.name().clone(), &[]); // an empty frame: no matches
    };
    polars_ensure!(a.len() <= u32::MAX as usize, ComputeError: "{function}: more than 2^32 rows");
    if let Some(per_query) = kwargs.candidates {
        let metric = match metric {
            SearchMetric::Float(metric) => metric,
            SearchMetric::Hamming => polars_bail!(InvalidOperation:
                "{function}: candidates are rescored with \"cosine\", \"dot\" or \"euclidean\""),
        };
        let candidates = u32_constant(inputs, 2, m * per_query, function, "candidates")?;
        let found = with_float!(kind, T => search::nearest_among(
            &queries, m, d, k, metric, &input_rows::<T>(&a, function)?, &candidates, per_query,
        ).map_err(|e| search_error(&e, function, "queries (columns)"))?);
        return nearest_struct(a.name().clone(), &found);
    }
    let request = Request {
        queries: &queries,
        m,
        d,
        k,
        metric,
    };
    if kwargs.grouped
        && inputs
            .get(2)
            .is_some_and(|s| s.dtype() == &DataType::Boolean)
    {
        let positions = passing_rows(inputs, a.len(), function)?;
        let found = with_corpus_at(&a, kind, metric, function, Some(&positions), |rows| {
            search_gathered(rows, &request, &positions)
        })?
        .map_err(|e| search_error(&e, function, "queries (columns)"))?;
        return nearest_struct(a.name().clone(), &found);
    }
    if kwargs.grouped {
        let (rows, queries) = search_groups(inputs, a.len(), m, function)?;
        let groups = Groups {
            rows: &rows,
            queries: &queries,
        };
        let found = with_corpus(&a, kind, metric, function, |corpus| {
            search_grouped(corpus, &request, groups)
        })?
        .map_err(|e| polars_err!(ComputeError: "{}", e.message(function, "queries (columns)")))?;
        return nearest_struct(a.name().clone(), &found);
    }
    let found = with_corpus(&a, kind, metric, function, |corpus| {
        search::search(corpus, &request)
    })?
    .map_err(|e| search_error(&e, function, "queries (columns)"))?;
    nearest_struct(a.name().clone(), &found)
}

/// The positions of the rows a filtered `nearest` searches: where the
/// third input (a Boolean mask, one per row) is true.
fn passing_rows(inputs: &[Series], height: usize, function: &str) -> PolarsResult<Vec<u32>> {
    let mask = inputs
        .get(2)
        .ok_or_else(|| polars_err!(ComputeError: "{function}: the filter mask is missing"))?;
    polars_ensure!(mask.len() == height, ComputeError:
        "{function}: a filter mask of {} rows for {height} rows", mask.len());
    let mut positions = Vec::new();
    let mut offset = 0u32;
    for chunk in mask.bool()?.downcast_iter() {
        let values = match chunk.validity() {
            Some(valid) => chunk.values() & valid,
            None => chunk.values().clone(),
        };
        positions.extend(values.true_idx_iter().map(|i| offset + i as u32));
        offset += chunk.len() as u32;
    }
    Ok(positions)
}

/// The groups of a grouped `nearest`: each row's (the third input, one per
/// row) and each query's (the fourth, a Binary constant of `m` `u32`s).
fn search_groups(
    inputs: &[Series],
    height: usize,
    m: usize,
    function: &str,
) -> PolarsResult<(Vec<Option<u32>>, Vec<u32>)> {
    let rows = inputs
        .get(2)
        .ok_or_else(|| polars_err!(ComputeError: "{function}: the rows' groups are missing"))?;
    polars_ensure!(rows.len() == height, ComputeError:
        "{function}: {} group keys for {height} rows", rows.len());
    let rows = rows.cast(&DataType::UInt32)?;
    let rows: Vec<Option<u32>> = rows.u32()?.iter().collect();
    let queries = u32_constant(inputs, 3, m, function, "query groups")?;
    Ok((rows, queries))
}

/// Runs `run` on the rows of `a` as the search reads them: binary codes
/// for Hamming distance, the column's own narrow dtype (Float16, Int8,
/// UInt8), else the float type `kind`. Which kernels serve them is the
/// search's decision ([`search::search`]), not this wrapper's.
fn with_corpus<R>(
    a: &Series,
    kind: FloatKind,
    metric: SearchMetric,
    function: &str,
    run: impl FnOnce(Corpus<'_>) -> R,
) -> PolarsResult<R> {
    with_corpus_at(a, kind, metric, function, None, run)
}

/// As [`with_corpus`], with only the rows at `positions` (ascending) when
/// given: a filter reads just the rows that pass.
fn with_corpus_at<R>(
    a: &Series,
    kind: FloatKind,
    metric: SearchMetric,
    function: &str,
    positions: Option<&[u32]>,
    run: impl FnOnce(Corpus<'_>) -> R,
) -> PolarsResult<R> {
    Ok(match (metric, a.dtype().inner_dtype()) {
        (SearchMetric::Hamming, _) => run(Corpus::Bits(&rows_at(
            &binary_codes(a, function)?,
            positions,
        ))),
        (_, Some(DataType::Int8)) => run(Corpus::I8(&rows_at(
            &vector_chunks::<i8>(a, function)?,
            positions,
        ))),
        (_, Some(DataType::UInt8)) => run(Corpus::U8(&rows_at(
            &vector_chunks::<u8>(a, function)?,
            positions,
        ))),
        (_, Some(DataType::Float16)) => run(Corpus::F16(&rows_at(
            &f16_vector_chunks(a, function)?,
            positions,
        ))),
        _ => match kind {
            FloatKind::F32 => run(Corpus::F32(&rows_at(
                &vector_chunks::<f32>(a, function)?,
                positions,
            ))),
            FloatKind::F64 => run(Corpus::F64(&rows_at(
                &vector_chunks::<f64>(a, function)?,
                positions,
            ))),
        },
    })
}

/// The rows at `positions` (ascending; every row when `None`) of a vector
/// column's chunks.
fn rows_at<'a, T: Copy>(
    chunks: &[VectorChunk<'a, T>],
    positions: Option<&[u32]>,
) -> Vec<Option<&'a [T]>> {
    let Some(positions) = positions else {
        return row_slices(chunks);
    };
    let mut out = Vec::with_capacity(positions.len());
    let (mut chunk, mut first) = (0usize, 0usize);
    for &p in positions {
        let p = p as usize;
        while chunks.get(chunk).is_some_and(|c| p >= first + c.rows) {
            first += chunks[chunk].rows;
            chunk += 1;
        }
        out.push(chunks.get(chunk).and_then(|c| c.row(p - first)));
    }
    out
}

/// A search's error, for a user who called `function` (`what` names the queries).
pub(super) fn search_error(error: &SearchError, function: &str, what: &str) -> PolarsError {
    polars_err!(ComputeError: "{}", error.message(function, what))
}

/// A Binary constant of `expected` little-endian `u32`s at `inputs[index]`
/// (`what` names it in errors): a rescoring `nearest`'s candidate row
/// positions, a grouped one's query groups.
fn u32_constant(
    inputs: &[Series],
    index: usize,
    expected: usize,
    function: &str,
    what: &str,
) -> PolarsResult<Vec<u32>> {
    let series = inputs
        .get(index)
        .ok_or_else(|| polars_err!(ComputeError: "{function}: the {what} are missing"))?;
    let bytes = series
        .binary()
        .map_err(|_| polars_err!(ComputeError: "{function}: the {what} must be a Binary constant, got {}", series.dtype()))?
        .get(0)
        .ok_or_else(|| polars_err!(ComputeError: "{function}: the {what} are null"))?;
    polars_ensure!(bytes.len() == expected * 4, ComputeError:
        "{function}: the {what} hold {} bytes, expected {expected} numbers", bytes.len());
    Ok(bytes
        .chunks_exact(4)
        .map(|b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
        .collect())
}

/// The struct column `nearest` returns: one row per (query, rank).
fn nearest_struct(name: PlSmallStr, found: &[Vec<(u32, f64)>]) -> PolarsResult<Series> {
    let (query, rank, index, score) = search::flatten_found(found);
    let fields = [
        UInt32Chunked::from_vec("query".into(), query).into_series(),
        UInt32Chunked::from_vec("rank".into(), rank).into_series(),
        UInt32Chunked::from_vec("index".into(), index).into_series(),
        Float64Chunked::from_vec("score".into(), score).into_series(),
    ];
    Ok(StructChunked::from_series(name, fields[0].len(), fields.iter())?.into_series())
}
