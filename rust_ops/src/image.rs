//! Interleaved H×W×C images: a borrowed view (what Python hands us without a
//! copy) and an owned buffer (what we hand back).
use crate::error::{OpsError, Result};

/// A sample type the kernels accept: `u8` (0..255) or `f32` (0..1).
pub trait Sample: Copy + Send + Sync + PartialOrd + Default + 'static {
    /// The value of full intensity (255 or 1.0).
    const FULL: Self;
    /// The value as `f32`, on the sample's own scale (0..255 or 0..1).
    fn to_f32(self) -> f32;
    /// Back from `f32` on the same scale; `u8` rounds to nearest and saturates.
    fn from_f32(value: f32) -> Self;
    /// The view itself when the samples are `u8` (for 8-bit specialisations).
    fn as_u8_view(view: ImageView<'_, Self>) -> Option<ImageView<'_, u8>> {
        let _ = view;
        None
    }
    /// `from_f32` over a slice (`dst` as long as `values`).
    #[inline(always)]
    fn from_f32_slice(values: &[f32], dst: &mut [Self]) {
        for (d, &v) in dst.iter_mut().zip(values) {
            *d = Self::from_f32(v);
        }
    }
    /// The view itself when the samples are `f32`.
    fn as_f32_view(view: ImageView<'_, Self>) -> Option<ImageView<'_, f32>> {
        let _ = view;
        None
    }
    /// The slice itself when the samples are `u8` (for 8-bit specialisations).
    fn as_u8_slice_mut(data: &mut [Self]) -> Option<&mut [u8]> {
        let _ = data;
        None
    }
}

impl Sample for u8 {
    const FULL: Self = 255;
    #[inline(always)]
    fn to_f32(self) -> f32 {
        self as f32
    }
    #[inline(always)]
    fn from_f32(value: f32) -> Self {
        // `as u8` saturates (and maps NaN to 0), so only the rounding is ours.
        (value + 0.5) as u8
    }
    #[inline(always)]
    fn from_f32_slice(values: &[f32], dst: &mut [Self]) {
        // The same rounding as `from_f32`, clamped first so it vectorises as
        // a plain truncation (NaN becomes 0: `max` returns the number).
        #[allow(clippy::manual_clamp)] // `clamp` keeps NaN, which must become 0
        for (d, &v) in dst.iter_mut().zip(values) {
            let clamped = (v + 0.5).max(0.0).min(255.0);
            // SAFETY: `clamped` is finite and within 0..=255.
            *d = unsafe { clamped.to_int_unchecked::<i32>() } as u8;
        }
    }
    fn as_u8_view(view: ImageView<'_, Self>) -> Option<ImageView<'_, u8>> {
        Some(view)
    }
    fn as_u8_slice_mut(data: &mut [Self]) -> Option<&mut [u8]> {
        Some(data)
    }
}

impl Sample for f32 {
    const FULL: Self = 1.0;
    fn as_f32_view(view: ImageView<'_, Self>) -> Option<ImageView<'_, f32>> {
        Some(view)
    }
    #[inline(always)]
    fn to_f32(self) -> f32 {
        self
    }
    #[inline(always)]
    fn from_f32(value: f32) -> Self {
        value
    }
}

/// Number of colour channels: alpha is the 4th channel, and only there.
pub fn colour_channels(channels: usize) -> usize {
    if channels == 4 {
        3
    } else {
        channels
    }
}

fn check_shape(len: usize, height: usize, width: usize, channels: usize) -> Result<()> {
    if !matches!(channels, 1 | 3 | 4) {
        return Err(OpsError::invalid(format!("images must have 1, 3 or 4 channels, not {channels}")));
    }
    if height == 0 || width == 0 {
        return Err(OpsError::invalid(format!("empty image ({height}x{width})")));
    }
    let expected = height
        .checked_mul(width)
        .and_then(|n| n.checked_mul(channels))
        .ok_or_else(|| OpsError::invalid("image dimensions overflow"))?;
    if expected != len {
        return Err(OpsError::invalid(format!(
            "buffer of {len} samples does not hold a {height}x{width}x{channels} image"
        )));
    }
    Ok(())
}

/// A borrowed, contiguous, row-major H×W×C image.
#[derive(Clone, Copy, Debug)]
pub struct ImageView<'a, T> {
    pub data: &'a [T],
    pub height: usize,
    pub width: usize,
    pub channels: usize,
}

impl<'a, T: Sample> ImageView<'a, T> {
    pub fn new(data: &'a [T], height: usize, width: usize, channels: usize) -> Result<Self> {
        check_shape(data.len(), height, width, channels)?;
        Ok(ImageView { data, height, width, channels })
    }

    pub fn row_len(&self) -> usize {
        self.width * self.channels
    }

    pub fn row(&self, y: usize) -> &'a [T] {
        let len = self.row_len();
        &self.data[y * len..(y + 1) * len]
    }
}

/// An owned, contiguous, row-major H×W×C image.
#[derive(Clone, Debug, PartialEq)]
pub struct Image<T> {
    pub data: Vec<T>,
    pub height: usize,
    pub width: usize,
    pub channels: usize,
}

impl<T: Sample> Image<T> {
    pub fn new(data: Vec<T>, height: usize, width: usize, channels: usize) -> Result<Self> {
        check_shape(data.len(), height, width, channels)?;
        Ok(Image { data, height, width, channels })
    }

    pub fn zeros(height: usize, width: usize, channels: usize) -> Self {
        Image { data: vec![T::default(); height * width * channels], height, width, channels }
    }

    pub fn view(&self) -> ImageView<'_, T> {
        ImageView { data: &self.data, height: self.height, width: self.width, channels: self.channels }
    }

    pub fn row_len(&self) -> usize {
        self.width * self.channels
    }
}

/// Copies the alpha channel of `from` into `to` (same shape, 4 channels);
/// used after kernels that computed every channel but must carry alpha unchanged.
/// Copies the alpha channel of `from` into `to` (the same image's samples).
pub fn restore_alpha<T: Sample>(to: &mut [T], from: ImageView<'_, T>) {
    if from.channels != 4 {
        return;
    }
    for (dst, src) in to.chunks_exact_mut(4).zip(from.data.chunks_exact(4)) {
        dst[3] = src[3];
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rejects_bad_shapes() {
        assert!(ImageView::new(&[0u8; 6], 1, 2, 3).is_ok());
        assert!(ImageView::new(&[0u8; 4], 1, 2, 2).is_err());
        assert!(ImageView::new(&[0u8; 5], 1, 2, 3).is_err());
        assert!(ImageView::<u8>::new(&[], 0, 2, 3).is_err());
    }

    #[test]
    fn u8_rounds_and_saturates() {
        assert_eq!(u8::from_f32(254.49), 254);
        assert_eq!(u8::from_f32(254.5), 255);
        assert_eq!(u8::from_f32(300.0), 255);
        assert_eq!(u8::from_f32(-3.0), 0);
    }
}
