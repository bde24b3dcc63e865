//! MaxSim, the late-interaction score of ColBERT-style retrieval: for a
//! query of `n_q` token vectors and a document of `n_t` token vectors,
//! `Σ_j max_t q_j · x_t`.
//!
//! Every dot product of the score is the exact row kernel's
//! ([`vector::dot`]: `f64` accumulation in a fixed order), so a score does
//! not depend on the CPU level or on what else is searched. Float32 tokens
//! are screened first: all `n_q × n_t` products in Float32 (register tiles
//! of six document tokens × sixteen query tokens, any summation order, fused
//! multiply-adds where the CPU has them), each within a proven bound
//! of the exact one; for each query token only the document tokens whose
//! Float32 product could reach the largest one are scored exactly (usually
//! one). Float64 tokens are scored exactly throughout.
//!
//! NaN propagates: a NaN product makes its query token's maximum, and so
//! the score, NaN (as `np.max` does).

use super::cpu::{self, Fused, MulAdd, Separate};
use super::element::Element;
use super::vector;

/// A query of `n_q` token vectors of width `d`, prepared for scoring
/// many documents.
#[derive(Debug, Clone)]
pub struct MaxSimQuery<T> {
    tokens: Vec<T>,
    n_q: usize,
    d: usize,
    /// The tokens as Float32 in blocks of sixteen, `d`-major within a
    /// block: number `i` of token `16 b + l` at `(b · d + i) · 16 + l`,
    /// zero past `n_q` (see [`screen_tile`]).
    panel: Vec<f32>,
    padded: usize,
    /// Per query token, `bound · |q_j|`: with a document token's norm, how
    /// far a Float32 product may be from the exact one (see `screen_bound`).
    allowances: Vec<f32>,
}

impl<T: Element> MaxSimQuery<T> {
    /// `tokens` row-major, `n_q × d` (`None` if the length disagrees).
    pub fn new(tokens: Vec<T>, n_q: usize, d: usize) -> Option<Self> {
        if tokens.len() != n_q.checked_mul(d)? {
            return None;
        }
        let norms: Vec<f64> = tokens
            .chunks(d.max(1))
            .take(n_q)
            .map(|q| vector::dot(q, q).sqrt())
            .collect();
        let padded = n_q.next_multiple_of(PANEL_QUERIES);
        let mut panel = vec![0.0f32; padded * d];
        for (j, q) in tokens.chunks(d.max(1)).take(n_q).enumerate() {
            let (block, lane) = (j / PANEL_QUERIES, j % PANEL_QUERIES);
            for (i, &v) in q.iter().enumerate() {
                panel[(block * d + i) * PANEL_QUERIES + lane] = v.to_f64() as f32;
            }
        }
        let bound = screen_bound(d) as f32;
        let allowances = norms.iter().map(|&n| bound * n as f32).collect();
        Some(MaxSimQuery {
            tokens,
            n_q,
            d,
            panel,
            padded,
            allowances,
        })
    }

    pub fn width(&self) -> usize {
        self.d
    }

    fn token(&self, j: usize) -> &[T] {
        self.tokens.get(j * self.d..(j + 1) * self.d).unwrap_or(&[])
    }
}

/// A document's tokens, as a MaxSim score reads them: `n_t × d` numbers
/// row-major (a token the caller could not read is left out beforehand).
pub trait MaxSimToken: Element {
    /// The MaxSim score of `doc` (`n_t` tokens), `None` for no tokens.
    fn maxsim(query: &MaxSimQuery<Self>, doc: &[Self], scratch: &mut Scratch) -> Option<f64>;
}

/// Buffers reused from document to document.
#[derive(Debug, Default)]
pub struct Scratch {
    screen: Vec<f32>,
    norms: Vec<f32>,
    lows: Vec<f32>,
    candidates: Vec<u8>,
    best: Vec<f64>,
}

impl MaxSimToken for f64 {
    fn maxsim(query: &MaxSimQuery<f64>, doc: &[f64], _scratch: &mut Scratch) -> Option<f64> {
        let d = query.d;
        let n_t = doc.len().checked_div(d)?;
        if n_t == 0 {
            return None;
        }
        let mut score = 0.0;
        for j in 0..query.n_q {
            let q = query.token(j);
            let best = doc
                .chunks_exact(d)
                .map(|x| vector::dot(q, x))
                .fold(f64::NEG_INFINITY, nan_max);
            score += best;
        }
        Some(score)
    }
}

impl MaxSimToken for f32 {
    fn maxsim(query: &MaxSimQuery<f32>, doc: &[f32], scratch: &mut Scratch) -> Option<f64> {
        let (d, n_q, padded) = (query.d, query.n_q, query.padded);
        let n_t = doc.len().checked_div(d)?;
        if n_t == 0 {
            return None;
        }
        let Scratch {
            screen,
            norms,
            lows,
            candidates,
            best,
        } = scratch;
        // Every product of the screen and every mark is written below.
        screen.resize(screen.len().max(n_t * padded), 0.0);
        let screen = &mut screen[..n_t * padded];
        screen_products(&query.panel, padded, doc, n_t, d, screen);
        norms.clear();
        norms.extend(doc.chunks_exact(d).map(|x| square_sum(x).sqrt()));
        lows.clear();
        lows.resize(n_q, f32::NEG_INFINITY);
        candidates.resize(candidates.len().max(n_t * n_q), 0);
        let candidates = &mut candidates[..n_t * n_q];
        mark_candidates(screen, padded, norms, &query.allowances, lows, candidates);
        best.clear();
        best.resize(n_q, f64::NEG_INFINITY);
        for (t, marks) in candidates.chunks_exact(n_q).enumerate() {
            for (j, _) in marks.iter().enumerate().filter(|(_, &m)| m != 0) {
                let exact = vector::dot(query.token(j), &doc[t * d..(t + 1) * d]);
                best[j] = nan_max(best[j], exact);
            }
        }
        let score = best.iter().sum();
        Some(score)
    }
}

crate::by_level! {
    [avx512, avx2]
    /// Marks (1 in `marks[t · n_q + j]`) the pairs whose exact product may
    /// be the largest of query token `j`. Each Float32 product of `screen`
    /// (row `t` at `t · padded`) is within `allow_j · |x_t|` of the exact
    /// one (this test's own f32 rounding included), so the largest exact product is at least the
    /// largest lower bound `lows[j]` (NaN never raises it), and only the
    /// products whose upper bound reaches it (NaN and overflow included)
    /// need scoring exactly.
    fn mark_candidates<>(
        screen: &[f32],
        padded: usize,
        norms: &[f32],
        allow: &[f32],
        lows: &mut [f32],
        marks: &mut [u8]
    ) {
        let rows = || screen.chunks_exact(padded.max(1));
        for (row, &nx) in rows().zip(norms) {
            for ((low, &s), &a) in lows.iter_mut().zip(row).zip(allow) {
                let v = s - a * nx;
                *low = if v > *low { v } else { *low };
            }
        }
        let n_q = lows.len().max(1);
        for ((row, &nx), marks) in rows().zip(norms).zip(marks.chunks_exact_mut(n_q)) {
            for (((mark, &s), &a), &low) in marks.iter_mut().zip(row).zip(allow).zip(&*lows) {
                // NaN compares false: not below, so it is marked.
                *mark = u8::from((s + a * nx).partial_cmp(&low) != Some(std::cmp::Ordering::Less));
            }
        }
    }
}

/// The larger of `a` and `b`, NaN if either is.
#[inline]
fn nan_max(a: f64, b: f64) -> f64 {
    if a.is_nan() || b.is_nan() {
        f64::NAN
    } else {
        a.max(b)
    }
}

/// A bound, relative to `|q| |x|`, of the distance between a Float32
/// product of width `d` (any order, with or without FMA) and the exact
/// product, plus the exact kernel's own `f64` error: `γ_d` of each type.
fn screen_bound(d: usize) -> f64 {
    let gamma = |unit: f64| {
        let nu = d as f64 * unit;
        nu / (1.0 - nu).max(0.5)
    };
    // Doubled, plus room for the Float32 arithmetic of the test itself
    // (a few roundings of numbers below 2 |q| |x|) and of the norms.
    2.0 * (gamma(f64::from(f32::EPSILON) / 2.0) + gamma(f64::EPSILON / 2.0))
        + 16.0 * f64::from(f32::EPSILON)
}

crate::by_level! {
    [avx512, avx2]
    /// `Σ x_i²` in Float32, in lanes (a token's norm for the screen's
    /// allowance, whose margin covers this sum's rounding).
    fn square_sum<>(x: &[f32]) -> f32 {
        let (groups, tail) = x.as_chunks::<LANES>();
        let mut acc = [0.0f32; LANES];
        for g in groups {
            for l in 0..LANES {
                acc[l] += g[l] * g[l];
            }
        }
        acc.iter().sum::<f32>() + tail.iter().map(|v| v * v).sum::<f32>()
    }
}

/// Query tokens per lane group of the screen, and lane groups per tile.
const LANES: usize = 8;
const PANEL_QUERIES: usize = 2 * LANES;
/// Document tokens per tile: with two lane groups, twelve accumulators,
/// enough independent chains to keep both FMA pipes busy on AVX2's 16
/// registers.
const TILE_TOKENS: usize = 6;

/// `out[t · padded + j] = q_j · x_t` in Float32 (see [`screen_tile`]),
/// fused where the active level has FMA (AVX2 and up; aarch64's baseline).
fn screen_products(
    panel: &[f32],
    padded: usize,
    doc: &[f32],
    n_t: usize,
    d: usize,
    out: &mut [f32],
) {
    let fused = cpu::fused_mul_add();
    if d == 0 || panel.len() < padded * d || doc.len() < n_t * d || out.len() < n_t * padded {
        return;
    }
    for t0 in (0..n_t).step_by(TILE_TOKENS) {
        // The last tile repeats its last token.
        let tile: [&[f32]; TILE_TOKENS] = std::array::from_fn(|r| {
            let t = (t0 + r).min(n_t - 1);
            &doc[t * d..(t + 1) * d]
        });
        let rows = (n_t - t0).min(TILE_TOKENS);
        let out = &mut out[t0 * padded..];
        if fused {
            screen_tile(Fused, panel, padded, tile, rows, out);
        } else {
            screen_tile(Separate, panel, padded, tile, rows, out);
        }
    }
}

crate::by_level! {
    [avx512, avx2]
    /// `out[r · padded + j] = q_j · x_r` in Float32 for the first `rows`
    /// tokens of `tile` (six tokens of width `d`) and every query token of
    /// `panel` (blocks of sixteen, see [`MaxSimQuery`]): up to six tokens ×
    /// sixteen query tokens stay in registers while each number of the
    /// tokens is broadcast against the panel.
    fn screen_tile<M: MulAdd>(
        _mode: M,
        panel: &[f32],
        padded: usize,
        tile: [&[f32]; TILE_TOKENS],
        rows: usize,
        out: &mut [f32]
    ) {
        let d = tile[0].len();
        let [x0, x1, x2, x3, x4, x5] = tile;
        // One iterator over the six tokens' numbers: no bounds check per step.
        let numbers = || {
            x0.iter().zip(x1).zip(x2).zip(x3).zip(x4).zip(x5)
                .map(|(((((&a, &b), &c), &e), &f), &g)| [a, b, c, e, f, g])
        };
        for (b, block) in panel.chunks_exact((d * PANEL_QUERIES).max(1)).take(padded / PANEL_QUERIES).enumerate() {
            let (columns, _) = block.as_chunks::<PANEL_QUERIES>();
            // SSE2's 16 registers of 4 lanes hold half the tile's sums.
            let per_pass = if M::FUSED { TILE_TOKENS } else { TILE_TOKENS / 2 };
            for first in (0..TILE_TOKENS).step_by(per_pass) {
                let mut acc = [[0.0f32; PANEL_QUERIES]; TILE_TOKENS];
                for (p, x) in columns.iter().zip(numbers()) {
                    for (a, &x) in acc.iter_mut().zip(&x[first..]).take(per_pass) {
                        for l in 0..PANEL_QUERIES {
                            a[l] = M::mul_add(x, p[l], a[l]);
                        }
                    }
                }
                for (r, a) in acc.iter().enumerate().take(per_pass) {
                    if first + r >= rows {
                        break;
                    }
                    let base = (first + r) * padded + b * PANEL_QUERIES;
                    if let Some(slot) = out.get_mut(base..base + PANEL_QUERIES) {
                        slot.copy_from_slice(a);
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kernels::cpu;

    /// Σ_j max_t q_j · x_t with the exact kernel on every pair.
    fn reference<T: Element>(q: &[T], n_q: usize, doc: &[T], d: usize) -> Option<f64> {
        if doc.is_empty() {
            return None;
        }
        Some(
            (0..n_q)
                .map(|j| {
                    doc.chunks_exact(d)
                        .map(|x| vector::dot(&q[j * d..(j + 1) * d], x))
                        .fold(f64::NEG_INFINITY, nan_max)
                })
                .sum(),
        )
    }

    fn numbers(count: usize, seed: usize) -> Vec<f32> {
        (0..count)
            .map(|i| (((i * 7919 + seed * 104_729) % 2003) as f32 - 1001.0) / 500.0)
            .collect()
    }

    #[test]
    fn screened_scores_equal_the_exact_scores_at_every_level() {
        for (n_q, n_t, d) in [
            (1, 1, 1),
            (3, 5, 7),
            (4, 9, 8),
            (7, 40, 128),
            (32, 3, 33),
            (17, 13, 64),
            (40, 6, 5),
        ] {
            let q = numbers(n_q * d, 1);
            let mut doc = numbers(n_t * d, 2);
            // Near-ties: a token repeated, and one a hair away.
            if n_t >= 3 {
                let (first, rest) = doc.split_at_mut(d);
                rest[..d].copy_from_slice(first);
                rest[d] += 1e-6;
            }
            let query = MaxSimQuery::new(q.clone(), n_q, d).unwrap();
            let expected = reference(&q, n_q, &doc, d).unwrap();
            for level in cpu::test_levels() {
                let got =
                    cpu::with_level(level, || f32::maxsim(&query, &doc, &mut Scratch::default()));
                assert_eq!(
                    got.map(f64::to_bits),
                    Some(expected.to_bits()),
                    "{n_q} x {n_t} x {d} at {level:?}"
                );
            }
        }
    }

    #[test]
    fn screen_products_are_within_their_bound_at_every_level() {
        for (n_q, n_t, d) in [(1, 1, 1), (5, 7, 3), (16, 6, 128), (33, 13, 40)] {
            let q = numbers(n_q * d, 5);
            let doc = numbers(n_t * d, 6);
            let query = MaxSimQuery::new(q.clone(), n_q, d).unwrap();
            for level in cpu::test_levels() {
                let mut out = vec![f32::NAN; n_t * query.padded];
                cpu::with_level(level, || {
                    screen_products(&query.panel, query.padded, &doc, n_t, d, &mut out);
                });
                for t in 0..n_t {
                    let x = &doc[t * d..(t + 1) * d];
                    for j in 0..n_q {
                        let exact = vector::dot(&q[j * d..(j + 1) * d], x);
                        let allowed = f64::from(query.allowances[j]) * vector::dot(x, x).sqrt();
                        let got = f64::from(out[t * query.padded + j]);
                        assert!(
                            (got - exact).abs() <= allowed,
                            "{n_q} x {n_t} x {d} at {level:?}: ({t}, {j}) {got} vs {exact}"
                        );
                    }
                }
            }
        }
    }

    #[test]
    fn wide_and_narrow_tokens_agree_and_nan_propagates() {
        let (n_q, n_t, d) = (5, 6, 16);
        let q = numbers(n_q * d, 3);
        let doc = numbers(n_t * d, 4);
        let wide_q: Vec<f64> = q.iter().map(|&v| f64::from(v)).collect();
        let wide_doc: Vec<f64> = doc.iter().map(|&v| f64::from(v)).collect();
        let narrow = f32::maxsim(
            &MaxSimQuery::new(q.clone(), n_q, d).unwrap(),
            &doc,
            &mut Scratch::default(),
        );
        let wide = f64::maxsim(
            &MaxSimQuery::new(wide_q, n_q, d).unwrap(),
            &wide_doc,
            &mut Scratch::default(),
        );
        // Float32 numbers widen exactly, and both use the same exact kernel.
        assert_eq!(narrow.map(f64::to_bits), wide.map(f64::to_bits));
        let query = MaxSimQuery::new(q, n_q, d).unwrap();
        assert_eq!(f32::maxsim(&query, &[], &mut Scratch::default()), None);
        let mut with_nan = doc.clone();
        with_nan[3 * d + 2] = f32::NAN;
        let score = f32::maxsim(&query, &with_nan, &mut Scratch::default());
        assert!(score.is_some_and(f64::is_nan));
        assert!(MaxSimQuery::new(vec![0.0f32; 5], 2, 3).is_none());
    }
}
