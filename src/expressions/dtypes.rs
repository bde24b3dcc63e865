//! The one place that decides which dtypes an operation accepts and what it
//! returns, so schema-time errors (`collect_schema()`) and run-time behaviour
//! cannot disagree.

use polars::prelude::*;

pub use crate::dispatch::FloatKind;

impl FloatKind {
    pub fn dtype(self) -> DataType {
        match self {
            FloatKind::F32 => DataType::Float32,
            FloatKind::F64 => DataType::Float64,
        }
    }
}

/// Float32 (and Float16) stay 32-bit; Float64, integers and Decimal become
/// Float64. `None` for anything that is not a number.
pub fn scalar_float_kind(dtype: &DataType) -> Option<FloatKind> {
    match dtype {
        DataType::Float32 | DataType::Float16 => Some(FloatKind::F32),
        DataType::Float64 => Some(FloatKind::F64),
        d if d.is_integer() || d.is_decimal() => Some(FloatKind::F64),
        _ => None,
    }
}

/// The shape of a column an operation is applied to.
#[derive(Debug, Clone, PartialEq)]
pub enum Shape {
    Scalar,
    /// `Array(numeric, width)`.
    Array(usize),
    /// `List(numeric)`: the length is only known per row.
    List,
}

/// Shape and computing float type of a scalar or vector numeric column.
pub fn numeric_shape(dtype: &DataType) -> Option<(Shape, FloatKind)> {
    match dtype {
        DataType::Array(inner, width) => Some((Shape::Array(*width), scalar_float_kind(inner)?)),
        DataType::List(inner) => Some((Shape::List, scalar_float_kind(inner)?)),
        d => Some((Shape::Scalar, scalar_float_kind(d)?)),
    }
}

/// The dtype of `shape` holding `kind` floats.
pub fn shaped_dtype(shape: &Shape, kind: FloatKind) -> DataType {
    match shape {
        Shape::Scalar => kind.dtype(),
        Shape::Array(width) => DataType::Array(Box::new(kind.dtype()), *width),
        Shape::List => DataType::List(Box::new(kind.dtype())),
    }
}

/// `Array(_, 0)` columns cannot cross the plugin boundary (Polars' import
/// of a zero-width fixed-size list fails), so they are refused at schema
/// time with a clear message instead.
pub fn reject_zero_width(dtype: &DataType, function: &str) -> PolarsResult<()> {
    if let DataType::Array(_, 0) = dtype {
        polars_bail!(InvalidOperation:
            "{function}: the column holds vectors of length 0 ({dtype}); expected vectors of at least one number");
    }
    Ok(())
}
