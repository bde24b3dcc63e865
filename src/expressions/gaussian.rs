//! Gaussianizing transforms: `ml.quantile_transform` and `ml.power_transform`
//! (`gaussianize`, registered non-elementwise: the fit needs the whole
//! column or group), the aggregation the fitted `QuantileTransformer` and
//! `PowerTransformer` fit with (`gaussian_fit`), and their elementwise,
//! streaming transform with the fitted parameters (`fitted_gaussianize`).
//! All three run the kernels of `kernels::gaussian`, so a fitted
//! transformer and the expression agree bit for bit.

use polars::prelude::*;
use polars_arrow::array::{FixedSizeListArray, PrimitiveArray};
use polars_arrow::bitmap::Bitmap;
use pyo3_polars::derive::polars_expr;
use serde::Deserialize;

use super::columns::{
    map_float_chunks, map_per_dimension, row_groups, segments, ColumnFloat, UnseenGroup,
};
use super::dtypes::{numeric_shape, reject_zero_width, shaped_dtype, FloatKind, Shape};
use super::fitted::UNKNOWN_GROUP_HINT;
use super::scaling::unsupported;
use crate::kernels::gaussian::{Fitted, GaussError, Gaussianizer, PowerMap, QuantileMap};
use crate::kernels::scaling::Transform;
use crate::options::{power_method, GaussianOptions};

fn gauss_error(
    function: &str,
    error: GaussError,
    name: &str,
    dimension: Option<usize>,
) -> PolarsError {
    let place = match dimension {
        Some(j) => ("dimension", format!("{j} of column {name:?}")),
        None => ("column", format!("{name:?}")),
    };
    let message = error.message(function, Some(place));
    polars_err!(ComputeError: "{message}")
}

fn options_error(message: String) -> PolarsError {
    polars_err!(ComputeError: "{message}")
}

fn gaussian_output(input_fields: &[Field], kwargs: GaussianOptions) -> PolarsResult<Field> {
    let field = input_fields
        .first()
        .ok_or_else(|| polars_err!(ComputeError: "{}: expected one input", kwargs.function))?;
    reject_zero_width(field.dtype(), &kwargs.function)?;
    let (shape, kind) =
        numeric_shape(field.dtype()).ok_or_else(|| unsupported(&kwargs.function, field.dtype()))?;
    Ok(Field::new(field.name().clone(), shaped_dtype(&shape, kind)))
}

/// Fits the transform on the column (or group; per dimension of a vector
/// column) and applies it: nulls stay null, NaN stays NaN.
#[polars_expr(output_type_func_with_kwargs=gaussian_output)]
fn gaussianize(inputs: &[Series], kwargs: GaussianOptions) -> PolarsResult<Series> {
    let function = kwargs.function.as_str();
    let input = inputs
        .first()
        .ok_or_else(|| polars_err!(ComputeError: "{function}: expected one input"))?;
    let (shape, kind) =
        numeric_shape(input.dtype()).ok_or_else(|| unsupported(function, input.dtype()))?;
    let series = input.cast(&shaped_dtype(&shape, kind))?;
    let gaussianizer = kwargs.gaussianizer().map_err(options_error)?;
    with_float!(kind, T => match shape {
        Shape::Scalar => gaussianize_scalar::<T>(&series, &gaussianizer, function),
        _ => gaussianize_vectors::<T>(&series, &gaussianizer, function),
    })
}

fn gaussianize_scalar<T: ColumnFloat>(
    series: &Series,
    gaussianizer: &Gaussianizer,
    function: &str,
) -> PolarsResult<Series> {
    let ca = T::chunked(series)?;
    let fitted = gaussianizer
        .fit(&segments::<T>(ca))
        .map_err(|e| gauss_error(function, e, series.name(), None))?;
    Ok(map_float_chunks::<T>(ca, |input| fitted.apply_slice(input)))
}

/// Each dimension of a vector column fitted on its own and applied row by row.
fn gaussianize_vectors<T: ColumnFloat>(
    series: &Series,
    gaussianizer: &Gaussianizer,
    function: &str,
) -> PolarsResult<Series> {
    map_per_dimension::<T, Fitted>(
        series,
        function,
        |column, dimension| {
            gaussianizer
                .fit(column)
                .map_err(|e| gauss_error(function, e, series.name(), Some(dimension)))
        },
        |fitted, x| T::from_f64(fitted.apply::<T>(x.to_f64())),
    )
}

// --------------------------------------------------------------------------
// the fit of the fitted transformers
// --------------------------------------------------------------------------

const POWER_FIELDS: [&str; 8] = ["lambda", "mean", "var", "scale", "mul", "sub", "div", "add"];

fn fit_fields(kwargs: &GaussianOptions) -> Vec<Field> {
    if kwargs.transform == "quantile" {
        vec![
            Field::new("rows".into(), DataType::Float64),
            Field::new(
                "quantiles".into(),
                DataType::List(Box::new(DataType::Float64)),
            ),
        ]
    } else {
        POWER_FIELDS
            .iter()
            .map(|&n| Field::new(n.into(), DataType::Float64))
            .collect()
    }
}

fn gaussian_fit_output(input_fields: &[Field], kwargs: GaussianOptions) -> PolarsResult<Field> {
    let field = input_fields
        .first()
        .ok_or_else(|| polars_err!(ComputeError: "{}: expected one input", kwargs.function))?;
    match numeric_shape(field.dtype()) {
        Some((Shape::Scalar, _)) => Ok(Field::new(
            field.name().clone(),
            DataType::Struct(fit_fields(&kwargs)),
        )),
        _ => Err(unsupported(&kwargs.function, field.dtype())),
    }
}

/// What the fitted transformers keep of one column (or group, or dimension),
/// as a one-row struct: `rows` and the `quantiles` (QuantileTransformer), or
/// `lambda`, StandardScaler's `mean`, `var`, `scale` and the standardization
/// as `(x * mul - sub) / div + add` (PowerTransformer). An aggregation, so it
/// runs per group. Errors (infinity, Box-Cox on non-positive or constant
/// data) name the column.
#[polars_expr(output_type_func_with_kwargs=gaussian_fit_output)]
fn gaussian_fit(inputs: &[Series], kwargs: GaussianOptions) -> PolarsResult<Series> {
    let function = kwargs.function.as_str();
    let input = inputs
        .first()
        .ok_or_else(|| polars_err!(ComputeError: "{function}: expected one input"))?;
    let kind = match numeric_shape(input.dtype()) {
        Some((Shape::Scalar, kind)) => kind,
        _ => return Err(unsupported(function, input.dtype())),
    };
    let series = input.cast(&kind.dtype())?;
    let gaussianizer = kwargs.gaussianizer().map_err(options_error)?;
    let fitted = with_float!(kind, T => gaussianizer.fit(&segments::<T>(T::chunked(&series)?)))
        .map_err(|e| gauss_error(function, e, input.name(), None))?;
    let name = input.name().clone();
    let fields: Vec<Series> = match &fitted {
        Fitted::Quantile(map) => vec![
            Float64Chunked::from_vec("rows".into(), vec![series.len() as f64]).into_series(),
            Float64Chunked::from_vec("quantiles".into(), map.quantiles.clone())
                .into_series()
                .implode()?
                .into_series()
                .with_name("quantiles".into()),
        ],
        Fitted::Power(map) => {
            let (mean, var, scale) = map.moments;
            let [mul, sub, div, add] = map.standard.coefficients();
            [map.lambda, mean, var, scale, mul, sub, div, add]
                .iter()
                .zip(POWER_FIELDS)
                .map(|(&v, n)| Float64Chunked::from_vec(n.into(), vec![v]).into_series())
                .collect()
        }
    };
    Ok(StructChunked::from_series(name, 1, fields.iter())?.into_series())
}

// --------------------------------------------------------------------------
// the fitted transform (elementwise)
// --------------------------------------------------------------------------

#[derive(Deserialize)]
struct FittedGaussianKwargs {
    /// The name the user called, for errors.
    function: String,
    /// 0 for a numeric column, else the vector width (the input is `Array`).
    width: usize,
    /// The group keys seen at fit time; empty without groups.
    keys: Vec<String>,
    /// `"quantile"` or `"power"`.
    transform: String,
    /// QuantileTransformer: normal output.
    normal: bool,
    /// PowerTransformer: `"yeo-johnson"` or `"box-cox"`.
    method: String,
    /// Per group and lane, group-major: the quantiles one after another
    /// (their counts in `sizes`), or `(lambda, mul, sub, div, add)`.
    params: Vec<f64>,
    sizes: Vec<i64>,
    /// Undo the transform instead.
    inverse: bool,
    /// The output is Float32 (the column was Float32 at fit time).
    float32: bool,
    /// `"error"` or `"null"`: what a group unseen at fit time gives.
    unknown: String,
}

impl FittedGaussianKwargs {
    fn out_dtype(&self) -> DataType {
        let inner = if self.float32 {
            DataType::Float32
        } else {
            DataType::Float64
        };
        match self.width {
            0 => inner,
            w => DataType::Array(Box::new(inner), w),
        }
    }

    /// One fitted map per group and lane.
    fn maps(&self) -> PolarsResult<Vec<Fitted>> {
        let function = self.function.as_str();
        let parts = self.keys.len().max(1) * self.width.max(1);
        let bad = || polars_err!(ComputeError: "{function}: malformed fitted parameters");
        if self.transform == "quantile" {
            polars_ensure!(self.sizes.len() == parts, ComputeError: "{function}: malformed fitted parameters");
            let mut maps = Vec::with_capacity(parts);
            let mut at = 0usize;
            for &size in &self.sizes {
                let size = usize::try_from(size).map_err(|_| bad())?;
                let quantiles = self.params.get(at..at + size).ok_or_else(bad)?;
                maps.push(Fitted::Quantile(QuantileMap::new(
                    quantiles.to_vec(),
                    self.normal,
                )));
                at += size;
            }
            return Ok(maps);
        }
        let method = power_method(&self.method, function).map_err(options_error)?;
        polars_ensure!(self.params.len() == parts * 5, ComputeError: "{function}: malformed fitted parameters");
        Ok(self
            .params
            .chunks_exact(5)
            .map(|p| {
                let standard = Transform::from_coefficients([p[1], p[2], p[3], p[4]], None);
                Fitted::Power(PowerMap::from_parts(method, p[0], standard))
            })
            .collect())
    }
}

fn fitted_gaussianize_output(
    input_fields: &[Field],
    kwargs: FittedGaussianKwargs,
) -> PolarsResult<Field> {
    let field = input_fields
        .first()
        .ok_or_else(|| polars_err!(ComputeError: "{}: expected one input", kwargs.function))?;
    Ok(Field::new(field.name().clone(), kwargs.out_dtype()))
}

/// A fitted transformer's transform (or its inverse) of one column: each
/// value through the fitted map of its group and lane, the code the `ml`
/// expressions run. Elementwise, so it streams. The input is a numeric
/// column or an `Array` of the fitted width; with groups, the second input
/// is each row's rendered group key. Box-Cox refuses values <= 0, as
/// scikit-learn's `transform` does.
#[polars_expr(output_type_func_with_kwargs=fitted_gaussianize_output)]
fn fitted_gaussianize(inputs: &[Series], kwargs: FittedGaussianKwargs) -> PolarsResult<Series> {
    let function = kwargs.function.as_str();
    let input = inputs
        .first()
        .ok_or_else(|| polars_err!(ComputeError: "{function}: expected one input"))?;
    let maps = kwargs.maps()?;
    let unseen = match kwargs.unknown.as_str() {
        "null" => UnseenGroup::Null,
        _ => UnseenGroup::Error(UNKNOWN_GROUP_HINT),
    };
    let groups = row_groups(inputs.get(1), &kwargs.keys, unseen, &kwargs.function)?;
    let compute = match (input.dtype(), kwargs.float32) {
        (DataType::Float32, true) => FloatKind::F32,
        (DataType::Array(inner, _), true) if **inner == DataType::Float32 => FloatKind::F32,
        _ => FloatKind::F64,
    };
    let dtype = match kwargs.width {
        0 => compute.dtype(),
        w => DataType::Array(Box::new(compute.dtype()), w),
    };
    let series = input.cast(&dtype)?.rechunk();
    if kwargs.transform == "power" && kwargs.method == "box-cox" && !kwargs.inverse {
        refuse_non_positive(&series, function)?;
    }
    let computed =
        with_float!(compute, T => map_rows::<T>(&series, &maps, groups.as_deref(), &kwargs)?);
    computed.cast(&kwargs.out_dtype())
}

/// Box-Cox's transform is defined on positive values only.
fn refuse_non_positive(series: &Series, function: &str) -> PolarsResult<()> {
    let values = match series.dtype() {
        DataType::Array(_, _) => series.array()?.get_inner(),
        _ => series.clone(),
    };
    let floats = values.cast(&DataType::Float64)?;
    let found = floats
        .f64()?
        .iter()
        .enumerate()
        .find(|(_, v)| v.is_some_and(|x| x <= 0.0));
    if let Some((row, Some(value))) = found {
        polars_bail!(ComputeError:
            "{function}: the Box-Cox transformation can only be applied to strictly positive data, \
             but column {:?} holds {value} (value {row})", series.name());
    }
    Ok(())
}

/// The rows mapped through their group's (and lane's) fitted map; rows of
/// unseen groups become null.
fn map_rows<T: ColumnFloat>(
    series: &Series,
    maps: &[Fitted],
    groups: Option<&[Option<usize>]>,
    kwargs: &FittedGaussianKwargs,
) -> PolarsResult<Series> {
    let lanes = kwargs.width.max(1);
    let map_value = |map: &Fitted, x: T| -> T {
        T::from_f64(if kwargs.inverse {
            map.invert::<T>(x.to_f64())
        } else {
            map.apply::<T>(x.to_f64())
        })
    };
    let (values, outer, inner): (Vec<T>, Option<Bitmap>, Option<Bitmap>) = if kwargs.width == 0 {
        let ca = T::chunked(series)?;
        if groups.is_none() {
            let map = maps
                .first()
                .ok_or_else(|| polars_err!(ComputeError: "no fitted map"))?;
            if !kwargs.inverse {
                // The vectorised (and, for long chunks, parallel) transform:
                // the same bits as value by value.
                return Ok(map_float_chunks::<T>(ca, |input| map.apply_slice(input)));
            }
            return Ok(map_float_chunks::<T>(ca, |input| {
                input.iter().map(|&x| map_value(map, x)).collect()
            }));
        }
        let Some(chunk) = ca.downcast_iter().next() else {
            return Ok(series.clone());
        };
        let out = chunk
            .values()
            .iter()
            .enumerate()
            .map(|(i, &x)| {
                let g = groups.and_then(|g| g.get(i).copied().flatten());
                g.and_then(|g| maps.get(g))
                    .map_or(T::default(), |m| map_value(m, x))
            })
            .collect();
        (out, chunk.validity().cloned(), None)
    } else {
        let array = series.array()?;
        let chunk = array
            .downcast_iter()
            .next()
            .ok_or_else(|| polars_err!(ComputeError: "{}: empty vector column", kwargs.function))?;
        let child = chunk
            .values()
            .as_any()
            .downcast_ref::<PrimitiveArray<T>>()
            .ok_or_else(
                || polars_err!(ComputeError: "{}: unexpected vector layout", kwargs.function),
            )?;
        let width = kwargs.width;
        let mut out: Vec<T> = Vec::with_capacity(chunk.len() * width);
        for (row, x) in child
            .values()
            .as_slice()
            .chunks_exact(width)
            .take(chunk.len())
            .enumerate()
        {
            let group = match groups {
                None => Some(0),
                Some(groups) => groups.get(row).copied().flatten(),
            };
            match group.and_then(|g| maps.get(g * lanes..(g + 1) * lanes)) {
                Some(lane_maps) => {
                    out.extend(x.iter().zip(lane_maps).map(|(&v, m)| map_value(m, v)))
                }
                None => out.extend(std::iter::repeat_n(T::default(), width)),
            }
        }
        (out, chunk.validity().cloned(), child.validity().cloned())
    };
    let outer = match groups {
        Some(groups) if groups.iter().any(Option::is_none) => {
            Some(Bitmap::from_iter(groups.iter().enumerate().map(
                |(i, g)| g.is_some() && outer.as_ref().is_none_or(|v| v.get_bit(i)),
            )))
        }
        _ => outer,
    };
    if kwargs.width == 0 {
        let array = PrimitiveArray::from_vec(values).with_validity(outer);
        return Ok(
            ChunkedArray::<T::PolarsType>::with_chunk(series.name().clone(), array).into_series(),
        );
    }
    let rows = values.len() / kwargs.width;
    let child = PrimitiveArray::from_vec(values).with_validity(inner);
    let dtype = DataType::Array(Box::new(T::KIND.dtype()), kwargs.width);
    let array = FixedSizeListArray::try_new(
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
