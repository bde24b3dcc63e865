//! `maxsim`: the late-interaction score of each row's token vectors
//! (`List(Array(numeric, d))`, or `List(List(numeric))` whose tokens all
//! have width `d`) against one query's token matrix (a constant).

use polars::prelude::*;
use polars_arrow::array::{Array as ArrowArray, FixedSizeListArray, ListArray, PrimitiveArray};
use polars_arrow::types::NativeType;
use pyo3_polars::derive::polars_expr;
use rayon::prelude::*;
use serde::Deserialize;

use super::columns::validity_of;
use super::vector::constant_values;
use crate::kernels::maxsim::{MaxSimQuery, MaxSimToken, Scratch};
use crate::kernels::search::TopK;

#[derive(Deserialize)]
struct MaxSimKwargs {
    function: String,
    /// The query tokens (second input) are `n_tokens` × `dim`, row-major.
    n_tokens: usize,
    dim: usize,
}

fn maxsim_output(fields: &[Field], kwargs: MaxSimKwargs) -> PolarsResult<Field> {
    let field = fields.first().ok_or_else(
        || polars_err!(ComputeError: "{}: expected an input column", kwargs.function),
    )?;
    token_dtype(field.dtype(), kwargs.dim, &kwargs.function)?;
    Ok(Field::new(field.name().clone(), DataType::Float64))
}

/// The numbers of a token column, checked: `List(Array(numeric, dim))` or
/// `List(List(numeric))`.
fn token_dtype<'a>(dtype: &'a DataType, dim: usize, function: &str) -> PolarsResult<&'a DataType> {
    let bad = || {
        polars_err!(InvalidOperation:
            "{function}: expected a column of token vectors (List(Array(numeric, d)) or List(List(numeric))), got {dtype}")
    };
    let DataType::List(token) = dtype else {
        return Err(bad());
    };
    let numbers = match token.as_ref() {
        DataType::Array(numbers, width) => {
            polars_ensure!(*width == dim, InvalidOperation:
                "{function}: the document tokens have width {width} but the query tokens have width {dim}");
            numbers
        }
        DataType::List(numbers) => numbers,
        _ => return Err(bad()),
    };
    if !numbers.is_primitive_numeric() {
        return Err(bad());
    }
    Ok(numbers)
}

/// `Σ_j max_t q_j · x_t` per row (`x_t` the row's tokens, `q_j` the query's),
/// in `f64`; null for a null row or a row without tokens. Null tokens (or
/// tokens holding a null) are left out. Tokens of Float32 and narrower
/// types are read as Float32 (their numbers widen exactly; the query is
/// rounded to Float32, as `nearest` rounds queries to a Float32 column),
/// other types as Float64.
#[polars_expr(output_type_func_with_kwargs=maxsim_output)]
fn maxsim(inputs: &[Series], kwargs: MaxSimKwargs) -> PolarsResult<Series> {
    let name = first(inputs, &kwargs.function)?.name().clone();
    let scores = row_scores(inputs, &kwargs)?;
    Ok(Float64Chunked::from_iter_options(name, scores.into_iter()).into_series())
}

#[derive(Deserialize)]
struct TopKwargs {
    function: String,
    n_tokens: usize,
    dim: usize,
    k: usize,
}

impl TopKwargs {
    fn query(&self) -> MaxSimKwargs {
        MaxSimKwargs {
            function: self.function.clone(),
            n_tokens: self.n_tokens,
            dim: self.dim,
        }
    }
}

fn top_k_output(fields: &[Field], kwargs: TopKwargs) -> PolarsResult<Field> {
    let field = maxsim_output(fields, kwargs.query())?;
    Ok(Field::new(field.name().clone(), DataType::UInt32))
}

/// The positions (UInt32) of the `k` rows with the largest [`maxsim`]
/// scores, best first, ties to the lower position; null and NaN scores are
/// never chosen. Not elementwise: in `group_by().agg`, positions within
/// the group.
#[polars_expr(output_type_func_with_kwargs=top_k_output)]
fn maxsim_top_k(inputs: &[Series], kwargs: TopKwargs) -> PolarsResult<Series> {
    let name = first(inputs, &kwargs.function)?.name().clone();
    let scores = row_scores(inputs, &kwargs.query())?;
    let mut top = TopK::new(kwargs.k);
    for (row, score) in scores.iter().enumerate() {
        if let (Some(score), Ok(row)) = (score, u32::try_from(row)) {
            top.push(*score, row, *score);
        }
    }
    let best: Vec<u32> = top.into_sorted().into_iter().map(|(row, _)| row).collect();
    Ok(UInt32Chunked::from_vec(name, best).into_series())
}

fn first<'a>(inputs: &'a [Series], function: &str) -> PolarsResult<&'a Series> {
    inputs
        .first()
        .ok_or_else(|| polars_err!(ComputeError: "{function}: expected an input column"))
}

/// The MaxSim score of every row of the first input against the query
/// tokens of the second.
fn row_scores(inputs: &[Series], kwargs: &MaxSimKwargs) -> PolarsResult<Vec<Option<f64>>> {
    let function = kwargs.function.as_str();
    let (n_q, d) = (kwargs.n_tokens, kwargs.dim);
    let input = first(inputs, function)?;
    let numbers = token_dtype(input.dtype(), d, function)?;
    let Some(query) = constant_values(inputs, 1, n_q * d, function, "query tokens")? else {
        return Ok(Vec::new()); // an empty morsel: no rows
    };
    check_token_widths(input, d, function)?;
    let narrow = matches!(
        numbers,
        DataType::Float32
            | DataType::Float16
            | DataType::Int8
            | DataType::UInt8
            | DataType::Int16
            | DataType::UInt16
    );
    if narrow {
        let query: Vec<f32> = query.iter().map(|&v| v as f32).collect();
        scores::<f32>(input, query, n_q, d, &DataType::Float32, function)
    } else {
        scores::<f64>(input, query, n_q, d, &DataType::Float64, function)
    }
}

/// Every token of a `List(List)` column has width `d`, or an error naming
/// the first row that has another.
fn check_token_widths(input: &Series, d: usize, function: &str) -> PolarsResult<()> {
    let DataType::List(token) = input.dtype() else {
        return Ok(());
    };
    if !matches!(token.as_ref(), DataType::List(_)) {
        return Ok(());
    }
    let mut first_row = 0usize;
    for arr in input.list()?.downcast_iter() {
        let rows: &ListArray<i64> = arr;
        let tokens = rows
            .values()
            .as_any()
            .downcast_ref::<ListArray<i64>>()
            .ok_or_else(|| polars_err!(ComputeError: "{function}: unexpected token layout"))?;
        let outer = rows.offsets().as_slice();
        let inner = tokens.offsets().as_slice();
        for row in 0..rows.len() {
            if !rows.is_valid(row) {
                continue;
            }
            let (start, end) = (outer[row].max(0) as usize, outer[row + 1].max(0) as usize);
            for t in start..end {
                if !tokens.is_valid(t) {
                    continue;
                }
                let width = (inner[t + 1] - inner[t]).max(0) as usize;
                polars_ensure!(width == d, InvalidOperation:
                    "{function}: row {} has a token of width {width}, but the query tokens have width {d}",
                    first_row + row);
            }
        }
        first_row += rows.len();
    }
    Ok(())
}

/// The scores of every row, with the tokens read as `T`.
fn scores<T: MaxSimToken + NativeType>(
    input: &Series,
    query: Vec<T>,
    n_q: usize,
    d: usize,
    numbers: &DataType,
    function: &str,
) -> PolarsResult<Vec<Option<f64>>> {
    let query = MaxSimQuery::new(query, n_q, d).ok_or_else(
        || polars_err!(ComputeError: "{function}: the query tokens do not have {n_q} x {d} numbers"),
    )?;
    let dtype = DataType::List(Box::new(DataType::Array(Box::new(numbers.clone()), d)));
    let cast = input.cast(&dtype)?;
    let mut out = Vec::with_capacity(input.len());
    for arr in cast.list()?.downcast_iter() {
        let rows: &ListArray<i64> = arr;
        let tokens = rows
            .values()
            .as_any()
            .downcast_ref::<FixedSizeListArray>()
            .ok_or_else(|| polars_err!(ComputeError: "{function}: unexpected token layout"))?;
        let values = tokens
            .values()
            .as_any()
            .downcast_ref::<PrimitiveArray<T>>()
            .ok_or_else(|| polars_err!(ComputeError: "{function}: unexpected token layout"))?;
        let (numbers, token_valid, number_valid) = (
            values.values().as_slice(),
            validity_of(tokens.validity()),
            validity_of(values.validity()),
        );
        let offsets = rows.offsets().as_slice();
        let row_valid = validity_of(rows.validity());
        let chunk: Vec<Option<f64>> = (0..rows.len())
            .into_par_iter()
            .map_init(
                || (Scratch::default(), Vec::new()),
                |(scratch, gathered), row| {
                    if row_valid.is_some_and(|v| !v.is_valid(row)) {
                        return None;
                    }
                    let start = offsets.get(row).copied().unwrap_or(0).max(0) as usize;
                    let end = offsets.get(row + 1).copied().unwrap_or(0).max(0) as usize;
                    let token_ok = |t: usize| {
                        token_valid.is_none_or(|v| v.is_valid(t))
                            && number_valid
                                .is_none_or(|v| (t * d..(t + 1) * d).all(|i| v.is_valid(i)))
                    };
                    let all_valid = (start..end).all(token_ok);
                    let doc: &[T] = if all_valid {
                        numbers.get(start * d..end * d)?
                    } else {
                        gathered.clear();
                        for t in (start..end).filter(|&t| token_ok(t)) {
                            gathered.extend_from_slice(numbers.get(t * d..(t + 1) * d)?);
                        }
                        gathered
                    };
                    T::maxsim(&query, doc, scratch)
                },
            )
            .collect();
        out.extend(chunk);
    }
    Ok(out)
}
