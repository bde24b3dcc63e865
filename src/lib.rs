//! polars-mlkit: scikit-learn-exact scaling and embedding-vector math as
//! Polars expression plugins.

// A panic on user data is a bug: outside tests, every failure is an error value.
#![cfg_attr(
    not(test),
    deny(clippy::unwrap_used, clippy::expect_used, clippy::panic)
)]

#[macro_use]
pub mod dispatch;
pub mod kernels;

#[cfg(feature = "python")]
mod cpu_info;
#[cfg(feature = "python")]
mod expressions;
#[cfg(feature = "python")]
mod fitted;
#[cfg(feature = "python")]
mod options;
#[cfg(feature = "python")]
mod plain;

#[cfg(feature = "python")]
use pyo3::prelude::*;
#[cfg(feature = "python")]
use pyo3_polars::PolarsAllocator;

// Polars and the plugin must share one allocator: buffers cross the boundary.
#[cfg(feature = "python")]
#[global_allocator]
static ALLOC: PolarsAllocator = PolarsAllocator::new();

#[cfg(feature = "python")]
#[pymodule]
fn _internal(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    cpu_info::register(m)?;
    plain::register(m)?;
    fitted::register(m)
}
