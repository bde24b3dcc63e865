//! The Python face of the CPU-level layer ([`crate::kernels::cpu`]):
//! `POLARS_MLKIT_ISA` is checked when the module is imported (an unknown
//! value refuses the import, naming the allowed ones), and `cpu_info()`
//! reports the detected and the active level.

use pyo3::exceptions::PyImportError;
use pyo3::prelude::*;
use pyo3::types::PyDict;

use crate::kernels::cpu::{self, Level};

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    cpu::configure().map_err(PyImportError::new_err)?;
    m.add_function(wrap_pyfunction!(cpu_info, m)?)
}

/// The detected and active levels, the levels this CPU offers (lowest
/// first), the features behind them, the architecture and the
/// `POLARS_MLKIT_ISA` value in force.
#[pyfunction]
fn cpu_info(py: Python<'_>) -> PyResult<Bound<'_, PyDict>> {
    let detected = cpu::detected();
    let levels: Vec<&str> = Level::ALL
        .into_iter()
        .filter(|&l| l <= detected)
        .map(Level::name)
        .collect();
    let info = PyDict::new(py);
    info.set_item("detected", detected.name())?;
    info.set_item("active", cpu::level().name())?;
    info.set_item("levels", levels)?;
    info.set_item("features", cpu::features())?;
    info.set_item("arch", std::env::consts::ARCH)?;
    info.set_item(cpu::ENV_VAR, std::env::var(cpu::ENV_VAR).ok())?;
    Ok(info)
}
