//! The CPU-level layer: which instruction-set level the kernels may use.
//!
//! The CPU's features are detected once per process and summed up as one
//! [`Level`]. `POLARS_MLKIT_ISA` caps the level (a level above what the CPU
//! has is capped, never executed), so the portable paths can be run and
//! tested on any machine. Every kernel asks [`level`] and nothing else;
//! [`by_level!`](crate::by_level) compiles a function once per level and
//! runs the version the active level allows.
//!
//! Results do not depend on the level: the kernels' lane layouts and orders
//! of addition are fixed, and the tests run each kernel family at every
//! level the test machine has against a scalar reference.

use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::OnceLock;

#[cfg(target_arch = "x86_64")]
include!("cpu_levels.rs");

/// The environment variable that caps the level.
pub const ENV_VAR: &str = "POLARS_MLKIT_ISA";

/// Instruction-set levels, each including the ones below it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
#[repr(u8)]
pub enum Level {
    /// Whatever the target's baseline gives (SSE2 on x86_64, NEON on aarch64).
    Portable = 0,
    /// AVX2, FMA, F16C and POPCNT (Haswell, Zen).
    Avx2 = 1,
    /// AVX-512 F, BW, VL, DQ and CD (Skylake-SP).
    Avx512 = 2,
    /// AVX-512 VNNI, VPOPCNTDQ and BITALG (Ice Lake, Zen 4).
    Vnni = 3,
    /// AMX-TILE and AMX-INT8 with the tile state granted by the OS (Sapphire Rapids).
    Amx = 4,
}

impl Level {
    pub const ALL: [Level; 5] = [
        Level::Portable,
        Level::Avx2,
        Level::Avx512,
        Level::Vnni,
        Level::Amx,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Level::Portable => "portable",
            Level::Avx2 => "avx2",
            Level::Avx512 => "avx512",
            Level::Vnni => "vnni",
            Level::Amx => "amx",
        }
    }

    /// The level named `text` (case-insensitive); the error names the allowed ones.
    pub fn parse(text: &str) -> Result<Level, String> {
        let wanted = text.trim().to_ascii_lowercase();
        Level::ALL
            .into_iter()
            .find(|level| level.name() == wanted)
            .ok_or_else(|| {
                let allowed: Vec<&str> = Level::ALL.iter().map(|l| l.name()).collect();
                format!(
                    "{ENV_VAR}={text:?} is not a CPU level; allowed: {}",
                    allowed.join(", ")
                )
            })
    }

    fn from_u8(value: u8) -> Level {
        Level::ALL
            .get(usize::from(value))
            .copied()
            .unwrap_or(Level::Portable)
    }
}

/// The highest level this CPU (and OS) offers, detected once.
pub fn detected() -> Level {
    static DETECTED: OnceLock<Level> = OnceLock::new();
    *DETECTED.get_or_init(detect)
}

const UNSET: u8 = u8::MAX;
static ACTIVE: AtomicU8 = AtomicU8::new(UNSET);

/// The level the kernels use: the detected one, capped by `POLARS_MLKIT_ISA`.
#[inline]
pub fn level() -> Level {
    match ACTIVE.load(Ordering::Relaxed) {
        UNSET => configure().unwrap_or_else(|_| detected()),
        value => Level::from_u8(value),
    }
}

/// Whether the active level is `wanted` or above.
#[inline]
pub fn at_least(wanted: Level) -> bool {
    level() >= wanted
}

/// Reads `POLARS_MLKIT_ISA` and sets the active level from it. An unknown
/// value is an error naming the allowed ones (the Python module refuses to
/// import); the active level then stays the detected one.
pub fn configure() -> Result<Level, String> {
    let cap = match std::env::var(ENV_VAR) {
        Ok(text) if !text.trim().is_empty() => Level::parse(&text),
        _ => Ok(Level::Amx),
    };
    let active = detected().min(*cap.as_ref().unwrap_or(&Level::Amx));
    ACTIVE.store(active as u8, Ordering::Relaxed);
    cap.map(|_| active)
}

/// The features behind the detected level, for reports (`pmk.cpu_info()`).
pub fn features() -> Vec<&'static str> {
    #[cfg(target_arch = "x86_64")]
    {
        let mut found = x86_level_features!(x86_features_present);
        if detected() >= Level::Amx {
            found.extend(["amx-tile", "amx-int8"]);
        }
        found
    }
    #[cfg(target_arch = "aarch64")]
    {
        vec!["neon"]
    }
    #[cfg(not(any(target_arch = "x86_64", target_arch = "aarch64")))]
    {
        Vec::new()
    }
}

fn detect() -> Level {
    #[cfg(target_arch = "x86_64")]
    {
        match x86_level_features!(x86_levels_present) {
            0 => return Level::Portable,
            1 => return Level::Avx2,
            2 => return Level::Avx512,
            _ => {}
        }
        if !tiles::granted() {
            return Level::Vnni;
        }
        Level::Amx
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        Level::Portable
    }
}

/// Sets the active level to `wanted` (capped at the detected one) until the
/// returned guard drops. Tests use it to run a kernel at every level; one
/// at a time, so two tests never fight over the level. Other tests running
/// meanwhile see a different level, which changes no bits.
#[cfg(test)]
pub fn force_level(wanted: Level) -> ForcedLevel {
    use std::sync::{Mutex, PoisonError};
    static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());
    let lock = ONE_AT_A_TIME.lock().unwrap_or_else(PoisonError::into_inner);
    let before = level();
    ACTIVE.store(wanted.min(detected()) as u8, Ordering::Relaxed);
    ForcedLevel {
        before,
        _lock: lock,
    }
}

/// See [`force_level`].
#[cfg(test)]
pub struct ForcedLevel {
    before: Level,
    _lock: std::sync::MutexGuard<'static, ()>,
}

#[cfg(test)]
impl Drop for ForcedLevel {
    fn drop(&mut self) {
        ACTIVE.store(self.before as u8, Ordering::Relaxed);
    }
}

/// Runs `work` at the level `wanted` (see [`force_level`]).
#[cfg(test)]
pub fn with_level<R>(wanted: Level, work: impl FnOnce() -> R) -> R {
    let _level = force_level(wanted);
    work()
}

/// Every level this machine runs, lowest first; the levels it cannot run
/// are printed, so a test log shows what was not covered here.
#[cfg(test)]
pub fn test_levels() -> Vec<Level> {
    let (run, skipped): (Vec<Level>, Vec<Level>) =
        Level::ALL.into_iter().partition(|&l| l <= detected());
    if !skipped.is_empty() {
        let names: Vec<&str> = skipped.iter().map(|l| l.name()).collect();
        eprintln!(
            "levels not on this CPU, not tested here: {}",
            names.join(", ")
        );
    }
    run
}

/// How a kernel compiled by [`by_level!`](crate::by_level) multiplies and
/// adds `f32`s where any rounding its bound covers will do: fused where the
/// level has FMA (one instruction, one rounding), separate where it does
/// not, since `mul_add` there is a library call. Passed as a value
/// ([`Fused`] or [`Separate`], chosen by [`fused_mul_add`]) so the kernel is
/// compiled for each.
pub trait MulAdd {
    /// Whether this is the fused instruction.
    const FUSED: bool;
    fn mul_add(a: f32, b: f32, c: f32) -> f32;
}

/// `a · b + c` with one rounding.
pub struct Fused;
/// `a · b + c` with two roundings.
pub struct Separate;

impl MulAdd for Fused {
    const FUSED: bool = true;
    #[inline(always)]
    fn mul_add(a: f32, b: f32, c: f32) -> f32 {
        a.mul_add(b, c)
    }
}

impl MulAdd for Separate {
    const FUSED: bool = false;
    #[inline(always)]
    fn mul_add(a: f32, b: f32, c: f32) -> f32 {
        a * b + c
    }
}

/// Whether the active level has FMA: AVX2 and up on x86_64; aarch64's
/// baseline has it.
pub fn fused_mul_add() -> bool {
    #[cfg(target_arch = "x86_64")]
    return at_least(Level::Avx2);
    #[cfg(not(target_arch = "x86_64"))]
    return cfg!(target_arch = "aarch64");
}

/// Compiles a function once per level and runs the version that
/// [`level`](crate::kernels::cpu::level) allows: `[avx512, avx2]` lists
/// the tiers, highest first; the body as written is the portable version
/// (on aarch64 the only one: NEON is its baseline). Generics take one
/// bound each, written inside `<>` (empty for none).
///
/// The tiers: `avx2` (AVX2, FMA, F16C, POPCNT), `avx512` (F, BW, VL, DQ,
/// CD) and `vnni` (`avx512` with VNNI, VPOPCNTDQ and BITALG).
#[macro_export]
macro_rules! by_level {
    (
        [$($tier:ident),+]
        $(#[$meta:meta])*
        $vis:vis fn $name:ident <$($g:ident : $b:path),* $(,)?>
            ($($arg:ident : $ty:ty),* $(,)?) $(-> $ret:ty)? $body:block
    ) => {
        $(#[$meta])*
        $vis fn $name<$($g: $b),*>($($arg: $ty),*) $(-> $ret)? {
            #[cfg(target_arch = "x86_64")]
            {
                let level = $crate::kernels::cpu::level();
                $crate::by_level!(@tiers level, [$($tier),+],
                    <$($g: $b),*> ($($arg: $ty),*) $(-> $ret)? $body);
            }
            $body
        }
    };
    (@tiers $level:ident, [], $($rest:tt)*) => {};
    (@tiers $level:ident, [$first:ident $(, $more:ident)*], $($rest:tt)*) => {
        $crate::by_level!(@tier $first, $level, $($rest)*);
        $crate::by_level!(@tiers $level, [$($more),*], $($rest)*);
    };
    (@tier avx2, $level:ident, $($rest:tt)*) => {
        $crate::by_level!(@version $level, Avx2, "avx2,fma,f16c,popcnt", $($rest)*)
    };
    (@tier avx512, $level:ident, $($rest:tt)*) => {
        $crate::by_level!(@version $level, Avx512,
            "avx2,fma,f16c,popcnt,avx512f,avx512bw,avx512vl,avx512dq,avx512cd", $($rest)*)
    };
    (@tier vnni, $level:ident, $($rest:tt)*) => {
        $crate::by_level!(@version $level, Vnni,
            "avx2,fma,f16c,popcnt,avx512f,avx512bw,avx512vl,avx512dq,avx512cd,avx512vnni,avx512vpopcntdq,avx512bitalg",
            $($rest)*)
    };
    (@version $level:ident, $min:ident, $features:literal,
        <$($g:ident : $b:path),*> ($($arg:ident : $ty:ty),*) $(-> $ret:ty)? $body:block
    ) => {
        if $level >= $crate::kernels::cpu::Level::$min {
            #[target_feature(enable = $features)]
            #[allow(clippy::missing_safety_doc)]
            unsafe fn version<$($g: $b),*>($($arg: $ty),*) $(-> $ret)? $body
            // SAFETY: the CPU-level layer reports a level only where the
            // CPU has every feature of it.
            return unsafe { version($($arg),*) };
        }
    };
}

#[cfg(target_arch = "x86_64")]
mod tiles {
    use std::arch::x86_64::{__cpuid_count, _xgetbv};

    /// Bytes per tile row and rows per tile the AMX kernels use.
    const TILE_BYTES: u32 = 64;
    const TILE_ROWS: u32 = 16;

    /// AMX-TILE and AMX-INT8 in CPUID, the tile state enabled in XCR0,
    /// palette 1 with eight tiles of 16 rows of 64 bytes, and Linux's
    /// permission to use the tile data (asked once per process; it may be
    /// refused, e.g. when a thread's signal stack is too small).
    pub(super) fn granted() -> bool {
        // SAFETY: CPUID and XGETBV are read-only queries, XGETBV run only
        // when CPUID reports OSXSAVE; arch_prctl only changes which
        // register state this process may use.
        unsafe { supported() && request_permission() }
    }

    unsafe fn supported() -> bool {
        let basic = __cpuid_count(0, 0);
        if basic.eax < 0x1e {
            return false;
        }
        let features = __cpuid_count(1, 0);
        let osxsave = features.ecx & (1 << 27) != 0;
        let extended = __cpuid_count(7, 0);
        let amx = extended.edx & (1 << 24) != 0 && extended.edx & (1 << 25) != 0;
        if !(osxsave && amx) {
            return false;
        }
        // XTILECFG (bit 17) and XTILEDATA (bit 18).
        if xcr0() & (0b11 << 17) != 0b11 << 17 {
            return false;
        }
        let palette = __cpuid_count(0x1d, 1);
        let names = palette.ebx >> 16;
        let bytes_per_row = palette.ebx & 0xffff;
        let max_rows = palette.ecx & 0xffff;
        names >= 8 && bytes_per_row >= TILE_BYTES && max_rows >= TILE_ROWS
    }

    #[target_feature(enable = "xsave")]
    unsafe fn xcr0() -> u64 {
        _xgetbv(0)
    }

    /// Asks Linux for the tile data state; `true` when granted.
    #[cfg(target_os = "linux")]
    unsafe fn request_permission() -> bool {
        const ARCH_REQ_XCOMP_PERM: libc::c_long = 0x1023;
        const XFEATURE_XTILEDATA: libc::c_long = 18;
        libc::syscall(
            libc::SYS_arch_prctl,
            ARCH_REQ_XCOMP_PERM,
            XFEATURE_XTILEDATA,
        ) == 0
    }

    #[cfg(not(target_os = "linux"))]
    unsafe fn request_permission() -> bool {
        false
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn levels_parse_by_name_and_refuse_others() {
        for level in Level::ALL {
            assert_eq!(Level::parse(level.name()), Ok(level));
            assert_eq!(Level::parse(&level.name().to_uppercase()), Ok(level));
        }
        let error = Level::parse("sse9").unwrap_err();
        assert!(
            error.contains("portable, avx2, avx512, vnni, amx"),
            "{error}"
        );
    }

    #[test]
    fn a_level_is_capped_at_the_detected_one() {
        for wanted in Level::ALL {
            let seen = with_level(wanted, level);
            assert_eq!(seen, wanted.min(detected()));
        }
    }

    crate::by_level! {
        [vnni, avx512, avx2]
        fn sum_by_level<>(values: &[f64]) -> f64 {
            values.iter().fold(0.0, |total, v| total + v)
        }
    }

    #[test]
    fn a_function_by_level_gives_the_same_bits_at_every_level() {
        let values: Vec<f64> = (0..1000).map(|i| 1.0 / f64::from(i + 1)).collect();
        let reference = values.iter().fold(0.0, |total, v| total + v);
        for level in test_levels() {
            let got = with_level(level, || sum_by_level(&values));
            assert_eq!(got.to_bits(), reference.to_bits(), "{level:?}");
        }
    }
}
