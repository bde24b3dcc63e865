//! Dense matrix products: the general one of `project` (through the `gemm`
//! crate) and the score blocks of `nearest`, `out (b × m) = rows (b × d) ·
//! queriesᵀ`, where both operands are row-major along `d`.
//!
//! The `gemm` crate does not use AVX-512 on stable Rust, so on CPUs with
//! AVX-512F the scores come from two kernels of our own:
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

use gemm::{gemm, Parallelism};

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
}

impl ProductFloat for f32 {
    const ZERO: f32 = 0.0;
    const ONE: f32 = 1.0;
    const PANEL: usize = 32;

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
    /// AVX-512F on queries packed in panels (many queries).
    Panels,
}

/// From this many queries on, packing them in panels pays.
const PANEL_MIN_QUERIES: usize = 16;

impl Kernel {
    /// The fastest kernel this CPU runs for `m` queries.
    pub fn fastest(m: usize) -> Kernel {
        if !Kernel::Dots.available() {
            Kernel::Gemm
        } else if m < PANEL_MIN_QUERIES {
            Kernel::Dots
        } else {
            Kernel::Panels
        }
    }

    /// Whether this CPU runs the kernel.
    pub fn available(self) -> bool {
        match self {
            Kernel::Gemm => true,
            Kernel::Dots | Kernel::Panels => has_avx512f(),
        }
    }
}

fn has_avx512f() -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        // The standard library caches the CPU's answer.
        std::arch::is_x86_feature_detected!("avx512f")
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        false
    }
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
        Self::with_kernel(queries, m, d, Kernel::fastest(m))
    }

    /// As [`Queries::new`] with a chosen kernel; `None` also if this CPU
    /// lacks it.
    pub fn with_kernel(queries: &[S], m: usize, d: usize, kernel: Kernel) -> Option<Self> {
        if queries.len() != m * d || !kernel.available() {
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
            Kernel::Panels => {
                // SAFETY: as above, and `data` holds `ceil(m / PANEL)`
                // panels of PANEL × d numbers (built by `pack_panels`).
                unsafe { S::panel_scores(&self.data, m, d, rows, b, out) };
                true
            }
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
                let slice_rows = (ROW_SLICE_BYTES / (d * std::mem::size_of::<$float>()))
                    .max(1)
                    .next_multiple_of(TILE_ROWS);
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

    fn check_all_shapes<S>(unit: f64)
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
