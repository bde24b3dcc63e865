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
    norms: Vec<f64>,
    n_q: usize,
    d: usize,
}

impl<T: Element> MaxSimQuery<T> {
    /// `tokens` row-major, `n_q × d` (`None` if the length disagrees).
    pub fn new(tokens: Vec<T>, n_q: usize, d: usize) -> Option<Self> {
        if tokens.len() != n_q.checked_mul(d)? {
            return None;
        }
        let norms = tokens
            .chunks(d.max(1))
            .take(n_q)
            .map(|q| vector::dot(q, q).sqrt())
            .collect();
        Some(MaxSimQuery {
            tokens,
            norms,
            n_q,
            d,
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
    norms: Vec<f64>,
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
        let d = query.d;
        let n_t = doc.len().checked_div(d)?;
        if n_t == 0 {
            return None;
        }
        let n_q = query.n_q;
        scratch.screen.clear();
        scratch.screen.resize(n_q * n_t, 0.0);
        screen_products(&query.tokens, n_q, doc, n_t, d, &mut scratch.screen);
        scratch.norms.clear();
        scratch
            .norms
            .extend(doc.chunks_exact(d).map(|x| vector::dot(x, x).sqrt()));
        let bound = screen_bound(d);
        let mut score = 0.0;
        for j in 0..n_q {
            let q = query.token(j);
            let products = &scratch.screen[j * n_t..(j + 1) * n_t];
            let allowance = |t: usize| bound * query.norms[j] * scratch.norms[t];
            // The largest lower bound of an exact product: the maximum is at
            // least this, so a token whose upper bound is below it is not
            // the maximum.
            let floor = (0..n_t)
                .map(|t| f64::from(products[t]) - allowance(t))
                .filter(|v| !v.is_nan())
                .fold(f64::NEG_INFINITY, f64::max);
            let mut best = f64::NEG_INFINITY;
            for t in 0..n_t {
                let high = f64::from(products[t]) + allowance(t);
                // NaN (or an overflow) is not below the floor: scored exactly.
                if high < floor {
                    continue;
                }
                best = nan_max(best, vector::dot(q, &doc[t * d..(t + 1) * d]));
            }
            score += best;
        }
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
    // Doubled, so the rounding of the bound itself never matters.
    2.0 * (gamma(f64::from(f32::EPSILON) / 2.0) + gamma(f64::EPSILON / 2.0))
}

/// Lanes of a Float32 screen product.
const SCREEN_LANES: usize = 8;

crate::by_level! {
    [avx512, avx2]
    /// `out[j · n_t + t] = q_j · x_t` in Float32 for the `n_q` query tokens
    /// and `n_t` document tokens (both `· × d`, row-major): four query
    /// tokens at a time share each load of a document token.
    fn screen_products<>(
        queries: &[f32],
        n_q: usize,
        doc: &[f32],
        n_t: usize,
        d: usize,
        out: &mut [f32]
    ) {
        let whole = d / SCREEN_LANES * SCREEN_LANES;
        for t in 0..n_t {
            let Some(x) = doc.get(t * d..(t + 1) * d) else { return };
            let mut j = 0;
            while j + 4 <= n_q {
                let Some(q) = queries.get(j * d..(j + 4) * d) else { return };
                let (q0, rest) = q.split_at(d);
                let (q1, rest) = rest.split_at(d);
                let (q2, q3) = rest.split_at(d);
                let mut acc = [[0.0f32; SCREEN_LANES]; 4];
                for i in (0..whole).step_by(SCREEN_LANES) {
                    let xs = &x[i..i + SCREEN_LANES];
                    for (a, qs) in acc.iter_mut().zip([q0, q1, q2, q3]) {
                        let qs = &qs[i..i + SCREEN_LANES];
                        for l in 0..SCREEN_LANES {
                            a[l] += qs[l] * xs[l];
                        }
                    }
                }
                for (r, (a, qs)) in acc.iter().zip([q0, q1, q2, q3]).enumerate() {
                    let tail: f32 = (whole..d).map(|i| qs[i] * x[i]).sum();
                    if let Some(slot) = out.get_mut((j + r) * n_t + t) {
                        *slot = a.iter().sum::<f32>() + tail;
                    }
                }
                j += 4;
            }
            for jj in j..n_q {
                let Some(q) = queries.get(jj * d..(jj + 1) * d) else { return };
                let mut a = [0.0f32; SCREEN_LANES];
                for i in (0..whole).step_by(SCREEN_LANES) {
                    for l in 0..SCREEN_LANES {
                        a[l] += q[i + l] * x[i + l];
                    }
                }
                let tail: f32 = (whole..d).map(|i| q[i] * x[i]).sum();
                if let Some(slot) = out.get_mut(jj * n_t + t) {
                    *slot = a.iter().sum::<f32>() + tail;
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
