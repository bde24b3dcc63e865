//! The float types the kernels run on. Everything is accumulated in `f64`;
//! `Element` only converts at the edges.

/// A float type a column can hold (`f32` or `f64`).
pub trait Element: Copy + Default + Send + Sync + PartialOrd + 'static {
    /// Machine epsilon of the column's own type. scikit-learn's
    /// `_handle_zeros_in_scale` compares against `10 * eps` of the data's dtype.
    const EPSILON: f64;
    fn to_f64(self) -> f64;
    fn from_f64(value: f64) -> Self;
}

impl Element for f32 {
    const EPSILON: f64 = f32::EPSILON as f64;
    #[inline(always)]
    fn to_f64(self) -> f64 {
        self as f64
    }
    #[inline(always)]
    fn from_f64(value: f64) -> Self {
        value as f32
    }
}

impl Element for f64 {
    const EPSILON: f64 = f64::EPSILON;
    #[inline(always)]
    fn to_f64(self) -> f64 {
        self
    }
    #[inline(always)]
    fn from_f64(value: f64) -> Self {
        value
    }
}

/// An IEEE half-precision number, as its bits (Polars' `Float16` layout).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[repr(transparent)]
pub struct F16(pub u16);

impl F16 {
    /// The exact `f32` value (branch-free, so row loops vectorise).
    #[inline(always)]
    pub fn to_f32(self) -> f32 {
        const SHIFTED_EXP: u32 = 0x7c00 << 13; // exponent mask after the shift
        let h = u32::from(self.0);
        let mut o = (h & 0x7fff) << 13; // exponent and mantissa
        let exp = o & SHIFTED_EXP;
        o += (127 - 15) << 23; // re-bias the exponent
        let special = exp == SHIFTED_EXP; // Inf or NaN: re-bias once more
        let tiny = exp == 0; // zero or subnormal: renormalise through a float
        let normal = f32::from_bits(o + if special { (128 - 16) << 23 } else { 0 });
        let magic = f32::from_bits(113 << 23);
        let renormalised = f32::from_bits(o + (1 << 23)) - magic;
        let magnitude = if tiny { renormalised } else { normal };
        f32::from_bits(magnitude.to_bits() | ((h & 0x8000) << 16))
    }
}

/// An element type that is widened to `f32` exactly (Float16, Int8, UInt8).
pub trait Narrow: Copy + Send + Sync + 'static {
    fn to_f32(self) -> f32;
}

impl Narrow for F16 {
    #[inline(always)]
    fn to_f32(self) -> f32 {
        F16::to_f32(self)
    }
}

impl Narrow for i8 {
    #[inline(always)]
    fn to_f32(self) -> f32 {
        f32::from(self)
    }
}

impl Narrow for u8 {
    #[inline(always)]
    fn to_f32(self) -> f32 {
        f32::from(self)
    }
}

crate::by_level! {
    [avx512, avx2]
    /// Widens `row` onto `out` (cleared first).
    pub fn widen_into<S: Narrow, T: Element>(row: &[S], out: &mut Vec<T>) {
        out.clear();
        out.extend(row.iter().map(|x| T::from_f64(f64::from(x.to_f32()))));
    }
}
