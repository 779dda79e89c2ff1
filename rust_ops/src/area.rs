//! Area averaging by whole factors: when the source is exactly `kx`×`ky`
//! times the output, each output sample is the mean of its `kx`×`ky` block,
//! computed exactly (integer sums, one rounding half up for `u8`) instead of
//! by two convolution passes with fixed-point weights and an 8-bit
//! intermediate.
//!
//! The 2×2 case on one- and four-channel `u8` images (halving, the common
//! request) works on 8 source bytes at a time as four 16-bit lanes of a `u64`
//! (SWAR), which LLVM turns into wide vector code per tier; other factors
//! and three channels sum rows into a `u32` accumulator first.
use rayon::prelude::*;

use crate::image::ImageView;
use crate::simd::multiversion;

/// Largest block (kx·ky) the exact `u8` division handles (see `Divider`).
const MAX_BLOCK: usize = 1 << 16;
/// Source bytes one task reads at least (smaller images use fewer tasks).
const TASK_MIN_BYTES: usize = 1 << 16;

/// The whole factors (kx, ky) that map `src` onto `width` × `height`, if any.
pub fn whole_factors(src_width: usize, src_height: usize, width: usize, height: usize) -> Option<(usize, usize)> {
    if width == 0 || height == 0 || !src_width.is_multiple_of(width) || !src_height.is_multiple_of(height) {
        return None;
    }
    let (kx, ky) = (src_width / width, src_height / height);
    (kx * ky <= MAX_BLOCK).then_some((kx, ky))
}

/// Output rows per task: at least `TASK_MIN_BYTES` of source, at most an
/// even share of the rows over the pool's threads (times 4, for balance).
fn rows_per_task(out_rows: usize, source_row_bytes: usize, ky: usize) -> usize {
    let by_size = TASK_MIN_BYTES.div_ceil((source_row_bytes * ky).max(1));
    let by_share = out_rows.div_ceil(4 * rayon::current_num_threads());
    by_size.max(by_share).max(1)
}

/// Exact `round_half_up(s / n)` for `s < 2²⁴`, `n ≤ 2¹⁶` as a multiply and a
/// shift: with `m = ⌊2⁴⁰/n⌋ + 1` the error of `s·m/2⁴⁰` against `s/n` is
/// below `2⁻¹⁶ ≤ 1/n`, less than the gap to the next integer.
#[derive(Clone, Copy)]
struct Divider {
    half: u64,
    magic: u64,
}

impl Divider {
    fn new(n: usize) -> Self {
        Divider { half: n as u64 / 2, magic: (1u64 << 40) / n as u64 + 1 }
    }

    #[inline(always)]
    fn round(self, sum: u32) -> u8 {
        (((sum as u64 + self.half) * self.magic) >> 40) as u8
    }
}

/// Averages `src` over `kx`×`ky` blocks into `dst` (`src.height / ky` rows of
/// `src.width / kx` pixels); the factors must divide the source exactly.
pub fn area_u8(src: ImageView<'_, u8>, kx: usize, ky: usize, dst: &mut [u8]) {
    let c = src.channels;
    let (ow, oh) = (src.width / kx, src.height / ky);
    debug_assert_eq!(dst.len(), ow * oh * c);
    let out_row = ow * c;
    let rows = rows_per_task(oh, src.row_len(), ky);
    let divider = Divider::new(kx * ky);
    dst.par_chunks_mut(rows * out_row).enumerate().for_each(|(task, out)| {
        let first = task * rows;
        let mut acc = Vec::new();
        for (i, out) in out.chunks_exact_mut(out_row).enumerate() {
            let top = (first + i) * ky;
            match (kx, ky, c) {
                (2, 2, 4) => halve_rgba(src.row(top), src.row(top + 1), out),
                (2, 2, 1) => halve_grey(src.row(top), src.row(top + 1), out),
                _ => {
                    acc.clear();
                    acc.resize(src.row_len(), 0u32);
                    for y in top..top + ky {
                        add_row(&mut acc, src.row(y));
                    }
                    sum_blocks(&acc, c, kx, divider, out);
                }
            }
        }
    });
}

/// As `area_u8` for `f32` samples (the mean, no rounding).
pub fn area_f32(src: ImageView<'_, f32>, kx: usize, ky: usize, dst: &mut [f32]) {
    let c = src.channels;
    let (ow, oh) = (src.width / kx, src.height / ky);
    debug_assert_eq!(dst.len(), ow * oh * c);
    let out_row = ow * c;
    let rows = rows_per_task(oh, src.row_len() * 4, ky);
    let scale = 1.0 / (kx * ky) as f32;
    dst.par_chunks_mut(rows * out_row).enumerate().for_each(|(task, out)| {
        let first = task * rows;
        let mut acc = vec![0f32; src.row_len()];
        for (i, out) in out.chunks_exact_mut(out_row).enumerate() {
            let top = (first + i) * ky;
            acc.copy_from_slice(src.row(top));
            for y in top + 1..top + ky {
                add_row_f32(&mut acc, src.row(y));
            }
            for (x, o) in out.chunks_exact_mut(c).enumerate() {
                let block = &acc[x * kx * c..(x + 1) * kx * c];
                for (ch, o) in o.iter_mut().enumerate() {
                    *o = block.iter().skip(ch).step_by(c).sum::<f32>() * scale;
                }
            }
        }
    });
}

const LOW_BYTES: u64 = 0x00FF_00FF_00FF_00FF;

#[inline(always)]
fn load8(bytes: &[u8]) -> u64 {
    u64::from_le_bytes(bytes.try_into().expect("8 bytes"))
}

multiversion! {
    /// 2×2 means of RGBA: each `u64` holds two source pixels; even and odd
    /// bytes are summed as 16-bit lanes (at most 4·255), then the two pixels.
    fn halve_rgba(top: &[u8], bottom: &[u8], out: &mut [u8]) {
        for ((o, a), b) in out.chunks_exact_mut(4).zip(top.chunks_exact(8)).zip(bottom.chunks_exact(8)) {
            let (a, b) = (load8(a), load8(b));
            let even = (a & LOW_BYTES) + (b & LOW_BYTES); // r0 b0 r1 b1
            let odd = ((a >> 8) & LOW_BYTES) + ((b >> 8) & LOW_BYTES); // g0 a0 g1 a1
            let even = ((even + (even >> 32) + 0x0002_0002) >> 2) & 0x00FF_00FF;
            let odd = ((odd + (odd >> 32) + 0x0002_0002) >> 2) & 0x00FF_00FF;
            o.copy_from_slice(&((even | (odd << 8)) as u32).to_le_bytes());
        }
    }
}

multiversion! {
    /// 2×2 means of one channel: each `u64` holds four source pairs.
    fn halve_grey(top: &[u8], bottom: &[u8], out: &mut [u8]) {
        let pairs = out.len() / 4 * 4;
        for ((o, a), b) in out[..pairs].chunks_exact_mut(4).zip(top.chunks_exact(8)).zip(bottom.chunks_exact(8)) {
            let (a, b) = (load8(a), load8(b));
            let sums = (a & LOW_BYTES) + ((a >> 8) & LOW_BYTES) + (b & LOW_BYTES) + ((b >> 8) & LOW_BYTES);
            let means = ((sums + 0x0002_0002_0002_0002) >> 2) & LOW_BYTES; // bytes 0, 2, 4, 6
            let packed = means | (means >> 8); // bytes 0, 1 and 4, 5
            o.copy_from_slice(&(((packed & 0xFFFF) | ((packed >> 16) & 0xFFFF_0000)) as u32).to_le_bytes());
        }
        for x in pairs..out.len() {
            let s = top[2 * x] as u32 + top[2 * x + 1] as u32 + bottom[2 * x] as u32 + bottom[2 * x + 1] as u32;
            out[x] = ((s + 2) >> 2) as u8;
        }
    }
}

multiversion! {
    fn add_row(acc: &mut [u32], row: &[u8]) {
        for (a, &v) in acc.iter_mut().zip(row) {
            *a += v as u32;
        }
    }
}

multiversion! {
    fn add_row_f32(acc: &mut [f32], row: &[f32]) {
        for (a, &v) in acc.iter_mut().zip(row) {
            *a += v;
        }
    }
}

/// Sums `kx` adjacent pixels of the accumulated rows per channel and rounds.
fn sum_blocks(acc: &[u32], c: usize, kx: usize, divider: Divider, out: &mut [u8]) {
    for (x, o) in out.chunks_exact_mut(c).enumerate() {
        let block = &acc[x * kx * c..(x + 1) * kx * c];
        for (ch, o) in o.iter_mut().enumerate() {
            *o = divider.round(block.iter().skip(ch).step_by(c).sum());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Exact block means by plain arithmetic (round half up).
    fn reference(px: &[u8], h: usize, w: usize, c: usize, kx: usize, ky: usize) -> Vec<u8> {
        let (ow, oh) = (w / kx, h / ky);
        let mut out = vec![0u8; ow * oh * c];
        for oy in 0..oh {
            for ox in 0..ow {
                for ch in 0..c {
                    let mut s = 0usize;
                    for y in oy * ky..(oy + 1) * ky {
                        for x in ox * kx..(ox + 1) * kx {
                            s += px[(y * w + x) * c + ch] as usize;
                        }
                    }
                    let n = kx * ky;
                    out[(oy * ow + ox) * c + ch] = ((2 * s + n) / (2 * n)) as u8;
                }
            }
        }
        out
    }

    fn noise(n: usize, seed: u64) -> Vec<u8> {
        let mut state = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
        (0..n)
            .map(|_| {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                (state >> 24) as u8
            })
            .collect()
    }

    #[test]
    fn every_factor_and_channel_count_is_exact() {
        // (tests/simd_tiers.rs runs the lower instruction-set tiers)
        {
            for &c in &[1, 3, 4] {
                for &(w, h, kx, ky) in &[
                    (2, 2, 2, 2),
                    (2, 2, 1, 1),
                    (14, 6, 2, 2),
                    (18, 10, 2, 2),
                    (130, 66, 2, 2),
                    (9, 12, 3, 4),
                    (7, 5, 7, 5),
                    (64, 3, 16, 1),
                    (3, 64, 1, 16),
                    (255, 255, 255, 255),
                ] {
                    let px = noise(w * h * c, (w * h * c + kx) as u64);
                    let img = ImageView::new(&px, h, w, c).unwrap();
                    let mut out = vec![0u8; (w / kx) * (h / ky) * c];
                    area_u8(img, kx, ky, &mut out);
                    assert_eq!(out, reference(&px, h, w, c, kx, ky), "{w}x{h}x{c} by {kx}x{ky}");
                }
            }
        }
    }

    #[test]
    fn halves_round_up_exactly() {
        // Sums 0..=1020 over a 2x2 block: every remainder of the rounding.
        for s in 0..=1020u32 {
            let q = [s / 4, s / 4, s / 4, s / 4 + s % 4].map(|v| v.min(255) as u8);
            let sum: u32 = q.iter().map(|&v| v as u32).sum();
            let px: Vec<u8> = [[q[0]; 4], [q[1]; 4], [q[2]; 4], [q[3]; 4]].concat();
            let img = ImageView::new(&px, 2, 2, 4).unwrap();
            let mut out = [0u8; 4];
            area_u8(img, 2, 2, &mut out);
            assert_eq!(out, [((sum + 2) / 4) as u8; 4]);
        }
    }

    #[test]
    fn divider_is_exact() {
        for n in [1usize, 2, 3, 4, 7, 9, 255, 256, 1000, 65535, 65536] {
            let d = Divider::new(n);
            for s in [0u32, 1, (n / 2) as u32, n as u32 - 1, n as u32, 255 * n as u32 - 1, 255 * n as u32] {
                assert_eq!(d.round(s) as u64, (s as u64 + n as u64 / 2) / n as u64, "{s}/{n}");
            }
        }
    }

    #[test]
    fn float_blocks_are_means() {
        let px: Vec<f32> = noise(12 * 9 * 3, 5).iter().map(|&v| v as f32 / 255.0).collect();
        let img = ImageView::new(&px, 9, 12, 3).unwrap();
        let mut out = vec![0f32; 4 * 3 * 3];
        area_f32(img, 3, 3, &mut out);
        let want: Vec<f32> = (0..out.len())
            .map(|i| {
                let (oy, ox, ch) = (i / 12, i / 3 % 4, i % 3);
                let mut s = 0.0;
                for y in oy * 3..oy * 3 + 3 {
                    for x in ox * 3..ox * 3 + 3 {
                        s += px[(y * 12 + x) * 3 + ch];
                    }
                }
                s / 9.0
            })
            .collect();
        for (a, b) in out.iter().zip(&want) {
            assert!((a - b).abs() < 1e-6);
        }
    }

    #[test]
    fn only_whole_factors_qualify() {
        assert_eq!(whole_factors(1024, 1024, 512, 512), Some((2, 2)));
        assert_eq!(whole_factors(1024, 768, 256, 768), Some((4, 1)));
        assert_eq!(whole_factors(1024, 1024, 500, 512), None);
        assert_eq!(whole_factors(100, 100, 200, 50), None);
        assert_eq!(whole_factors(1 << 9, 1 << 9, 1, 1), None); // 2^18 samples per block
    }
}
