//! MaxSim, the late-interaction score of ColBERT-style retrieval: for a
//! query of `n_q` token vectors and a document of `n_t` token vectors,
//! `Σ_j max_t q_j · x_t`.
//!
//! Every dot product of the score is the exact row kernel's
//! ([`vector::dot`]: `f64` accumulation in a fixed order), so a score does
//! not depend on the CPU level or on what else is searched. Float32 tokens
//! are screened first: all `n_q × n_t` products in Float32 (register tiles
//! of four query tokens, any summation order), each within a proven bound
//! of the exact one; for each query token only the document tokens whose
//! Float32 product could reach the largest one are scored exactly (usually
//! one). Float64 tokens are scored exactly throughout.
//!
//! NaN propagates: a NaN product makes its query token's maximum, and so
//! the score, NaN (as `np.max` does).

use super::element::Element;
use super::vector;

/// A query of `n_q` token vectors of width `d`, prepared for scoring
/// many documents.
#[derive(Debug, Clone)]
pub struct MaxSimQuery<T> {
    tokens: Vec<T>,
    n_q: usize,
    d: usize,
    /// The tokens as Float32, `d`-major: number `i` of token `j` at
    /// `i · padded + j`, zero past `n_q` (see [`screen_products`]).
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
            for (i, &v) in q.iter().enumerate() {
                panel[i * padded + j] = v.to_f64() as f32;
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
            best,
        } = scratch;
        screen.clear();
        screen.resize(n_t * padded, 0.0);
        screen_products(&query.panel, padded, doc, n_t, d, screen);
        norms.clear();
        norms.extend(doc.chunks_exact(d).map(|x| square_sum(x).sqrt()));
        // Each Float32 product is within `bound · |q_j| · |x_t|` of the
        // exact one (including the f32 rounding of this very test).
        let allow = &query.allowances;
        // The largest lower bound of an exact product, per query token: the
        // maximum is at least this (NaN never raises it).
        lows.clear();
        lows.resize(n_q, f32::NEG_INFINITY);
        for (t, row) in screen.chunks_exact(padded).enumerate() {
            let nx = norms[t];
            for ((low, &s), &a) in lows.iter_mut().zip(row).zip(allow) {
                let v = s - a * nx;
                if v > *low {
                    *low = v;
                }
            }
        }
        // Row by row, the products not below their query token's floor
        // (NaN and overflow included) may be the largest: scored exactly.
        best.clear();
        best.resize(n_q, f64::NEG_INFINITY);
        for (t, row) in screen.chunks_exact(padded).enumerate() {
            let nx = norms[t];
            for j in 0..n_q {
                if row[j] + allow[j] * nx < lows[j] {
                    continue;
                }
                let exact = vector::dot(query.token(j), &doc[t * d..(t + 1) * d]);
                best[j] = nan_max(best[j], exact);
            }
        }
        let score = best.iter().sum();
        Some(score)
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
/// Document tokens per tile.
const TILE_TOKENS: usize = 4;

crate::by_level! {
    [avx512, avx2]
    /// `out[t · padded + j] = q_j · x_t` in Float32, for all `padded`
    /// (a multiple of 16) query tokens of `panel` (`d`-major, see
    /// [`MaxSimQuery`]) and the `n_t` document tokens of `doc` (row-major):
    /// a tile of four document tokens × sixteen query tokens stays in
    /// registers while each number of a token is broadcast against the
    /// panel.
    fn screen_products<>(
        panel: &[f32],
        padded: usize,
        doc: &[f32],
        n_t: usize,
        d: usize,
        out: &mut [f32]
    ) {
        if panel.len() < padded * d || doc.len() < n_t * d || out.len() < n_t * padded {
            return;
        }
        let mut t0 = 0;
        while t0 < n_t {
            // The last tile repeats its last token.
            let rows = [0, 1, 2, 3].map(|r| {
                let t = (t0 + r).min(n_t - 1);
                &doc[t * d..(t + 1) * d]
            });
            for j0 in (0..padded).step_by(PANEL_QUERIES) {
                let mut acc = [[[0.0f32; LANES]; 2]; TILE_TOKENS];
                let columns = panel.chunks_exact(padded).take(d);
                let numbers = rows[0].iter().zip(rows[1]).zip(rows[2]).zip(rows[3]);
                for (column, (((&x0, &x1), &x2), &x3)) in columns.zip(numbers) {
                    let Some(p) = column.get(j0..j0 + PANEL_QUERIES) else {
                        return;
                    };
                    let (low, high) = p.split_at(LANES);
                    for (a, x) in acc.iter_mut().zip([x0, x1, x2, x3]) {
                        for l in 0..LANES {
                            a[0][l] += x * low[l];
                            a[1][l] += x * high[l];
                        }
                    }
                }
                for (r, a) in acc.iter().enumerate() {
                    if t0 + r >= n_t {
                        break;
                    }
                    let base = (t0 + r) * padded + j0;
                    out[base..base + LANES].copy_from_slice(&a[0]);
                    out[base + LANES..base + PANEL_QUERIES].copy_from_slice(&a[1]);
                }
            }
            t0 += TILE_TOKENS;
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
        for (n_q, n_t, d) in [(1, 1, 1), (3, 5, 7), (4, 9, 8), (7, 40, 128), (32, 3, 33)] {
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
