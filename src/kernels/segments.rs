//! A column seen as a sequence of contiguous segments (one per Arrow chunk),
//! each with an optional validity bitmap, and a walker that visits it in
//! fixed-size *logical* blocks.
//!
//! Reductions combine per-block partial results in block order. Because the
//! block boundaries depend only on the logical row position, results are
//! bit-identical however the column is chunked or sliced.

use super::element::Element;

/// Rows per reduction block: small enough to stay in L1 for the second
/// (centring) pass of the variance, large enough to amortise the merge.
pub const BLOCK: usize = 2048;

/// An Arrow validity bitmap: `bytes` with the first row at bit `offset`.
#[derive(Clone, Copy, Debug)]
pub struct Validity<'a> {
    pub bytes: &'a [u8],
    pub offset: usize,
}

impl Validity<'_> {
    /// Whether row `i` is valid. Out-of-range rows count as null rather than panic.
    #[inline(always)]
    pub fn is_valid(&self, i: usize) -> bool {
        let bit = self.offset + i;
        self.bytes
            .get(bit / 8)
            .is_some_and(|byte| byte & (1 << (bit % 8)) != 0)
    }
}

/// One contiguous run of values; `validity` is `None` when every row is valid.
#[derive(Clone, Copy, Debug)]
pub struct Segment<'a, T> {
    pub values: &'a [T],
    pub validity: Option<Validity<'a>>,
}

impl<'a, T: Element> Segment<'a, T> {
    pub fn new(values: &'a [T], validity: Option<Validity<'a>>) -> Self {
        Self { values, validity }
    }

    #[inline(always)]
    pub fn is_valid(&self, i: usize) -> bool {
        self.validity.is_none_or(|v| v.is_valid(i))
    }
}

/// Total number of rows (valid or not).
pub fn total_len<T>(segments: &[Segment<'_, T>]) -> usize {
    segments.iter().map(|s| s.values.len()).sum()
}

/// Calls `visit(values)` once per logical block of `BLOCK` rows with the
/// block's *valid* values in row order. A block that lies inside one segment
/// and has no nulls is passed as a borrowed slice; any other block is first
/// compacted into a stack buffer. Both give the kernel the same sequence, so
/// the result does not depend on the chunking.
pub fn for_each_valid_block<T: Element, E>(
    segments: &[Segment<'_, T>],
    mut visit: impl FnMut(&[T]) -> Result<(), E>,
) -> Result<(), E> {
    let mut buffer = [T::default(); BLOCK];
    let mut filled = 0usize; // valid values gathered for the current block
    let mut block_pos = 0usize; // rows of the current block seen so far
    for segment in segments {
        let mut start = 0usize;
        let len = segment.values.len();
        while start < len {
            let take = (BLOCK - block_pos).min(len - start);
            let rows = &segment.values[start..start + take];
            let all_valid = match segment.validity {
                None => true,
                Some(v) => (start..start + take).all(|i| v.is_valid(i)),
            };
            if block_pos == 0 && take == BLOCK && all_valid {
                visit(rows)?;
            } else {
                for (i, &value) in rows.iter().enumerate() {
                    if all_valid || segment.is_valid(start + i) {
                        buffer[filled] = value;
                        filled += 1;
                    }
                }
                block_pos += take;
                if block_pos == BLOCK {
                    visit(&buffer[..filled])?;
                    filled = 0;
                    block_pos = 0;
                }
            }
            start += take;
        }
    }
    if block_pos > 0 {
        visit(&buffer[..filled])?;
    }
    Ok(())
}

/// The first row (logical position) holding an infinite value, if any.
pub fn first_infinite_row<T: Element>(segments: &[Segment<'_, T>]) -> Option<usize> {
    let mut base = 0usize;
    for segment in segments {
        for (i, &value) in segment.values.iter().enumerate() {
            if value.to_f64().is_infinite() && segment.is_valid(i) {
                return Some(base + i);
            }
        }
        base += segment.values.len();
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn collect_blocks(segments: &[Segment<'_, f64>]) -> Vec<Vec<f64>> {
        let mut blocks = Vec::new();
        for_each_valid_block::<f64, ()>(segments, |b| {
            blocks.push(b.to_vec());
            Ok(())
        })
        .unwrap();
        blocks
    }

    #[test]
    fn blocks_do_not_depend_on_chunking() {
        let data: Vec<f64> = (0..5000).map(|i| i as f64).collect();
        let whole = collect_blocks(&[Segment::new(&data, None)]);
        let (a, rest) = data.split_at(1000);
        let (b, c) = rest.split_at(2047);
        let parts = [
            Segment::new(a, None),
            Segment::new(b, None),
            Segment::new(c, None),
        ];
        assert_eq!(whole, collect_blocks(&parts));
        assert_eq!(whole.len(), 3);
        assert_eq!(whole[2].len(), 5000 - 2 * BLOCK);
    }

    #[test]
    fn nulls_are_skipped() {
        let data = [1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0, 9.0];
        let bits = [0b1010_1010u8, 0b0000_0001];
        // offset 1: rows map to bits 1..10 -> valid rows 0,2,4,6,7 (bits 1,3,5,7,8)
        let seg = Segment::new(
            &data,
            Some(Validity {
                bytes: &bits,
                offset: 1,
            }),
        );
        assert_eq!(collect_blocks(&[seg]), vec![vec![1.0, 3.0, 5.0, 7.0, 8.0]]);
    }

    #[test]
    fn validity_out_of_range_is_null() {
        let v = Validity {
            bytes: &[0xFF],
            offset: 0,
        };
        assert!(v.is_valid(7));
        assert!(!v.is_valid(8));
    }
}
