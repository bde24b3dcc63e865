//! Python data as the kernels' input. A numpy array of float32 or float64 is
//! read in place, whatever its order or strides; other numeric dtypes are
//! converted once (float16 to float32, the rest to float64). Lists and
//! tuples of numbers (or of rows of numbers) are read in one pass here,
//! with no Python-level checks per element.
//!
//! A call on a short vector must cost no more than numpy's own call, so a
//! numpy array is read without allocating: its dtype's kind and size pick
//! the one cast to try, and the kernels read its buffer in place.

use numpy::ndarray::{ArrayD, ArrayView2, ArrayViewD, Axis, CowArray, IxDyn};
use numpy::{
    PyArrayDescrMethods, PyArrayDyn, PyArrayMethods, PyUntypedArray, PyUntypedArrayMethods,
};
use pyo3::exceptions::{PyTypeError, PyValueError};
use pyo3::ffi;
use pyo3::prelude::*;

use crate::dispatch::FloatKind;
use crate::kernels::element::Element;
use crate::kernels::row_access::VectorRows;

/// What kind of container the data came in, so the answer goes back in the same.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Origin {
    Numpy,
    List,
    Tuple,
}

/// The numbers themselves.
pub enum Numbers<'py> {
    /// A numpy array of float32 in native byte order, read in place.
    F32(Bound<'py, PyArrayDyn<f32>>),
    /// A numpy array of float64 in native byte order, read in place.
    F64(Bound<'py, PyArrayDyn<f64>>),
    /// Read from a list or tuple.
    Read(ArrayD<f64>),
}

/// Numbers from Python with their shape and where they came from.
pub struct Data<'py> {
    pub origin: Origin,
    pub numbers: Numbers<'py>,
    /// Which entries of a 1-D list are numbers rather than `None` (only when
    /// `None` is allowed and present).
    pub valid: Option<Vec<bool>>,
}

/// A float the data face computes in: read from numpy in place, or converted.
pub trait PlainFloat: Element + numpy::Element {
    fn view_of<'a>(numbers: &'a Numbers<'_>) -> CowArray<'a, Self, IxDyn>;
    /// The numbers as one slice when they already are `Self` and contiguous
    /// in row-major order (no view is built).
    fn slice_of<'a>(numbers: &'a Numbers<'_>) -> Option<&'a [Self]>;
}

impl PlainFloat for f32 {
    fn view_of<'a>(numbers: &'a Numbers<'_>) -> CowArray<'a, f32, IxDyn> {
        match numbers {
            Numbers::F32(a) => CowArray::from(in_place(a)),
            Numbers::F64(a) => CowArray::from(in_place(a).mapv(|v| v as f32)),
            Numbers::Read(a) => CowArray::from(a.mapv(|v| v as f32)),
        }
    }
    fn slice_of<'a>(numbers: &'a Numbers<'_>) -> Option<&'a [f32]> {
        match numbers {
            Numbers::F32(a) => in_place_slice(a),
            _ => None,
        }
    }
}

impl PlainFloat for f64 {
    fn view_of<'a>(numbers: &'a Numbers<'_>) -> CowArray<'a, f64, IxDyn> {
        match numbers {
            Numbers::F32(a) => CowArray::from(in_place(a).mapv(f64::from)),
            Numbers::F64(a) => CowArray::from(in_place(a)),
            Numbers::Read(a) => CowArray::from(a.view()),
        }
    }
    fn slice_of<'a>(numbers: &'a Numbers<'_>) -> Option<&'a [f64]> {
        match numbers {
            Numbers::F64(a) => in_place_slice(a),
            Numbers::Read(a) => a.as_slice(),
            Numbers::F32(_) => None,
        }
    }
}

// Reading a numpy array in place. `array` holds a reference to it, so its
// buffer stays allocated (numpy refuses to resize an array that others
// reference) for as long as these views borrow `array`. The data face only
// reads arrays it did not create. It does not take rust-numpy's borrow flags
// (`readonly()`): they only guard against another Rust extension holding a
// writable view of the same memory (not against Python code writing to it,
// as numpy's own functions that release the GIL do not either), and taking
// and dropping them allocates a hash map per array, which costs as much as
// a short kernel.

fn in_place<'a, T: numpy::Element>(array: &'a Bound<'_, PyArrayDyn<T>>) -> ArrayViewD<'a, T> {
    // SAFETY: see above: the buffer outlives the view, and nothing in this
    // extension writes to it.
    unsafe { array.as_array() }
}

fn in_place_slice<'a, T: numpy::Element>(array: &'a Bound<'_, PyArrayDyn<T>>) -> Option<&'a [T]> {
    if !array.is_c_contiguous() {
        return None;
    }
    // SAFETY: as for `in_place`; `as_slice` checks that the array is
    // aligned and contiguous (and C-contiguous was checked above, so the
    // slice is in row-major order).
    unsafe { array.as_slice() }.ok()
}

impl<'py> Data<'py> {
    /// Reads `obj` (a numpy array, list or tuple). `what` names the argument
    /// in errors; `allow_none` lets a 1-D list hold `None` (a missing value).
    pub fn read(
        obj: &Bound<'py, PyAny>,
        function: &str,
        what: &str,
        allow_none: bool,
    ) -> PyResult<Data<'py>> {
        if let Ok(array) = obj.cast::<PyUntypedArray>() {
            return read_numpy(array, function, what);
        }
        if let Some(data) = read_sequence(obj, function, what, allow_none)? {
            return Ok(data);
        }
        Err(PyTypeError::new_err(format!(
            "{function}: {what} must be a list, tuple or numpy array of numbers (a vector, or \
             one vector per row), got {}",
            type_name(obj)
        )))
    }

    /// The float type the data is computed in: float32 stays float32.
    pub fn kind(&self) -> FloatKind {
        match self.numbers {
            Numbers::F32(_) => FloatKind::F32,
            _ => FloatKind::F64,
        }
    }

    pub fn shape(&self) -> &[usize] {
        match &self.numbers {
            Numbers::F32(a) => a.shape(),
            Numbers::F64(a) => a.shape(),
            Numbers::Read(a) => a.shape(),
        }
    }

    /// The numbers as `T`: borrowed in place when the type already matches.
    pub fn view<T: PlainFloat>(&self) -> CowArray<'_, T, IxDyn> {
        T::view_of(&self.numbers)
    }

    /// All the numbers as one row-major slice of `T`, when they are
    /// already `T` and contiguous.
    pub fn slice<T: PlainFloat>(&self) -> Option<&[T]> {
        T::slice_of(&self.numbers)
    }
}

/// Whether `obj` is data [`Data::read`] reads itself: a numpy array, a list
/// or a tuple (or an instance of a subclass of one).
pub fn is_plain(obj: &Bound<'_, PyAny>) -> bool {
    let ptr = obj.as_ptr();
    // SAFETY: `ptr` is a live object (we hold a reference and the GIL).
    let sequence = unsafe { ffi::PyList_Check(ptr) != 0 || ffi::PyTuple_Check(ptr) != 0 };
    sequence || obj.is_instance_of::<PyUntypedArray>()
}

fn read_numpy<'py>(
    array: &Bound<'py, PyUntypedArray>,
    function: &str,
    what: &str,
) -> PyResult<Data<'py>> {
    let dtype = array.dtype();
    let target = match (dtype.kind(), dtype.itemsize()) {
        (b'f', 2) => "float32",
        (b'f' | b'i' | b'u' | b'b', _) => "float64",
        _ => {
            return Err(PyTypeError::new_err(format!(
                "{function}: {what} must hold numbers, got a numpy array of dtype {}",
                dtype.str()?
            )))
        }
    };
    // float32/float64 in native byte order are read in place; anything else
    // is converted once. So is a view the kernels cannot read in place:
    // unaligned data, or strides that are not whole elements (a field of a
    // structured array).
    let item = isize::try_from(dtype.itemsize())
        .unwrap_or(isize::MAX)
        .max(1);
    if !array.is_aligned() || array.strides().iter().any(|s| s % item != 0) {
        let target = if dtype.kind() == b'f' && dtype.itemsize() == 4 {
            "float32"
        } else {
            target
        };
        let copied = array
            .py()
            .import("numpy")?
            .call_method1("array", (array, target))?;
        return read_numpy(copied.cast::<PyUntypedArray>()?, function, what);
    }
    // Only the cast the dtype can pass is tried: a failed cast asks numpy
    // whether the dtypes are equivalent, which costs more than the read.
    match (dtype.kind(), dtype.itemsize()) {
        (b'f', 4) => {
            if let Ok(a) = array.cast::<PyArrayDyn<f32>>() {
                return Ok(numpy_data(Numbers::F32(a.clone())));
            }
        }
        (b'f', 8) => {
            if let Ok(a) = array.cast::<PyArrayDyn<f64>>() {
                return Ok(numpy_data(Numbers::F64(a.clone())));
            }
        }
        _ => {}
    }
    let converted = array.call_method1("astype", (target,))?;
    if let Ok(a) = converted.cast::<PyArrayDyn<f32>>() {
        return Ok(numpy_data(Numbers::F32(a.clone())));
    }
    let a = converted.cast_into::<PyArrayDyn<f64>>()?;
    Ok(numpy_data(Numbers::F64(a)))
}

fn numpy_data(numbers: Numbers<'_>) -> Data<'_> {
    Data {
        origin: Origin::Numpy,
        numbers,
        valid: None,
    }
}

fn type_name(obj: &Bound<'_, PyAny>) -> String {
    obj.get_type()
        .name()
        .map_or_else(|_| "object".to_string(), |n| n.to_string())
}

/// A list or tuple: borrowed items without reference-count traffic.
struct Sequence<'a, 'py> {
    obj: &'a Bound<'py, PyAny>,
    is_list: bool,
    len: usize,
}

impl<'a, 'py> Sequence<'a, 'py> {
    fn of(obj: &'a Bound<'py, PyAny>) -> Option<Self> {
        let ptr = obj.as_ptr();
        // SAFETY: `ptr` is a live object (we hold a reference and the GIL).
        let (is_list, is_tuple) =
            unsafe { (ffi::PyList_Check(ptr) != 0, ffi::PyTuple_Check(ptr) != 0) };
        if !is_list && !is_tuple {
            return None;
        }
        let len = obj.len().ok()?;
        Some(Sequence { obj, is_list, len })
    }

    /// Item `i` as a borrowed pointer, or null past the end.
    fn item_ptr(&self, i: usize) -> *mut ffi::PyObject {
        let Ok(i) = isize::try_from(i) else {
            return std::ptr::null_mut();
        };
        // SAFETY: the container is live; a bad index gives null and an IndexError.
        unsafe {
            if self.is_list {
                ffi::PyList_GetItem(self.obj.as_ptr(), i)
            } else {
                ffi::PyTuple_GetItem(self.obj.as_ptr(), i)
            }
        }
    }

    /// Appends the values of the plain numbers (exact floats and ints) from
    /// item `start` on, stopping at the first other item; returns how many
    /// were read. The fast path of every list read: items are fetched a
    /// batch at a time and their objects prefetched, so the reads of the
    /// scattered number objects overlap instead of waiting on memory one by one.
    fn read_plain_numbers(&self, start: usize, out: &mut Vec<f64>) -> usize {
        const BATCH: usize = 64;
        let mut items = [std::ptr::null_mut::<ffi::PyObject>(); BATCH];
        let mut read = 0;
        while start + read < self.len {
            let batch = BATCH.min(self.len - start - read);
            for (j, slot) in items[..batch].iter_mut().enumerate() {
                *slot = self.item_ptr(start + read + j);
                prefetch(*slot);
            }
            for &item in &items[..batch] {
                match plain_number(item) {
                    Some(value) => out.push(value),
                    None => return read,
                }
                read += 1;
            }
        }
        read
    }

    /// Item `i` as an owned reference (kept alive while Python code runs).
    fn item(&self, i: usize) -> PyResult<Bound<'py, PyAny>> {
        let ptr = self.item_ptr(i);
        if ptr.is_null() {
            return Err(PyErr::take(self.obj.py()).unwrap_or_else(|| {
                PyValueError::new_err("the sequence changed while it was read")
            }));
        }
        // SAFETY: a non-null borrowed reference from the container.
        Ok(unsafe { Bound::from_borrowed_ptr(self.obj.py(), ptr) })
    }
}

/// The value of an exact float or an int that fits a float; `None` for
/// anything else (or null), which the slow path reads or refuses. Runs no
/// Python code.
#[inline(always)]
fn plain_number(ptr: *mut ffi::PyObject) -> Option<f64> {
    if ptr.is_null() {
        return None;
    }
    // SAFETY: a live borrowed reference. Exact floats convert and cannot
    // fail; an exact int too large for a float sets an OverflowError, which
    // is cleared here so the slow path can report it with its position.
    unsafe {
        if ffi::PyFloat_CheckExact(ptr) != 0 {
            return Some(ffi::PyFloat_AsDouble(ptr));
        }
        if ffi::PyLong_CheckExact(ptr) != 0 {
            let value = ffi::PyLong_AsDouble(ptr);
            if value != -1.0 || ffi::PyErr_Occurred().is_null() {
                return Some(value);
            }
            ffi::PyErr_Clear();
        }
    }
    None
}

/// Asks the CPU to start loading the object at `ptr` (a hint; never faults).
#[inline(always)]
fn prefetch(ptr: *mut ffi::PyObject) {
    #[cfg(target_arch = "x86_64")]
    // SAFETY: a prefetch is only a hint; it never faults, even on null.
    unsafe {
        std::arch::x86_64::_mm_prefetch::<{ std::arch::x86_64::_MM_HINT_T0 }>(ptr as *const i8)
    };
    #[cfg(not(target_arch = "x86_64"))]
    let _ = ptr;
}

/// Where a bad value sits, for messages.
#[derive(Clone, Copy)]
enum Position {
    Flat(usize),
    Cell(usize, usize),
}

impl std::fmt::Display for Position {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Position::Flat(i) => write!(f, "position {i}"),
            Position::Cell(r, j) => write!(f, "row {r}, position {j}"),
        }
    }
}

/// Reads one item that is not a plain number (see `plain_number`):
/// `Ok(None)` for an allowed `None`, an error for what is not a number.
fn number(
    seq: &Sequence<'_, '_>,
    i: usize,
    at: Position,
    function: &str,
    what: &str,
    allow_none: bool,
) -> PyResult<Option<f64>> {
    // Only reached where `read_plain_numbers` stopped: not a plain number.
    let item = seq.item(i)?;
    number_slow(&item, at, function, what, allow_none)
}

/// Everything but an exact float or int: float and int subclasses and
/// numpy scalars are numbers; `bool`, `None`, strings and containers are not.
fn number_slow(
    item: &Bound<'_, PyAny>,
    at: Position,
    function: &str,
    what: &str,
    allow_none: bool,
) -> PyResult<Option<f64>> {
    if item.is_none() && allow_none {
        return Ok(None);
    }
    let name = type_name(item);
    let not_a_number = || {
        PyTypeError::new_err(format!(
            "{function}: {what} must hold numbers, but {at} holds {name}"
        ))
    };
    let ptr = item.as_ptr();
    // SAFETY: `ptr` is a live object.
    let (is_bool, is_container) = unsafe {
        (
            ffi::PyBool_Check(ptr) != 0,
            ffi::PyList_Check(ptr) != 0 || ffi::PyTuple_Check(ptr) != 0,
        )
    };
    // numpy's bool and complex scalars convert to float, but are not numbers here.
    let refused_by_name = name == "bool" || name.starts_with("complex");
    if is_bool || is_container || item.is_none() || refused_by_name {
        return Err(not_a_number());
    }
    if item.is_instance_of::<pyo3::types::PyString>()
        || item.is_instance_of::<pyo3::types::PyBytes>()
    {
        return Err(not_a_number());
    }
    // SAFETY: `ptr` is a live object; a failure sets a Python error, taken below.
    let value = unsafe { ffi::PyFloat_AsDouble(ptr) };
    if value == -1.0 {
        if let Some(err) = PyErr::take(item.py()) {
            if err.is_instance_of::<pyo3::exceptions::PyOverflowError>(item.py()) {
                return Err(PyValueError::new_err(format!(
                    "{function}: {what} holds a number too large for a float at {at}"
                )));
            }
            return Err(not_a_number());
        }
    }
    Ok(Some(value))
}

/// A list or tuple of numbers (1-D) or of rows of numbers (2-D); `None`
/// when `obj` is neither a list nor a tuple.
fn read_sequence<'py>(
    obj: &Bound<'py, PyAny>,
    function: &str,
    what: &str,
    allow_none: bool,
) -> PyResult<Option<Data<'py>>> {
    let Some(seq) = Sequence::of(obj) else {
        return Ok(None);
    };
    let origin = if seq.is_list {
        Origin::List
    } else {
        Origin::Tuple
    };
    let first_row = match seq.len {
        0 => None,
        _ => Sequence::of(&seq.item(0)?).map(|row| row.len),
    };
    let (numbers, valid) = match first_row {
        None => read_flat(&seq, function, what, allow_none)?,
        Some(width) => (read_rows(&seq, width, function, what)?, None),
    };
    Ok(Some(Data {
        origin,
        numbers: Numbers::Read(numbers),
        valid,
    }))
}

fn read_flat(
    seq: &Sequence<'_, '_>,
    function: &str,
    what: &str,
    allow_none: bool,
) -> PyResult<(ArrayD<f64>, Option<Vec<bool>>)> {
    let mut values = Vec::with_capacity(seq.len);
    let mut valid: Option<Vec<bool>> = None;
    let mut i = 0;
    while i < seq.len {
        i += seq.read_plain_numbers(i, &mut values);
        if i == seq.len {
            break;
        }
        match number(seq, i, Position::Flat(i), function, what, allow_none)? {
            Some(v) => values.push(v),
            None => {
                let flags = valid.get_or_insert_with(|| vec![true; seq.len]);
                if let Some(flag) = flags.get_mut(i) {
                    *flag = false;
                }
                values.push(0.0);
            }
        }
        i += 1;
    }
    let array = ArrayD::from_shape_vec(IxDyn(&[seq.len]), values)
        .map_err(|e| PyValueError::new_err(format!("{function}: {e}")))?;
    Ok((array, valid))
}

fn read_rows(
    seq: &Sequence<'_, '_>,
    width: usize,
    function: &str,
    what: &str,
) -> PyResult<ArrayD<f64>> {
    let mut values = Vec::with_capacity(seq.len.saturating_mul(width));
    for r in 0..seq.len {
        let item = seq.item(r)?;
        let Some(row) = Sequence::of(&item) else {
            return Err(PyTypeError::new_err(format!(
                "{function}: {what} must hold rows of numbers, but row {r} is a {}",
                type_name(&item)
            )));
        };
        if row.len != width {
            return Err(PyValueError::new_err(format!(
                "{function}: {what} has rows of different lengths: row 0 has {width} values and \
                 row {r} has {}",
                row.len
            )));
        }
        let mut j = 0;
        while j < width {
            j += row.read_plain_numbers(j, &mut values);
            if j == width {
                break;
            }
            let value = number(&row, j, Position::Cell(r, j), function, what, false)?;
            values.push(value.unwrap_or(0.0));
            j += 1;
        }
    }
    ArrayD::from_shape_vec(IxDyn(&[seq.len, width]), values)
        .map_err(|e| PyValueError::new_err(format!("{function}: {e}")))
}

/// A 1-D view as one row, a 2-D view as rows; `None` for other shapes.
pub fn as_rows<'a, T>(view: &'a CowArray<'_, T, IxDyn>) -> Option<Rows<'a, T>> {
    match view.ndim() {
        1 => view
            .view()
            .insert_axis(Axis(0))
            .into_dimensionality()
            .ok()
            .map(Rows),
        2 => view.view().into_dimensionality().ok().map(Rows),
        _ => None,
    }
}

/// The rows of a 2-D array: contiguous rows are read in place, strided rows
/// (a Fortran-ordered array, a column slice) are copied one at a time.
pub struct Rows<'a, T>(pub ArrayView2<'a, T>);

impl<T: Element> VectorRows<T> for Rows<'_, T> {
    fn row_count(&self) -> usize {
        self.0.nrows()
    }
    fn row_len(&self, _i: usize) -> Option<usize> {
        Some(self.0.ncols())
    }
    fn row<'s>(&'s self, i: usize, scratch: &'s mut Vec<T>) -> Option<&'s [T]> {
        if i >= self.0.nrows() {
            return None;
        }
        let row = self.0.row(i);
        if let Some(slice) = row.to_slice() {
            return Some(slice);
        }
        scratch.clear();
        scratch.extend(row.iter().copied());
        Some(scratch.as_slice())
    }
}
