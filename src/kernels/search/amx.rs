//! Byte matrix products on Intel AMX (Advanced Matrix Extensions): one
//! `tdpbssd` / `tdpbuud` multiplies a 16 × 64 tile of bytes by a 64 × 16
//! one into 16 × 16 `i32` sums, 16,384 exact multiply-adds per
//! instruction. Measured on this project's 2-core Xeon: 5.3 ns per
//! instruction with its operands in tiles, 6.8 ns with the four tile loads
//! of a 2 × 2 step from L1 (each 64-byte aligned); `vpdpbusd` does 64
//! multiply-adds in about a cycle.
//!
//! Rust has no stable AMX intrinsics, so the few instructions are written
//! as inline assembly. Linux hands out the tile state only on request
//! (`arch_prctl(ARCH_REQ_XCOMP_PERM, XFEATURE_XTILEDATA)`), once per
//! process; the CPU-level layer ([`crate::kernels::cpu`]) asks once and reports the
//! `amx` level only when the request was granted (it may be refused, e.g.
//! when a thread's signal stack is too small for the larger signal frames),
//! and every caller falls back to its VNNI kernel otherwise.
//!
//! Layout shared with [`super::code_blocks`]: rows are `u8`/`i8` codes,
//! `width` (a multiple of 64) bytes each; a panel of 32 queries holds, for
//! each group of 4 numbers, the 4 bytes of each of its 32 queries (128
//! bytes per group), which is exactly AMX's "VNNI" layout of the right
//! operand with a row stride of 128 bytes.

use crate::kernels::cpu::{self, Level};

/// Rows of one tile.
pub const TILE_ROWS: usize = 16;
/// Rows covered by one step of [`panel_products`] (two tiles).
pub const STEP_ROWS: usize = 2 * TILE_ROWS;
/// Queries per panel (two tiles of 16).
pub const PANEL: usize = 32;
/// Bytes of one tile row: the rows' width must be a multiple of it.
pub const TILE_BYTES: usize = 64;

/// A zeroed buffer whose first element sits on a 64-byte boundary: tile
/// loads and stores of whole cache lines run several times faster than
/// ones that straddle two (measured: 3.4 against 16 ns per 1 KiB load).
pub struct Aligned<T> {
    buffer: Vec<T>,
    start: usize,
    len: usize,
}

impl<T: Copy + Default> Aligned<T> {
    pub fn zeroed(len: usize) -> Self {
        let spare = 64 / std::mem::size_of::<T>().max(1);
        let buffer = vec![T::default(); len + spare];
        // `align_offset` may give up (usize::MAX); then start unaligned.
        let start = buffer.as_ptr().align_offset(64).min(spare);
        Aligned { buffer, start, len }
    }
}

impl<T> std::ops::Deref for Aligned<T> {
    type Target = [T];
    fn deref(&self) -> &[T] {
        &self.buffer[self.start..self.start + self.len]
    }
}

impl<T> std::ops::DerefMut for Aligned<T> {
    fn deref_mut(&mut self) -> &mut [T] {
        &mut self.buffer[self.start..self.start + self.len]
    }
}

/// Whether the AMX kernels run: the CPU-level layer found AMX (and the
/// OS's permission to use its tiles) and the active level allows it.
pub fn available() -> bool {
    cpu::at_least(Level::Amx)
}

/// Which byte product: both operands signed (Int8) or both unsigned (UInt8).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Bytes {
    Signed,
    Unsigned,
}

/// `out[r · stride + j] = Σ_i rows[r · width + i] · q_j[i]` for the
/// `row_count` rows (a multiple of [`STEP_ROWS`]) and the 32 queries of
/// `panel` (laid out as in the module doc), the bytes read as `bytes`
/// says. Exact while `width · 255² < 2^31`. Returns `false` (and writes
/// nothing) when AMX is not available or a slice is too short.
pub fn panel_products(
    bytes: Bytes,
    rows: &[u8],
    row_count: usize,
    width: usize,
    panel: &[u8],
    out: &mut [i32],
    stride: usize,
) -> bool {
    if !available()
        || width == 0
        || !width.is_multiple_of(TILE_BYTES)
        || !row_count.is_multiple_of(STEP_ROWS)
        || rows.len() < row_count * width
        || panel.len() < width * PANEL
        || stride < PANEL
        || (row_count > 0 && out.len() < (row_count - 1) * stride + PANEL)
    {
        return false;
    }
    #[cfg(all(target_arch = "x86_64", target_os = "linux"))]
    {
        // SAFETY: AMX is available and permitted (`available`); the checks
        // above keep every tile load within `rows` and `panel` and every
        // store within `out`.
        unsafe {
            tiles::panel_products(
                bytes,
                rows.as_ptr(),
                row_count,
                width,
                panel.as_ptr(),
                out.as_mut_ptr(),
                stride,
            )
        };
        true
    }
    #[cfg(not(all(target_arch = "x86_64", target_os = "linux")))]
    {
        let _ = bytes;
        false
    }
}

#[cfg(all(target_arch = "x86_64", target_os = "linux"))]
mod tiles {
    use std::arch::asm;

    use super::{Bytes, PANEL, STEP_ROWS, TILE_BYTES, TILE_ROWS};

    /// The tile configuration (`ldtilecfg`'s 64-byte operand): palette 1,
    /// all eight tiles 16 rows of 64 bytes.
    #[repr(C, align(64))]
    struct Config {
        palette: u8,
        start_row: u8,
        reserved: [u8; 14],
        bytes_per_row: [u16; 16],
        rows: [u8; 16],
    }

    impl Config {
        fn full() -> Self {
            let mut config = Config {
                palette: 1,
                start_row: 0,
                reserved: [0; 14],
                bytes_per_row: [0; 16],
                rows: [0; 16],
            };
            for t in 0..8 {
                config.bytes_per_row[t] = TILE_BYTES as u16;
                config.rows[t] = TILE_ROWS as u8;
            }
            config
        }
    }

    /// Loads tile `T` from `rows` of `stride` bytes.
    macro_rules! load {
        ($t:literal, $ptr:expr, $stride:expr) => {
            asm!(
                concat!("tileloadd tmm", $t, ", [{p} + {s}*1]"),
                p = in(reg) $ptr,
                s = in(reg) $stride,
                options(nostack, readonly),
            )
        };
    }

    /// Stores tile `T` to rows of `stride` bytes.
    macro_rules! store {
        ($t:literal, $ptr:expr, $stride:expr) => {
            asm!(
                concat!("tilestored [{p} + {s}*1], tmm", $t),
                p = in(reg) $ptr,
                s = in(reg) $stride,
                options(nostack),
            )
        };
    }

    /// See [`super::panel_products`].
    ///
    /// # Safety
    /// AMX is available and permitted; `rows` holds `row_count` (a multiple
    /// of 32) rows of `width` (a multiple of 64) bytes, `panel` `width ·
    /// 32` bytes, and `out` `(row_count - 1) · stride + 32` sums.
    pub(super) unsafe fn panel_products(
        bytes: Bytes,
        rows: *const u8,
        row_count: usize,
        width: usize,
        panel: *const u8,
        out: *mut i32,
        stride: usize,
    ) {
        // SAFETY of the tile state across the `asm!` blocks below: the
        // compiler allocates no tile register (tmm0-tmm7 belong to no
        // register class of `asm!`) and emits no AMX instruction itself;
        // every block has side effects (none is `pure`), so they run in
        // the order written; between them only address arithmetic runs,
        // no call; and the OS saves and restores the tile data with the
        // rest of the XSAVE state on a signal or a context switch (the
        // permission the CPU-level layer asked for). So the sums that
        // `tdpb*` leave in tmm0-tmm3 are the ones the stores read.
        // `products_equal_the_scalar_sums` checks it on AMX machines.
        let config = Config::full();
        asm!("ldtilecfg [{}]", in(reg) &config, options(nostack, readonly));
        // A 64-byte chunk of the rows is 16 groups of 4 numbers: 16 panel
        // rows of 128 bytes, queries 0..16 in the first 64 of each.
        let panel_chunk = TILE_BYTES / 4 * PANEL * 4;
        let out_stride = stride * 4;
        for r in (0..row_count).step_by(STEP_ROWS) {
            let top = rows.add(r * width);
            let bottom = rows.add((r + TILE_ROWS) * width);
            asm!(
                "tilezero tmm0",
                "tilezero tmm1",
                "tilezero tmm2",
                "tilezero tmm3",
                options(nostack, nomem)
            );
            for c in 0..width / TILE_BYTES {
                let queries = panel.add(c * panel_chunk);
                load!("4", top.add(c * TILE_BYTES), width);
                load!("5", bottom.add(c * TILE_BYTES), width);
                load!("6", queries, PANEL * 4);
                load!("7", queries.add(TILE_BYTES), PANEL * 4);
                match bytes {
                    Bytes::Signed => asm!(
                        "tdpbssd tmm0, tmm4, tmm6",
                        "tdpbssd tmm1, tmm4, tmm7",
                        "tdpbssd tmm2, tmm5, tmm6",
                        "tdpbssd tmm3, tmm5, tmm7",
                        options(nostack, nomem)
                    ),
                    Bytes::Unsigned => asm!(
                        "tdpbuud tmm0, tmm4, tmm6",
                        "tdpbuud tmm1, tmm4, tmm7",
                        "tdpbuud tmm2, tmm5, tmm6",
                        "tdpbuud tmm3, tmm5, tmm7",
                        options(nostack, nomem)
                    ),
                }
            }
            let top_out = out.add(r * stride);
            let bottom_out = out.add((r + TILE_ROWS) * stride);
            store!("0", top_out, out_stride);
            store!("1", top_out.add(16), out_stride);
            store!("2", bottom_out, out_stride);
            store!("3", bottom_out.add(16), out_stride);
        }
        asm!("tilerelease", options(nostack, nomem));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kernels::test_data::random_bytes as bytes;

    /// The 32 queries (each `width` bytes) in the panel layout.
    fn panel_of(queries: &[u8], width: usize) -> Vec<u8> {
        let mut panel = vec![0u8; width * PANEL];
        for (lane, query) in queries.chunks_exact(width).enumerate() {
            for (i, &x) in query.iter().enumerate() {
                panel[(i / 4) * 4 * PANEL + lane * 4 + i % 4] = x;
            }
        }
        panel
    }

    #[test]
    #[cfg_attr(not(test_cpu_amx), ignore = "the test machine has no AMX")]
    fn products_equal_the_scalar_sums() {
        let _level = cpu::force_level(Level::Amx);
        assert!(
            available(),
            "AMX is in CPUID, but Linux refused the tile state"
        );
        for (width, row_count, stride) in [(64, 32, 32), (384, 96, 40), (128, 64, 64)] {
            let rows = bytes(row_count * width, width as u64);
            let queries = bytes(PANEL * width, 7 + width as u64);
            let panel = panel_of(&queries, width);
            for kind in [Bytes::Signed, Bytes::Unsigned] {
                let mut out = vec![-1i32; row_count * stride];
                assert!(panel_products(
                    kind, &rows, row_count, width, &panel, &mut out, stride
                ));
                for r in 0..row_count {
                    for j in 0..PANEL {
                        let row = &rows[r * width..(r + 1) * width];
                        let query = &queries[j * width..(j + 1) * width];
                        let expected: i32 = row
                            .iter()
                            .zip(query)
                            .map(|(&a, &b)| match kind {
                                Bytes::Signed => i32::from(a as i8) * i32::from(b as i8),
                                Bytes::Unsigned => i32::from(a) * i32::from(b),
                            })
                            .sum();
                        assert_eq!(out[r * stride + j], expected, "{kind:?} {width} {r} {j}");
                    }
                    // Lanes past the panel are left alone.
                    for j in PANEL..stride {
                        assert_eq!(out[r * stride + j], -1);
                    }
                }
            }
        }
    }

    #[test]
    fn bad_shapes_are_refused() {
        let rows = vec![0u8; 64 * 32];
        let panel = vec![0u8; 64 * PANEL];
        let mut out = vec![0i32; 32 * 32];
        // Width not a multiple of 64, rows not a multiple of 32, short output.
        assert!(!panel_products(
            Bytes::Signed,
            &rows,
            32,
            48,
            &panel,
            &mut out,
            32
        ));
        assert!(!panel_products(
            Bytes::Signed,
            &rows,
            16,
            64,
            &panel,
            &mut out,
            32
        ));
        assert!(!panel_products(
            Bytes::Signed,
            &rows,
            32,
            64,
            &panel,
            &mut out[..100],
            32
        ));
    }
}
