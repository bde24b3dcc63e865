//! The data face: PyO3 functions that take plain Python data (numpy arrays,
//! lists, tuples) straight to the kernels, with no Polars frame in between.
//! A sibling of the plugin wrappers: both decide the float type through
//! [`with_float!`], parse options in [`crate::options`] and run the same
//! drivers of [`crate::kernels::rowwise`], so they give the same bits. The
//! GIL is released while a kernel runs on enough numbers (see [`compute`]).
//!
//! Python checks the arguments (metrics, `k`, the shapes of constants)
//! before calling; these functions check the data. The `try_*` functions
//! are the first thing their free function calls: they compute on plain
//! data and give back `NotImplemented` for anything else (a column name, an
//! expression, a Series), which the free function's Python path handles.

mod input;
mod output;

use numpy::ndarray::{ArrayView2, Axis, CowArray, IxDyn};
use std::mem::MaybeUninit;

use numpy::{PyArray1, PyArrayMethods, PyReadonlyArray1, PyReadonlyArray2};
use pyo3::exceptions::{PyKeyError, PyValueError};
use pyo3::marker::Ungil;
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyFloat, PyTuple, PyType};

use crate::kernels::element::Element;
use crate::kernels::gaussian::GaussError;
use crate::kernels::rowwise::{self, RowError};
use crate::kernels::scaling::{Scaler, StatsError};
use crate::kernels::search::{self, Corpus, Metric, Request, SearchMetric};
use crate::kernels::segments::{Segment, Validity};
use crate::options::{self, GaussianOptions, PairOp, ScaleOptions};
use input::{as_rows, is_plain, Data, PlainFloat, Rows};

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(pairwise, m)?)?;
    m.add_function(wrap_pyfunction!(try_dot, m)?)?;
    m.add_function(wrap_pyfunction!(try_cosine_similarity, m)?)?;
    m.add_function(wrap_pyfunction!(norm, m)?)?;
    m.add_function(wrap_pyfunction!(unit_normalize, m)?)?;
    m.add_function(wrap_pyfunction!(project, m)?)?;
    m.add_function(wrap_pyfunction!(top_k_similar, m)?)?;
    m.add_function(wrap_pyfunction!(nearest, m)?)?;
    m.add_function(wrap_pyfunction!(scale, m)?)?;
    m.add_function(wrap_pyfunction!(try_scale, m)?)?;
    m.add_class::<ScalePlan>()?;
    m.add_function(wrap_pyfunction!(gaussianize, m)?)?;
    Ok(())
}

/// Work on fewer numbers than this runs with the GIL held. Releasing the
/// GIL and taking it back costs little on its own, but while another Python
/// thread waits for it each hand-over wakes a sleeping thread, which costs
/// more than a short kernel. On a 2-core VM, two Python threads taking dot
/// products of 16K-element vectors (3-4 µs a call) together made 0.84x the
/// calls of one thread with the GIL released around the kernel, and 0.92x
/// with it held. From about this size (two 32K-element vectors, 8-9 µs a
/// call: 1.65x released) the hand-overs no longer matter and Python threads
/// compute in parallel.
const DETACH_MIN_ELEMENTS: usize = 1 << 16;

/// `work` over `elements` numbers, with the GIL released when there are
/// enough of them (see [`DETACH_MIN_ELEMENTS`]).
fn compute<T, F>(py: Python<'_>, elements: usize, work: F) -> T
where
    F: Ungil + FnOnce() -> T,
    T: Ungil,
{
    if elements < DETACH_MIN_ELEMENTS {
        work()
    } else {
        py.detach(work)
    }
}

fn value_error(message: String) -> PyErr {
    PyValueError::new_err(message)
}

/// A failure on the data (infinity in a scaled column) is Polars'
/// `ComputeError`, as the expression face raises it.
fn compute_error(py: Python<'_>, message: String) -> PyErr {
    let class = py
        .import("polars.exceptions")
        .and_then(|m| m.getattr("ComputeError"))
        .and_then(|c| c.cast_into::<PyType>().map_err(PyErr::from));
    match class {
        Ok(class) => PyErr::from_type(class, message),
        Err(_) => PyValueError::new_err(message),
    }
}

/// Vectors: a 1-D array is one vector, a 2-D array one vector per row.
struct VectorShape {
    rows: usize,
    width: usize,
    one_vector: bool,
}

fn vector_shape(data: &Data<'_>, function: &str, what: &str) -> PyResult<VectorShape> {
    match data.shape() {
        [width] => Ok(VectorShape {
            rows: 1,
            width: *width,
            one_vector: true,
        }),
        [rows, width] => Ok(VectorShape {
            rows: *rows,
            width: *width,
            one_vector: false,
        }),
        shape => Err(value_error(format!(
            "{function}: {what} must be one vector (1-D) or one vector per row (2-D), got {}-D",
            shape.len()
        ))),
    }
}

/// Vectors from Python (`what` names the argument in errors) with their shape.
fn read_vectors<'py>(
    obj: &Bound<'py, PyAny>,
    function: &str,
    what: &str,
) -> PyResult<(Data<'py>, VectorShape)> {
    let data = Data::read(obj, function, what, false)?;
    let shape = vector_shape(&data, function, what)?;
    Ok((data, shape))
}

fn rows_of<'a, T>(view: &'a CowArray<'_, T, IxDyn>, function: &str) -> PyResult<Rows<'a, T>> {
    as_rows(view).ok_or_else(|| value_error(format!("{function}: expected a 1-D or 2-D array")))
}

fn row_error(error: RowError, function: &str) -> PyErr {
    value_error(match error {
        RowError::RowCounts { left, right } => {
            format!("{function}: {left} vector(s) on one side and {right} on the other")
        }
        RowError::Pair { left, right, .. } => {
            format!("{function}: vectors have different lengths: {left} and {right}")
        }
        RowError::Width {
            row,
            found,
            expected,
        } => format!("{function}: row {row} has a vector of length {found}, expected {expected}"),
    })
}

/// `op` row by row between `x` and `other`. A 1-D `other` against a 2-D `x`
/// is a constant broadcast to every row and follows `x`'s float type;
/// otherwise float32 only when both sides are float32.
#[pyfunction]
fn pairwise<'py>(
    py: Python<'py>,
    function: &str,
    op: &str,
    x: &Bound<'py, PyAny>,
    other: &Bound<'py, PyAny>,
) -> PyResult<Bound<'py, PyAny>> {
    let op = PairOp::parse(op, function).map_err(value_error)?;
    pairwise_of(py, op, function, x, other)
}

/// `pmk.dot` on plain data, or `NotImplemented` (see the module notes).
#[pyfunction]
fn try_dot<'py>(
    py: Python<'py>,
    x: &Bound<'py, PyAny>,
    other: &Bound<'py, PyAny>,
) -> PyResult<Bound<'py, PyAny>> {
    if !(is_plain(x) && is_plain(other)) {
        return Ok(py.NotImplemented().into_bound(py));
    }
    pairwise_of(py, PairOp::Dot, "dot", x, other)
}

/// `pmk.cosine_similarity` on plain data, or `NotImplemented` (see the
/// module notes).
#[pyfunction]
fn try_cosine_similarity<'py>(
    py: Python<'py>,
    x: &Bound<'py, PyAny>,
    other: &Bound<'py, PyAny>,
) -> PyResult<Bound<'py, PyAny>> {
    if !(is_plain(x) && is_plain(other)) {
        return Ok(py.NotImplemented().into_bound(py));
    }
    pairwise_of(py, PairOp::Cosine, "cosine_similarity", x, other)
}

fn pairwise_of<'py>(
    py: Python<'py>,
    op: PairOp,
    function: &str,
    x: &Bound<'py, PyAny>,
    other: &Bound<'py, PyAny>,
) -> PyResult<Bound<'py, PyAny>> {
    let (x, xs) = read_vectors(x, function, "x")?;
    let (other, os) = read_vectors(other, function, "other")?;
    if xs.width != os.width {
        return Err(value_error(format!(
            "{function}: vectors have different lengths: {} and {}",
            xs.width, os.width
        )));
    }
    if !os.one_vector && xs.rows != os.rows {
        return Err(value_error(format!(
            "{function}: {} vector(s) on one side and {} on the other",
            xs.rows, os.rows
        )));
    }
    let kind = if os.one_vector && !xs.one_vector {
        x.kind()
    } else {
        x.kind().common(other.kind())
    };
    let elements = (xs.rows.saturating_add(os.rows)).saturating_mul(xs.width);
    with_float!(kind, T => {
        let kernel = op.kernel::<T>();
        let one_pair = xs.one_vector && os.one_vector;
        if let (true, Some(a), Some(b)) = (one_pair, x.slice::<T>(), other.slice::<T>()) {
            // One pair of vectors read in place: the kernel itself, its
            // value rounded to `T` as `pair_values` rounds every row's.
            let value = compute(py, elements, || T::from_f64(kernel(a, b)));
            return Ok(PyFloat::new(py, value.to_f64()).into_any());
        }
        let (xv, ov) = (x.view::<T>(), other.view::<T>());
        let (a, b) = (rows_of(&xv, function)?, rows_of(&ov, function)?);
        let results = compute(py, elements, || rowwise::pair_values(&a, &b, kernel))
            .map_err(|e| row_error(e, function))?;
        output::per_row(py, x.origin, xs.one_vector, results)
    })
}

#[pyfunction]
fn norm<'py>(
    py: Python<'py>,
    function: &str,
    ord: &str,
    x: &Bound<'py, PyAny>,
) -> PyResult<Bound<'py, PyAny>> {
    let (x, shape) = read_vectors(x, function, "x")?;
    with_float!(x.kind(), T => {
        let kernel = options::norm_kernel::<T>(ord, function).map_err(value_error)?;
        let view = x.view::<T>();
        let rows = rows_of(&view, function)?;
        let elements = shape.rows.saturating_mul(shape.width);
        let results = compute(py, elements, || rowwise::row_values(&rows, kernel));
        output::per_row(py, x.origin, shape.one_vector, results)
    })
}

#[pyfunction]
fn unit_normalize<'py>(
    py: Python<'py>,
    function: &str,
    norm: &str,
    x: &Bound<'py, PyAny>,
) -> PyResult<Bound<'py, PyAny>> {
    let norm = options::unit_norm(norm, function).map_err(value_error)?;
    let (x, shape) = read_vectors(x, function, "x")?;
    with_float!(x.kind(), T => {
        let view = x.view::<T>();
        let rows = rows_of(&view, function)?;
        let elements = shape.rows.saturating_mul(shape.width);
        let values: Vec<T> =
            compute(py, elements, || rowwise::unit_normalize_rows(&rows, shape.width, norm));
        if shape.one_vector {
            output::vector(py, x.origin, values, None)
        } else {
            output::matrix(py, x.origin, values, shape.rows, shape.width)
        }
    })
}

/// `x @ matrix + bias`; `matrix` (`d × k`) and `bias` (`k`) arrive checked
/// and as float64 from Python.
#[pyfunction]
#[pyo3(signature = (function, x, matrix, bias=None))]
fn project<'py>(
    py: Python<'py>,
    function: &str,
    x: &Bound<'py, PyAny>,
    matrix: PyReadonlyArray2<'py, f64>,
    bias: Option<PyReadonlyArray1<'py, f64>>,
) -> PyResult<Bound<'py, PyAny>> {
    let (x, shape) = read_vectors(x, function, "x")?;
    let m = matrix.as_array();
    let (d, k) = (m.nrows(), m.ncols());
    if shape.width != d {
        return Err(value_error(format!(
            "{function}: vectors have length {} but the matrix has {d} rows",
            shape.width
        )));
    }
    let m = m.as_standard_layout();
    let m = m.as_slice().unwrap_or(&[]);
    let bias = bias.as_ref().map(|b| b.as_array().to_vec());
    if bias.as_ref().is_some_and(|b| b.len() != k) {
        return Err(value_error(format!(
            "{function}: bias must have one value per matrix column ({k})"
        )));
    }
    with_float!(x.kind(), T => {
        let view = x.view::<T>();
        let rows = rows_of(&view, function)?;
        let work = shape.rows.saturating_mul(d).saturating_mul(k);
        let (values, _) = compute(py, work, || {
            rowwise::project_rows::<T, _>(&rows, m, d, k, bias.as_deref())
        })
        .map_err(|e| row_error(e, function))?;
        if shape.one_vector {
            output::vector(py, x.origin, values, None)
        } else {
            output::matrix(py, x.origin, values, shape.rows, k)
        }
    })
}

/// The corpus of a search (one vector of length `width` per row) and the
/// parsed metric and `k`.
fn search_input<'py>(
    function: &str,
    x: &Bound<'py, PyAny>,
    width: usize,
    k: i64,
    metric: &str,
) -> PyResult<(Data<'py>, Metric, usize)> {
    let metric = options::metric(metric, function).map_err(value_error)?;
    let k = options::positive_k(k, function).map_err(value_error)?;
    let (x, shape) = read_vectors(x, function, "x")?;
    if shape.one_vector || shape.width != width {
        return Err(value_error(format!(
            "{function}: expected one vector per row (2-D) of length {width}, got shape {:?}",
            x.shape()
        )));
    }
    if shape.rows > u32::MAX as usize {
        return Err(value_error(format!("{function}: more than 2^32 rows")));
    }
    Ok((x, metric, k))
}

/// Positions of the `k` rows of `x` nearest to `query` (float64, checked in
/// Python). Float32 rows take `nearest`'s search with one query (the same
/// ranking as a scan, on several threads); Float64 rows are ranked by the
/// exact row-by-row scores, as the expression does.
#[pyfunction]
fn top_k_similar<'py>(
    py: Python<'py>,
    function: &str,
    x: &Bound<'py, PyAny>,
    query: PyReadonlyArray1<'py, f64>,
    k: i64,
    metric: &str,
) -> PyResult<Bound<'py, PyAny>> {
    let query = query.as_array().to_vec();
    let d = query.len();
    let (x, metric, k) = search_input(function, x, d, k, metric)?;
    let metric = SearchMetric::Float(metric);
    let positions = with_float!(x.kind(), T => {
        with_row_slices(&x.view::<T>(), d, |rows| {
            py.detach(|| search::top_k(Corpus::from(rows), &query, k, metric))
        })
        .map_err(|e| value_error(e.message(function, "query")))?
    });
    Ok(match x.origin {
        input::Origin::Numpy => PyArray1::from_vec(py, positions).into_any(),
        _ => positions.into_pyobject(py)?.into_any(),
    })
}

/// `search` over the rows of `view` (`d` numbers each) as slices, which the
/// blocked searches read: a C-ordered copy only when the array is not
/// C-ordered already.
fn with_row_slices<T: Clone, R>(
    view: &CowArray<'_, T, IxDyn>,
    d: usize,
    search: impl FnOnce(&[Option<&[T]>]) -> R,
) -> R {
    let rows_in_x = view.shape().first().copied().unwrap_or(0);
    let corpus = view.as_standard_layout();
    let flat = corpus.as_slice().unwrap_or(&[]);
    let rows: Vec<Option<&[T]>> = if d == 0 {
        vec![Some(&[][..]); rows_in_x]
    } else {
        flat.chunks_exact(d).map(Some).collect()
    };
    search(&rows)
}

/// The `k` nearest rows of a 2-D array `x` for every row of `queries`
/// (float64, checked in Python), as the columns of `nearest`'s frame.
#[pyfunction]
fn nearest<'py>(
    py: Python<'py>,
    function: &str,
    x: &Bound<'py, PyAny>,
    queries: PyReadonlyArray2<'py, f64>,
    k: i64,
    metric: &str,
) -> PyResult<Bound<'py, PyTuple>> {
    let q = queries.as_array();
    let (m, d) = (q.nrows(), q.ncols());
    let (x, metric, k) = search_input(function, x, d, k, metric)?;
    let q = q.as_standard_layout();
    let q = q.as_slice().unwrap_or(&[]);
    let request = Request {
        queries: q,
        m,
        d,
        k,
        metric: SearchMetric::Float(metric),
    };
    let found = with_float!(x.kind(), T => {
        with_row_slices(&x.view::<T>(), d, |rows| {
            py.detach(|| search::search(Corpus::from(rows), &request))
        })
        .map_err(|e| value_error(e.message(function, "queries")))?
    });
    let (query, rank, index, score) = search::flatten_found(&found);
    PyTuple::new(
        py,
        [
            PyArray1::from_vec(py, query).into_any(),
            PyArray1::from_vec(py, rank).into_any(),
            PyArray1::from_vec(py, index).into_any(),
            PyArray1::from_vec(py, score).into_any(),
        ],
    )
}

/// The scaler options from the dict Python also pickles for the plugin.
pub(crate) fn scale_options(options: &Bound<'_, PyDict>) -> PyResult<ScaleOptions> {
    let get = |key: &str| {
        options
            .get_item(key)?
            .ok_or_else(|| PyKeyError::new_err(format!("scale option {key:?} is missing")))
    };
    let pair = |key: &str| -> PyResult<(f64, f64)> {
        let values: Vec<f64> = get(key)?.extract()?;
        match values.as_slice() {
            [low, high] => Ok((*low, *high)),
            _ => Err(value_error(format!("{key} must be a pair of numbers"))),
        }
    };
    Ok(ScaleOptions {
        function: get("function")?.extract()?,
        method: get("method")?.extract()?,
        feature_range: pair("feature_range")?,
        clip: get("clip")?.extract()?,
        with_mean: get("with_mean")?.extract()?,
        with_std: get("with_std")?.extract()?,
        ddof: get("ddof")?.extract()?,
        with_centering: get("with_centering")?.extract()?,
        with_scaling: get("with_scaling")?.extract()?,
        quantile_range: pair("quantile_range")?,
        unit_variance: get("unit_variance")?.extract()?,
    })
}

/// Scaling options parsed once. A free function keeps the plan of the
/// options it is most often called with (`normalize()`'s defaults), so such
/// a call parses nothing.
#[pyclass(frozen, module = "polars_mlkit._internal")]
pub struct ScalePlan {
    /// The name the user called, for errors.
    function: String,
    scaler: Scaler,
}

#[pymethods]
impl ScalePlan {
    /// The plan of the options dict Python also pickles for the plugin.
    #[new]
    fn new(options: &Bound<'_, PyDict>) -> PyResult<Self> {
        let options = scale_options(options)?;
        let scaler = options.scaler().map_err(value_error)?;
        Ok(ScalePlan {
            function: options.function,
            scaler,
        })
    }
}

/// Scales a 1-D column, or each column of a 2-D array (rows are samples).
/// A 1-D list may hold `None`: skipped by the statistics, `None` out.
#[pyfunction]
fn scale<'py>(
    py: Python<'py>,
    x: &Bound<'py, PyAny>,
    options: &Bound<'py, PyDict>,
) -> PyResult<Bound<'py, PyAny>> {
    scale_with(py, x, &ScalePlan::new(options)?)
}

/// [`scale`] with the options of `plan` on plain data, or `NotImplemented`
/// (see the module notes).
#[pyfunction]
fn try_scale<'py>(
    py: Python<'py>,
    x: &Bound<'py, PyAny>,
    plan: &Bound<'py, ScalePlan>,
) -> PyResult<Bound<'py, PyAny>> {
    if !is_plain(x) {
        return Ok(py.NotImplemented().into_bound(py));
    }
    scale_with(py, x, plan.get())
}

fn scale_with<'py>(
    py: Python<'py>,
    x: &Bound<'py, PyAny>,
    plan: &ScalePlan,
) -> PyResult<Bound<'py, PyAny>> {
    let function = plan.function.as_str();
    let scaler = &plan.scaler;
    let x = Data::read(x, function, "x", true)?;
    let shape = x.shape();
    with_float!(x.kind(), T => {
        let view = x.view::<T>();
        let valid = x.valid.as_deref();
        if x.origin == input::Origin::Numpy && view.ndim() == 1 {
            return scale_numpy_column(py, &view, scaler, function);
        }
        let columns = columns_of(&view, function)?;
        let (rows, cols) = columns.dim();
        let scale = |values: &[T], validity: Option<Validity<'_>>| {
            let transform = scaler.learn(&[Segment::new(values, validity)])?;
            Ok::<_, StatsError>(transform.apply_slice(values))
        };
        let values = compute(py, rows * cols, || map_columns(&columns, valid, scale)).map_err(
            |(error, column)| {
                let axis = (cols > 1 || shape.len() == 2).then_some(("column", column));
                compute_error(py, error.message(function, axis))
            },
        )?;
        if shape.len() == 1 {
            output::vector(py, x.origin, values, valid)
        } else {
            output::matrix(py, x.origin, values, rows, cols)
        }
    })
}

/// A 1-D numpy array scaled into an array numpy allocates: numpy asks the
/// kernel for huge pages on large arrays, so the result is written without
/// a page fault per 4 KiB (which costs as much as the scaling itself).
fn scale_numpy_column<'py, T: PlainFloat>(
    py: Python<'py>,
    view: &CowArray<'_, T, IxDyn>,
    scaler: &Scaler,
    function: &str,
) -> PyResult<Bound<'py, PyAny>> {
    let gathered: Vec<T>;
    let values: &[T] = match view.as_slice() {
        Some(slice) => slice,
        None => {
            gathered = view.iter().copied().collect();
            &gathered
        }
    };
    let transform = compute(py, values.len(), || {
        scaler.learn(&[Segment::new(values, None)])
    })
    .map_err(|error| compute_error(py, error.message(function, None)))?;
    // SAFETY: a new, uninitialised 1-D array of `values.len()` elements,
    // owned here until returned; every element is written below before
    // Python can see it.
    let out = unsafe { PyArray1::<T>::new(py, [values.len()], false) };
    if !values.is_empty() {
        // SAFETY: the array's own buffer, `values.len()` elements of `T`,
        // not shared with anything while it is filled.
        let slots = unsafe {
            std::slice::from_raw_parts_mut(out.data() as *mut MaybeUninit<T>, values.len())
        };
        compute(py, values.len(), || transform.apply_to(values, slots));
    }
    Ok(out.into_any())
}

/// Each column of a `rows × cols` array transformed on its own by
/// `transform` (its values and validity), as the plugins transform a
/// column: the `rows × cols` row-major result, or the error and the column
/// it came from. Scaling and the gaussianizing transforms share it.
fn map_columns<T: PlainFloat, E>(
    columns: &ArrayView2<'_, T>,
    valid: Option<&[bool]>,
    transform: impl Fn(&[T], Option<Validity<'_>>) -> Result<Vec<T>, E>,
) -> Result<Vec<T>, (E, usize)> {
    let (rows, cols) = columns.dim();
    let bits: Option<Vec<u8>> = valid.map(|flags| {
        let mut bytes = vec![0u8; flags.len().div_ceil(8)];
        for (i, _) in flags.iter().enumerate().filter(|(_, &v)| v) {
            bytes[i / 8] |= 1 << (i % 8);
        }
        bytes
    });
    let validity = bits.as_deref().map(|bytes| Validity { bytes, offset: 0 });
    let mut out = vec![T::default(); rows * cols];
    let mut gathered: Vec<T> = Vec::new();
    for j in 0..cols {
        let column = columns.column(j);
        let values: &[T] = match column.to_slice() {
            Some(slice) => slice,
            None => {
                gathered.clear();
                gathered.extend(column.iter().copied());
                &gathered
            }
        };
        let transformed = transform(values, validity).map_err(|e| (e, j))?;
        if cols == 1 {
            return Ok(transformed);
        }
        for (i, v) in transformed.into_iter().enumerate() {
            out[i * cols + j] = v;
        }
    }
    Ok(out)
}

/// A 1-D column or 2-D array of data (rows are samples) as a 2-D view of
/// columns; more dimensions are an error.
fn columns_of<'v, T: PlainFloat>(
    view: &'v CowArray<'_, T, IxDyn>,
    function: &str,
) -> PyResult<ArrayView2<'v, T>> {
    let columns = match view.ndim() {
        1 => view.view().insert_axis(Axis(1)),
        2 => view.view(),
        n => {
            return Err(value_error(format!(
                "{function}: expected a 1-D or 2-D array, got {n} dimensions"
            )))
        }
    };
    columns
        .into_dimensionality()
        .map_err(|e| value_error(format!("{function}: {e}")))
}

/// The gaussianizing options from the dict Python also pickles for the plugin.
fn gaussian_options(options: &Bound<'_, PyDict>) -> PyResult<GaussianOptions> {
    let get = |key: &str| {
        options
            .get_item(key)?
            .ok_or_else(|| PyKeyError::new_err(format!("option {key:?} is missing")))
    };
    Ok(GaussianOptions {
        function: get("function")?.extract()?,
        transform: get("transform")?.extract()?,
        n_quantiles: get("n_quantiles")?.extract()?,
        output_distribution: get("output_distribution")?.extract()?,
        method: get("method")?.extract()?,
        standardize: get("standardize")?.extract()?,
    })
}

/// Gaussianizes a 1-D column, or each column of a 2-D array (rows are
/// samples), with the kernels the `gaussianize` plugin runs. A 1-D list may
/// hold `None`: skipped by the fit, `None` out.
#[pyfunction]
fn gaussianize<'py>(
    py: Python<'py>,
    x: &Bound<'py, PyAny>,
    options: &Bound<'py, PyDict>,
) -> PyResult<Bound<'py, PyAny>> {
    let options = gaussian_options(options)?;
    let function = options.function.as_str();
    let gaussianizer = options.gaussianizer().map_err(value_error)?;
    let x = Data::read(x, function, "x", true)?;
    let shape = x.shape();
    with_float!(x.kind(), T => {
        let view = x.view::<T>();
        let valid = x.valid.as_deref();
        let columns = columns_of(&view, function)?;
        let (rows, cols) = columns.dim();
        let gaussianize = |values: &[T], validity: Option<Validity<'_>>| {
            let fitted = gaussianizer.fit(&[Segment::new(values, validity)])?;
            Ok::<_, GaussError>(fitted.apply_slice(values))
        };
        let values = compute(py, rows * cols, || map_columns(&columns, valid, gaussianize))
            .map_err(|(error, column)| {
                let place = (shape.len() == 2).then(|| ("column", column.to_string()));
                compute_error(py, error.message(function, place))
            })?;
        if shape.len() == 1 {
            output::vector(py, x.origin, values, valid)
        } else {
            output::matrix(py, x.origin, values, rows, cols)
        }
    })
}
