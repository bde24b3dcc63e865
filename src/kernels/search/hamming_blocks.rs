//! Exact Hamming search over packed binary codes for many queries: blocks
//! of 8 rows, one row per 64-bit lane of a 512-bit vector, against each
//! query by the AVX-512 instruction `vpopcntq` (AVX512_VPOPCNTDQ).
//!
//! Layout: each block of 8 rows is loaded (one masked load of up to 64
//! bytes per row, zero past the row's end) and transposed 8 × 8 words, so
//! that vector `w` holds word `w` of the 8 rows. Each query is packed once
//! as little-endian words, its last word zero-padded the same way, so the
//! padding never differs. For each query the kernel broadcasts its word
//! `w`, XORs it with vector `w`, counts bits per lane and adds: the 8 rows'
//! distances. A compare with the query's worst kept distance (`vpcmpuq`)
//! screens them; only rows strictly closer go on, in row order, to
//! [`TopK`], exactly as the per-row scan
//! ([`super::codes::nearest_hamming_scan`]) offers them. Distances are
//! integers and rows come in position order within a part, so the result
//! is the scan's: same positions, same distances, ties to the lower
//! position. Rows are split into the scan's parts over threads and merged
//! the same way, so the thread count never changes the result.
//!
//! Rows in lanes rather than queries in lanes (8 queries per vector, each
//! row's words broadcast): both do 3 vector operations per word per 8
//! pairs, but here no lane idles when the query count is not a multiple of
//! 8, and the transpose (20 shuffles per block) is shared by all queries.
//! Measured on one thread (CPU time), the query-panel layout was as fast
//! at 8 and 16 queries, 2–5% slower at 100 and 1,000, 12% slower at 1 and
//! 40% slower at 10 (two panels, one a quarter full). Codes of up to 16 words (128
//! bytes) have a kernel of their own whose block stays in registers. Rows
//! are read through their own slices, so they need not be contiguous, and
//! prefetched a few blocks ahead. Below the VNNI level (no AVX-512
//! VPOPCNTDQ) the word kernel [`search_words`] serves instead: one row's
//! words in registers against every query, by the scalar population count.
//! `hamming_bench` on the AVX2 EPYC (1M codes of 48 bytes, k = 10, two
//! threads, machine shared): 100 queries in 180 ms against the scan's 447.
//!
//! Measured on the 2-core Xeon (Sapphire Rapids class, shared with other
//! builds) with `cargo run --release --example hamming_bench 1000000 48 0
//! 5 float`: 1M random codes of 48 bytes (384 bits), k = 10, two threads;
//! `nearest::<f32>` searches 1M random Float32 rows of 384 (cosine) for
//! comparison. Each invocation reports the median of 5 searches; the
//! table gives the median over the invocations in which both cores were
//! free (CPU time about twice the wall time; 4 to 6 per row). Wall / CPU
//! milliseconds per search, and per (row, query) pair wall / CPU
//! nanoseconds (the scan at 1,000 queries timed on 200k rows and scaled):
//!
//! | queries | scan ms | blocked ms | `nearest::<f32>` ms | scan ns/pair | blocked ns/pair |
//! |---|---|---|---|---|---|
//! | 1 | 6.9 / 13.5 | 2.8 / 5.4 | 145 / 267 | 6.9 / 13.5 | 2.8 / 5.4 |
//! | 10 | 30.7 / 59.5 | 6.9 / 13.4 | 188 / 351 | 3.1 / 6.0 | 0.69 / 1.34 |
//! | 100 | 260 / 513 | 38.3 / 76.2 | 470 / 911 | 2.6 / 5.1 | 0.38 / 0.76 |
//! | 1,000 | 2,630 / 5,170 | 373 / 738 | – | 2.6 / 5.2 | 0.37 / 0.74 |
//!
//! The blocked kernel is 52×, 27× and 12× faster than the Float32 search
//! at 1, 10 and 100 queries, and 2.5× to 7× faster than the scan. From
//! 100 queries on it runs at about 3 vector operations per ns per core,
//! what a loop of nothing but XOR, `vpopcntq` and add reaches on this
//! machine (`vpopcntq` issues on one port, XOR and add on two). When
//! another process holds one core, wall times about double; the CPU times
//! barely move.
//!
//! The parts share each query's k-th distance as they find it (see
//! [`run_kernel`]), so that once one part has its k rows the others let
//! far fewer rows through to [`TopK`]: 10 / 100 / 1,000 queries then take
//! 4.5 / 22.7 / 202 ms wall (8.9 / 44.6 / 396 CPU), against 6.9 / 28.4 /
//! 269 without sharing on the same quiet machine (the table's rows were
//! measured earlier, with another build running).
//!
//! Tried and dropped: Hamming distances as a byte matrix product on AMX
//! tiles (`|x| + |q| - 2·(x·q)`, each bit unpacked to a byte, `x·q` by
//! `tdpbuud`, as [`super::code_blocks`] does for Int8). Exact, but slower
//! than this kernel at every query count measured (1M codes of 48 bytes,
//! wall / CPU ms): 32 queries 19.2 / 36.3 against 10.5 / 20.7, 100 queries
//! 39.8 / 74.6 against 28.4 / 56.2, 1,000 queries 291 / 560 against 269 /
//! 531. Unpacking multiplies the bytes by 8, and each product leaves the
//! tiles through memory before it can be compared, where here the compare
//! happens in registers.

use std::sync::atomic::{AtomicU64, Ordering};

use crate::kernels::cpu::{self, Level};

use super::scans::nearest_hamming_scan;
use super::topk::{search_in_parts, TopK, PART_ROWS};

/// Rows per block: one 64-bit lane of a 512-bit vector each.
const LANES: usize = 8;
/// How many blocks ahead rows are prefetched (the block's pointers come
/// from the row slices, so the hardware cannot always follow them).
const PREFETCH_BLOCKS: usize = 8;
/// Blocks between two reads of the thresholds the other parts shared.
const SHARE_BLOCKS: usize = 64;

/// Whether the active level runs the vector kernel (AVX-512 VPOPCNTDQ
/// comes with the VNNI level); below it the word kernel serves.
fn vector_kernel() -> bool {
    cfg!(target_arch = "x86_64") && cpu::at_least(Level::Vnni)
}

/// The `k` codes nearest each of `m` query codes (`queries`: `m × width`
/// bytes, row-major), as `(position, distance)` best first, ties to the
/// lower position: the blocked kernel where the CPU has it, else the scan.
/// Both give the same result.
pub fn nearest(
    queries: &[u8],
    m: usize,
    width: usize,
    k: usize,
    rows: &[(u32, &[u8])],
) -> Vec<Vec<(u32, f64)>> {
    search(true, queries, m, width, k, rows)
}

/// [`nearest`], the blocked kernel tried only when `blocked` (the tests
/// force the scan with `false`).
fn search(
    blocked: bool,
    queries: &[u8],
    m: usize,
    width: usize,
    k: usize,
    rows: &[(u32, &[u8])],
) -> Vec<Vec<(u32, f64)>> {
    if blocked {
        if let Some(found) = nearest_blocked(queries, m, width, k, rows) {
            return found;
        }
    }
    nearest_hamming_scan(queries, m, width, k, rows)
}

/// [`nearest`] by the blocked kernel, or `None` when it does not apply: no
/// queries, zero width, fewer than `m × width` query bytes, or a row of
/// another width.
pub fn nearest_blocked(
    queries: &[u8],
    m: usize,
    width: usize,
    k: usize,
    rows: &[(u32, &[u8])],
) -> Option<Vec<Vec<(u32, f64)>>> {
    if m == 0 || width == 0 || queries.len() < m.checked_mul(width)? {
        return None;
    }
    if k == 0 {
        return Some(vec![Vec::new(); m]);
    }
    let packed = Queries::new(queries, m, width);
    // Per query, the smallest k-th distance any part has kept so far.
    let shared: Vec<AtomicU64> = (0..m).map(|_| AtomicU64::new(u64::MAX)).collect();
    // None: a row of another width.
    search_in_parts(rows, PART_ROWS, m, k, |part| {
        packed.search_part(k, part, &shared)
    })
}

/// Word `w` of `code`: bytes `8w .. 8w + 8` as a little-endian word,
/// zero-padded past the end of `code` (the kernel's masked loads read the
/// rows so).
fn code_word(code: &[u8], w: usize) -> u64 {
    let mut bytes = [0u8; 8];
    for (b, &x) in bytes.iter_mut().zip(code.get(8 * w..).unwrap_or(&[])) {
        *b = x;
    }
    u64::from_le_bytes(bytes)
}

/// The queries packed once: `m × per_code` little-endian words,
/// row-major, the last word of each zero-padded past `width`.
struct Queries {
    words: Vec<u64>,
    m: usize,
    width: usize,
    /// Words per code: `width / 8` rounded up.
    per_code: usize,
}

impl Queries {
    fn new(queries: &[u8], m: usize, width: usize) -> Self {
        let per_code = width.div_ceil(8);
        let mut words = vec![0u64; m * per_code];
        for (query, packed) in queries
            .chunks_exact(width)
            .zip(words.chunks_exact_mut(per_code))
        {
            for (w, word) in packed.iter_mut().enumerate() {
                *word = code_word(query, w);
            }
        }
        Queries {
            words,
            m,
            width,
            per_code,
        }
    }

    /// The top `k` of each query over one part of the rows, or `None` if a
    /// row has another width. `shared`: each query's smallest k-th distance
    /// kept by any part, read and lowered as the part goes.
    fn search_part(
        &self,
        k: usize,
        part: &[(u32, &[u8])],
        shared: &[AtomicU64],
    ) -> Option<Vec<TopK>> {
        if part.iter().any(|(_, row)| row.len() != self.width) {
            return None;
        }
        let mut tops: Vec<TopK> = (0..self.m).map(|_| TopK::new(k)).collect();
        // The distance a row must be under to enter: anything until k are kept.
        let mut worst = vec![u64::MAX; self.m];
        if vector_kernel() {
            // SAFETY: the level has AVX-512 VPOPCNTDQ and BW
            // (`vector_kernel`); every row holds `width` bytes (checked
            // above).
            if !unsafe { run_kernel(self, part, &mut tops, &mut worst, shared) } {
                return None;
            }
        } else {
            search_words(self, part, &mut tops, &mut worst, shared);
        }
        Some(tops)
    }
}

/// Searches `part` for every query into `tops` and `worst` (`m` each);
/// false where there is no kernel.
///
/// `worst[q]` is what a row's distance must be under to enter query q's
/// top k: the part's own k-th distance, or one more than the k-th distance
/// another part has already kept (`shared[q]`), whichever is smaller. A row
/// farther than the other part's k rows cannot be among the k nearest; a
/// row at the same distance still enters, since the tie goes by position.
/// So fewer rows reach [`TopK`], and the result is the same.
///
/// # Safety
/// The CPU has AVX-512F, BW and VPOPCNTDQ ([`vector_kernel`]); every row of
/// `part` holds `queries.width` bytes.
#[cfg(target_arch = "x86_64")]
unsafe fn run_kernel(
    queries: &Queries,
    part: &[(u32, &[u8])],
    tops: &mut [TopK],
    worst: &mut [u64],
    shared: &[AtomicU64],
) -> bool {
    if tops.len() < queries.m
        || worst.len() < queries.m
        || shared.len() < queries.m
        || queries.words.len() < queries.m * queries.per_code
        || queries.per_code != queries.width.div_ceil(8)
    {
        return false; // never: `Queries::new` and `search_part` size them
    }
    // SAFETY: the CPU and the rows as this function's contract; the
    // queries' words, `tops` and `worst` sized as checked above.
    unsafe { avx512::dispatch(queries, part, tops, worst, shared) };
    true
}

#[cfg(not(target_arch = "x86_64"))]
unsafe fn run_kernel(
    _queries: &Queries,
    _part: &[(u32, &[u8])],
    _tops: &mut [TopK],
    _worst: &mut [u64],
    _shared: &[AtomicU64],
) -> bool {
    false
}

/// Offers the rows of `block` in the lanes of `pass` (lane `i`: row `i`,
/// at `distances[i]`) to one query, in row order. Each is checked again
/// against the current worst distance, which an earlier row of the block
/// may have lowered.
#[cold]
#[inline(never)]
fn offer(
    top: &mut TopK,
    worst: &mut u64,
    shared: &AtomicU64,
    block: &[(u32, &[u8])],
    distances: &[u64; LANES],
    mut pass: u8,
) {
    while pass != 0 {
        let lane = pass.trailing_zeros() as usize;
        pass &= pass - 1;
        let (Some(&(position, _)), Some(&d)) = (block.get(lane), distances.get(lane)) else {
            continue;
        };
        if d < *worst {
            offer_one(top, worst, shared, position, d);
        }
    }
}

/// Puts the row at `position`, at distance `d` (under `worst`), into the
/// query's top k, and lowers the part's and the shared thresholds to the
/// k-th distance kept once there are k.
#[inline]
fn offer_one(top: &mut TopK, worst: &mut u64, shared: &AtomicU64, position: u32, d: u64) {
    let d = d as f64; // exact: far below 2^53
    top.push(-d, position, d);
    let kept = top.worst_key();
    if kept.is_finite() {
        // The part's k-th distance fell: the threshold falls with it (it
        // never rises above the shared bound already in it).
        let kept = (-kept) as u64;
        *worst = (*worst).min(kept);
        shared.fetch_min(kept, Ordering::Relaxed);
    }
}

crate::by_level! {
    [avx2]
    /// The blocked search below the VNNI level: one row at a time, its
    /// words held in registers (their count fixed where it is small)
    /// against every query's words, by the scalar population count (POPCNT
    /// at the AVX2 level, NEON's `cnt` on aarch64). The rows come in order
    /// and a row enters only strictly under `worst`, as in the vector
    /// kernel, so the result is the scan's.
    fn search_words<>(
        queries: &Queries,
        part: &[(u32, &[u8])],
        tops: &mut [TopK],
        worst: &mut [u64],
        shared: &[AtomicU64]
    ) {
        macro_rules! fixed {
            ($($w:literal)*) => {
                match queries.per_code {
                    $($w => scan_words::<$w>(queries, part, tops, worst, shared),)*
                    _ => scan_words::<0>(queries, part, tops, worst, shared),
                }
            };
        }
        fixed!(1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16)
    }
}

/// [`search_words`] with `W` words per code (0: `per_code`, read from
/// memory). Inlined into each level's version, so the population count is
/// that level's instruction.
#[inline(always)]
fn scan_words<const W: usize>(
    queries: &Queries,
    part: &[(u32, &[u8])],
    tops: &mut [TopK],
    worst: &mut [u64],
    shared: &[AtomicU64],
) {
    let per_code = queries.per_code.max(1);
    let mut fixed = [0u64; W];
    let mut spilled = vec![0u64; if W == 0 { per_code } else { 0 }];
    let fixed_queries: &[[u64; W]] = if W > 0 {
        queries.words.as_chunks::<W>().0
    } else {
        &[]
    };
    for (r, &(position, row)) in part.iter().enumerate() {
        if r % (SHARE_BLOCKS * LANES) == 0 {
            read_shared(worst, shared);
        }
        let words: &mut [u64] = if W > 0 { &mut fixed } else { &mut spilled };
        let (whole, _) = row.as_chunks::<8>();
        for (w, word) in words.iter_mut().enumerate() {
            *word = match whole.get(w) {
                Some(&bytes) => u64::from_le_bytes(bytes),
                None => code_word(row, w),
            };
        }
        let per_query = tops.iter_mut().zip(worst.iter_mut()).zip(shared);
        if W > 0 {
            for (((top, worst), shared), query) in per_query.zip(fixed_queries) {
                let mut d = 0u64;
                for w in 0..W {
                    d += u64::from((fixed[w] ^ query[w]).count_ones());
                }
                if d < *worst {
                    offer_one(top, worst, shared, position, d);
                }
            }
        } else {
            for (((top, worst), shared), query) in
                per_query.zip(queries.words.chunks_exact(per_code))
            {
                let d: u64 = spilled
                    .iter()
                    .zip(query)
                    .map(|(&x, &q)| u64::from((x ^ q).count_ones()))
                    .sum();
                if d < *worst {
                    offer_one(top, worst, shared, position, d);
                }
            }
        }
    }
}

/// Lowers each query's threshold to one past the k-th distance another
/// part has kept (see [`run_kernel`]).
#[inline]
fn read_shared(worst: &mut [u64], shared: &[AtomicU64]) {
    for (worst, shared) in worst.iter_mut().zip(shared) {
        *worst = (*worst).min(shared.load(Ordering::Relaxed).saturating_add(1));
    }
}

#[cfg(target_arch = "x86_64")]
mod avx512 {
    use std::arch::x86_64::*;

    use super::{
        offer, read_shared, AtomicU64, Queries, TopK, LANES, PREFETCH_BLOCKS, SHARE_BLOCKS,
    };

    /// [`search`] with the count of words per code fixed where it is small,
    /// so that a block's words stay in registers.
    ///
    /// # Safety
    /// The CPU has AVX-512F, BW and VPOPCNTDQ; `per_code = ⌈width / 8⌉`;
    /// every row of `part` holds `width` bytes.
    #[target_feature(enable = "avx512f,avx512bw,avx512vpopcntdq")]
    pub(super) unsafe fn dispatch(
        queries: &Queries,
        part: &[(u32, &[u8])],
        tops: &mut [TopK],
        worst: &mut [u64],
        shared: &[AtomicU64],
    ) {
        macro_rules! fixed {
            ($($w:literal)*) => {
                match queries.per_code {
                    // SAFETY: as this function's contract; `W = per_code`.
                    $($w => unsafe { search::<$w>(queries, part, tops, worst, shared) },)*
                    // SAFETY: as this function's contract; `W = 0`.
                    _ => unsafe { search::<0>(queries, part, tops, worst, shared) },
                }
            };
        }
        fixed!(1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16)
    }

    /// Every block of 8 rows of `part`, transposed (one vector per word, a
    /// row per lane), against every query. `W`: the words per code when
    /// nonzero (then they stay in registers), else `per_code`.
    ///
    /// # Safety
    /// As [`dispatch`], and `W` is 0 or `per_code`.
    #[target_feature(enable = "avx512f,avx512bw,avx512vpopcntdq")]
    unsafe fn search<const W: usize>(
        queries: &Queries,
        part: &[(u32, &[u8])],
        tops: &mut [TopK],
        worst: &mut [u64],
        shared: &[AtomicU64],
    ) {
        let mut fixed = [_mm512_setzero_si512(); W];
        let mut spilled = if W == 0 {
            vec![_mm512_setzero_si512(); queries.per_code]
        } else {
            Vec::new()
        };
        let words: &mut [__m512i] = if W > 0 { &mut fixed } else { &mut spilled };
        let per_code = words.len();
        for (b, block) in part.chunks(LANES).enumerate() {
            if b % SHARE_BLOCKS == 0 {
                read_shared(worst, shared);
            }
            let ahead = (b + PREFETCH_BLOCKS) * LANES;
            for (_, row) in part.get(ahead..ahead + LANES).unwrap_or(&[]) {
                // A row may straddle two cache lines.
                let at = row.as_ptr();
                _mm_prefetch::<_MM_HINT_T0>(at.cast());
                _mm_prefetch::<_MM_HINT_T0>(at.wrapping_add(row.len().saturating_sub(1)).cast());
            }
            // SAFETY: the block's rows hold `width` bytes and `words` holds
            // `per_code = ⌈width / 8⌉` vectors (this function's contract).
            unsafe { load_transposed(block, queries.width, words) };
            // Lanes past the block's rows (a short last block) never pass.
            let valid = ((1u16 << block.len().min(LANES)) - 1) as u8;
            let per_query = tops
                .iter_mut()
                .zip(worst.iter_mut())
                .zip(shared)
                .zip(queries.words.chunks_exact(per_code));
            for (((top, worst), shared), query) in per_query {
                let mut acc = _mm512_setzero_si512();
                for (&x, &q) in words.iter().zip(query) {
                    let x = _mm512_xor_si512(x, _mm512_set1_epi64(q as i64));
                    acc = _mm512_add_epi64(acc, _mm512_popcnt_epi64(x));
                }
                let limit = _mm512_set1_epi64(*worst as i64);
                let pass = _mm512_mask_cmplt_epu64_mask(valid, acc, limit);
                if pass != 0 {
                    let mut distances = [0u64; LANES];
                    // SAFETY: 8 words into an array of 8.
                    unsafe { _mm512_storeu_si512(distances.as_mut_ptr().cast(), acc) };
                    offer(top, worst, shared, block, &distances, pass);
                }
            }
        }
    }

    /// Word `w` of row `i` of `block` (1 to 8 rows of `width` bytes) into
    /// lane `i` of `words[w]`, zero-padded past `width`; lanes past the
    /// block repeat its first row.
    ///
    /// # Safety
    /// The CPU has AVX-512F and BW; every row of the block holds `width`
    /// bytes; `words` holds at most `⌈width / 8⌉` vectors.
    #[target_feature(enable = "avx512f,avx512bw")]
    #[inline]
    unsafe fn load_transposed(block: &[(u32, &[u8])], width: usize, words: &mut [__m512i]) {
        let Some(&(_, first)) = block.first() else {
            return;
        };
        let mut rows = [first.as_ptr(); LANES];
        for (at, (_, row)) in rows.iter_mut().zip(block) {
            *at = row.as_ptr();
        }
        for (c, out) in words.chunks_mut(LANES).enumerate() {
            let start = 64 * c;
            let bytes = width.saturating_sub(start).min(64);
            let mask = if bytes >= 64 {
                u64::MAX
            } else {
                (1u64 << bytes) - 1
            };
            let mut r = [_mm512_setzero_si512(); LANES];
            for (r, &at) in r.iter_mut().zip(&rows) {
                // SAFETY: bytes `start .. start + bytes` are inside the row
                // (`start + bytes <= width`); masked-off bytes are not read.
                *r = unsafe { _mm512_maskz_loadu_epi8(mask, at.add(start).cast()) };
            }
            for (o, t) in out.iter_mut().zip(transpose(r)) {
                *o = t;
            }
        }
    }

    /// The 8 × 8 transpose of 64-bit words: lane `j` of output `i` is lane
    /// `i` of input `j`.
    #[target_feature(enable = "avx512f")]
    #[inline]
    fn transpose(r: [__m512i; LANES]) -> [__m512i; LANES] {
        // Pairs of rows: (r0 w0, r1 w0, r0 w2, r1 w2, ...) and the odd words.
        let t0 = _mm512_unpacklo_epi64(r[0], r[1]);
        let t1 = _mm512_unpackhi_epi64(r[0], r[1]);
        let t2 = _mm512_unpacklo_epi64(r[2], r[3]);
        let t3 = _mm512_unpackhi_epi64(r[2], r[3]);
        let t4 = _mm512_unpacklo_epi64(r[4], r[5]);
        let t5 = _mm512_unpackhi_epi64(r[4], r[5]);
        let t6 = _mm512_unpacklo_epi64(r[6], r[7]);
        let t7 = _mm512_unpackhi_epi64(r[6], r[7]);
        // Quads of rows: 128-bit lanes 0 and 2 (words 0, 4 / 1, 5), 1 and 3
        // (words 2, 6 / 3, 7).
        let u0 = _mm512_shuffle_i64x2::<0x88>(t0, t2);
        let u1 = _mm512_shuffle_i64x2::<0xdd>(t0, t2);
        let u2 = _mm512_shuffle_i64x2::<0x88>(t1, t3);
        let u3 = _mm512_shuffle_i64x2::<0xdd>(t1, t3);
        let u4 = _mm512_shuffle_i64x2::<0x88>(t4, t6);
        let u5 = _mm512_shuffle_i64x2::<0xdd>(t4, t6);
        let u6 = _mm512_shuffle_i64x2::<0x88>(t5, t7);
        let u7 = _mm512_shuffle_i64x2::<0xdd>(t5, t7);
        [
            _mm512_shuffle_i64x2::<0x88>(u0, u4),
            _mm512_shuffle_i64x2::<0x88>(u2, u6),
            _mm512_shuffle_i64x2::<0x88>(u1, u5),
            _mm512_shuffle_i64x2::<0x88>(u3, u7),
            _mm512_shuffle_i64x2::<0xdd>(u0, u4),
            _mm512_shuffle_i64x2::<0xdd>(u2, u6),
            _mm512_shuffle_i64x2::<0xdd>(u1, u5),
            _mm512_shuffle_i64x2::<0xdd>(u3, u7),
        ]
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kernels::search::topk::merge_tops;
    use crate::kernels::test_data::random_bytes;

    /// Codes from a tiny alphabet: many equal distances (ties).
    fn tied_bytes(n: usize, seed: u64) -> Vec<u8> {
        random_bytes(n, seed)
            .into_iter()
            .map(|b| [0x00, 0x01, 0xff][usize::from(b) % 3])
            .collect()
    }

    /// Sorted by (distance, position), the first k.
    fn reference(
        queries: &[u8],
        m: usize,
        width: usize,
        k: usize,
        rows: &[(u32, &[u8])],
    ) -> Vec<Vec<(u32, f64)>> {
        queries
            .chunks_exact(width)
            .take(m)
            .map(|query| {
                let mut all: Vec<(u32, u32)> = rows
                    .iter()
                    .map(|&(position, row)| {
                        let d = row.iter().zip(query).map(|(a, b)| (a ^ b).count_ones());
                        (d.sum(), position)
                    })
                    .collect();
                all.sort_unstable();
                all.truncate(k);
                all.into_iter()
                    .map(|(d, position)| (position, f64::from(d)))
                    .collect()
            })
            .collect()
    }

    /// Rows over two separate buffers (not contiguous), every seventh row
    /// left out (a null), positions increasing.
    fn rows_of<'a>(first: &'a [u8], second: &'a [u8], width: usize) -> Vec<(u32, &'a [u8])> {
        first
            .chunks_exact(width)
            .chain(second.chunks_exact(width))
            .enumerate()
            .filter(|(i, _)| i % 7 != 3)
            .map(|(i, row)| (i as u32, row))
            .collect()
    }

    /// Both paths against the reference.
    fn check(n: usize, width: usize, m: usize, k: usize, tied: bool, seed: u64) {
        let make = if tied { tied_bytes } else { random_bytes };
        let split = n / 3;
        let first = make(split * width, seed);
        let second = make((n - split) * width, seed + 1);
        let rows = rows_of(&first, &second, width);
        let mut queries = make(m * width, seed + 2);
        if let (Some(row), Some(query)) = (rows.get(5), queries.get_mut(..width)) {
            query.copy_from_slice(row.1); // a distance of zero
        }
        let expected = reference(&queries, m, width, k, &rows);
        let what = format!("n={n} width={width} m={m} k={k} tied={tied}");
        for level in cpu::test_levels() {
            let got = cpu::with_level(level, || nearest_blocked(&queries, m, width, k, &rows));
            assert_eq!(
                got.as_ref(),
                Some(&expected),
                "blocked at {level:?}, {what}"
            );
        }
        assert_eq!(
            search(true, &queries, m, width, k, &rows),
            expected,
            "{what}"
        );
        assert_eq!(
            search(false, &queries, m, width, k, &rows),
            expected,
            "scan, {what}"
        );
    }

    #[test]
    fn hamming_blocked_equals_the_reference() {
        for (i, width) in [1, 7, 8, 9, 48, 64, 65, 100, 128, 200]
            .into_iter()
            .enumerate()
        {
            for m in [1, 3, 8, 9, 17, 100] {
                let n = 1000 + 37 * i; // not a multiple of a tile
                for k in [1, 10, n + 5] {
                    let seed = (width * 1000 + m * 10 + k) as u64;
                    check(n, width, m, k, false, seed);
                    check(n, width, m, k, true, seed);
                }
            }
        }
    }

    #[test]
    fn hamming_blocked_merges_parts_exactly() {
        for width in [9, 48] {
            check(2 * PART_ROWS + 1001, width, 17, 25, true, 7);
            check(2 * PART_ROWS + 1001, width, 9, 10, false, 8);
        }
    }

    #[test]
    fn hamming_blocked_handles_empty_inputs() {
        let codes = random_bytes(20 * 9, 3);
        let rows = rows_of(&codes, &[], 9);
        let queries = random_bytes(3 * 9, 4);
        for blocked in [true, false] {
            assert_eq!(search(blocked, &queries, 3, 9, 0, &rows), vec![vec![]; 3]);
            assert_eq!(search(blocked, &queries, 3, 9, 5, &[]), vec![vec![]; 3]);
            assert!(search(blocked, &queries, 0, 9, 5, &rows).is_empty());
        }
        check(0, 16, 5, 3, false, 1);
        check(1, 16, 5, 3, false, 1);
        check(15, 3, 9, 100, true, 2);
    }

    #[test]
    fn hamming_blocked_declines_what_it_cannot_serve() {
        let codes = random_bytes(50 * 48, 5);
        let mut rows = rows_of(&codes, &[], 48);
        let queries = random_bytes(10 * 48, 6);
        assert!(nearest_blocked(&queries, 10, 48, 5, &rows).is_some());
        // Too few query bytes, zero width, no queries.
        assert!(nearest_blocked(&queries[..100], 10, 48, 5, &rows).is_none());
        assert!(nearest_blocked(&[], 10, 0, 5, &[]).is_none());
        assert!(nearest_blocked(&queries, 0, 48, 5, &rows).is_none());
        // A row of another width: the scan serves it.
        rows[4].1 = &codes[..47];
        assert!(nearest_blocked(&queries, 10, 48, 5, &rows).is_none());
        assert_eq!(
            nearest(&queries, 10, 48, 5, &rows),
            nearest_hamming_scan(&queries, 10, 48, 5, &rows)
        );
    }

    #[test]
    fn code_words_are_little_endian_and_zero_padded() {
        let code = [1u8, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11];
        assert_eq!(code_word(&code, 0), 0x0807_0605_0403_0201);
        assert_eq!(code_word(&code, 1), 0x000b_0a09);
        assert_eq!(code_word(&code, 2), 0);
        assert_eq!(code_word(&code[..1], 0), 1);
    }

    #[test]
    fn forced_scan_and_blocked_kernel_give_one_result() {
        for width in [5, 48] {
            let codes = tied_bytes(3000 * width, 11);
            let rows = rows_of(&codes, &[], width);
            let queries = random_bytes(13 * width, 12);
            let expected = reference(&queries, 13, width, 10, &rows);
            let scan = search(false, &queries, 13, width, 10, &rows);
            assert_eq!(scan, expected);
            assert_eq!(scan, nearest_hamming_scan(&queries, 13, width, 10, &rows));
            let blocked = nearest_blocked(&queries, 13, width, 10, &rows);
            assert_eq!(blocked, Some(expected.clone()));
            assert_eq!(nearest(&queries, 13, width, 10, &rows), expected);
            assert_eq!(
                crate::kernels::search::nearest_hamming(&queries, 13, width, 10, &rows),
                expected
            );
        }
    }

    /// A part that runs after another has shared its k-th distance keeps
    /// its own rows at that same distance: they come first by position.
    #[test]
    #[cfg_attr(
        not(test_cpu_vnni),
        ignore = "the test machine has no AVX-512 VPOPCNTDQ"
    )]
    fn shared_bound_keeps_earlier_ties() {
        let _level = cpu::force_level(Level::Vnni);
        assert!(vector_kernel());
        let (width, k) = (8, 3);
        // Every row the same: all distances tie.
        let codes = vec![0x5a_u8; 40 * width];
        let rows: Vec<(u32, &[u8])> = codes
            .chunks_exact(width)
            .enumerate()
            .map(|(i, r)| (i as u32, r))
            .collect();
        let query = vec![0x0f_u8; width];
        let packed = Queries::new(&query, 1, width);
        let shared = vec![AtomicU64::new(u64::MAX)];
        let later = packed.search_part(k, &rows[20..], &shared);
        let earlier = packed.search_part(k, &rows[..20], &shared);
        let (Some(earlier), Some(later)) = (earlier, later) else {
            panic!("a part declined");
        };
        let got: Vec<_> = merge_tops(earlier, later)
            .into_iter()
            .map(TopK::into_sorted)
            .collect();
        assert_eq!(got, nearest_hamming_scan(&query, 1, width, k, &rows));
    }
}
