//! Rescaling through `fast_image_resize` (SIMD convolution, antialiased when
//! downscaling: the filter support widens with the scale factor).
//!
//! Channels are resampled independently, alpha included and not
//! premultiplied — the same arithmetic as the reference (a plain resize of
//! every channel).
use fast_image_resize::images::{Image as FirImage, ImageRef};
use fast_image_resize::{FilterType, PixelType, ResizeAlg, ResizeOptions, Resizer};

use crate::error::{OpsError, Result};
use crate::image::{Image, ImageView, Sample};

/// Largest output accepted, in pixels (guards against absurd requests).
pub const MAX_OUTPUT_PIXELS: usize = 1 << 28;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Filter {
    Lanczos,
    Bicubic,
    Bilinear,
    Nearest,
    Area,
}

impl Filter {
    pub fn from_name(name: &str) -> Option<Self> {
        Some(match name.to_ascii_lowercase().as_str() {
            "lanczos" => Filter::Lanczos,
            "bicubic" => Filter::Bicubic,
            "bilinear" => Filter::Bilinear,
            "nearest" => Filter::Nearest,
            "area" => Filter::Area,
            _ => return None,
        })
    }

    fn algorithm(self) -> ResizeAlg {
        match self {
            Filter::Lanczos => ResizeAlg::Convolution(FilterType::Lanczos3),
            // Catmull-Rom (a = −0.5) is Pillow's and OpenCV-area's bicubic.
            Filter::Bicubic => ResizeAlg::Convolution(FilterType::CatmullRom),
            Filter::Bilinear => ResizeAlg::Convolution(FilterType::Bilinear),
            Filter::Nearest => ResizeAlg::Nearest,
            // A box filter over the scaled support is area averaging.
            Filter::Area => ResizeAlg::Convolution(FilterType::Box),
        }
    }
}

/// The API's `RescaleMode` numbers (there is no 1).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    /// Stretch to exactly width × height.
    Strict,
    /// Scale uniformly to cover, then centre-crop.
    Crop,
    /// Scale uniformly to fit, centre, pad with transparent black.
    Fit,
}

impl Mode {
    pub fn from_code(code: i64) -> Result<Self> {
        match code {
            0 => Ok(Mode::Strict),
            2 => Ok(Mode::Crop),
            3 => Ok(Mode::Fit),
            _ => Err(OpsError::invalid(format!("unknown rescale mode {code} (expected 0, 2 or 3)"))),
        }
    }
}

/// Sample types fast_image_resize can take.
pub trait ResizeSample: Sample {
    fn pixel_type(channels: usize) -> PixelType;
    /// Exact `kx`×`ky` block means of `src` into `dst` (see `area`).
    fn area_blocks(src: ImageView<'_, Self>, kx: usize, ky: usize, dst: &mut [Self]);
    /// Upscales by whole factors into `dst` when `upscale` handles the type
    /// (`u8`); returns whether it did.
    fn upscale_whole(src: ImageView<'_, Self>, kx: usize, ky: usize, filter: Filter, dst: &mut [Self]) -> bool;
}

impl ResizeSample for u8 {
    fn area_blocks(src: ImageView<'_, Self>, kx: usize, ky: usize, dst: &mut [Self]) {
        crate::area::area_u8(src, kx, ky, dst)
    }
    fn upscale_whole(src: ImageView<'_, Self>, kx: usize, ky: usize, filter: Filter, dst: &mut [Self]) -> bool {
        crate::upscale::upscale_u8(src, kx, ky, filter, dst);
        true
    }
    fn pixel_type(channels: usize) -> PixelType {
        match channels {
            1 => PixelType::U8,
            3 => PixelType::U8x3,
            _ => PixelType::U8x4,
        }
    }
}

impl ResizeSample for f32 {
    fn area_blocks(src: ImageView<'_, Self>, kx: usize, ky: usize, dst: &mut [Self]) {
        crate::area::area_f32(src, kx, ky, dst)
    }
    fn upscale_whole(_: ImageView<'_, Self>, _: usize, _: usize, _: Filter, _: &mut [Self]) -> bool {
        false
    }
    fn pixel_type(channels: usize) -> PixelType {
        match channels {
            1 => PixelType::F32,
            3 => PixelType::F32x3,
            _ => PixelType::F32x4,
        }
    }
}

thread_local! {
    static RESIZER: std::cell::RefCell<Resizer> = std::cell::RefCell::new(Resizer::new());
}

fn as_bytes<T: Sample>(data: &[T]) -> &[u8] {
    // SAFETY: u8 and f32 have no padding or invalid bit patterns as bytes.
    unsafe { std::slice::from_raw_parts(data.as_ptr().cast(), std::mem::size_of_val(data)) }
}

fn as_bytes_mut<T: Sample>(data: &mut [T]) -> &mut [u8] {
    // SAFETY: as above; every byte pattern is a valid u8 or f32.
    unsafe { std::slice::from_raw_parts_mut(data.as_mut_ptr().cast(), std::mem::size_of_val(data)) }
}

/// Resizes the `crop` region (left, top, width, height; fractional) of `src`
/// to `width` × `height`.
fn resize_region<T: ResizeSample>(
    src: ImageView<'_, T>,
    width: usize,
    height: usize,
    crop: (f64, f64, f64, f64),
    filter: Filter,
) -> Result<Image<T>> {
    let mut out = Image::<T>::zeros(height, width, src.channels);
    resize_region_into(src, width, height, crop, filter, &mut out.data)?;
    Ok(out)
}

/// `resize_region` into `dst` (height × width × the source's channels).
fn resize_region_into<T: ResizeSample>(
    src: ImageView<'_, T>,
    width: usize,
    height: usize,
    crop: (f64, f64, f64, f64),
    filter: Filter,
    dst: &mut [T],
) -> Result<()> {
    let whole = crop == (0.0, 0.0, src.width as f64, src.height as f64);
    if filter == Filter::Area && whole {
        if let Some((kx, ky)) = crate::area::whole_factors(src.width, src.height, width, height) {
            // Starts on the calling thread (see `area`).
            T::area_blocks(src, kx, ky, dst);
            return Ok(());
        }
    }
    // The filtered paths run on the pool.
    crate::parallel::run(|| {
        // Whole-factor upscales in fixed point, 8-bit only, where it is the faster path.
        if whole && width.is_multiple_of(src.width) && height.is_multiple_of(src.height) {
            let (kx, ky) = (width / src.width, height / src.height);
            if crate::upscale::is_faster(filter, kx, ky, src.channels) && T::upscale_whole(src, kx, ky, filter, dst) {
                return Ok(());
            }
        }
        convolve_into(src, width, height, crop, filter, dst)
    })
}

/// The general path: fast_image_resize's convolution of the `crop` region
/// (fractional) of `src` into `dst`.
pub(crate) fn convolve_into<T: ResizeSample>(
    src: ImageView<'_, T>,
    width: usize,
    height: usize,
    crop: (f64, f64, f64, f64),
    filter: Filter,
    dst: &mut [T],
) -> Result<()> {
    let pixel_type = T::pixel_type(src.channels);
    let fail = |e: &dyn std::fmt::Display| OpsError::invalid(format!("resize failed: {e}"));
    let source = ImageRef::new(src.width as u32, src.height as u32, as_bytes(src.data), pixel_type)
        .map_err(|e| fail(&e))?;
    let mut target =
        FirImage::from_slice_u8(width as u32, height as u32, as_bytes_mut(dst), pixel_type).map_err(|e| fail(&e))?;
    let options =
        ResizeOptions::new().resize_alg(filter.algorithm()).use_alpha(false).crop(crop.0, crop.1, crop.2, crop.3);
    // One resizer per thread, kept between calls: its intermediate buffer
    // stays mapped instead of being faulted in again on every call. A pool
    // thread waiting inside one resize may run another request's resize: that
    // one finds the cell borrowed and uses a fresh resizer.
    RESIZER
        .with(|cell| match cell.try_borrow_mut() {
            Ok(mut resizer) => resizer.resize(&source, &mut target, &options),
            Err(_) => Resizer::new().resize(&source, &mut target, &options),
        })
        .map_err(|e| fail(&e))
}

/// Output shape of `rescale` (height, width, channels), after checking the request.
pub fn rescale_shape(channels: usize, width: usize, height: usize, mode: Mode) -> Result<(usize, usize, usize)> {
    if width == 0 || height == 0 {
        return Err(OpsError::invalid(format!("rescale size must be positive, not {width}x{height}")));
    }
    if width.saturating_mul(height) > MAX_OUTPUT_PIXELS || width > u32::MAX as usize || height > u32::MAX as usize {
        return Err(OpsError::invalid(format!("rescale size {width}x{height} is too large")));
    }
    let c = if mode == Mode::Fit && channels == 3 { 4 } else { channels };
    Ok((height, width, c))
}

/// `rescale` into `dst` (shaped as `rescale_shape` says).
pub fn rescale_into<T: ResizeSample>(
    src: ImageView<'_, T>,
    width: usize,
    height: usize,
    mode: Mode,
    filter: Filter,
    dst: &mut [T],
) -> Result<()> {
    rescale_shape(src.channels, width, height, mode)?;
    let (sw, sh) = (src.width as f64, src.height as f64);
    match mode {
        Mode::Strict => resize_region_into(src, width, height, (0.0, 0.0, sw, sh), filter, dst),
        Mode::Crop => {
            let scale = (width as f64 / sw).max(height as f64 / sh);
            let (cw, ch) = ((width as f64 / scale).min(sw), (height as f64 / scale).min(sh));
            resize_region_into(src, width, height, ((sw - cw) / 2.0, (sh - ch) / 2.0, cw, ch), filter, dst)
        }
        Mode::Fit => {
            let out = rescale(src, width, height, mode, filter)?;
            dst.copy_from_slice(&out.data);
            Ok(())
        }
    }
}

pub fn rescale<T: ResizeSample>(
    src: ImageView<'_, T>,
    width: usize,
    height: usize,
    mode: Mode,
    filter: Filter,
) -> Result<Image<T>> {
    if width == 0 || height == 0 {
        return Err(OpsError::invalid(format!("rescale size must be positive, not {width}x{height}")));
    }
    if width.saturating_mul(height) > MAX_OUTPUT_PIXELS || width > u32::MAX as usize || height > u32::MAX as usize {
        return Err(OpsError::invalid(format!("rescale size {width}x{height} is too large")));
    }
    let (sw, sh) = (src.width as f64, src.height as f64);
    let whole = (0.0, 0.0, sw, sh);
    match mode {
        Mode::Strict => resize_region(src, width, height, whole, filter),
        Mode::Crop => {
            let scale = (width as f64 / sw).max(height as f64 / sh);
            let (cw, ch) = ((width as f64 / scale).min(sw), (height as f64 / scale).min(sh));
            resize_region(src, width, height, ((sw - cw) / 2.0, (sh - ch) / 2.0, cw, ch), filter)
        }
        Mode::Fit => {
            let scale = (width as f64 / sw).min(height as f64 / sh);
            let iw = ((sw * scale).round() as usize).clamp(1, width);
            let ih = ((sh * scale).round() as usize).clamp(1, height);
            let inner = resize_region(src, iw, ih, whole, filter)?;
            Ok(pad_centred(&inner, width, height))
        }
    }
}

/// Places `inner` centred on a transparent-black canvas. RGB gains an alpha
/// channel (opaque over the image) so the padding can be transparent; a
/// single-channel mask pads with 0.
fn pad_centred<T: Sample>(inner: &Image<T>, width: usize, height: usize) -> Image<T> {
    let in_c = inner.channels;
    let out_c = if in_c == 3 { 4 } else { in_c };
    let mut out = Image::<T>::zeros(height, width, out_c);
    let (left, top) = ((width - inner.width) / 2, (height - inner.height) / 2);
    for y in 0..inner.height {
        let src_row = &inner.data[y * inner.row_len()..(y + 1) * inner.row_len()];
        let start = ((top + y) * width + left) * out_c;
        let dst_row = &mut out.data[start..start + inner.width * out_c];
        if in_c == out_c {
            dst_row.copy_from_slice(src_row);
        } else {
            for (d, s) in dst_row.chunks_exact_mut(4).zip(src_row.chunks_exact(3)) {
                d[..3].copy_from_slice(s);
                d[3] = T::FULL;
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn gradient(h: usize, w: usize, c: usize) -> Vec<u8> {
        (0..h * w * c).map(|i| ((i / c) % w * 255 / w.max(2)) as u8).collect()
    }

    #[test]
    fn strict_hits_the_exact_size() {
        let px = gradient(30, 40, 3);
        let img = ImageView::new(&px, 30, 40, 3).unwrap();
        for f in [Filter::Lanczos, Filter::Bicubic, Filter::Bilinear, Filter::Nearest, Filter::Area] {
            let out = rescale(img, 17, 9, Mode::Strict, f).unwrap();
            assert_eq!((out.height, out.width, out.channels), (9, 17, 3));
        }
    }

    #[test]
    fn constant_images_stay_constant() {
        let px = vec![93u8; 20 * 10 * 4];
        let img = ImageView::new(&px, 20, 10, 4).unwrap();
        for mode in [Mode::Strict, Mode::Crop] {
            let out = rescale(img, 33, 7, mode, Filter::Lanczos).unwrap();
            assert!(out.data.iter().all(|&v| v == 93), "{mode:?}");
        }
    }

    #[test]
    fn fit_pads_with_transparent_black_and_adds_alpha_to_rgb() {
        let px = vec![200u8; 10 * 20 * 3];
        let img = ImageView::new(&px, 10, 20, 3).unwrap();
        let out = rescale(img, 40, 40, Mode::Fit, Filter::Bilinear).unwrap();
        assert_eq!((out.height, out.width, out.channels), (40, 40, 4));
        // Inner image is 40x20 at rows 10..30.
        assert_eq!(&out.data[..4], &[0, 0, 0, 0]);
        let mid = (20 * 40 + 20) * 4;
        assert_eq!(&out.data[mid..mid + 4], &[200, 200, 200, 255]);
        let mask = vec![255u8; 10 * 20];
        let img = ImageView::new(&mask, 10, 20, 1).unwrap();
        let out = rescale(img, 40, 40, Mode::Fit, Filter::Nearest).unwrap();
        assert_eq!(out.channels, 1);
        assert_eq!(out.data.iter().filter(|&&v| v == 255).count(), 40 * 20);
    }

    #[test]
    fn crop_mode_keeps_the_centre() {
        // Left half black, right half white; cropping a 1:1 square from a 2:1 image keeps both halves.
        let (h, w) = (10, 20);
        let px: Vec<u8> = (0..h * w).map(|i| if i % w < w / 2 { 0 } else { 255 }).collect();
        let img = ImageView::new(&px, h, w, 1).unwrap();
        let out = rescale(img, 10, 10, Mode::Crop, Filter::Nearest).unwrap();
        assert_eq!(out.data[0], 0);
        assert_eq!(out.data[9], 255);
    }

    #[test]
    fn rejects_bad_requests() {
        let px = vec![0u8; 4];
        let img = ImageView::new(&px, 2, 2, 1).unwrap();
        assert!(rescale(img, 0, 3, Mode::Strict, Filter::Lanczos).is_err());
        assert!(rescale(img, 1 << 20, 1 << 20, Mode::Strict, Filter::Lanczos).is_err());
        assert!(Mode::from_code(1).is_err());
        assert_eq!(Filter::from_name("LANCZOS"), Some(Filter::Lanczos));
        assert_eq!(Filter::from_name("sinc"), None);
    }
}
