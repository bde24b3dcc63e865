//! Pure numeric kernels over slices. Nothing in here knows about Polars or
//! Python, so every kernel can be unit-tested and benchmarked on its own.

pub mod aggregate;
pub mod amx;
pub mod code_blocks;
pub mod codes;
pub mod element;
pub mod gaussian;
pub mod half_tiles;
pub mod hamming_blocks;
pub mod neighbors;
pub mod parallel;
pub mod passes;
pub mod product;
pub mod quantile;
pub mod rowwise;
pub mod scaling;
pub mod screen8;
pub mod screened;
pub mod segments;
pub mod vector;

#[cfg(test)]
mod proptests;
#[cfg(test)]
mod test_data;
