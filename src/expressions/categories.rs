//! Category encoding: `ml.ordinal_encode` / `ml.one_hot` and the fitted
//! `OrdinalEncoder` / `OneHotEncoder`, all through the one lookup in
//! `kernels::categories`. These wrappers read the column and the categories
//! (a one-row List literal, or an Enum column's own dtype), build the
//! kernel's code table from the kwargs and shape the output.
//!
//! Elementwise: each row's code depends on that row and the constants only.

use polars::prelude::*;
use polars_arrow::array::{Array as ArrowArray, Utf8ViewArray};
use polars_arrow::bitmap::Bitmap;
use pyo3_polars::derive::polars_expr;
use rayon::prelude::*;
use serde::Deserialize;

use super::columns::{row_groups, UnseenGroup};
use crate::kernels::categories::{
    count_views, encode, encode_ids, encode_views, float_key, group_codes, Code, CodeColumn,
    CodeSink, CodeTable, Missing, OneHotSink, Slot, Unknown, UnknownAt, ValueCounts,
};

// Pickled kwargs carry Python ints as i64; these values stand for the
// policies that are not a code.
/// `missing`: a missing value is no category (it is unknown).
const MISSING_IS_UNKNOWN: i64 = -2;
/// `unknown`: an unknown value is an error naming the column and the value.
const UNKNOWN_IS_ERROR: i64 = -3;
/// A null code (`codes`, `missing`, `unknown`).
const NULL_CODE: i64 = -1;
/// `group_codes`: this category of the union is none of the group's.
const NOT_A_CATEGORY: i64 = -4;

#[derive(Deserialize)]
struct EncodeKwargs {
    /// The name error messages start with (`"OneHotEncoder.transform"`, `"one_hot"`).
    function: String,
    /// The code of each category, in order (`-1`: null); `None`: 0, 1, 2, ...
    codes: Option<Vec<i64>>,
    /// A missing value's code, `-1` (null) or `-2` (no category: unknown).
    missing: i64,
    /// An unknown value's code, `-1` (null) or `-3` (an error).
    unknown: i64,
    /// `one_hot`: the output fields' labels (named `{column}_{label}`);
    /// `None`: the Enum column's categories.
    labels: Option<Vec<String>>,
    /// `one_hot`: the fields' dtype, e.g. `"UInt8"`, `"Float64"`, `"Boolean"`.
    dtype: Option<String>,
    /// Per-group encoding (`OneHotEncoder(by=...)`): the fitted groups'
    /// rendered keys; the third input holds each row's. Empty: one table
    /// (`codes`, `missing`, `unknown`) for every row.
    #[serde(default)]
    keys: Vec<String>,
    /// Per group, the code of each category of the literal (the union of
    /// the groups' categories), `NOT_A_CATEGORY` for one the group lacks.
    #[serde(default)]
    group_codes: Vec<Vec<i64>>,
    /// Per group, `missing` as above.
    #[serde(default)]
    group_missing: Vec<i64>,
    /// Per group, `unknown` as above.
    #[serde(default)]
    group_unknown: Vec<i64>,
    /// The first input holds an Enum column's ids (`to_physical`), and
    /// these are the Enum's categories (the fitted encoders read them from
    /// the frame's schema). Polars hands an Enum column to an extension by
    /// rebuilding it from its strings, which costs about as much as the
    /// lookup; ids cross as they are.
    #[serde(default)]
    enum_categories: Option<Vec<String>>,
}

/// How a column's values are compared with categories.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Kind {
    Text,
    Integer,
    Float,
    Boolean,
}

fn kind_of(dtype: &DataType) -> Option<Kind> {
    match dtype {
        DataType::String | DataType::Categorical(_, _) | DataType::Enum(_, _) => Some(Kind::Text),
        DataType::Boolean => Some(Kind::Boolean),
        DataType::Float32 | DataType::Float64 => Some(Kind::Float),
        d if d.is_integer() => Some(Kind::Integer),
        _ => None,
    }
}

fn kind_name(kind: Kind) -> &'static str {
    match kind {
        Kind::Text => "strings",
        Kind::Integer => "integers",
        Kind::Float => "floats",
        Kind::Boolean => "Booleans",
    }
}

/// The column's kind, checked against its categories' dtype (`None`: the
/// categories come from the column's Enum dtype).
fn checked_kind(
    function: &str,
    name: &str,
    dtype: &DataType,
    categories: Option<&DataType>,
) -> PolarsResult<Kind> {
    let kind = kind_of(dtype).ok_or_else(|| {
        polars_err!(InvalidOperation:
            "{function}: column {name:?} has dtype {dtype}; expected String, Categorical, Enum, integer, Boolean or float")
    })?;
    match categories {
        None => {
            polars_ensure!(matches!(dtype, DataType::Enum(_, _)), InvalidOperation:
                "{function}: column {name:?} has dtype {dtype}, which does not list its categories; pass categories= (only an Enum column needs none)");
        }
        Some(DataType::List(inner)) => {
            let expected = kind_of(inner);
            polars_ensure!(expected == Some(kind) || inner.is_null(), InvalidOperation:
                "{function}: column {name:?} holds {} ({dtype}) but its categories are {} ({inner}); was it fitted on a column of another dtype?",
                kind_name(kind), expected.map_or("of no supported dtype", kind_name));
        }
        Some(other) => polars_bail!(ComputeError:
            "{function}: the categories must be a List constant, got {other}"),
    }
    Ok(kind)
}

fn first_field<'a>(fields: &'a [Field], function: &str) -> PolarsResult<&'a Field> {
    fields
        .first()
        .ok_or_else(|| polars_err!(ComputeError: "{function}: expected an input column"))
}

/// The dtype the first input's values compare as: its own, or String for
/// an Enum column's ids (see `EncodeKwargs::enum_categories`).
fn values_dtype(first: &DataType, kwargs: &EncodeKwargs) -> PolarsResult<DataType> {
    if kwargs.enum_categories.is_none() {
        return Ok(first.clone());
    }
    polars_ensure!(first.is_unsigned_integer(), ComputeError:
        "{}: expected the ids of an Enum column, got {first}", kwargs.function);
    Ok(DataType::String)
}

/// The category strings of an Enum dtype.
fn enum_categories(dtype: &DataType) -> Option<Vec<String>> {
    match dtype {
        DataType::Enum(categories, _) => Some(
            categories
                .categories()
                .values_iter()
                .map(str::to_string)
                .collect(),
        ),
        _ => None,
    }
}

fn code_of(value: i64) -> Code {
    if value == NULL_CODE {
        return None;
    }
    u32::try_from(value).ok()
}

fn missing_policy(value: i64) -> Missing {
    if value == MISSING_IS_UNKNOWN {
        Missing::Unknown
    } else {
        Missing::Code(code_of(value))
    }
}

fn unknown_policy(value: i64) -> Unknown {
    if value == UNKNOWN_IS_ERROR {
        Unknown::Error
    } else {
        Unknown::Code(code_of(value))
    }
}

/// The categories as a Series (the literal's one row, or the Enum's).
fn categories_series(inputs: &[Series], function: &str) -> PolarsResult<Option<Series>> {
    let Some(literal) = inputs.get(1) else {
        return Ok(None);
    };
    let lists = literal.list().map_err(|_| {
        polars_err!(ComputeError: "{function}: the categories must be a List constant, got {}", literal.dtype())
    })?;
    let row = lists
        .get_as_series(0)
        .ok_or_else(|| polars_err!(ComputeError: "{function}: the categories are null"))?;
    polars_ensure!(row.null_count() == 0, ComputeError:
        "{function}: the categories hold a null; a missing value is a category through the `missing` code");
    Ok(Some(row))
}

/// Rows a part of a parallel lookup holds at least: below this, the
/// threads cost more than they save.
const PART_ROWS: usize = 1 << 18;

/// The row ranges `(offset, len)` that `rows` rows are split into for the
/// pool's threads: one per thread, none shorter than [`PART_ROWS`].
fn split_rows(rows: usize) -> Vec<(usize, usize)> {
    let parts = (rows / PART_ROWS).clamp(1, rayon::current_num_threads().max(1));
    let base = rows / parts;
    (0..parts)
        .map(|p| {
            let offset = p * base;
            let len = if p + 1 == parts { rows - offset } else { base };
            (offset, len)
        })
        .collect()
}

/// The parts of a lookup (see [`split_rows`]); per-group codes are one
/// part (their keys are not split).
fn row_parts(rows: usize, kwargs: &EncodeKwargs) -> Vec<(usize, usize)> {
    if kwargs.keys.is_empty() {
        split_rows(rows)
    } else {
        vec![(0, rows)]
    }
}

/// Every row's code, the rows split in parts (see [`row_parts`]) each with
/// its sink, the parts looked up in parallel; the sinks come back in order,
/// and an error is the first part's (the first unknown row, whichever
/// thread finds one first).
fn codes_in_parts<S: CodeSink + Send>(
    inputs: &[Series],
    dtype: &DataType,
    kwargs: &EncodeKwargs,
    parts: Vec<((usize, usize), S)>,
) -> PolarsResult<Vec<S>> {
    let whole = parts.len() == 1;
    parts
        .into_par_iter()
        .map(|((offset, len), mut sink)| {
            let mut part = inputs.to_vec();
            if let (false, Some(input)) = (whole, part.first_mut()) {
                *input = input.slice(offset as i64, len);
            }
            codes(&part, dtype, kwargs, offset, &mut sink)?;
            Ok(sink)
        })
        .collect::<Vec<PolarsResult<S>>>()
        .into_iter()
        .collect()
}

/// Every row's code, put into `out`: through the one lookup, or per group
/// (`keys`). The first input's values have `dtype`; `first_row` is the row
/// of its first value in the column (for error messages).
fn codes<S: CodeSink>(
    inputs: &[Series],
    dtype: &DataType,
    kwargs: &EncodeKwargs,
    first_row: usize,
    out: &mut S,
) -> PolarsResult<()> {
    if kwargs.keys.is_empty() {
        let rules = Rules {
            codes: kwargs.codes.as_deref(),
            missing: missing_policy(kwargs.missing),
            unknown: unknown_policy(kwargs.unknown),
            enum_ids: kwargs.enum_categories.as_deref(),
        };
        return lookup(inputs, dtype, &kwargs.function, rules, first_row, out);
    }
    for code in codes_per_group(inputs, dtype, kwargs)? {
        out.put(code);
    }
    Ok(())
}

/// Every row's code under its group's table: one lookup finds each value's
/// place among the union of the groups' categories (the literal), then
/// `group_codes` applies the row's group's codes and policies. An unseen
/// group is an error, as in the other fitted transforms with `by`; an
/// unknown value under the group's `unknown="error"` names the column, the
/// value, its row and its group.
fn codes_per_group(
    inputs: &[Series],
    dtype: &DataType,
    kwargs: &EncodeKwargs,
) -> PolarsResult<Vec<Code>> {
    let function = kwargs.function.as_str();
    let input = inputs
        .first()
        .ok_or_else(|| polars_err!(ComputeError: "{function}: expected an input column"))?;
    let n = categories_series(inputs, function)?
        .map(|c| c.len())
        .ok_or_else(
            || polars_err!(ComputeError: "{function}: per-group codes need the categories"),
        )?;
    let n = u32::try_from(n)
        .ok()
        .filter(|n| *n < u32::MAX - 1)
        .ok_or_else(|| polars_err!(ComputeError: "{function}: too many categories ({n})"))?;
    let groups = kwargs.keys.len();
    polars_ensure!(
        kwargs.group_codes.len() == groups
            && kwargs.group_missing.len() == groups
            && kwargs.group_unknown.len() == groups,
        ComputeError: "{function}: {groups} group keys but {}, {} and {} code tables",
        kwargs.group_codes.len(), kwargs.group_missing.len(), kwargs.group_unknown.len()
    );
    let mut positions = Vec::with_capacity(input.len());
    let rules = Rules {
        codes: None,
        missing: Missing::Code(Some(n)),
        unknown: Unknown::Code(Some(n + 1)),
        enum_ids: kwargs.enum_categories.as_deref(),
    };
    lookup(inputs, dtype, function, rules, 0, &mut positions)?;
    let slots: Vec<Slot> = positions
        .into_iter()
        .map(|p| match p {
            Some(p) if p < n => Slot::Category(p),
            Some(p) if p == n => Slot::Missing,
            _ => Slot::Unknown,
        })
        .collect();
    let key_input = inputs.get(2);
    let rows =
        row_groups(key_input, &kwargs.keys, UnseenGroup::Error(""), function)?.unwrap_or_default();
    polars_ensure!(rows.len() == slots.len(), ComputeError:
        "{function}: {} group keys for {} rows", rows.len(), slots.len());
    let mut tables = Vec::with_capacity(groups);
    for (g, codes) in kwargs.group_codes.iter().enumerate() {
        polars_ensure!(codes.len() == n as usize, ComputeError:
            "{function}: group {g} has {} codes for {n} categories", codes.len());
        let (places, codes): (Vec<u32>, Vec<Code>) = (0..n)
            .zip(codes)
            .filter(|(_, c)| **c != NOT_A_CATEGORY)
            .map(|(j, c)| (j, code_of(*c)))
            .unzip();
        let missing = missing_policy(kwargs.group_missing.get(g).copied().unwrap_or(NULL_CODE));
        let unknown = unknown_policy(kwargs.group_unknown.get(g).copied().unwrap_or(NULL_CODE));
        let table = CodeTable::new(places, &codes, missing, unknown).map_err(|e| {
            polars_err!(ComputeError: "{function}: group {g} holds category {} twice", e.position)
        })?;
        tables.push(table);
    }
    group_codes(&slots, &rows, &tables).map_err(|UnknownAt { row }| {
        let shown = kind_of(dtype).map_or_else(
            || "a value".to_string(),
            |kind| shown_value(input, kwargs.enum_categories.as_deref(), kind, row),
        );
        let group = key_input
            .and_then(|k| k.str().ok())
            .and_then(|k| k.get(row))
            .map_or_else(|| "null".to_string(), |k| format!("{k:?}"));
        polars_err!(ComputeError:
            "{function}: column {:?} has {shown} (row {row}), which is not one of the fitted categories of its group {group} (handle_unknown=\"error\")",
            input.name())
    })
}

/// An array's values as their 16-byte Arrow views (`None`: null).
fn views_of(arr: &Utf8ViewArray) -> impl Iterator<Item = Option<u128>> + '_ {
    let validity = arr.validity();
    arr.views().iter().enumerate().map(move |(i, view)| {
        validity
            .is_none_or(|v| v.get_bit(i))
            .then(|| view.as_u128())
    })
}

/// The codes of a String column, chunk by chunk, each value found by its
/// Arrow view (see [`encode_views`]).
fn encode_strings<S: CodeSink>(
    table: &CodeTable<&str>,
    values: &StringChunked,
    out: &mut S,
) -> Result<(), UnknownAt> {
    let mut first_row = 0;
    for arr in values.downcast_iter() {
        encode_views(table, views_of(arr), |i| arr.get(i), first_row, out)?;
        first_row += arr.len();
    }
    Ok(())
}

/// What a lookup's table applies: the code of each category (`None`: 0,
/// 1, 2, ...), and what a missing and an unknown value become.
struct Rules<'a> {
    codes: Option<&'a [i64]>,
    missing: Missing,
    unknown: Unknown,
    /// The input holds the ids of an Enum with these categories.
    enum_ids: Option<&'a [String]>,
}

/// Every row's code through the one lookup, put into `out`, with the
/// table's `rules`; an unknown value under `Unknown::Error` names the
/// column, the value and its row (counted from `first_row`).
fn lookup<S: CodeSink>(
    inputs: &[Series],
    dtype: &DataType,
    function: &str,
    rules: Rules<'_>,
    first_row: usize,
    out: &mut S,
) -> PolarsResult<()> {
    let input = inputs
        .first()
        .ok_or_else(|| polars_err!(ComputeError: "{function}: expected an input column"))?;
    let categories = categories_series(inputs, function)?;
    let kind = checked_kind(
        function,
        input.name(),
        dtype,
        categories
            .as_ref()
            .map(|c| DataType::List(Box::new(c.dtype().clone())))
            .as_ref(),
    )?;
    let given: Vec<Code>;
    let Rules {
        codes,
        missing,
        unknown,
        enum_ids,
    } = rules;
    let table_codes: &[Code] = match codes {
        Some(codes) => {
            given = codes.iter().map(|c| code_of(*c)).collect();
            &given
        }
        None => {
            let n = match &categories {
                Some(c) => c.len(),
                None => enum_categories(dtype).map_or(0, |c| c.len()),
            };
            given = (0..n).map(|j| u32::try_from(j).ok()).collect();
            &given
        }
    };
    let duplicate = |e: crate::kernels::categories::DuplicateCategory| polars_err!(ComputeError: "{function}: the categories hold a value twice (position {})", e.position);
    let found: Result<(), UnknownAt> = match kind {
        Kind::Text => {
            let values = match dtype {
                DataType::String => input.clone(),
                _ => Series::new_empty(input.name().clone(), &DataType::String),
            };
            let owned;
            let names: Vec<&str> = match &categories {
                Some(c) => c.str()?.iter().flatten().collect(),
                None => {
                    owned = enum_categories(dtype).unwrap_or_default();
                    owned.iter().map(String::as_str).collect()
                }
            };
            let table = CodeTable::new(names, table_codes, missing, unknown).map_err(duplicate)?;
            // Dictionary-encoded input (an Enum's ids with their categories
            // in the kwargs, or a Categorical/Enum column): each id is
            // looked up once.
            let mapping = match dtype {
                DataType::Categorical(_, mapping) | DataType::Enum(_, mapping) => Some(mapping),
                _ => None,
            };
            let key_of = |id: usize| match enum_ids {
                Some(names) => names.get(id).map(String::as_str),
                None => mapping?.cat_to_str(u32::try_from(id).ok()?),
            };
            let ids_count = match (enum_ids, mapping) {
                (Some(names), _) => Some(names.len()),
                (None, Some(mapping)) => Some(mapping.num_cats_upper_bound()),
                (None, None) => None,
            };
            match ids_count {
                Some(count) => {
                    let ids = input.to_physical_repr().cast(&DataType::UInt32)?;
                    let ids = ids.u32()?.iter().map(|id| id.map(|v| v as usize));
                    encode_ids(&table, count, key_of, ids, 0, out)
                }
                None => encode_strings(&table, values.str()?, out),
            }
        }
        Kind::Integer | Kind::Boolean => {
            let cats = categories
                .as_ref()
                .map(|c| c.strict_cast(&DataType::Int64))
                .transpose()?;
            let values = input.strict_cast(&DataType::Int64).map_err(|_| {
                polars_err!(ComputeError: "{function}: column {:?} holds integers beyond the Int64 range", input.name())
            })?;
            let keys: Vec<i64> = match &cats {
                Some(c) => c.i64()?.into_no_null_iter().collect(),
                None => Vec::new(),
            };
            let table = CodeTable::new(keys, table_codes, missing, unknown).map_err(duplicate)?;
            encode(&table, values.i64()?.iter(), 0, out)
        }
        Kind::Float => {
            let cats = categories
                .as_ref()
                .map(|c| c.cast(&DataType::Float64))
                .transpose()?;
            let values = input.cast(&DataType::Float64)?;
            let keys: Vec<u64> = match &cats {
                Some(c) => {
                    let mut keys = Vec::with_capacity(c.len());
                    for v in c.f64()?.into_no_null_iter() {
                        keys.push(float_key(v).ok_or_else(|| {
                            polars_err!(ComputeError: "{function}: the categories hold NaN; a missing value is a category through the `missing` code")
                        })?);
                    }
                    keys
                }
                None => Vec::new(),
            };
            let table = CodeTable::new(keys, table_codes, missing, unknown).map_err(duplicate)?;
            let iter = values.f64()?.iter().map(|v| v.and_then(float_key));
            encode(&table, iter, 0, out)
        }
    };
    found.map_err(|at| unknown_error(input, enum_ids, kind, function, first_row, at))
}

/// The error of an unknown value under `Unknown::Error`: the column, the
/// value (an Enum id shown as its category) and its row.
fn unknown_error(
    input: &Series,
    enum_ids: Option<&[String]>,
    kind: Kind,
    function: &str,
    first_row: usize,
    UnknownAt { row }: UnknownAt,
) -> PolarsError {
    let shown = shown_value(input, enum_ids, kind, row);
    let row = first_row + row;
    polars_err!(ComputeError:
        "{function}: column {:?} has {shown} (row {row}), which is not one of its fitted categories (handle_unknown=\"error\")",
        input.name())
}

/// An input value for an error message (strings quoted, missing named).
fn shown_value(input: &Series, enum_ids: Option<&[String]>, kind: Kind, row: usize) -> String {
    if let Some(names) = enum_ids {
        let id = input
            .cast(&DataType::UInt32)
            .ok()
            .and_then(|ids| ids.u32().ok()?.get(row));
        return match id {
            None => "a missing value (null)".to_string(),
            Some(id) => names
                .get(id as usize)
                .map_or_else(|| "a value".to_string(), |v| format!("the value {v:?}")),
        };
    }
    let display = if kind == Kind::Text {
        input.cast(&DataType::String)
    } else {
        Ok(input.clone())
    };
    let Ok(display) = display else {
        return "a value".to_string();
    };
    match display.get(row) {
        Ok(AnyValue::Null) => "a missing value (null)".to_string(),
        Ok(AnyValue::Float64(v)) if v.is_nan() => "a missing value (NaN)".to_string(),
        Ok(AnyValue::Float32(v)) if v.is_nan() => "a missing value (NaN)".to_string(),
        Ok(AnyValue::String(s)) => format!("the value {s:?}"),
        Ok(v) => format!("the value {v}"),
        Err(_) => "a value".to_string(),
    }
}

// ------------------------------------------------------------------ ordinal

fn codes_output(fields: &[Field], kwargs: EncodeKwargs) -> PolarsResult<Field> {
    let function = kwargs.function.as_str();
    let field = first_field(fields, function)?;
    let logical = values_dtype(field.dtype(), &kwargs)?;
    checked_kind(
        function,
        field.name(),
        &logical,
        fields.get(1).map(|f| f.dtype()),
    )?;
    Ok(Field::new(field.name().clone(), codes_dtype(&kwargs)?))
}

/// The codes' dtype: UInt32, or Float64 (`OrdinalEncoder`'s, written
/// at once instead of cast afterwards).
fn codes_dtype(kwargs: &EncodeKwargs) -> PolarsResult<DataType> {
    match kwargs.dtype.as_deref() {
        None | Some("UInt32") => Ok(DataType::UInt32),
        Some("Float64") => Ok(DataType::Float64),
        Some(other) => polars_bail!(InvalidOperation:
            "{}: codes are UInt32 or Float64, got {other}", kwargs.function),
    }
}

/// Each row's category code (UInt32 or Float64, see [`codes_dtype`]; null
/// where the code is null).
#[polars_expr(output_type_func_with_kwargs=codes_output)]
fn category_codes(inputs: &[Series], kwargs: EncodeKwargs) -> PolarsResult<Series> {
    let name = inputs.first().map(|s| s.name().clone()).unwrap_or_default();
    let logical = values_dtype(
        inputs.first().map_or(&DataType::Null, |s| s.dtype()),
        &kwargs,
    )?;
    // Each row's code as a `T`, with the validity as a bitmap.
    fn column_of<T: From<u32> + Send>(
        inputs: &[Series],
        logical: &DataType,
        kwargs: &EncodeKwargs,
    ) -> PolarsResult<(Vec<T>, Option<Bitmap>)> {
        let rows = inputs.first().map_or(0, |s| s.len());
        let parts = row_parts(rows, kwargs)
            .into_iter()
            .map(|(offset, len)| ((offset, len), CodeColumn::<T>::with_capacity(len)))
            .collect();
        let out = CodeColumn::concat(codes_in_parts(inputs, logical, kwargs, parts)?);
        let validity = out.validity.map(|valid| valid.into_iter().collect());
        Ok((out.values, validity))
    }
    Ok(match codes_dtype(&kwargs)? {
        DataType::Float64 => {
            let (values, validity) = column_of::<f64>(inputs, &logical, &kwargs)?;
            Float64Chunked::from_vec_validity(name, values, validity).into_series()
        }
        _ => {
            let (values, validity) = column_of::<u32>(inputs, &logical, &kwargs)?;
            UInt32Chunked::from_vec_validity(name, values, validity).into_series()
        }
    })
}

// ------------------------------------------------------------------ one-hot

fn field_dtype(kwargs: &EncodeKwargs) -> PolarsResult<DataType> {
    let function = kwargs.function.as_str();
    Ok(match kwargs.dtype.as_deref().unwrap_or("UInt8") {
        "Boolean" => DataType::Boolean,
        "UInt8" => DataType::UInt8,
        "UInt16" => DataType::UInt16,
        "UInt32" => DataType::UInt32,
        "UInt64" => DataType::UInt64,
        "Int8" => DataType::Int8,
        "Int16" => DataType::Int16,
        "Int32" => DataType::Int32,
        "Int64" => DataType::Int64,
        "Float32" => DataType::Float32,
        "Float64" => DataType::Float64,
        other => polars_bail!(InvalidOperation:
            "{function}: dtype must be a numeric or Boolean dtype, got {other}"),
    })
}

/// The output fields' names, `{column}_{label}`: the labels given (Python
/// renders them as scikit-learn does), or an Enum column's categories.
fn field_names(name: &str, dtype: &DataType, kwargs: &EncodeKwargs) -> PolarsResult<Vec<String>> {
    let labels = match &kwargs.labels {
        Some(labels) => labels.clone(),
        None => enum_categories(dtype).ok_or_else(|| {
            polars_err!(ComputeError: "{}: the one-hot field labels are missing", kwargs.function)
        })?,
    };
    Ok(labels.iter().map(|l| format!("{name}_{l}")).collect())
}

fn one_hot_output(fields: &[Field], kwargs: EncodeKwargs) -> PolarsResult<Field> {
    let function = kwargs.function.as_str();
    let field = first_field(fields, function)?;
    let logical = values_dtype(field.dtype(), &kwargs)?;
    checked_kind(
        function,
        field.name(),
        &logical,
        fields.get(1).map(|f| f.dtype()),
    )?;
    let dtype = field_dtype(&kwargs)?;
    let names = field_names(field.name(), &logical, &kwargs)?;
    let inner = names
        .iter()
        .map(|n| Field::new(n.as_str().into(), dtype.clone()))
        .collect();
    Ok(Field::new(field.name().clone(), DataType::Struct(inner)))
}

/// A Struct with one field per output category: 1 where the row's code is
/// the field's position, 0 elsewhere (a null code gives a row of zeros).
#[polars_expr(output_type_func_with_kwargs=one_hot_output)]
fn one_hot(inputs: &[Series], kwargs: EncodeKwargs) -> PolarsResult<Series> {
    let function = kwargs.function.as_str();
    let input = inputs
        .first()
        .ok_or_else(|| polars_err!(ComputeError: "{function}: expected an input column"))?;
    let logical = values_dtype(input.dtype(), &kwargs)?;
    let dtype = field_dtype(&kwargs)?;
    let names = field_names(input.name(), &logical, &kwargs)?;
    // The columns are filled as the codes come (no per-row codes held),
    // each part of the rows by its own thread.
    let mut filled = vec![vec![0u8; input.len()]; names.len()];
    let parts = row_parts(input.len(), &kwargs);
    let mut part_columns: Vec<Vec<&mut [u8]>> = parts.iter().map(|_| Vec::new()).collect();
    for column in &mut filled {
        let mut rest = column.as_mut_slice();
        for (columns, (_, len)) in part_columns.iter_mut().zip(&parts) {
            let (head, tail) = rest.split_at_mut((*len).min(rest.len()));
            columns.push(head);
            rest = tail;
        }
    }
    let sinks = parts
        .into_iter()
        .zip(part_columns)
        .map(|(range, columns)| (range, OneHotSink::new(columns)))
        .collect();
    codes_in_parts(inputs, &logical, &kwargs, sinks)?;
    let mut columns = Vec::with_capacity(names.len());
    for (name, values) in names.iter().zip(filled) {
        let column = UInt8Chunked::from_vec(name.as_str().into(), values).into_series();
        columns.push(column.cast(&dtype)?);
    }
    Ok(
        StructChunked::from_series(input.name().clone(), input.len(), columns.iter())?
            .into_series(),
    )
}

// ------------------------------------------------------------------ counts

fn counts_output(fields: &[Field]) -> PolarsResult<Field> {
    let field = first_field(fields, "category_counts")?;
    polars_ensure!(field.dtype() == &DataType::String, InvalidOperation:
        "category_counts: column {:?} has dtype {}; expected String", field.name(), field.dtype());
    Ok(Field::new(
        field.name().clone(),
        DataType::Struct(vec![
            Field::new("value".into(), DataType::String),
            Field::new("count".into(), DataType::UInt64),
        ]),
    ))
}

/// The distinct values of `values` with their counts (see [`count_views`]), and the nulls.
fn count_strings(values: &StringChunked) -> (ValueCounts<'_>, u64) {
    count_views(
        values
            .downcast_iter()
            .map(|arr| (views_of(arr), move |i: usize| arr.get(i))),
    )
}

/// A String column's distinct values with how often each occurs (a null
/// value: the nulls, when there are any), in no particular order:
/// `value_counts` for the encoders' fits, counted by Arrow view.
#[polars_expr(output_type_func=counts_output)]
fn category_counts(inputs: &[Series]) -> PolarsResult<Series> {
    let input = inputs
        .first()
        .ok_or_else(|| polars_err!(ComputeError: "category_counts: expected an input column"))?;
    let values = input.str()?;
    // Parts of the rows counted in parallel, then added up by value.
    let parts: Vec<StringChunked> = split_rows(values.len())
        .into_iter()
        .map(|(offset, len)| values.slice(offset as i64, len))
        .collect();
    let counted: Vec<_> = parts.par_iter().map(count_strings).collect();
    let mut total = ValueCounts::default();
    let mut nulls = 0;
    for (part, part_nulls) in counted {
        nulls += part_nulls;
        for (value, n) in part.into_counts() {
            total.add(value, n);
        }
    }
    let counted = total.into_counts();
    let mut names: Vec<Option<&str>> = counted.iter().map(|(v, _)| Some(*v)).collect();
    let mut counts: Vec<u64> = counted.iter().map(|(_, n)| *n).collect();
    if nulls > 0 {
        names.push(None);
        counts.push(nulls);
    }
    let value = StringChunked::from_iter_options("value".into(), names.into_iter()).into_series();
    let count = UInt64Chunked::from_vec("count".into(), counts).into_series();
    Ok(
        StructChunked::from_series(input.name().clone(), value.len(), [value, count].iter())?
            .into_series(),
    )
}
