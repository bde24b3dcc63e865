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

    /// Adds a row whose every element is valid (the common case): only the
    /// state its aggregation reads, in a loop that vectorises.
    #[inline]
    pub fn add_row<T: Element>(&mut self, row: &[T]) {
        self.rows += 1;
        self.complete_rows += 1;
        match self.op {
            VectorAggregate::Sum | VectorAggregate::Mean => {
                for (s, &v) in self.sums.iter_mut().zip(row) {
                    *s += v.to_f64();
                }
            }
            VectorAggregate::Min => {
                for (m, &v) in self.mins.iter_mut().zip(row) {
                    let x = v.to_f64();
                    // NaN propagates, as in numpy's min and max.
                    *m = if x < *m || x.is_nan() { x } else { *m };
                }
            }
            VectorAggregate::Max => {
                for (m, &v) in self.maxs.iter_mut().zip(row) {
                    let x = v.to_f64();
                    *m = if x > *m || x.is_nan() { x } else { *m };
                }
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn aggregates_per_dimension_skipping_nulls() {
        let run = |op| {
            let mut acc = Accumulator::new(3, op);
            acc.add_row(&[1.0f64, 2.0, 3.0]);
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
            nan.add_row(&[f64::NAN]);
            nan.add_row(&[1.0f64]);
            assert!(nan.finish().unwrap().0[0].is_nan(), "{op:?}");
        }
    }
}
