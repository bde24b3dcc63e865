//! The fitted scalers' expressions: the aggregations their fit reads
//! (moments, order statistics, and the census, refining and gather passes
//! of exact quantiles beyond memory) and `fitted_scale`, the elementwise transform
//! with the fitted parameters. Both run the kernels the `ml` scaling
//! expressions run, so a fitted scaler and the expression agree bit for bit.

use polars::prelude::*;
use pyo3_polars::derive::polars_expr;
use serde::Deserialize;

use super::columns::{map_float_chunks, row_groups, segments, ColumnFloat, UnseenGroup};
use super::dtypes::{numeric_shape, FloatKind, Shape};
use super::scaling::unsupported;
use crate::kernels::passes::{prefix_of, sub_census, Counted};
use crate::kernels::quantile::{percentile_linear_segments, SparseCensus, OUT_OF_CORE_BITS};
use crate::kernels::scaling::{column_moments, StatsError, Transform};

#[derive(Deserialize)]
struct StatisticsKwargs {
    /// The name the user called, for errors.
    function: String,
    /// The percentiles of `robust_stats` (unused by the others).
    #[serde(default)]
    quantile_range: Option<(f64, f64)>,
}

fn struct_dtype(fields: &[(&str, DataType)]) -> DataType {
    DataType::Struct(
        fields
            .iter()
            .map(|(name, dtype)| Field::new((*name).into(), dtype.clone()))
            .collect(),
    )
}

const MOMENTS: [&str; 6] = ["count", "mean", "m2", "min", "max", "unit"];
const SORTED: [&str; 6] = ["count", "min", "max", "q_low", "median", "q_high"];

fn float_fields(names: &[&'static str]) -> Vec<(&'static str, DataType)> {
    names.iter().map(|&n| (n, DataType::Float64)).collect()
}

/// The input of a statistics aggregation: a numeric (non-vector) column, as Float64.
fn numeric_input<'a>(inputs: &'a [Series], function: &str) -> PolarsResult<(&'a Series, Series)> {
    let input = inputs
        .first()
        .ok_or_else(|| polars_err!(ComputeError: "{function}: expected one input"))?;
    match numeric_shape(input.dtype()) {
        Some((Shape::Scalar, _)) => Ok((input, input.cast(&DataType::Float64)?)),
        _ => Err(unsupported(function, input.dtype())),
    }
}

fn statistics_output(
    input_fields: &[Field],
    function: &str,
    fields: Vec<(&'static str, DataType)>,
) -> PolarsResult<Field> {
    let field = input_fields
        .first()
        .ok_or_else(|| polars_err!(ComputeError: "{function}: expected one input"))?;
    match numeric_shape(field.dtype()) {
        Some((Shape::Scalar, _)) => Ok(Field::new(field.name().clone(), struct_dtype(&fields))),
        _ => Err(unsupported(function, field.dtype())),
    }
}

/// A one-row struct of Float64 fields.
fn float_struct(name: PlSmallStr, names: &[&str], values: &[f64]) -> PolarsResult<Series> {
    let fields: Vec<Series> = names
        .iter()
        .zip(values)
        .map(|(&n, &v)| Float64Chunked::from_vec(n.into(), vec![v]).into_series())
        .collect();
    Ok(StructChunked::from_series(name, 1, fields.iter())?.into_series())
}

fn moments_output(input_fields: &[Field], kwargs: StatisticsKwargs) -> PolarsResult<Field> {
    statistics_output(input_fields, &kwargs.function, float_fields(&MOMENTS))
}

/// The mergeable statistics of a numeric column in one pass, NaN and nulls
/// skipped, overflow-safe: count, mean, M2 (sum of squared deviations), min
/// and max in units of `unit` (a power of two, 1 unless the values are near
/// `f64::MAX`; see `column_moments`), as a one-row struct (an aggregation,
/// so it also runs per group). StandardScaler fits on it. An infinite value
/// gives infinite min and max, for the caller to report with the column name.
#[polars_expr(output_type_func_with_kwargs=moments_output)]
fn moments(inputs: &[Series], kwargs: StatisticsKwargs) -> PolarsResult<Series> {
    let (input, series) = numeric_input(inputs, &kwargs.function)?;
    let ca = series.f64()?;
    let values = match column_moments(&segments::<f64>(ca)) {
        Ok((m, unit)) => [m.count, m.mean, m.m2, m.min, m.max, unit],
        Err(StatsError::Infinite { .. }) => infinite_marker(ca.len(), &MOMENTS),
    };
    float_struct(input.name().clone(), &MOMENTS, &values)
}

/// Statistics that say "this column holds infinity": infinite min and max.
fn infinite_marker(len: usize, names: &[&str; 6]) -> [f64; 6] {
    names.map(|name| match name {
        "count" => len as f64,
        "min" => f64::NEG_INFINITY,
        "unit" => 1.0,
        _ => f64::INFINITY,
    })
}

fn robust_stats_output(input_fields: &[Field], kwargs: StatisticsKwargs) -> PolarsResult<Field> {
    statistics_output(input_fields, &kwargs.function, float_fields(&SORTED))
}

/// RobustScaler's order statistics of a numeric column (count, min, max, the
/// two percentiles of `quantile_range` and the median, numpy's linear rule),
/// NaN and nulls skipped, as a one-row struct: the same selection the
/// `robust_scale` expression runs. Infinity gives infinite min and max.
#[polars_expr(output_type_func_with_kwargs=robust_stats_output)]
fn robust_stats(inputs: &[Series], kwargs: StatisticsKwargs) -> PolarsResult<Series> {
    let function = kwargs.function.as_str();
    let (input, series) = numeric_input(inputs, function)?;
    let range = kwargs
        .quantile_range
        .ok_or_else(|| polars_err!(ComputeError: "{function}: quantile_range is missing"))?;
    let ca = series.f64()?;
    let values = match percentile_linear_segments(&segments::<f64>(ca), range) {
        Ok(s) => [s.count as f64, s.min, s.max, s.lower, s.median, s.upper],
        Err(_) => infinite_marker(ca.len(), &SORTED),
    };
    float_struct(input.name().clone(), &SORTED, &values)
}

fn census_dtype() -> Vec<(&'static str, DataType)> {
    vec![
        ("buckets", DataType::List(Box::new(DataType::UInt32))),
        ("counts", DataType::List(Box::new(DataType::UInt64))),
        ("min", DataType::Float64),
        ("max", DataType::Float64),
        ("infinite", DataType::Boolean),
    ]
}

fn order_census_output(input_fields: &[Field], kwargs: StatisticsKwargs) -> PolarsResult<Field> {
    statistics_output(input_fields, &kwargs.function, census_dtype())
}

/// The first pass of exact quantiles over data larger than memory: how many
/// values of this batch (or group of it) fall in each order-key bucket (the
/// non-empty buckets and their counts), the extent, and whether it holds
/// infinity. Censuses of batches merge by adding counts.
#[polars_expr(output_type_func_with_kwargs=order_census_output)]
fn order_census(inputs: &[Series], kwargs: StatisticsKwargs) -> PolarsResult<Series> {
    let (input, series) = numeric_input(inputs, &kwargs.function)?;
    let census = SparseCensus::of_segments(&segments::<f64>(series.f64()?), OUT_OF_CORE_BITS);
    let (buckets, counts) = (census.buckets, census.counts);
    let name = input.name().clone();
    let fields = [
        list_of(UInt32Chunked::from_vec("buckets".into(), buckets).into_series())?,
        list_of(UInt64Chunked::from_vec("counts".into(), counts).into_series())?,
        Float64Chunked::from_vec("min".into(), vec![census.min]).into_series(),
        Float64Chunked::from_vec("max".into(), vec![census.max]).into_series(),
        BooleanChunked::from_slice("infinite".into(), &[census.first_infinite.is_some()])
            .into_series(),
    ];
    Ok(StructChunked::from_series(name, 1, fields.iter())?.into_series())
}

/// A one-row list column holding `values`.
fn list_of(values: Series) -> PolarsResult<Series> {
    let name = values.name().clone();
    Ok(values.implode()?.into_series().with_name(name))
}

#[derive(Deserialize)]
struct PassKwargs {
    /// The name the user called, for errors.
    function: String,
    /// The group keys, when the second input holds each row's key; empty
    /// without groups.
    keys: Vec<String>,
    /// Per key (one entry without groups): the resolution of the wanted
    /// order-key buckets, in bits, and the buckets (ascending).
    bits: Vec<u32>,
    buckets: Vec<Vec<u64>>,
    /// `order_refine`: per key, the finer resolution to count at.
    #[serde(default)]
    into_bits: Vec<u32>,
}

impl PassKwargs {
    /// The entry of the per-key lists these rows use: the group key is the
    /// second input (constant within the group). `None`: nothing wanted.
    fn entry(&self, inputs: &[Series]) -> PolarsResult<Option<usize>> {
        if self.keys.is_empty() {
            return Ok(Some(0));
        }
        let function = self.function.as_str();
        let key = inputs
            .get(1)
            .ok_or_else(|| polars_err!(ComputeError: "{function}: expected a group key input"))?
            .str()?
            .get(0);
        Ok(key.and_then(|k| self.keys.iter().position(|known| known == k)))
    }

    /// The valid, non-NaN values of the input that lie in this entry's
    /// wanted buckets (the first input, a Float64 column).
    fn wanted_values(&self, inputs: &[Series]) -> PolarsResult<(PlSmallStr, Vec<f64>)> {
        let (input, series) = numeric_input(inputs, &self.function)?;
        let name = input.name().clone();
        let entry = self.entry(inputs)?;
        let (Some(bits), Some(wanted)) = (
            entry.and_then(|e| self.bits.get(e)),
            entry.and_then(|e| self.buckets.get(e)),
        ) else {
            return Ok((name, Vec::new()));
        };
        let mut values = Vec::new();
        if !wanted.is_empty() {
            for x in series
                .f64()?
                .downcast_iter()
                .flat_map(|chunk| chunk.iter().flatten().copied())
            {
                if !x.is_nan() && wanted.binary_search(&prefix_of(x, *bits)).is_ok() {
                    values.push(x);
                }
            }
        }
        Ok((name, values))
    }
}

fn pass_output(input_fields: &[Field], function: &str, dtype: DataType) -> PolarsResult<Field> {
    let field = input_fields
        .first()
        .ok_or_else(|| polars_err!(ComputeError: "{function}: expected one input"))?;
    match numeric_shape(field.dtype()) {
        Some((Shape::Scalar, _)) => Ok(Field::new(field.name().clone(), dtype)),
        _ => Err(unsupported(function, field.dtype())),
    }
}

fn order_gather_output(input_fields: &[Field], kwargs: PassKwargs) -> PolarsResult<Field> {
    let dtype = DataType::List(Box::new(DataType::Float64));
    pass_output(input_fields, &kwargs.function, dtype)
}

/// The last pass of exact quantiles beyond memory: the values of this batch
/// (or group) that lie in the wanted buckets, as one list.
#[polars_expr(output_type_func_with_kwargs=order_gather_output)]
fn order_gather(inputs: &[Series], kwargs: PassKwargs) -> PolarsResult<Series> {
    let (name, values) = kwargs.wanted_values(inputs)?;
    list_of(Float64Chunked::from_vec(name, values).into_series())
}

fn refine_dtype() -> Vec<(&'static str, DataType)> {
    vec![
        ("buckets", DataType::List(Box::new(DataType::UInt64))),
        ("counts", DataType::List(Box::new(DataType::UInt64))),
        ("min", DataType::List(Box::new(DataType::Float64))),
        ("max", DataType::List(Box::new(DataType::Float64))),
    ]
}

fn order_refine_output(input_fields: &[Field], kwargs: PassKwargs) -> PolarsResult<Field> {
    pass_output(
        input_fields,
        &kwargs.function,
        struct_dtype(&refine_dtype()),
    )
}

/// A refining pass of exact quantiles beyond memory: the values of this
/// batch (or group) inside the wanted buckets, counted per finer bucket
/// (`into_bits` key bits), with each bucket's extent.
#[polars_expr(output_type_func_with_kwargs=order_refine_output)]
fn order_refine(inputs: &[Series], kwargs: PassKwargs) -> PolarsResult<Series> {
    let (input, series) = numeric_input(inputs, &kwargs.function)?;
    let entry = kwargs.entry(inputs)?;
    let pick = |list: &[u32]| entry.and_then(|e| list.get(e)).copied().unwrap_or(0);
    let (bits, into_bits) = (pick(&kwargs.bits), pick(&kwargs.into_bits));
    let wanted = entry
        .and_then(|e| kwargs.buckets.get(e))
        .map_or(&[][..], Vec::as_slice);
    let ca = series.f64()?;
    let values = ca
        .downcast_iter()
        .flat_map(|chunk| chunk.iter().flatten().copied());
    let census = if wanted.is_empty() {
        Vec::new()
    } else {
        sub_census(values, wanted, bits, into_bits)
    };
    let column = |name: &str, f: fn(&Counted) -> f64| {
        list_of(Float64Chunked::from_vec(name.into(), census.iter().map(f).collect()).into_series())
    };
    let fields = [
        list_of(
            UInt64Chunked::from_vec("buckets".into(), census.iter().map(|c| c.prefix).collect())
                .into_series(),
        )?,
        list_of(
            UInt64Chunked::from_vec("counts".into(), census.iter().map(|c| c.count).collect())
                .into_series(),
        )?,
        column("min", |c| c.min)?,
        column("max", |c| c.max)?,
    ];
    Ok(StructChunked::from_series(input.name().clone(), 1, fields.iter())?.into_series())
}

#[derive(Deserialize)]
struct FittedScaleKwargs {
    /// The name the user called, for errors.
    function: String,
    /// 0 for a numeric column, else the vector width (the input is `Array`).
    width: usize,
    /// The group keys seen at fit time (rendered as strings); empty without groups.
    keys: Vec<String>,
    /// `(mul, sub, div, add)` per group and lane, group-major (see
    /// `Transform::coefficients`).
    coefficients: Vec<f64>,
    clip: Option<(f64, f64)>,
    /// Undo the transform instead (`Transform::invert`).
    inverse: bool,
    /// The output is Float32 (the column was Float32 at fit time).
    float32: bool,
    /// `"error"` or `"null"`: what a group unseen at fit time gives.
    unknown: String,
}

impl FittedScaleKwargs {
    fn lanes(&self) -> usize {
        self.width.max(1)
    }

    fn out_kind(&self) -> FloatKind {
        if self.float32 {
            FloatKind::F32
        } else {
            FloatKind::F64
        }
    }

    fn out_dtype(&self) -> DataType {
        let inner = self.out_kind().dtype();
        match self.width {
            0 => inner,
            w => DataType::Array(Box::new(inner), w),
        }
    }

    /// One transform per group and lane.
    fn transforms(&self) -> PolarsResult<Vec<Transform>> {
        let groups = self.keys.len().max(1);
        polars_ensure!(self.coefficients.len() == groups * self.lanes() * 4, ComputeError:
            "{}: {} coefficients for {groups} groups of width {}",
            self.function, self.coefficients.len(), self.lanes());
        Ok(self
            .coefficients
            .chunks_exact(4)
            .map(|c| Transform::from_coefficients([c[0], c[1], c[2], c[3]], self.clip))
            .collect())
    }
}

fn fitted_scale_output(input_fields: &[Field], kwargs: FittedScaleKwargs) -> PolarsResult<Field> {
    let field = input_fields
        .first()
        .ok_or_else(|| polars_err!(ComputeError: "{}: expected one input", kwargs.function))?;
    Ok(Field::new(field.name().clone(), kwargs.out_dtype()))
}

/// A fitted scaler's transform (or its inverse) of one column: each value
/// through `Transform::apply` of its group and lane, the code the `ml`
/// scaling expressions run. Elementwise, so it streams. The input is a
/// numeric column (a Float64 or Float32 one computes unchanged) or an
/// `Array` of the fitted width; with groups, the second input is each row's
/// rendered group key.
#[polars_expr(output_type_func_with_kwargs=fitted_scale_output)]
fn fitted_scale(inputs: &[Series], kwargs: FittedScaleKwargs) -> PolarsResult<Series> {
    let function = kwargs.function.as_str();
    let input = inputs
        .first()
        .ok_or_else(|| polars_err!(ComputeError: "{function}: expected one input"))?;
    let transforms = kwargs.transforms()?;
    let groups = fitted_row_groups(inputs, &kwargs)?;
    // Float32 in and out computes on the Float32 values (through f64, as
    // the expressions do); anything else computes on Float64.
    let compute = match (input.dtype(), kwargs.float32) {
        (DataType::Float32, true) => FloatKind::F32,
        (DataType::Array(inner, _), true) if **inner == DataType::Float32 => FloatKind::F32,
        _ => FloatKind::F64,
    };
    let computed = if kwargs.width == 0 {
        let series = input.cast(&compute.dtype())?;
        with_float!(compute, T => scale_rows::<T>(&series, &transforms, groups.as_deref(), &kwargs)?)
    } else {
        let dtype = DataType::Array(Box::new(compute.dtype()), kwargs.width);
        let series = input.cast(&dtype)?;
        with_float!(compute, T => scale_vector_rows::<T>(&series, &transforms, groups.as_deref(), &kwargs)?)
    };
    computed.cast(&kwargs.out_dtype())
}

/// Each row's group (`None`: unseen at fit time, null out), or `None`
/// without groups. An unseen group is an error unless `unknown == "null"`.
fn fitted_row_groups(
    inputs: &[Series],
    kwargs: &FittedScaleKwargs,
) -> PolarsResult<Option<Vec<Option<usize>>>> {
    let function = kwargs.function.as_str();
    let unseen = match kwargs.unknown.as_str() {
        "error" => UnseenGroup::Error(UNKNOWN_GROUP_HINT),
        "null" => UnseenGroup::Null,
        other => {
            polars_bail!(ComputeError: "{function}: unknown_group must be \"error\" or \"null\", got {other:?}")
        }
    };
    row_groups(inputs.get(1), &kwargs.keys, unseen, function)
}

/// How a scaler or transformer fitted per group gets nulls for unseen groups.
pub(super) const UNKNOWN_GROUP_HINT: &str = " (pass unknown_group=\"null\" to get nulls instead)";

/// A validity that also nulls the rows of unseen groups.
fn with_unseen_nulls(
    validity: Option<&polars_arrow::bitmap::Bitmap>,
    groups: &[Option<usize>],
) -> Option<polars_arrow::bitmap::Bitmap> {
    if groups.iter().all(Option::is_some) {
        return validity.cloned();
    }
    Some(polars_arrow::bitmap::Bitmap::from_iter(
        groups
            .iter()
            .enumerate()
            .map(|(i, g)| g.is_some() && validity.is_none_or(|v| v.get_bit(i))),
    ))
}

fn scale_rows<T: ColumnFloat>(
    series: &Series,
    transforms: &[Transform],
    groups: Option<&[Option<usize>]>,
    kwargs: &FittedScaleKwargs,
) -> PolarsResult<Series> {
    let ca = T::chunked(series)?;
    let Some(groups) = groups else {
        let transform = transforms.first().copied().unwrap_or(Transform::IDENTITY);
        if kwargs.inverse {
            return Ok(map_float_chunks::<T>(ca, |values| {
                values
                    .iter()
                    .map(|&y| T::from_f64(transform.invert(y.to_f64())))
                    .collect()
            }));
        }
        return Ok(map_float_chunks::<T>(ca, |values| {
            transform.apply_slice(values)
        }));
    };
    let ca = ca.rechunk();
    let Some(chunk) = ca.downcast_iter().next() else {
        return Ok(series.clone());
    };
    let out: Vec<T> = chunk
        .values()
        .iter()
        .zip(groups)
        .map(|(&x, group)| {
            let t = group.and_then(|g| transforms.get(g)).copied();
            match (t, kwargs.inverse) {
                (Some(t), false) => T::from_f64(t.apply(x.to_f64())),
                (Some(t), true) => T::from_f64(t.invert(x.to_f64())),
                (None, _) => T::default(),
            }
        })
        .collect();
    let validity = with_unseen_nulls(chunk.validity(), groups);
    let array = polars_arrow::array::PrimitiveArray::from_vec(out).with_validity(validity);
    Ok(ChunkedArray::<T::PolarsType>::with_chunk(ca.name().clone(), array).into_series())
}

fn scale_vector_rows<T: ColumnFloat>(
    series: &Series,
    transforms: &[Transform],
    groups: Option<&[Option<usize>]>,
    kwargs: &FittedScaleKwargs,
) -> PolarsResult<Series> {
    let width = kwargs.width;
    let series = series.rechunk();
    let array = series.array()?;
    let chunk = array
        .downcast_iter()
        .next()
        .ok_or_else(|| polars_err!(ComputeError: "{}: empty vector column", kwargs.function))?;
    let child = chunk
        .values()
        .as_any()
        .downcast_ref::<polars_arrow::array::PrimitiveArray<T>>()
        .ok_or_else(
            || polars_err!(ComputeError: "{}: unexpected vector layout", kwargs.function),
        )?;
    let values = child.values().as_slice();
    let rows = chunk.len();
    let mut out: Vec<T> = Vec::with_capacity(rows * width);
    for (row, x) in values.chunks_exact(width).take(rows).enumerate() {
        let group = match groups {
            None => Some(0),
            Some(groups) => groups.get(row).copied().flatten(),
        };
        match group.and_then(|g| transforms.get(g * width..(g + 1) * width)) {
            Some(lanes) => out.extend(x.iter().zip(lanes).map(|(&v, t)| {
                T::from_f64(if kwargs.inverse {
                    t.invert(v.to_f64())
                } else {
                    t.apply(v.to_f64())
                })
            })),
            None => out.extend(std::iter::repeat_n(T::default(), width)),
        }
    }
    let outer = match groups {
        None => chunk.validity().cloned(),
        Some(groups) => with_unseen_nulls(chunk.validity(), groups),
    };
    let child =
        polars_arrow::array::PrimitiveArray::from_vec(out).with_validity(child.validity().cloned());
    let dtype = DataType::Array(Box::new(T::KIND.dtype()), width);
    let array = polars_arrow::array::FixedSizeListArray::try_new(
        dtype.to_arrow(CompatLevel::newest()),
        rows,
        Box::new(child),
        outer,
    )?;
    // SAFETY: the array was built with `dtype`'s own Arrow type.
    Ok(unsafe {
        Series::from_chunks_and_dtype_unchecked(
            series.name().clone(),
            vec![Box::new(array)],
            &dtype,
        )
    })
}
