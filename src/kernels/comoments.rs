//! Co-moments of a set of vectors: the count, the mean and the centred
//! cross-product matrix `M2 = Σ (x - mean)(x - mean)ᵀ`, the sufficient
//! statistics of a PCA fit (its covariance is `M2 / (count - 1)`).
//!
//! Numerics. Raw sums `Σ x xᵀ - n μ μᵀ` cancel when the mean is large
//! against the spread, so the rows are taken in blocks of [`BLOCK_ROWS`]:
//! each block is centred on its own mean (computed in f64), its centred
//! cross products come from one matrix product, and the blocks merge with
//! Chan et al.'s parallel update in f64, as do partial statistics from
//! separate batches ([`CoMoments::merge`]). Float32 rows are centred in f64,
//! rounded to f32 and multiplied in f32 (the product of 1,024 rows
//! accumulates in f32: a relative error of about 1e-6 of the
//! block's `Σ |x_i x_j|`, far below what an uncentred f32 product over all
//! rows loses); Float64 rows multiply in f64.
//!
//! Speed. `M2` is symmetric, so the product runs over panels of about 48
//! dimensions and only the panels on or above the diagonal are multiplied
//! (the `gemm` crate, one thread per product); the lower triangle is
//! mirrored at the end. Blocks are grouped into tasks of a fixed number of
//! rows that run on the kernels' threads ([`parallel::blocks`]) and merge
//! in task order, so the result does not depend on the thread count, nor on
//! how the caller's rows are chunked (the row sequence alone fixes blocks
//! and tasks).

use gemm::{gemm, Parallelism};

use super::element::Element;
use super::parallel;

/// Rows per centred block (the inner dimension of each product).
pub const BLOCK_ROWS: usize = 1024;
/// Blocks per task: a task folds its blocks in order on one thread.
const TASK_BLOCKS: usize = 4;
/// Target width of a product panel: narrower panels skip more of the
/// lower triangle (384 dimensions: 36 products of 48 x 48, 56% of the
/// full product) at a small packing cost per product.
const PANEL: usize = 48;
/// Bytes of task results held at once, before they merge.
const ROUND_BYTES: usize = 256 << 20;

/// The float types rows are multiplied in.
pub trait CoFloat: Element {}
impl CoFloat for f32 {}
impl CoFloat for f64 {}

/// A sequence of complete rows of one width, read block by block.
pub trait RowSource<T>: Sync {
    fn rows(&self) -> usize;
    fn width(&self) -> usize;
    /// Copies rows `start..start + out.len() / width` into `out`, row-major.
    fn copy_rows(&self, start: usize, out: &mut [T]);
}

/// Rows stored back to back in runs (each run a whole number of rows), as
/// the chunks of an `Array` column give them between null rows.
pub struct RowRuns<'a, T> {
    runs: Vec<&'a [T]>,
    /// The first row of each run, and the total at the end.
    firsts: Vec<usize>,
    width: usize,
}

impl<'a, T> RowRuns<'a, T> {
    pub fn new(width: usize) -> Self {
        RowRuns {
            runs: Vec::new(),
            firsts: vec![0],
            width,
        }
    }

    /// Adds a run of complete rows (its length a multiple of the width;
    /// a trailing partial row is left out).
    pub fn push(&mut self, run: &'a [T]) {
        let rows = run.len().checked_div(self.width).unwrap_or(0);
        if rows == 0 {
            return;
        }
        let total = self.firsts.last().copied().unwrap_or(0);
        self.runs.push(run.get(..rows * self.width).unwrap_or(&[]));
        self.firsts.push(total + rows);
    }
}

impl<T: Copy + Sync> RowSource<T> for RowRuns<'_, T> {
    fn rows(&self) -> usize {
        self.firsts.last().copied().unwrap_or(0)
    }
    fn width(&self) -> usize {
        self.width
    }
    fn copy_rows(&self, start: usize, out: &mut [T]) {
        let d = self.width;
        let mut row = start;
        let mut filled = 0;
        let mut run = self.firsts.partition_point(|&f| f <= row).saturating_sub(1);
        while filled < out.len() {
            let (Some(values), Some(&first)) = (self.runs.get(run), self.firsts.get(run)) else {
                return;
            };
            let from = (row - first) * d;
            let take = values.len().saturating_sub(from).min(out.len() - filled);
            if let (Some(dst), Some(src)) = (
                out.get_mut(filled..filled + take),
                values.get(from..from + take),
            ) {
                dst.copy_from_slice(src);
            }
            filled += take;
            row += take / d;
            run += 1;
        }
    }
}

/// Rows made of one value from each of several columns (scalar columns),
/// optionally only the rows listed (those with no null).
pub struct ColumnRows<'a, T> {
    pub columns: Vec<&'a [T]>,
    /// The rows to read, in order; `None` reads every row.
    pub rows: Option<Vec<usize>>,
}

impl<T: Copy + Sync> RowSource<T> for ColumnRows<'_, T> {
    fn rows(&self) -> usize {
        match &self.rows {
            Some(rows) => rows.len(),
            None => self.columns.iter().map(|c| c.len()).min().unwrap_or(0),
        }
    }
    fn width(&self) -> usize {
        self.columns.len()
    }
    fn copy_rows(&self, start: usize, out: &mut [T]) {
        let d = self.columns.len();
        if d == 0 {
            return;
        }
        for (j, column) in self.columns.iter().enumerate() {
            for (r, row) in out.chunks_exact_mut(d).enumerate() {
                let i = match &self.rows {
                    Some(rows) => rows.get(start + r).copied().unwrap_or(usize::MAX),
                    None => start + r,
                };
                if let (Some(dst), Some(&v)) = (row.get_mut(j), column.get(i)) {
                    *dst = v;
                }
            }
        }
    }
}

/// Count, mean and centred cross products of a set of rows.
#[derive(Debug, Clone, PartialEq)]
pub struct CoMoments {
    pub width: usize,
    pub count: u64,
    pub mean: Vec<f64>,
    /// `width × width`, row-major, symmetric.
    pub m2: Vec<f64>,
}

impl CoMoments {
    /// No rows seen.
    pub fn new(width: usize) -> Self {
        CoMoments {
            width,
            count: 0,
            mean: vec![0.0; width],
            m2: vec![0.0; width * width],
        }
    }

    /// Adds another set's statistics (Chan et al.'s update, in f64):
    /// `M2 = M2_a + M2_b + δδᵀ n_a n_b / n` with `δ = mean_b - mean_a`.
    /// Returns `false` (and changes nothing) if the widths differ.
    pub fn merge(&mut self, other: &CoMoments) -> bool {
        if other.width != self.width
            || other.mean.len() != self.width
            || other.m2.len() != self.width * self.width
        {
            return false;
        }
        self.merge_parts(other.count, &other.mean, &other.m2, false);
        true
    }

    /// [`merge`](Self::merge) of a block given by its count, mean and
    /// cross products (`d × d`, row-major; with `upper`, only the entries
    /// on and above the diagonal are read and updated).
    fn merge_parts<U: Element>(&mut self, count: u64, mean: &[f64], m2: &[U], upper: bool) {
        let d = self.width;
        if count == 0 || mean.len() != d || m2.len() != d * d {
            return;
        }
        if d == 0 {
            self.count += count;
            return;
        }
        if self.count == 0 {
            self.count = count;
            self.mean.copy_from_slice(mean);
            for (v, b) in self.m2.iter_mut().zip(m2) {
                *v = b.to_f64();
            }
            return;
        }
        let (na, nb) = (self.count as f64, count as f64);
        let n = na + nb;
        let weight = na * nb / n;
        let delta: Vec<f64> = mean.iter().zip(&self.mean).map(|(b, a)| b - a).collect();
        for (i, (row, block)) in self
            .m2
            .chunks_exact_mut(d)
            .zip(m2.chunks_exact(d))
            .enumerate()
        {
            let first = if upper { i } else { 0 };
            let di = delta.get(i).copied().unwrap_or(0.0) * weight;
            let (Some(row), Some(block), Some(dj)) =
                (row.get_mut(first..), block.get(first..), delta.get(first..))
            else {
                continue;
            };
            for ((v, b), dj) in row.iter_mut().zip(block).zip(dj) {
                *v += b.to_f64() + di * dj;
            }
        }
        for (m, dl) in self.mean.iter_mut().zip(&delta) {
            *m += dl * (nb / n);
        }
        self.count += count;
    }

    /// Copies the upper triangle onto the lower one.
    fn mirror(&mut self) {
        let d = self.width;
        for i in 0..d {
            for j in 0..i {
                if let Some(&upper) = self.m2.get(j * d + i) {
                    if let Some(lower) = self.m2.get_mut(i * d + j) {
                        *lower = upper;
                    }
                }
            }
        }
    }

    /// The co-moments of every row of `source`, in parallel; the same bits
    /// whatever the thread count.
    pub fn of_rows<T: CoFloat>(source: &impl RowSource<T>) -> CoMoments {
        let d = source.width();
        let n = source.rows();
        let mut total = CoMoments::new(d);
        if d == 0 || n == 0 {
            return total;
        }
        let task_rows = BLOCK_ROWS * TASK_BLOCKS;
        let tasks = n.div_ceil(task_rows);
        let per_round = (ROUND_BYTES / (d * d * 8).max(1)).clamp(2, 16);
        let mut first = 0;
        while first < tasks {
            let count = per_round.min(tasks - first);
            let found = parallel::blocks(count, |t| {
                let start = (first + t) * task_rows;
                task(source, start, task_rows.min(n - start))
            });
            for part in &found {
                total.merge(part);
            }
            first += count;
        }
        total.mirror();
        total
    }
}

/// The panels the dimensions are split into: about [`PANEL`] wide each.
fn panels(d: usize) -> Vec<(usize, usize)> {
    let count = d.div_ceil(PANEL).max(1);
    let size = d.div_ceil(count);
    (0..count)
        .map(|p| (p * size, ((p + 1) * size).min(d)))
        .filter(|(a, b)| a < b)
        .collect()
}

/// The co-moments (upper panels only) of `rows` rows from `start`, block by block.
fn task<T: CoFloat>(source: &impl RowSource<T>, start: usize, rows: usize) -> CoMoments {
    let d = source.width();
    let mut acc = CoMoments::new(d);
    let mut block = vec![T::default(); BLOCK_ROWS * d];
    let mut product = vec![T::default(); d * d];
    let mut mean = vec![0.0f64; d];
    let parts = panels(d);
    let mut done = 0;
    while done < rows {
        let c = BLOCK_ROWS.min(rows - done);
        let values = block.get_mut(..c * d).unwrap_or(&mut []);
        source.copy_rows(start + done, values);
        centre(values, d, &mut mean);
        upper_product(values, c, d, &parts, &mut product);
        acc.merge_parts(c as u64, &mean, &product, true);
        done += c;
    }
    acc
}

/// The block's mean per dimension (summed in f64 in row order) into
/// `mean`, and the block centred on it in place (rounded to `T`).
fn centre<T: CoFloat>(values: &mut [T], d: usize, mean: &mut [f64]) {
    // Summed as differences from the first row (exact for values of one
    // magnitude), so the mean is as exact as f64 holds it even when it is
    // large against the spread: a plain sum of 1,024 values near 1e7 would
    // be off by 1e-7, and the merge multiplies mean differences.
    mean.fill(0.0);
    let rows = values.len() / d.max(1);
    let first: Vec<f64> = values.iter().take(d).map(|v| v.to_f64()).collect();
    for row in values.chunks_exact(d.max(1)) {
        for ((m, v), f) in mean.iter_mut().zip(row).zip(&first) {
            *m += v.to_f64() - f;
        }
    }
    for (m, f) in mean.iter_mut().zip(&first) {
        *m = f + *m / rows as f64;
    }
    for row in values.chunks_exact_mut(d.max(1)) {
        for (v, m) in row.iter_mut().zip(mean.iter()) {
            *v = T::from_f64(v.to_f64() - m);
        }
    }
}

/// `product = valuesᵀ · values` (`d × d`, row-major) on the panels on and
/// above the diagonal; the other entries are left as they were (zero).
fn upper_product<T: CoFloat>(
    values: &[T],
    rows: usize,
    d: usize,
    parts: &[(usize, usize)],
    product: &mut [T],
) {
    if values.len() < rows * d || product.len() < d * d || rows == 0 {
        return;
    }
    let zero = T::from_f64(0.0);
    let one = T::from_f64(1.0);
    for (p, &(a0, a1)) in parts.iter().enumerate() {
        for &(b0, b1) in parts.get(p..).unwrap_or(&[]) {
            // SAFETY: the lengths were checked above. The destination
            // panel (a0..a1) × (b0..b1) of a d × d row-major matrix, the
            // lhs `valuesᵀ[a0..a1, ..rows]` (element (i, r) at r·d + a0 + i)
            // and the rhs `values[..rows, b0..b1]` (element (r, j) at
            // r·d + b0 + j) all lie inside their slices, as a1, b1 ≤ d.
            unsafe {
                gemm(
                    a1 - a0,
                    b1 - b0,
                    rows,
                    product.as_mut_ptr().add(a0 * d + b0),
                    1,
                    d as isize,
                    false,
                    values.as_ptr().add(a0),
                    d as isize,
                    1,
                    values.as_ptr().add(b0),
                    1,
                    d as isize,
                    zero,
                    one,
                    false,
                    false,
                    false,
                    Parallelism::None,
                );
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kernels::test_data::random_bytes;

    /// Rows with a large mean offset: offset + small spread, correlated.
    fn data(n: usize, d: usize, offset: f64, seed: u64) -> Vec<f64> {
        let bytes = random_bytes(n * d * 2, seed);
        (0..n * d)
            .map(|i| {
                let j = i % d;
                let u = (bytes[2 * i] as f64 - 127.5) / 64.0;
                let w = bytes[2 * i + 1] as f64 / 255.0;
                offset * (1.0 + j as f64) + u * (1.0 + j as f64 * 0.1) + 0.25 * w
            })
            .collect()
    }

    /// Two-pass reference in f64 with compensated sums.
    fn reference(values: &[f64], d: usize) -> (Vec<f64>, Vec<f64>) {
        let n = values.len() / d;
        let mean: Vec<f64> = (0..d)
            .map(|j| {
                let column: Vec<f64> = values.iter().skip(j).step_by(d).copied().collect();
                kahan(&column) / n as f64
            })
            .collect();
        let mut m2 = vec![0.0; d * d];
        for i in 0..d {
            for j in 0..d {
                let products: Vec<f64> = values
                    .chunks_exact(d)
                    .map(|r| (r[i] - mean[i]) * (r[j] - mean[j]))
                    .collect();
                m2[i * d + j] = kahan(&products);
            }
        }
        (mean, m2)
    }

    fn kahan(values: &[f64]) -> f64 {
        let (mut sum, mut c) = (0.0f64, 0.0f64);
        for &v in values {
            let y = v - c;
            let t = sum + y;
            c = (t - sum) - y;
            sum = t;
        }
        sum
    }

    fn close(a: &[f64], b: &[f64], scale: f64, tol: f64) {
        assert_eq!(a.len(), b.len());
        for (x, y) in a.iter().zip(b) {
            assert!((x - y).abs() <= tol * scale, "{x} vs {y} (scale {scale})");
        }
    }

    fn runs_of(values: &[f64], d: usize, cut: usize) -> RowRuns<'_, f64> {
        let mut runs = RowRuns::new(d);
        for piece in values.chunks(cut * d) {
            runs.push(piece);
        }
        runs
    }

    #[test]
    fn comoments_match_a_two_pass_reference_with_a_large_mean() {
        for &(n, d) in &[(1, 3), (7, 5), (300, 13), (5000, 70), (9000, 130)] {
            let values = data(n, d, 1e6, n as u64);
            let (mean, m2) = reference(&values, d);
            let found = CoMoments::of_rows(&runs_of(&values, d, n));
            assert_eq!(found.count, n as u64);
            close(&found.mean, &mean, 1e6 * d as f64, 1e-15);
            // Means near 1e7 hold about 1e-9 in f64, and the merge of
            // blocks multiplies their differences: about 1e-11 of the
            // largest entry. Raw sums (Σxxᵀ - nμμᵀ) would lose every digit.
            let scale = m2.iter().fold(1.0f64, |a, &b| a.max(b.abs()));
            close(&found.m2, &m2, scale, 1e-10);
            for i in 0..d {
                for j in 0..d {
                    assert_eq!(found.m2[i * d + j], found.m2[j * d + i]);
                }
            }
        }
    }

    #[test]
    fn float32_rows_are_close_to_the_exact_comoments() {
        let (n, d) = (6000, 40);
        let values: Vec<f32> = data(n, d, 1e3, 3).iter().map(|&v| v as f32).collect();
        let wide: Vec<f64> = values.iter().map(|&v| v as f64).collect();
        let (mean, m2) = reference(&wide, d);
        let mut runs = RowRuns::new(d);
        runs.push(values.as_slice());
        let found = CoMoments::of_rows(&runs);
        close(&found.mean, &mean, 1e3 * d as f64, 1e-15);
        let scale = m2.iter().fold(1.0f64, |a, &b| a.max(b.abs()));
        close(&found.m2, &m2, scale, 1e-6);
    }

    #[test]
    fn chunking_and_thread_count_do_not_change_a_bit() {
        let (n, d) = (20_000, 33);
        let values = data(n, d, 10.0, 7);
        let whole = CoMoments::of_rows(&runs_of(&values, d, n));
        for cut in [1, 97, 4096, 5000] {
            assert_eq!(CoMoments::of_rows(&runs_of(&values, d, cut)), whole);
        }
        let one = rayon::ThreadPoolBuilder::new()
            .num_threads(1)
            .build()
            .unwrap();
        assert_eq!(
            one.install(|| CoMoments::of_rows(&runs_of(&values, d, n))),
            whole
        );
        // The same rows as scalar columns.
        let columns: Vec<Vec<f64>> = (0..d)
            .map(|j| values.iter().skip(j).step_by(d).copied().collect())
            .collect();
        let by_column = ColumnRows {
            columns: columns.iter().map(Vec::as_slice).collect(),
            rows: None,
        };
        assert_eq!(CoMoments::of_rows(&by_column), whole);
        let listed = ColumnRows {
            columns: columns.iter().map(Vec::as_slice).collect(),
            rows: Some((0..n).collect()),
        };
        assert_eq!(CoMoments::of_rows(&listed), whole);
    }

    #[test]
    fn merged_parts_equal_the_whole_to_rounding() {
        let (n, d) = (10_000, 20);
        let values = data(n, d, 1e5, 11);
        let whole = CoMoments::of_rows(&runs_of(&values, d, n));
        let mut merged = CoMoments::new(d);
        for part in values.chunks(3333 * d) {
            let found = CoMoments::of_rows(&runs_of(part, d, n));
            assert!(merged.merge(&found));
        }
        assert_eq!(merged.count, whole.count);
        close(&merged.mean, &whole.mean, 1e5 * d as f64, 1e-15);
        let scale = whole.m2.iter().fold(1.0f64, |a, &b| a.max(b.abs()));
        close(&merged.m2, &whole.m2, scale, 1e-11);
        assert!(!merged.merge(&CoMoments::new(d + 1)));
        let empty = CoMoments::of_rows(&runs_of(&[], d, 1));
        assert_eq!(empty, CoMoments::new(d));
    }

    #[test]
    fn listed_rows_skip_the_others() {
        let a = [1.0, 2.0, 3.0, 10.0];
        let b = [4.0, 0.0, 5.0, 1.0];
        let listed = ColumnRows {
            columns: vec![&a[..], &b[..]],
            rows: Some(vec![0, 2, 3]),
        };
        let rows = [1.0, 4.0, 3.0, 5.0, 10.0, 1.0];
        let mut runs = RowRuns::new(2);
        runs.push(&rows[..]);
        assert_eq!(CoMoments::of_rows(&listed), CoMoments::of_rows(&runs));
    }
}
