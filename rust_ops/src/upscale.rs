//! Upscaling `u8` images by whole factors with the bilinear (triangle) and
//! bicubic (Catmull-Rom) filters: the same weights as `fast_image_resize` and
//! Pillow (per output pixel, the filter at the source pixels around its
//! centre, clipped at the borders and renormalised), computed in `f32` with
//! no 8-bit rounding between the passes.
//!
//! With a whole factor `k` along x, the output pixels `k·i + p` share one set
//! of weights per phase `p` away from the borders, so the horizontal pass is
//! `k` plain convolutions over the source row (contiguous samples, whatever
//! the channel count; vectorised per instruction-set tier) whose results are
//! interleaved. The vertical pass weighs whole rows of that horizontal
//! result, kept in a small ring per band of output rows.
use rayon::prelude::*;

use crate::image::{ImageView, Sample};
use crate::simd::multiversion;

/// The two filters the fast path serves: their support radius and shape.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kernel {
    Triangle,
    CatmullRom,
}

impl Kernel {
    fn support(self) -> f64 {
        match self {
            Kernel::Triangle => 1.0,
            Kernel::CatmullRom => 2.0,
        }
    }

    fn weight(self, x: f64) -> f64 {
        let x = x.abs();
        match self {
            Kernel::Triangle => (1.0 - x).max(0.0),
            Kernel::CatmullRom => {
                const A: f64 = -0.5;
                if x < 1.0 {
                    ((A + 2.0) * x - (A + 3.0)) * x * x + 1.0
                } else if x < 2.0 {
                    (((x - 5.0) * x + 8.0) * x - 4.0) * A
                } else {
                    0.0
                }
            }
        }
    }
}

/// Output pixels per source pixel along each axis (kx, ky), when both are
/// whole and at least one is above 1.
pub fn whole_factors(src_width: usize, src_height: usize, width: usize, height: usize) -> Option<(usize, usize)> {
    if width % src_width != 0 || height % src_height != 0 {
        return None;
    }
    let (kx, ky) = (width / src_width, height / src_height);
    (kx >= 1 && ky >= 1 && kx * ky > 1).then_some((kx, ky))
}

/// Per output position along one axis: the first source position and the
/// normalised weights from there (zero weights at either end dropped).
struct Taps {
    first: Vec<usize>,
    start: Vec<usize>,
    weights: Vec<f32>,
}

impl Taps {
    fn new(src: usize, out: usize, kernel: Kernel) -> Self {
        let scale = src as f64 / out as f64;
        let support = kernel.support();
        let mut taps = Taps { first: Vec::with_capacity(out), start: Vec::with_capacity(out + 1), weights: Vec::new() };
        for x in 0..out {
            let in_centre = (x as f64 + 0.5) * scale;
            let lo = (in_centre - support).floor().max(0.0) as usize;
            let hi = ((in_centre + support).ceil() as usize).min(src);
            let centre = in_centre - 0.5;
            let mut w: Vec<f64> = (lo..hi).map(|s| kernel.weight(s as f64 - centre)).collect();
            let lead = w.iter().take_while(|&&v| v == 0.0).count().min(w.len() - 1);
            w.drain(..lead);
            while w.len() > 1 && w.last() == Some(&0.0) {
                w.pop();
            }
            let total: f64 = w.iter().sum();
            let total = if total == 0.0 { 1.0 } else { total };
            taps.first.push(lo + lead);
            taps.start.push(taps.weights.len());
            taps.weights.extend(w.iter().map(|&v| (v / total) as f32));
        }
        taps.start.push(taps.weights.len());
        taps
    }

    fn of(&self, x: usize) -> (usize, &[f32]) {
        (self.first[x], &self.weights[self.start[x]..self.start[x + 1]])
    }

    fn most(&self) -> usize {
        self.start.windows(2).map(|s| s[1] - s[0]).max().unwrap_or(1)
    }
}

/// The horizontal weights per phase, and the source blocks (pixel `i`
/// giving outputs `k·i .. k·i + k`) whose outputs all follow them.
struct Phases {
    k: usize,
    /// Per phase: the first source pixel relative to `i`, and the weights.
    pattern: Vec<(isize, Vec<f32>)>,
    blocks: std::ops::Range<usize>,
}

impl Phases {
    fn new(taps: &Taps, k: usize, src: usize) -> Self {
        let mid = src / 2;
        let pattern: Vec<(isize, Vec<f32>)> = (0..k)
            .map(|p| {
                let (first, w) = taps.of(k * mid + p);
                (first as isize - mid as isize, w.to_vec())
            })
            .collect();
        // Weights of one phase differ across blocks only by the rounding of
        // the centre (scale 1/3 is inexact); 1e-6 is far below what shows.
        let follows = |i: usize| {
            pattern.iter().enumerate().all(|(p, (offset, pw))| {
                let (first, w) = taps.of(k * i + p);
                first as isize - i as isize == *offset
                    && w.len() == pw.len()
                    && w.iter().zip(pw).all(|(a, b)| (a - b).abs() <= 1e-6)
            })
        };
        let (mut lo, mut hi) = (mid, mid + 1);
        while lo > 0 && follows(lo - 1) {
            lo -= 1;
        }
        while hi < src && follows(hi) {
            hi += 1;
        }
        Phases { k, pattern, blocks: lo..hi }
    }
}

/// Upscales `src` by (`kx`, `ky`) into `dst` (`src.height·ky` rows of
/// `src.width·kx` pixels).
pub fn upscale_u8(src: ImageView<'_, u8>, kx: usize, ky: usize, kernel: Kernel, dst: &mut [u8]) {
    match src.channels {
        1 => upscale_channels::<1>(src, kx, ky, kernel, dst),
        3 => upscale_channels::<3>(src, kx, ky, kernel, dst),
        _ => upscale_channels::<4>(src, kx, ky, kernel, dst),
    }
}

/// Output rows each task computes (a task recomputes the few horizontal rows
/// its band shares with the previous one).
const TASK_MIN_ROWS: usize = 16;

fn upscale_channels<const C: usize>(src: ImageView<'_, u8>, kx: usize, ky: usize, kernel: Kernel, dst: &mut [u8]) {
    let (w, h) = (src.width, src.height);
    let (ow, oh) = (w * kx, h * ky);
    let out_row = ow * C;
    debug_assert_eq!(dst.len(), out_row * oh);
    let columns = Taps::new(w, ow, kernel);
    let phases = Phases::new(&columns, kx, w);
    let rows = Taps::new(h, oh, kernel);
    let ring_len = rows.most();
    let band = oh.div_ceil(4 * rayon::current_num_threads()).max(TASK_MIN_ROWS);
    dst.par_chunks_mut(band * out_row).enumerate().for_each(|(task, out)| {
        let mut source = vec![0f32; w * C];
        let mut scratch = vec![0f32; phases.blocks.len() * C * kx];
        // Horizontal results by source row, `ring_len` of them (slot = row % ring_len).
        let mut ring = vec![0f32; ring_len * out_row];
        let mut held = vec![usize::MAX; ring_len];
        for (i, out) in out.chunks_exact_mut(out_row).enumerate() {
            let (first, weights) = rows.of(task * band + i);
            for y in first..first + weights.len() {
                let slot = y % ring_len;
                if held[slot] != y {
                    widen_row(src.row(y), &mut source);
                    horizontal::<C>(&source, &columns, &phases, &mut scratch, &mut ring[slot * out_row..][..out_row]);
                    held[slot] = y;
                }
            }
            let taps: Vec<&[f32]> =
                (first..first + weights.len()).map(|y| &ring[(y % ring_len) * out_row..][..out_row]).collect();
            weigh_rows(&taps, weights, out);
        }
    });
}

/// One source row (as `f32`) resampled along x into `out`.
fn horizontal<const C: usize>(source: &[f32], columns: &Taps, phases: &Phases, scratch: &mut [f32], out: &mut [f32]) {
    let k = phases.k;
    let blocks = phases.blocks.clone();
    let border = (0..k * blocks.start).chain(k * blocks.end..columns.first.len());
    for x in border {
        let (first, weights) = columns.of(x);
        for ch in 0..C {
            out[x * C + ch] = weights.iter().enumerate().map(|(t, &w)| w * source[(first + t) * C + ch]).sum();
        }
    }
    let n = blocks.len() * C;
    for (p, (offset, weights)) in phases.pattern.iter().enumerate() {
        let base = (blocks.start as isize + offset) as usize * C;
        convolve(&source[base..], C, weights, &mut scratch[p * n..(p + 1) * n]);
    }
    let interior = &mut out[k * blocks.start * C..k * blocks.end * C];
    for (i, group) in interior.chunks_exact_mut(k * C).enumerate() {
        for (p, pixel) in group.chunks_exact_mut(C).enumerate() {
            pixel.copy_from_slice(&scratch[p * n + i * C..][..C]);
        }
    }
}

multiversion! {
    fn widen_row(row: &[u8], out: &mut [f32]) {
        for (o, &v) in out.iter_mut().zip(row) {
            *o = v as f32;
        }
    }
}

multiversion! {
    /// `out[s] = Σ_t weights[t] · source[s + t·stride]`; two and four taps
    /// (bilinear and bicubic at whole factors) in one pass.
    fn convolve(source: &[f32], stride: usize, weights: &[f32], out: &mut [f32]) {
        let n = out.len();
        let tap = |t: usize| &source[t * stride..t * stride + n];
        if let [w0, w1] = *weights {
            for ((o, &a), &b) in out.iter_mut().zip(tap(0)).zip(tap(1)) {
                *o = w0 * a + w1 * b;
            }
            return;
        }
        if let [w0, w1, w2, w3] = *weights {
            for ((((o, &a), &b), &c), &d) in out.iter_mut().zip(tap(0)).zip(tap(1)).zip(tap(2)).zip(tap(3)) {
                *o = w0 * a + w1 * b + w2 * c + w3 * d;
            }
            return;
        }
        let w0 = weights[0];
        for (o, &v) in out.iter_mut().zip(&source[..n]) {
            *o = w0 * v;
        }
        for (t, &wt) in weights.iter().enumerate().skip(1) {
            for (o, &v) in out.iter_mut().zip(&source[t * stride..t * stride + n]) {
                *o += wt * v;
            }
        }
    }
}

/// Samples the vertical pass weighs at once (an L1-resident accumulator).
const CHUNK: usize = 512;

multiversion! {
    /// `out = round(Σ_t weights[t] · rows[t])`, saturated to 0..255.
    fn weigh_rows(rows: &[&[f32]], weights: &[f32], out: &mut [u8]) {
        let n = out.len();
        if let ([a, b], &[w0, w1]) = (rows, weights) {
            for (o, (&a, &b)) in out.iter_mut().zip(a[..n].iter().zip(&b[..n])) {
                *o = to_u8(w0 * a + w1 * b);
            }
            return;
        }
        if let ([a, b, c, d], &[w0, w1, w2, w3]) = (rows, weights) {
            let pairs = a[..n].iter().zip(&b[..n]).zip(c[..n].iter().zip(&d[..n]));
            for (o, ((&a, &b), (&c, &d))) in out.iter_mut().zip(pairs) {
                *o = to_u8(w0 * a + w1 * b + w2 * c + w3 * d);
            }
            return;
        }
        let mut acc = [0f32; CHUNK];
        for (c, out) in out.chunks_mut(CHUNK).enumerate() {
            let acc = &mut acc[..out.len()];
            let start = c * CHUNK;
            for (a, &v) in acc.iter_mut().zip(&rows[0][start..start + out.len()]) {
                *a = weights[0] * v;
            }
            for (row, &wt) in rows.iter().zip(weights).skip(1) {
                for (a, &v) in acc.iter_mut().zip(&row[start..start + out.len()]) {
                    *a += wt * v;
                }
            }
            u8::from_f32_slice(acc, out);
        }
    }
}

/// `u8::from_f32` as a clamp and a truncation, so the loops vectorise (NaN
/// cannot occur: the inputs are finite sums of 8-bit values).
#[inline(always)]
fn to_u8(v: f32) -> u8 {
    #[allow(clippy::manual_clamp)]
    let clamped = (v + 0.5).max(0.0).min(255.0);
    // SAFETY: `clamped` is finite and within 0..=255.
    unsafe { clamped.to_int_unchecked::<i32>() as u8 }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The separable resize in f64, weights straight from the definition.
    fn reference(px: &[u8], h: usize, w: usize, c: usize, kx: usize, ky: usize, kernel: Kernel) -> Vec<f64> {
        let weights = |src: usize, out: usize| -> Vec<Vec<(usize, f64)>> {
            (0..out)
                .map(|x| {
                    let centre = (x as f64 + 0.5) * src as f64 / out as f64 - 0.5;
                    let all: Vec<(usize, f64)> = (0..src).map(|s| (s, kernel.weight(s as f64 - centre))).collect();
                    let total: f64 = all.iter().map(|p| p.1).sum();
                    all.into_iter().map(|(s, v)| (s, v / total)).collect()
                })
                .collect()
        };
        let (ow, oh) = (w * kx, h * ky);
        let (wx, wy) = (weights(w, ow), weights(h, oh));
        let mut mid = vec![0f64; h * ow * c];
        for y in 0..h {
            for x in 0..ow {
                for ch in 0..c {
                    mid[(y * ow + x) * c + ch] = wx[x].iter().map(|&(s, v)| v * px[(y * w + s) * c + ch] as f64).sum();
                }
            }
        }
        let mut out = vec![0f64; oh * ow * c];
        for y in 0..oh {
            for i in 0..ow * c {
                out[y * ow * c + i] = wy[y].iter().map(|&(s, v)| v * mid[s * ow * c + i]).sum();
            }
        }
        out
    }

    fn noise(n: usize, seed: u64) -> Vec<u8> {
        let mut s = seed;
        (0..n)
            .map(|_| {
                s = s.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
                (s >> 56) as u8
            })
            .collect()
    }

    #[test]
    fn matches_the_f64_resize() {
        for kernel in [Kernel::Triangle, Kernel::CatmullRom] {
            for &c in &[1, 3, 4] {
                for &(h, w, kx, ky) in
                    &[(1, 1, 2, 2), (1, 7, 3, 1), (5, 1, 1, 4), (2, 3, 2, 2), (9, 14, 2, 2), (13, 10, 3, 2), (40, 37, 2, 3)]
                {
                    let px = noise(h * w * c, (h * w * c * kx) as u64);
                    let img = ImageView::new(&px, h, w, c).unwrap();
                    let mut out = vec![0u8; h * ky * w * kx * c];
                    upscale_u8(img, kx, ky, kernel, &mut out);
                    let want = reference(&px, h, w, c, kx, ky, kernel);
                    let worst = out.iter().zip(&want).map(|(&a, &b)| (a as f64 - b.clamp(0.0, 255.0)).abs()).fold(0.0, f64::max);
                    assert!(worst <= 0.5 + 1e-3, "{kernel:?} {h}x{w}x{c} by {kx}x{ky}: off by {worst}");
                }
            }
        }
    }

    #[test]
    fn phases_cover_the_interior() {
        let taps = Taps::new(100, 200, Kernel::CatmullRom);
        let phases = Phases::new(&taps, 2, 100);
        assert_eq!(phases.blocks, 2..98);
        assert_eq!(phases.pattern[0].0, -2);
        let taps = Taps::new(100, 200, Kernel::Triangle);
        let phases = Phases::new(&taps, 2, 100);
        assert_eq!(phases.blocks, 1..99);
        assert_eq!(phases.pattern[0], (-1, vec![0.25, 0.75]));
        assert_eq!(phases.pattern[1], (0, vec![0.75, 0.25]));
    }

    #[test]
    fn only_whole_upscales_qualify() {
        assert_eq!(whole_factors(1024, 1024, 2048, 2048), Some((2, 2)));
        assert_eq!(whole_factors(100, 50, 100, 150), Some((1, 3)));
        assert_eq!(whole_factors(100, 100, 100, 100), None);
        assert_eq!(whole_factors(100, 100, 150, 200), None);
        assert_eq!(whole_factors(100, 100, 50, 100), None);
    }
}
