//! The fitted scalers' side of the extension: they keep mergeable
//! statistics (from the `moments`, `robust_stats` and census aggregations,
//! or Polars' own min/max) and come here for everything the rules decide:
//! scikit-learn's parameters, the transform, the merge of partial moments,
//! and the exact order statistics of data read in passes. The
//! expressions run the same kernel functions, so both agree bit for bit.
//!
//! Statistics travel as a dict of 1-D float64 arrays, one element per
//! column part (a group, a dimension of a vector column): `count`, `min`,
//! `max`, plus `mean`, `m2`, `unit` for moments and `q_low`, `median`,
//! `q_high` for order statistics.

use numpy::{PyArray1, PyReadonlyArray1};
use pyo3::exceptions::{PyKeyError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::PyDict;

use crate::dispatch::FloatKind;
use crate::kernels::comoments::CoMoments;
use crate::kernels::passes::{
    merge_counted, Counted, OrderTarget, RankSearch, Stage, GATHER_BUDGET,
};
use crate::kernels::quantile::{SortedStats, OUT_OF_CORE_BITS};
use crate::kernels::scaling::{merge_scaled_moments, Moments, Scaler, Statistics};
use crate::plain::scale_options;

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(fitted_scaler, m)?)?;
    m.add_function(wrap_pyfunction!(merge_statistics, m)?)?;
    m.add_function(wrap_pyfunction!(merge_comoments, m)?)?;
    m.add_class::<OrderSearch>()?;
    Ok(())
}

/// The statistics arrays of a dict, all of one length.
struct Columns {
    arrays: Vec<(&'static str, Vec<f64>)>,
    len: usize,
}

impl Columns {
    fn read(dict: &Bound<'_, PyDict>, names: &[&'static str]) -> PyResult<Columns> {
        let mut arrays = Vec::with_capacity(names.len());
        for &name in names {
            let item = dict
                .get_item(name)?
                .ok_or_else(|| PyKeyError::new_err(format!("statistic {name:?} is missing")))?;
            let array: PyReadonlyArray1<'_, f64> = item.extract()?;
            arrays.push((name, array.as_array().to_vec()));
        }
        let len = arrays.first().map_or(0, |(_, a)| a.len());
        if arrays.iter().any(|(_, a)| a.len() != len) {
            return Err(PyValueError::new_err(
                "statistics arrays must all have one length",
            ));
        }
        Ok(Columns { arrays, len })
    }

    fn get(&self, name: &str, i: usize) -> f64 {
        self.arrays
            .iter()
            .find(|(n, _)| *n == name)
            .and_then(|(_, a)| a.get(i).copied())
            .unwrap_or(f64::NAN)
    }
}

/// Which statistics a scaler keeps.
fn statistic_names(scaler: &Scaler) -> &'static [&'static str] {
    match scaler {
        Scaler::MinMax(_) | Scaler::MaxAbs => &["count", "min", "max"],
        Scaler::Standard(_) => &["count", "mean", "m2", "min", "max", "unit"],
        Scaler::Robust(_) => &["count", "min", "max", "q_low", "median", "q_high"],
    }
}

fn statistics_at(scaler: &Scaler, columns: &Columns, i: usize) -> Statistics {
    let count = columns.get("count", i);
    let (min, max) = (columns.get("min", i), columns.get("max", i));
    match scaler {
        Scaler::MinMax(_) | Scaler::MaxAbs => {
            Statistics::Extent((count > 0.0 && min <= max).then_some((min, max)))
        }
        Scaler::Standard(_) => {
            let moments = if count > 0.0 {
                Moments {
                    count,
                    mean: columns.get("mean", i),
                    m2: columns.get("m2", i),
                    min,
                    max,
                }
            } else {
                Moments::EMPTY
            };
            Statistics::Moments {
                moments,
                unit: columns.get("unit", i),
            }
        }
        Scaler::Robust(_) => Statistics::Sorted(if count > 0.0 {
            SortedStats {
                count: count as usize,
                min,
                max,
                lower: columns.get("q_low", i),
                median: columns.get("median", i),
                upper: columns.get("q_high", i),
            }
        } else {
            SortedStats::EMPTY
        }),
    }
}

fn to_dict<'py>(
    py: Python<'py>,
    named: Vec<(&'static str, Vec<f64>)>,
) -> PyResult<Bound<'py, PyDict>> {
    let dict = PyDict::new(py);
    for (name, values) in named {
        dict.set_item(name, PyArray1::from_vec(py, values))?;
    }
    Ok(dict)
}

/// Appends `value` to the array named `name`, creating it in order.
fn push(named: &mut Vec<(&'static str, Vec<f64>)>, name: &'static str, value: f64) {
    match named.iter_mut().find(|(n, _)| *n == name) {
        Some((_, values)) => values.push(value),
        None => named.push((name, vec![value])),
    }
}

/// scikit-learn's parameters and the transform coefficients of a fitted
/// scaler, one element per column part: the parameters by name (`data_min`,
/// `scale`, ...) and `mul`, `sub`, `div`, `add` of
/// `(x * mul - sub) / div + add` (see `Transform::coefficients`).
/// `float32` picks the epsilon of the near-zero rules, as the column's dtype
/// does in the expressions.
#[pyfunction]
fn fitted_scaler<'py>(
    py: Python<'py>,
    options: &Bound<'py, PyDict>,
    statistics: &Bound<'py, PyDict>,
    float32: bool,
) -> PyResult<Bound<'py, PyDict>> {
    let options = scale_options(options)?;
    let scaler = options.scaler().map_err(PyValueError::new_err)?;
    let columns = Columns::read(statistics, statistic_names(&scaler))?;
    let kind = if float32 {
        FloatKind::F32
    } else {
        FloatKind::F64
    };
    let mut named: Vec<(&'static str, Vec<f64>)> = Vec::new();
    for i in 0..columns.len {
        let stats = statistics_at(&scaler, &columns, i);
        let (transform, params) =
            with_float!(kind, T => (scaler.transform::<T>(&stats), scaler.params::<T>(&stats)));
        for (name, value) in params {
            push(&mut named, name, value);
        }
        // A part with no value to learn from scales to NaN (nulls stay
        // null), as scikit-learn's NaN parameters of an all-NaN column do.
        let learned = match stats {
            Statistics::Extent(extent) => extent.is_some(),
            Statistics::Moments { moments, .. } => moments.count > 0.0,
            Statistics::Sorted(sorted) => sorted.count > 0,
        };
        let [mul, sub, div, add] = if learned {
            transform.coefficients()
        } else {
            [f64::NAN; 4]
        };
        for (name, value) in [("mul", mul), ("sub", sub), ("div", div), ("add", add)] {
            push(&mut named, name, value);
        }
    }
    to_dict(py, named)
}

/// `(count, mean, m2)` of a PCA's partial co-moments read from Python.
fn comoments_of(
    count: u64,
    mean: PyReadonlyArray1<'_, f64>,
    m2: PyReadonlyArray1<'_, f64>,
) -> PyResult<CoMoments> {
    let mean = mean.as_array().to_vec();
    let m2 = m2.as_array().to_vec();
    let width = mean.len();
    if m2.len() != width * width {
        return Err(PyValueError::new_err(format!(
            "co-moments of width {width} need {} cross products, got {}",
            width * width,
            m2.len()
        )));
    }
    Ok(CoMoments {
        width,
        count,
        mean,
        m2,
    })
}

/// Two partial co-moments (count, mean, centred cross products) merged as
/// the kernel merges its blocks (Chan et al., in f64): the statistics of
/// all the rows of both. Returns `(count, mean, m2)`.
#[pyfunction]
#[allow(clippy::too_many_arguments, clippy::type_complexity)]
fn merge_comoments<'py>(
    py: Python<'py>,
    count_a: u64,
    mean_a: PyReadonlyArray1<'py, f64>,
    m2_a: PyReadonlyArray1<'py, f64>,
    count_b: u64,
    mean_b: PyReadonlyArray1<'py, f64>,
    m2_b: PyReadonlyArray1<'py, f64>,
) -> PyResult<(u64, Bound<'py, PyArray1<f64>>, Bound<'py, PyArray1<f64>>)> {
    let mut a = comoments_of(count_a, mean_a, m2_a)?;
    let b = comoments_of(count_b, mean_b, m2_b)?;
    if !a.merge(&b) {
        return Err(PyValueError::new_err(format!(
            "co-moments of widths {} and {} do not merge",
            a.width, b.width
        )));
    }
    Ok((
        a.count,
        PyArray1::from_vec(py, a.mean),
        PyArray1::from_vec(py, a.m2),
    ))
}

/// Two partial statistics of one scaler merged exactly, part by part:
/// counts add, extents widen, moments merge as Chan et al. in a common
/// power-of-two unit. Order statistics do not merge (see `OrderSearch`).
#[pyfunction]
fn merge_statistics<'py>(
    py: Python<'py>,
    method: &str,
    a: &Bound<'py, PyDict>,
    b: &Bound<'py, PyDict>,
) -> PyResult<Bound<'py, PyDict>> {
    let standard = match method {
        "minmax" | "maxabs" => false,
        "standard" => true,
        other => {
            return Err(PyValueError::new_err(format!(
                "statistics of {other:?} scalers do not merge"
            )))
        }
    };
    let names: &[&'static str] = if standard {
        &["count", "mean", "m2", "min", "max", "unit"]
    } else {
        &["count", "min", "max"]
    };
    let (a, b) = (Columns::read(a, names)?, Columns::read(b, names)?);
    if a.len != b.len {
        return Err(PyValueError::new_err(
            "statistics to merge differ in length",
        ));
    }
    let moments = |c: &Columns, i: usize| {
        let count = c.get("count", i);
        let m = Moments {
            count,
            mean: c.get("mean", i),
            m2: c.get("m2", i),
            min: c.get("min", i),
            max: c.get("max", i),
        };
        (
            if count > 0.0 { m } else { Moments::EMPTY },
            c.get("unit", i),
        )
    };
    let mut named: Vec<(&'static str, Vec<f64>)> = Vec::new();
    for i in 0..a.len {
        if standard {
            let (m, unit) = merge_scaled_moments(moments(&a, i), moments(&b, i));
            for (name, value) in [
                ("count", m.count),
                ("mean", m.mean),
                ("m2", m.m2),
                ("min", m.min),
                ("max", m.max),
                ("unit", unit),
            ] {
                push(&mut named, name, value);
            }
        } else {
            // NaN marks a part without values: `f64::min`/`max` skip it.
            push(&mut named, "count", a.get("count", i) + b.get("count", i));
            push(&mut named, "min", a.get("min", i).min(b.get("min", i)));
            push(&mut named, "max", a.get("max", i).max(b.get("max", i)));
        }
    }
    to_dict(py, named)
}

/// The exact order statistics of one column (and group, dimension) of data
/// read in passes (`kernels::passes`): built from the merged first census
/// (the `order_census` aggregation of every batch), it says what each
/// further pass must do (`stage`, `wanted`), takes the refining censuses
/// (`add_census`, then `refine`) and gives the statistics from the gathered
/// values (`finish`).
#[pyclass(module = "polars_mlkit._internal")]
struct OrderSearch {
    /// `None`: the values at explicitly given ranks (`target="ranks"`).
    target: Option<OrderTarget>,
    n: usize,
    min: f64,
    max: f64,
    search: RankSearch,
    /// The most values a gather pass may collect.
    budget: u64,
    /// The refining census of the current pass, batch by batch, and its
    /// length when last merged.
    pending: Vec<Counted>,
    merged_len: usize,
}

fn changed(what: &str) -> PyErr {
    PyValueError::new_err(format!(
        "{what}: the data changed between the passes over it (the counts of one pass \
         disagree with the previous one); fit again on data that does not change"
    ))
}

#[pymethods]
impl OrderSearch {
    /// `target` is `"robust"` (with `quantile_range`), `"quantiles"` (with
    /// `n_quantiles`; `rows` counts the column's rows, nulls included) or
    /// `"ranks"` (the values at `ranks`, 0-based among the census's values,
    /// for rules kept by the caller such as numpy's percentile methods);
    /// `budget` bounds the values a gather pass collects.
    #[new]
    #[pyo3(signature = (
        target, rows, buckets, counts, min, max, quantile_range=None, n_quantiles=None,
        budget=GATHER_BUDGET, ranks=None
    ))]
    #[allow(clippy::too_many_arguments)]
    fn new(
        target: &str,
        rows: usize,
        buckets: PyReadonlyArray1<'_, u32>,
        counts: PyReadonlyArray1<'_, u64>,
        min: f64,
        max: f64,
        quantile_range: Option<(f64, f64)>,
        n_quantiles: Option<usize>,
        budget: u64,
        ranks: Option<Vec<usize>>,
    ) -> PyResult<Self> {
        let target = match (target, quantile_range, n_quantiles, &ranks) {
            ("robust", Some(quantile_range), _, _) => Some(OrderTarget::Robust { quantile_range }),
            ("quantiles", _, Some(n_quantiles), _) => {
                Some(OrderTarget::Quantiles { n_quantiles, rows })
            }
            ("ranks", _, _, Some(_)) => None,
            _ => {
                return Err(PyValueError::new_err(format!(
                    "OrderSearch: unknown target {target:?} or its option missing"
                )))
            }
        };
        let (buckets, counts) = (buckets.as_array(), counts.as_array());
        if buckets.len() != counts.len() {
            return Err(PyValueError::new_err(
                "census buckets and counts differ in length",
            ));
        }
        let n: u64 = counts.iter().sum();
        // The first census has no extent per bucket: NaN never marks one known.
        let census = buckets
            .iter()
            .zip(counts.iter())
            .map(|(&b, &c)| Counted {
                prefix: u64::from(b),
                count: c,
                min: f64::NAN,
                max: f64::NAN,
            })
            .collect();
        let search = match (&target, &ranks) {
            (Some(target), _) => target.search(n),
            (None, Some(ranks)) => RankSearch::new(n, ranks),
            (None, None) => RankSearch::new(n, &[]),
        };
        let search = search
            .refine(OUT_OF_CORE_BITS, census)
            .map_err(|_| changed("OrderSearch"))?;
        Ok(OrderSearch {
            target,
            n: n as usize,
            min,
            max,
            search,
            budget,
            pending: Vec::new(),
            merged_len: 0,
        })
    }

    /// What the next pass must do: `("refine", bits)`, `("gather", bits)`
    /// or `("done", bits)`, with the resolution of the wanted buckets.
    fn stage(&self) -> (&'static str, u32) {
        match self.search.stage(self.budget) {
            Stage::Refine { .. } => ("refine", self.search.bits()),
            Stage::Gather => ("gather", self.search.bits()),
            Stage::Done => ("done", self.search.bits()),
        }
    }

    /// The resolution a refining pass counts at (0 when none is due).
    fn refine_bits(&self) -> u32 {
        match self.search.stage(self.budget) {
            Stage::Refine { bits } => bits,
            _ => 0,
        }
    }

    /// The buckets the next pass looks into (ascending).
    fn wanted<'py>(&self, py: Python<'py>) -> Bound<'py, PyArray1<u64>> {
        PyArray1::from_vec(py, self.search.wanted())
    }

    /// Adds one batch's refining census (the `order_refine` aggregation).
    fn add_census(
        &mut self,
        buckets: PyReadonlyArray1<'_, u64>,
        counts: PyReadonlyArray1<'_, u64>,
        mins: PyReadonlyArray1<'_, f64>,
        maxs: PyReadonlyArray1<'_, f64>,
    ) -> PyResult<()> {
        let (b, c, lo, hi) = (
            buckets.as_array(),
            counts.as_array(),
            mins.as_array(),
            maxs.as_array(),
        );
        if c.len() != b.len() || lo.len() != b.len() || hi.len() != b.len() {
            return Err(PyValueError::new_err(
                "census buckets, counts and extents differ in length",
            ));
        }
        for i in 0..b.len() {
            self.pending.push(Counted {
                prefix: b[i],
                count: c[i],
                min: lo[i],
                max: hi[i],
            });
        }
        // Batches mostly count the same buckets: merged as they come, the
        // census stays the size of one batch's, whatever the batches.
        if self.pending.len() > 2 * self.merged_len + (1 << 16) {
            self.pending = merge_counted(std::mem::take(&mut self.pending));
            self.merged_len = self.pending.len();
        }
        Ok(())
    }

    /// Applies the refining census added since the last pass.
    fn refine(&mut self, function: &str) -> PyResult<()> {
        let Stage::Refine { bits } = self.search.stage(self.budget) else {
            return Ok(());
        };
        let census = std::mem::take(&mut self.pending);
        self.merged_len = 0;
        self.search = self
            .search
            .refine(bits, census)
            .map_err(|_| changed(function))?;
        Ok(())
    }

    /// The statistics from the values the gather pass collected (empty
    /// when none was due): RobustScaler's `count`, `min`, `max`, `q_low`,
    /// `median`, `q_high` (1-element arrays), `quantiles`, or for `"ranks"`
    /// the wanted `ranks` (ascending, those below the count) and their `values`.
    fn finish<'py>(
        &self,
        py: Python<'py>,
        values: PyReadonlyArray1<'py, f64>,
        function: &str,
    ) -> PyResult<Bound<'py, PyDict>> {
        let mut values = values.as_array().to_vec();
        let at = self
            .search
            .values(&mut values)
            .map_err(|_| changed(function))?;
        let ranked: Vec<(u64, f64)> = self.search.ranks().iter().copied().zip(at).collect();
        match self.target {
            Some(target @ OrderTarget::Robust { .. }) => {
                let stats = target.robust(self.n, self.min, self.max, &ranked);
                to_dict(py, sorted_stats_named(&stats))
            }
            Some(target @ OrderTarget::Quantiles { .. }) => {
                to_dict(py, vec![("quantiles", target.quantiles(self.n, &ranked))])
            }
            None => to_dict(
                py,
                vec![
                    ("ranks", ranked.iter().map(|&(r, _)| r as f64).collect()),
                    ("values", ranked.iter().map(|&(_, v)| v).collect()),
                ],
            ),
        }
    }
}

/// The order statistics by the names the fitted RobustScaler keeps.
pub fn sorted_stats_named(stats: &SortedStats) -> Vec<(&'static str, Vec<f64>)> {
    vec![
        ("count", vec![stats.count as f64]),
        ("min", vec![stats.min]),
        ("max", vec![stats.max]),
        ("q_low", vec![stats.lower]),
        ("median", vec![stats.median]),
        ("q_high", vec![stats.upper]),
    ]
}
