//! Per-sample adjustments: invert and levels. Both act on colour channels and
//! carry alpha unchanged unless `include_alpha` is set.
use rayon::prelude::*;

use crate::error::{OpsError, Result};
use crate::image::{Image, ImageView};
use crate::parallel::share_chunks_mut;
use crate::simd::multiversion;

/// Samples per parallel work item: big enough to amortise scheduling.
const PARALLEL_CHUNK: usize = 1 << 16;
/// Samples per inner block: a multiple of 1, 3 and 4 channels so the per-lane
/// pattern (alpha or not) lines up with every block.
const BLOCK: usize = 48;

/// Which lanes of one 48-sample block an adjustment touches.
fn lane_mask(channels: usize, include_alpha: bool) -> [bool; BLOCK] {
    let mut mask = [true; BLOCK];
    if channels == 4 && !include_alpha {
        for (i, m) in mask.iter_mut().enumerate() {
            *m = i % 4 != 3;
        }
    }
    mask
}

multiversion! {
    fn invert_u8_chunk(src: &[u8], dst: &mut [u8], flip: &[u8; BLOCK]) {
        let mut src_blocks = src.chunks_exact(BLOCK);
        let mut dst_blocks = dst.chunks_exact_mut(BLOCK);
        for (s, d) in (&mut src_blocks).zip(&mut dst_blocks) {
            for i in 0..BLOCK {
                d[i] = s[i] ^ flip[i];
            }
        }
        for (i, (d, s)) in dst_blocks.into_remainder().iter_mut().zip(src_blocks.remainder()).enumerate() {
            *d = s ^ flip[i];
        }
    }
}

/// The part of `src` that chunk `index` of an output cut into `PARALLEL_CHUNK`s reads.
fn source_chunk<T>(src: &[T], index: usize, len: usize) -> &[T] {
    &src[index * PARALLEL_CHUNK..][..len]
}

/// `255 − x` (u8) or `1 − x` (f32) on colour channels.
pub fn invert_u8(src: ImageView<'_, u8>, include_alpha: bool) -> Image<u8> {
    let mut out = vec![0u8; src.data.len()];
    invert_u8_into(src, include_alpha, &mut out);
    Image { data: out, height: src.height, width: src.width, channels: src.channels }
}

/// `invert_u8` into `dst` (as long as the image); shared with the pool when large.
pub fn invert_u8_into(src: ImageView<'_, u8>, include_alpha: bool, dst: &mut [u8]) {
    let mask = lane_mask(src.channels, include_alpha);
    // 255 − x is x XOR 0xFF for bytes.
    let flip = mask.map(|m| if m { 0xFF } else { 0 });
    if crate::parallel::worth_parallel(dst.len()) {
        share_chunks_mut(dst, PARALLEL_CHUNK, |i, d| invert_u8_chunk(source_chunk(src.data, i, d.len()), d, &flip));
    } else {
        invert_u8_chunk(src.data, dst, &flip);
    }
}

pub fn invert_f32(src: ImageView<'_, f32>, include_alpha: bool) -> Image<f32> {
    let mut out = vec![0f32; src.data.len()];
    invert_f32_into(src, include_alpha, &mut out);
    Image { data: out, height: src.height, width: src.width, channels: src.channels }
}

/// `invert_f32` into `dst` (as long as the image); shared with the pool when large.
pub fn invert_f32_into(src: ImageView<'_, f32>, include_alpha: bool, dst: &mut [f32]) {
    let mask = lane_mask(src.channels, include_alpha);
    let chunk = |d: &mut [f32], s: &[f32]| {
        for (i, (o, &x)) in d.iter_mut().zip(s).enumerate() {
            *o = if mask[i % BLOCK] { 1.0 - x } else { x };
        }
    };
    if crate::parallel::worth_parallel(dst.len() * 4) {
        share_chunks_mut(dst, PARALLEL_CHUNK, |i, d| chunk(d, source_chunk(src.data, i, d.len())));
    } else {
        dst.chunks_mut(PARALLEL_CHUNK).zip(src.data.chunks(PARALLEL_CHUNK)).for_each(|(d, s)| chunk(d, s));
    }
}

/// Levels parameters in 0..1 units.
#[derive(Clone, Copy, Debug)]
pub struct Levels {
    pub input_low: f64,
    pub input_high: f64,
    pub output_low: f64,
    pub output_high: f64,
}

impl Levels {
    pub fn validate(&self) -> Result<()> {
        let all = [self.input_low, self.input_high, self.output_low, self.output_high];
        if all.iter().any(|v| !v.is_finite()) {
            return Err(OpsError::invalid("levels parameters must be finite numbers"));
        }
        if self.input_high <= self.input_low {
            return Err(OpsError::invalid(format!(
                "levels input_high ({}) must be greater than input_low ({})",
                self.input_high, self.input_low
            )));
        }
        Ok(())
    }

    /// The curve in 0..1 units, clamped to 0..1 (float64, the reference definition).
    pub fn apply(&self, x: f64) -> f64 {
        let y = (x - self.input_low) / (self.input_high - self.input_low)
            * (self.output_high - self.output_low)
            + self.output_low;
        y.clamp(0.0, 1.0)
    }

    /// The 8-bit table: `round_half_even(255 · curve(x / 255))`, computed in float64.
    pub fn table(&self) -> [u8; 256] {
        std::array::from_fn(|x| (self.apply(x as f64 / 255.0) * 255.0).round_ties_even() as u8)
    }
}

/// `y = clamp((a·x + b) >> 16, 0, 255)`: an affine fixed-point form that
/// reproduces a levels table exactly, so the hot loop is arithmetic that
/// vectorises instead of a table lookup that does not.
#[derive(Clone, Copy, Debug, PartialEq)]
struct FixedPointCurve {
    a: i32,
    b: i32,
}

impl FixedPointCurve {
    const IDENTITY: Self = FixedPointCurve { a: 1 << 16, b: 0 };

    #[inline(always)]
    fn eval(self, x: u8) -> u8 {
        ((x as i32 * self.a + self.b) >> 16).clamp(0, 255) as u8
    }

    /// Finds an exact fixed-point form of `table`, if one exists near its slope.
    fn fit(table: &[u8; 256], levels: &Levels) -> Option<Self> {
        let slope = (levels.output_high - levels.output_low) / (levels.input_high - levels.input_low);
        let a0 = (slope * 65536.0).round();
        // Keep x·a + b inside i32 for every x.
        if a0.is_nan() || a0.abs() >= 4.0e6 {
            return None;
        }
        let a0 = a0 as i64;
        for a in [a0, a0 - 1, a0 + 1, a0 - 2, a0 + 2] {
            // Each unclamped entry bounds b from both sides; clamped ones from one side.
            let (mut lo, mut hi) = (i64::MIN / 4, i64::MAX / 4);
            for (x, &y) in table.iter().enumerate() {
                let ax = a * x as i64;
                let y = y as i64;
                if y > 0 {
                    lo = lo.max((y << 16) - ax);
                }
                if y < 255 {
                    hi = hi.min(((y + 1) << 16) - 1 - ax);
                }
            }
            if lo <= hi {
                let b = if lo > i64::MIN / 4 { lo } else { hi };
                if b.abs() < 1 << 30 {
                    let curve = FixedPointCurve { a: a as i32, b: b as i32 };
                    if (0..256).all(|x| curve.eval(x as u8) == table[x]) {
                        return Some(curve);
                    }
                }
            }
        }
        None
    }
}

multiversion! {
    fn levels_fixed_chunk(src: &[u8], dst: &mut [u8], a: &[i32; BLOCK], b: &[i32; BLOCK]) {
        let mut src_blocks = src.chunks_exact(BLOCK);
        let mut dst_blocks = dst.chunks_exact_mut(BLOCK);
        for (s, d) in (&mut src_blocks).zip(&mut dst_blocks) {
            for i in 0..BLOCK {
                d[i] = ((s[i] as i32 * a[i] + b[i]) >> 16).clamp(0, 255) as u8;
            }
        }
        for (i, (d, &s)) in dst_blocks.into_remainder().iter_mut().zip(src_blocks.remainder()).enumerate() {
            *d = ((s as i32 * a[i] + b[i]) >> 16).clamp(0, 255) as u8;
        }
    }
}

pub fn levels_u8(src: ImageView<'_, u8>, levels: &Levels, include_alpha: bool) -> Result<Image<u8>> {
    levels.validate()?;
    let table = levels.table();
    let mask = lane_mask(src.channels, include_alpha);
    let mut out = vec![0u8; src.data.len()];
    match FixedPointCurve::fit(&table, levels) {
        Some(curve) => {
            let pick = |i: usize| if mask[i] { curve } else { FixedPointCurve::IDENTITY };
            let a: [i32; BLOCK] = std::array::from_fn(|i| pick(i).a);
            let b: [i32; BLOCK] = std::array::from_fn(|i| pick(i).b);
            out.par_chunks_mut(PARALLEL_CHUNK)
                .zip(src.data.par_chunks(PARALLEL_CHUNK))
                .for_each(|(d, s)| levels_fixed_chunk(s, d, &a, &b));
        }
        None => {
            let identity: [u8; 256] = std::array::from_fn(|x| x as u8);
            out.par_chunks_mut(PARALLEL_CHUNK)
                .zip(src.data.par_chunks(PARALLEL_CHUNK))
                .for_each(|(d, s)| {
                    for (i, (o, &x)) in d.iter_mut().zip(s).enumerate() {
                        let lut = if mask[i % BLOCK] { &table } else { &identity };
                        *o = lut[x as usize];
                    }
                });
        }
    }
    Ok(Image { data: out, height: src.height, width: src.width, channels: src.channels })
}

pub fn levels_f32(src: ImageView<'_, f32>, levels: &Levels, include_alpha: bool) -> Result<Image<f32>> {
    levels.validate()?;
    let mask = lane_mask(src.channels, include_alpha);
    let scale = ((levels.output_high - levels.output_low) / (levels.input_high - levels.input_low)) as f32;
    let (in_low, out_low) = (levels.input_low as f32, levels.output_low as f32);
    let mut out = vec![0f32; src.data.len()];
    out.par_chunks_mut(PARALLEL_CHUNK)
        .zip(src.data.par_chunks(PARALLEL_CHUNK))
        .for_each(|(d, s)| {
            for (i, (o, &x)) in d.iter_mut().zip(s).enumerate() {
                *o = if mask[i % BLOCK] { ((x - in_low) * scale + out_low).clamp(0.0, 1.0) } else { x };
            }
        });
    Ok(Image { data: out, height: src.height, width: src.width, channels: src.channels })
}

/// Dispatch of the pointwise kernels over the sample type.
pub trait Pointwise: crate::image::Sample {
    fn invert(src: ImageView<'_, Self>, include_alpha: bool) -> Image<Self>;
    fn invert_into(src: ImageView<'_, Self>, include_alpha: bool, dst: &mut [Self]);
    fn levels(src: ImageView<'_, Self>, levels: &Levels, include_alpha: bool) -> Result<Image<Self>>;
}

impl Pointwise for u8 {
    fn invert(src: ImageView<'_, Self>, include_alpha: bool) -> Image<Self> {
        invert_u8(src, include_alpha)
    }
    fn invert_into(src: ImageView<'_, Self>, include_alpha: bool, dst: &mut [Self]) {
        invert_u8_into(src, include_alpha, dst)
    }
    fn levels(src: ImageView<'_, Self>, levels: &Levels, include_alpha: bool) -> Result<Image<Self>> {
        levels_u8(src, levels, include_alpha)
    }
}

impl Pointwise for f32 {
    fn invert(src: ImageView<'_, Self>, include_alpha: bool) -> Image<Self> {
        invert_f32(src, include_alpha)
    }
    fn invert_into(src: ImageView<'_, Self>, include_alpha: bool, dst: &mut [Self]) {
        invert_f32_into(src, include_alpha, dst)
    }
    fn levels(src: ImageView<'_, Self>, levels: &Levels, include_alpha: bool) -> Result<Image<Self>> {
        levels_f32(src, levels, include_alpha)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn levels(a: f64, b: f64, c: f64, d: f64) -> Levels {
        Levels { input_low: a, input_high: b, output_low: c, output_high: d }
    }

    #[test]
    fn invert_keeps_alpha() {
        let px = [10u8, 20, 30, 40, 0, 255, 128, 7];
        let img = ImageView::new(&px, 1, 2, 4).unwrap();
        assert_eq!(invert_u8(img, false).data, vec![245, 235, 225, 40, 255, 0, 127, 7]);
        assert_eq!(invert_u8(img, true).data, vec![245, 235, 225, 215, 255, 0, 127, 248]);
        let f = [0.25f32, 1.0, 0.0];
        let img = ImageView::new(&f, 1, 1, 3).unwrap();
        assert_eq!(invert_f32(img, false).data, vec![0.75, 0.0, 1.0]);
    }

    #[test]
    fn invert_handles_long_rows_with_tails() {
        let px: Vec<u8> = (0..(3 * 37 * 5)).map(|i| (i * 7 % 256) as u8).collect();
        let img = ImageView::new(&px, 5, 37, 3).unwrap();
        let out = invert_u8(img, false);
        assert!(out.data.iter().zip(&px).all(|(o, i)| *o == 255 - i));
    }

    #[test]
    fn table_rounds_half_to_even() {
        // 0.5 · x is a tie at x = 1, 3, 5, …: round-half-even gives 0, 2, 2, 4.
        let t = levels(0.0, 1.0, 0.0, 0.5).table();
        assert_eq!(&t[..6], &[0, 0, 1, 2, 2, 2]);
        assert_eq!(t[255], 128);
    }

    #[test]
    fn rejects_empty_input_range() {
        let px = [1u8, 2, 3];
        let img = ImageView::new(&px, 1, 1, 3).unwrap();
        assert!(levels_u8(img, &levels(0.5, 0.5, 0.0, 1.0), false).is_err());
        assert!(levels_u8(img, &levels(0.6, 0.5, 0.0, 1.0), false).is_err());
    }

    #[test]
    fn fixed_point_and_table_paths_agree_with_the_table() {
        let px: Vec<u8> = (0..=255u8).cycle().take(256 * 4 * 3).collect();
        let img = ImageView::new(&px, 3, 256, 4).unwrap();
        for l in [
            levels(0.1, 0.9, 0.05, 0.95),
            levels(0.0, 0.05, 0.0, 1.0),
            levels(0.2, 0.3, 1.0, 0.0),
            levels(0.0, 1.0, 0.0, 0.5),
            levels(0.0, 1e-6, 0.0, 1.0),
            levels(-0.5, 1.7, 0.3, 0.31),
        ] {
            let table = l.table();
            let out = levels_u8(img, &l, false).unwrap();
            for (i, (&o, &x)) in out.data.iter().zip(&px).enumerate() {
                let expected = if i % 4 == 3 { x } else { table[x as usize] };
                assert_eq!(o, expected, "{l:?} at x={x}");
            }
        }
    }
}
