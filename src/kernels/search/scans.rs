//! The row-by-row searches: each row read once, for all queries, and
//! ranked by the exact kernels of [`super::codes`]. They serve few queries
//! (where a matrix product does not pay) and are the references that the
//! blocked kernels are tested against, bit for bit.

use crate::kernels::element::F16;

use super::codes::{f32_lanes_dot, int_dot, widen_f16, word, CodeRanker, HalfRanker, IntCode};
use super::topk::{search_in_parts, Metric, TopK, PART_ROWS};

/// [`nearest_codes`] by a scan: each row read once, for all queries, one
/// integer dot product per pair; a row's own sum of squares is computed
/// once for all queries.
pub fn nearest_codes_scan<C: IntCode>(
    queries: &[C],
    m: usize,
    d: usize,
    k: usize,
    metric: Metric,
    rows: &[(u32, &[C])],
) -> Vec<Vec<(u32, f64)>> {
    let rankers: Vec<CodeRanker<'_, C>> = (0..m)
        .map(|q| CodeRanker::new(metric, queries.get(q * d..(q + 1) * d).unwrap_or(&[])))
        .collect();
    scan_nearest_with(
        m,
        k,
        rows,
        |row, _| {
            if metric != Metric::Dot {
                int_dot(row, row)
            } else {
                0
            }
        },
        |q, row, row_sq, _| rankers[q].rank_with(row, *row_sq),
    )
}

/// [`nearest_half`] by a plain scan: each row widened once for all queries
/// and ranked by [`HalfRanker`] for each (the reference of the tiled
/// kernel).
pub fn nearest_half_scan(
    queries: &[f32],
    m: usize,
    d: usize,
    k: usize,
    metric: Metric,
    rows: &[(u32, &[F16])],
) -> Vec<Vec<(u32, f64)>> {
    let rankers: Vec<HalfRanker<'_>> = (0..m)
        .map(|q| HalfRanker::new(metric, queries.get(q * d..(q + 1) * d).unwrap_or(&[])))
        .collect();
    let needs_row_sq = metric == Metric::Cosine;
    scan_nearest_with(
        m,
        k,
        rows,
        |row, scratch| {
            widen_f16(row, scratch);
            if needs_row_sq {
                f32_lanes_dot(scratch, scratch)
            } else {
                0.0
            }
        },
        |q, _, row_sq, scratch| rankers[q].rank(scratch, *row_sq),
    )
}

/// The `k` best rows for each of `m` queries by `rank(q, row, prepared,
/// scratch)`, reading each row once (rows outer, queries inner), with the
/// work all queries share done once per row by `prepare(row, scratch)`. For
/// few queries this beats a matrix product. Row ranges are searched on
/// several threads and merged exactly (see `TopK::merge`), so the result
/// does not depend on the thread count.
fn scan_nearest_with<R: Sync, P>(
    m: usize,
    k: usize,
    rows: &[(u32, &[R])],
    prepare: impl Fn(&[R], &mut Vec<f32>) -> P + Sync,
    rank: impl Fn(usize, &[R], &P, &mut Vec<f32>) -> (f64, f64) + Sync,
) -> Vec<Vec<(u32, f64)>> {
    search_in_parts(rows, PART_ROWS, m, k, |part| {
        let mut tops: Vec<TopK> = (0..m).map(|_| TopK::new(k)).collect();
        let mut scratch = Vec::new();
        for &(position, row) in part {
            let prepared = prepare(row, &mut scratch);
            for (q, top) in tops.iter_mut().enumerate() {
                let (key, score) = rank(q, row, &prepared, &mut scratch);
                top.push(key, position, score);
            }
        }
        Some(tops)
    })
    .unwrap_or_default()
}

crate::by_level! {
    [vnni, avx2]
    /// The distances from one code to each of `m` query codes (`queries`:
    /// `m × width` bytes) into `out`: one dispatch per row, not per pair.
    fn hamming_many<>(row: &[u8], queries: &[u8], width: usize, out: &mut [u32]) {
        for (d, query) in out.iter_mut().zip(queries.chunks_exact(width.max(1))) {
            let words = row.chunks_exact(8).zip(query.chunks_exact(8));
            let mut total: u32 = words
                .map(|(a, b)| (u64::from_le_bytes(word(a)) ^ u64::from_le_bytes(word(b))).count_ones())
                .sum();
            let tail = row.len() / 8 * 8;
            for (a, b) in row[tail..].iter().zip(&query[tail.min(query.len())..]) {
                total += (a ^ b).count_ones();
            }
            *d = total;
        }
    }
}

/// [`nearest_hamming`] by a scan: each row read once, for all queries.
/// Distances are integers, so a row enters a query's top-k only if it is
/// strictly closer than the worst kept (rows come in order within a
/// range); ranges run on several threads and merge exactly.
pub fn nearest_hamming_scan(
    queries: &[u8],
    m: usize,
    width: usize,
    k: usize,
    rows: &[(u32, &[u8])],
) -> Vec<Vec<(u32, f64)>> {
    search_in_parts(rows, PART_ROWS, m, k, |part| {
        let mut tops: Vec<TopK> = (0..m).map(|_| TopK::new(k)).collect();
        let mut worst = vec![u32::MAX; m]; // accept anything until k are kept
        let mut distances = vec![0u32; m];
        for &(position, row) in part {
            hamming_many(row, queries, width, &mut distances);
            for q in 0..m {
                let d = distances[q];
                if d < worst[q] {
                    let top = &mut tops[q];
                    top.push(-f64::from(d), position, f64::from(d));
                    let kept = top.worst_key();
                    if kept.is_finite() {
                        worst[q] = (-kept) as u32;
                    }
                }
            }
        }
        Some(tops)
    })
    .unwrap_or_default()
}
