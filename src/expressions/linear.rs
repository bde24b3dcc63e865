//! `linear_scores`: a fitted linear or logistic regression applied to the
//! feature columns of a frame in one pass (`LinearModel`'s expressions).
//!
//! Elementwise: each row's output depends on that row alone, so Polars may
//! split the input into morsels. A null in any feature makes the row null.

use polars::prelude::*;
use polars_arrow::array::PrimitiveArray;
use polars_arrow::bitmap::Bitmap;
use pyo3_polars::derive::polars_expr;
use serde::Deserialize;

use super::vector::vector_series_of;
use crate::kernels::categories::{Code, CodeTable, Missing, Unknown};
use crate::kernels::linear::{scores, Feature, Link, Lookup, Model};
use crate::kernels::parallel;

#[derive(Deserialize)]
struct LinearKwargs {
    function: String,
    /// `outputs × features`, row-major.
    weights: Vec<f64>,
    /// One per output.
    intercept: Vec<f64>,
    /// "identity", "logistic" or "softmax".
    link: String,
    /// Categorical columns (the inputs after the features), one table each.
    #[serde(default)]
    tables: Vec<TableKwargs>,
}

/// A categorical column's weights: one row of `outputs` numbers per value,
/// then a row for an unseen value and a row for a null.
#[derive(Deserialize)]
struct TableKwargs {
    #[serde(default)]
    text: Option<Vec<String>>,
    #[serde(default)]
    integers: Option<Vec<i64>>,
    weights: Vec<f64>,
}

impl TableKwargs {
    fn values(&self) -> usize {
        self.text
            .as_ref()
            .map(Vec::len)
            .or(self.integers.as_ref().map(Vec::len))
            .unwrap_or(0)
    }

    /// Each row's weight row: its value's, `values` for an unseen value,
    /// `values + 1` for a null.
    fn codes(&self, series: &Series, function: &str) -> PolarsResult<Vec<u32>> {
        let values = self.values();
        let codes: Vec<Code> = (0..values as u32).map(Some).collect();
        let (unseen, null) = (values as u32, values as u32 + 1);
        let missing = Missing::Code(Some(null));
        let unknown = Unknown::Code(Some(unseen));
        let duplicate = |_| polars_err!(ComputeError: "{function}: duplicate category");
        match (&self.text, &self.integers) {
            (Some(text), _) => {
                let keys = text.iter().map(String::as_str);
                let table = CodeTable::new(keys, &codes, missing, unknown).map_err(duplicate)?;
                let strings = series.cast(&DataType::String)?.rechunk();
                let array = strings.str()?.downcast_iter().next().cloned();
                Ok(array.map_or_else(Vec::new, |a| row_codes(&table, a.len(), |i| a.get(i))))
            }
            (None, Some(integers)) => {
                let keys = integers.iter().copied();
                let table = CodeTable::new(keys, &codes, missing, unknown).map_err(duplicate)?;
                let numbers = series.cast(&DataType::Int64)?.rechunk();
                let array = numbers.i64()?.downcast_iter().next().cloned();
                Ok(array.map_or_else(Vec::new, |a| row_codes(&table, a.len(), |i| a.get(i))))
            }
            (None, None) => polars_bail!(ComputeError: "{function}: a table needs its values"),
        }
    }
}

/// The code of each of `rows` values (`value(i)`; `None` is null), looked
/// up in parallel blocks; a value the table lacks gets its unknown code.
fn row_codes<K: std::hash::Hash + Eq>(
    table: &CodeTable<K>,
    rows: usize,
    value: impl Fn(usize) -> Option<K> + Sync,
) -> Vec<u32>
where
    CodeTable<K>: Sync,
{
    let unseen = table.unknown_code().ok().flatten().unwrap_or(u32::MAX);
    let parts = parallel::blocks(rows.div_ceil(CODE_BLOCK), |b| {
        (b * CODE_BLOCK..((b + 1) * CODE_BLOCK).min(rows))
            .map(|i| {
                table
                    .code(value(i).as_ref())
                    .ok()
                    .flatten()
                    .unwrap_or(unseen)
            })
            .collect::<Vec<u32>>()
    });
    parts.concat()
}

/// Rows per block when codes are looked up in parallel.
const CODE_BLOCK: usize = 1 << 14;

impl LinearKwargs {
    fn model(&self) -> PolarsResult<Model<'_>> {
        let function = &self.function;
        let link = Link::parse(&self.link)
            .ok_or_else(|| polars_err!(ComputeError: "{function}: unknown link {:?}", self.link))?;
        let model = Model {
            weights: &self.weights,
            intercept: &self.intercept,
            outputs: self.intercept.len(),
            link,
        };
        if !model.is_consistent() {
            polars_bail!(ComputeError:
                "{function}: {} weights do not fit {} outputs with link {:?}",
                self.weights.len(), self.intercept.len(), self.link);
        }
        Ok(model)
    }

    fn output_dtype(&self, model: &Model<'_>) -> DataType {
        match model.link.width(model.outputs) {
            1 => DataType::Float64,
            width => DataType::Array(Box::new(DataType::Float64), width),
        }
    }
}

fn linear_output(fields: &[Field], kwargs: LinearKwargs) -> PolarsResult<Field> {
    let model = kwargs.model()?;
    let numeric = fields.len().saturating_sub(kwargs.tables.len());
    check_inputs(
        fields[..numeric].iter().map(|f| (f.name(), f.dtype())),
        &model,
        &kwargs.function,
    )?;
    let name = fields
        .first()
        .map(|f| f.name().clone())
        .unwrap_or_else(|| PlSmallStr::from_static("linear"));
    Ok(Field::new(name, kwargs.output_dtype(&model)))
}

fn check_inputs<'a>(
    inputs: impl ExactSizeIterator<Item = (&'a PlSmallStr, &'a DataType)>,
    model: &Model<'_>,
    function: &str,
) -> PolarsResult<()> {
    if inputs.len() != model.features() {
        polars_bail!(ComputeError:
            "{function}: the model has {} features but {} columns were given",
            model.features(), inputs.len());
    }
    for (name, dtype) in inputs {
        if !(dtype.is_primitive_numeric() || dtype.is_bool()) {
            polars_bail!(InvalidOperation:
                "{function}: feature {name:?} must be numeric or Boolean, got {dtype}");
        }
    }
    Ok(())
}

/// A feature column as one contiguous slice the kernel reads directly (the
/// common dtypes) or after a cast to Float64 (the others).
fn feature_series(series: &Series) -> PolarsResult<Series> {
    let series = series.rechunk();
    Ok(match series.dtype() {
        DataType::Float64 | DataType::Float32 | DataType::UInt8 | DataType::Int32 => series,
        DataType::Int64 => series,
        _ => series.cast(&DataType::Float64)?,
    })
}

fn feature_of(series: &Series) -> PolarsResult<Feature<'_>> {
    fn values<T: PolarsNumericType>(ca: &ChunkedArray<T>) -> &[T::Native] {
        ca.downcast_iter()
            .next()
            .map(|arr| arr.values().as_slice())
            .unwrap_or(&[])
    }
    Ok(match series.dtype() {
        DataType::Float64 => Feature::F64(values(series.f64()?)),
        DataType::Float32 => Feature::F32(values(series.f32()?)),
        DataType::UInt8 => Feature::U8(values(series.u8()?)),
        DataType::Int32 => Feature::I32(values(series.i32()?)),
        _ => Feature::I64(values(series.i64()?)),
    })
}

#[polars_expr(output_type_func_with_kwargs=linear_output)]
fn linear_scores(inputs: &[Series], kwargs: LinearKwargs) -> PolarsResult<Series> {
    let function = kwargs.function.as_str();
    let model = kwargs.model()?;
    let numeric = inputs.len().saturating_sub(kwargs.tables.len());
    let (feature_inputs, table_inputs) = inputs.split_at(numeric);
    check_inputs(
        feature_inputs.iter().map(|s| (s.name(), s.dtype())),
        &model,
        function,
    )?;
    let rows = inputs.iter().map(|s| s.len()).max().unwrap_or(0);
    let mut codes = Vec::with_capacity(table_inputs.len());
    for (table, series) in kwargs.tables.iter().zip(table_inputs) {
        if table.weights.len() != (table.values() + 2) * model.outputs {
            polars_bail!(ComputeError: "{function}: a table's weights do not fit its values");
        }
        let series = match series.len() {
            1 if rows != 1 => series.new_from_index(0, rows),
            _ => series.clone(),
        };
        let found = table.codes(&series, function)?;
        if found.len() != rows {
            polars_bail!(ShapeMismatch:
                "{function}: column {:?} has {} rows, expected {rows}", series.name(), found.len());
        }
        codes.push(found);
    }
    let lookups: Vec<Lookup<'_>> = codes
        .iter()
        .zip(&kwargs.tables)
        .map(|(codes, table)| Lookup {
            codes,
            weights: &table.weights,
        })
        .collect();
    let mut columns = Vec::with_capacity(feature_inputs.len());
    for series in feature_inputs {
        let series = match series.len() {
            1 if rows != 1 => series.new_from_index(0, rows),
            len if len == rows => series.clone(),
            len => polars_bail!(ShapeMismatch:
                "{function}: feature {:?} has {len} rows, expected {rows}", series.name()),
        };
        columns.push(feature_series(&series)?);
    }
    let valid = row_validity(&columns, rows);
    let features = columns
        .iter()
        .map(feature_of)
        .collect::<PolarsResult<Vec<_>>>()?;
    let values = scores(&features, &lookups, &model, rows);
    let name = inputs
        .first()
        .map(|s| s.name().clone())
        .unwrap_or_else(|| PlSmallStr::from_static("linear"));
    let dtype = kwargs.output_dtype(&model);
    match dtype {
        DataType::Float64 => {
            let array = PrimitiveArray::from_vec(values).with_validity(valid);
            Ok(Float64Chunked::with_chunk(name, array).into_series())
        }
        _ => {
            let width = model.link.width(model.outputs);
            let valid = valid.map_or_else(|| vec![true; rows], |b| b.iter().collect());
            vector_series_of::<f64>(name, dtype, width, values, valid)
        }
    }
}

/// The rows where every feature is present (`None`: all rows).
fn row_validity(columns: &[Series], rows: usize) -> Option<Bitmap> {
    let mut combined: Option<Bitmap> = None;
    for series in columns {
        if series.null_count() == 0 {
            continue;
        }
        let Some(validity) = series.chunks().first().and_then(|c| c.validity()).cloned() else {
            continue;
        };
        combined = Some(match combined {
            Some(previous) => &previous & &validity,
            None => validity,
        });
    }
    combined.filter(|b| b.len() == rows)
}
