//! `fitted_bins`: KBinsDiscretizer's transform with its fitted edges,
//! elementwise. A value's bin is the number of inner edges at or below it
//! (numpy's `searchsorted(edges[1:-1], x, side="right")`, as scikit-learn
//! bins), found by binary search; per row's group with `by=`. Nulls stay
//! null and NaN stays NaN (in every one-hot field of the row).

use std::collections::HashMap;

use polars::prelude::*;
use pyo3_polars::derive::polars_expr;
use serde::Deserialize;

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

/// A row's bin: `None` for null, `Some(None)` for NaN.
type Bin = Option<Option<u32>>;

fn row_bins(inputs: &[Series], kwargs: &BinsKwargs) -> PolarsResult<Vec<Bin>> {
    let function = kwargs.function.as_str();
    let input = inputs
        .first()
        .ok_or_else(|| polars_err!(ComputeError: "{function}: expected an input column"))?;
    let values = input.cast(&DataType::Float64)?;
    let values = values.f64()?;
    let groups = kwargs.groups()?;
    let bin = |edges: &[f64], x: f64| -> Option<u32> {
        // A bin count fits u32: the edges come from a list in memory.
        (!x.is_nan()).then(|| edges.partition_point(|&e| e <= x) as u32)
    };
    if kwargs.keys.is_empty() {
        let edges = groups[0];
        return Ok(values.iter().map(|v| v.map(|x| bin(edges, x))).collect());
    }
    polars_ensure!(kwargs.keys.len() == groups.len(), ComputeError:
        "{function}: {} group keys for {} groups of edges", kwargs.keys.len(), groups.len());
    let keys = inputs
        .get(1)
        .ok_or_else(|| polars_err!(ComputeError: "{function}: expected a group key input"))?
        .str()?;
    let index: HashMap<&str, usize> = kwargs
        .keys
        .iter()
        .enumerate()
        .map(|(i, k)| (k.as_str(), i))
        .collect();
    let mut out = Vec::with_capacity(values.len());
    for (v, key) in values.iter().zip(keys.iter()) {
        let group = key.and_then(|k| index.get(k).copied()).ok_or_else(|| {
            polars_err!(ComputeError:
                "{function}: group {} was not seen at fit time",
                key.map_or_else(|| "null".to_string(), |k| format!("{k:?}")))
        })?;
        out.push(v.map(|x| bin(groups[group], x)));
    }
    Ok(out)
}

#[polars_expr(output_type_func_with_kwargs=bins_output)]
fn fitted_bins(inputs: &[Series], kwargs: BinsKwargs) -> PolarsResult<Series> {
    let function = kwargs.function.as_str();
    let name = inputs
        .first()
        .ok_or_else(|| polars_err!(ComputeError: "{function}: expected an input column"))?
        .name()
        .clone();
    let bins = row_bins(inputs, &kwargs)?;
    let dtype = kwargs.dtype();
    let Some(fields) = &kwargs.fields else {
        let out: Float64Chunked = bins
            .iter()
            .map(|b| b.map(|c| c.map_or(f64::NAN, f64::from)))
            .collect();
        return out.with_name(name).into_series().cast(&dtype);
    };
    let mut columns = Vec::with_capacity(fields.len());
    for (b, field) in fields.iter().enumerate() {
        let b = b as u32;
        let out: Float64Chunked = bins
            .iter()
            .map(|v| v.map(|c| c.map_or(f64::NAN, |c| f64::from(u8::from(c == b)))))
            .collect();
        columns.push(
            out.with_name(field.as_str().into())
                .into_series()
                .cast(&dtype)?,
        );
    }
    Ok(StructChunked::from_series(name, bins.len(), columns.iter())?.into_series())
}
