//! The search engine: `nearest`, `top_k_similar` and `knn_join`, for
//! every face (the Polars expressions, the data face, the out-of-core and
//! Ray searches, which all run the expressions), every dtype and every CPU
//! level. [`search`] (and [`top_k`] for one query) is the one entry point:
//! it decides which kernels serve the input — by dtype, query count and
//! CPU level — so the same input gets the same kernels and the same scores
//! from every face. The wrappers convert their data to a [`Corpus`] and
//! call it; they never choose kernels.
//!
//! The modules form layers; each imports only from the ones above it here:
//! - [`topk`]: how rows are ranked ([`Metric`], [`Ranker`]), the bounded
//!   top-k and its exact merge, the parallel parts of a search;
//! - [`codes`]: Float16 lanes, exact integer and binary kernels, rankers;
//! - [`scans`]: the row-by-row searches (few queries; the references);
//! - [`product`], [`amx`]: matrix products (Float32/64 tiles and panels,
//!   gemm; AMX byte tiles);
//! - [`rows`]: queries and rows as the Float32 screens read them;
//! - [`screen8`], [`code_blocks`], [`half_tiles`], [`hamming_blocks`]:
//!   the blocked kernels of each dtype;
//! - [`screened`]: the Float32 and Int8 screens with exact rescoring;
//! - [`floats`]: the search of float rows by matrix products;
//! - this module: the entry point and its strategy;
//! - [`grouped`]: filtered and grouped search, [`search`] per group.

pub mod amx;
pub mod codes;
pub mod floats;
pub mod grouped;
pub mod half_tiles;
pub mod product;
pub mod rows;
pub mod scans;
pub mod screened;
pub mod topk;

// The AVX-512 kernels (and the Int8 screen, AVX2 or VNNI): on other CPUs
// their scaffolding still compiles (so their callers need no cfg) but goes
// unused.
#[cfg_attr(not(target_arch = "x86_64"), allow(dead_code, unused_variables))]
pub mod code_blocks;
#[cfg_attr(not(target_arch = "x86_64"), allow(dead_code, unused_variables))]
pub mod hamming_blocks;
#[cfg_attr(not(target_arch = "x86_64"), allow(dead_code, unused_variables))]
pub mod screen8;

use crate::kernels::element::{Element, F16};
use crate::kernels::parallel;
use crate::kernels::row_access::VectorRows;

use codes::IntCode;
pub use floats::SearchRow;
use scans::nearest_codes_scan;
pub use topk::{Metric, Ranker, TopK, PART_ROWS};

/// The `k` best rows of each query, best first: `(row position, score)`.
pub type Found = Vec<Vec<(u32, f64)>>;

/// How a search ranks rows: a float metric, or Hamming distance on binary codes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SearchMetric {
    Float(Metric),
    Hamming,
}

/// The rows searched, as the column holds them (a row may be null: it is
/// never found).
#[derive(Debug, Clone, Copy)]
pub enum Corpus<'a> {
    F64(&'a [Option<&'a [f64]>]),
    F32(&'a [Option<&'a [f32]>]),
    F16(&'a [Option<&'a [F16]>]),
    I8(&'a [Option<&'a [i8]>]),
    U8(&'a [Option<&'a [u8]>]),
    /// Packed binary codes (one bit per dimension), for Hamming distance.
    Bits(&'a [Option<&'a [u8]>]),
}

macro_rules! corpus_from {
    ($($t:ty => $variant:ident),*) => {$(
        impl<'a> From<&'a [Option<&'a [$t]>]> for Corpus<'a> {
            fn from(rows: &'a [Option<&'a [$t]>]) -> Self {
                Corpus::$variant(rows)
            }
        }
    )*};
}
corpus_from!(f64 => F64, f32 => F32, F16 => F16, i8 => I8, u8 => U8);

/// `m` queries of length `d` (`queries`, row-major `f64`), the `k` best
/// rows wanted for each, ranked by `metric`.
#[derive(Debug, Clone, Copy)]
pub struct Request<'q> {
    pub queries: &'q [f64],
    pub m: usize,
    pub d: usize,
    pub k: usize,
    pub metric: SearchMetric,
}

/// Why a search cannot run on its input.
#[derive(Debug, Clone, PartialEq)]
pub enum SearchError {
    /// Row `row` has `found` numbers where the queries have `expected`.
    Width {
        row: usize,
        found: usize,
        expected: usize,
    },
    /// A Hamming query holds `value` at `position`, which is not a byte code.
    NotCodes { position: usize, value: f64 },
    /// Hamming distance asked of rows that are not packed binary codes.
    HammingNeedsCodes,
}

impl SearchError {
    /// The message for a user who called `function`; `what` names the
    /// queries ("query", "queries (columns)").
    pub fn message(&self, function: &str, what: &str) -> String {
        match *self {
            SearchError::Width {
                row,
                found,
                expected,
            } => format!(
                "{function}: row {row} has a vector of length {found} but the {what} has length {expected}"
            ),
            SearchError::NotCodes { position, value } => format!(
                "{function}: the {what} must hold byte codes (integers 0..=255), got {value} at position {position}"
            ),
            SearchError::HammingNeedsCodes => format!(
                "{function}: Hamming distance needs packed binary codes (an Array or List of UInt8, e.g. from ml.quantize(\"binary\"))"
            ),
        }
    }
}

/// Queries up to which Int8/UInt8 rows are scanned, each row read once
/// and ranked by the exact integer kernels, rather than screened by a
/// Float32 matrix product, which wins once it serves many queries
/// (measured on 1M x 384: the crossing is near 75 queries for Int8
/// without VNNI). With AVX-512 VNNI, the blocked integer kernel of
/// [`code_blocks`] serves any count from [`code_blocks::MIN_QUERIES`] on.
pub const CODE_SCAN_MAX_QUERIES: usize = 64;

/// From this many queries on, [`nearest_codes`] takes the tiled AVX2
/// kernel at the AVX2 level: one query is scanned pair by pair (1M × 384
/// Int8 rows, cosine, k = 10, CPU seconds, tiled / pair by pair: 1 query
/// 0.082 / 0.071, 2 queries 0.078 / 0.107, 3 queries 0.087 / 0.147).
#[cfg(target_arch = "x86_64")]
pub const CODE_TILED_MIN_QUERIES: usize = 2;

/// Whether `m` integer queries take the tiled kernel of `codes::tiled`: at
/// the AVX2 level exactly (the AVX-512 levels keep their own kernels),
/// from [`CODE_TILED_MIN_QUERIES`] on and with no upper bound, since it
/// stays ahead of the Float32 screen as queries grow (1M × 384 Int8,
/// cosine, k = 10, CPU s, tiled / Float32 screen: 64 queries 0.75 / 0.92,
/// 100: 0.96 / 1.67, 300: 2.93 / 3.32; `cargo run --release --example
/// int8_scan_bench 1000000 384 3 64 100 300`).
fn code_tiled_applies(m: usize) -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        m >= CODE_TILED_MIN_QUERIES
            && crate::kernels::cpu::level() == crate::kernels::cpu::Level::Avx2
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        let _ = m;
        false
    }
}

/// Queries up to which Float16 rows take the tiled kernel of
/// [`half_tiles`]; from 48 queries on the product path screens on 8-bit
/// codes and is ahead (`cargo run --release --example half_bench 1000000
/// 384 Q 5 noscan`, wall s, tiled / product: 28 queries 0.106 / 0.135, 32:
/// 0.118 / 0.131, 40: 0.143 / 0.195, 48: 0.196 / 0.151; clustered rows at
/// 32 queries 0.120 / 0.140).
pub const HALF_TILED_MAX_QUERIES: usize = 47;

/// The `k` best rows of `corpus` for each query of `request`, best first,
/// ties to the lower position; the exact scores whatever kernels screened
/// the rows.
pub fn search(corpus: Corpus<'_>, request: &Request<'_>) -> Result<Found, SearchError> {
    let &Request {
        queries,
        m,
        d,
        k,
        metric,
    } = request;
    let metric = match (metric, corpus) {
        (SearchMetric::Hamming, Corpus::Bits(rows)) => {
            let queries = exact_codes::<u8>(queries)?;
            let rows = checked_rows(rows, d)?;
            return Ok(nearest_hamming(&queries, m, d, k, &rows));
        }
        (SearchMetric::Hamming, _) => return Err(SearchError::HammingNeedsCodes),
        (SearchMetric::Float(metric), _) => metric,
    };
    Ok(match corpus {
        Corpus::F64(rows) => nearest_rows(queries, m, d, k, metric, rows)?,
        Corpus::F32(rows) => nearest_rows(queries, m, d, k, metric, rows)?,
        Corpus::F16(rows) if m <= HALF_TILED_MAX_QUERIES => {
            let present = checked_rows(rows, d)?;
            let queries: Vec<f32> = queries.iter().map(|&v| v as f32).collect();
            nearest_half(&queries, m, d, k, metric, &present)
        }
        Corpus::F16(rows) => nearest_rows(queries, m, d, k, metric, rows)?,
        Corpus::I8(rows) => nearest_integer_rows(queries, m, d, k, metric, rows)?,
        Corpus::U8(rows) | Corpus::Bits(rows) => {
            nearest_integer_rows(queries, m, d, k, metric, rows)?
        }
    })
}

/// The positions of the `k` rows of `corpus` best for one `query`: Float64
/// rows ranked by their exact row-by-row scores ([`top_k_rows`]; the
/// search of `nearest` scores them by a matrix product, whose last bits
/// may differ), every other dtype by [`search`] with one query.
pub fn top_k(
    corpus: Corpus<'_>,
    query: &[f64],
    k: usize,
    metric: SearchMetric,
) -> Result<Vec<u32>, SearchError> {
    if let (Corpus::F64(rows), SearchMetric::Float(metric)) = (corpus, metric) {
        return top_k_rows(rows, query, k, metric);
    }
    let request = Request {
        queries: query,
        m: 1,
        d: query.len(),
        k,
        metric,
    };
    let found = search(corpus, &request)?;
    Ok(found
        .into_iter()
        .flatten()
        .map(|(position, _)| position)
        .collect())
}

/// `values` as codes of type `C`, or the first that is not one.
pub fn exact_codes<C: IntCode>(values: &[f64]) -> Result<Vec<C>, SearchError> {
    values
        .iter()
        .enumerate()
        .map(|(position, &value)| C::exact(value).ok_or(SearchError::NotCodes { position, value }))
        .collect()
}

/// `nearest` over Int8/UInt8 rows: integer queries, when few (or, on a CPU
/// with AVX-512 VNNI, any number from `code_blocks::MIN_QUERIES` on: the
/// blocked integer kernel; at the AVX2 level, any number: the tiled
/// kernel), are searched exactly with integer kernels; otherwise the
/// Float32 screen. All give the exact scores, so the same
/// result.
fn nearest_integer_rows<C: IntCode + SearchRow>(
    queries: &[f64],
    m: usize,
    d: usize,
    k: usize,
    metric: Metric,
    rows: &[Option<&[C]>],
) -> Result<Found, SearchError> {
    match exact_codes::<C>(queries) {
        Ok(integer)
            if m <= CODE_SCAN_MAX_QUERIES
                || code_blocks::applies::<C>(m, d)
                || code_tiled_applies(m) =>
        {
            let present = checked_rows(rows, d)?;
            Ok(nearest_codes(&integer, m, d, k, metric, &present))
        }
        _ => Ok(nearest_rows(queries, m, d, k, metric, rows)?),
    }
}

/// The `k` best rows for each of `m` integer queries on integer rows,
/// scored exactly by the integer kernels (`queries`: `m × d`). Enough
/// queries, on a CPU with AVX-512 VNNI, go through the blocked kernel of
/// [`code_blocks`]; two or more at the AVX2 level through the tiled
/// kernel of `codes::tiled`; everything else through
/// [`nearest_codes_scan`]. All give the same result, bit for bit.
pub fn nearest_codes<C: IntCode>(
    queries: &[C],
    m: usize,
    d: usize,
    k: usize,
    metric: Metric,
    rows: &[(u32, &[C])],
) -> Vec<Vec<(u32, f64)>> {
    if code_blocks::applies::<C>(m, d) {
        if let Some(found) = code_blocks::nearest_blocked(queries, m, d, k, metric, rows) {
            return found;
        }
    }
    // AVX2 exactly: at the AVX-512 levels the per-pair scan keeps its
    // 512-bit kernels (the tiled kernel is not measured there).
    #[cfg(target_arch = "x86_64")]
    if code_tiled_applies(m) {
        if let Some(found) = codes::tiled::nearest(queries, m, d, k, metric, rows) {
            return found;
        }
    }
    nearest_codes_scan(queries, m, d, k, metric, rows)
}

/// The `k` best Float16 rows for each of `m` queries, ranked by
/// [`HalfRanker`] (`queries`: `m × d`, as Float32), as `(position, score)`
/// best first, ties to the lower position: the tiled kernel of
/// [`super::half_tiles`], which gives the result of [`nearest_half_scan`]
/// bit for bit.
pub fn nearest_half(
    queries: &[f32],
    m: usize,
    d: usize,
    k: usize,
    metric: Metric,
    rows: &[(u32, &[F16])],
) -> Vec<Vec<(u32, f64)>> {
    half_tiles::nearest_half_tiled(queries, m, d, k, metric, rows)
}

/// The `k` codes nearest each of `m` query codes (`queries`: `m × width`
/// bytes, row-major), as `(position, distance)` best first, ties to the
/// lower position, by the blocked kernels of [`hamming_blocks`] (AVX-512
/// VPOPCNTDQ at the VNNI level, a row's words in registers below it), which
/// give the result of [`scans::nearest_hamming_scan`].
pub fn nearest_hamming(
    queries: &[u8],
    m: usize,
    width: usize,
    k: usize,
    rows: &[(u32, &[u8])],
) -> Vec<Vec<(u32, f64)>> {
    hamming_blocks::nearest(queries, m, width, k, rows)
}

/// The positions of the `k` rows of `a` best for `query`, best first, ties
/// to the lower position, null rows (and NaN keys) never chosen: each row
/// ranked by [`Ranker`]. Ranges of rows are ranked on the kernels' threads
/// and merged exactly ([`TopK::merge`]), so the result is the serial
/// scan's; an error names the first row of another length (ranges come
/// back in order).
pub fn top_k_rows<T, A>(
    a: &A,
    query: &[T],
    k: usize,
    metric: Metric,
) -> Result<Vec<u32>, SearchError>
where
    T: Element,
    A: VectorRows<T> + ?Sized,
{
    let ranker = Ranker::new(metric, query);
    let n = a.row_count();
    let ranges = parallel::blocks(n.div_ceil(PART_ROWS), |r| {
        let mut top = TopK::new(k);
        let mut scratch = Vec::new();
        for row in r * PART_ROWS..((r + 1) * PART_ROWS).min(n) {
            let Some(x) = a.row(row, &mut scratch) else {
                continue;
            };
            if x.len() != query.len() {
                return Err(SearchError::Width {
                    row,
                    found: x.len(),
                    expected: query.len(),
                });
            }
            let (key, score) = ranker.rank(x);
            top.push(key, row as u32, score);
        }
        Ok(top)
    });
    let mut top = TopK::new(k);
    for range in ranges {
        top.merge(range?);
    }
    Ok(top
        .into_sorted()
        .into_iter()
        .map(|(index, _)| index)
        .collect())
}

/// The `k` best rows of `rows` for each of `m` queries (`queries`: `m × d`
/// row-major f64), through the blocked matrix-product search of
/// [`floats::nearest`]. Errors on the first row of another length.
pub fn nearest_rows<R: SearchRow>(
    queries: &[f64],
    m: usize,
    d: usize,
    k: usize,
    metric: Metric,
    rows: &[Option<&[R]>],
) -> Result<Vec<Vec<(u32, f64)>>, SearchError> {
    for (row, x) in rows.iter().enumerate() {
        match x {
            Some(x) if x.len() != d => {
                return Err(SearchError::Width {
                    row,
                    found: x.len(),
                    expected: d,
                })
            }
            _ => {}
        }
    }
    let candidates = rows
        .iter()
        .enumerate()
        .filter_map(|(row, x)| x.map(|x| (row as u32, x)));
    Ok(floats::nearest(queries, m, d, k, metric, candidates))
}

/// The valid rows with their positions, checked to have `d` numbers.
pub fn checked_rows<'a, R>(
    rows: &[Option<&'a [R]>],
    d: usize,
) -> Result<Vec<(u32, &'a [R])>, SearchError> {
    let mut present = Vec::with_capacity(rows.len());
    for (row, x) in rows.iter().enumerate() {
        if let Some(x) = *x {
            if x.len() != d {
                return Err(SearchError::Width {
                    row,
                    found: x.len(),
                    expected: d,
                });
            }
            present.push((row as u32, x));
        }
    }
    Ok(present)
}

/// The `k` best of given candidate rows for each of `m` queries: query `q`
/// considers `candidates[q * per_query..(q + 1) * per_query]` (positions
/// into `a`; out-of-range or null rows are skipped), scored exactly as
/// `top_k_similar` scores them, ties to the lower position. This is the
/// rescoring step of a search screened on quantized codes.
#[allow(clippy::too_many_arguments)]
pub fn nearest_among<T, A>(
    queries: &[f64],
    m: usize,
    d: usize,
    k: usize,
    metric: Metric,
    a: &A,
    candidates: &[u32],
    per_query: usize,
) -> Result<Vec<Vec<(u32, f64)>>, SearchError>
where
    T: Element,
    A: VectorRows<T> + ?Sized,
{
    let mut scratch = Vec::new();
    let mut found = Vec::with_capacity(m);
    for q in 0..m {
        let query: Vec<T> = queries
            .get(q * d..(q + 1) * d)
            .unwrap_or(&[])
            .iter()
            .map(|&v| T::from_f64(v))
            .collect();
        let mut top = TopK::new(k);
        let ranker = Ranker::new(metric, &query);
        let mine = candidates
            .get(q * per_query..(q + 1) * per_query)
            .unwrap_or(&[]);
        for &position in mine {
            let row = position as usize;
            if row >= a.row_count() {
                continue;
            }
            let Some(x) = a.row(row, &mut scratch) else {
                continue;
            };
            if x.len() != d {
                return Err(SearchError::Width {
                    row,
                    found: x.len(),
                    expected: d,
                });
            }
            let (key, score) = ranker.rank(x);
            top.push(key, position, score);
        }
        found.push(top.into_sorted());
    }
    Ok(found)
}

/// The columns of a search result, one row per (query, rank): query
/// position, rank (1 = best), row position and score.
pub fn flatten_found(found: &[Vec<(u32, f64)>]) -> (Vec<u32>, Vec<u32>, Vec<u32>, Vec<f64>) {
    let total: usize = found.iter().map(Vec::len).sum();
    let (mut query, mut rank, mut index, mut score) = (
        Vec::with_capacity(total),
        Vec::with_capacity(total),
        Vec::with_capacity(total),
        Vec::with_capacity(total),
    );
    for (q, hits) in found.iter().enumerate() {
        for (r, &(i, s)) in hits.iter().enumerate() {
            query.push(q as u32);
            rank.push(r as u32 + 1);
            index.push(i);
            score.push(s);
        }
    }
    (query, rank, index, score)
}
