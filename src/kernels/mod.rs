//! Pure numeric kernels over slices. Nothing in here knows about Polars or
//! Python, so every kernel can be unit-tested and benchmarked on its own.
//! The search engine is one subsystem, [`search`], with one entry point.

pub mod aggregate;
pub mod bins;
pub mod categories;
pub mod comoments;
pub mod cpu;
pub mod element;
pub mod gaussian;
pub mod linear;
pub mod maxsim;
pub mod parallel;
pub mod passes;
pub mod quantile;
pub mod row_access;
pub mod rowwise;
pub mod scaling;
pub mod search;
pub mod segments;
pub mod vector;

#[cfg(test)]
mod level_tests;
#[cfg(test)]
mod proptests;
#[cfg(test)]
mod test_data;
