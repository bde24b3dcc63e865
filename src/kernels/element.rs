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
