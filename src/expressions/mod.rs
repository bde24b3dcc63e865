//! The Polars side: `#[polars_expr]` wrappers, their kwargs and output-type
//! functions, and the conversion of Series into the slices the kernels take.

mod aggregate;
mod bins;
mod categories;
mod codes;
mod columns;
mod comoments;
mod dtypes;
mod fitted;
mod gaussian;
mod linear;
mod maxsim;
mod scaling;
mod truncate;
mod vector;
