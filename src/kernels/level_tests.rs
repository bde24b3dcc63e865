//! Same bits at every CPU level: each kernel family runs at every level
//! this machine offers ([`cpu::test_levels`]) and must give exactly what
//! it gives at the portable level, which in turn is checked against a
//! plain scalar reference. Levels this CPU lacks are printed as not tested;
//! tests of kernels that exist only at a higher level are `#[ignore]`d
//! where the machine lacks it (see `build.rs`).

use super::aggregate::{Accumulator, VectorAggregate};
use super::cpu::{self, Level};
use super::element::{Element, F16};
use super::scaling::{block_extent, column_moments};
use super::search::codes::{f32_lanes_dot, hamming, int_dot, int_dot_sq, widen_f16};
use super::search::floats::nearest;
use super::search::scans::{nearest_codes_scan, nearest_half_scan, nearest_hamming_scan};
use super::search::{nearest_codes, nearest_half, nearest_hamming, Metric};
use super::segments::Segment;
use super::test_data::random_bytes;
use super::vector::{self, UnitNorm};

/// `count` numbers in about [-2, 2), reproducible from `seed`.
fn numbers(count: usize, seed: u64) -> Vec<f64> {
    random_bytes(count * 2, seed)
        .chunks_exact(2)
        .map(|b| (f64::from(u16::from_le_bytes([b[0], b[1]])) - 32768.0) / 16384.0)
        .collect()
}

/// `work()` at every level this machine offers, each result equal (by
/// `same`) to the portable level's, which is returned.
fn at_every_level<R: std::fmt::Debug>(
    what: &str,
    work: impl Fn() -> R,
    same: impl Fn(&R, &R) -> bool,
) -> R {
    let mut levels = cpu::test_levels().into_iter();
    let portable = cpu::with_level(levels.next().unwrap_or(Level::Portable), &work);
    for level in levels {
        let got = cpu::with_level(level, &work);
        assert!(
            same(&got, &portable),
            "{what}: {level:?} gives {got:?}, portable {portable:?}"
        );
    }
    portable
}

fn same_bits(a: &f64, b: &f64) -> bool {
    a.to_bits() == b.to_bits()
}

fn close(got: f64, expected: f64, what: &str) {
    let tolerance = 1e-12 * expected.abs().max(1.0);
    assert!(
        (got - expected).abs() <= tolerance,
        "{what}: {got} against {expected}"
    );
}

/// The lengths every row kernel is tried at: empty, shorter than, equal to
/// and past one lane group, one embedding, and long blocked vectors.
const LENGTHS: [usize; 11] = [0, 1, 3, 31, 32, 33, 100, 384, 1000, 40_000, 300_000];

fn row_kernels_at_every_level<T: Element + std::fmt::Debug>(from: impl Fn(f64) -> T) {
    for (i, &n) in LENGTHS.iter().enumerate() {
        let a: Vec<T> = numbers(n, 2 * i as u64 + 1)
            .into_iter()
            .map(&from)
            .collect();
        let b: Vec<T> = numbers(n, 2 * i as u64 + 2)
            .into_iter()
            .map(&from)
            .collect();
        let (wa, wb): (Vec<f64>, Vec<f64>) = (
            a.iter().map(|x| x.to_f64()).collect(),
            b.iter().map(|x| x.to_f64()).collect(),
        );
        let what = |name: &str| format!("{name}, {n} elements");
        let dot = at_every_level(&what("dot"), || vector::dot(&a, &b), same_bits);
        close(
            dot,
            wa.iter().zip(&wb).map(|(x, y)| x * y).sum(),
            &what("dot"),
        );
        let sum_sq = at_every_level(&what("sum_sq"), || vector::sum_sq(&a), same_bits);
        close(sum_sq, wa.iter().map(|x| x * x).sum(), &what("sum_sq"));
        let manhattan = at_every_level(&what("manhattan"), || vector::manhattan(&a, &b), same_bits);
        let expected: f64 = wa.iter().zip(&wb).map(|(x, y)| (x - y).abs()).sum();
        close(manhattan, expected, &what("manhattan"));
        let l1 = at_every_level(&what("norm_l1"), || vector::norm_l1(&a), same_bits);
        close(l1, wa.iter().map(|x| x.abs()).sum(), &what("norm_l1"));
        let euclidean = at_every_level(&what("euclidean"), || vector::euclidean(&a, &b), same_bits);
        let expected: f64 = wa.iter().zip(&wb).map(|(x, y)| (x - y) * (x - y)).sum();
        close(euclidean, expected.sqrt(), &what("euclidean"));
        at_every_level(&what("cosine"), || vector::cosine(&a, &b), same_bits);
        at_every_level(
            &what("unit_normalize"),
            || {
                let mut out = vec![from(0.0); n];
                vector::unit_normalize(&a, UnitNorm::L2, &mut out);
                out.iter()
                    .map(|x| x.to_f64().to_bits())
                    .collect::<Vec<u64>>()
            },
            |x, y| x == y,
        );
    }
}

#[test]
fn row_kernels_give_the_same_bits_at_every_level() {
    row_kernels_at_every_level::<f64>(|x| x);
    row_kernels_at_every_level::<f32>(|x| x as f32);
}

#[test]
fn column_statistics_give_the_same_bits_at_every_level() {
    for n in [0, 1, 7, 8, 9, 1000, 100_003] {
        let values = numbers(n, n as u64 + 11);
        let segments = [Segment::new(&values[..], None)];
        let moments = at_every_level(
            &format!("column_moments, {n} values"),
            || column_moments(&segments).map(|(m, f)| (format!("{m:?}"), f.to_bits())),
            |a, b| a == b,
        );
        let (Ok((_, factor)), true) = (&moments, n > 0) else {
            continue;
        };
        assert_eq!(f64::from_bits(*factor), 1.0);
    }
}

#[test]
fn column_extents_give_the_same_bits_at_every_level() {
    for n in [0, 1, 7, 8, 9, 1000, 100_003] {
        let mut values = numbers(n, n as u64 + 3);
        // NaN is skipped, wherever it stands.
        for i in (0..n).step_by(5) {
            values[i] = f64::NAN;
        }
        let narrow: Vec<f32> = values.iter().map(|&v| v as f32).collect();
        let expected = values
            .iter()
            .filter(|v| !v.is_nan())
            .fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), &v| {
                (lo.min(v), hi.max(v))
            });
        let bits = |(lo, hi): (f64, f64)| (lo.to_bits(), hi.to_bits());
        let wide = at_every_level(
            &format!("block_extent, {n} f64"),
            || bits(block_extent(&values)),
            |a, b| a == b,
        );
        assert_eq!(wide, bits(expected));
        let expected32 = (f64::from(expected.0 as f32), f64::from(expected.1 as f32));
        let narrow = at_every_level(
            &format!("block_extent, {n} f32"),
            || bits(block_extent(&narrow)),
            |a, b| a == b,
        );
        assert_eq!(narrow, bits(expected32));
    }
}

#[test]
fn vector_aggregates_give_the_same_bits_at_every_level() {
    let (rows, width) = (1003, 37);
    let values: Vec<f32> = numbers(rows * width, 5)
        .into_iter()
        .map(|x| x as f32)
        .collect();
    for op in [
        VectorAggregate::Sum,
        VectorAggregate::Mean,
        VectorAggregate::Min,
        VectorAggregate::Max,
    ] {
        let result = at_every_level(
            &format!("{op:?}"),
            || {
                let mut state = Accumulator::new(width, op);
                state.add_rows(&values);
                state
                    .finish()
                    .map(|(v, valid)| (v.iter().map(|x| x.to_bits()).collect::<Vec<_>>(), valid))
            },
            |a, b| a == b,
        );
        let Some((got, _)) = result else {
            panic!("{op:?}: no result");
        };
        for (j, bits) in got.iter().enumerate() {
            let column = values.iter().skip(j).step_by(width).map(|&x| f64::from(x));
            let expected = match op {
                VectorAggregate::Sum => column.sum(),
                VectorAggregate::Mean => column.sum::<f64>() / rows as f64,
                VectorAggregate::Min => column.fold(f64::INFINITY, f64::min),
                VectorAggregate::Max => column.fold(f64::NEG_INFINITY, f64::max),
            };
            close(
                f64::from_bits(*bits),
                expected,
                &format!("{op:?} column {j}"),
            );
        }
    }
}

#[test]
fn narrow_code_kernels_give_the_same_bits_at_every_level() {
    for n in [0, 1, 15, 16, 17, 64, 383, 384, 1000, 70_000] {
        // Float16: every bit pattern but NaNs widens exactly.
        let halves: Vec<F16> = random_bytes(2 * n, n as u64)
            .chunks_exact(2)
            .map(|b| F16(u16::from_le_bytes([b[0], b[1]]) & 0xbbff))
            .collect();
        let widened = at_every_level(
            &format!("widen_f16, {n}"),
            || {
                let mut out = Vec::new();
                widen_f16(&halves, &mut out);
                out.iter().map(|x| x.to_bits()).collect::<Vec<u32>>()
            },
            |a, b| a == b,
        );
        let expected: Vec<u32> = halves.iter().map(|h| h.to_f32().to_bits()).collect();
        assert_eq!(widened, expected, "widen_f16, {n}");
        let a: Vec<f32> = numbers(n, 3).into_iter().map(|x| x as f32).collect();
        let b: Vec<f32> = numbers(n, 4).into_iter().map(|x| x as f32).collect();
        at_every_level(
            &format!("f32_lanes_dot, {n}"),
            || f32_lanes_dot(&a, &b),
            same_bits,
        );
        // Integer codes and bit codes: exact, so the reference is exact too.
        let bytes = random_bytes(n, 7);
        let other = random_bytes(n, 8);
        let signed: Vec<i8> = bytes.iter().map(|&x| x as i8).collect();
        let signed_other: Vec<i8> = other.iter().map(|&x| x as i8).collect();
        let expected_i8: i64 = signed
            .iter()
            .zip(&signed_other)
            .map(|(&x, &y)| i64::from(x) * i64::from(y))
            .sum();
        let expected_sq: i64 = signed.iter().map(|&x| i64::from(x) * i64::from(x)).sum();
        let got = at_every_level(
            &format!("int_dot i8, {n}"),
            || int_dot(&signed, &signed_other),
            |a, b| a == b,
        );
        assert_eq!(got, expected_i8);
        let got = at_every_level(
            &format!("int_dot_sq i8, {n}"),
            || int_dot_sq(&signed, &signed_other),
            |a, b| a == b,
        );
        assert_eq!(got, (expected_i8, expected_sq));
        let expected_u8: i64 = bytes
            .iter()
            .zip(&other)
            .map(|(&x, &y)| i64::from(x) * i64::from(y))
            .sum();
        let got = at_every_level(
            &format!("int_dot u8, {n}"),
            || int_dot(&bytes, &other),
            |a, b| a == b,
        );
        assert_eq!(got, expected_u8);
        let expected_bits: u32 = bytes
            .iter()
            .zip(&other)
            .map(|(x, y)| (x ^ y).count_ones())
            .sum();
        let got = at_every_level(
            &format!("hamming, {n}"),
            || hamming(&bytes, &other),
            |a, b| a == b,
        );
        assert_eq!(got, expected_bits);
    }
}

type Found = Vec<Vec<(u32, f64)>>;

fn same_found(a: &Found, b: &Found) -> bool {
    a.len() == b.len()
        && a.iter().zip(b).all(|(x, y)| {
            x.len() == y.len()
                && x.iter()
                    .zip(y)
                    .all(|(p, q)| p.0 == q.0 && p.1.to_bits() == q.1.to_bits())
        })
}

/// Query counts on either side of the search's strategy thresholds (the
/// few-query scans, the tiled Float16 kernel, the panels, the Int8 screen).
const QUERY_COUNTS: [usize; 6] = [1, 5, 17, 40, 50, 130];

#[test]
fn float_searches_give_the_same_results_at_every_level() {
    // Enough rows for the Int8 screen (from 50 queries on).
    let (n, d, k) = (9000, 48, 7);
    let corpus = numbers(n * d, 21);
    let as_f32: Vec<f32> = corpus.iter().map(|&x| x as f32).collect();
    let as_half: Vec<F16> = as_f32.iter().map(|&x| half_of(x)).collect();
    let as_i8: Vec<i8> = corpus.iter().map(|&x| (x * 60.0).round() as i8).collect();
    for m in QUERY_COUNTS {
        let queries = numbers(m * d, 100 + m as u64);
        for metric in [Metric::Cosine, Metric::Dot, Metric::Euclidean] {
            let what = |dtype: &str| format!("nearest {dtype}, {m} queries, {metric:?}");
            at_every_level(
                &what("f64"),
                || nearest(&queries, m, d, k, metric, rows_of(&corpus, d)),
                same_found,
            );
            at_every_level(
                &what("f32"),
                || nearest(&queries, m, d, k, metric, rows_of(&as_f32, d)),
                same_found,
            );
            at_every_level(
                &what("f16"),
                || nearest(&queries, m, d, k, metric, rows_of(&as_half, d)),
                same_found,
            );
            at_every_level(
                &what("i8"),
                || nearest(&queries, m, d, k, metric, rows_of(&as_i8, d)),
                same_found,
            );
        }
    }
}

#[test]
fn code_searches_equal_their_scans_at_every_level() {
    let (n, d, k) = (2000, 64, 9);
    let bytes = random_bytes(n * d, 31);
    let signed: Vec<i8> = bytes.iter().map(|&x| x as i8).collect();
    let signed_rows: Vec<(u32, &[i8])> = rows_of(&signed, d).collect();
    let halves: Vec<F16> = numbers(n * d, 32)
        .into_iter()
        .map(|x| half_of(x as f32))
        .collect();
    let half_rows: Vec<(u32, &[F16])> = rows_of(&halves, d).collect();
    let byte_rows: Vec<(u32, &[u8])> = rows_of(&bytes, d).collect();
    for m in QUERY_COUNTS {
        let queries = random_bytes(m * d, 40 + m as u64);
        let signed_queries: Vec<i8> = queries.iter().map(|&x| x as i8).collect();
        let float_queries: Vec<f32> = numbers(m * d, 50 + m as u64)
            .into_iter()
            .map(|x| x as f32)
            .collect();
        for metric in [Metric::Cosine, Metric::Dot, Metric::Euclidean] {
            let scan = nearest_codes_scan(&signed_queries, m, d, k, metric, &signed_rows);
            let got = at_every_level(
                &format!("nearest_codes, {m} queries, {metric:?}"),
                || nearest_codes(&signed_queries, m, d, k, metric, &signed_rows),
                same_found,
            );
            assert!(same_found(&got, &scan), "nearest_codes against its scan");
            let scan = nearest_half_scan(&float_queries, m, d, k, metric, &half_rows);
            let got = at_every_level(
                &format!("nearest_half, {m} queries, {metric:?}"),
                || nearest_half(&float_queries, m, d, k, metric, &half_rows),
                same_found,
            );
            assert!(same_found(&got, &scan), "nearest_half against its scan");
        }
        let scan = nearest_hamming_scan(&queries, m, d, k, &byte_rows);
        let got = at_every_level(
            &format!("nearest_hamming, {m} queries"),
            || nearest_hamming(&queries, m, d, k, &byte_rows),
            same_found,
        );
        assert!(same_found(&got, &scan), "nearest_hamming against its scan");
    }
}

fn rows_of<T>(values: &[T], d: usize) -> impl Iterator<Item = (u32, &[T])> {
    values
        .chunks_exact(d)
        .enumerate()
        .map(|(i, row)| (i as u32, row))
}

/// The nearest Float16 of `x` (round half to even).
fn half_of(x: f32) -> F16 {
    F16(half::f16::from_f32(x).to_bits())
}
