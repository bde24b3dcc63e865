//! The options of every operation, parsed once for both faces: the plugin
//! receives them as pickled kwargs, the PyO3 data face as Python arguments,
//! and both turn them into the kernels' types here. An error is a message
//! for the caller to raise in its own way.

use serde::Deserialize;

use crate::kernels::element::Element;
use crate::kernels::gaussian::{Gaussianizer, PowerMethod};
use crate::kernels::scaling::{MinMaxOptions, RobustOptions, Scaler, StandardOptions};
use crate::kernels::search::{Metric, SearchMetric};
use crate::kernels::vector::{self, UnitNorm};

/// Options for every scaler; Python fills in all of them (as kwargs they
/// arrive as a pickle, whose integers are i64 and whose tuples are sequences).
#[derive(Deserialize, Debug, Clone)]
pub struct ScaleOptions {
    /// The name the user called (`normalize`, `minmax_scale`, ...), for errors.
    pub function: String,
    pub method: String,
    pub feature_range: (f64, f64),
    pub clip: bool,
    pub with_mean: bool,
    pub with_std: bool,
    pub ddof: i64,
    pub with_centering: bool,
    pub with_scaling: bool,
    pub quantile_range: (f64, f64),
    pub unit_variance: bool,
}

impl ScaleOptions {
    pub fn scaler(&self) -> Result<Scaler, String> {
        let function = &self.function;
        Ok(match self.method.as_str() {
            "minmax" => Scaler::MinMax(MinMaxOptions {
                // Python checks this too; a bad range must never reach the kernels.
                feature_range: match self.feature_range {
                    (lo, hi) if lo < hi && (hi - lo).is_finite() => (lo, hi),
                    range => {
                        return Err(format!(
                            "{function}: feature_range must be finite with min < max, got {range:?}"
                        ))
                    }
                },
                clip: self.clip,
            }),
            "standard" => Scaler::Standard(StandardOptions {
                with_mean: self.with_mean,
                with_std: self.with_std,
                ddof: match self.ddof {
                    ddof if ddof < 0 => {
                        return Err(format!("{function}: ddof must be >= 0, got {ddof}"))
                    }
                    // Any ddof at or above the row count means "scale 1".
                    ddof => u32::try_from(ddof).unwrap_or(u32::MAX),
                },
            }),
            "robust" => Scaler::Robust(RobustOptions {
                with_centering: self.with_centering,
                with_scaling: self.with_scaling,
                quantile_range: self.quantile_range,
                unit_variance: self.unit_variance,
            }),
            "maxabs" => Scaler::MaxAbs,
            other => return Err(format!("{function}: unknown method {other:?}")),
        })
    }
}

/// A row-wise operation on two vectors.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PairOp {
    Dot,
    Cosine,
    Euclidean,
    SqEuclidean,
    Manhattan,
    Chebyshev,
    CosineDistance,
}

impl PairOp {
    pub fn parse(op: &str, function: &str) -> Result<PairOp, String> {
        Ok(match op {
            "dot" => PairOp::Dot,
            "cosine" => PairOp::Cosine,
            "euclidean" => PairOp::Euclidean,
            "sqeuclidean" => PairOp::SqEuclidean,
            "manhattan" => PairOp::Manhattan,
            "chebyshev" => PairOp::Chebyshev,
            "cosine_distance" => PairOp::CosineDistance,
            other => return Err(format!("{function}: unknown operation {other:?}")),
        })
    }

    pub fn kernel<T: Element>(self) -> fn(&[T], &[T]) -> f64 {
        match self {
            PairOp::Dot => vector::dot::<T>,
            PairOp::Cosine => vector::cosine::<T>,
            PairOp::Euclidean => vector::euclidean::<T>,
            PairOp::SqEuclidean => vector::sq_euclidean::<T>,
            PairOp::Manhattan => vector::manhattan::<T>,
            PairOp::Chebyshev => vector::chebyshev::<T>,
            PairOp::CosineDistance => vector::cosine_distance::<T>,
        }
    }
}

/// The norm kernel of `ord` (`"1"`, `"2"` or `"inf"`).
pub fn norm_kernel<T: Element>(ord: &str, function: &str) -> Result<fn(&[T]) -> f64, String> {
    Ok(match ord {
        "1" => vector::norm_l1::<T>,
        "2" => vector::norm_l2::<T>,
        "inf" => vector::norm_inf::<T>,
        other => return Err(format!("{function}: ord must be 1, 2 or inf, got {other}")),
    })
}

pub fn unit_norm(norm: &str, function: &str) -> Result<UnitNorm, String> {
    Ok(match norm {
        "l1" => UnitNorm::L1,
        "l2" => UnitNorm::L2,
        "max" => UnitNorm::Max,
        other => {
            return Err(format!(
                "{function}: norm must be \"l1\", \"l2\" or \"max\", got {other:?}"
            ))
        }
    })
}

pub fn metric(metric: &str, function: &str) -> Result<Metric, String> {
    Ok(match metric {
        "cosine" => Metric::Cosine,
        "dot" => Metric::Dot,
        "euclidean" => Metric::Euclidean,
        other => {
            return Err(format!(
                "{function}: metric must be \"cosine\", \"dot\" or \"euclidean\", got {other:?}"
            ))
        }
    })
}

pub fn search_metric(name: &str, function: &str) -> Result<SearchMetric, String> {
    match name {
        "hamming" => Ok(SearchMetric::Hamming),
        "cosine" | "dot" | "euclidean" => metric(name, function).map(SearchMetric::Float),
        other => Err(format!(
            "{function}: metric must be \"cosine\", \"dot\", \"euclidean\" or \"hamming\", got {other:?}"
        )),
    }
}

pub fn positive_k(k: i64, function: &str) -> Result<usize, String> {
    usize::try_from(k)
        .ok()
        .filter(|&k| k > 0)
        .ok_or_else(|| format!("{function}: k must be a positive integer, got {k}"))
}

/// Options of the gaussianizing transforms (`quantile_transform`,
/// `power_transform`); Python fills in all of them.
#[derive(Deserialize, Debug, Clone)]
pub struct GaussianOptions {
    /// The name the user called, for errors.
    pub function: String,
    /// `"quantile"` or `"power"`.
    pub transform: String,
    pub n_quantiles: i64,
    pub output_distribution: String,
    pub method: String,
    pub standardize: bool,
}

impl GaussianOptions {
    pub fn gaussianizer(&self) -> Result<Gaussianizer, String> {
        let function = &self.function;
        Ok(match self.transform.as_str() {
            "quantile" => Gaussianizer::Quantile {
                n_quantiles: usize::try_from(self.n_quantiles)
                    .ok()
                    .filter(|&n| n > 0)
                    .ok_or_else(|| {
                        format!(
                            "{function}: n_quantiles must be a positive integer, got {}",
                            self.n_quantiles
                        )
                    })?,
                normal: match self.output_distribution.as_str() {
                    "uniform" => false,
                    "normal" => true,
                    other => {
                        return Err(format!(
                            "{function}: output_distribution must be \"uniform\" or \"normal\", \
                             got {other:?}"
                        ))
                    }
                },
            },
            "power" => Gaussianizer::Power {
                method: power_method(&self.method, function)?,
                standardize: self.standardize,
            },
            other => return Err(format!("{function}: unknown transform {other:?}")),
        })
    }
}

pub fn power_method(method: &str, function: &str) -> Result<PowerMethod, String> {
    match method {
        "yeo-johnson" => Ok(PowerMethod::YeoJohnson),
        "box-cox" => Ok(PowerMethod::BoxCox),
        other => Err(format!(
            "{function}: method must be \"yeo-johnson\" or \"box-cox\", got {other:?}"
        )),
    }
}
