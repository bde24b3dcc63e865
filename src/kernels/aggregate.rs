//! Column-wise aggregations over the rows of a vector column (the centroid
//! of a group of embeddings): per dimension, in row order, accumulated in
//! `f64`, so the result does not depend on the thread count.

use super::element::Element;

/// Which aggregation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VectorAggregate {
    Mean,
    Sum,
    Min,
    Max,
}

impl VectorAggregate {
    pub fn parse(name: &str) -> Option<Self> {
        Some(match name {
            "mean" => VectorAggregate::Mean,
            "sum" => VectorAggregate::Sum,
            "min" => VectorAggregate::Min,
            "max" => VectorAggregate::Max,
            _ => return None,
        })
    }
}

/// Running per-dimension state of one aggregation: value counts, sums,
/// minima and maxima.
#[derive(Debug, Clone)]
pub struct Accumulator {
    op: VectorAggregate,
    /// Values per dimension from rows with a null element (complete rows
    /// are counted once, in `complete_rows`).
    counts: Vec<u64>,
    sums: Vec<f64>,
    mins: Vec<f64>,
    maxs: Vec<f64>,
    rows: u64,
    complete_rows: u64,
}

impl Accumulator {
    pub fn new(width: usize, op: VectorAggregate) -> Self {
        Accumulator {
            op,
            counts: vec![0; width],
            sums: vec![0.0; width],
            mins: vec![f64::INFINITY; width],
            maxs: vec![f64::NEG_INFINITY; width],
            rows: 0,
            complete_rows: 0,
        }
    }

    /// Adds rows whose every element is valid (the common case), laid out
    /// back to back (`rows.len()` a multiple of the width; a partial last
    /// row is ignored). Only the state the aggregation reads is touched.
    pub fn add_rows<T: Element>(&mut self, rows: &[T]) {
        let width = self.sums.len();
        if width == 0 {
            return;
        }
        let count = rows.len() / width;
        let rows = &rows[..count * width];
        self.rows += count as u64;
        self.complete_rows += count as u64;
        match self.op {
            VectorAggregate::Sum | VectorAggregate::Mean => {
                fold_rows(&mut self.sums, rows, |s, x| s + x);
            }
            // NaN propagates, as in numpy's min and max.
            VectorAggregate::Min => {
                fold_rows(&mut self.mins, rows, |m, x| {
                    if x < m || x.is_nan() {
                        x
                    } else {
                        m
                    }
                });
            }
            VectorAggregate::Max => {
                fold_rows(&mut self.maxs, rows, |m, x| {
                    if x > m || x.is_nan() {
                        x
                    } else {
                        m
                    }
                });
            }
        }
    }

    /// Adds a row, skipping the elements `valid(j)` says are null.
    #[inline]
    pub fn add_partial_row<T: Element>(&mut self, row: &[T], valid: impl Fn(usize) -> bool) {
        self.rows += 1;
        for (j, &v) in row.iter().enumerate().take(self.sums.len()) {
            if !valid(j) {
                continue;
            }
            let x = v.to_f64();
            self.counts[j] += 1;
            self.sums[j] += x;
            // NaN propagates, as in numpy's min and max.
            self.mins[j] = if x < self.mins[j] || x.is_nan() {
                x
            } else {
                self.mins[j]
            };
            self.maxs[j] = if x > self.maxs[j] || x.is_nan() {
                x
            } else {
                self.maxs[j]
            };
        }
    }

    /// The aggregate per dimension and whether it is valid: `None` when no
    /// row was added (a null vector); a dimension without a value is null,
    /// except for the sum, which is 0.
    pub fn finish(&self) -> Option<(Vec<f64>, Vec<bool>)> {
        if self.rows == 0 {
            return None;
        }
        let mut values = Vec::with_capacity(self.sums.len());
        let mut valid = Vec::with_capacity(self.sums.len());
        for j in 0..self.sums.len() {
            let n = self.counts[j] + self.complete_rows;
            let (value, ok) = match self.op {
                VectorAggregate::Sum => (self.sums[j], true),
                VectorAggregate::Mean => (self.sums[j] / n as f64, n > 0),
                VectorAggregate::Min => (self.mins[j], n > 0),
                VectorAggregate::Max => (self.maxs[j], n > 0),
            };
            values.push(if ok { value } else { 0.0 });
            valid.push(ok);
        }
        Some((values, valid))
    }
}

/// Rows at a time of [`fold_rows`]: each state value is loaded and stored
/// once per block instead of once per row, which keeps the loop bound by
/// reading the rows, not by the state's loads and stores.
const FOLD_BLOCK: usize = 8;

crate::by_level! {
    [avx512, avx2]
    /// `state[j] = step(state[j], row[j])` for every row of `rows` (back to
    /// back, each `state.len()` long), in row order, so the result is that of a
    /// plain row-by-row loop.
    fn fold_rows<T: Element>(state: &mut [f64], rows: &[T], step: impl Fn(f64, f64) -> f64) {
        let width = state.len();
        if width == 0 {
            return;
        }
        let blocks = rows.chunks_exact(width * FOLD_BLOCK);
        let rest = blocks.remainder();
        for block in blocks {
            let mut block_rows = block.chunks_exact(width);
            let r: [&[T]; FOLD_BLOCK] = std::array::from_fn(|_| block_rows.next().unwrap_or(&[]));
            if r.iter().any(|row| row.len() != width) {
                continue; // unreachable: the block holds FOLD_BLOCK whole rows
            }
            let r = r.map(|row| &row[..width]);
            for (j, s) in state.iter_mut().enumerate() {
                let mut v = *s;
                for row in &r {
                    v = step(v, row[j].to_f64());
                }
                *s = v;
            }
        }
        for row in rest.chunks_exact(width) {
            for (s, &x) in state.iter_mut().zip(row) {
                *s = step(*s, x.to_f64());
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Blocks of rows give what a plain row-by-row loop gives, bit for bit,
    /// for every row count around the block size.
    #[test]
    fn blocked_rows_equal_a_row_by_row_loop() {
        let width = 5;
        let values: Vec<f32> = (0..width * 37)
            .map(|i| ((i * 7919) % 101) as f32 * 0.37 - 17.0 + 1e-3 * i as f32)
            .collect();
        for rows in [0, 1, 7, 8, 9, 16, 17, 37] {
            let block = &values[..rows * width];
            for op in [
                VectorAggregate::Sum,
                VectorAggregate::Mean,
                VectorAggregate::Min,
                VectorAggregate::Max,
            ] {
                let mut blocked = Accumulator::new(width, op);
                blocked.add_rows(block);
                let mut single = Accumulator::new(width, op);
                for row in block.chunks_exact(width) {
                    single.add_partial_row(row, |_| true);
                }
                assert_eq!(blocked.finish(), single.finish(), "{op:?} over {rows} rows");
            }
        }
        let mut nan = vec![1.0f64; 3 * 10];
        nan[3 * 4 + 1] = f64::NAN;
        for op in [
            VectorAggregate::Min,
            VectorAggregate::Max,
            VectorAggregate::Sum,
        ] {
            let mut acc = Accumulator::new(3, op);
            acc.add_rows(&nan);
            let (values, _) = acc.finish().unwrap();
            assert!(values[1].is_nan() && values[0] == values[2], "{op:?}");
        }
    }

    #[test]
    fn aggregates_per_dimension_skipping_nulls() {
        let run = |op| {
            let mut acc = Accumulator::new(3, op);
            acc.add_rows(&[1.0f64, 2.0, 3.0]);
            acc.add_partial_row(&[5.0f64, 99.0, -1.0], |j| j != 1);
            acc.finish().unwrap()
        };
        assert_eq!(
            run(VectorAggregate::Mean),
            (vec![3.0, 2.0, 1.0], vec![true; 3])
        );
        assert_eq!(run(VectorAggregate::Min).0, vec![1.0, 2.0, -1.0]);
        assert_eq!(run(VectorAggregate::Max).0, vec![5.0, 2.0, 3.0]);
        assert_eq!(run(VectorAggregate::Sum).0, vec![6.0, 2.0, 2.0]);
        let only_null = |op| {
            let mut acc = Accumulator::new(2, op);
            acc.add_partial_row(&[1.0f32, 2.0], |j| j == 0);
            acc.finish().unwrap()
        };
        assert_eq!(only_null(VectorAggregate::Mean).1, vec![true, false]);
        assert_eq!(
            only_null(VectorAggregate::Sum),
            (vec![1.0, 0.0], vec![true, true])
        );
        assert!(Accumulator::new(2, VectorAggregate::Sum).finish().is_none());
        for op in [
            VectorAggregate::Min,
            VectorAggregate::Max,
            VectorAggregate::Mean,
        ] {
            let mut nan = Accumulator::new(1, op);
            nan.add_rows(&[f64::NAN]);
            nan.add_rows(&[1.0f64]);
            assert!(nan.finish().unwrap().0[0].is_nan(), "{op:?}");
        }
    }
}
