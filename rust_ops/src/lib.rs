//! sfumato's native image kernels: adjustments (blur, levels, invert,
//! channels, rescale, crop) and a PNG codec, on interleaved H×W×C images of
//! `u8` (0..255) or `f32` (0..1). The kernels are plain Rust; `python` is the
//! thin PyO3 layer exposed as `sfumato._ops` (cargo feature `python`).
pub mod area;
pub mod blur;
pub mod channels;
pub mod crop;
pub mod error;
mod fixed_blur;
pub mod image;
mod literal_deflate;
pub mod parallel;
pub mod png_codec;
pub mod pointwise;
mod recursive;
pub mod resize;
pub mod simd;
pub mod upscale;

#[cfg(feature = "python")]
mod python;

pub use error::{OpsError, Result};
pub use image::{Image, ImageView, Sample};
