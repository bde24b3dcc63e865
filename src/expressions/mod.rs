//! The Polars side: `#[polars_expr]` wrappers, their kwargs and output-type
//! functions, and the conversion of Series into the slices the kernels take.

mod aggregate;
mod categories;
mod codes;
mod columns;
mod comoments;
mod dtypes;
mod fitted;
mod gaussian;
mod maxsim;
mod scaling;
mod truncate;
mod vector;
