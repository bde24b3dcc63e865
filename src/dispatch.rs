//! The one dtype dispatch. Every entry point (the Polars plugin wrappers and
//! the PyO3 functions of the data face) decides a [`FloatKind`] once and
//! then runs one generic body through [`with_float!`](crate::with_float), so the `f32`/`f64`
//! `match` is written here and nowhere else.

/// The float type an input is computed in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FloatKind {
    F32,
    F64,
}

impl FloatKind {
    /// Float32 only when both sides are Float32 (the rule for two vector inputs).
    pub fn common(self, other: FloatKind) -> FloatKind {
        if self == FloatKind::F32 && other == FloatKind::F32 {
            FloatKind::F32
        } else {
            FloatKind::F64
        }
    }
}

/// Runs `$body` with the type alias `$T` bound to the Rust float of `$kind`:
/// `with_float!(kind, T => scale_column::<T>(&series))`.
#[macro_export]
macro_rules! with_float {
    ($kind:expr, $T:ident => $body:expr) => {
        match $kind {
            $crate::dispatch::FloatKind::F32 => {
                type $T = f32;
                $body
            }
            $crate::dispatch::FloatKind::F64 => {
                type $T = f64;
                $body
            }
        }
    };
}
