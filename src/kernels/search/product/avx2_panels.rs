//! The Float32 panel kernel at the AVX2 level (AVX2 and FMA: 16 registers
//! of 8 lanes): [`super::Queries::scores`] and
//! [`super::Queries::screened_scores`] for queries packed in panels of 32
//! by `pack_panels`, on CPUs without AVX-512.
//!
//! A register tile is 6 rows × 16 queries (half a panel): twelve
//! accumulators, two vectors of the panel and one broadcast number, 15 of
//! the 16 registers. Each step broadcasts one number of each of the six
//! rows against two vectors of the panel: 12 FMAs for 8 loads, which both
//! FMA pipes of a Zen 3 or Haswell core can keep busy (the `gemm` crate's
//! kernel writes every score out, and the screen then reads them back).
//! As in the AVX-512 kernel, `d` is cut into chunks of at most 256 (half a
//! panel's chunk, 16 KiB, stays in L1), rows come in slices that stay in
//! L2 while every half panel passes over them, the last pass either writes
//! the scores or screens them in registers, and the common widths are
//! compile-time constants so every broadcast addresses its row by a
//! displacement.
//!
//! Every score is a sum of `d` products in Float32 (in chunks, with FMA),
//! so the screen's error bound holds as for the other kernels.
//!
//! Measured against the `gemm` crate plus the row-by-row screen it
//! replaces (`cargo run --release --example nearest_bench 100000 D
//! queries=…`, 2-core AMD EPYC Zen 3 at 2.45 GHz, the two runs
//! interleaved three times, CPU ms of the whole search): d = 128, 32 /
//! 100 / 200 / 2,000 queries 32–37 / 70–91 / 121–130 / 1,248–1,330
//! against 38–43 / 78–98 / 136–148 / 1,418–1,511; d = 384, 16 / 32
//! queries 50–55 / 74–76 against 58–69 / 80–95, and within the noise
//! from 100 queries on. Both run the FMA units at about 70% of their
//! peak there: from a few hundred queries on, the Float32 search on AVX2
//! is bound by multiply-adds, as faiss's BLAS is.

use std::arch::x86_64::*;

use super::{Bars, Passed};

const LANES: usize = 8;
/// Queries per panel, as `pack_panels` packs Float32 queries.
const PANEL: usize = 32;
/// Queries per register tile: half a panel, two vectors.
const HALF: usize = 2 * LANES;
/// Rows per register tile.
const TILE_ROWS: usize = 6;
/// The longest chunk of `d` per pass.
const DEPTH: usize = 256;
/// The most of a block of rows the half panels pass over at once (a
/// quarter of a Zen 3 core's L2; 256 KiB was slower at d = 128).
const ROW_SLICE_BYTES: usize = 128 * 1024;
/// `8u`, with `u = 2⁻²⁴` the unit roundoff of `f32` (see `screened_scores`).
const SLACK: f32 = 4.0 * f32::EPSILON;

/// Rows per slice: the slice stays in L2 while every half panel passes.
pub fn slice_rows(d: usize) -> usize {
    super::rows_per_slice(ROW_SLICE_BYTES, d, std::mem::size_of::<f32>(), TILE_ROWS)
}

/// What the last pass over `d` does with a tile's sums.
enum Finish<'a, 'b> {
    /// Writes them to `out`, `b × m` row-major.
    Store { out: &'a mut [f32], m: usize },
    /// Appends the pairs that pass the screen to `passed`.
    Screen {
        bars: &'a Bars<'b>,
        passed: &'a mut Vec<Passed>,
    },
}

/// `out (b × m) = rows · queriesᵀ` from queries packed in panels of 32.
///
/// # Safety
/// The CPU has AVX2 and FMA. (Lengths are checked: short slices write nothing.)
#[target_feature(enable = "avx2,fma")]
pub unsafe fn panel_scores(
    panels: &[f32],
    m: usize,
    d: usize,
    rows: &[f32],
    b: usize,
    out: &mut [f32],
) {
    if out.len() < b * m {
        return;
    }
    let mut scratch = Vec::new();
    // SAFETY: the CPU has AVX2 and FMA (this function's contract).
    unsafe {
        run(
            panels,
            m,
            d,
            rows,
            b,
            &mut scratch,
            Finish::Store { out, m },
        );
    }
}

/// See [`super::Queries::screened_scores`]: the same formula and the same
/// pairs as the AVX-512 kernel's screen.
///
/// # Safety
/// The CPU has AVX2 and FMA. (Lengths are checked: short bars pass nothing.)
#[allow(clippy::too_many_arguments)]
#[target_feature(enable = "avx2,fma")]
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
    let query_short = [bars.a, bars.a_abs, bars.c, bars.c_abs]
        .iter()
        .any(|v| v.len() < m);
    let row_short = [bars.xn, bars.extra, bars.extra_abs]
        .iter()
        .any(|v| v.len() < b);
    if query_short || row_short {
        return;
    }
    // SAFETY: the CPU has AVX2 and FMA (this function's contract).
    unsafe {
        run(
            panels,
            m,
            d,
            rows,
            b,
            scratch,
            Finish::Screen { bars, passed },
        )
    };
}

/// The bars of one half panel's queries, zero past the real ones.
struct HalfBars {
    a: [__m256; 2],
    a_abs: [__m256; 2],
    c: [__m256; 2],
    c_abs: [__m256; 2],
}

/// The loop over slices of rows, half panels, chunks of `d` and tiles.
///
/// # Safety
/// The CPU has AVX2 and FMA; a `Screen` finish's bars hold `m` query and
/// `b` row numbers.
#[target_feature(enable = "avx2,fma")]
unsafe fn run(
    panels: &[f32],
    m: usize,
    d: usize,
    rows: &[f32],
    b: usize,
    scratch: &mut Vec<f32>,
    mut finish: Finish,
) {
    let panel_count = m.div_ceil(PANEL);
    if panels.len() < panel_count * PANEL * d || rows.len() < b * d || b == 0 || m == 0 {
        return;
    }
    // Equal chunks of at most DEPTH (one empty chunk when d = 0).
    let chunks = d.div_ceil(DEPTH).max(1);
    let depth = d.div_ceil(chunks);
    let slice_rows = slice_rows(d);
    scratch.clear();
    if chunks > 1 {
        // Partial sums between the passes over `d`.
        scratch.resize(slice_rows.min(b) * HALF, 0.0);
    }
    let (p_ptr, r_ptr, s_ptr) = (panels.as_ptr(), rows.as_ptr(), scratch.as_mut_ptr());
    for first in (0..b).step_by(slice_rows) {
        let last_row = (first + slice_rows).min(b);
        for q0 in (0..m).step_by(HALF) {
            let valid = HALF.min(m - q0);
            let half_bars = match &finish {
                Finish::Screen { bars, .. } => Some(half_bars(bars, q0, valid)),
                Finish::Store { .. } => None,
            };
            // Number k of this half's queries sits at `panel + k · PANEL`.
            let panel_at = (q0 / PANEL) * PANEL * d + q0 % PANEL;
            let mut k0 = 0;
            loop {
                let depth = depth.min(d - k0);
                let is_last = k0 + depth >= d;
                let mut r0 = first;
                while r0 < last_row {
                    let height = TILE_ROWS.min(last_row - r0);
                    // SAFETY: the half panel's numbers k0 .. k0 + depth <= d
                    // (panel_at + (k0 + depth - 1) · PANEL + 15 is inside
                    // panel q0 / PANEL < panel_count); numbers k0 .. k0 +
                    // depth of rows r0 .. r0 + height <= b; the partial sums
                    // of rows r0 - first .. + height <= slice_rows.min(b)
                    // (only read or written when there are several passes).
                    let tile = unsafe {
                        Tile {
                            rows: r_ptr.add(r0 * d + k0),
                            d,
                            panel: p_ptr.add(panel_at + k0 * PANEL),
                            depth,
                            partial: s_ptr.wrapping_add((r0 - first) * HALF),
                            accumulate: k0 > 0,
                        }
                    };
                    let end = End {
                        is_last,
                        row: r0,
                        query: q0,
                        valid,
                        bars: half_bars.as_ref(),
                    };
                    // SAFETY: as above; `finish` holds `b × m` outputs or
                    // the bars of `m` queries and `b` rows.
                    unsafe {
                        match height {
                            6 => match d {
                                128 => tile_pass::<6, 128>(tile, &end, &mut finish),
                                256 => tile_pass::<6, 256>(tile, &end, &mut finish),
                                384 => tile_pass::<6, 384>(tile, &end, &mut finish),
                                512 => tile_pass::<6, 512>(tile, &end, &mut finish),
                                768 => tile_pass::<6, 768>(tile, &end, &mut finish),
                                1024 => tile_pass::<6, 1024>(tile, &end, &mut finish),
                                1536 => tile_pass::<6, 1536>(tile, &end, &mut finish),
                                _ => tile_pass::<6, 0>(tile, &end, &mut finish),
                            },
                            5 => tile_pass::<5, 0>(tile, &end, &mut finish),
                            4 => tile_pass::<4, 0>(tile, &end, &mut finish),
                            3 => tile_pass::<3, 0>(tile, &end, &mut finish),
                            2 => tile_pass::<2, 0>(tile, &end, &mut finish),
                            _ => tile_pass::<1, 0>(tile, &end, &mut finish),
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

/// The query bars of the half panel starting at query `q0` (`valid` real
/// queries), zero in the other lanes.
#[target_feature(enable = "avx2,fma")]
fn half_bars(bars: &Bars, q0: usize, valid: usize) -> HalfBars {
    let load = |v: &[f32]| {
        let mut lanes = [0.0f32; HALF];
        if let Some(src) = v.get(q0..q0 + valid) {
            lanes[..valid].copy_from_slice(src);
        }
        // SAFETY: two vectors of LANES numbers inside `lanes`.
        unsafe {
            [
                _mm256_loadu_ps(lanes.as_ptr()),
                _mm256_loadu_ps(lanes.as_ptr().add(LANES)),
            ]
        }
    };
    HalfBars {
        a: load(bars.a),
        a_abs: load(bars.a_abs),
        c: load(bars.c),
        c_abs: load(bars.c_abs),
    }
}

/// One tile's operands: `rows` at its first row and the pass's first
/// number `k0` (row stride `d`), `panel` at number `k0` of the half panel
/// (stride `PANEL`), `partial` at the tile's first row of the slice's
/// partial sums (stride `HALF`), added to the tile's sums when `accumulate`.
#[derive(Clone, Copy)]
struct Tile {
    rows: *const f32,
    d: usize,
    panel: *const f32,
    depth: usize,
    partial: *mut f32,
    accumulate: bool,
}

/// Where a tile sits, and whether this pass over `d` is the last.
struct End<'h> {
    is_last: bool,
    row: usize,
    query: usize,
    valid: usize,
    bars: Option<&'h HalfBars>,
}

/// `R` rows × 16 queries over `depth` numbers, plus the partial sums of
/// the earlier passes; then stored as partial sums or, on the last pass,
/// finished.
///
/// # Safety
/// `tile.rows` points at `R` rows of stride `d` with `depth` numbers each,
/// `tile.panel` at `depth` steps of `PANEL` numbers (16 read at each),
/// `tile.partial` at `R · HALF` writable numbers (readable when
/// `accumulate`); `finish` holds the outputs or bars of rows `end.row ..
/// end.row + R` and queries `end.query .. end.query + end.valid`.
#[target_feature(enable = "avx2,fma")]
#[inline]
unsafe fn tile_pass<const R: usize, const STRIDE: usize>(
    tile: Tile,
    end: &End,
    finish: &mut Finish,
) {
    let Tile {
        rows,
        d,
        panel,
        depth,
        partial,
        accumulate,
    } = tile;
    let stride = if STRIDE > 0 { STRIDE } else { d };
    let mut acc = [[_mm256_setzero_ps(); 2]; R];
    for k in 0..depth {
        // SAFETY: k < depth: inside the half panel and every row.
        unsafe {
            let low = _mm256_loadu_ps(panel.add(k * PANEL));
            let high = _mm256_loadu_ps(panel.add(k * PANEL + LANES));
            for (r, acc) in acc.iter_mut().enumerate() {
                let x = _mm256_broadcast_ss(&*rows.add(r * stride + k));
                acc[0] = _mm256_fmadd_ps(x, low, acc[0]);
                acc[1] = _mm256_fmadd_ps(x, high, acc[1]);
            }
        }
    }
    if accumulate {
        for (r, acc) in acc.iter_mut().enumerate() {
            for (h, a) in acc.iter_mut().enumerate() {
                // SAFETY: inside the tile's R · HALF partial sums.
                *a = _mm256_add_ps(
                    unsafe { _mm256_loadu_ps(partial.add(r * HALF + h * LANES)) },
                    *a,
                );
            }
        }
    }
    if !end.is_last {
        for (r, acc) in acc.iter().enumerate() {
            for (h, &a) in acc.iter().enumerate() {
                // SAFETY: inside the tile's R · HALF partial sums.
                unsafe { _mm256_storeu_ps(partial.add(r * HALF + h * LANES), a) };
            }
        }
        return;
    }
    match finish {
        Finish::Store { out, m } => store(&acc, end, out, *m),
        Finish::Screen { bars, passed } => {
            if let Some(half) = end.bars {
                // By value: a borrow could keep the accumulators in memory
                // through the loop above.
                screen(acc, end, half, bars, passed);
            }
        }
    }
}

/// Writes a finished tile's real queries into `out` (row stride `m`).
#[target_feature(enable = "avx2,fma")]
#[inline]
fn store<const R: usize>(acc: &[[__m256; 2]; R], end: &End, out: &mut [f32], m: usize) {
    for (r, acc) in acc.iter().enumerate() {
        let mut lanes = [0.0f32; HALF];
        for (h, &a) in acc.iter().enumerate() {
            // SAFETY: LANES numbers into the array of HALF at h · LANES.
            unsafe { _mm256_storeu_ps(lanes.as_mut_ptr().add(h * LANES), a) };
        }
        let at = (end.row + r) * m + end.query;
        if let Some(dst) = out.get_mut(at..at + end.valid) {
            dst.copy_from_slice(&lanes[..end.valid]);
        }
    }
}

/// Appends the pairs of a finished tile that pass the screen of
/// [`super::Queries::screened_scores`] (the formula of the AVX-512 kernel).
#[target_feature(enable = "avx2,fma")]
#[inline]
fn screen<const R: usize>(
    acc: [[__m256; 2]; R],
    end: &End,
    half: &HalfBars,
    bars: &Bars,
    passed: &mut Vec<Passed>,
) {
    let slack = _mm256_set1_ps(SLACK);
    let valid_bits = |h: usize| -> i32 {
        let lanes = end.valid.saturating_sub(h * LANES).min(LANES);
        ((1u32 << lanes) - 1) as i32
    };
    for (r, acc) in acc.iter().enumerate() {
        let row = end.row + r;
        let (Some(&xn), Some(&extra), Some(&extra_abs)) = (
            bars.xn.get(row),
            bars.extra.get(row),
            bars.extra_abs.get(row),
        ) else {
            continue;
        };
        let (xn, extra, extra_abs) = (
            _mm256_set1_ps(xn),
            _mm256_set1_ps(extra),
            _mm256_set1_ps(extra_abs),
        );
        for (h, &scores) in acc.iter().enumerate() {
            let bar = _mm256_fmadd_ps(half.c[h], xn, _mm256_add_ps(half.a[h], extra));
            let mag = _mm256_fmadd_ps(half.c_abs[h], xn, _mm256_add_ps(half.a_abs[h], extra_abs));
            let low = _mm256_fnmadd_ps(mag, slack, bar);
            // Not less than (true when either side is NaN).
            let keep = _mm256_cmp_ps::<_CMP_NLT_UQ>(scores, low);
            let mut keep = _mm256_movemask_ps(keep) & valid_bits(h);
            if keep != 0 {
                let mut lanes = [0.0f32; LANES];
                // SAFETY: LANES numbers into an array of LANES.
                unsafe { _mm256_storeu_ps(lanes.as_mut_ptr(), scores) };
                while keep != 0 {
                    let lane = keep.trailing_zeros() as usize;
                    passed.push(Passed {
                        row: row as u32,
                        query: (end.query + h * LANES + lane) as u32,
                        score: lanes[lane],
                    });
                    keep &= keep - 1;
                }
            }
        }
    }
}
