//! Dense matrix products: the general one of `project` (through the `gemm`
//! crate) and the score blocks of `nearest`, `out (b × m) = rows (b × d) ·
//! queriesᵀ`, where both operands are row-major along `d`.
//!
//! The `gemm` crate does not use AVX-512 on stable Rust, so on CPUs with
//! AVX-512F the scores come from two kernels of our own (and at the AVX2
//! level, Float32 queries from 16 on are packed in the same panels for
//! `avx2_panels`, which screens in registers too):
//!
//! * [`Kernel::Dots`], for fewer than 16 queries: tiles of 4 queries × 4
//!   rows, each score a 16-lane (`f64`: 8-lane) dot product along `d`,
//!   added up at the end. Nothing is packed, so a single query costs one
//!   pass over the rows (memory-bound).
//! * [`Kernel::Panels`], for more: the queries are packed once into panels
//!   of 32 (`f64`: 16) queries laid out `d`-major. A tile of 14 rows × 2
//!   vectors of scores stays in registers while each step broadcasts one
//!   number of each of the 14 rows and multiplies it with two vectors of
//!   the panel (28 FMAs for 2 vector loads). `d` is cut into chunks of at
//!   most 256, so the panel's chunk (32 KiB) stays in L1 while the rows
//!   stream past it from L2; rows are taken in slices of at most 1 MiB so
//!   they stay in L2 while every panel passes over them. For the common
//!   widths (128 … 1536) `d` is a compile-time constant, which lets every
//!   broadcast address its row by a constant offset.
//!
//! Every score is a sum of `d` products accumulated in the input's own type
//! (in some order, with FMA), so the Float32 screen's error bound in
//! `neighbors` holds, and NaN and infinities propagate as in a plain sum.
//!
//! Measured on the 2-core Xeon (Sapphire Rapids class, AVX-512 peak about
//! 170 f32 GFLOPS per core) with `cargo run --release --example
//! product_bench`, n = 100,000 rows in blocks of 256, GFLOPS per core from
//! CPU time (the machine was shared), the `gemm` crate → these kernels:
//!
//! | queries | f32 d=384 | f32 d=768 | f64 d=384 | f64 d=768 |
//! |---|---|---|---|---|
//! | 1 | 5 → 6 | 5 → 5 | 2 → 3 | 3 → 4 |
//! | 10 | 16 → 21 | 21 → 27 | 13 → 13 | 17 → 17 |
//! | 200 | 67 → 124 | 75 → 132 | 27 → 50 | 39 → 67 |
//! | 2,000 | 79 → 159 | 84 → 155 | 32 → 51 | 41 → 66 |
//! | 20,000 | 70 → 137 | 71 → 97 | 34 → 58 | 37 → 58 |
//!
//! One and ten queries are memory-bound (the rows come from RAM). With
//! both cores free, f32 reaches 250–290 GFLOPS on two threads.
//!
//! ## Screened products of `nearest`
//!
//! With queries in panels `nearest` does not write its scores out: on the
//! last pass over `d`, [`Queries::screened_scores`] compares each tile of
//! 14 rows × 32 queries with per-query bars while it is still in registers
//! and emits only the pairs that could reach their query's top k (a proven
//! superset; see `neighbors::Screen`). From 48 queries on, on CPUs with
//! AVX-512 VNNI, or AVX2 over 8,192 rows or more
//! ([`super::screen8::Multiply::min_rows`]), `nearest` takes the Int8 screen of
//! [`super::screen8`] instead: the same kind of tile on 8-bit codes of each
//! query and row, four numbers per step, with bars that include each
//! vector's measured quantization error; with VNNI about 300 G
//! multiply-adds per second per core on the Xeon (`vpdpbusd` peaks near
//! 375 G, Float32 FMA near 85 G), with AVX2's `vpmaddubsw` about 74 G on
//! the 2.45 GHz EPYC (its Float32 FMA kernel about 28 G). The Float32
//! kernel serves the other CPUs and 16–47 queries.
//!
//! The whole of `nearest` (`cargo run --release --example nearest_bench`:
//! 100,000 × d Float32 rows, cosine, k = 10, two threads, medians of 3,
//! wall / CPU ms; the machine quiet, other runs within about 10%), before
//! the screened products → now, with faiss-cpu 1.15.1 `IndexFlatIP` on
//! the same shapes (its OpenBLAS on the SkylakeX kernels, two threads),
//! run just after:
//!
//! | queries | d=384 | faiss | d=768 | faiss |
//! |---|---|---|---|---|
//! | 1 | 16 / 32 → 14 / 27 | 15 / 31 | 26 / 51 → 28 / 52 | 25 / 49 |
//! | 10 | 23 / 45 → 17 / 34 | 68 / 135 | 37 / 71 → 35 / 70 | 121 / 239 |
//! | 200 | 113 / 212 → 43 / 83 | 1,234 / 2,443 | 179 / 325 → 79 / 153 | 142 / 284 |
//! | 2,000 | 910 / 1,655 → 226 / 436 | 716 / 1,427 | 1,196 / 2,365 → 404 / 788 | 1,328 / 2,595 |
//! | 20,000 | 7,755 / 14,862 → 2,455 / 4,674 | 6,604 / 13,166 | 12,995 / 25,684 → 4,296 / 8,250 | 11,766 / 23,427 |
//!
//! Dot and Euclidean take the same time within about 10% (200 and 2,000
//! queries measured). One and ten queries take the Float32 path as before.
//! Clustered rows (`clusters=100`: more rows near each query's k-th
//! score) take longer: 2,000 queries 317 / 610 (d=384) and 683 / 1,254
//! (d=768), against 784 / 1,538 and 1,336 / 2,646 before; faiss's time
//! does not depend on the data.

use gemm::{gemm, Parallelism};

use crate::kernels::cpu::{self, Level};

#[cfg(target_arch = "x86_64")]
mod avx2_panels;

/// Rows of `bytes_per_number · d` bytes that fit in `slice_bytes`, as a
/// whole number of `tile_rows`-row tiles (at least one): the slice of rows
/// the panel kernels keep in L2 while every panel passes over it.
#[cfg(target_arch = "x86_64")]
fn rows_per_slice(
    slice_bytes: usize,
    d: usize,
    bytes_per_number: usize,
    tile_rows: usize,
) -> usize {
    (slice_bytes / (d.max(1) * bytes_per_number))
        .max(1)
        .next_multiple_of(tile_rows)
}

/// The float types the products run in.
pub trait ProductFloat: Copy + Send + Sync + 'static {
    const ZERO: Self;
    const ONE: Self;

    /// [`avx512_f32::dot_scores`] or its `f64` twin.
    ///
    /// # Safety
    /// As [`avx512_f32::dot_scores`].
    #[cfg(target_arch = "x86_64")]
    #[doc(hidden)]
    unsafe fn dot_scores(
        queries: &[Self],
        m: usize,
        d: usize,
        rows: &[Self],
        b: usize,
        out: &mut [Self],
    );

    /// [`avx512_f32::panel_scores`] or its `f64` twin.
    ///
    /// # Safety
    /// As [`avx512_f32::panel_scores`].
    #[cfg(target_arch = "x86_64")]
    #[doc(hidden)]
    unsafe fn panel_scores(
        panels: &[Self],
        m: usize,
        d: usize,
        rows: &[Self],
        b: usize,
        out: &mut [Self],
    );

    /// Queries per packed panel of [`Kernel::Panels`].
    #[doc(hidden)]
    const PANEL: usize;

    /// Whether [`Kernel::Panels`] has an AVX2 kernel for this type.
    #[doc(hidden)]
    const AVX2_PANELS: bool;

    /// `avx2_panels::panel_scores` for Float32; `false` (nothing written)
    /// for a type without an AVX2 panel kernel.
    ///
    /// # Safety
    /// The CPU has AVX2 and FMA.
    #[cfg(target_arch = "x86_64")]
    #[doc(hidden)]
    unsafe fn avx2_panel_scores(
        _panels: &[Self],
        _m: usize,
        _d: usize,
        _rows: &[Self],
        _b: usize,
        _out: &mut [Self],
    ) -> bool {
        false
    }
}

impl ProductFloat for f32 {
    const ZERO: f32 = 0.0;
    const ONE: f32 = 1.0;
    const PANEL: usize = 32;
    const AVX2_PANELS: bool = true;

    #[cfg(target_arch = "x86_64")]
    unsafe fn avx2_panel_scores(
        panels: &[f32],
        m: usize,
        d: usize,
        rows: &[f32],
        b: usize,
        out: &mut [f32],
    ) -> bool {
        // SAFETY: the caller upholds the contract (AVX2 and FMA).
        unsafe { avx2_panels::panel_scores(panels, m, d, rows, b, out) };
        true
    }

    #[cfg(target_arch = "x86_64")]
    unsafe fn dot_scores(
        queries: &[f32],
        m: usize,
        d: usize,
        rows: &[f32],
        b: usize,
        out: &mut [f32],
    ) {
        // SAFETY: the caller upholds the contract of `dot_scores`.
        unsafe { avx512_f32::dot_scores(queries, m, d, rows, b, out) }
    }

    #[cfg(target_arch = "x86_64")]
    unsafe fn panel_scores(
        panels: &[f32],
        m: usize,
        d: usize,
        rows: &[f32],
        b: usize,
        out: &mut [f32],
    ) {
        // SAFETY: the caller upholds the contract of `panel_scores`.
        unsafe { avx512_f32::panel_scores(panels, m, d, rows, b, out) }
    }
}

impl ProductFloat for f64 {
    const ZERO: f64 = 0.0;
    const ONE: f64 = 1.0;
    const PANEL: usize = 16;
    const AVX2_PANELS: bool = false;

    #[cfg(target_arch = "x86_64")]
    unsafe fn dot_scores(
        queries: &[f64],
        m: usize,
        d: usize,
        rows: &[f64],
        b: usize,
        out: &mut [f64],
    ) {
        // SAFETY: the caller upholds the contract of `dot_scores`.
        unsafe { avx512_f64::dot_scores(queries, m, d, rows, b, out) }
    }

    #[cfg(target_arch = "x86_64")]
    unsafe fn panel_scores(
        panels: &[f64],
        m: usize,
        d: usize,
        rows: &[f64],
        b: usize,
        out: &mut [f64],
    ) {
        // SAFETY: the caller upholds the contract of `panel_scores`.
        unsafe { avx512_f64::panel_scores(panels, m, d, rows, b, out) }
    }
}

/// `out (rows × cols) = lhs (rows × inner) · rhs` through the `gemm` crate,
/// where `rhs` is stored row-major as `inner × cols`, or as `cols × inner`
/// when `rhs_transposed`. Returns `false` (and leaves `out` alone) if the
/// lengths disagree.
pub fn gemm_product<S: ProductFloat>(
    lhs: &[S],
    rows: usize,
    inner: usize,
    rhs: &[S],
    cols: usize,
    rhs_transposed: bool,
    out: &mut [S],
) -> bool {
    if lhs.len() != rows * inner || rhs.len() != inner * cols || out.len() != rows * cols {
        return false;
    }
    if rows == 0 || cols == 0 {
        return true;
    }
    if inner == 0 {
        out.fill(S::ZERO);
        return true;
    }
    let (rhs_cs, rhs_rs) = if rhs_transposed {
        (inner as isize, 1)
    } else {
        (1, cols as isize)
    };
    // SAFETY: the lengths were checked above, so every index gemm derives
    // from (rows, cols, inner) and the strides stays inside the three slices.
    unsafe {
        gemm(
            rows,
            cols,
            inner,
            out.as_mut_ptr(),
            1,
            cols as isize,
            false,
            lhs.as_ptr(),
            1,
            inner as isize,
            rhs.as_ptr(),
            rhs_cs,
            rhs_rs,
            S::ZERO,
            S::ONE,
            false,
            false,
            false,
            Parallelism::None,
        );
    }
    true
}

/// How [`Queries::scores`] multiplies.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kernel {
    /// The `gemm` crate: any CPU.
    Gemm,
    /// AVX-512F dot-product tiles (few queries).
    Dots,
    /// Queries packed in panels (many queries): AVX-512F, or AVX2 and FMA
    /// for Float32 (`avx2_panels`).
    Panels,
}

/// From this many queries on, packing them in panels pays.
const PANEL_MIN_QUERIES: usize = 16;

impl Kernel {
    /// The fastest kernel this CPU runs for `m` queries of type `S`.
    pub fn fastest<S: ProductFloat>(m: usize) -> Kernel {
        if m >= PANEL_MIN_QUERIES && Kernel::Panels.available::<S>() {
            Kernel::Panels
        } else if Kernel::Dots.available::<S>() {
            Kernel::Dots
        } else {
            Kernel::Gemm
        }
    }

    /// Whether this CPU runs the kernel for numbers of type `S`.
    pub fn available<S: ProductFloat>(self) -> bool {
        match self {
            Kernel::Gemm => true,
            Kernel::Dots => has_avx512f(),
            Kernel::Panels => has_avx512f() || (S::AVX2_PANELS && has_avx2()),
        }
    }
}

fn has_avx512f() -> bool {
    cfg!(target_arch = "x86_64") && cpu::at_least(Level::Avx512)
}

fn has_avx2() -> bool {
    cfg!(target_arch = "x86_64") && cpu::at_least(Level::Avx2)
}

/// `m` queries of length `d`, prepared for scoring many blocks of rows.
#[derive(Debug, Clone)]
pub struct Queries<S> {
    m: usize,
    d: usize,
    kernel: Kernel,
    /// The queries row-major, or in panels of `S::PANEL` queries
    /// (`d`-major) for `Kernel::Panels`.
    data: Vec<S>,
}

impl<S: ProductFloat> Queries<S> {
    /// `queries` (`m × d` row-major) with the fastest kernel for them;
    /// `None` if the length is not `m × d`.
    pub fn new(queries: &[S], m: usize, d: usize) -> Option<Self> {
        Self::with_kernel(queries, m, d, Kernel::fastest::<S>(m))
    }

    /// As [`Queries::new`] with a chosen kernel; `None` also if this CPU
    /// lacks it.
    pub fn with_kernel(queries: &[S], m: usize, d: usize, kernel: Kernel) -> Option<Self> {
        if queries.len() != m * d || !kernel.available::<S>() {
            return None;
        }
        let data = if kernel == Kernel::Panels {
            pack_panels(queries, m, d, S::PANEL)
        } else {
            queries.to_vec()
        };
        Some(Queries { m, d, kernel, data })
    }

    /// The number of queries, `m`.
    pub fn count(&self) -> usize {
        self.m
    }

    pub fn kernel(&self) -> Kernel {
        self.kernel
    }

    /// `out (b × m) = rows (b × d) · queriesᵀ`: `out[r m + q]` is the dot
    /// product of row `r` and query `q`. Returns `false` (and leaves `out`
    /// alone) if the lengths disagree.
    pub fn scores(&self, rows: &[S], b: usize, out: &mut [S]) -> bool {
        let (m, d) = (self.m, self.d);
        if rows.len() != b * d || out.len() != b * m {
            return false;
        }
        if b == 0 || m == 0 {
            return true;
        }
        if d == 0 {
            out.fill(S::ZERO);
            return true;
        }
        match self.kernel {
            Kernel::Gemm => gemm_product(rows, b, d, &self.data, m, true, out),
            #[cfg(target_arch = "x86_64")]
            Kernel::Dots => {
                // SAFETY: the CPU has AVX-512F (checked in `with_kernel`),
                // `data` holds m × d, `rows` b × d and `out` b × m
                // numbers, and m, b, d > 0.
                unsafe { S::dot_scores(&self.data, m, d, rows, b, out) };
                true
            }
            #[cfg(target_arch = "x86_64")]
            Kernel::Panels if has_avx512f() => {
                // SAFETY: as above, and `data` holds `ceil(m / PANEL)`
                // panels of PANEL × d numbers (built by `pack_panels`).
                unsafe { S::panel_scores(&self.data, m, d, rows, b, out) };
                true
            }
            // SAFETY: `Kernel::Panels` is only built on CPUs with AVX-512F
            // or AVX2 and FMA (checked in `with_kernel`), so below the
            // AVX-512 level the CPU has AVX2 and FMA.
            #[cfg(target_arch = "x86_64")]
            Kernel::Panels => unsafe { S::avx2_panel_scores(&self.data, m, d, rows, b, out) },
            #[cfg(not(target_arch = "x86_64"))]
            Kernel::Dots | Kernel::Panels => gemm_product(rows, b, d, &self.data, m, true, out),
        }
    }
}

/// The queries in panels of `panel` queries (the last one padded with
/// zeros), each laid out `d`-major: number `k` of query `p·panel + j` sits
/// at `p·panel·d + k·panel + j`.
fn pack_panels<S: ProductFloat>(queries: &[S], m: usize, d: usize, panel: usize) -> Vec<S> {
    let mut packed = vec![S::ZERO; m.div_ceil(panel) * panel * d];
    if d == 0 {
        return packed;
    }
    for (q, query) in queries.chunks_exact(d).enumerate() {
        let base = (q / panel) * panel * d + q % panel;
        for (dst, &v) in packed.iter_mut().skip(base).step_by(panel).zip(query) {
            *dst = v;
        }
    }
    packed
}

/// A (row, query) pair let through by [`Queries::screened_scores`], with
/// its score.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Passed {
    /// The row, counted from the first row of the block.
    pub row: u32,
    /// The query, counted from the first of these queries.
    pub query: u32,
    pub score: f32,
}

/// The bars of the screen that [`Queries::screened_scores`] runs on each
/// score while it is still in registers: per query `a`, `c` and bounds of
/// their magnitudes, per row `xn`, `extra` and a bound of its magnitude.
/// The pair (row r, query q) is left out only when its score `s` is below
/// `a_q + c_q · xn_r + extra_r` (exact arithmetic) by a margin, see
/// [`Queries::screened_scores`].
#[derive(Debug, Clone, Copy)]
pub struct Bars<'a> {
    pub a: &'a [f32],
    /// At least `|a|`, each.
    pub a_abs: &'a [f32],
    pub c: &'a [f32],
    /// At least `|c|`, each.
    pub c_abs: &'a [f32],
    /// Nonnegative.
    pub xn: &'a [f32],
    pub extra: &'a [f32],
    /// At least `|extra|`, each.
    pub extra_abs: &'a [f32],
}

/// The rows [`Queries::screened_scores`] passes the panels over at once
/// for vectors of length `d` (they stay in L2 meanwhile): blocks of this
/// many rows re-read the packed queries the least.
pub fn screened_slice_rows(d: usize) -> usize {
    #[cfg(target_arch = "x86_64")]
    {
        if has_avx512f() {
            avx512_screen::slice_rows(d)
        } else {
            avx2_panels::slice_rows(d)
        }
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        let _ = d;
        256
    }
}

impl Queries<f32> {
    /// The scores of [`Queries::scores`], screened in the product's
    /// registers instead of written out: appends to `passed` every pair
    /// whose score `s` passes `s >= L` (or is NaN, or `L` is), where `L`
    /// is computed in `f32` as `bar - 8u · mag` with `bar = c · xn + (a +
    /// extra)` and `mag = c_abs · xn + (a_abs + extra_abs)` (`u = 2⁻²⁴`,
    /// one rounding per operation). Without overflow or underflow, `L <=
    /// B - 4.9u · M` where `B = a + c·xn + extra` and `M = |a| + |c·xn| +
    /// |extra|` exactly: `bar` is within `2.01u·M` of `B` (two roundings),
    /// `mag >= (1 - 2.01u)·M`, and the final rounding costs at most
    /// `u·(1 + 6u)·M`. So every pair with `s >= B - 4.9u · M` passes. An
    /// overflow to infinity in `bar` also overflows `mag` (which bounds
    /// every partial sum of `bar`), which makes `L` NaN or minus infinity:
    /// the pair passes.
    ///
    /// `scratch` holds partial sums. Pairs come in no particular order.
    /// Returns `false` (and leaves `passed` alone) when the lengths
    /// disagree or the queries are not packed in panels (see
    /// [`Kernel::Panels`]).
    #[cfg_attr(not(target_arch = "x86_64"), allow(unused_variables, clippy::ptr_arg))]
    pub fn screened_scores(
        &self,
        rows: &[f32],
        b: usize,
        bars: &Bars,
        scratch: &mut Vec<f32>,
        passed: &mut Vec<Passed>,
    ) -> bool {
        let (m, d) = (self.m, self.d);
        let query_lengths = [bars.a, bars.a_abs, bars.c, bars.c_abs].map(<[f32]>::len);
        let row_lengths = [bars.xn, bars.extra, bars.extra_abs].map(<[f32]>::len);
        if self.kernel != Kernel::Panels
            || rows.len() != b * d
            || query_lengths.iter().any(|&len| len != m)
            || row_lengths.iter().any(|&len| len != b)
            || u32::try_from(b.max(m)).is_err()
        {
            return false;
        }
        if b == 0 || m == 0 {
            return true;
        }
        #[cfg(target_arch = "x86_64")]
        {
            // SAFETY: `Kernel::Panels` is only built on CPUs with AVX-512F
            // or AVX2 and FMA; `data` holds `ceil(m / 32)` panels of 32 × d
            // numbers (built by `pack_panels`), `rows` b × d numbers, the
            // bars m and b numbers (all checked above), and b, m fit in u32.
            unsafe {
                if has_avx512f() {
                    avx512_screen::screened_scores(
                        &self.data, m, d, rows, b, bars, scratch, passed,
                    );
                } else {
                    avx2_panels::screened_scores(&self.data, m, d, rows, b, bars, scratch, passed);
                }
            };
            true
        }
        #[cfg(not(target_arch = "x86_64"))]
        {
            let _ = scratch;
            false
        }
    }
}

/// The AVX-512F kernels, written once for `f32` and `f64`.
#[cfg(target_arch = "x86_64")]
macro_rules! avx512_kernels {
    (
        $module:ident, $float:ty, $mask:ty, lanes = $lanes:expr,
        $setzero:ident, $set1:ident, $loadu:ident, $maskz_loadu:ident,
        $mask_storeu:ident, $fmadd:ident, $add:ident, $reduce_add:ident
    ) => {
        pub mod $module {
            use std::arch::x86_64::*;

            const LANES: usize = $lanes;
            /// Queries per panel: two vectors.
            const PANEL: usize = 2 * LANES;
            /// Rows per register tile of the panel kernel: 14 × 2
            /// accumulators leave 4 of the 32 vector registers for the
            /// panel's two vectors and the broadcasts.
            const TILE_ROWS: usize = 14;
            /// Queries × rows per tile of the dot kernel.
            const DOT_QUERIES: usize = 4;
            const DOT_ROWS: usize = 4;
            /// The longest chunk of `d` per pass: the panel's chunk
            /// (`PANEL · 256` numbers, 32 KiB) stays in L1.
            const DEPTH: usize = 256;
            /// The most of a block of rows the panels pass over at once
            /// (half of L2, which also holds the scores and panels).
            const ROW_SLICE_BYTES: usize = 1024 * 1024;

            /// The first `n` lanes.
            #[inline]
            fn lane_mask(n: usize) -> $mask {
                if n >= LANES {
                    <$mask>::MAX
                } else {
                    ((1u32 << n) - 1) as $mask
                }
            }

            /// `out (b × m) = rows · queriesᵀ` in dot-product tiles.
            ///
            /// # Safety
            /// The CPU has AVX-512F; `queries` holds at least `m · d`,
            /// `rows` `b · d` and `out` `b · m` numbers.
            #[target_feature(enable = "avx512f")]
            pub unsafe fn dot_scores(
                queries: &[$float],
                m: usize,
                d: usize,
                rows: &[$float],
                b: usize,
                out: &mut [$float],
            ) {
                if queries.len() < m * d || rows.len() < b * d || out.len() < b * m {
                    return;
                }
                let (q_ptr, r_ptr, o_ptr) = (queries.as_ptr(), rows.as_ptr(), out.as_mut_ptr());
                for q0 in (0..m).step_by(DOT_QUERIES) {
                    let width = DOT_QUERIES.min(m - q0);
                    let mut r0 = 0;
                    while r0 < b {
                        let height = if r0 + DOT_ROWS <= b { DOT_ROWS } else { 1 };
                        // SAFETY: queries q0 .. q0 + width < m and rows
                        // r0 .. r0 + height <= b, so every number the tile
                        // reads or writes is inside the checked lengths.
                        unsafe {
                            let (q, r, o) =
                                (q_ptr.add(q0 * d), r_ptr.add(r0 * d), o_ptr.add(r0 * m + q0));
                            match (width, height) {
                                (4, 4) => dot_tile::<4, 4>(q, r, d, o, m),
                                (3, 4) => dot_tile::<3, 4>(q, r, d, o, m),
                                (2, 4) => dot_tile::<2, 4>(q, r, d, o, m),
                                (1, 4) => dot_tile::<1, 4>(q, r, d, o, m),
                                (4, _) => dot_tile::<4, 1>(q, r, d, o, m),
                                (3, _) => dot_tile::<3, 1>(q, r, d, o, m),
                                (2, _) => dot_tile::<2, 1>(q, r, d, o, m),
                                _ => dot_tile::<1, 1>(q, r, d, o, m),
                            }
                        }
                        r0 += height;
                    }
                }
            }

            /// Scores of `Q` queries × `R` rows: `Q · R` dot products in
            /// vector lanes along `d` (the tail masked), summed at the end.
            ///
            /// # Safety
            /// `queries` points at `Q` queries of `d` numbers, `rows` at
            /// `R` rows of `d`, `out` at `R` rows of stride `m` with `Q`
            /// numbers each.
            #[target_feature(enable = "avx512f")]
            #[inline]
            unsafe fn dot_tile<const Q: usize, const R: usize>(
                queries: *const $float,
                rows: *const $float,
                d: usize,
                out: *mut $float,
                m: usize,
            ) {
                let mut acc = [[$setzero(); Q]; R];
                let mut query = [$setzero(); Q];
                let whole = d / LANES * LANES;
                let mut k = 0;
                while k < whole {
                    // SAFETY: k + LANES <= d, inside each query and row.
                    unsafe {
                        for (j, v) in query.iter_mut().enumerate() {
                            *v = $loadu(queries.add(j * d + k));
                        }
                        for (r, acc) in acc.iter_mut().enumerate() {
                            let x = $loadu(rows.add(r * d + k));
                            for (a, &v) in acc.iter_mut().zip(&query) {
                                *a = $fmadd(x, v, *a);
                            }
                        }
                    }
                    k += LANES;
                }
                if whole < d {
                    let mask = lane_mask(d - whole);
                    // SAFETY: the masked loads touch only lanes below
                    // d - whole, inside each query and row.
                    unsafe {
                        for (j, v) in query.iter_mut().enumerate() {
                            *v = $maskz_loadu(mask, queries.add(j * d + whole));
                        }
                        for (r, acc) in acc.iter_mut().enumerate() {
                            let x = $maskz_loadu(mask, rows.add(r * d + whole));
                            for (a, &v) in acc.iter_mut().zip(&query) {
                                *a = $fmadd(x, v, *a);
                            }
                        }
                    }
                }
                for (r, acc) in acc.iter().enumerate() {
                    for (j, &a) in acc.iter().enumerate() {
                        // SAFETY: r < R rows and j < Q numbers of `out`.
                        unsafe { *out.add(r * m + j) = $reduce_add(a) };
                    }
                }
            }

            /// `out (b × m) = rows · queriesᵀ` from queries packed by
            /// `pack_panels` in panels of `PANEL`.
            ///
            /// # Safety
            /// The CPU has AVX-512F; `d > 0`; `panels` holds at least
            /// `ceil(m / PANEL) · PANEL · d`, `rows` `b · d` and `out`
            /// `b · m` numbers.
            #[target_feature(enable = "avx512f")]
            pub unsafe fn panel_scores(
                panels: &[$float],
                m: usize,
                d: usize,
                rows: &[$float],
                b: usize,
                out: &mut [$float],
            ) {
                let panel_count = m.div_ceil(PANEL);
                if d == 0
                    || panels.len() < panel_count * PANEL * d
                    || rows.len() < b * d
                    || out.len() < b * m
                {
                    return;
                }
                // Equal chunks of at most DEPTH.
                let chunks = d.div_ceil(DEPTH);
                let depth = d.div_ceil(chunks);
                let (p_ptr, r_ptr, o_ptr) = (panels.as_ptr(), rows.as_ptr(), out.as_mut_ptr());
                // Rows in slices that stay in L2 while every panel passes
                // over them; panel by panel within a slice, so the panel's
                // scores stay in cache while they are summed over the
                // chunks of d.
                let slice_rows = super::rows_per_slice(
                    ROW_SLICE_BYTES,
                    d,
                    std::mem::size_of::<$float>(),
                    TILE_ROWS,
                );
                for first in (0..b).step_by(slice_rows) {
                    let last = (first + slice_rows).min(b);
                    for p in 0..panel_count {
                        let q0 = p * PANEL;
                        let valid = PANEL.min(m - q0);
                        let masks = [lane_mask(valid), lane_mask(valid.saturating_sub(LANES))];
                        for k0 in (0..d).step_by(depth) {
                            let depth = depth.min(d - k0);
                            let accumulate = k0 > 0;
                            let mut r0 = first;
                            while r0 < last {
                                let height = TILE_ROWS.min(last - r0);
                                // SAFETY: panel p < panel_count, numbers k0 ..
                                // k0 + depth <= d of rows r0 .. r0 + height <= last <= b;
                                // `out` is written at rows below b and (masked)
                                // queries below m.
                                unsafe {
                                    let panel = p_ptr.add(p * PANEL * d + k0 * PANEL);
                                    let x = r_ptr.add(r0 * d + k0);
                                    let o = o_ptr.add(r0 * m + q0);
                                    let args = (x, d, panel, depth, o, m, masks, accumulate);
                                    match height {
                                        // Common embedding widths as constants:
                                        // each broadcast then addresses its row
                                        // by displacement, with no arithmetic.
                                        14 => match d {
                                            128 => panel_tile::<14, 128>(args),
                                            256 => panel_tile::<14, 256>(args),
                                            384 => panel_tile::<14, 384>(args),
                                            512 => panel_tile::<14, 512>(args),
                                            768 => panel_tile::<14, 768>(args),
                                            1024 => panel_tile::<14, 1024>(args),
                                            1536 => panel_tile::<14, 1536>(args),
                                            _ => panel_tile::<14, 0>(args),
                                        },
                                        13 => panel_tile::<13, 0>(args),
                                        12 => panel_tile::<12, 0>(args),
                                        11 => panel_tile::<11, 0>(args),
                                        10 => panel_tile::<10, 0>(args),
                                        9 => panel_tile::<9, 0>(args),
                                        8 => panel_tile::<8, 0>(args),
                                        7 => panel_tile::<7, 0>(args),
                                        6 => panel_tile::<6, 0>(args),
                                        5 => panel_tile::<5, 0>(args),
                                        4 => panel_tile::<4, 0>(args),
                                        3 => panel_tile::<3, 0>(args),
                                        2 => panel_tile::<2, 0>(args),
                                        _ => panel_tile::<1, 0>(args),
                                    }
                                }
                                r0 += height;
                            }
                        }
                    }
                }
            }

            /// `(rows, row stride d, panel, depth, out, out stride m,
            /// lane masks of the two vectors, add to out)`.
            type TileArgs = (
                *const $float,
                usize,
                *const $float,
                usize,
                *mut $float,
                usize,
                [$mask; 2],
                bool,
            );

            /// Scores of `R` rows × one panel over `depth` numbers of `d`:
            /// `R × 2` accumulators; each step broadcasts one number of
            /// every row against two vectors of the panel. `STRIDE` is `d`
            /// when known at compile time (else 0), so that the rows are
            /// addressed by constant offsets.
            ///
            /// # Safety
            /// `rows` points at `R` rows of stride `d` with `depth`
            /// numbers each, `panel` at `depth · PANEL` numbers, `out` at
            /// `R` rows of stride `m` with the masked lanes writable.
            #[target_feature(enable = "avx512f")]
            #[inline]
            unsafe fn panel_tile<const R: usize, const STRIDE: usize>(
                (rows, d, panel, depth, out, m, masks, accumulate): TileArgs,
            ) {
                let mut acc = [[$setzero(); 2]; R];
                for k in 0..depth {
                    // SAFETY: k < depth: inside the panel and every row.
                    unsafe {
                        let low = $loadu(panel.add(k * PANEL));
                        let high = $loadu(panel.add(k * PANEL + LANES));
                        for (r, acc) in acc.iter_mut().enumerate() {
                            let x = $set1(*rows.add(r * if STRIDE > 0 { STRIDE } else { d } + k));
                            acc[0] = $fmadd(x, low, acc[0]);
                            acc[1] = $fmadd(x, high, acc[1]);
                        }
                    }
                }
                for (r, acc) in acc.iter().enumerate() {
                    for (h, (&a, &mask)) in acc.iter().zip(&masks).enumerate() {
                        // The second vector may start past the last query:
                        // its mask is then empty and nothing is touched.
                        let at = out.wrapping_add(r * m + h * LANES);
                        // SAFETY: the masks cover only queries below m of
                        // rows below b.
                        unsafe {
                            let sum = if accumulate {
                                $add($maskz_loadu(mask, at), a)
                            } else {
                                a
                            };
                            $mask_storeu(at, mask, sum);
                        }
                    }
                }
            }
        }
    };
}

#[cfg(target_arch = "x86_64")]
avx512_kernels!(
    avx512_f32,
    f32,
    __mmask16,
    lanes = 16,
    _mm512_setzero_ps,
    _mm512_set1_ps,
    _mm512_loadu_ps,
    _mm512_maskz_loadu_ps,
    _mm512_mask_storeu_ps,
    _mm512_fmadd_ps,
    _mm512_add_ps,
    _mm512_reduce_add_ps
);

#[cfg(target_arch = "x86_64")]
avx512_kernels!(
    avx512_f64,
    f64,
    __mmask8,
    lanes = 8,
    _mm512_setzero_pd,
    _mm512_set1_pd,
    _mm512_loadu_pd,
    _mm512_maskz_loadu_pd,
    _mm512_mask_storeu_pd,
    _mm512_fmadd_pd,
    _mm512_add_pd,
    _mm512_reduce_add_pd
);

/// [`Queries::screened_scores`]: the panel kernel of `avx512_f32` whose
/// last pass over `d` screens each tile of scores in registers.
#[cfg(target_arch = "x86_64")]
mod avx512_screen {
    use std::arch::x86_64::*;

    use super::{Bars, Passed};

    const LANES: usize = 16;
    /// Queries per panel, as packed by `pack_panels`.
    const PANEL: usize = 2 * LANES;
    /// Rows per register tile (as in `avx512_f32`).
    const TILE_ROWS: usize = 14;
    /// The longest chunk of `d` per pass (the panel's chunk stays in L1).
    const DEPTH: usize = 256;
    /// The most of a block of rows the panels pass over at once.
    const ROW_SLICE_BYTES: usize = 1024 * 1024;
    /// `8u`, with `u = 2⁻²⁴` the unit roundoff of `f32`.
    const SLACK: f32 = 4.0 * f32::EPSILON;

    /// The first `n` lanes.
    #[inline]
    fn lane_mask(n: usize) -> __mmask16 {
        if n >= LANES {
            __mmask16::MAX
        } else {
            ((1u32 << n) - 1) as __mmask16
        }
    }

    /// One tile's operands: `rows` at its first row and the pass's first
    /// number `k0` (row stride `d`), `panel` at number `k0` of its panel,
    /// `partial` at the tile's first row of the slice's partial sums
    /// (stride `PANEL`), added to the tile's sums when `accumulate`.
    #[derive(Clone, Copy)]
    struct Tile {
        rows: *const f32,
        d: usize,
        panel: *const f32,
        depth: usize,
        partial: *mut f32,
        accumulate: bool,
    }

    /// The screen of the last pass: the bars from the panel's first query
    /// and the tile's first row, the lanes of real queries, and the
    /// indices of the tile's first row and the panel's first query.
    struct Last<'p> {
        a: *const f32,
        a_abs: *const f32,
        c: *const f32,
        c_abs: *const f32,
        xn: *const f32,
        extra: *const f32,
        extra_abs: *const f32,
        masks: [__mmask16; 2],
        row: u32,
        query: u32,
        passed: &'p mut Vec<Passed>,
    }

    /// Rows per slice: the slice stays in L2 while every panel passes.
    pub fn slice_rows(d: usize) -> usize {
        super::rows_per_slice(ROW_SLICE_BYTES, d, std::mem::size_of::<f32>(), TILE_ROWS)
    }

    /// See [`super::Queries::screened_scores`].
    ///
    /// # Safety
    /// The CPU has AVX-512F; `panels` holds at least `ceil(m / PANEL) ·
    /// PANEL · d` numbers, `rows` `b · d`; the query bars hold `m`
    /// numbers and the row bars `b`; `b` and `m` fit in `u32`.
    #[allow(clippy::too_many_arguments)]
    #[target_feature(enable = "avx512f")]
    pub unsafe fn screened_scores(
        panels: &[f32],
        m: usize,
        d: usize,
        rows: &[f32],
        b: usize,
        bars: &Bars,
        scratch: &mut Vec<f32>,
        passed: &mut Vec<Passed>,
    ) {
        let panel_count = m.div_ceil(PANEL);
        let query_short = [bars.a, bars.a_abs, bars.c, bars.c_abs]
            .iter()
            .any(|v| v.len() < m);
        let row_short = [bars.xn, bars.extra, bars.extra_abs]
            .iter()
            .any(|v| v.len() < b);
        if panels.len() < panel_count * PANEL * d || rows.len() < b * d || query_short || row_short
        {
            return;
        }
        // Equal chunks of at most DEPTH (one empty chunk when d = 0).
        let chunks = d.div_ceil(DEPTH).max(1);
        let depth = d.div_ceil(chunks);
        let slice_rows = slice_rows(d);
        scratch.clear();
        scratch.resize(slice_rows.min(b) * PANEL, 0.0);
        let (p_ptr, r_ptr, s_ptr) = (panels.as_ptr(), rows.as_ptr(), scratch.as_mut_ptr());
        for first in (0..b).step_by(slice_rows) {
            let last_row = (first + slice_rows).min(b);
            for p in 0..panel_count {
                let q0 = p * PANEL;
                let valid = PANEL.min(m - q0);
                let masks = [lane_mask(valid), lane_mask(valid.saturating_sub(LANES))];
                let mut k0 = 0;
                loop {
                    let depth = depth.min(d - k0);
                    let is_last = k0 + depth >= d;
                    let mut r0 = first;
                    while r0 < last_row {
                        let height = TILE_ROWS.min(last_row - r0);
                        // SAFETY: panel p < panel_count, numbers k0 .. k0 +
                        // depth <= d of rows r0 .. r0 + height <= b; the
                        // partial sums of rows r0 - first .. + height <=
                        // slice_rows.min(b) of the scratch; the bars read
                        // at queries q0 .. (masked) below m and rows below b.
                        unsafe {
                            let operands = Tile {
                                rows: r_ptr.add(r0 * d + k0),
                                d,
                                panel: p_ptr.add(p * PANEL * d + k0 * PANEL),
                                depth,
                                partial: s_ptr.add((r0 - first) * PANEL),
                                accumulate: k0 > 0,
                            };
                            let mut last = is_last.then(|| Last {
                                a: bars.a.as_ptr().add(q0),
                                a_abs: bars.a_abs.as_ptr().add(q0),
                                c: bars.c.as_ptr().add(q0),
                                c_abs: bars.c_abs.as_ptr().add(q0),
                                xn: bars.xn.as_ptr().add(r0),
                                extra: bars.extra.as_ptr().add(r0),
                                extra_abs: bars.extra_abs.as_ptr().add(r0),
                                masks,
                                row: r0 as u32,
                                query: q0 as u32,
                                passed: &mut *passed,
                            });
                            let last = last.as_mut();
                            match height {
                                // Common embedding widths as constants, as
                                // in `avx512_f32::panel_scores`.
                                14 => match d {
                                    128 => screened_tile::<14, 128>(operands, last),
                                    256 => screened_tile::<14, 256>(operands, last),
                                    384 => screened_tile::<14, 384>(operands, last),
                                    512 => screened_tile::<14, 512>(operands, last),
                                    768 => screened_tile::<14, 768>(operands, last),
                                    1024 => screened_tile::<14, 1024>(operands, last),
                                    1536 => screened_tile::<14, 1536>(operands, last),
                                    _ => screened_tile::<14, 0>(operands, last),
                                },
                                13 => screened_tile::<13, 0>(operands, last),
                                12 => screened_tile::<12, 0>(operands, last),
                                11 => screened_tile::<11, 0>(operands, last),
                                10 => screened_tile::<10, 0>(operands, last),
                                9 => screened_tile::<9, 0>(operands, last),
                                8 => screened_tile::<8, 0>(operands, last),
                                7 => screened_tile::<7, 0>(operands, last),
                                6 => screened_tile::<6, 0>(operands, last),
                                5 => screened_tile::<5, 0>(operands, last),
                                4 => screened_tile::<4, 0>(operands, last),
                                3 => screened_tile::<3, 0>(operands, last),
                                2 => screened_tile::<2, 0>(operands, last),
                                _ => screened_tile::<1, 0>(operands, last),
                            }
                        }
                        r0 += height;
                    }
                    if is_last {
                        break;
                    }
                    k0 += depth;
                }
            }
        }
    }

    /// `R` rows × one panel over `depth` numbers (as `avx512_f32`'s
    /// `panel_tile`), plus the partial sums of the earlier passes; then
    /// either stored as partial sums or, on the last pass, screened.
    ///
    /// # Safety
    /// `tile.rows` points at `R` rows of stride `d` with `depth` numbers
    /// each, `tile.panel` at `depth · PANEL` numbers, `tile.partial` at
    /// `R · PANEL` writable numbers (readable when `accumulate`); `last`'s
    /// pointers as [`screen`] requires.
    #[target_feature(enable = "avx512f")]
    #[inline]
    unsafe fn screened_tile<const R: usize, const STRIDE: usize>(
        tile: Tile,
        last: Option<&mut Last>,
    ) {
        let Tile {
            rows,
            d,
            panel,
            depth,
            partial,
            accumulate,
        } = tile;
        let mut acc = [[_mm512_setzero_ps(); 2]; R];
        for k in 0..depth {
            // SAFETY: k < depth: inside the panel and every row.
            unsafe {
                let low = _mm512_loadu_ps(panel.add(k * PANEL));
                let high = _mm512_loadu_ps(panel.add(k * PANEL + LANES));
                for (r, acc) in acc.iter_mut().enumerate() {
                    let x = _mm512_set1_ps(*rows.add(r * if STRIDE > 0 { STRIDE } else { d } + k));
                    acc[0] = _mm512_fmadd_ps(x, low, acc[0]);
                    acc[1] = _mm512_fmadd_ps(x, high, acc[1]);
                }
            }
        }
        if accumulate {
            for (r, acc) in acc.iter_mut().enumerate() {
                for (h, a) in acc.iter_mut().enumerate() {
                    // SAFETY: inside the tile's R · PANEL partial sums.
                    *a = _mm512_add_ps(
                        unsafe { _mm512_loadu_ps(partial.add(r * PANEL + h * LANES)) },
                        *a,
                    );
                }
            }
        }
        match last {
            // SAFETY: as this function's contract.
            // By value: a borrow could keep the accumulators in memory
            // through the loop above.
            Some(last) => unsafe { screen(acc, last) },
            None => {
                for (r, acc) in acc.iter().enumerate() {
                    for (h, &a) in acc.iter().enumerate() {
                        // SAFETY: inside the tile's R · PANEL partial sums.
                        unsafe { _mm512_storeu_ps(partial.add(r * PANEL + h * LANES), a) };
                    }
                }
            }
        }
    }

    /// Appends to `last.passed` the pairs of the tile's scores `acc` that
    /// pass the screen of [`super::Queries::screened_scores`].
    ///
    /// # Safety
    /// The query bars of `last` are readable in the lanes of its masks,
    /// the row bars for `R` rows.
    #[target_feature(enable = "avx512f")]
    #[inline]
    unsafe fn screen<const R: usize>(acc: [[__m512; 2]; R], last: &mut Last) {
        let slack = _mm512_set1_ps(SLACK);
        let masks = last.masks;
        // SAFETY: masked loads read only the lanes of real queries.
        let [a, a_abs, c, c_abs] = [last.a, last.a_abs, last.c, last.c_abs].map(|v| unsafe {
            [
                _mm512_maskz_loadu_ps(masks[0], v),
                _mm512_maskz_loadu_ps(masks[1], v.wrapping_add(LANES)),
            ]
        });
        for (r, acc) in acc.iter().enumerate() {
            // SAFETY: r < R rows of the row bars.
            let (xn, extra, extra_abs) = unsafe {
                (
                    _mm512_set1_ps(*last.xn.add(r)),
                    _mm512_set1_ps(*last.extra.add(r)),
                    _mm512_set1_ps(*last.extra_abs.add(r)),
                )
            };
            for h in 0..2 {
                let bar = _mm512_fmadd_ps(c[h], xn, _mm512_add_ps(a[h], extra));
                let mag = _mm512_fmadd_ps(c_abs[h], xn, _mm512_add_ps(a_abs[h], extra_abs));
                let low = _mm512_fnmadd_ps(mag, slack, bar);
                // Not less than (true when either side is NaN).
                let mut keep = _mm512_mask_cmp_ps_mask::<_CMP_NLT_UQ>(masks[h], acc[h], low);
                if keep != 0 {
                    let mut scores = [0.0f32; LANES];
                    // SAFETY: LANES numbers into an array of LANES.
                    unsafe { _mm512_storeu_ps(scores.as_mut_ptr(), acc[h]) };
                    while keep != 0 {
                        let lane = keep.trailing_zeros() as usize;
                        last.passed.push(Passed {
                            row: last.row + r as u32,
                            query: last.query + (h * LANES + lane) as u32,
                            score: scores[lane],
                        });
                        keep &= keep - 1;
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Reproducible numbers in [-1, 1) of mixed magnitudes.
    fn numbers<S: From<f32>>(count: usize, seed: u64) -> Vec<S> {
        let mut state = seed
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (0..count)
            .map(|_| {
                state = state
                    .wrapping_mul(6364136223846793005)
                    .wrapping_add(1442695040888963407);
                let unit = (state >> 40) as f32 / (1u64 << 24) as f32 * 2.0 - 1.0;
                let scale = [1.0, 0.01, 100.0][(state >> 20) as usize % 3];
                S::from(unit * scale)
            })
            .collect()
    }

    /// Checks every kernel this CPU has against an `f64` reference:
    /// `|got - exact| <= gamma_d · Σ|q_i x_i|` with `gamma_d = d u / (1 - d u)`.
    fn check_shape<S>(m: usize, b: usize, d: usize, unit: f64)
    where
        S: ProductFloat + From<f32> + Into<f64> + std::fmt::Debug,
    {
        let queries: Vec<S> = numbers(m * d, (m * 7919 + b * 31 + d) as u64);
        let rows: Vec<S> = numbers(b * d, (m * 13 + b * 7 + d * 101) as u64);
        let gamma = d as f64 * unit / (1.0 - d as f64 * unit);
        for kernel in [Kernel::Gemm, Kernel::Dots, Kernel::Panels] {
            let Some(prepared) = Queries::with_kernel(&queries, m, d, kernel) else {
                continue;
            };
            let mut out = vec![S::from(f32::NAN); b * m];
            assert!(
                prepared.scores(&rows, b, &mut out),
                "{kernel:?} {m} {b} {d}"
            );
            for r in 0..b {
                for q in 0..m {
                    let (mut exact, mut magnitude) = (0.0f64, 0.0f64);
                    for i in 0..d {
                        let p = queries[q * d + i].into() * rows[r * d + i].into();
                        exact += p;
                        magnitude += p.abs();
                    }
                    let got: f64 = out[r * m + q].into();
                    // The f64 reference itself is off by far less than 1e-12 of this.
                    let bound = gamma * magnitude * (1.0 + 1e-9) + 1e-300;
                    assert!(
                        (got - exact).abs() <= bound,
                        "{kernel:?} m={m} b={b} d={d} r={r} q={q}: {got} vs {exact} (bound {bound})"
                    );
                }
            }
        }
    }

    /// [`check_shapes`] at every level this machine has (the panel kernel
    /// differs between AVX2 and AVX-512).
    fn check_all_shapes<S>(unit: f64)
    where
        S: ProductFloat + From<f32> + Into<f64> + std::fmt::Debug,
    {
        for level in cpu::test_levels() {
            cpu::with_level(level, || check_shapes::<S>(unit));
        }
    }

    fn check_shapes<S>(unit: f64)
    where
        S: ProductFloat + From<f32> + Into<f64> + std::fmt::Debug,
    {
        let edges = [0, 1, 2, 3, 4, 5, 7, 11, 12, 13, 16, 17, 24, 31, 32, 33, 40];
        for m in 0..=40 {
            for b in 0..=40 {
                for d in [0, 1, 7, 8, 9, 16, 17, 33] {
                    check_shape::<S>(m, b, d, unit);
                }
            }
        }
        for d in 0..=40 {
            for &m in &edges {
                for &b in &edges {
                    check_shape::<S>(m, b, d, unit);
                }
            }
        }
        for d in [255, 256, 257, 384, 768, 1000] {
            for (m, b) in [(1, 1), (1, 256), (3, 5), (10, 256), (33, 25), (40, 13)] {
                check_shape::<S>(m, b, d, unit);
            }
        }
    }

    #[test]
    fn f32_scores_within_the_rounding_bound() {
        check_all_shapes::<f32>(f64::from(f32::EPSILON) / 2.0);
    }

    #[test]
    fn f64_scores_within_the_rounding_bound() {
        check_all_shapes::<f64>(f64::EPSILON / 2.0);
    }

    #[test]
    fn avx512_kernels_agree_with_gemm() {
        let (m, b, d) = (37, 29, 389);
        let queries: Vec<f32> = numbers(m * d, 1);
        let rows: Vec<f32> = numbers(b * d, 2);
        let gemm = Queries::with_kernel(&queries, m, d, Kernel::Gemm).map(|q| {
            let mut out = vec![0.0f32; b * m];
            assert!(q.scores(&rows, b, &mut out));
            out
        });
        let gamma = 2.0 * d as f64 * f64::from(f32::EPSILON);
        for kernel in [Kernel::Dots, Kernel::Panels] {
            let (Some(prepared), Some(expected)) =
                (Queries::with_kernel(&queries, m, d, kernel), &gemm)
            else {
                continue;
            };
            let mut out = vec![0.0f32; b * m];
            assert!(prepared.scores(&rows, b, &mut out));
            for r in 0..b {
                for q in 0..m {
                    let magnitude: f64 = (0..d)
                        .map(|i| f64::from(queries[q * d + i] * rows[r * d + i]).abs())
                        .sum();
                    let gap = f64::from(out[r * m + q] - expected[r * m + q]).abs();
                    assert!(gap <= gamma * magnitude, "{kernel:?} r={r} q={q}");
                }
            }
        }
    }

    #[test]
    fn non_finite_numbers_propagate_as_in_a_plain_sum() {
        let (m, b, d) = (5, 6, 37);
        let mut queries: Vec<f32> = numbers(m * d, 3);
        let mut rows: Vec<f32> = numbers(b * d, 4);
        queries[d + 3] = f32::NAN; // query 1: NaN everywhere
        queries[2 * d + 36] = f32::INFINITY; // query 2: ±inf, or NaN against a zero
        rows[5] = 0.0; // row 0 hides query 2's infinity (inf · 0 = NaN)
        rows[d + 36] = 0.0;
        rows[2 * d + 10] = f32::INFINITY; // row 2: +inf and -inf with query 2
        rows[2 * d + 36] = -1.0;
        rows[3 * d + 20] = f32::NEG_INFINITY;
        for kernel in [Kernel::Gemm, Kernel::Dots, Kernel::Panels] {
            let Some(prepared) = Queries::with_kernel(&queries, m, d, kernel) else {
                continue;
            };
            let mut out = vec![0.0f32; b * m];
            assert!(prepared.scores(&rows, b, &mut out));
            for r in 0..b {
                for q in 0..m {
                    let plain: f32 = (0..d).map(|i| queries[q * d + i] * rows[r * d + i]).sum();
                    let got = out[r * m + q];
                    if plain.is_nan() {
                        assert!(got.is_nan(), "{kernel:?} r={r} q={q}: {got}");
                    } else if plain.is_infinite() {
                        assert_eq!(got, plain, "{kernel:?} r={r} q={q}");
                    } else {
                        assert!(got.is_finite(), "{kernel:?} r={r} q={q}: {got}");
                    }
                }
            }
        }
    }

    /// The fused screen lets through exactly the pairs its `f32` formula
    /// passes (same scores as `Queries::scores`), and every pair at or
    /// above the exact bar less `4.9u·M`: at each level with a panel
    /// kernel (AVX2, AVX-512).
    #[test]
    #[cfg_attr(
        not(target_arch = "x86_64"),
        ignore = "panel kernels exist on x86_64 only"
    )]
    fn screened_scores_match_the_screen_formula() {
        let levels: Vec<Level> = cpu::test_levels()
            .into_iter()
            .filter(|&l| l == Level::Avx2 || l == Level::Avx512)
            .collect();
        assert!(!levels.is_empty(), "no AVX2 on this x86_64 machine");
        for level in levels {
            cpu::with_level(level, check_screened_scores);
        }
    }

    fn check_screened_scores() {
        let u = f64::from(f32::EPSILON) / 2.0;
        let slack = 4.0 * f32::EPSILON;
        let mut shapes = Vec::new();
        for m in [16, 17, 24, 31, 32, 33, 45, 64, 70] {
            for b in [1, 5, 6, 7, 13, 14, 15, 29, 300] {
                for d in [0, 1, 7, 33, 128, 256, 257, 384] {
                    shapes.push((m, b, d));
                }
            }
        }
        shapes.push((40, 3000, 768));
        for (m, b, d) in shapes {
            let seed = (m * 7919 + b * 31 + d) as u64;
            let queries: Vec<f32> = numbers::<f32>(m * d, seed);
            let rows: Vec<f32> = numbers::<f32>(b * d, seed + 1);
            let Some(prepared) = Queries::with_kernel(&queries, m, d, Kernel::Panels) else {
                panic!("the panel kernel declined at level {:?}", cpu::level());
            };
            let mut expected_scores = vec![0.0f32; b * m];
            assert!(prepared.scores(&rows, b, &mut expected_scores));
            // Bars around the scores, so that about half the pairs pass;
            // some NaN and infinite bars.
            let mut a: Vec<f32> = numbers::<f32>(m, seed + 2)
                .iter()
                .map(|v| v * 0.1)
                .collect();
            let c: Vec<f32> = numbers::<f32>(m, seed + 3)
                .iter()
                .map(|v| v * 0.01)
                .collect();
            let xn: Vec<f32> = numbers::<f32>(b, seed + 4)
                .iter()
                .map(|v| v.abs() * 3.0)
                .collect();
            let mut extra: Vec<f32> = numbers::<f32>(b, seed + 5)
                .iter()
                .map(|v| v * 0.05)
                .collect();
            a[m / 2] = f32::NAN;
            a[m - 1] = f32::NEG_INFINITY;
            extra[b / 2] = f32::INFINITY;
            let a_abs: Vec<f32> = a.iter().map(|v| v.abs() + 1e-30).collect();
            let c_abs: Vec<f32> = c.iter().map(|v| v.abs()).collect();
            let extra_abs: Vec<f32> = extra.iter().map(|v| v.abs()).collect();
            let bars = Bars {
                a: &a,
                a_abs: &a_abs,
                c: &c,
                c_abs: &c_abs,
                xn: &xn,
                extra: &extra,
                extra_abs: &extra_abs,
            };
            let (mut scratch, mut passed) = (Vec::new(), Vec::new());
            assert!(prepared.screened_scores(&rows, b, &bars, &mut scratch, &mut passed));
            let mut got: Vec<(u32, u32, u32)> = passed
                .iter()
                .map(|p| (p.row, p.query, p.score.to_bits()))
                .collect();
            got.sort_unstable();
            let mut expected = Vec::new();
            for r in 0..b {
                for q in 0..m {
                    let s = expected_scores[r * m + q];
                    let bar = c[q].mul_add(xn[r], a[q] + extra[r]);
                    let mag = c_abs[q].mul_add(xn[r], a_abs[q] + extra_abs[r]);
                    let low = (-mag).mul_add(slack, bar);
                    let passes = s >= low || s.is_nan() || low.is_nan();
                    if passes {
                        expected.push((r as u32, q as u32, s.to_bits()));
                    }
                    let exact =
                        f64::from(a[q]) + f64::from(c[q]) * f64::from(xn[r]) + f64::from(extra[r]);
                    let size = f64::from(a[q]).abs()
                        + (f64::from(c[q]) * f64::from(xn[r])).abs()
                        + f64::from(extra[r]).abs();
                    if f64::from(s) >= exact - 4.9 * u * size {
                        assert!(passes, "m={m} b={b} d={d} r={r} q={q}: {s} dropped");
                    }
                }
            }
            assert_eq!(got, expected, "m={m} b={b} d={d}");
        }
        // Refused: too few queries for panels, or bars of the wrong length.
        let queries = numbers::<f32>(4 * 8, 1);
        let rows = numbers::<f32>(2 * 8, 2);
        let ones = [1.0f32; 4];
        let bars = Bars {
            a: &ones,
            a_abs: &ones,
            c: &ones,
            c_abs: &ones,
            xn: &ones[..2],
            extra: &ones[..2],
            extra_abs: &ones[..2],
        };
        let (mut scratch, mut passed) = (Vec::new(), Vec::new());
        if let Some(dots) = Queries::with_kernel(&queries, 4, 8, Kernel::Dots) {
            assert!(!dots.screened_scores(&rows, 2, &bars, &mut scratch, &mut passed));
        }
        if let Some(panels) = Queries::with_kernel(&queries, 4, 8, Kernel::Panels) {
            assert!(!panels.screened_scores(&rows, 3, &bars, &mut scratch, &mut passed));
            assert!(panels.screened_scores(&rows, 2, &bars, &mut scratch, &mut passed));
        }
    }

    #[test]
    fn wrong_lengths_are_refused() {
        let queries = [1.0f32; 6];
        assert!(Queries::new(&queries, 2, 4).is_none());
        for kernel in [Kernel::Gemm, Kernel::Dots, Kernel::Panels] {
            let Some(prepared) = Queries::with_kernel(&queries, 2, 3, kernel) else {
                continue;
            };
            let mut out = [7.0f32; 4];
            assert!(!prepared.scores(&[1.0; 5], 2, &mut out));
            assert!(!prepared.scores(&[1.0; 6], 2, &mut out[..3]));
            assert_eq!(out, [7.0; 4]);
        }
    }

    #[test]
    fn zero_length_vectors_score_zero() {
        for kernel in [Kernel::Gemm, Kernel::Dots, Kernel::Panels] {
            let Some(prepared) = Queries::<f64>::with_kernel(&[], 3, 0, kernel) else {
                continue;
            };
            let mut out = [7.0f64; 6];
            assert!(prepared.scores(&[], 2, &mut out));
            assert_eq!(out, [0.0; 6]);
        }
    }
}
