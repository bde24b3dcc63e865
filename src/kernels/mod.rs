//! Pure numeric kernels over slices. Nothing in here knows about Polars or
//! Python, so every kernel can be unit-tested and benchmarked on its own.

pub mod aggregate;
pub mod amx;
pub mod codes;
pub mod cpu;
pub mod element;
pub mod gaussian;
pub mod half_tiles;
pub mod neighbors;
pub mod parallel;
pub mod passes;
pub mod product;
pub mod quantile;
pub mod rowwise;
pub mod scaling;
pub mod screened;
pub mod segments;
pub mod vector;

// The AVX-512 kernels: on other CPUs their scaffolding still compiles (so
// their callers need no cfg) but goes unused.
#[cfg_attr(not(target_arch = "x86_64"), allow(dead_code, unused_variables))]
pub mod code_blocks;
#[cfg_attr(not(target_arch = "x86_64"), allow(dead_code, unused_variables))]
pub mod hamming_blocks;
#[cfg_attr(not(target_arch = "x86_64"), allow(dead_code, unused_variables))]
pub mod screen8;

#[cfg(test)]
mod level_tests;
#[cfg(test)]
mod proptests;
#[cfg(test)]
mod test_data;
