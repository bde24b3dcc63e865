//! Linear scores of rows whose features are separate columns:
//! `score_k = Σ_j w_kj·x_j + b_k` (products added in feature order, the
//! intercept last, as `X @ coef.T + intercept` reads), then the link of a
//! fitted linear or logistic regression. One pass over the feature columns
//! in blocks of rows, each block's scores kept in cache; blocks in parallel.

use std::sync::Mutex;

use super::parallel;

/// Rows per block: one block's scores (`outputs` × this) stay in L1/L2.
const BLOCK_ROWS: usize = 2048;

/// A categorical column's contribution: each row's code picks one row of
/// `weights` (`codes.len()` rows × `outputs`, row-major), added as is.
#[derive(Clone, Copy)]
pub struct Lookup<'a> {
    pub codes: &'a [u32],
    pub weights: &'a [f64],
}

/// One feature column's values (nulls are handled by the caller).
#[derive(Clone, Copy)]
pub enum Feature<'a> {
    F64(&'a [f64]),
    F32(&'a [f32]),
    U8(&'a [u8]),
    I32(&'a [i32]),
    I64(&'a [i64]),
}

impl Feature<'_> {
    pub fn len(&self) -> usize {
        match self {
            Feature::F64(v) => v.len(),
            Feature::F32(v) => v.len(),
            Feature::U8(v) => v.len(),
            Feature::I32(v) => v.len(),
            Feature::I64(v) => v.len(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// `acc[i] += w · x[start + i]` for the rows of one block.
    fn add_scaled(&self, start: usize, w: f64, acc: &mut [f64]) {
        let end = start + acc.len();
        match self {
            Feature::F64(v) => add_scaled(&v[start..end], w, acc, |x| x),
            Feature::F32(v) => add_scaled(&v[start..end], w, acc, f64::from),
            Feature::U8(v) => add_scaled(&v[start..end], w, acc, f64::from),
            Feature::I32(v) => add_scaled(&v[start..end], w, acc, f64::from),
            Feature::I64(v) => add_scaled(&v[start..end], w, acc, |x| x as f64),
        }
    }
}

#[inline]
fn add_scaled<T: Copy>(values: &[T], w: f64, acc: &mut [f64], widen: impl Fn(T) -> f64) {
    for (a, &x) in acc.iter_mut().zip(values) {
        *a += w * widen(x);
    }
}

/// What turns the linear scores into the output.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Link {
    /// The scores themselves (regression, decision function).
    Identity,
    /// Binary logistic regression: `[1 - p, p]` with `p = 1 / (1 + e^-score)`.
    Logistic,
    /// Multinomial logistic regression: the softmax of the scores.
    Softmax,
}

impl Link {
    pub fn parse(name: &str) -> Option<Self> {
        match name {
            "identity" => Some(Link::Identity),
            "logistic" => Some(Link::Logistic),
            "softmax" => Some(Link::Softmax),
            _ => None,
        }
    }

    /// Numbers per row of the output for a model of `outputs` scores.
    pub fn width(self, outputs: usize) -> usize {
        match self {
            Link::Logistic => 2,
            _ => outputs,
        }
    }
}

/// A fitted linear model: `weights` is `outputs × features`, row-major.
pub struct Model<'a> {
    pub weights: &'a [f64],
    pub intercept: &'a [f64],
    pub outputs: usize,
    pub link: Link,
}

impl Model<'_> {
    pub fn features(&self) -> usize {
        self.weights.len() / self.outputs.max(1)
    }

    /// Whether the shapes fit together (checked once by the caller).
    pub fn is_consistent(&self) -> bool {
        self.outputs > 0
            && self.weights.len().is_multiple_of(self.outputs)
            && self.intercept.len() == self.outputs
            && (self.link != Link::Logistic || self.outputs == 1)
    }
}

/// The output of `model` for `rows` rows of `features` (one slice per
/// feature, each at least `rows` long) and of `lookups` (categorical
/// columns, their weights added after the features'):
/// `rows × link.width(outputs)`, row-major.
pub fn scores(
    features: &[Feature<'_>],
    lookups: &[Lookup<'_>],
    model: &Model<'_>,
    rows: usize,
) -> Vec<f64> {
    let width = model.link.width(model.outputs);
    let mut out = vec![0.0f64; rows * width];
    let parts: Vec<Mutex<&mut [f64]>> =
        out.chunks_mut(BLOCK_ROWS * width).map(Mutex::new).collect();
    parallel::blocks(parts.len(), |b| {
        if let Some(Ok(mut target)) = parts.get(b).map(Mutex::lock) {
            let start = b * BLOCK_ROWS;
            block_scores(features, lookups, model, start, &mut target);
        }
    });
    drop(parts);
    out
}

/// One block's output (`target.len() / width` rows from `start`).
fn block_scores(
    features: &[Feature<'_>],
    lookups: &[Lookup<'_>],
    model: &Model<'_>,
    start: usize,
    target: &mut [f64],
) {
    let k = model.outputs;
    let n = model.features();
    let width = model.link.width(k);
    let len = target.len() / width.max(1);
    // Score-major: acc[o * len + i] is output o of row start + i.
    let mut acc = vec![0.0f64; k * len];
    for (j, feature) in features.iter().enumerate().take(n) {
        for (o, lane) in acc.chunks_mut(len.max(1)).enumerate() {
            let w = model.weights[o * n + j];
            feature.add_scaled(start, w, lane);
        }
    }
    for lookup in lookups {
        let codes = &lookup.codes[start..start + len];
        for (o, lane) in acc.chunks_mut(len.max(1)).enumerate() {
            for (a, &code) in lane.iter_mut().zip(codes) {
                *a += lookup
                    .weights
                    .get(code as usize * k + o)
                    .copied()
                    .unwrap_or(0.0);
            }
        }
    }
    match (model.link, k) {
        (Link::Identity, 1) => {
            for (t, &a) in target.iter_mut().zip(&acc) {
                *t = a + model.intercept[0];
            }
        }
        (Link::Logistic, _) => {
            for (pair, &a) in target.chunks_exact_mut(2).zip(&acc) {
                let p = 1.0 / (1.0 + (-(a + model.intercept[0])).exp());
                pair[0] = 1.0 - p;
                pair[1] = p;
            }
        }
        _ => {
            let mut row_scores = vec![0.0f64; k];
            for (i, row) in target.chunks_exact_mut(width).enumerate() {
                for (o, s) in row_scores.iter_mut().enumerate() {
                    *s = acc[o * len + i] + model.intercept[o];
                }
                apply_link(model.link, &row_scores, row);
            }
        }
    }
}

/// The link of one row's scores, into `target` (`link.width(scores.len())` long).
pub fn apply_link(link: Link, scores: &[f64], target: &mut [f64]) {
    match link {
        Link::Identity => target.copy_from_slice(scores),
        Link::Logistic => {
            let p = 1.0 / (1.0 + (-scores[0]).exp());
            target[0] = 1.0 - p;
            target[1] = p;
        }
        Link::Softmax => {
            let top = scores.iter().copied().fold(f64::NEG_INFINITY, f64::max);
            let mut total = 0.0;
            for (t, &s) in target.iter_mut().zip(scores) {
                *t = (s - top).exp();
                total += *t;
            }
            for t in target.iter_mut() {
                *t /= total;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reference(columns: &[Vec<f64>], model: &Model<'_>, row: usize) -> Vec<f64> {
        let n = model.features();
        let scores: Vec<f64> = (0..model.outputs)
            .map(|o| {
                let mut total = 0.0;
                for (j, column) in columns.iter().enumerate() {
                    total += model.weights[o * n + j] * column[row];
                }
                total + model.intercept[o]
            })
            .collect();
        let mut out = vec![0.0; model.link.width(model.outputs)];
        apply_link(model.link, &scores, &mut out);
        out
    }

    #[test]
    fn scores_match_a_row_by_row_reference_across_blocks() {
        let rows = 3 * BLOCK_ROWS + 17;
        let a: Vec<f64> = (0..rows).map(|i| (i as f64 * 0.37).sin() * 10.0).collect();
        let b: Vec<f32> = (0..rows).map(|i| (i % 13) as f32 - 6.5).collect();
        let c: Vec<u8> = (0..rows).map(|i| (i % 2) as u8).collect();
        let d: Vec<i64> = (0..rows).map(|i| i as i64 - 1000).collect();
        let columns: Vec<Vec<f64>> = vec![
            a.clone(),
            b.iter().map(|&x| f64::from(x)).collect(),
            c.iter().map(|&x| f64::from(x)).collect(),
            d.iter().map(|&x| x as f64).collect(),
        ];
        let features = [
            Feature::F64(&a),
            Feature::F32(&b),
            Feature::U8(&c),
            Feature::I64(&d),
        ];
        let weights = [
            0.5, -1.25, 3.0, 1e-3, -0.2, 0.1, 0.0, 2e-3, 1.0, 1.0, -1.0, 0.0,
        ];
        for (outputs, link, intercept) in [
            (1, Link::Identity, vec![0.25]),
            (1, Link::Logistic, vec![-0.5]),
            (3, Link::Softmax, vec![0.1, -0.2, 0.3]),
            (3, Link::Identity, vec![0.0, 1.0, 2.0]),
        ] {
            let model = Model {
                weights: &weights[..outputs * 4],
                intercept: &intercept,
                outputs,
                link,
            };
            assert!(model.is_consistent());
            let got = scores(&features, &[], &model, rows);
            let width = link.width(outputs);
            assert_eq!(got.len(), rows * width);
            for row in [0, 1, BLOCK_ROWS - 1, BLOCK_ROWS, rows - 1] {
                let want = reference(&columns, &model, row);
                assert_eq!(
                    &got[row * width..(row + 1) * width],
                    want.as_slice(),
                    "{link:?} {row}"
                );
            }
        }
    }

    #[test]
    fn lookups_add_their_rows_weights_after_the_features() {
        let rows = BLOCK_ROWS + 5;
        let x: Vec<f64> = (0..rows).map(|i| i as f64 / 7.0).collect();
        let codes: Vec<u32> = (0..rows).map(|i| (i % 4) as u32).collect();
        // Two outputs; four code rows (e.g. three values and an unseen one).
        let table = [0.5, -0.5, 1.0, 2.0, -3.0, 0.0, 0.25, 0.75];
        let model = Model {
            weights: &[2.0, -1.0],
            intercept: &[0.1, 0.2],
            outputs: 2,
            link: Link::Identity,
        };
        let got = scores(
            &[Feature::F64(&x)],
            &[Lookup {
                codes: &codes,
                weights: &table,
            }],
            &model,
            rows,
        );
        for row in [0, 3, BLOCK_ROWS, rows - 1] {
            let code = codes[row] as usize;
            for o in 0..2 {
                let want =
                    (0.0 + model.weights[o] * x[row] + table[code * 2 + o]) + model.intercept[o];
                assert_eq!(got[row * 2 + o], want);
            }
        }
    }

    #[test]
    fn softmax_rows_sum_to_one_and_survive_large_scores() {
        let mut out = [0.0; 3];
        apply_link(Link::Softmax, &[1000.0, 999.0, -1000.0], &mut out);
        assert!((out.iter().sum::<f64>() - 1.0).abs() < 1e-15);
        assert!(out[0] > out[1] && out[2] == 0.0);
        let mut two = [0.0; 2];
        apply_link(Link::Logistic, &[0.0], &mut two);
        assert_eq!(two, [0.5, 0.5]);
    }

    #[test]
    fn no_rows_give_no_output() {
        let model = Model {
            weights: &[1.0],
            intercept: &[0.0],
            outputs: 1,
            link: Link::Identity,
        };
        assert!(scores(&[Feature::F64(&[])], &[], &model, 0).is_empty());
    }
}
