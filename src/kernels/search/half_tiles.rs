//! Exact Float16 search for a few queries: tiles of rows × queries scored
//! in `f32` registers, a proven screen, and the ranking of
//! [`HalfRanker`] for the pairs that pass it.
//!
//! The result is defined by [`HalfRanker`] (64 `f32` lanes, multiply then
//! add, the lanes added in `f64` by a fixed tree): the keys and scores
//! here are those of the row-by-row scan ([`super::codes::nearest_half_scan`])
//! and of the Float32-screened product path, bit for bit. What changes is
//! how rows are *dismissed*:
//!
//! 1. A tile of [`TILE_ROWS`] rows is widened (`vcvtph2ps` from 256-bit
//!    loads) into a small `f32` buffer, zero-padded to a multiple of 16,
//!    each row's `Σ x²` accumulated in the same pass.
//! 2. Against each group of up to [`TILE_QUERIES`] queries the tile's
//!    dot products are accumulated by FMA in 16 registers (one per pair)
//!    and reduced together by a transposing tree of `vpermt2ps` and adds.
//! 3. Each pair's fast score `s̃` is compared with a bar computed from its
//!    query's worst kept key; a pair below the bar cannot reach that top k
//!    (see `Bounds` for the derivation) and is dropped. The others are
//!    ranked by [`HalfRanker`] on the widened row (still in the buffer) and
//!    offered to [`TopK`], whose worst key then raises the bar.
//!
//! Rows are split into parts searched on several threads and merged
//! exactly (the kept set under a total order is unique), so the result
//! does not depend on the thread count or on which kernel ran.
//!
//! The AVX-512 kernel needs only AVX-512F; other CPUs take a portable
//! kernel with the same tiles (four rows against two queries at a time in
//! eight 8-lane sums, FMA where the level has it, compiled for AVX2 where
//! present), whose error bound the screen also covers.
//!
//! Measured on the 2-core Xeon (Sapphire Rapids class, shared with other
//! builds) with `cargo run --release --example half_bench`: 1M × 384
//! random Float16 rows, cosine, k = 10, two threads, wall / CPU seconds,
//! medians of 5 runs; the last column is the Float32 search's CPU time
//! over the tiled kernel's (the scan's in brackets):
//!
//! | queries | scan (before) | tiled | `nearest::<F16>` (product) | `nearest::<f32>` | Float32 / tiled |
//! |---|---|---|---|---|---|
//! | 1 | 0.067 / 0.132 | 0.041 / 0.081 | 0.094 / 0.185 | 0.123 / 0.241 | 2.97 (1.82) |
//! | 2 | 0.076 / 0.150 | 0.044 / 0.085 | 0.102 / 0.191 | 0.131 / 0.252 | 2.96 (1.68) |
//! | 4 | 0.105 / 0.199 | 0.050 / 0.096 | 0.110 / 0.204 | 0.137 / 0.264 | 2.76 (1.33) |
//! | 8 | 0.163 / 0.314 | 0.058 / 0.109 | 0.129 / 0.240 | 0.155 / 0.296 | 2.73 (0.94) |
//! | 12 | 0.235 / 0.444 | 0.103 / 0.134 | 0.254 / 0.272 | 0.176 / 0.326 | 2.44 (0.73) |
//! | 16 | 0.577 / 0.574 | 0.173 / 0.166 | 0.326 / 0.327 | 0.393 / 0.389 | 2.34 (0.68) |
//! | 32 | 1.275 / 1.312 | 0.188 / 0.355 | 0.168 / 0.326 | 0.409 / 0.401 | 1.13 (0.31) |
//!
//! (Where wall and CPU seconds are equal, one of the two cores was taken by
//! another process.) Repeated runs at 12 and 16 queries, with both cores
//! free or not, put the tiled kernel at 2.3–2.6× and 2.1–2.4× the Float32
//! search (CPU time; wall time 2.7× and 2.5× with both cores free). Before
//! its prefetches were spread over the FMA loop (all of a tile's lines at
//! once), 1.6–1.7×. Against the product path on the
//! same Float16 rows (`--example half_bench 1000000 384 M 5 noscan`, CPU
//! seconds): the tiled kernel is well ahead up to 24 queries (0.26 against
//! 0.34–0.38 at 20–24), the two are level within the machine's noise from
//! 28 to 48 (the product path best at 32, its panel width; the tiled
//! kernel slower from 28 on, when the padded queries, `m × d × 4` bytes,
//! no longer fit in the 48 KiB L1 cache beside the tile), and the product
//! path is ahead at 64 (0.50–0.61 against 0.72–0.89). With 768 and 1,024
//! numbers a row (400k rows) the tiled kernel is still ahead of the product
//! path at 16 queries (0.15 against 0.27, and 0.28 against 0.37) and level
//! at 24. Re-measured once the search's parts ran through
//! `search_in_parts` (wall seconds, tiled / product): 1M × 384, 28 queries
//! 0.106 / 0.135, 32: 0.118 / 0.131, 40: 0.143 / 0.195, and 48: 0.196 /
//! 0.151, where the product path screens on 8-bit codes; 400k × 768, 24
//! queries 0.084 / 0.109, 40: 0.131 / 0.153. The expression layer
//! therefore scans Float16 rows up to 47 queries.

#[cfg(target_arch = "x86_64")]
use crate::kernels::cpu::Level;
use crate::kernels::cpu::{self, Fused, Separate};
use crate::kernels::element::F16;
use crate::kernels::row_access::prefetch_row;

use super::codes::{f32_lanes_dot, half_rank_error, HalfRanker};
use super::topk::{search_in_parts, Metric, TopK, PART_ROWS};

/// Rows per tile.
pub const TILE_ROWS: usize = 4;
/// Queries per group (a tile holds `TILE_ROWS × TILE_QUERIES` sums, one
/// 16-lane register).
pub const TILE_QUERIES: usize = 4;
/// `f32` lanes of a register: rows and queries are padded to a multiple.
const LANES: usize = 16;

/// The tile kernel.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kernel {
    /// Multiply then add in portable code (vectorised by the compiler).
    Portable,
    /// AVX-512F: `vcvtph2ps`, FMA, a transposing reduction.
    #[cfg(target_arch = "x86_64")]
    Avx512,
}

impl Kernel {
    /// The fastest kernel this CPU runs.
    pub fn detect() -> Kernel {
        #[cfg(target_arch = "x86_64")]
        if cpu::at_least(Level::Avx512) {
            return Kernel::Avx512;
        }
        Kernel::Portable
    }

    /// This kernel if the CPU runs it, else the portable one.
    fn checked(self) -> Kernel {
        match self {
            #[cfg(target_arch = "x86_64")]
            Kernel::Avx512 if !cpu::at_least(Level::Avx512) => Kernel::Portable,
            kernel => kernel,
        }
    }

    /// Widens `row` (`d` numbers) onto `out` (`d16` numbers, the rest
    /// zeros) and returns its `Σ x²` in `f32`.
    fn widen(self, row: &[F16], out: &mut [f32], scratch: &mut Vec<f32>) -> f32 {
        match self {
            #[cfg(target_arch = "x86_64")]
            Kernel::Avx512 => {
                // SAFETY: the search runs `Kernel::Avx512` only after
                // `Kernel::checked` found AVX-512F on this CPU.
                unsafe { avx512::widen_row(row, out) }
            }
            Kernel::Portable => {
                super::codes::widen_f16(row, scratch);
                let n = scratch.len().min(out.len());
                out[..n].copy_from_slice(&scratch[..n]);
                out[n..].fill(0.0);
                portable::dot(out, out)
            }
        }
    }

    /// The sums of a tile: `out[r * TILE_QUERIES + j]` is row `r` of
    /// `rows` (`TILE_ROWS × d16`) times query `j` of `queries`
    /// (`count × d16`), for `j < count <= TILE_QUERIES`. Lengths that do
    /// not fit give NaN sums (which every screen lets through).
    ///
    /// The cache lines of `fetch` (rows needed soon) are asked for along
    /// the way.
    fn tile(
        self,
        rows: &[f32],
        queries: &[f32],
        count: usize,
        d16: usize,
        fetch: [&[F16]; TILE_ROWS],
        out: &mut [f32; 16],
    ) {
        if rows.len() < TILE_ROWS * d16 || queries.len() < count * d16 || !d16.is_multiple_of(LANES)
        {
            out.fill(f32::NAN);
            return;
        }
        match self {
            #[cfg(target_arch = "x86_64")]
            Kernel::Avx512 => {
                // SAFETY: AVX-512F (see `widen`); the lengths were checked above.
                unsafe {
                    match count {
                        1 => avx512::tile::<1>(rows, queries, d16, fetch, out),
                        2 => avx512::tile::<2>(rows, queries, d16, fetch, out),
                        3 => avx512::tile::<3>(rows, queries, d16, fetch, out),
                        _ => avx512::tile::<4>(rows, queries, d16, fetch, out),
                    }
                }
            }
            Kernel::Portable => {
                fetch.iter().for_each(|row| prefetch_row(row));
                #[cfg(target_arch = "x86_64")]
                if cpu::at_least(Level::Avx2) {
                    // SAFETY: the level has AVX2 and FMA.
                    unsafe { avx2::tile(rows, queries, count, d16, out) };
                    return;
                }
                if cpu::fused_mul_add() {
                    portable::tile(Fused, rows, queries, count, d16, out);
                } else {
                    portable::tile(Separate, rows, queries, count, d16, out);
                }
            }
        }
    }
}

impl Kernel {
    /// The lanes of a tile's `sums` (row `r`, query `j` at `4 r + j`) that
    /// may reach their query's top k: those not below the bar `alpha_j +
    /// beta_j · u_r + v_r`, NaN and infinite sums always (see [`Bounds`]).
    fn screen(
        self,
        sums: &[f32; 16],
        (alpha, beta): (&[f64], &[f64]),
        u: &[f64; 4],
        v: &[f64; 4],
    ) -> u16 {
        #[cfg(target_arch = "x86_64")]
        if self == Kernel::Avx512 && alpha.len() >= TILE_QUERIES && beta.len() >= TILE_QUERIES {
            // SAFETY: AVX-512F (see `widen`); `alpha` and `beta` hold at
            // least 4 numbers, as the kernel reads.
            return unsafe { avx512::screen(sums, alpha, beta, u, v) };
        }
        let mut pass = 0u16;
        for (lane, &sum) in sums.iter().enumerate() {
            let (r, j) = (lane / TILE_QUERIES, lane % TILE_QUERIES);
            let (Some(&a), Some(&b)) = (alpha.get(j), beta.get(j)) else {
                pass |= 1 << lane;
                continue;
            };
            let fast = f64::from(sum);
            let bar = a + b * u[r] + v[r];
            // NaN and infinities are never dropped.
            if !(fast < bar && fast > f64::NEG_INFINITY) {
                pass |= 1 << lane;
            }
        }
        pass
    }
}

/// The error bounds of the screen, for vectors of length `d`.
///
/// Notation: `x` the widened row, `q` the query (both exact `f32`
/// numbers), `s = Σ x_i q_i` exactly, `|x|`, `|q|` Euclidean norms, `u =
/// 2^-24`, `γ(n) = n u / (1 - n u)`.
///
/// * The fast sums. Each lane of the AVX-512 kernel adds `d16 / 16`
///   products by FMA (one rounding each), and the lanes are added by a
///   tree of depth 4; `Σ x²` likewise in four registers added in pairs,
///   then a `reduce_add` of 16 lanes (at most 2 + 15 roundings). The
///   portable kernel's tile rounds each product once (or not, by FMA where
///   the level has it), adds it along 8 lanes, then adds the 8 lanes in
///   order; its `Σ x²` adds along 16 lanes and a tree of depth 4. Either way a product meets at most `d + 48`
///   roundings, so `|s̃ - s| <= G Σ|x_i
///   q_i| + η_f <= G |x| |q| + η_f` with `G = γ(d + 48)`, and `|r̃ - |x|²|
///   <= G |x|²` (the squares of Float16 numbers are exact in `f32` and at
///   least 2^-48: no underflow). `η_f` is the underflow: a rounding whose
///   result is subnormal errs by at most 2^-150 absolutely, and there are
///   fewer than `2 d + 64` of them.
/// * The ranking. [`HalfRanker`]'s dot product `h` has `|h - s| <= H |x|
///   |q| + η_h` with `H =` [`half_rank_error`] (which the product path
///   also uses), and its cosine is within `H` of the exact one (norms
///   checked well above underflow); its `Σ (x - q)²` is within `H` of the
///   exact one relatively, plus `η_h`. When the lanes overflow it takes the
///   exact `f64` kernels, closer still. `η = (d + 64) 2^-148` covers
///   `η_f + η_h`.
/// * A fast sum that is not finite may hide an overflow: it is never
///   screened out.
///
/// Each bar below then follows from these bounds with every error term
/// *doubled*: the extra `(H + G) |x| |q| + 2η` is far beyond the few `f64`
/// roundings of the screen's own arithmetic in every case where the
/// comparison is close (the bar and `s̃` are then within a few `|x| |q|`
/// of each other), so those roundings cannot drop a row the exact test
/// keeps.
#[derive(Debug, Clone, Copy)]
struct Bounds {
    metric: Metric,
    /// `γ(d + 48)` in `f32`.
    g: f64,
    /// [`half_rank_error`].
    h: f64,
    /// The underflow allowance.
    eta: f64,
}

impl Bounds {
    fn new(metric: Metric, d: usize) -> Self {
        let unit = f64::from(f32::EPSILON) / 2.0;
        let n = (d + 48) as f64;
        Bounds {
            metric,
            g: n * unit / (1.0 - n * unit).max(0.5),
            h: half_rank_error(d),
            eta: (d as f64 + 64.0) * 2f64.powi(-148),
        }
    }

    /// The row's `(u, v)`: the bar of a pair is `alpha + beta · u + v`.
    ///
    /// `r̃` is the fast `Σ x²` (finite). `|x| <= xh = sqrt(r̃) (1 + G)`
    /// and `|x| >= sqrt(r̃) (1 - G)`.
    fn row(&self, row_sq: f64) -> (f64, f64) {
        let root = row_sq.sqrt();
        let xh = root * (1.0 + self.g);
        match self.metric {
            Metric::Dot => (xh, 0.0),
            Metric::Cosine => (root, 0.0),
            Metric::Euclidean => (xh, (row_sq - 2.0 * self.g * xh * xh) / 2.0),
        }
    }

    /// The query's `(alpha, beta)` for its worst kept key `t` (minus
    /// infinity until `k` are kept: nothing is dropped). `qn`, `qs`: the
    /// query's norm and `Σ q²` in `f64`.
    fn query(&self, t: f64, qn: f64, qs: f64) -> (f64, f64) {
        if !t.is_finite() {
            return (f64::NEG_INFINITY, 0.0);
        }
        let Bounds { g, h, eta, .. } = *self;
        match self.metric {
            // key <= h + η_h <= s̃ + (H + G) |x| |q| + 2η: drop when
            // s̃ < t - 2 (H + G) qn xh - 4η.
            Metric::Dot => (t - 4.0 * eta, -2.0 * (h + g) * qn),
            // key <= c + H and c = s / (|x| |q|) <= (s̃ + η) / (|x| |q|) + G:
            // drop when s̃ + η < (t - S) |x| |q|, S = H + G. With a = (t -
            // 2S) qn and |x| within sqrt(r̃) (1 ± G), (t - 2S) qn |x| >=
            // sqrt(r̃) (a - G |a|): drop when s̃ < sqrt(r̃) (a - 2G |a|) - 2η.
            Metric::Cosine => {
                let a = (t - 2.0 * (h + g)) * qn;
                (-2.0 * eta, a - 2.0 * g * a.abs())
            }
            // key = -sqrt(ss_h) with ss_h >= ss (1 - H) - η and ss = r + qs
            // - 2s >= r̃ + qs - 2s̃ - G (|x| + |q|)² - 2η. Drop when that
            // lower bound exceeds t² (then -sqrt(ss_h) < t), i.e. with the
            // doubled terms and T = t² (1 + 2^-30):
            // 2s̃ < r̃ + qs - 2G (xh + qn)² - 4η - (T + η) / (1 - H),
            // split into the query's alpha + beta xh and the row's v.
            Metric::Euclidean => {
                let big_t = t * t * (1.0 + 2f64.powi(-30));
                let alpha =
                    (qs - 2.0 * g * qs - 4.0 * eta - (big_t + eta) / (1.0 - h).max(0.5)) / 2.0;
                (alpha, -2.0 * g * qn)
            }
        }
    }
}

/// A query prepared for the screen.
struct Query<'q> {
    ranker: HalfRanker<'q>,
    /// `|q|` and `Σ q²` in `f64`.
    norm: f64,
    sq: f64,
    /// Never screened: every pair is ranked (a query of another length, a
    /// non-finite one, or for cosine one [`HalfRanker`] does not score in
    /// lanes: zero or tiny).
    always: bool,
}

/// The `k` best Float16 rows for each of `m` queries (`queries`: `m × d`,
/// as Float32), as `(position, score)` best first, ties to the lower
/// position: the result of [`super::codes::nearest_half_scan`], bit for
/// bit, by the tiled kernel this CPU runs best.
pub fn nearest_half_tiled(
    queries: &[f32],
    m: usize,
    d: usize,
    k: usize,
    metric: Metric,
    rows: &[(u32, &[F16])],
) -> Vec<Vec<(u32, f64)>> {
    nearest_half_with(Kernel::detect(), queries, m, d, k, metric, rows)
}

/// [`nearest_half_tiled`] with a given kernel (the portable one where the
/// CPU lacks the instructions of the kernel asked for).
pub fn nearest_half_with(
    kernel: Kernel,
    queries: &[f32],
    m: usize,
    d: usize,
    k: usize,
    metric: Metric,
    rows: &[(u32, &[F16])],
) -> Vec<Vec<(u32, f64)>> {
    let kernel = kernel.checked();
    let d16 = d.next_multiple_of(LANES);
    let bounds = Bounds::new(metric, d);
    let prepared: Vec<Query<'_>> = (0..m)
        .map(|q| {
            let query = queries.get(q * d..(q + 1) * d).unwrap_or(&[]);
            let ranker = HalfRanker::new(metric, query);
            let sq: f64 = query.iter().map(|&v| f64::from(v) * f64::from(v)).sum();
            let lanes_sq = f32_lanes_dot(query, query);
            let fine = lanes_sq.is_finite() && lanes_sq >= f64::from(f32::MIN_POSITIVE) * 1e6;
            let always = query.len() != d || !sq.is_finite() || (metric == Metric::Cosine && !fine);
            Query {
                ranker,
                norm: sq.sqrt(),
                sq,
                always,
            }
        })
        .collect();
    // The queries zero-padded to `d16`, in groups of `TILE_QUERIES`.
    let mut padded = vec![0.0f32; m * d16];
    for (q, out) in padded.chunks_exact_mut(d16.max(1)).enumerate().take(m) {
        if let Some(query) = queries.get(q * d..(q + 1) * d) {
            out[..d].copy_from_slice(query);
        }
    }
    let search = Search {
        kernel,
        metric,
        m,
        d,
        d16,
        k,
        bounds,
        queries: &prepared,
        padded: &padded,
    };
    let part = (rows.len() / (4 * rayon::current_num_threads()))
        .max(PART_ROWS)
        .next_multiple_of(TILE_ROWS);
    search_in_parts(rows, part, m, k, |part| Some(search.part(part))).unwrap_or_default()
}

/// How a row of a tile is ranked.
#[derive(Debug, Clone, Copy)]
enum RowKind {
    /// Screened.
    Screened,
    /// Ranked for every query: NaN or infinity in the row.
    Always,
    /// A zero row under cosine: key and score 0 for every query, as
    /// [`HalfRanker`] gives.
    Zero,
    /// A row of another length: ranked as the scan ranks it.
    OtherLength,
    /// No row (past the end of the part).
    Absent,
}

struct Search<'a, 'q> {
    kernel: Kernel,
    metric: Metric,
    m: usize,
    d: usize,
    d16: usize,
    k: usize,
    bounds: Bounds,
    queries: &'a [Query<'q>],
    padded: &'a [f32],
}

/// A part's state: each query's top k and bar.
struct PartState {
    tops: Vec<TopK>,
    alpha: Vec<f64>,
    beta: Vec<f64>,
}

impl Search<'_, '_> {
    fn part(&self, part: &[(u32, &[F16])]) -> Vec<TopK> {
        let (m, d, d16) = (self.m, self.d, self.d16);
        // The bars of padding queries (past `m`) are never read: their
        // lanes are masked out.
        let m4 = m.next_multiple_of(TILE_QUERIES);
        let mut state = PartState {
            tops: (0..m).map(|_| TopK::new(self.k)).collect(),
            alpha: vec![f64::NEG_INFINITY; m4],
            beta: vec![0.0; m4],
        };
        let mut buffer = vec![0.0f32; TILE_ROWS * d16];
        let mut scratch = Vec::new();
        let mut sums = [0.0f32; 16];
        for (t, tile) in part.chunks(TILE_ROWS).enumerate() {
            // Rows two tiles ahead are fetched while this one is scored,
            // spread over the groups of queries (row `r` by group `r mod
            // groups`) and their lines over each tile's FMA loop.
            let ahead = part.get((t + 2) * TILE_ROWS..).unwrap_or(&[]);
            let groups = m.div_ceil(TILE_QUERIES).max(1);
            let mut kinds = [RowKind::Absent; TILE_ROWS];
            // The rows' own `Σ x²` in HalfRanker's lanes, when needed.
            let mut lanes_sq: [Option<f64>; TILE_ROWS] = [None; TILE_ROWS];
            // Each screened row's `(u, v)` (see `Bounds::row`), and the
            // lanes of the tile's sums that belong to screened rows.
            let (mut u, mut v) = ([0.0f64; TILE_ROWS], [0.0f64; TILE_ROWS]);
            let mut screened: u16 = 0;
            for (r, kind) in kinds.iter_mut().enumerate() {
                let (Some(&(_, row)), Some(out)) =
                    (tile.get(r), buffer.get_mut(r * d16..(r + 1) * d16))
                else {
                    break;
                };
                if row.len() != d {
                    *kind = RowKind::OtherLength;
                    continue;
                }
                let sq = f64::from(self.kernel.widen(row, out, &mut scratch));
                *kind = if !sq.is_finite() {
                    RowKind::Always
                } else if sq == 0.0 && self.metric == Metric::Cosine {
                    RowKind::Zero
                } else {
                    (u[r], v[r]) = self.bounds.row(sq);
                    screened |= 0xf << (TILE_QUERIES * r);
                    RowKind::Screened
                };
            }
            for q0 in (0..m).step_by(TILE_QUERIES) {
                let count = (m - q0).min(TILE_QUERIES);
                let group = &self.padded[q0 * d16..(q0 + count) * d16];
                let g = q0 / TILE_QUERIES;
                let fetch: [&[F16]; TILE_ROWS] = std::array::from_fn(|i| {
                    let r = g + i * groups;
                    ahead
                        .get(r)
                        .filter(|_| r < TILE_ROWS)
                        .map_or(&[][..], |&(_, row)| row)
                });
                self.kernel
                    .tile(&buffer, group, count, d16, fetch, &mut sums);
                let in_group = 0x1111u16 * ((1u16 << count) - 1);
                let bars = (
                    &state.alpha[q0..q0 + TILE_QUERIES],
                    &state.beta[q0..q0 + TILE_QUERIES],
                );
                let mut pass = self.kernel.screen(&sums, bars, &u, &v) & screened & in_group;
                while pass != 0 {
                    let lane = pass.trailing_zeros() as usize;
                    pass &= pass - 1;
                    let (r, q) = (lane / TILE_QUERIES, q0 + lane % TILE_QUERIES);
                    self.rank(&mut state, q, tile[r], &buffer, r, &mut lanes_sq[r]);
                }
            }
            for (r, kind) in kinds.iter().enumerate() {
                match kind {
                    RowKind::Screened | RowKind::Absent => {}
                    RowKind::Zero => {
                        for q in 0..m {
                            self.push(&mut state, q, 0.0, tile[r].0, 0.0);
                        }
                    }
                    RowKind::Always => {
                        for q in 0..m {
                            self.rank(&mut state, q, tile[r], &buffer, r, &mut lanes_sq[r]);
                        }
                    }
                    RowKind::OtherLength => {
                        for q in 0..m {
                            let (position, row) = tile[r];
                            let ranker = &self.queries[q].ranker;
                            let (key, score) = ranker.rank_half(row, &mut scratch);
                            self.push(&mut state, q, key, position, score);
                        }
                    }
                }
            }
        }
        state.tops
    }

    /// Ranks row `r` of the tile (widened in `buffer`) for query `q`.
    fn rank(
        &self,
        state: &mut PartState,
        q: usize,
        (position, _): (u32, &[F16]),
        buffer: &[f32],
        r: usize,
        lanes_sq: &mut Option<f64>,
    ) {
        let wide = &buffer[r * self.d16..r * self.d16 + self.d];
        let ranker = &self.queries[q].ranker;
        let row_sq = if ranker.needs_row_sq() {
            *lanes_sq.get_or_insert_with(|| f32_lanes_dot(wide, wide))
        } else {
            0.0
        };
        let (key, score) = ranker.rank(wide, row_sq);
        self.push(state, q, key, position, score);
    }

    /// Offers a ranked row to query `q`'s top k and raises its bar.
    fn push(&self, state: &mut PartState, q: usize, key: f64, position: u32, score: f64) {
        let top = &mut state.tops[q];
        let before = top.worst_key();
        top.push(key, position, score);
        let t = top.worst_key();
        if t.to_bits() != before.to_bits() {
            let query = &self.queries[q];
            (state.alpha[q], state.beta[q]) = if query.always {
                (f64::NEG_INFINITY, 0.0)
            } else {
                self.bounds.query(t, query.norm, query.sq)
            };
        }
    }
}

mod portable {
    use crate::kernels::cpu::MulAdd;

    use super::{TILE_QUERIES, TILE_ROWS};

    /// Numbers per accumulator of [`tile`].
    const TILE_LANES: usize = 8;

    crate::by_level! {
        [avx512, avx2]
        /// The sums of a tile (see `Kernel::tile`; its lengths checked):
        /// the four rows against two queries at a time, eight sums of eight
        /// lanes in registers (of AVX2's sixteen), each number of the rows
        /// and queries loaded once per pass.
        pub(super) fn tile<M: MulAdd>(
            _mode: M,
            rows: &[f32],
            queries: &[f32],
            count: usize,
            d16: usize,
            out: &mut [f32; 16]
        ) {
            out.fill(0.0);
            let row = |r: usize| rows.get(r * d16..(r + 1) * d16).unwrap_or(&[]).as_chunks::<TILE_LANES>().0;
            let rows = [row(0), row(1), row(2), row(3)];
            for j0 in (0..count.min(TILE_QUERIES)).step_by(2) {
                let query = |j: usize| queries.get(j * d16..(j + 1) * d16).unwrap_or(&[]).as_chunks::<TILE_LANES>().0;
                // An odd last query is paired with itself.
                let pair = [query(j0), query((j0 + 1).min(count - 1))];
                let mut acc = [[[0.0f32; TILE_LANES]; 2]; TILE_ROWS];
                let steps = rows[0].iter().zip(rows[1]).zip(rows[2]).zip(rows[3]).zip(pair[0]).zip(pair[1]);
                for (((((x0, x1), x2), x3), q0), q1) in steps {
                    for (a, x) in acc.iter_mut().zip([x0, x1, x2, x3]) {
                        for (a, q) in a.iter_mut().zip([q0, q1]) {
                            for l in 0..TILE_LANES {
                                a[l] = M::mul_add(x[l], q[l], a[l]);
                            }
                        }
                    }
                }
                for (r, a) in acc.iter().enumerate() {
                    for (j, lanes) in a.iter().enumerate().take(count - j0) {
                        out[r * TILE_QUERIES + j0 + j] = lanes.iter().sum();
                    }
                }
            }
        }
    }

    crate::by_level! {
        [avx512, avx2]
        /// `Σ a·b` in 16 lanes (multiply, then add), the lanes added by a
        /// tree of depth 4.
        pub(super) fn dot<>(a: &[f32], b: &[f32]) -> f32 {
            let mut lanes = [0.0f32; super::LANES];
            for (x, y) in a
                .chunks_exact(super::LANES)
                .zip(b.chunks_exact(super::LANES))
            {
                for l in 0..super::LANES {
                    lanes[l] += x[l] * y[l];
                }
            }
            let mut width = super::LANES / 2;
            while width > 0 {
                for l in 0..width {
                    lanes[l] += lanes[l + width];
                }
                width /= 2;
            }
            lanes[0]
        }
    }
}

#[cfg(target_arch = "x86_64")]
mod avx2 {
    use std::arch::x86_64::*;

    use super::{TILE_QUERIES, TILE_ROWS};

    /// `portable::tile` in AVX2 registers: the four rows against two
    /// queries at a time, eight sums of eight lanes, FMA; each sum's lanes
    /// then added in order.
    ///
    /// # Safety
    /// The CPU has AVX2 and FMA.
    #[target_feature(enable = "avx2,fma")]
    pub(super) unsafe fn tile(
        rows: &[f32],
        queries: &[f32],
        count: usize,
        d16: usize,
        out: &mut [f32; 16],
    ) {
        out.fill(0.0);
        let row = |r: usize| {
            rows.get(r * d16..(r + 1) * d16)
                .unwrap_or(&[])
                .as_chunks::<8>()
                .0
        };
        let x = [row(0), row(1), row(2), row(3)];
        let steps = x.iter().map(|r| r.len()).min().unwrap_or(0);
        for j0 in (0..count.min(TILE_QUERIES)).step_by(2) {
            let query = |j: usize| {
                queries
                    .get(j * d16..(j + 1) * d16)
                    .unwrap_or(&[])
                    .as_chunks::<8>()
                    .0
            };
            // An odd last query is paired with itself.
            let q = [query(j0), query((j0 + 1).min(count - 1))];
            let steps = steps.min(q[0].len()).min(q[1].len());
            let mut acc = [[_mm256_setzero_ps(); 2]; TILE_ROWS];
            for i in 0..steps {
                // SAFETY: `i < steps`, within every chunk slice; unaligned loads.
                let (q0, q1) = unsafe {
                    (
                        _mm256_loadu_ps(q[0].as_ptr().add(i).cast()),
                        _mm256_loadu_ps(q[1].as_ptr().add(i).cast()),
                    )
                };
                for (a, x) in acc.iter_mut().zip(&x) {
                    // SAFETY: as above.
                    let v = unsafe { _mm256_loadu_ps(x.as_ptr().add(i).cast()) };
                    a[0] = _mm256_fmadd_ps(v, q0, a[0]);
                    a[1] = _mm256_fmadd_ps(v, q1, a[1]);
                }
            }
            for (r, a) in acc.iter().enumerate() {
                for (j, &sum) in a.iter().enumerate().take(count - j0) {
                    let mut lanes = [0.0f32; 8];
                    // SAFETY: eight numbers into an array of eight.
                    unsafe { _mm256_storeu_ps(lanes.as_mut_ptr(), sum) };
                    out[r * TILE_QUERIES + j0 + j] = lanes.iter().sum();
                }
            }
        }
    }
}

#[cfg(target_arch = "x86_64")]
mod avx512 {
    use std::arch::x86_64::*;

    use super::{F16, LANES, TILE_QUERIES, TILE_ROWS};

    /// Widens `row` onto `out` (`out.len()` a multiple of 16, at least
    /// `row.len()`; the rest zeros) and returns `Σ x²` (FMA in four
    /// registers, added in pairs, then a 16-lane reduction).
    #[target_feature(enable = "avx512f")]
    pub(super) unsafe fn widen_row(row: &[F16], out: &mut [f32]) -> f32 {
        let d = row.len().min(out.len());
        let whole = d / LANES * LANES;
        let mut acc = [_mm512_setzero_ps(); 4];
        let mut i = 0;
        while i < whole {
            // SAFETY: `i + 16 <= whole <= d` elements of both slices; unaligned.
            let x = unsafe {
                let x = _mm512_cvtph_ps(_mm256_loadu_si256(row.as_ptr().add(i).cast::<__m256i>()));
                _mm512_storeu_ps(out.as_mut_ptr().add(i), x);
                x
            };
            let a = &mut acc[(i / LANES) % 4];
            *a = _mm512_fmadd_ps(x, x, *a);
            i += LANES;
        }
        for (o, x) in out[whole..].iter_mut().zip(&row[whole..d]) {
            *o = x.to_f32();
        }
        out[d..].fill(0.0);
        if whole + LANES <= out.len() && whole < d {
            // SAFETY: `whole + 16 <= out.len()`; unaligned load.
            let x = unsafe { _mm512_loadu_ps(out.as_ptr().add(whole)) };
            acc[0] = _mm512_fmadd_ps(x, x, acc[0]);
        }
        let pairs = [_mm512_add_ps(acc[0], acc[2]), _mm512_add_ps(acc[1], acc[3])];
        _mm512_reduce_add_ps(_mm512_add_ps(pairs[0], pairs[1]))
    }

    /// The sums of a tile (see `Kernel::tile`): `rows` holds `TILE_ROWS ×
    /// d16` numbers, `queries` `Q × d16`, `d16` a multiple of 16.
    #[target_feature(enable = "avx512f")]
    #[allow(clippy::needless_range_loop)] // rows × queries of registers
    pub(super) unsafe fn tile<const Q: usize>(
        rows: &[f32],
        queries: &[f32],
        d16: usize,
        fetch: [&[F16]; TILE_ROWS],
        out: &mut [f32; 16],
    ) {
        let mut acc = [[_mm512_setzero_ps(); Q]; TILE_ROWS];
        let (rp, qp) = (rows.as_ptr(), queries.as_ptr());
        // 16 Float16 numbers a step: a new cache line of each row of
        // `fetch` every other step.
        let fetch = fetch.map(|row| (row.as_ptr().cast::<i8>(), std::mem::size_of_val(row)));
        let mut c = 0;
        while c < d16 {
            for &(at, len) in &fetch {
                if 2 * c < len {
                    // SAFETY: a prefetch never faults; the address is inside the row.
                    unsafe { _mm_prefetch::<_MM_HINT_T0>(at.add(2 * c)) };
                }
            }
            // SAFETY: the caller checked `rows.len() >= TILE_ROWS * d16` and
            // `queries.len() >= Q * d16`; `c + 16 <= d16`. Unaligned loads.
            unsafe {
                let x = [
                    _mm512_loadu_ps(rp.add(c)),
                    _mm512_loadu_ps(rp.add(d16 + c)),
                    _mm512_loadu_ps(rp.add(2 * d16 + c)),
                    _mm512_loadu_ps(rp.add(3 * d16 + c)),
                ];
                for j in 0..Q {
                    let y = _mm512_loadu_ps(qp.add(j * d16 + c));
                    for r in 0..TILE_ROWS {
                        acc[r][j] = _mm512_fmadd_ps(x[r], y, acc[r][j]);
                    }
                }
            }
            c += LANES;
        }
        let mut v = [_mm512_setzero_ps(); TILE_ROWS * TILE_QUERIES];
        for r in 0..TILE_ROWS {
            for j in 0..Q {
                v[r * TILE_QUERIES + j] = acc[r][j];
            }
        }
        let sums = transpose_sum(v);
        // SAFETY: `out` holds 16 floats.
        unsafe { _mm512_storeu_ps(out.as_mut_ptr(), sums) };
    }

    /// `Kernel::screen` on AVX-512: the sums widened to `f64` in two
    /// registers (rows 0–1, rows 2–3), the bars by FMA. `alpha` and `beta`
    /// hold at least 4 numbers.
    #[target_feature(enable = "avx512f")]
    pub(super) unsafe fn screen(
        sums: &[f32; 16],
        alpha: &[f64],
        beta: &[f64],
        u: &[f64; 4],
        v: &[f64; 4],
    ) -> u16 {
        // SAFETY: `sums` holds 16 floats, `alpha` and `beta` at least 4.
        let (s, a, b) = unsafe {
            (
                _mm512_loadu_ps(sums.as_ptr()),
                _mm512_broadcast_f64x4(_mm256_loadu_pd(alpha.as_ptr())),
                _mm512_broadcast_f64x4(_mm256_loadu_pd(beta.as_ptr())),
            )
        };
        let low = _mm512_cvtps_pd(_mm512_castps512_ps256(s));
        let high = _mm512_cvtps_pd(_mm256_castpd_ps(_mm512_extractf64x4_pd(
            _mm512_castps_pd(s),
            1,
        )));
        let pair = |x: f64, y: f64| _mm512_setr_pd(x, x, x, x, y, y, y, y);
        let below = |sum: __m512d, u: __m512d, v: __m512d| {
            let bar = _mm512_add_pd(_mm512_fmadd_pd(b, u, a), v);
            let finite = _mm512_cmp_pd_mask::<_CMP_GT_OQ>(sum, _mm512_set1_pd(f64::NEG_INFINITY));
            _mm512_mask_cmp_pd_mask::<_CMP_LT_OQ>(finite, sum, bar)
        };
        let low_below = below(low, pair(u[0], u[1]), pair(v[0], v[1]));
        let high_below = below(high, pair(u[2], u[3]), pair(v[2], v[3]));
        // NaN compares false: not below, so it passes.
        !(u16::from(low_below) | (u16::from(high_below) << 8))
    }

    /// Lane `i` of the result is the sum of the lanes of `v[i]`: four
    /// levels, each halving the lanes per register and the registers
    /// (`vpermt2ps` twice and an add per output register).
    #[target_feature(enable = "avx512f")]
    fn transpose_sum(v: [__m512; 16]) -> __m512 {
        // Level 1: [a(8) | b(8)], lanes l and l + 8 added.
        let lo1 = _mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 16, 17, 18, 19, 20, 21, 22, 23);
        let hi1 = _mm512_setr_epi32(8, 9, 10, 11, 12, 13, 14, 15, 24, 25, 26, 27, 28, 29, 30, 31);
        // Level 2: each 8-lane half to 4 lanes.
        let lo2 = _mm512_setr_epi32(0, 1, 2, 3, 8, 9, 10, 11, 16, 17, 18, 19, 24, 25, 26, 27);
        let hi2 = _mm512_setr_epi32(4, 5, 6, 7, 12, 13, 14, 15, 20, 21, 22, 23, 28, 29, 30, 31);
        // Level 3: 4 lanes to 2.
        let lo3 = _mm512_setr_epi32(0, 1, 4, 5, 8, 9, 12, 13, 16, 17, 20, 21, 24, 25, 28, 29);
        let hi3 = _mm512_setr_epi32(2, 3, 6, 7, 10, 11, 14, 15, 18, 19, 22, 23, 26, 27, 30, 31);
        // Level 4: 2 lanes to 1.
        let lo4 = _mm512_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30);
        let hi4 = _mm512_setr_epi32(1, 3, 5, 7, 9, 11, 13, 15, 17, 19, 21, 23, 25, 27, 29, 31);
        let fold = |a: __m512, b: __m512, lo: __m512i, hi: __m512i| {
            _mm512_add_ps(
                _mm512_permutex2var_ps(a, lo, b),
                _mm512_permutex2var_ps(a, hi, b),
            )
        };
        let l1: [__m512; 8] = std::array::from_fn(|i| fold(v[2 * i], v[2 * i + 1], lo1, hi1));
        let l2: [__m512; 4] = std::array::from_fn(|i| fold(l1[2 * i], l1[2 * i + 1], lo2, hi2));
        let l3: [__m512; 2] = std::array::from_fn(|i| fold(l2[2 * i], l2[2 * i + 1], lo3, hi3));
        fold(l3[0], l3[1], lo4, hi4)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kernels::search::scans::nearest_half_scan;
    use crate::kernels::search::topk::rank_row;

    const METRICS: [Metric; 3] = [Metric::Cosine, Metric::Dot, Metric::Euclidean];

    /// Reproducible numbers in [-1, 1).
    fn numbers(count: usize, seed: u64) -> Vec<f32> {
        let mut state = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
        (0..count)
            .map(|_| {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                (state >> 40) as f32 / (1u64 << 23) as f32 - 1.0
            })
            .collect()
    }

    fn half(values: &[f32]) -> Vec<F16> {
        values
            .iter()
            .map(|&v| F16(half::f16::from_f32(v).to_bits()))
            .collect()
    }

    fn kernels() -> Vec<Kernel> {
        let mut all = vec![Kernel::Portable];
        if Kernel::detect() != Kernel::Portable {
            all.push(Kernel::detect());
        }
        all
    }

    fn indexed(data: &[F16], d: usize) -> Vec<(u32, &[F16])> {
        data.chunks_exact(d.max(1))
            .enumerate()
            .map(|(i, r)| (i as u32, r))
            .collect()
    }

    /// Every kernel gives the scan's result, bit for bit.
    fn check(
        queries: &[f32],
        m: usize,
        d: usize,
        k: usize,
        metric: Metric,
        rows: &[(u32, &[F16])],
    ) {
        let expected = nearest_half_scan(queries, m, d, k, metric, rows);
        for kernel in kernels() {
            let got = nearest_half_with(kernel, queries, m, d, k, metric, rows);
            assert_eq!(got.len(), expected.len());
            for (q, (g, e)) in got.iter().zip(&expected).enumerate() {
                let same = g.len() == e.len()
                    && g.iter()
                        .zip(e)
                        .all(|(a, b)| a.0 == b.0 && a.1.to_bits() == b.1.to_bits());
                assert!(
                    same,
                    "{kernel:?} {metric:?} d = {d} m = {m} k = {k} query {q}:\n{g:?}\n{e:?}"
                );
            }
        }
    }

    #[test]
    fn equals_the_scan_on_random_rows() {
        let n = 300;
        for d in [1, 3, 15, 16, 17, 100, 384] {
            let mut values = numbers(n * d, d as u64);
            // Duplicates (exact ties), a zero row, rows of other scales.
            let copy = values[5 * d..6 * d].to_vec();
            values[40 * d..41 * d].copy_from_slice(&copy);
            values[200 * d..201 * d].copy_from_slice(&copy);
            values[17 * d..18 * d].fill(0.0);
            for v in &mut values[50 * d..60 * d] {
                *v *= 1000.0;
            }
            for v in &mut values[60 * d..70 * d] {
                *v *= 1e-3;
            }
            let data = half(&values);
            let rows = indexed(&data, d);
            for m in [1, 2, 4, 5, 8, 13, 16] {
                let mut queries = numbers(m * d, 1000 + (m * d) as u64);
                // One query a copy of a row (a key of exactly the best).
                let row: Vec<f32> = data[5 * d..6 * d].iter().map(|x| x.to_f32()).collect();
                queries[..d].copy_from_slice(&row);
                for metric in METRICS {
                    for k in [1, 10, n + 7] {
                        check(&queries, m, d, k, metric, &rows);
                    }
                }
            }
        }
    }

    #[test]
    fn equals_an_f64_brute_force_on_small_integers() {
        // Small integers: every f32 sum is exact, so the keys are exactly
        // those of the f64 kernels on the same numbers.
        let (n, k) = (2000, 10);
        for d in [3, 17, 384] {
            let values: Vec<f32> = numbers(n * d, 7 + d as u64)
                .iter()
                .map(|v| (v * 8.0).round())
                .collect();
            let data = half(&values);
            let rows = indexed(&data, d);
            let m = 5;
            let queries: Vec<f32> = numbers(m * d, 99)
                .iter()
                .map(|v| (v * 8.0).round())
                .collect();
            for metric in METRICS {
                let got = nearest_half_tiled(&queries, m, d, k, metric, &rows);
                for (q, found) in got.iter().enumerate() {
                    let query: Vec<f64> = queries[q * d..(q + 1) * d]
                        .iter()
                        .map(|&v| f64::from(v))
                        .collect();
                    let mut top = TopK::new(k);
                    for (i, row) in values.chunks_exact(d).enumerate() {
                        let row: Vec<f64> = row.iter().map(|&v| f64::from(v)).collect();
                        let (key, score) = rank_row(metric, &row, &query);
                        top.push(key, i as u32, score);
                    }
                    assert_eq!(found, &top.into_sorted(), "{metric:?} d = {d} query {q}");
                }
            }
        }
    }

    #[test]
    fn near_ties_below_the_rounding_error_are_kept() {
        // Permutations of one vector: the same exact scores against a
        // constant query, so the kept rows are decided by rounding alone.
        let d = 384;
        let base = numbers(d, 3);
        let mut values = Vec::new();
        let mut order: Vec<usize> = (0..d).collect();
        let mut state = 12345u64;
        for _ in 0..3000 {
            for i in (1..d).rev() {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                order.swap(i, (state % (i as u64 + 1)) as usize);
            }
            values.extend(order.iter().map(|&i| base[i] * 37.0));
        }
        let data = half(&values);
        let rows = indexed(&data, d);
        let m = 3;
        let mut queries = vec![0.731f32; m * d];
        queries[d..2 * d].fill(-1.3);
        for (i, v) in queries[2 * d..].iter_mut().enumerate() {
            *v = if i % 2 == 0 { 0.3 } else { 0.29 };
        }
        for metric in METRICS {
            for k in [1, 10, 100] {
                check(&queries, m, d, k, metric, &rows);
            }
        }
    }

    #[test]
    fn zero_rows_zero_queries_and_non_finite_numbers() {
        let (n, d, m) = (500, 20, 4);
        let mut values = numbers(n * d, 5);
        for r in [0, 3, 4, 100, 499] {
            values[r * d..(r + 1) * d].fill(0.0);
        }
        values[7 * d + 3] = f32::NAN;
        values[9 * d] = f32::INFINITY;
        values[11 * d + 19] = f32::NEG_INFINITY;
        values[12 * d..13 * d].fill(f32::INFINITY);
        values[13 * d + 1] = 70000.0; // beyond Float16: infinity
        values[14 * d + 2] = 60000.0; // the largest finite Float16 numbers
        values[14 * d + 3] = -65504.0;
        values[15 * d + 4] = 1e-7; // subnormal Float16
        let data = half(&values);
        let rows = indexed(&data, d);
        let mut queries = numbers(m * d, 6);
        queries[d..2 * d].fill(0.0); // a zero query
        queries[2 * d + 5] = 1e-30; // tiny
        queries[2 * d + 6] = -3e-41; // subnormal Float32
        queries[3 * d..4 * d].iter_mut().for_each(|v| *v *= 1e35); // huge: products overflow
        for metric in METRICS {
            for k in [1, 5, 10, n + 1] {
                check(&queries, m, d, k, metric, &rows);
            }
        }
        // Every query non-finite, or tiny.
        let nan_queries = vec![f32::NAN; 2 * d];
        let tiny_queries = vec![1e-40f32; 2 * d];
        for metric in METRICS {
            check(&nan_queries, 2, d, 7, metric, &rows);
            check(&tiny_queries, 2, d, 7, metric, &rows);
        }
    }

    #[test]
    fn many_rows_split_into_parts() {
        // More than 2^14 rows: several parts on several threads.
        let (n, d, m) = (40_000, 16, 5);
        let mut values = numbers(n * d, 11);
        let copy = values[..d].to_vec();
        for r in [17_000, 33_000, 39_999] {
            values[r * d..(r + 1) * d].copy_from_slice(&copy);
        }
        let data = half(&values);
        let rows = indexed(&data, d);
        let queries = numbers(m * d, 12);
        for metric in METRICS {
            for k in [1, 10, 300] {
                check(&queries, m, d, k, metric, &rows);
            }
        }
        // Positions that skip (null rows left out) and a single thread.
        let sparse: Vec<(u32, &[F16])> = rows.iter().step_by(3).copied().collect();
        check(&queries, m, d, 10, Metric::Cosine, &sparse);
        let pool = rayon::ThreadPoolBuilder::new().num_threads(1).build();
        if let Ok(pool) = pool {
            pool.install(|| check(&queries, m, d, 10, Metric::Euclidean, &rows));
        }
    }

    #[test]
    fn identical_rows_tie_to_the_lower_position() {
        let (n, d) = (3000, 24);
        let row = numbers(d, 31);
        let values: Vec<f32> = (0..n).flat_map(|_| row.iter().copied()).collect();
        let data = half(&values);
        let rows = indexed(&data, d);
        let queries = numbers(2 * d, 32);
        for metric in METRICS {
            check(&queries, 2, d, 10, metric, &rows);
            let found = nearest_half_tiled(&queries, 2, d, 10, metric, &rows);
            let positions: Vec<u32> = found[0].iter().map(|&(i, _)| i).collect();
            assert_eq!(positions, (0..10).collect::<Vec<u32>>(), "{metric:?}");
        }
    }

    #[test]
    fn rows_of_another_length_and_short_queries() {
        let d = 8;
        let values = half(&numbers(40 * d, 21));
        let mut rows = indexed(&values, d);
        rows[3].1 = &values[..d - 2];
        rows[9].1 = &values[..d + 3];
        rows[10].1 = &[];
        let queries = numbers(3 * d - 5, 22); // the last query is short
        for metric in METRICS {
            check(&queries, 3, d, 6, metric, &rows);
        }
        check(&queries, 0, d, 6, Metric::Cosine, &rows);
        check(&queries, 2, d, 0, Metric::Dot, &rows);
        check(&queries, 2, d, 6, Metric::Dot, &[]);
        let empty: Vec<(u32, &[F16])> = (0..5).map(|i| (i, &values[..0])).collect();
        check(&[], 2, 0, 3, Metric::Euclidean, &empty);
    }
}
