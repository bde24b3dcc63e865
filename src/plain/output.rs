//! Results back to Python in the container the data came in: numpy arrays
//! that take ownership of the Rust buffer (no copy), or lists and tuples of
//! floats.

use numpy::ndarray::Array2;
use numpy::{PyArray1, PyArray2};
use pyo3::exceptions::PyValueError;
use pyo3::ffi;
use pyo3::prelude::*;
use pyo3::types::{PyList, PyTuple};

use super::input::{Origin, PlainFloat};
use crate::kernels::rowwise::RowValues;

/// One number per row (or per value) as a 1-D array, list or tuple; entries
/// whose `valid` flag is false become `None` in a list.
pub fn vector<'py, T: PlainFloat>(
    py: Python<'py>,
    origin: Origin,
    values: Vec<T>,
    valid: Option<&[bool]>,
) -> PyResult<Bound<'py, PyAny>> {
    let item = |(i, v): (usize, &T)| match valid.and_then(|flags| flags.get(i)) {
        Some(false) => None,
        _ => Some(v.to_f64()),
    };
    Ok(match origin {
        Origin::Numpy => PyArray1::from_vec(py, values).into_any(),
        Origin::List => float_list(py, &values, valid)?.into_any(),
        Origin::Tuple => PyTuple::new(py, values.iter().enumerate().map(item))?.into_any(),
    })
}

/// A list of floats (`None` where `valid` says so), built with one C call
/// per item: making a million float objects is most of a list result's cost.
fn float_list<'py, T: PlainFloat>(
    py: Python<'py>,
    values: &[T],
    valid: Option<&[bool]>,
) -> PyResult<Bound<'py, PyList>> {
    let len = ffi::Py_ssize_t::try_from(values.len())
        .map_err(|_| PyValueError::new_err("too many values for a list"))?;
    // SAFETY: `PyList_New` gives a new list (or null with an error set) whose
    // `len` slots `PyList_SetItem` fills, each taking ownership of a new
    // float (or of a new reference to None); a null float is an error.
    unsafe {
        let list = Bound::from_owned_ptr_or_err(py, ffi::PyList_New(len))?;
        for (i, v) in values.iter().enumerate() {
            let item = match valid.and_then(|flags| flags.get(i)) {
                Some(false) => {
                    let none = ffi::Py_None();
                    ffi::Py_IncRef(none);
                    none
                }
                _ => ffi::PyFloat_FromDouble(v.to_f64()),
            };
            if item.is_null() {
                return Err(PyErr::fetch(py));
            }
            ffi::PyList_SetItem(list.as_ptr(), i as ffi::Py_ssize_t, item);
        }
        Ok(list.cast_into_unchecked())
    }
}

/// `rows × cols` row-major values as a 2-D array or a list of lists.
pub fn matrix<'py, T: PlainFloat>(
    py: Python<'py>,
    origin: Origin,
    values: Vec<T>,
    rows: usize,
    cols: usize,
) -> PyResult<Bound<'py, PyAny>> {
    match origin {
        Origin::Numpy => {
            let array = Array2::from_shape_vec((rows, cols), values)
                .map_err(|e| PyValueError::new_err(e.to_string()))?;
            Ok(PyArray2::from_owned_array(py, array).into_any())
        }
        Origin::List | Origin::Tuple => {
            let list = PyList::empty(py);
            for r in 0..rows {
                let row = values.get(r * cols..(r + 1) * cols).unwrap_or(&[]);
                list.append(PyList::new(py, row.iter().map(|v| v.to_f64()))?)?;
            }
            Ok(list.into_any())
        }
    }
}

/// Row-wise results: a float for one vector, else one value per row.
pub fn per_row<'py, T: PlainFloat>(
    py: Python<'py>,
    origin: Origin,
    one_vector: bool,
    results: RowValues<T>,
) -> PyResult<Bound<'py, PyAny>> {
    if one_vector {
        let value = results.get(0).map(|v| v.to_f64());
        return Ok(value.into_pyobject(py)?.into_any());
    }
    vector(py, origin, results.values, results.valid.as_deref())
}
