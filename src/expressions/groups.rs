//! `group_lookup`: the elementwise lookup that fitted per-group scalers use
//! to find each row's parameters by its group key, so their transforms stay
//! elementwise (streamable, serialisable) and an unseen group is an error
//! that names it.

use std::collections::HashMap;

use polars::prelude::*;
use pyo3_polars::derive::polars_expr;
use serde::Deserialize;

#[derive(Deserialize)]
struct GroupLookupKwargs {
    /// The name the user called, for errors.
    function: String,
    /// The group keys seen at fit time (already rendered as strings).
    keys: Vec<String>,
    /// `keys.len() * max(width, 1)` parameter values, row-major by key.
    values: Vec<f64>,
    /// 0 for one number per group, else the vector length (output `Array`).
    width: usize,
    /// `"error"` or `"null"`: what an unseen group gives.
    unknown: String,
}

fn lookup_output(fields: &[Field], kwargs: GroupLookupKwargs) -> PolarsResult<Field> {
    let name = fields.first().map(|f| f.name().clone()).ok_or_else(
        || polars_err!(ComputeError: "{}: expected a group key column", kwargs.function),
    )?;
    let dtype = match kwargs.width {
        0 => DataType::Float64,
        w => DataType::Array(Box::new(DataType::Float64), w),
    };
    Ok(Field::new(name, dtype))
}

#[polars_expr(output_type_func_with_kwargs=lookup_output)]
fn group_lookup(inputs: &[Series], kwargs: GroupLookupKwargs) -> PolarsResult<Series> {
    let function = kwargs.function.as_str();
    let keys_series = inputs
        .first()
        .ok_or_else(|| polars_err!(ComputeError: "{function}: expected a group key column"))?;
    let keys = keys_series.str()?;
    let width = kwargs.width.max(1);
    polars_ensure!(kwargs.values.len() == kwargs.keys.len() * width, ComputeError:
        "{function}: {} parameter values for {} groups of width {width}", kwargs.values.len(), kwargs.keys.len());
    let error_on_unknown = match kwargs.unknown.as_str() {
        "error" => true,
        "null" => false,
        other => {
            polars_bail!(ComputeError: "{function}: unknown_group must be \"error\" or \"null\", got {other:?}")
        }
    };
    let index: HashMap<&str, usize> = kwargs
        .keys
        .iter()
        .enumerate()
        .map(|(i, k)| (k.as_str(), i))
        .collect();
    let n = keys.len();
    let mut values = Vec::with_capacity(n * width);
    let mut valid = Vec::with_capacity(n);
    for key in keys.iter() {
        match key.and_then(|k| index.get(k)) {
            Some(&group) => {
                values.extend_from_slice(&kwargs.values[group * width..(group + 1) * width]);
                valid.push(true);
            }
            None => {
                polars_ensure!(!error_on_unknown, ComputeError:
                    "{function}: group {} was not seen at fit time (pass unknown_group=\"null\" to get nulls instead)",
                    key.map_or_else(|| "null".to_string(), |k| format!("{k:?}")));
                values.extend(std::iter::repeat_n(0.0, width));
                valid.push(false);
            }
        }
    }
    let name = keys_series.name().clone();
    let validity = if valid.iter().all(|&v| v) {
        None
    } else {
        Some(polars_arrow::bitmap::Bitmap::from_iter(valid))
    };
    let flat = polars_arrow::array::PrimitiveArray::from_vec(values);
    if kwargs.width == 0 {
        return Ok(Float64Chunked::with_chunk(name, flat.with_validity(validity)).into_series());
    }
    let dtype = DataType::Array(Box::new(DataType::Float64), width);
    let array = polars_arrow::array::FixedSizeListArray::try_new(
        dtype.to_arrow(CompatLevel::newest()),
        n,
        Box::new(flat),
        validity,
    )?;
    // SAFETY: the array was built with `dtype`'s own Arrow type.
    Ok(unsafe { Series::from_chunks_and_dtype_unchecked(name, vec![Box::new(array)], &dtype) })
}
