//! `fitted_bins`: KBinsDiscretizer's transform with its fitted edges,
//! elementwise. A value's bin is the number of inner edges at or below it
//! (numpy's `searchsorted(edges[1:-1], x, side="right")`, as scikit-learn
//! bins), found by binary search; per row's group with `by=`. Nulls stay
//! null and NaN stays NaN (in every one-hot field of the row).

use polars::prelude::*;
use pyo3_polars::derive::polars_expr;
use serde::Deserialize;

use super::columns::{row_groups, UnseenGroup};
use crate::kernels::bins::{bin_of, select_ranks, NAN_CODE};

#[derive(Deserialize)]
struct BinsKwargs {
    /// The name the user called, for errors.
    function: String,
    /// The groups' keys (empty without `by=`; the key is the second input).
    keys: Vec<String>,
    /// Each group's inner edges (rising), one group after another.
    edges: Vec<f64>,
    /// How many inner edges each group has.
    counts: Vec<usize>,
    /// `None`: the bin index; otherwise one-hot, the field names.
    fields: Option<Vec<String>>,
    /// Float32 output (else Float64).
    float32: bool,
}

impl BinsKwargs {
    fn dtype(&self) -> DataType {
        if self.float32 {
            DataType::Float32
        } else {
            DataType::Float64
        }
    }

    /// Each group's inner edges.
    fn groups(&self) -> PolarsResult<Vec<&[f64]>> {
        let mut out = Vec::with_capacity(self.counts.len());
        let mut start = 0usize;
        for &count in &self.counts {
            let group = self.edges.get(start..start + count).ok_or_else(
                || polars_err!(ComputeError: "{}: the fitted edges are incomplete", self.function),
            )?;
            out.push(group);
            start += count;
        }
        polars_ensure!(!out.is_empty(), ComputeError: "{}: no fitted edges", self.function);
        Ok(out)
    }
}

fn bins_output(fields: &[Field], kwargs: BinsKwargs) -> PolarsResult<Field> {
    let function = kwargs.function.as_str();
    let field = fields
        .first()
        .ok_or_else(|| polars_err!(ComputeError: "{function}: expected an input column"))?;
    polars_ensure!(field.dtype().is_primitive_numeric() || field.dtype().is_decimal(),
        ComputeError: "{function}: column {:?} has dtype {}; expected a numeric column",
        field.name().as_str(), field.dtype());
    let dtype = match &kwargs.fields {
        None => kwargs.dtype(),
        Some(names) => DataType::Struct(
            names
                .iter()
                .map(|n| Field::new(n.as_str().into(), kwargs.dtype()))
                .collect(),
        ),
    };
    Ok(Field::new(field.name().clone(), dtype))
}

/// Each row's bin code (`NAN_CODE` for NaN; a null row's code is
/// meaningless) and the input's validity.
fn row_bins(
    inputs: &[Series],
    kwargs: &BinsKwargs,
) -> PolarsResult<(Vec<u32>, Option<polars_arrow::bitmap::Bitmap>)> {
    let function = kwargs.function.as_str();
    let input = inputs
        .first()
        .ok_or_else(|| polars_err!(ComputeError: "{function}: expected an input column"))?;
    let values = input.cast(&DataType::Float64)?.rechunk();
    let values = values.f64()?;
    let groups = kwargs.groups()?;
    let (slice, validity): (&[f64], _) = match values.downcast_iter().next() {
        Some(array) => (array.values().as_slice(), array.validity().cloned()),
        None => (&[], None),
    };
    if kwargs.keys.is_empty() {
        let edges = groups[0];
        return Ok((slice.iter().map(|&x| bin_of(edges, x)).collect(), validity));
    }
    polars_ensure!(kwargs.keys.len() == groups.len(), ComputeError:
        "{function}: {} group keys for {} groups of edges", kwargs.keys.len(), groups.len());
    let rows = row_groups(
        inputs.get(1),
        &kwargs.keys,
        UnseenGroup::Error(""),
        function,
    )?;
    let mut out = Vec::with_capacity(slice.len());
    for (&x, group) in slice.iter().zip(rows.iter().flatten()) {
        // Every row has a group: an unseen one is an error above.
        out.push(group.map_or(NAN_CODE, |g| bin_of(groups[g], x)));
    }
    Ok((out, validity))
}

/// A Float64 column from values and a validity.
fn float_column(
    name: PlSmallStr,
    values: Vec<f64>,
    validity: Option<polars_arrow::bitmap::Bitmap>,
    dtype: &DataType,
) -> PolarsResult<Series> {
    let array = polars_arrow::array::PrimitiveArray::from_vec(values).with_validity(validity);
    Float64Chunked::with_chunk(name, array)
        .into_series()
        .cast(dtype)
}

#[polars_expr(output_type_func_with_kwargs=bins_output)]
fn fitted_bins(inputs: &[Series], kwargs: BinsKwargs) -> PolarsResult<Series> {
    let function = kwargs.function.as_str();
    let name = inputs
        .first()
        .ok_or_else(|| polars_err!(ComputeError: "{function}: expected an input column"))?
        .name()
        .clone();
    let (codes, validity) = row_bins(inputs, &kwargs)?;
    let dtype = kwargs.dtype();
    let Some(fields) = &kwargs.fields else {
        let values = codes
            .iter()
            .map(|&c| {
                if c == NAN_CODE {
                    f64::NAN
                } else {
                    f64::from(c)
                }
            })
            .collect();
        return float_column(name, values, validity, &dtype);
    };
    let mut columns = Vec::with_capacity(fields.len());
    for (b, field) in fields.iter().enumerate() {
        let b = b as u32;
        let values = codes
            .iter()
            .map(|&c| {
                if c == NAN_CODE {
                    f64::NAN
                } else {
                    f64::from(u8::from(c == b))
                }
            })
            .collect();
        columns.push(float_column(
            field.as_str().into(),
            values,
            validity.clone(),
            &dtype,
        )?);
    }
    Ok(StructChunked::from_series(name, codes.len(), columns.iter())?.into_series())
}

#[derive(Deserialize)]
struct RanksKwargs {
    /// The name the user called, for errors.
    function: String,
    /// The wanted ranks (0-based, ascending, distinct) among the column's
    /// values that are neither null nor NaN.
    ranks: Vec<usize>,
}

fn values_at_ranks_output(fields: &[Field], kwargs: RanksKwargs) -> PolarsResult<Field> {
    let field = fields.first().ok_or_else(
        || polars_err!(ComputeError: "{}: expected an input column", kwargs.function),
    )?;
    Ok(Field::new(
        field.name().clone(),
        DataType::List(Box::new(DataType::Float64)),
    ))
}

/// The exact order statistics of a column held in memory: its values
/// (nulls and NaN left out) at the given ranks, as one list. KBinsDiscretizer
/// reads numpy's percentile ranks with it in one query over every column.
#[polars_expr(output_type_func_with_kwargs=values_at_ranks_output)]
fn values_at_ranks(inputs: &[Series], kwargs: RanksKwargs) -> PolarsResult<Series> {
    let function = kwargs.function.as_str();
    let input = inputs
        .first()
        .ok_or_else(|| polars_err!(ComputeError: "{function}: expected an input column"))?;
    let values = input.cast(&DataType::Float64)?;
    let values = values.f64()?;
    let mut present: Vec<f64> = Vec::with_capacity(values.len() - values.null_count());
    for array in values.downcast_iter() {
        if array.validity().is_none_or(|v| v.unset_bits() == 0) {
            present.extend(array.values().iter().filter(|x| !x.is_nan()));
        } else {
            present.extend(array.iter().flatten().filter(|x| !x.is_nan()));
        }
    }
    let found = select_ranks(&mut present, &kwargs.ranks).ok_or_else(|| {
        polars_err!(ComputeError:
            "{function}: the ranks are not ascending or not below the {} values", present.len())
    })?;
    let found = Float64Chunked::from_vec(input.name().clone(), found).into_series();
    Ok(found
        .implode()?
        .into_series()
        .with_name(input.name().clone()))
}
