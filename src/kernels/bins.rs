//! KBinsDiscretizer's kernels: a value's bin among fitted edges, and exact
//! order statistics of a column in memory by successive selections.

/// The code of a NaN value (no bin).
pub const NAN_CODE: u32 = u32::MAX;

/// A value's bin among rising inner edges: how many are at or below it.
#[inline]
pub fn bin_of(edges: &[f64], x: f64) -> u32 {
    if x.is_nan() {
        return NAN_CODE;
    }
    // Few edges (the usual case): a branch-free count beats a search.
    let count = if edges.len() <= 16 {
        edges.iter().filter(|&&e| e <= x).count()
    } else {
        edges.partition_point(|&e| e <= x)
    };
    // A bin count fits u32: the edges come from a list held in memory.
    count as u32
}

/// The values at `ranks` (ascending, distinct) of `values` sorted in total
/// order, by selections that split the work (no full sort): the middle rank
/// is selected first, then the ranks below it among the values on its left
/// and those above among the values on its right (n log k work for k ranks).
/// `None` when the ranks are not ascending or not below the values' count.
pub fn select_ranks(values: &mut [f64], ranks: &[usize]) -> Option<Vec<f64>> {
    if ranks.windows(2).any(|w| w[0] >= w[1]) || ranks.last().is_some_and(|&r| r >= values.len()) {
        return None;
    }
    let mut out = vec![0.0; ranks.len()];
    split_select(values, ranks, 0, &mut out);
    Some(out)
}

/// `out[i]` = the value at `ranks[i] - offset` of `values` in total order.
fn split_select(values: &mut [f64], ranks: &[usize], offset: usize, out: &mut [f64]) {
    if ranks.is_empty() {
        return;
    }
    let mid = ranks.len() / 2;
    let at = ranks[mid] - offset;
    let (left, nth, right) = values.select_nth_unstable_by(at, f64::total_cmp);
    out[mid] = *nth;
    let (out_left, out_rest) = out.split_at_mut(mid);
    split_select(left, &ranks[..mid], offset, out_left);
    split_select(
        right,
        &ranks[mid + 1..],
        offset + at + 1,
        &mut out_rest[1..],
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn select_ranks_equals_sorting() {
        let mut state = 12345u64;
        let values: Vec<f64> = (0..1000)
            .map(|_| {
                state = state
                    .wrapping_mul(6364136223846793005)
                    .wrapping_add(1442695040888963407);
                ((state >> 33) % 97) as f64 - 40.0
            })
            .collect();
        let mut sorted = values.clone();
        sorted.sort_by(f64::total_cmp);
        let ranks = [0, 1, 250, 251, 499, 998, 999];
        let mut work = values.clone();
        let found = select_ranks(&mut work, &ranks);
        let expected: Vec<f64> = ranks.iter().map(|&r| sorted[r]).collect();
        assert_eq!(found, Some(expected));
        assert!(select_ranks(&mut work, &[1000]).is_none());
        assert!(select_ranks(&mut work, &[5, 3]).is_none());
    }

    #[test]
    fn bins_count_the_edges_at_or_below() {
        let edges = [1.0, 2.0, 2.5];
        let got: Vec<u32> = [0.5, 1.0, 1.5, 2.0, 2.7, f64::INFINITY, f64::NEG_INFINITY]
            .iter()
            .map(|&x| bin_of(&edges, x))
            .collect();
        assert_eq!(got, vec![0, 1, 1, 2, 3, 3, 0]);
        assert_eq!(bin_of(&edges, f64::NAN), NAN_CODE);
        let many: Vec<f64> = (0..40).map(f64::from).collect();
        assert_eq!(bin_of(&many, 17.5), 18);
        assert_eq!(bin_of(&many, 17.0), 18);
    }
}
