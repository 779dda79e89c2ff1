//! Area averaging by whole factors: when the source is exactly `kx`×`ky`
//! times the output, each output sample is the mean of its `kx`×`ky` block,
//! computed exactly (integer sums, one rounding half up for `u8`) instead of
//! by two convolution passes with fixed-point weights and an 8-bit
//! intermediate.
//!
//! The 2×2 case on `u8` images (halving, the common request) has its own
//! rows: with AVX2 a byte shuffle puts the two pixels of a pair next to each
//! other and `vpmaddubsw` adds them, 32 output bytes per step; without it,
//! one and four channels work on 8 source bytes at a time as four 16-bit
//! lanes of a `u64` (SWAR). Other factors sum rows into a `u32` accumulator
//! first.
//!
//! Halving a 1024² image takes well under a millisecond, so the calling
//! thread starts on the rows at once and pool threads join as they wake
//! (`parallel::share_chunks_mut`) rather than the caller waiting for them.
use crate::image::ImageView;
use crate::parallel::share_chunks_mut;
use crate::simd::multiversion;

/// Largest block (kx·ky) the exact `u8` division handles (see `Divider`).
const MAX_BLOCK: usize = 1 << 16;
/// Source bytes one task reads (at least a row block): small enough that a
/// pool thread arriving late still finds tasks to take.
const TASK_BYTES: usize = 1 << 17;

/// The whole factors (kx, ky) that map `src` onto `width` × `height`, if any.
pub fn whole_factors(src_width: usize, src_height: usize, width: usize, height: usize) -> Option<(usize, usize)> {
    if width == 0 || height == 0 || !src_width.is_multiple_of(width) || !src_height.is_multiple_of(height) {
        return None;
    }
    let (kx, ky) = (src_width / width, src_height / height);
    (kx * ky <= MAX_BLOCK).then_some((kx, ky))
}

/// Output rows per task: about `TASK_BYTES` of source.
fn rows_per_task(source_row_bytes: usize, ky: usize) -> usize {
    TASK_BYTES.div_ceil((source_row_bytes * ky).max(1))
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
    let rows = rows_per_task(src.row_len(), ky);
    let divider = Divider::new(kx * ky);
    share_chunks_mut(dst, rows * out_row, |task, out| {
        let first = task * rows;
        let mut acc = Vec::new();
        for (i, out) in out.chunks_exact_mut(out_row).enumerate() {
            let top = (first + i) * ky;
            match (kx, ky, c) {
                (2, 2, 1 | 3 | 4) => halve_row(src.row(top), src.row(top + 1), c, out),
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
    let rows = rows_per_task(src.row_len() * 4, ky);
    let scale = 1.0 / (kx * ky) as f32;
    share_chunks_mut(dst, rows * out_row, |task, out| {
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

/// One output row of 2×2 means of a `c`-channel row pair (c = 1, 3 or 4):
/// the vector kernel for the bulk where the CPU has AVX2, the portable rows
/// for the rest.
fn halve_row(top: &[u8], bottom: &[u8], c: usize, out: &mut [u8]) {
    #[cfg(target_arch = "x86_64")]
    let done = if crate::simd::has_avx2() {
        // SAFETY: AVX2 was just confirmed.
        unsafe { halve_avx2::halve(top, bottom, c, out) }
    } else {
        0
    };
    #[cfg(not(target_arch = "x86_64"))]
    let done = 0;
    let (top, bottom, out) = (&top[2 * done..], &bottom[2 * done..], &mut out[done..]);
    match c {
        4 => halve_rgba(top, bottom, out),
        1 => halve_grey(top, bottom, out),
        _ => halve_bytes(top, bottom, c, out),
    }
}

/// The 2×2 means with AVX2: per 128-bit lane, a shuffle lays each output
/// byte's two horizontal neighbours side by side and `vpmaddubsw` (times 1)
/// sums them as 16-bit lanes; the top and bottom sums are added, rounded
/// half up and packed back to bytes.
#[cfg(target_arch = "x86_64")]
mod halve_avx2 {
    use std::arch::x86_64::*;

    /// Pairs of RGBA pixels (grey pairs are adjacent already).
    const RGBA_PAIRS: [i8; 16] = [0, 4, 1, 5, 2, 6, 3, 7, 8, 12, 9, 13, 10, 14, 11, 15];
    /// Four RGB pixels (12 bytes) into two output pixels; the last 4 lanes stay 0.
    const RGB_PAIRS: [i8; 16] = [0, 3, 1, 4, 2, 5, 6, 9, 7, 10, 8, 11, -1, -1, -1, -1];

    /// Writes the first output bytes of the row and returns how many; the
    /// caller finishes the rest (a few pixels).
    ///
    /// # Safety
    /// The CPU must support AVX2.
    #[target_feature(enable = "avx2")]
    pub unsafe fn halve(top: &[u8], bottom: &[u8], c: usize, out: &mut [u8]) -> usize {
        match c {
            4 => pairs_in_lanes(top, bottom, out, Some(_mm256_setr_m128i(lane(&RGBA_PAIRS), lane(&RGBA_PAIRS)))),
            1 => pairs_in_lanes(top, bottom, out, None),
            3 => rgb(top, bottom, out),
            _ => 0,
        }
    }

    #[target_feature(enable = "avx2")]
    fn lane(pattern: &[i8; 16]) -> __m128i {
        // SAFETY: reads the 16 bytes of `pattern`.
        unsafe { _mm_loadu_si128(pattern.as_ptr().cast()) }
    }

    /// Sums of source byte pairs `(2i, 2i+1)` after `shuffle` (if any), top
    /// plus bottom, as sixteen 16-bit lanes.
    #[target_feature(enable = "avx2")]
    fn pair_sums(top: __m256i, bottom: __m256i, shuffle: Option<__m256i>) -> __m256i {
        let ones = _mm256_set1_epi8(1);
        let (top, bottom) = match shuffle {
            Some(s) => (_mm256_shuffle_epi8(top, s), _mm256_shuffle_epi8(bottom, s)),
            None => (top, bottom),
        };
        _mm256_add_epi16(_mm256_maddubs_epi16(top, ones), _mm256_maddubs_epi16(bottom, ones))
    }

    /// `(sum + 2) >> 2` per 16-bit lane.
    #[target_feature(enable = "avx2")]
    fn round_quarter(sums: __m256i) -> __m256i {
        _mm256_srli_epi16(_mm256_add_epi16(sums, _mm256_set1_epi16(2)), 2)
    }

    /// One and four channels: 64 source bytes of each row make 32 output bytes.
    #[target_feature(enable = "avx2")]
    fn pairs_in_lanes(top: &[u8], bottom: &[u8], out: &mut [u8], shuffle: Option<__m256i>) -> usize {
        let blocks = (out.len() / 32).min(top.len() / 64).min(bottom.len() / 64);
        for b in 0..blocks {
            // SAFETY: block `b` reads source bytes below 64·blocks and writes
            // output bytes below 32·blocks, within every slice.
            unsafe {
                let (t, u) = (top.as_ptr().add(64 * b), bottom.as_ptr().add(64 * b));
                let low = pair_sums(load(t), load(u), shuffle);
                let high = pair_sums(load(t.add(32)), load(u.add(32)), shuffle);
                // The pack interleaves 128-bit lanes: put the 64-bit quarters back in order.
                let packed = _mm256_packus_epi16(round_quarter(low), round_quarter(high));
                let ordered = _mm256_permute4x64_epi64(packed, 0b11_01_10_00);
                _mm256_storeu_si256(out.as_mut_ptr().add(32 * b).cast(), ordered);
            }
        }
        32 * blocks
    }

    /// Three channels: 8 source pixels of each row (two lanes of 4, loaded
    /// 12 bytes apart) make 4 output pixels, stored as two overlapping 8-byte
    /// writes of 6 bytes each.
    #[target_feature(enable = "avx2")]
    fn rgb(top: &[u8], bottom: &[u8], out: &mut [u8]) -> usize {
        let shuffle = _mm256_setr_m128i(lane(&RGB_PAIRS), lane(&RGB_PAIRS));
        // Each step reads 28 bytes from 24·b and writes 14 from 12·b.
        let steps = (out.len().saturating_sub(2) / 12)
            .min(top.len().saturating_sub(4) / 24)
            .min(bottom.len().saturating_sub(4) / 24);
        for s in 0..steps {
            // SAFETY: step `s` reads bytes 24·s..24·s+28 of each row and writes
            // 12·s..12·s+14 of `out`, within the slices by the bound on `steps`.
            unsafe {
                let (t, u) = (top.as_ptr().add(24 * s), bottom.as_ptr().add(24 * s));
                let sums = pair_sums(load_split(t), load_split(u), Some(shuffle));
                let means = round_quarter(sums);
                let packed = _mm256_packus_epi16(means, means);
                let o = out.as_mut_ptr().add(12 * s);
                _mm_storel_epi64(o.cast(), _mm256_castsi256_si128(packed));
                _mm_storel_epi64(o.add(6).cast(), _mm256_extracti128_si256(packed, 1));
            }
        }
        12 * steps
    }

    /// # Safety
    /// `p` must be valid for 32 bytes.
    #[target_feature(enable = "avx2")]
    unsafe fn load(p: *const u8) -> __m256i {
        unsafe { _mm256_loadu_si256(p.cast()) }
    }

    /// Bytes `p..p+16` in the low lane and `p+12..p+28` in the high one.
    ///
    /// # Safety
    /// `p` must be valid for 28 bytes.
    #[target_feature(enable = "avx2")]
    unsafe fn load_split(p: *const u8) -> __m256i {
        unsafe { _mm256_setr_m128i(_mm_loadu_si128(p.cast()), _mm_loadu_si128(p.add(12).cast())) }
    }
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

/// 2×2 means of any channel count, a sample at a time.
fn halve_bytes(top: &[u8], bottom: &[u8], c: usize, out: &mut [u8]) {
    for (x, o) in out.iter_mut().enumerate() {
        let i = x / c * 2 * c + x % c;
        let sum = top[i] as u32 + top[i + c] as u32 + bottom[i] as u32 + bottom[i + c] as u32;
        *o = ((sum + 2) >> 2) as u8;
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
