//! Deriche's 4th-order recursive Gaussian: two parallel second-order
//! sections, causal + anti-causal, in constant time per pixel whatever σ is.
//! Lines are padded with the reflect-101 extension for 4σ, beyond which a
//! constant continuation is assumed.
//!
//! Two passes over lane blocks that are contiguous in memory: the vertical
//! pass filters a few adjacent pixels down the image and writes them into an
//! intermediate laid out by bands of rows, x-major within a band, so the
//! horizontal pass reads each band as one sequential stream of lane blocks
//! (its rows × channels at x, then at x + 1, …). The recursion is written
//! over a vector type (AVX-512, AVX2+FMA or portable) so its state stays in
//! registers.
//!
//! Once the intermediate outgrows half the last-level cache it is written
//! with non-temporal stores, which skip reading each line before writing it
//! and leave the source in the cache. How the vertical pass writes is in
//! `BlockWriter`: each pixel's slot for one and four channels, a whole
//! band's block at once for three.
use rayon::prelude::*;

use crate::blur::{reflect101, Finish};
use crate::image::{ImageView, Sample};
use crate::simd::{with_vectors, F32Vec, Portable8};
#[cfg(target_arch = "x86_64")]
use std::arch::x86_64::{__m256, __m512};

/// Deriche's 4th-order fit of exp(−x²/2σ²) (x ≥ 0, unit σ): two terms
/// `(a·cos(ωx) + b·sin(ωx))·exp(−λx)`, as (a, b, λ, ω).
const DERICHE_TERMS: [(f64, f64, f64, f64); 2] = [(1.680, 3.735, 1.783, 0.6318), (-0.6803, -0.2598, 1.723, 1.997)];

/// One second-order section: causal `y[n] = n0·x[n] + n1·x[n−1] − d1·y[n−1] − d2·y[n−2]`,
/// anti-causal `y[n] = m1·x[n+1] + m2·x[n+2] − d1·y[n+1] − d2·y[n+2]`.
#[derive(Clone, Copy, Debug)]
struct Section {
    n0: f32,
    n1: f32,
    m1: f32,
    m2: f32,
    d1: f32,
    d2: f32,
    /// Steady-state gains for a constant input (initial conditions).
    causal_gain: f32,
    anticausal_gain: f32,
}

#[derive(Clone, Copy, Debug)]
struct Deriche {
    sections: [Section; 2],
    /// Reflect-101 padding on each side of a line.
    pad: usize,
}

impl Deriche {
    fn new(sigma: f64, line_len: usize) -> Self {
        // Past ~2 periods of the reflected line every Gaussian gives the line's
        // mean, so a bigger sigma only costs padding.
        let sigma = sigma.min(4.0 * line_len as f64);
        let raw = DERICHE_TERMS.map(|(a, b, lambda, omega)| {
            let radius = (-lambda / sigma).exp();
            let (pr, pi) = (radius * (omega / sigma).cos(), radius * (omega / sigma).sin());
            let d1 = -2.0 * pr;
            let d2 = radius * radius;
            let n0 = a;
            let n1 = b * pi - a * pr;
            (n0, n1, n1 - n0 * d1, -n0 * d2, d1, d2)
        });
        let dc: f64 = raw.iter().map(|&(n0, n1, m1, m2, d1, d2)| (n0 + n1 + m1 + m2) / (1.0 + d1 + d2)).sum();
        let sections = raw.map(|(n0, n1, m1, m2, d1, d2)| {
            let (n0, n1, m1, m2) = (n0 / dc, n1 / dc, m1 / dc, m2 / dc);
            Section {
                n0: n0 as f32,
                n1: n1 as f32,
                m1: m1 as f32,
                m2: m2 as f32,
                d1: d1 as f32,
                d2: d2 as f32,
                causal_gain: ((n0 + n1) / (1.0 + d1 + d2)) as f32,
                anticausal_gain: ((m1 + m2) / (1.0 + d1 + d2)) as f32,
            }
        });
        Deriche { sections, pad: (4.0 * sigma).ceil() as usize + 2 }
    }
}

/// Pixels per vertical lane block (rows per horizontal one) for `c` channels:
/// blocks of 32 or 48 floats, whole registers for every vector width.
const fn block_pixels(c: usize) -> usize {
    match c {
        1 => 32,
        3 => 16,
        _ => 8,
    }
}

/// Lines ahead of the sweep whose data is prefetched.
const PREFETCH_AHEAD: usize = 8;
/// Most registers one lane block spans (48 floats of 8 lanes).
const MAX_VECTORS: usize = 6;
/// Finished x positions the horizontal pass collects before writing rows.
const OUT_CHUNK: usize = 16;

/// Blurs `src` with the recursive filter and hands every finished pixel run to `finish`.
pub(crate) fn blur_into<S: Sample, D: Send>(src: ImageView<'_, S>, sigma: f64, dst: &mut [D], finish: impl Finish<D>) {
    // The intermediate holds as many floats as the image has samples (give or take a band).
    let stream = src.height * src.width * src.channels * 4 >= stream_min_bytes();
    blur_with(src, sigma, dst, finish, stream);
}

fn blur_with<S: Sample, D: Send>(src: ImageView<'_, S>, sigma: f64, dst: &mut [D], finish: impl Finish<D>, stream: bool) {
    match src.channels {
        1 => blur_channels::<S, D, 1, { block_pixels(1) }>(src, sigma, dst, finish, stream),
        3 => blur_channels::<S, D, 3, { 3 * block_pixels(3) }>(src, sigma, dst, finish, stream),
        _ => blur_channels::<S, D, 4, { 4 * block_pixels(4) }>(src, sigma, dst, finish, stream),
    }
}

/// The intermediate size from which the vertical pass writes it with
/// non-temporal stores: half the last-level cache (measured crossover on a
/// 32 MiB L3: 12 MiB is faster cached, 16 MiB streamed), from sysfs where
/// Linux tells it, else 16 MiB.
fn stream_min_bytes() -> usize {
    static BYTES: std::sync::OnceLock<usize> = std::sync::OnceLock::new();
    *BYTES.get_or_init(|| {
        let size = std::fs::read_to_string("/sys/devices/system/cpu/cpu0/cache/index3/size").ok();
        let kib = size.and_then(|s| s.trim().strip_suffix('K').and_then(|k| k.parse::<usize>().ok()));
        kib.map_or(16 << 20, |k| k * 1024 / 2)
    })
}

fn blur_channels<S: Sample, D: Send, const C: usize, const L: usize>(
    src: ImageView<'_, S>,
    sigma: f64,
    dst: &mut [D],
    finish: impl Finish<D>,
    stream: bool,
) {
    let (h, w) = (src.height, src.width);
    // Pixels per column block, and rows per band.
    let block = L / C;
    let vertical = Deriche::new(sigma, h);
    let horizontal = Deriche::new(sigma, w);
    let banded_len = h.div_ceil(block) * w * L;
    // Cache-line aligned, so streamed blocks are whole lines.
    let mut scratch = Scratch::take(banded_len + 16);
    let scratch = scratch.as_mut_slice();
    let align = scratch.as_ptr().align_offset(64);
    let banded = &mut scratch[align..align + banded_len];
    let stream = stream && streams_intermediate(C);
    let shared = SharedBands(banded.as_mut_ptr());
    (0..w.div_ceil(block)).into_par_iter().for_each_init(
        // The causal halves, then (three channels) the writer's tile.
        || vec![0f32; h * L + if C == 3 { 2 * RGB_BLOCK_FLOATS } else { 0 }],
        |scratch, index| {
            let (causal, tile) = scratch.split_at_mut(h * L);
            let x0 = index * block;
            let px = block.min(w - x0);
            // Two builds of the pass: a run-time test in its store loop
            // slowed the AVX2 tier by 15 %.
            if stream {
                let writer = BlockWriter::<C, L, true> { out: shared, x0, px, width: w, tile };
                vertical_block::<S, C, L, true>(src, &vertical, causal, writer);
            } else {
                let writer = BlockWriter::<C, L, false> { out: shared, x0, px, width: w, tile };
                vertical_block::<S, C, L, false>(src, &vertical, causal, writer);
            }
        },
    );
    let banded = &*banded;
    let row_len = w * C;
    dst.par_chunks_mut(block * row_len).enumerate().for_each_init(
        || vec![0f32; w * L],
        |causal, (index, rows)| {
            let band = Band { y0: index * block, rows: rows.len() / row_len, width: w };
            let input = &banded[index * w * L..(index + 1) * w * L];
            horizontal_block::<D, _, C, L>(input, band, &horizontal, causal, rows, &finish);
        },
    );
}

/// Rows `y0..y0 + rows` of an image `width` pixels wide.
#[derive(Clone, Copy)]
struct Band {
    y0: usize,
    rows: usize,
    width: usize,
}

/// The banded intermediate, written by the vertical pass's column blocks in
/// parallel: each block writes only its own pixels' slots.
#[derive(Clone, Copy)]
struct SharedBands(*mut f32);
// SAFETY: column blocks write disjoint slots (see `BlockWriter`).
unsafe impl Send for SharedBands {}
// SAFETY: as above.
unsafe impl Sync for SharedBands {}

/// Whether the vertical pass may stream `c`-channel output (see `BlockWriter`).
/// Three channels are written in whole runs, which stream on any tier.
/// Four-channel slots stream only from the AVX-512 pass: a line fills over
/// four rows, and the slower passes leave it open so long that streaming
/// made them slower (AVX2 2048²: 17.4 → 20.3 ms). One channel's 4-byte
/// slots never stream.
fn streams_intermediate(c: usize) -> bool {
    #[cfg(target_arch = "x86_64")]
    return c == 3 || (c == 4 && crate::simd::has_avx512());
    #[cfg(not(target_arch = "x86_64"))]
    return false;
}

/// The writer's pixels `x0..x0 + px` of every row, filtered down the image
/// into their slots of the banded intermediate: band `y / B`, position `x`,
/// lanes `(y % B)·C..` where `B = L / C` rows make a band.
fn vertical_block<S: Sample, const C: usize, const L: usize, const STREAM: bool>(
    src: ImageView<'_, S>,
    f: &Deriche,
    causal: &mut [f32],
    store: BlockWriter<'_, C, L, STREAM>,
) {
    with_vectors!(vertical_block_with [S: Sample, const C: usize, const L: usize, const STREAM: bool] [S, C, L, STREAM]
        (src: ImageView<'_, S>, f: &Deriche, causal: &mut [f32], store: BlockWriter<'_, C, L, STREAM>);
        __m512, __m256, vertical_block_with::<Portable8, S, C, L, STREAM>(src, f, causal, store));
    // Streaming stores are weakly ordered: publish them before another
    // thread reads the band.
    #[cfg(target_arch = "x86_64")]
    if STREAM {
        // SAFETY: SSE is part of x86_64.
        unsafe { std::arch::x86_64::_mm_sfence() };
    }
}

#[inline(always)]
fn vertical_block_with<V: F32Vec, S: Sample, const C: usize, const L: usize, const STREAM: bool>(
    src: ImageView<'_, S>,
    f: &Deriche,
    causal: &mut [f32],
    store: BlockWriter<'_, C, L, STREAM>,
) {
    let h = src.height;
    let (x0, px) = (store.x0, store.px);
    let lanes = px * C;
    let n = V::LANES;
    let mut partial = [0f32; L];
    let prefetch = |y: usize| prefetch_span(&src.row(y)[x0 * C..x0 * C + lanes]);
    match (S::as_u8_view(src), S::as_f32_view(src)) {
        (Some(bytes), _) if lanes == L => filter_lines::<V, L>(
            f,
            h,
            causal,
            |y, g| {
                let row = &bytes.row(y)[x0 * C..x0 * C + L];
                // SAFETY: `row` holds `L` bytes and `g·n + n ≤ L`.
                unsafe { V::load_u8(row.as_ptr().add(g * n)) }
            },
            store,
            prefetch,
        ),
        (_, Some(floats)) if lanes == L => filter_lines::<V, L>(
            f,
            h,
            causal,
            |y, g| {
                let row = &floats.row(y)[x0 * C..x0 * C + L];
                // SAFETY: `row` holds `L` floats and `g·n + n ≤ L`.
                unsafe { V::load(row.as_ptr().add(g * n)) }
            },
            store,
            prefetch,
        ),
        // The image's last, narrower block goes through a buffer.
        _ => filter_lines::<V, L>(
            f,
            h,
            causal,
            |y, g| {
                if g == 0 {
                    for (b, &s) in partial.iter_mut().zip(&src.row(y)[x0 * C..x0 * C + lanes]) {
                        *b = s.to_f32();
                    }
                }
                // SAFETY: `partial` holds `L` floats and `g·n + n ≤ L`.
                unsafe { V::load(partial.as_ptr().add(g * n)) }
            },
            store,
            prefetch,
        ),
    }
}

/// The band's rows filtered along x from its part of the intermediate
/// (`width` lane blocks, one per x); finished
/// pixels go through `finish` into `rows` (the band's rows of the output) in
/// runs of `OUT_CHUNK` pixels, so converting them vectorises.
fn horizontal_block<D, F: Finish<D>, const C: usize, const L: usize>(
    banded: &[f32],
    band: Band,
    f: &Deriche,
    causal: &mut [f32],
    rows: &mut [D],
    finish: &F,
) {
    with_vectors!(horizontal_block_with [D, F: Finish<D>, const C: usize, const L: usize] [D, F, C, L]
        (banded: &[f32], band: Band, f: &Deriche, causal: &mut [f32], rows: &mut [D], finish: &F);
        __m512, __m256, horizontal_block_with::<Portable8, D, F, C, L>(banded, band, f, causal, rows, finish))
}

#[inline(always)]
fn horizontal_block_with<V: F32Vec, D, F: Finish<D>, const C: usize, const L: usize>(
    banded: &[f32],
    band: Band,
    f: &Deriche,
    causal: &mut [f32],
    rows: &mut [D],
    finish: &F,
) {
    let Band { y0, rows: nr, width: w } = band;
    let lanes = nr * C;
    let row_len = w * C;
    let mut pending = [[0f32; L]; OUT_CHUNK];
    let mut run = [[0f32; L]; OUT_CHUNK];
    let n = V::LANES;
    let mut partial = [0f32; L];
    filter_lines::<V, L>(
        f,
        w,
        causal,
        |x, g| {
            let at = x * L;
            if lanes == L {
                let block = &banded[at..at + L];
                // SAFETY: `block` holds `L` floats and `g·n + n ≤ L`.
                return unsafe { V::load(block.as_ptr().add(g * n)) };
            }
            // The image's last, shorter band goes through a buffer.
            if g == 0 {
                partial[..lanes].copy_from_slice(&banded[at..at + lanes]);
            }
            // SAFETY: `partial` holds `L` floats and `g·n + n ≤ L`.
            unsafe { V::load(partial.as_ptr().add(g * n)) }
        },
        // The anti-causal sweep finishes x from right to left.
        |x: usize, vals: &[f32; L]| {
            pending[x % OUT_CHUNK] = *vals;
            if x.is_multiple_of(OUT_CHUNK) {
                let count = OUT_CHUNK.min(w - x);
                let run = run.as_flattened_mut();
                for r in 0..nr {
                    for k in 0..count {
                        run[k * C..(k + 1) * C].copy_from_slice(&pending[k][r * C..(r + 1) * C]);
                    }
                    let at = r * row_len + x * C;
                    finish(y0 + r, x, &run[..count * C], &mut rows[at..at + count * C]);
                }
            }
        },
        |x| prefetch_span(&banded[x * L..x * L + lanes]),
    );
}

/// Where `filter_lines` hands each finished position's lanes.
trait RowSink<const L: usize> {
    fn put(&mut self, i: usize, lanes: &[f32; L]);
}

impl<const L: usize, F: FnMut(usize, &[f32; L])> RowSink<L> for F {
    #[inline(always)]
    fn put(&mut self, i: usize, lanes: &[f32; L]) {
        self(i, lanes)
    }
}

/// Floats in one band's part of a three-channel column block (`L·L / C`).
const RGB_BLOCK_FLOATS: usize = 48 * 16;

/// Writes one column block's filtered rows into the banded intermediate.
/// A sink rather than a closure so that it is always inlined into the
/// sweep: a call there would spill the filter state held in vector registers.
///
/// One and four channels go straight to each pixel's slot (four by
/// non-temporal stores when streaming: a band's four rows fill a line, and
/// the block's eight lines fit the write-combining buffers). Three-channel
/// slots are 12 bytes and a block has 16 pixels, too many lines in flight
/// for either way (every store waited on memory), so their rows are
/// collected in a tile until the band is complete, then turned x-major and
/// written as one contiguous run. With `STREAM`, by non-temporal stores.
struct BlockWriter<'a, const C: usize, const L: usize, const STREAM: bool> {
    out: SharedBands,
    x0: usize,
    px: usize,
    width: usize,
    /// Three channels: `2·RGB_BLOCK_FLOATS` floats of per-thread scratch, the
    /// band's rows as the sweep finished them (row-major), then the same
    /// x-major.
    tile: &'a mut [f32],
}

impl<const C: usize, const L: usize, const STREAM: bool> BlockWriter<'_, C, L, STREAM> {
    /// Row `y` to its pixels' slots.
    #[inline(always)]
    fn write_slots(&mut self, y: usize, vals: &[f32; L]) {
        let rows = L / C;
        let band_start = (y / rows * self.width + self.x0) * L + (y % rows) * C;
        for p in 0..self.px {
            // SAFETY: the slot of pixel (y, x0 + p) lies inside the intermediate
            // (`ceil(h / B)·w·L` floats), is 16-byte aligned when four floats
            // wide, and belongs to this column block alone.
            unsafe {
                let dst = self.out.0.add(band_start + p * L);
                if C == 4 && STREAM {
                    stream_run(dst, &vals[p * C..p * C + C]);
                } else if C == 1 {
                    // Plain stores: the loop would otherwise become AVX-512
                    // scatters, which were 60 % of this pass (2048² grey
                    // 3.40 → 3.08 ms without them).
                    dst.write_volatile(vals[p]);
                } else {
                    // Through a slice: copying from `vals.as_ptr().add(p·C)`
                    // compiled to a pass 30 % slower on the AVX2 and portable tiers.
                    let value = &vals[p * C..p * C + C];
                    std::ptr::copy_nonoverlapping(value.as_ptr(), dst, value.len());
                }
            }
        }
    }

    /// Row `y` into the tile; a complete band's block out to the intermediate.
    #[inline(always)]
    fn collect_band(&mut self, y: usize, vals: &[f32; L]) {
        let rows = L / C;
        let row = y % rows;
        let (tile, block) = self.tile.split_at_mut(rows * L);
        let slot: &mut [f32; L] = (&mut tile[row * L..row * L + L]).try_into().unwrap();
        *slot = *vals;
        // The anti-causal sweep finishes rows bottom-up: row 0 ends a band.
        if row != 0 {
            return;
        }
        for r in 0..rows {
            let src: &[f32; L] = tile[r * L..r * L + L].try_into().unwrap();
            for p in 0..rows {
                let pixel: &[f32; C] = src[p * C..p * C + C].try_into().unwrap();
                let slot: &mut [f32; C] = (&mut block[p * L + r * C..p * L + r * C + C]).try_into().unwrap();
                *slot = *pixel;
            }
        }
        let start = (y / rows * self.width + self.x0) * L;
        let run = &block[..self.px * L];
        // SAFETY: the band's part of this column block, `px·L` floats from
        // `start`, lies inside the intermediate, starts a cache line, and
        // belongs to this column block alone.
        unsafe {
            let dst = self.out.0.add(start);
            if STREAM {
                stream_run(dst, run);
            } else {
                std::ptr::copy_nonoverlapping(run.as_ptr(), dst, run.len());
            }
        }
    }
}

impl<const C: usize, const L: usize, const STREAM: bool> RowSink<L> for BlockWriter<'_, C, L, STREAM> {
    #[inline(always)]
    fn put(&mut self, y: usize, vals: &[f32; L]) {
        if C == 3 {
            self.collect_band(y, vals);
        } else {
            self.write_slots(y, vals);
        }
    }
}

/// Copies `run` to `dst` by non-temporal stores, which bypass the cache: no
/// read of each line before it is written, and the source stays cached.
///
/// # Safety
/// `dst` must be valid for `run.len()` floats (a multiple of 4) and 16-byte aligned.
#[inline(always)]
unsafe fn stream_run(dst: *mut f32, run: &[f32]) {
    #[cfg(target_arch = "x86_64")]
    for i in (0..run.len()).step_by(4) {
        use std::arch::x86_64::{_mm_loadu_ps, _mm_stream_ps};
        // SAFETY: SSE is part of x86_64; see the function's contract.
        unsafe { _mm_stream_ps(dst.add(i), _mm_loadu_ps(run.as_ptr().add(i))) };
    }
    #[cfg(not(target_arch = "x86_64"))]
    // SAFETY: see the function's contract.
    unsafe {
        std::ptr::copy_nonoverlapping(run.as_ptr(), dst, run.len())
    };
}

/// Asks the CPU to bring `span` into the cache.
#[inline(always)]
pub(crate) fn prefetch_span<T>(span: &[T]) {
    #[cfg(target_arch = "x86_64")]
    {
        use std::arch::x86_64::{_mm_prefetch, _MM_HINT_T0};
        let bytes = std::mem::size_of_val(span);
        let start = span.as_ptr().cast::<i8>();
        for offset in (0..bytes).step_by(64).chain(std::iter::once(bytes.saturating_sub(1))) {
            // SAFETY: a prefetch never faults, and the address lies inside `span`.
            unsafe { _mm_prefetch::<_MM_HINT_T0>(start.wrapping_add(offset)) };
        }
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = span;
}

/// Both directions of the filter along `len` positions of `L` lanes.
/// `load(i, g)` fetches vector `g` of position `i < len` (the reflect-101
/// padding is resolved here; vectors come in order from 0); `store(i, lanes)`
/// receives the result, from the last
/// position to the first; `prefetch(i)` is told the lines it will load soon
/// (strided loads defeat the hardware prefetcher). `causal` is scratch for `len·L` floats, where the
/// causal half waits for its partner.
#[inline(always)]
fn filter_lines<V: F32Vec, const L: usize>(
    f: &Deriche,
    len: usize,
    causal: &mut [f32],
    mut load: impl FnMut(usize, usize) -> V,
    mut store: impl RowSink<L>,
    prefetch: impl Fn(usize),
) {
    let n = V::LANES;
    let vectors = L / n;
    assert!(L.is_multiple_of(n) && vectors <= MAX_VECTORS && causal.len() >= len * L);
    let [s0, s1] = f.sections;
    let splat = V::splat;
    let (an0, an1, am1, am2, ad1, ad2) = (splat(s0.n0), splat(s0.n1), splat(s0.m1), splat(s0.m2), splat(s0.d1), splat(s0.d2));
    let (bn0, bn1, bm1, bm2, bd1, bd2) = (splat(s1.n0), splat(s1.n1), splat(s1.m1), splat(s1.m2), splat(s1.d1), splat(s1.d2));
    let pad = f.pad;
    let seq = len + 2 * pad;
    let at = |i: usize| if i >= pad && i < pad + len { i - pad } else { reflect101(i as isize - pad as isize, len) };
    let zero = splat(0.0);
    let mut y = [0f32; L];
    let (mut x1, mut x2) = ([zero; MAX_VECTORS], [zero; MAX_VECTORS]);
    let (mut ay1, mut ay2, mut by1, mut by2) = ([zero; MAX_VECTORS], [zero; MAX_VECTORS], [zero; MAX_VECTORS], [zero; MAX_VECTORS]);
    // SAFETY (vector loads and stores below): `y` holds `L` floats,
    // `causal` at least `len·L`, and `g·n + n ≤ L` for `g < vectors`.

    // Causal sweep, starting from the steady state of a constant line.
    for g in 0..vectors {
        let edge = load(at(0), g);
        x1[g] = edge;
        ay1[g] = edge.mul(splat(s0.causal_gain));
        ay2[g] = ay1[g];
        by1[g] = edge.mul(splat(s1.causal_gain));
        by2[g] = by1[g];
    }
    for i in 0..seq {
        if i + PREFETCH_AHEAD < seq {
            prefetch(at(i + PREFETCH_AHEAD));
        }
        let line = at(i);
        let inside = i >= pad && i < pad + len;
        for g in 0..vectors {
            let xv = load(line, g);
            let ya = ad1.neg_mul_add(ay1[g], ad2.neg_mul_add(ay2[g], an1.mul_add(x1[g], an0.mul(xv))));
            let yb = bd1.neg_mul_add(by1[g], bd2.neg_mul_add(by2[g], bn1.mul_add(x1[g], bn0.mul(xv))));
            (ay2[g], ay1[g], by2[g], by1[g], x1[g]) = (ay1[g], ya, by1[g], yb, xv);
            if inside {
                unsafe { ya.add(yb).store(causal.as_mut_ptr().add((i - pad) * L + g * n)) };
            }
        }
    }

    // Anti-causal sweep: y[i] comes from x[i+1], x[i+2] and the outputs after it.
    for g in 0..vectors {
        let edge = load(at(seq - 1), g);
        (x1[g], x2[g]) = (edge, edge);
        ay1[g] = edge.mul(splat(s0.anticausal_gain));
        ay2[g] = ay1[g];
        by1[g] = edge.mul(splat(s1.anticausal_gain));
        by2[g] = by1[g];
    }
    for i in (0..seq).rev() {
        if i >= PREFETCH_AHEAD {
            prefetch(at(i - PREFETCH_AHEAD));
        }
        let line = at(i);
        let inside = i >= pad && i < pad + len;
        for g in 0..vectors {
            let xv = load(line, g);
            let ya = ad1.neg_mul_add(ay1[g], ad2.neg_mul_add(ay2[g], am2.mul_add(x2[g], am1.mul(x1[g]))));
            let yb = bd1.neg_mul_add(by1[g], bd2.neg_mul_add(by2[g], bm2.mul_add(x2[g], bm1.mul(x1[g]))));
            (ay2[g], ay1[g], by2[g], by1[g], x2[g], x1[g]) = (ay1[g], ya, by1[g], yb, x1[g], xv);
            if inside {
                let part = unsafe { V::load(causal.as_ptr().add((i - pad) * L + g * n)) };
                unsafe { ya.add(yb).add(part).store(y.as_mut_ptr().add(g * n)) };
            }
        }
        if inside {
            store.put(i - pad, &y);
        }
    }
}

/// The recursive filter's f32 intermediate image, kept between calls (up to
/// `SCRATCH_KEEP` floats) so large blurs do not fault in fresh pages each time.
struct Scratch(Vec<f32>);

static SCRATCH: std::sync::Mutex<Vec<f32>> = std::sync::Mutex::new(Vec::new());
const SCRATCH_KEEP: usize = 1 << 25;

impl Scratch {
    fn take(len: usize) -> Self {
        let mut v = std::mem::take(&mut *SCRATCH.lock().unwrap_or_else(|e| e.into_inner()));
        if v.len() < len {
            v.resize(len, 0.0);
        }
        Scratch(v)
    }
    fn as_mut_slice(&mut self) -> &mut [f32] {
        &mut self.0
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        if self.0.len() <= SCRATCH_KEEP {
            let mut slot = SCRATCH.lock().unwrap_or_else(|e| e.into_inner());
            if slot.len() < self.0.len() {
                *slot = std::mem::take(&mut self.0);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::blur::tests::noise;

    fn blur_f32(px: &[u8], h: usize, w: usize, c: usize, sigma: f64, stream: bool) -> Vec<f32> {
        let img = ImageView::new(px, h, w, c).unwrap();
        let mut out = vec![0f32; px.len()];
        let copy = |_y: usize, _x: usize, vals: &[f32], dst: &mut [f32]| dst.copy_from_slice(vals);
        blur_with(img, sigma, &mut out, copy, stream);
        out
    }

    #[test]
    fn streamed_intermediate_matches_cached() {
        // Ragged sizes: a partial last band and a partial last column block.
        for (h, w, c) in [(45, 83, 4), (9, 7, 4), (1, 1, 4), (37, 50, 3), (33, 70, 1)] {
            let px = noise(h * w * c, (h * w) as u64);
            for sigma in [4.5, 16.0] {
                let cached = blur_f32(&px, h, w, c, sigma, false);
                let streamed = blur_f32(&px, h, w, c, sigma, true);
                assert!(cached == streamed, "{h}x{w}x{c} sigma {sigma}");
                // The blur of noise is near its mean; garbage would not be.
                let mean = px.iter().map(|&v| v as f32).sum::<f32>() / px.len() as f32;
                assert!(cached.iter().all(|v| (v - mean).abs() < 100.0), "{h}x{w}x{c}");
            }
        }
    }
}
