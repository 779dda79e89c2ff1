//! Upscaling `u8` images by whole factors (2, 3 or 4 per axis) with the
//! bilinear or Catmull-Rom filter, in 16-bit fixed point.
//!
//! By a whole factor `k`, output pixel `k·i + p` sits at the same place
//! relative to source pixel `i` for every `i`: each phase `p` has fixed taps
//! and weights, so a row is a few shifted multiply-adds per phase rather than
//! a convolution with a tap list per pixel. The horizontal pass runs first, on
//! the source's rows (the fewer), into 16-bit rows with `FRAC` fractional
//! bits laid out in output order; the vertical pass combines 2 or 4 of those
//! rows per output row and rounds to 8 bits. Products are rounded Q15
//! multiplies (`vpmulhrsw`), so results are within ~0.1 of the float
//! computation before the final rounding; bilinear by 2 or 4 is exact (its
//! weights are multiples of 1/8). Borders follow Pillow and the general path:
//! taps outside the image are dropped and the others renormalised.
use rayon::prelude::*;

use crate::image::ImageView;
use crate::resize::Filter;
use crate::simd::multiversion;

/// Most taps per output sample (Catmull-Rom).
const MAX_TAPS: usize = 4;
/// Fractional bits of the intermediate rows: 255 << 6 leaves room in `i16`
/// for Catmull-Rom's overshoot (at most ~1.1× per pass) and its renormalised
/// border weights.
const FRAC: u32 = 6;
/// Horizontal rows kept per task: more than the taps one output row spans,
/// so a row is computed once and stays until every output row used it.
const RING: usize = 8;
/// Output rows one task writes at least (each task first computes the few
/// source rows above its first output row).
const TASK_MIN_ROWS: usize = 16;

/// Whether `upscale_u8` handles this filter and these factors.
pub fn supported(filter: Filter, kx: usize, ky: usize) -> bool {
    matches!(filter, Filter::Bilinear | Filter::Bicubic) && (2..=4).contains(&kx) && (2..=4).contains(&ky)
}

/// Whether `upscale_u8` beats the general convolution here: only with the
/// vector horizontal rows (AVX2; one or four channels; 2 or 4 across). The
/// portable rows (three channels, 3 across, other CPUs) ran 1.5–5× slower
/// than fast_image_resize, so those cases stay with it.
pub fn is_faster(filter: Filter, kx: usize, ky: usize, channels: usize) -> bool {
    #[cfg(target_arch = "x86_64")]
    if crate::simd::has_avx2() {
        return supported(filter, kx, ky) && matches!(channels, 1 | 4) && matches!(kx, 2 | 4);
    }
    let _ = (filter, kx, ky, channels);
    false
}

fn taps_len(filter: Filter) -> usize {
    if filter == Filter::Bicubic { 4 } else { 2 }
}

/// The filter's weight at distance `x` (in source pixels).
fn weight(filter: Filter, x: f64) -> f64 {
    let x = x.abs();
    if filter == Filter::Bicubic {
        // Catmull-Rom (a = −0.5), as the general path and Pillow.
        if x < 1.0 {
            (1.5 * x - 2.5) * x * x + 1.0
        } else if x < 2.0 {
            ((-0.5 * x + 2.5) * x - 4.0) * x + 2.0
        } else {
            0.0
        }
    } else {
        (1.0 - x).max(0.0)
    }
}

/// One output coordinate's source indices and Q15 weights (the first
/// `taps_len` entries; the others are zero).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Taps {
    index: [usize; MAX_TAPS],
    weight: [i16; MAX_TAPS],
}

/// Taps of output coordinate `out` along an axis of `n` source pixels scaled by `k`.
fn taps_for(out: usize, n: usize, k: usize, filter: Filter) -> Taps {
    let t = taps_len(filter);
    let (i, p) = (out / k, out % k);
    // Where the output's centre falls, relative to source pixel i's centre: in (−½, ½).
    let s = (p as f64 + 0.5) / k as f64 - 0.5;
    let first = i as isize + s.floor() as isize + 1 - (t / 2) as isize;
    let mut w = [0f64; MAX_TAPS];
    let mut inside = [false; MAX_TAPS];
    let mut index = [0usize; MAX_TAPS];
    let mut sum = 0.0;
    for j in 0..t {
        let x = first + j as isize;
        index[j] = x.clamp(0, n as isize - 1) as usize;
        if (0..n as isize).contains(&x) {
            inside[j] = true;
            w[j] = weight(filter, (x - i as isize) as f64 - s);
            sum += w[j];
        }
    }
    // Q15, summing to exactly one: the largest weight takes the rounding.
    let mut q = [0i32; MAX_TAPS];
    let mut largest = 0;
    for j in 0..t {
        if inside[j] {
            q[j] = (w[j] / sum * 32768.0).round() as i32;
            if w[j].abs() > w[largest].abs() || !inside[largest] {
                largest = j;
            }
        }
    }
    q[largest] += 32768 - q.iter().sum::<i32>();
    // A weight of one or more (a centre phase, a renormalised border) does not
    // fit `i16`: half of it moves to a free slot on the same source index
    // (a dropped tap or a zero weight; there is always one then).
    for j in 0..t {
        if q[j] > i16::MAX as i32 {
            let free = (0..t).find(|&f| f != j && q[f] == 0).expect("a weight of one leaves a free tap");
            q[free] = q[j] / 2;
            q[j] -= q[free];
            index[free] = index[j];
        }
    }
    Taps { index, weight: q.map(|v| v as i16) }
}

/// Taps of every output coordinate along one axis.
struct Axis {
    taps: Vec<Taps>,
    /// Taps per output (2 or 4).
    t: usize,
    k: usize,
    /// Source pixels `lo..hi` are inside: all taps of their `k` outputs lie
    /// in the image, so they take their phase's weights unchanged.
    lo: usize,
    hi: usize,
}

impl Axis {
    fn new(n: usize, k: usize, filter: Filter) -> Self {
        let t = taps_len(filter);
        let taps = (0..n * k).map(|o| taps_for(o, n, k, filter)).collect();
        let lo = (t / 2).min(n);
        Axis { taps, t, k, lo, hi: n.saturating_sub(t / 2).max(lo) }
    }
}

/// `(a·b + 2¹⁴) >> 15`, what `vpmulhrsw` computes per lane.
#[inline(always)]
fn mulhrs(a: i16, b: i16) -> i16 {
    ((a as i32 * b as i32 + (1 << 14)) >> 15) as i16
}

/// The 8-bit value of an intermediate sum (rounded, saturated).
#[inline(always)]
fn to_u8(v: i16) -> u8 {
    mulhrs(v, 1 << (15 - FRAC)).clamp(0, 255) as u8
}

multiversion! {
    /// Horizontal samples of `taps` (consecutive outputs) from one source row.
    fn horizontal_outputs(src: &[u8], c: usize, taps: &[Taps], t: usize, out: &mut [i16]) {
        for (o, tp) in out.chunks_exact_mut(c).zip(taps) {
            for (ch, o) in o.iter_mut().enumerate() {
                let mut acc = 0i16;
                for j in 0..t {
                    let x = (src[tp.index[j] * c + ch] as i16) << FRAC;
                    acc = acc.wrapping_add(mulhrs(x, tp.weight[j]));
                }
                *o = acc;
            }
        }
    }
}

multiversion! {
    /// One output row from the `t` horizontal rows in `rows` and their weights.
    fn vertical_portable(rows: &[&[i16]; MAX_TAPS], w: &[i16; MAX_TAPS], t: usize, out: &mut [u8]) {
        for (x, o) in out.iter_mut().enumerate() {
            let mut acc = 0i16;
            for j in 0..t {
                acc = acc.wrapping_add(mulhrs(rows[j][x], w[j]));
            }
            *o = to_u8(acc);
        }
    }
}

fn horizontal_row(src: &[u8], c: usize, axis: &Axis, out: &mut [i16]) {
    #[cfg(target_arch = "x86_64")]
    if crate::simd::has_avx2() && axis.lo < axis.hi {
        // SAFETY: the CPU has AVX2 (checked just above).
        unsafe {
            match (c, axis.k, axis.t) {
                (4, 2, 2) => return x86::horizontal::<4, 2, 2>(src, axis, out),
                (4, 2, 4) => return x86::horizontal::<4, 2, 4>(src, axis, out),
                (4, 4, 2) => return x86::horizontal::<4, 4, 2>(src, axis, out),
                (4, 4, 4) => return x86::horizontal::<4, 4, 4>(src, axis, out),
                (1, 2, 2) => return x86::horizontal::<1, 2, 2>(src, axis, out),
                (1, 2, 4) => return x86::horizontal::<1, 2, 4>(src, axis, out),
                (1, 4, 2) => return x86::horizontal::<1, 4, 2>(src, axis, out),
                (1, 4, 4) => return x86::horizontal::<1, 4, 4>(src, axis, out),
                _ => {}
            }
        }
    }
    horizontal_outputs(src, c, &axis.taps, axis.t, out)
}

fn vertical_row(rows: &[&[i16]; MAX_TAPS], w: &[i16; MAX_TAPS], t: usize, out: &mut [u8]) {
    #[cfg(target_arch = "x86_64")]
    if crate::simd::has_avx2() {
        // SAFETY: the CPU has AVX2 (checked just above).
        unsafe {
            return if t == 2 { x86::vertical::<2>(rows, w, out) } else { x86::vertical::<4>(rows, w, out) };
        }
    }
    vertical_portable(rows, w, t, out)
}

/// Upscales `src` by `kx`×`ky` into `dst` (`ky·height` rows of `kx·width`
/// pixels); `supported(filter, kx, ky)` must hold.
pub fn upscale_u8(src: ImageView<'_, u8>, kx: usize, ky: usize, filter: Filter, dst: &mut [u8]) {
    assert!(supported(filter, kx, ky));
    let c = src.channels;
    let (w, h) = (src.width * kx, src.height * ky);
    assert_eq!(dst.len(), w * h * c);
    if dst.is_empty() {
        return;
    }
    let xs = Axis::new(src.width, kx, filter);
    let ys = Axis::new(src.height, ky, filter);
    let row_len = w * c;
    let rows = h.div_ceil(4 * rayon::current_num_threads()).max(TASK_MIN_ROWS);
    dst.par_chunks_mut(rows * row_len).enumerate().for_each(|(task, out)| {
        let mut ring = vec![0i16; RING * row_len];
        let mut held = [usize::MAX; RING];
        for (r, out_row) in out.chunks_exact_mut(row_len).enumerate() {
            let tp = &ys.taps[task * rows + r];
            for &sy in &tp.index[..ys.t] {
                let slot = sy % RING;
                if held[slot] != sy {
                    horizontal_row(src.row(sy), c, &xs, &mut ring[slot * row_len..(slot + 1) * row_len]);
                    held[slot] = sy;
                }
            }
            let slot_of = |j: usize| {
                let slot = tp.index[j.min(ys.t - 1)] % RING;
                &ring[slot * row_len..(slot + 1) * row_len]
            };
            let taps: [&[i16]; MAX_TAPS] = std::array::from_fn(slot_of);
            vertical_row(&taps, &tp.weight, ys.t, out_row);
        }
    });
}

#[cfg(target_arch = "x86_64")]
mod x86 {
    use super::{horizontal_outputs, vertical_portable, Axis, FRAC, MAX_TAPS};
    use std::arch::x86_64::*;

    /// Interleaves `C`-channel pixels (4 or 1 `i16` samples) of `a` and `b`:
    /// a₀ b₀ a₁ b₁ … across both results.
    #[inline]
    #[target_feature(enable = "avx2")]
    fn zip<const C: usize>(a: __m256i, b: __m256i) -> (__m256i, __m256i) {
        let (lo, hi) = if C == 4 {
            (_mm256_unpacklo_epi64(a, b), _mm256_unpackhi_epi64(a, b))
        } else {
            (_mm256_unpacklo_epi16(a, b), _mm256_unpackhi_epi16(a, b))
        };
        // The unpacks work inside 128-bit halves: put the halves in order.
        (_mm256_permute2x128_si256::<0x20>(lo, hi), _mm256_permute2x128_si256::<0x31>(lo, hi))
    }

    /// A horizontal row for `C` channels (1 or 4), factor `K` (2 or 4) and
    /// `T` taps: the inside pixels 16 samples at a time, one rounded multiply
    /// per tap and phase, the phases interleaved into output order; border
    /// and tail outputs by `horizontal_outputs` (the same arithmetic).
    ///
    /// # Safety
    /// The CPU runs AVX2; `axis.lo < axis.hi`.
    #[target_feature(enable = "avx2")]
    pub(super) unsafe fn horizontal<const C: usize, const K: usize, const T: usize>(
        src: &[u8],
        axis: &Axis,
        out: &mut [i16],
    ) {
        let px = 16 / C;
        let (lo, hi) = (axis.lo, axis.hi);
        let end = lo + (hi - lo) / px * px;
        assert!(src.len() >= hi * C && out.len() == axis.taps.len() * C && hi * K <= axis.taps.len());
        horizontal_outputs(src, C, &axis.taps[..lo * K], T, &mut out[..lo * K * C]);
        // Each phase's taps, relative to its source pixel (the same for every inside pixel).
        let mut rel = [[0isize; MAX_TAPS]; K];
        let mut w = [[_mm256_setzero_si256(); MAX_TAPS]; K];
        for p in 0..K {
            let tp = &axis.taps[lo * K + p];
            for j in 0..T {
                rel[p][j] = (tp.index[j] as isize - lo as isize) * C as isize;
                w[p][j] = _mm256_set1_epi16(tp.weight[j]);
            }
        }
        let (s, o) = (src.as_ptr(), out.as_mut_ptr());
        let mut i = lo;
        while i < end {
            let mut acc = [_mm256_setzero_si256(); K];
            for p in 0..K {
                for j in 0..T {
                    // SAFETY: taps of inside pixels lie in the row, and 16 samples from
                    // pixel i < end ≤ hi reach at most pixel hi − 1 + its last tap.
                    let bytes = unsafe { _mm_loadu_si128(s.offset(i as isize * C as isize + rel[p][j]).cast()) };
                    let x = _mm256_slli_epi16::<{ FRAC as i32 }>(_mm256_cvtepu8_epi16(bytes));
                    acc[p] = _mm256_add_epi16(acc[p], _mm256_mulhrs_epi16(x, w[p][j]));
                }
            }
            let at = o.wrapping_add(i * K * C).cast::<__m256i>();
            // SAFETY: outputs K·i .. K·(i + px) exist (i + px ≤ hi).
            unsafe {
                if K == 2 {
                    let (a, b) = zip::<C>(acc[0], acc[1]);
                    _mm256_storeu_si256(at, a);
                    _mm256_storeu_si256(at.add(1), b);
                } else {
                    let (a0, a1) = zip::<C>(acc[0], acc[2]);
                    let (b0, b1) = zip::<C>(acc[1], acc[3]);
                    let (r0, r1) = zip::<C>(a0, b0);
                    let (r2, r3) = zip::<C>(a1, b1);
                    _mm256_storeu_si256(at, r0);
                    _mm256_storeu_si256(at.add(1), r1);
                    _mm256_storeu_si256(at.add(2), r2);
                    _mm256_storeu_si256(at.add(3), r3);
                }
            }
            i += px;
        }
        horizontal_outputs(src, C, &axis.taps[end * K..], T, &mut out[end * K * C..]);
    }

    /// An output row from `T` horizontal rows, 32 samples at a time.
    ///
    /// # Safety
    /// The CPU runs AVX2.
    #[target_feature(enable = "avx2")]
    pub(super) unsafe fn vertical<const T: usize>(rows: &[&[i16]; MAX_TAPS], w: &[i16; MAX_TAPS], out: &mut [u8]) {
        let n = out.len();
        assert!(rows[..T].iter().all(|r| r.len() >= n));
        let weights: [__m256i; T] = std::array::from_fn(|j| _mm256_set1_epi16(w[j]));
        let round = _mm256_set1_epi16(1 << (15 - FRAC));
        let sum = |x: usize| {
            let mut acc = _mm256_setzero_si256();
            for j in 0..T {
                // SAFETY: x + 16 ≤ n ≤ every row's length (the loop bound below).
                let v = unsafe { _mm256_loadu_si256(rows[j].as_ptr().add(x).cast()) };
                acc = _mm256_add_epi16(acc, _mm256_mulhrs_epi16(v, weights[j]));
            }
            _mm256_mulhrs_epi16(acc, round)
        };
        let mut x = 0;
        while x + 32 <= n {
            let packed = _mm256_packus_epi16(sum(x), sum(x + 16));
            // SAFETY: x + 32 ≤ n = out.len().
            unsafe { _mm256_storeu_si256(out.as_mut_ptr().add(x).cast(), _mm256_permute4x64_epi64::<0b11_01_10_00>(packed)) };
            x += 32;
        }
        let tail: [&[i16]; MAX_TAPS] = std::array::from_fn(|j| &rows[j][x.min(rows[j].len())..]);
        vertical_portable(&tail, w, T, &mut out[x..]);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn noise(n: usize, seed: u64) -> Vec<u8> {
        let mut s = seed | 1;
        (0..n)
            .map(|_| {
                s ^= s << 13;
                s ^= s >> 7;
                s ^= s << 17;
                (s >> 24) as u8
            })
            .collect()
    }

    /// Smooth content with a few hard edges (where Catmull-Rom overshoots).
    fn photo(h: usize, w: usize, c: usize, seed: u64) -> Vec<u8> {
        let n = noise(h * w * c, seed);
        (0..h * w * c)
            .map(|i| {
                let (y, x, ch) = (i / (w * c), i / c % w, i % c);
                let wave = 127.5 + 90.0 * ((x as f64 * 0.21 + ch as f64).sin() * (y as f64 * 0.13).cos());
                let edge = if (x / 7 + y / 5) % 3 == 0 { 255.0 } else { 0.0 };
                (0.7 * wave + 0.3 * edge + (n[i] % 9) as f64 - 4.0).clamp(0.0, 255.0) as u8
            })
            .collect()
    }

    /// The float64 computation with the same (Pillow) taps, rounded once.
    fn reference(px: &[u8], h: usize, w: usize, c: usize, kx: usize, ky: usize, filter: Filter) -> Vec<f64> {
        let weights = |n: usize, k: usize| -> Vec<Vec<(usize, f64)>> {
            (0..n * k)
                .map(|o| {
                    let centre = (o as f64 + 0.5) / k as f64;
                    let taps: Vec<(usize, f64)> =
                        (0..n).map(|x| (x, weight(filter, x as f64 + 0.5 - centre))).filter(|t| t.1 != 0.0).collect();
                    let sum: f64 = taps.iter().map(|t| t.1).sum();
                    taps.into_iter().map(|(x, v)| (x, v / sum)).collect()
                })
                .collect()
        };
        let (wx, wy) = (weights(w, kx), weights(h, ky));
        let (ow, oh) = (w * kx, h * ky);
        let mut rows = vec![0f64; h * ow * c];
        for y in 0..h {
            for (ox, taps) in wx.iter().enumerate() {
                for ch in 0..c {
                    rows[(y * ow + ox) * c + ch] = taps.iter().map(|&(x, v)| v * px[(y * w + x) * c + ch] as f64).sum();
                }
            }
        }
        let mut out = vec![0f64; oh * ow * c];
        for (oy, taps) in wy.iter().enumerate() {
            for i in 0..ow * c {
                out[oy * ow * c + i] = taps.iter().map(|&(y, v)| v * rows[y * ow * c + i]).sum();
            }
        }
        out
    }

    fn run(px: &[u8], h: usize, w: usize, c: usize, kx: usize, ky: usize, filter: Filter) -> Vec<u8> {
        let img = ImageView::new(px, h, w, c).unwrap();
        let mut out = vec![0u8; h * ky * w * kx * c];
        upscale_u8(img, kx, ky, filter, &mut out);
        out
    }

    const SHAPES: [(usize, usize); 6] = [(1, 1), (2, 3), (5, 4), (13, 37), (40, 9), (33, 70)];

    #[test]
    fn bilinear_by_two_and_four_is_exact() {
        for &(h, w) in &SHAPES {
            for c in [1, 3, 4] {
                for (kx, ky) in [(2, 2), (4, 4), (2, 4), (4, 2)] {
                    let px = noise(h * w * c, (h * w * c * kx) as u64);
                    let want: Vec<u8> = reference(&px, h, w, c, kx, ky, Filter::Bilinear)
                        .iter()
                        .map(|&v| (v + 0.5).floor() as u8)
                        .collect();
                    assert_eq!(run(&px, h, w, c, kx, ky, Filter::Bilinear), want, "{h}x{w}x{c} by {kx}x{ky}");
                }
            }
        }
    }

    #[test]
    fn every_factor_is_within_a_level_of_the_float_result() {
        for &(h, w) in &SHAPES {
            for c in [1, 3, 4] {
                for filter in [Filter::Bilinear, Filter::Bicubic] {
                    for (kx, ky) in [(2, 2), (3, 3), (4, 4), (3, 2), (2, 4)] {
                        let px = photo(h, w, c, (h + w + c) as u64);
                        let want = reference(&px, h, w, c, kx, ky, filter);
                        let ours = run(&px, h, w, c, kx, ky, filter);
                        let mut worst = 0f64;
                        for (&o, &v) in ours.iter().zip(&want) {
                            // Off by less than the float result's distance to the
                            // rounding boundary plus the fixed point's ~0.1.
                            let err = (o as f64 - v.clamp(0.0, 255.0)).abs();
                            worst = worst.max(err);
                        }
                        assert!(worst < 0.65, "{filter:?} {h}x{w}x{c} by {kx}x{ky}: {worst}");
                    }
                }
            }
        }
    }

    #[test]
    fn constant_images_stay_constant() {
        for filter in [Filter::Bilinear, Filter::Bicubic] {
            for v in [0u8, 1, 128, 254, 255] {
                for (kx, ky) in [(2, 2), (3, 3), (4, 4)] {
                    let px = vec![v; 9 * 11 * 4];
                    assert!(run(&px, 9, 11, 4, kx, ky, filter).iter().all(|&o| o == v), "{filter:?} {v} by {kx}");
                }
            }
        }
    }

    #[test]
    fn agrees_with_the_general_path() {
        let (h, w) = (48, 64);
        for c in [1, 3, 4] {
            let px = photo(h, w, c, 7);
            let img = ImageView::new(&px, h, w, c).unwrap();
            for filter in [Filter::Bilinear, Filter::Bicubic] {
                for k in [2, 3, 4] {
                    let ours = run(&px, h, w, c, k, k, filter);
                    let mut general = vec![0u8; ours.len()];
                    let whole = (0.0, 0.0, w as f64, h as f64);
                    crate::resize::convolve_into(img, w * k, h * k, whole, filter, &mut general).unwrap();
                    let diffs: Vec<u8> = ours.iter().zip(&general).map(|(a, b)| a.abs_diff(*b)).collect();
                    let max = *diffs.iter().max().unwrap();
                    let mean = diffs.iter().map(|&d| d as f64).sum::<f64>() / diffs.len() as f64;
                    // fast_image_resize rounds its intermediate to 8 bits (and clips it).
                    assert!(max <= 2 && mean < 0.3, "{filter:?} c{c} by {k}: max {max}, mean {mean}");
                }
            }
        }
    }

    #[test]
    fn weights_sum_to_one_and_fit() {
        for filter in [Filter::Bilinear, Filter::Bicubic] {
            for k in 2..=4 {
                for n in [1, 2, 3, 5, 40] {
                    for o in 0..n * k {
                        let tp = taps_for(o, n, k, filter);
                        let sum: i32 = tp.weight.iter().map(|&v| v as i32).sum();
                        assert_eq!(sum, 32768, "{filter:?} n{n} k{k} o{o}: {tp:?}");
                        assert!(tp.index.iter().all(|&i| i < n));
                    }
                }
            }
        }
    }
}
