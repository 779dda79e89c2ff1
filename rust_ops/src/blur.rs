//! Gaussian blur with reflect-101 borders (OpenCV's BORDER_REFLECT_101) and the
//! directional UP/DOWN variants.
//!
//! The reference is a separable Gaussian whose kernel length is the next odd
//! number ≥ 6σ. Small sigmas run exactly that kernel (f32, symmetric taps;
//! `u8` images in 16-bit fixed point, `fixed_blur.rs`, below `u8_fir_max_sigma()`);
//! from `IIR_MIN_SIGMA` (`u8`: that switch) on, a 4th-order Deriche recursive filter (two parallel
//! second-order sections, causal + anti-causal) runs in constant time per
//! pixel whatever σ is. Its lines are padded with the reflect-101 extension
//! for 4σ, beyond which a constant continuation is assumed.
use rayon::prelude::*;

use crate::error::{OpsError, Result};
use crate::image::{restore_alpha, Image, ImageView, Sample};
use crate::simd::{multiversion, with_vectors};
#[cfg(target_arch = "x86_64")]
use crate::simd::F32Vec;
#[cfg(target_arch = "x86_64")]
use std::arch::x86_64::{__m256, __m512};

/// From this sigma on the recursive filter replaces the exact kernel.
pub const IIR_MIN_SIGMA: f64 = 4.0;
/// Below this sigma `u8` images run the exact kernel in 16-bit fixed point
/// (`fixed_blur`) on CPUs with AVX2 or AVX-512BW, from it the recursive
/// filter: the kernel's cost grows with its radius, the recursive filter's
/// does not. On AVX2, 1024² RGB, they cross between σ 12 and 16 (RGBA and
/// grey near σ 16; see docs/imageops.md).
pub const U8_FIR_MAX_SIGMA: f64 = 12.0;
/// The same switch for the portable passes (other CPUs), whose fixed-point
/// kernel costs as much as the recursive filter from about σ 3.5.
pub const U8_FIR_MAX_SIGMA_PORTABLE: f64 = 3.5;

/// Below which sigma `u8` images run the exact kernel on this CPU.
pub fn u8_fir_max_sigma() -> f64 {
    #[cfg(target_arch = "x86_64")]
    if crate::simd::has_avx2() {
        return U8_FIR_MAX_SIGMA;
    }
    U8_FIR_MAX_SIGMA_PORTABLE
}
/// Rounds of the directional blur (the reference definition; fewer drift).
pub const DIRECTIONAL_ROUNDS: usize = 256;
/// Output rows per parallel task of the exact kernel.
const ROWS_PER_TASK: usize = 8;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Direction {
    None,
    Up,
    Down,
}

impl Direction {
    pub fn from_code(code: i64) -> Result<Self> {
        match code {
            0 => Ok(Direction::None),
            1 => Ok(Direction::Up),
            2 => Ok(Direction::Down),
            _ => Err(OpsError::invalid(format!("unknown blur direction {code} (expected 0, 1 or 2)"))),
        }
    }
}

/// Radius of the reference kernel: its length is the next odd integer ≥ 6σ.
pub fn kernel_radius(sigma: f64) -> usize {
    let length = (6.0 * sigma).ceil() as usize;
    let length = if length.is_multiple_of(2) { length + 1 } else { length };
    length / 2
}

/// Normalised kernel half: `[w0, w1, …, wr]`, computed in f64.
pub fn kernel_half(sigma: f64) -> Vec<f32> {
    let radius = kernel_radius(sigma);
    let raw: Vec<f64> = (0..=radius).map(|i| (-0.5 * (i as f64 / sigma).powi(2)).exp()).collect();
    let total = raw[0] + 2.0 * raw[1..].iter().sum::<f64>();
    raw.iter().map(|w| (w / total) as f32).collect()
}

/// Index of position `i` in a line of `n` samples under reflect-101
/// (`… 2 1 | 0 1 2 … n−1 | n−2 …`), for any distance outside.
#[inline(always)]
pub fn reflect101(i: isize, n: usize) -> usize {
    if n == 1 {
        return 0;
    }
    let period = 2 * (n as isize - 1);
    let m = i.rem_euclid(period);
    (if m >= n as isize { period - m } else { m }) as usize
}

fn validate_sigma(sigma: f64) -> Result<()> {
    if !sigma.is_finite() || sigma < 0.0 {
        return Err(OpsError::invalid(format!("blur sigma must be a finite number ≥ 0, not {sigma}")));
    }
    Ok(())
}

/// Blurs colour channels (all channels with `include_alpha`).
pub fn gaussian_blur<T: Sample>(
    src: ImageView<'_, T>,
    sigma: f64,
    direction: Direction,
    include_alpha: bool,
) -> Result<Image<T>> {
    let mut out = Image::zeros(src.height, src.width, src.channels);
    gaussian_blur_into(src, sigma, direction, include_alpha, &mut out.data)?;
    Ok(out)
}

/// `gaussian_blur` into `dst` (as many samples as `src`), which it overwrites.
pub fn gaussian_blur_into<T: Sample>(
    src: ImageView<'_, T>,
    sigma: f64,
    direction: Direction,
    include_alpha: bool,
    dst: &mut [T],
) -> Result<()> {
    validate_sigma(sigma)?;
    if dst.len() != src.data.len() {
        return Err(OpsError::invalid("blur output must hold as many samples as the input"));
    }
    if kernel_radius(sigma) == 0 {
        dst.copy_from_slice(src.data);
    } else {
        match direction {
            Direction::None => blur_plain(src, sigma, dst),
            Direction::Up => blur_directional(src, sigma, true, dst),
            Direction::Down => blur_directional(src, sigma, false, dst),
        }
    }
    if !include_alpha {
        restore_alpha(dst, src);
    }
    Ok(())
}

fn blur_plain<T: Sample>(src: ImageView<'_, T>, sigma: f64, dst: &mut [T]) {
    let finish = |_: usize, _: usize, blurred: &[f32], dst: &mut [T]| T::from_f32_slice(blurred, dst);
    if let Some(bytes) = T::as_u8_view(src) {
        if sigma < u8_fir_max_sigma() {
            let out = T::as_u8_slice_mut(dst).expect("u8 images have u8 outputs");
            return crate::fixed_blur::blur_u8(bytes, sigma, out);
        }
        return crate::recursive::blur_into(src, sigma, dst, finish);
    }
    blur_into(src, sigma, dst, finish)
}

/// The reference's iteration: `DIRECTIONAL_ROUNDS` blurs at σ/16, each
/// followed by a per-pixel max (UP) or min (DOWN) with the original; the state
/// stays f32 between rounds and is rounded once at the end. Rounds whose
/// kernel radius is at most `MAX_DIR_RADIUS` run the exact kernel over tiles;
/// wider ones a whole blur per round.
fn blur_directional<T: Sample>(src: ImageView<'_, T>, sigma: f64, up: bool, dst: &mut [T]) {
    let round_sigma = sigma / (DIRECTIONAL_ROUNDS as f64).sqrt();
    let original: Vec<f32> = src.data.iter().map(|v| v.to_f32()).collect();
    let radius = kernel_radius(round_sigma);
    let state = if radius > 0 && radius <= MAX_DIR_RADIUS {
        let half = kernel_half(round_sigma);
        let (h, w, c) = (src.height, src.width, src.channels);
        if up {
            directional_fir::<true>(&original, h, w, c, &half)
        } else {
            directional_fir::<false>(&original, h, w, c, &half)
        }
    } else {
        let pick: fn(f32, f32) -> f32 = if up { f32::max } else { f32::min };
        let mut state = original.clone();
        let mut next = vec![0f32; original.len()];
        if radius > 0 {
            let row_len = src.row_len();
            for _ in 0..DIRECTIONAL_ROUNDS {
                let view = ImageView { data: &state, height: src.height, width: src.width, channels: src.channels };
                blur_into(view, round_sigma, &mut next, |y, x, blurred: &[f32], dst: &mut [f32]| {
                    let at = y * row_len + x * src.channels;
                    let orig = &original[at..at + blurred.len()];
                    combine_rows(blurred, orig, dst, pick);
                });
                std::mem::swap(&mut state, &mut next);
            }
        }
        state
    };
    T::from_f32_slice(&state, dst);
}

#[inline(always)]
fn combine_rows(blurred: &[f32], orig: &[f32], dst: &mut [f32], pick: fn(f32, f32) -> f32) {
    for ((d, &b), &o) in dst.iter_mut().zip(blurred).zip(orig) {
        *d = pick(b, o);
    }
}

// ---------------------------------------------------------------------------
// Directional rounds with the exact kernel: tiles, skipping settled ones
// ---------------------------------------------------------------------------

/// Tile of the directional rounds (rows × pixels): the unit of parallel work and
/// of the settled-region test.
const DIR_TILE_H: usize = 32;
const DIR_TILE_W: usize = 64;
/// A tile whose neighbourhood spans at most this fraction of the original's
/// range is left as it is for the round (its result would move by no more).
const DIR_SETTLED: f32 = 4e-6;
/// Tiles per column chunk of the directional kernel.
const DIR_CHUNK_TILES: usize = 4;
/// Samples after each padded row that a horizontal pass may read (not use).
const DIR_PAD_SLACK: usize = 32;
/// Rows per sweep of the directional vertical pass (each source row is loaded
/// once for all of them).
const DIR_SWEEP_ROWS: usize = 4;
/// Lanes per register block of the directional kernel.
const DIR_LANES: usize = 32;

/// `DIRECTIONAL_ROUNDS` rounds of the exact kernel `half`, each followed by
/// max (`UP`) or min with `original`. Returns the final f32 state.
///
/// A round can only move a pixel within the range of the state over its
/// kernel footprint (positive weights summing to one), and max/min with the
/// original keeps that bound, because the state already is the max/min of
/// something and the original. Two kinds of tile are therefore left as they
/// are for a round:
/// - a tile whose footprint (the tile grown by the radius) spans ≤ ε: its
///   pixels would move by ≤ ε. Over all rounds that is ≤ 256·ε = 0.001 of the
///   range (0.26 levels of 255) in the worst case;
/// - under UP, a tile whose original is everywhere ≥ the footprint's maximum
///   (under DOWN, ≤ its minimum): the state there equals the original and the
///   round would return the original again, so skipping it is exact.
///
/// Flat regions (the far background, the inside of a mask under UP, its
/// outside under DOWN) then cost nothing. Computed tiles run in column chunks
/// of a few tiles down each band, so the kernel's rows stay in L1.
fn directional_fir<const UP: bool>(original: &[f32], height: usize, width: usize, c: usize, half: &[f32]) -> Vec<f32> {
    let row_len = width * c;
    let radius = half.len() - 1;
    let grid = TileGrid::new(height, width, c, radius);
    let (lo, hi) = min_max(original);
    let eps = DIR_SETTLED * (hi - lo).max(f32::MIN_POSITIVE);
    let may_settle = radius <= DIR_TILE_H.min(DIR_TILE_W);

    let mut state = original.to_vec();
    let mut next = original.to_vec();
    let mut tile_stats = grid.stats_of(original);
    let original_range: Vec<(f32, f32)> = tile_stats.iter().map(|s| s.parts[1][1]).collect();
    let tiles = grid.tiles_y * grid.tiles_x;
    let mut settled = vec![false; tiles];
    // Whether a tile was settled last round: both buffers then hold the same values.
    let mut was_settled = vec![false; tiles];

    for _ in 0..DIRECTIONAL_ROUNDS {
        for (t, done) in settled.iter_mut().enumerate() {
            *done = may_settle && {
                let (l, h) = grid.footprint(&tile_stats, t);
                let (ol, oh) = original_range[t];
                h - l <= eps || if UP { ol >= h } else { oh <= l }
            };
        }
        let cur = &state;
        let (settled_ref, was_ref) = (&settled, &was_settled);
        next.par_chunks_mut(row_len * DIR_TILE_H)
            .zip(tile_stats.par_chunks_mut(grid.tiles_x))
            .enumerate()
            .for_each(|(ty, (band, band_stats))| {
                let row_tiles = ty * grid.tiles_x..(ty + 1) * grid.tiles_x;
                let band_job = BandJob {
                    grid: &grid,
                    y0: ty * DIR_TILE_H,
                    settled: &settled_ref[row_tiles.clone()],
                    was_settled: &was_ref[row_tiles],
                    cur,
                    original,
                    half,
                };
                band_job.run::<UP>(band, band_stats);
            });
        std::mem::swap(&mut state, &mut next);
        std::mem::swap(&mut settled, &mut was_settled);
    }
    state
}

/// The directional rounds' tiling of an image.
struct TileGrid {
    height: usize,
    width: usize,
    c: usize,
    radius: usize,
    tiles_y: usize,
    tiles_x: usize,
}

impl TileGrid {
    fn new(height: usize, width: usize, c: usize, radius: usize) -> Self {
        let (tiles_y, tiles_x) = (height.div_ceil(DIR_TILE_H), width.div_ceil(DIR_TILE_W));
        TileGrid { height, width, c, radius, tiles_y, tiles_x }
    }

    /// Pixel columns of tile column `tx`.
    fn columns(&self, tx: usize) -> (usize, usize) {
        (tx * DIR_TILE_W, ((tx + 1) * DIR_TILE_W).min(self.width))
    }

    /// Every tile's ranges in `image`.
    fn stats_of(&self, image: &[f32]) -> Vec<TileStats> {
        let row_len = self.width * self.c;
        let mut ranges = ColumnRanges::new(row_len);
        let mut stats = Vec::with_capacity(self.tiles_y * self.tiles_x);
        for band in image.chunks(row_len * DIR_TILE_H) {
            let rows = band.len() / row_len;
            ranges.reset(row_len);
            for (i, row) in band.chunks_exact(row_len).enumerate() {
                for group in RowGroup::of(i..i + 1, rows, self.radius) {
                    ranges.fold(group, row);
                }
            }
            stats.extend((0..self.tiles_x).map(|tx| {
                let (x0, x1) = self.columns(tx);
                ranges.tile_stats(x0 * self.c..x1 * self.c, self.radius * self.c)
            }));
        }
        stats
    }

    /// The range of every pixel tile `t`'s kernel can reach: the tile and the
    /// facing strips of its eight neighbours.
    fn footprint(&self, stats: &[TileStats], t: usize) -> (f32, f32) {
        let (ty, tx) = (t / self.tiles_x, t % self.tiles_x);
        let (mut l, mut h) = (f32::INFINITY, f32::NEG_INFINITY);
        for (dy, v) in [(-1isize, 2), (0, 1), (1, 0)] {
            for (dx, part) in [(-1isize, 2), (0, 1), (1, 0)] {
                let (y, x) = (ty as isize + dy, tx as isize + dx);
                if y < 0 || x < 0 || y >= self.tiles_y as isize || x >= self.tiles_x as isize {
                    continue;
                }
                let (pl, ph) = stats[y as usize * self.tiles_x + x as usize].parts[v][part];
                l = if pl < l { pl } else { l };
                h = if ph > h { ph } else { h };
            }
        }
        (l, h)
    }
}

/// One band's share of a directional round: computes its unsettled tiles
/// from `cur` into the band of the next state and refreshes their stats.
struct BandJob<'a> {
    grid: &'a TileGrid,
    /// First row of the band.
    y0: usize,
    settled: &'a [bool],
    was_settled: &'a [bool],
    cur: &'a [f32],
    original: &'a [f32],
    half: &'a [f32],
}

impl BandJob<'_> {
    fn run<const UP: bool>(&self, band: &mut [f32], band_stats: &mut [TileStats]) {
        let TileGrid { height, width, c, radius, tiles_x, .. } = *self.grid;
        let row_len = width * c;
        // Tiles settled this round but not the last: `band` still holds the
        // state of two rounds ago there.
        for t in (0..tiles_x).filter(|&t| self.settled[t] && !self.was_settled[t]) {
            let (x0, x1) = self.grid.columns(t);
            for (i, out_row) in band.chunks_exact_mut(row_len).enumerate() {
                let at = (self.y0 + i) * row_len;
                out_row[x0 * c..x1 * c].copy_from_slice(&self.cur[at + x0 * c..at + x1 * c]);
            }
        }
        let chunk_px = DIR_CHUNK_TILES * DIR_TILE_W;
        let mut pads = Vec::new();
        let mut ranges = ColumnRanges::new(chunk_px * c);
        let band_rows = band.len() / row_len;
        for (ta, tb) in self.chunks() {
            let (xa, xb) = (self.grid.columns(ta).0, self.grid.columns(tb - 1).1);
            let (cx0, cx1) = (xa.saturating_sub(radius), (xb + radius).min(width));
            // Pixel p sits at (p + radius - xa) * c in a padded row.
            let padded_len = (xb - xa + 2 * radius) * c + DIR_PAD_SLACK;
            pads.resize(DIR_SWEEP_ROWS * padded_len, 0.0);
            let inner = (cx0 + radius - xa) * c..(cx1 + radius - xa) * c;
            let span = xa * c..xb * c;
            ranges.reset(span.len());
            // Rows a few at a time: the vertical pass loads each source row once
            // for all, the horizontal pass updates the column ranges once for all.
            let mut i = 0;
            while i < band_rows {
                let rows = [DIR_SWEEP_ROWS, 2, 1].into_iter().find(|&r| i + r <= band_rows).unwrap();
                let y = self.y0 + i;
                let mut taps = [&self.cur[..0]; 2 * MAX_DIR_RADIUS + DIR_SWEEP_ROWS];
                let taps = &mut taps[..2 * radius + rows];
                for (k, tap) in taps.iter_mut().enumerate() {
                    let sy = (y + k)
                        .checked_sub(radius)
                        .filter(|&sy| sy < height)
                        .unwrap_or_else(|| reflect101((y + k) as isize - radius as isize, height));
                    *tap = &self.cur[sy * row_len + cx0 * c..sy * row_len + cx1 * c];
                }
                // The vertical results go to the inner parts of `rows` padded rows.
                let out = &mut pads[inner.start..];
                match rows {
                    DIR_SWEEP_ROWS => dir_vertical_rows::<DIR_SWEEP_ROWS>(taps, self.half, out, inner.len(), padded_len),
                    2 => dir_vertical_rows::<2>(taps, self.half, out, inner.len(), padded_len),
                    _ => dir_vertical_rows::<1>(taps, self.half, out, inner.len(), padded_len),
                }
                for pad in pads.chunks_exact_mut(padded_len).take(rows) {
                    let left = (xa as isize - radius as isize)..0;
                    let right = width as isize..(xb + radius) as isize;
                    for p in left.chain(right) {
                        let from = reflect101(p, width) + radius - xa;
                        let to = (p + radius as isize - xa as isize) as usize;
                        pad.copy_within(from * c..(from + 1) * c, to * c);
                    }
                }
                let mut groups = RowGroup::of(i..i + rows, band_rows, radius);
                let (lo, hi) = ranges.group_mut(groups.next().unwrap());
                let sweep = HorizontalSweep {
                    padded: &pads,
                    padded_stride: padded_len,
                    orig: &self.original[y * row_len + span.start..],
                    out: &mut band[i * row_len + span.start..],
                    stride: row_len,
                    rows,
                };
                dir_horizontal::<UP>(sweep, c, self.half, lo, hi);
                for group in groups {
                    for o in i..i + rows {
                        ranges.fold(group, &band[o * row_len + span.start..o * row_len + span.end]);
                    }
                }
                i += rows;
            }
            for t in ta..tb {
                let (x0, x1) = self.grid.columns(t);
                band_stats[t] = ranges.tile_stats((x0 - xa) * c..(x1 - xa) * c, radius * c);
            }
        }
    }

    /// Column chunks (tile ranges) to compute: runs of unsettled tiles, cut
    /// into `DIR_CHUNK_TILES`.
    fn chunks(&self) -> impl Iterator<Item = (usize, usize)> + '_ {
        let n = self.settled.len();
        let starts = (0..n).filter(|&t| !self.settled[t] && (t == 0 || self.settled[t - 1]));
        starts.flat_map(move |ta| {
            let tb = (ta..n).find(|&t| self.settled[t]).unwrap_or(n);
            (ta..tb).step_by(DIR_CHUNK_TILES).map(move |t| (t, (t + DIR_CHUNK_TILES).min(tb)))
        })
    }
}

/// Min and max of a slice.
#[inline(always)]
fn min_max(values: &[f32]) -> (f32, f32) {
    // Eight independent lanes, so the compiler can keep them in vector registers.
    let (mut l, mut h) = ([f32::INFINITY; 8], [f32::NEG_INFINITY; 8]);
    let chunks = values.chunks_exact(8);
    let tail = chunks.remainder();
    for chunk in chunks {
        for i in 0..8 {
            l[i] = if chunk[i] < l[i] { chunk[i] } else { l[i] };
            h[i] = if chunk[i] > h[i] { chunk[i] } else { h[i] };
        }
    }
    for (i, &v) in tail.iter().enumerate() {
        l[i] = if v < l[i] { v } else { l[i] };
        h[i] = if v > h[i] { v } else { h[i] };
    }
    let lo = l.iter().fold(f32::INFINITY, |a, &b| if b < a { b } else { a });
    let hi = h.iter().fold(f32::NEG_INFINITY, |a, &b| if b > a { b } else { a });
    (lo, hi)
}

/// Which rows of a tile a row counts for: its first `radius` (`Top`), its
/// last `radius` (`Bottom`), or neither (`Middle`).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum RowGroup {
    Top = 0,
    Middle = 1,
    Bottom = 2,
}

impl RowGroup {
    /// The group the band rows `sweep` (of `rows`) count for, and `Bottom`
    /// as well when the band is so short that they also reach its last
    /// `radius`. A sweep reaching into a strip counts whole for it: a strip's
    /// range may cover more rows than the strip, never fewer.
    fn of(sweep: std::ops::Range<usize>, rows: usize, radius: usize) -> impl Iterator<Item = RowGroup> {
        let (top, bottom) = (sweep.start < radius, sweep.end + radius > rows);
        let first = if top {
            RowGroup::Top
        } else if bottom {
            RowGroup::Bottom
        } else {
            RowGroup::Middle
        };
        std::iter::once(first).chain((top && bottom).then_some(RowGroup::Bottom))
    }
}

/// Per-column min and max of a band's rows, by row group; the horizontal
/// pass keeps them up to date as it writes (no per-row reductions).
struct ColumnRanges {
    lo: [Vec<f32>; 3],
    hi: [Vec<f32>; 3],
}

impl ColumnRanges {
    fn new(capacity: usize) -> Self {
        let empty = || Vec::with_capacity(capacity);
        ColumnRanges { lo: [empty(), empty(), empty()], hi: [empty(), empty(), empty()] }
    }

    /// Empties the ranges of `len` columns.
    fn reset(&mut self, len: usize) {
        for (lo, hi) in self.lo.iter_mut().zip(&mut self.hi) {
            lo.clear();
            lo.resize(len, f32::INFINITY);
            hi.clear();
            hi.resize(len, f32::NEG_INFINITY);
        }
    }

    fn group_mut(&mut self, group: RowGroup) -> (&mut [f32], &mut [f32]) {
        (&mut self.lo[group as usize], &mut self.hi[group as usize])
    }

    /// Folds a row into `group`.
    fn fold(&mut self, group: RowGroup, row: &[f32]) {
        let (lo, hi) = self.group_mut(group);
        for ((l, h), &v) in lo.iter_mut().zip(hi.iter_mut()).zip(row) {
            *l = if v < *l { v } else { *l };
            *h = if v > *h { v } else { *h };
        }
    }

    /// The stats of the tile over `columns` (samples), whose side strips are
    /// `strip` samples wide.
    fn tile_stats(&self, columns: std::ops::Range<usize>, strip: usize) -> TileStats {
        let strip = strip.min(columns.len());
        let parts = [columns.start..columns.start + strip, columns.clone(), columns.end - strip..columns.end];
        let mut stats = TileStats::EMPTY;
        for g in 0..3 {
            for (h, part) in parts.iter().enumerate() {
                let (l, _) = min_max(&self.lo[g][part.clone()]);
                let (_, hh) = min_max(&self.hi[g][part.clone()]);
                // The tile's top and bottom strips are groups 0 and 2; all its
                // rows are the three groups together.
                for v in [g, 1] {
                    let p = &mut stats.parts[v][h];
                    p.0 = if l < p.0 { l } else { p.0 };
                    p.1 = if hh > p.1 { hh } else { p.1 };
                }
            }
        }
        stats
    }
}

/// Ranges of a directional tile's pixels: `parts[v][h]` covers rows `v`
/// (0: the first `radius`, 1: all, 2: the last `radius`) × columns `h` (0:
/// the first `radius` pixels, 1: all, 2: the last `radius`).
#[derive(Clone, Copy)]
struct TileStats {
    parts: [[(f32, f32); 3]; 3],
}

impl TileStats {
    const EMPTY: TileStats = TileStats { parts: [[(f32::INFINITY, f32::NEG_INFINITY); 3]; 3] };
}

/// Largest kernel radius the directional tiles take (round σ up to ≈ 10.5, a
/// directional σ up to ≈ 170): the exact kernel with tile skipping beats a
/// recursive blur of the whole image per round far past where a single blur
/// switches over. The bound keeps footprints within neighbouring tiles.
const MAX_DIR_RADIUS: usize = 32;
/// Largest radius of the one-channel permute pass (its taps span three vectors).
const MAX_PERMUTE_RADIUS: usize = 16;

multiversion! {
    /// Vertical pass of one tile row: `out = w0·t[r] + Σ w_k (t[r−k] + t[r+k])`.
    fn dir_vertical_generic(taps: &[&[f32]], half: &[f32], out: &mut [f32]) {
        const L: usize = DIR_LANES;
        let radius = half.len() - 1;
        let n = out.len();
        if n < L {
            for x in 0..n {
                let mut acc = half[0] * taps[radius][x];
                for k in 1..=radius {
                    acc += half[k] * (taps[radius - k][x] + taps[radius + k][x]);
                }
                out[x] = acc;
            }
            return;
        }
        let mut x0 = 0;
        loop {
            // The last block overlaps the one before rather than running a scalar tail.
            let s = x0.min(n - L);
            let mut acc = [0f32; L];
            let centre: &[f32; L] = taps[radius][s..s + L].try_into().unwrap();
            for i in 0..L {
                acc[i] = half[0] * centre[i];
            }
            for k in 1..=radius {
                let w = half[k];
                let a: &[f32; L] = taps[radius - k][s..s + L].try_into().unwrap();
                let b: &[f32; L] = taps[radius + k][s..s + L].try_into().unwrap();
                for i in 0..L {
                    acc[i] += w * (a[i] + b[i]);
                }
            }
            out[s..s + L].copy_from_slice(&acc);
            if s + L >= n {
                break;
            }
            x0 += L;
        }
    }
}

#[inline(always)]
fn dir_pick<const UP: bool>(blurred: f32, orig: f32) -> f32 {
    if UP {
        if blurred > orig { blurred } else { orig }
    } else if blurred < orig {
        blurred
    } else {
        orig
    }
}

macro_rules! dir_horizontal_fn {
    ($name:ident, $up:expr) => {
        multiversion! {
            /// Horizontal pass of one row over its padded vertical result, then
            /// max/min with the original; folds the results into the column
            /// ranges `lo`/`hi`.
            fn $name(padded: &[f32], c: usize, half: &[f32], orig: &[f32], out: &mut [f32], lo: &mut [f32], hi: &mut [f32]) {
                const L: usize = DIR_LANES;
                let radius = half.len() - 1;
                let m = radius * c;
                let n = out.len();
                let mut x0 = 0;
                // Whole blocks of L lanes (fixed-size arrays, so they vectorise).
                while x0 + L <= n {
                    let mut acc = [0f32; L];
                    let centre: &[f32; L] = padded[m + x0..m + x0 + L].try_into().unwrap();
                    for i in 0..L {
                        acc[i] = half[0] * centre[i];
                    }
                    for k in 1..=radius {
                        let w = half[k];
                        let a: &[f32; L] = padded[m + x0 - k * c..m + x0 - k * c + L].try_into().unwrap();
                        let b: &[f32; L] = padded[m + x0 + k * c..m + x0 + k * c + L].try_into().unwrap();
                        for i in 0..L {
                            acc[i] += w * (a[i] + b[i]);
                        }
                    }
                    let o: &[f32; L] = orig[x0..x0 + L].try_into().unwrap();
                    let lo: &mut [f32; L] = (&mut lo[x0..x0 + L]).try_into().unwrap();
                    let hi: &mut [f32; L] = (&mut hi[x0..x0 + L]).try_into().unwrap();
                    for i in 0..L {
                        let v = dir_pick::<$up>(acc[i], o[i]);
                        acc[i] = v;
                        lo[i] = if v < lo[i] { v } else { lo[i] };
                        hi[i] = if v > hi[i] { v } else { hi[i] };
                    }
                    out[x0..x0 + L].copy_from_slice(&acc);
                    x0 += L;
                }
                // The tail one sample at a time.
                for x in x0..n {
                    let mut acc = half[0] * padded[m + x];
                    for k in 1..=radius {
                        acc += half[k] * (padded[m + x - k * c] + padded[m + x + k * c]);
                    }
                    let v = dir_pick::<$up>(acc, orig[x]);
                    out[x] = v;
                    lo[x] = if v < lo[x] { v } else { lo[x] };
                    hi[x] = if v > hi[x] { v } else { hi[x] };
                }
            }
        }
    };
}
dir_horizontal_fn!(dir_horizontal_up, true);
dir_horizontal_fn!(dir_horizontal_down, false);

/// Vertical pass of `R` consecutive rows from the `2·radius + R` rows they
/// read, each loaded once for all of them (a single pass loads each row
/// `2·radius + 1` times). Row `o` goes to `out[o·stride..o·stride + len]`.
fn dir_vertical_rows<const R: usize>(taps: &[&[f32]], half: &[f32], out: &mut [f32], len: usize, stride: usize) {
    with_vectors!(dir_vertical_rows_with [const R: usize] [R]
        (taps: &[&[f32]], half: &[f32], out: &mut [f32], len: usize, stride: usize);
        __m512, __m256, dir_vertical_rows_portable(taps, half, out, len, stride))
}

fn dir_vertical_rows_portable(taps: &[&[f32]], half: &[f32], out: &mut [f32], len: usize, stride: usize) {
    let span = 2 * half.len() - 1;
    for o in 0..=taps.len() - span {
        dir_vertical_generic(&taps[o..o + span], half, &mut out[o * stride..o * stride + len]);
    }
}

/// The rows of one horizontal sweep, each `len` samples: `rows` padded
/// vertical results `padded_stride` apart (`len + 2·radius·c` samples each),
/// and the matching rows of the original and of the output, `stride` apart.
struct HorizontalSweep<'a> {
    padded: &'a [f32],
    padded_stride: usize,
    orig: &'a [f32],
    out: &'a mut [f32],
    stride: usize,
    rows: usize,
}

/// Horizontal pass of a sweep's rows, then max (`UP`) or min with the
/// original; folds the results into the column ranges `lo`/`hi` (whose
/// length is the rows').
fn dir_horizontal<const UP: bool>(sweep: HorizontalSweep<'_>, c: usize, half: &[f32], lo: &mut [f32], hi: &mut [f32]) {
    #[cfg(target_arch = "x86_64")]
    if c == 1 && lo.len() >= 16 && crate::simd::has_avx512() {
        macro_rules! by_radius {
            ($($r:literal)*) => {
                match half.len() - 1 {
                    // SAFETY: `has_avx512` just confirmed the CPU features.
                    $($r => return unsafe { dir_horizontal_mono_avx512::<$r, UP>(sweep, half, lo, hi) },)*
                    _ => {}
                }
            };
        }
        by_radius!(1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16);
    }
    with_vectors!(dir_horizontal_with [const UP: bool] [UP]
        (sweep: HorizontalSweep<'_>, c: usize, half: &[f32], lo: &mut [f32], hi: &mut [f32]);
        __m512, __m256, dir_horizontal_portable::<UP>(sweep, c, half, lo, hi))
}

#[inline(always)]
fn dir_horizontal_portable<const UP: bool>(
    sweep: HorizontalSweep<'_>,
    c: usize,
    half: &[f32],
    lo: &mut [f32],
    hi: &mut [f32],
) {
    let len = lo.len();
    let padded_len = len + 2 * (half.len() - 1) * c;
    for o in 0..sweep.rows {
        let padded = &sweep.padded[o * sweep.padded_stride..o * sweep.padded_stride + padded_len];
        let (at, to) = (o * sweep.stride, o * sweep.stride + len);
        let (orig, out) = (&sweep.orig[at..to], &mut sweep.out[at..to]);
        if UP {
            dir_horizontal_up(padded, c, half, orig, out, lo, hi)
        } else {
            dir_horizontal_down(padded, c, half, orig, out, lo, hi)
        }
    }
}

// The directional passes over a vector type: blocks of up to four registers
// per row (32 lanes with AVX2, 64 with AVX-512), the last block overlapping
// the one before; rows shorter than a block take the portable passes.

#[cfg(target_arch = "x86_64")]
#[inline(always)]
fn dir_vertical_rows_with<V: F32Vec, const R: usize>(
    taps: &[&[f32]],
    half: &[f32],
    out: &mut [f32],
    len: usize,
    stride: usize,
) {
    let n = V::LANES;
    // Registers per block: AVX-512's 32 hold 4·R accumulators, AVX2's 16 hold 2·R.
    let b = if n >= 16 { 4 } else { 2 };
    let lanes = b * n;
    let radius = half.len() - 1;
    if len < lanes {
        return dir_vertical_rows_portable(taps, half, out, len, stride);
    }
    assert!(stride >= len && out.len() >= (R - 1) * stride + len);
    assert!(taps.len() == 2 * radius + R && taps.iter().all(|t| t.len() >= len));
    let mut x0 = 0;
    loop {
        let s = x0.min(len - lanes);
        // SAFETY: every tap row and each output row hold `s + lanes` ≤ len samples (asserted above).
        unsafe {
            let mut acc = [[V::splat(0.0); 4]; R];
            for (j, tap) in taps.iter().enumerate() {
                let p = tap.as_ptr().add(s);
                let x: [V; 4] = std::array::from_fn(|i| if i < b { V::load(p.add(i * n)) } else { V::splat(0.0) });
                // Source row j is tap j − o of output row o.
                for (o, acc) in acc.iter_mut().enumerate() {
                    if j >= o && j - o <= 2 * radius {
                        let w = V::splat(half[(j - o).abs_diff(radius)]);
                        for i in 0..b {
                            acc[i] = w.mul_add(x[i], acc[i]);
                        }
                    }
                }
            }
            for (o, acc) in acc.iter().enumerate() {
                let q = out.as_mut_ptr().add(o * stride + s);
                for i in 0..b {
                    acc[i].store(q.add(i * n));
                }
            }
        }
        if s + lanes >= len {
            break;
        }
        x0 += lanes;
    }
}

/// The horizontal sweep of one-channel rows at radius `R` on AVX-512. An
/// output vector's taps are shifted copies of the row; unaligned loads of
/// them split cache lines, so each vector's taps are built from two or three
/// loads by two-source permutes instead.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
unsafe fn dir_horizontal_mono_avx512<const R: usize, const UP: bool>(
    sweep: HorizontalSweep<'_>,
    half: &[f32],
    lo: &mut [f32],
    hi: &mut [f32],
) {
    use std::arch::x86_64::*;
    let len = lo.len();
    let HorizontalSweep { padded, padded_stride, orig, out, stride, rows } = sweep;
    assert!(half.len() == R + 1 && R <= MAX_PERMUTE_RADIUS && len >= 16 && rows >= 1 && hi.len() == len);
    assert!(padded.len() >= (rows - 1) * padded_stride + len + 32 && padded_stride >= len + 2 * R);
    assert!(orig.len() >= (rows - 1) * stride + len && out.len() >= (rows - 1) * stride + len);
    // Tap at window offset o (0..=2R) is lanes o%16.. of the pair (b[o/16], b[o/16 + 1]).
    let lanes = _mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15);
    let idx: [__m512i; 2 * MAX_PERMUTE_RADIUS + 1] =
        std::array::from_fn(|o| _mm512_add_epi32(lanes, _mm512_set1_epi32((o % 16) as i32)));
    let w: [__m512; MAX_PERMUTE_RADIUS + 1] = std::array::from_fn(|k| _mm512_set1_ps(half[k.min(R)]));
    let tap = |b: &[__m512; 3], o: usize| {
        if o.is_multiple_of(16) {
            b[o / 16]
        } else {
            _mm512_permutex2var_ps(b[o / 16], idx[o], b[o / 16 + 1])
        }
    };
    let mut x0 = 0;
    loop {
        let s = x0.min(len - 16);
        // SAFETY: rows of `padded` hold `len + 32` readable samples (asserted
        // above) and `s + 48 ≤ len + 32`; `orig`/`out`/`lo`/`hi` hold `s + 16`.
        unsafe {
            let mut lov = _mm512_loadu_ps(lo.as_ptr().add(s));
            let mut hiv = _mm512_loadu_ps(hi.as_ptr().add(s));
            for o in 0..rows {
                let p = padded.as_ptr().add(o * padded_stride + s);
                let third = if R > 8 { _mm512_loadu_ps(p.add(32)) } else { _mm512_setzero_ps() };
                let b = [_mm512_loadu_ps(p), _mm512_loadu_ps(p.add(16)), third];
                let mut acc = _mm512_mul_ps(w[0], tap(&b, R));
                for k in 1..=R {
                    acc = _mm512_fmadd_ps(w[k], _mm512_add_ps(tap(&b, R - k), tap(&b, R + k)), acc);
                }
                let g = _mm512_loadu_ps(orig.as_ptr().add(o * stride + s));
                let v = if UP { _mm512_max_ps(acc, g) } else { _mm512_min_ps(acc, g) };
                _mm512_storeu_ps(out.as_mut_ptr().add(o * stride + s), v);
                lov = _mm512_min_ps(lov, v);
                hiv = _mm512_max_ps(hiv, v);
            }
            _mm512_storeu_ps(lo.as_mut_ptr().add(s), lov);
            _mm512_storeu_ps(hi.as_mut_ptr().add(s), hiv);
        }
        if s + 16 >= len {
            break;
        }
        x0 += 16;
    }
}

#[cfg(target_arch = "x86_64")]
#[inline(always)]
fn dir_horizontal_with<V: F32Vec, const UP: bool>(
    sweep: HorizontalSweep<'_>,
    c: usize,
    half: &[f32],
    lo: &mut [f32],
    hi: &mut [f32],
) {
    let n = V::LANES;
    let lanes = 4 * n;
    let radius = half.len() - 1;
    let m = radius * c;
    let len = lo.len();
    if len < lanes {
        return dir_horizontal_portable::<UP>(sweep, c, half, lo, hi);
    }
    let HorizontalSweep { padded, padded_stride, orig, out, stride, rows } = sweep;
    assert!(rows >= 1 && hi.len() == len && padded.len() >= (rows - 1) * padded_stride + len + 2 * m);
    assert!(orig.len() >= (rows - 1) * stride + len && out.len() >= (rows - 1) * stride + len);
    let pick = |a: V, b: V| if UP { a.max(b) } else { a.min(b) };
    let mut x0 = 0;
    loop {
        let s = x0.min(len - lanes);
        // SAFETY: each padded row holds `len + 2m` samples and `s + lanes ≤ len`,
        // so every offset `m + s ± k·c + lane` (k ≤ radius) is in bounds; so are
        // the rows of `orig`/`out` and `lo`/`hi` (asserted above). Recomputing an
        // overlapped block is idempotent.
        unsafe {
            let (lp, hp) = (lo.as_mut_ptr().add(s), hi.as_mut_ptr().add(s));
            let mut lov = [0, 1, 2, 3].map(|j| V::load(lp.add(j * n)));
            let mut hiv = [0, 1, 2, 3].map(|j| V::load(hp.add(j * n)));
            for o in 0..rows {
                let w0 = V::splat(half[0]);
                let p = padded.as_ptr().add(o * padded_stride + m + s);
                let mut acc = [0, 1, 2, 3].map(|j| w0.mul(V::load(p.add(j * n))));
                for k in 1..=radius {
                    let w = V::splat(half[k]);
                    let l = p.sub(k * c);
                    let r = p.add(k * c);
                    for j in 0..4 {
                        acc[j] = w.mul_add(V::load(l.add(j * n)).add(V::load(r.add(j * n))), acc[j]);
                    }
                }
                let g = orig.as_ptr().add(o * stride + s);
                let q = out.as_mut_ptr().add(o * stride + s);
                for j in 0..4 {
                    let v = pick(acc[j], V::load(g.add(j * n)));
                    v.store(q.add(j * n));
                    lov[j] = lov[j].min(v);
                    hiv[j] = hiv[j].max(v);
                }
            }
            for j in 0..4 {
                lov[j].store(lp.add(j * n));
                hiv[j].store(hp.add(j * n));
            }
        }
        if s + lanes >= len {
            break;
        }
        x0 += lanes;
    }
}

/// Receives finished pixels: `finish(y, x, values, dst)` writes `values` (f32,
/// on the sample's scale; one or more whole pixels starting at `(y, x)`) into
/// `dst`, the same span of the output.
pub(crate) trait Finish<D>: Fn(usize, usize, &[f32], &mut [D]) + Sync {}
impl<D, F: Fn(usize, usize, &[f32], &mut [D]) + Sync> Finish<D> for F {}

/// Blurs `src` and hands the result to `finish`, which writes it into `dst`.
fn blur_into<S: Sample, D: Send>(src: ImageView<'_, S>, sigma: f64, dst: &mut [D], finish: impl Finish<D>) {
    if sigma < IIR_MIN_SIGMA {
        fir_blur_into(src, &kernel_half(sigma), dst, finish);
    } else {
        crate::recursive::blur_into(src, sigma, dst, finish);
    }
}

// ---------------------------------------------------------------------------
// Exact separable kernel
// ---------------------------------------------------------------------------

fn fir_blur_into<S: Sample, D: Send>(src: ImageView<'_, S>, half: &[f32], dst: &mut [D], finish: impl Finish<D>) {
    let row_len = src.row_len();
    let radius = half.len() - 1;
    let c = src.channels;
    let margin = radius * c;
    dst.par_chunks_mut(row_len * ROWS_PER_TASK).enumerate().for_each(|(task, rows)| {
        let mut padded = vec![0f32; row_len + 2 * margin];
        let mut line = vec![0f32; row_len];
        let mut taps: Vec<&[S]> = Vec::with_capacity(2 * radius + 1);
        for (i, dst_row) in rows.chunks_exact_mut(row_len).enumerate() {
            let y = task * ROWS_PER_TASK + i;
            taps.clear();
            taps.extend(
                (0..=2 * radius).map(|k| src.row(reflect101(y as isize + k as isize - radius as isize, src.height))),
            );
            fir_vertical_row(&taps, half, &mut padded[margin..margin + row_len]);
            reflect_margins(&mut padded, src.width, c, radius);
            fir_horizontal_row(&padded, c, half, &mut line);
            finish(y, 0, &line, dst_row);
        }
    });
}

/// Fills the `radius` pixels on each side of `padded` (whose middle holds a
/// row of `width` pixels) with the reflect-101 extension.
#[inline(always)]
fn reflect_margins<T: Copy>(padded: &mut [T], width: usize, c: usize, radius: usize) {
    for x in 0..radius {
        let left = reflect101(x as isize - radius as isize, width) + radius;
        let right = reflect101((width + x) as isize, width) + radius;
        for ch in 0..c {
            padded[x * c + ch] = padded[left * c + ch];
            padded[(radius + width + x) * c + ch] = padded[right * c + ch];
        }
    }
}

/// Lanes per register block of the exact kernel (accumulators stay in registers).
const FIR_LANES: usize = 32;

multiversion! {
    /// One row of the vertical pass: `out = w0·row[y] + Σ w_k · (row[y−k] + row[y+k])`,
    /// `taps[radius + k]` being row `y + k` (reflected).
    fn fir_vertical_row<S: Sample>(taps: &[&[S]], half: &[f32], out: &mut [f32]) {
        const L: usize = FIR_LANES;
        let radius = half.len() - 1;
        let n = out.len();
        let mut x0 = 0;
        while x0 < n {
            let lanes = L.min(n - x0);
            if lanes == L {
                let mut acc = [0f32; L];
                let centre = &taps[radius][x0..x0 + L];
                for i in 0..L {
                    acc[i] = half[0] * centre[i].to_f32();
                }
                for k in 1..=radius {
                    let (w, a, b) = (half[k], &taps[radius - k][x0..x0 + L], &taps[radius + k][x0..x0 + L]);
                    for i in 0..L {
                        acc[i] += w * (a[i].to_f32() + b[i].to_f32());
                    }
                }
                out[x0..x0 + L].copy_from_slice(&acc);
            } else {
                for x in x0..n {
                    let mut acc = half[0] * taps[radius][x].to_f32();
                    for k in 1..=radius {
                        acc += half[k] * (taps[radius - k][x].to_f32() + taps[radius + k][x].to_f32());
                    }
                    out[x] = acc;
                }
            }
            x0 += lanes;
        }
    }
}

multiversion! {
    /// One row of the horizontal pass over a reflect-padded row (`radius·c` samples each side).
    fn fir_horizontal_row(padded: &[f32], c: usize, half: &[f32], out: &mut [f32]) {
        const L: usize = FIR_LANES;
        let radius = half.len() - 1;
        let m = radius * c;
        let n = out.len();
        let mut x0 = 0;
        while x0 < n {
            let lanes = L.min(n - x0);
            if lanes == L {
                let mut acc = [0f32; L];
                let centre = &padded[m + x0..m + x0 + L];
                for i in 0..L {
                    acc[i] = half[0] * centre[i];
                }
                for k in 1..=radius {
                    let w = half[k];
                    let a = &padded[m + x0 - k * c..m + x0 - k * c + L];
                    let b = &padded[m + x0 + k * c..m + x0 + k * c + L];
                    for i in 0..L {
                        acc[i] += w * (a[i] + b[i]);
                    }
                }
                out[x0..x0 + L].copy_from_slice(&acc);
            } else {
                for x in x0..n {
                    let mut acc = half[0] * padded[m + x];
                    for k in 1..=radius {
                        acc += half[k] * (padded[m + x - k * c] + padded[m + x + k * c]);
                    }
                    out[x] = acc;
                }
            }
            x0 += lanes;
        }
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// Float64 reference: the exact separable kernel with reflect-101 borders.
    pub(crate) fn reference(data: &[f64], h: usize, w: usize, c: usize, sigma: f64) -> Vec<f64> {
        let r = kernel_radius(sigma) as isize;
        let g: Vec<f64> = (-r..=r).map(|i| (-0.5 * (i as f64 / sigma).powi(2)).exp()).collect();
        let total: f64 = g.iter().sum();
        let g: Vec<f64> = g.iter().map(|v| v / total).collect();
        let mut tmp = vec![0.0; data.len()];
        for y in 0..h {
            for x in 0..w {
                for ch in 0..c {
                    tmp[(y * w + x) * c + ch] = (-r..=r)
                        .map(|k| g[(k + r) as usize] * data[(reflect101(y as isize + k, h) * w + x) * c + ch])
                        .sum();
                }
            }
        }
        let mut out = vec![0.0; data.len()];
        for y in 0..h {
            for x in 0..w {
                for ch in 0..c {
                    out[(y * w + x) * c + ch] = (-r..=r)
                        .map(|k| g[(k + r) as usize] * tmp[(y * w + reflect101(x as isize + k, w)) * c + ch])
                        .sum();
                }
            }
        }
        out
    }

    pub(crate) fn noise(n: usize, seed: u64) -> Vec<u8> {
        let mut s = seed;
        (0..n)
            .map(|_| {
                s = s.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
                (s >> 56) as u8
            })
            .collect()
    }

    fn max_error(h: usize, w: usize, c: usize, sigma: f64) -> (f64, f64) {
        let px = noise(h * w * c, (h * 31 + w) as u64);
        let img = ImageView::new(&px, h, w, c).unwrap();
        let ours = gaussian_blur(img, sigma, Direction::None, true).unwrap();
        let want = reference(&px.iter().map(|&v| v as f64).collect::<Vec<_>>(), h, w, c, sigma);
        let diffs: Vec<f64> = ours.data.iter().zip(&want).map(|(&o, &r)| (o as f64 - r.round()).abs()).collect();
        (diffs.iter().cloned().fold(0.0, f64::max), diffs.iter().sum::<f64>() / diffs.len() as f64)
    }

    #[test]
    fn reflect101_matches_opencv() {
        let n = 4;
        let got: Vec<usize> = (-5..9).map(|i| reflect101(i, n)).collect();
        assert_eq!(got, vec![1, 2, 3, 2, 1, 0, 1, 2, 3, 2, 1, 0, 1, 2]);
        assert_eq!(reflect101(-7, 1), 0);
    }

    #[test]
    fn kernel_length_is_next_odd_at_least_six_sigma() {
        assert_eq!(kernel_radius(1.0), 3);
        assert_eq!(kernel_radius(0.5), 1);
        assert_eq!(kernel_radius(1.1), 3); // ceil(6.6) = 7
        assert_eq!(kernel_radius(0.0), 0);
        let half = kernel_half(2.0);
        let total = half[0] + 2.0 * half[1..].iter().sum::<f32>();
        assert!((total - 1.0).abs() < 1e-6);
    }

    #[test]
    fn exact_kernel_matches_reference() {
        for &(h, w, c, sigma) in &[
            (17, 23, 3, 1.0),
            (9, 5, 4, 2.5),
            (1, 7, 1, 0.8),
            (3, 40, 1, 3.9),
            (70, 90, 4, 0.17),
            (33, 100, 4, 0.6),
            (64, 64, 3, 3.5),
            (5, 120, 1, 2.0),
        ] {
            let (max, _) = max_error(h, w, c, sigma);
            assert!(max <= 1.0, "σ={sigma} {h}x{w}x{c}: max {max}");
        }
    }

    #[test]
    fn recursive_filter_stays_close_to_reference() {
        for &(h, w, c, sigma) in
            &[(64, 80, 3, 3.5), (64, 80, 3, 4.0), (50, 61, 1, 8.0), (40, 33, 4, 20.0), (12, 9, 1, 50.0)]
        {
            let (max, mean) = max_error(h, w, c, sigma);
            eprintln!("σ={sigma} {h}x{w}x{c}: max {max} mean {mean}");
            assert!(max <= 1.0 && mean <= 0.3, "σ={sigma} {h}x{w}x{c}: max {max} mean {mean}");
        }
    }

    #[test]
    fn flat_images_stay_flat_and_tiny_images_work() {
        let px = vec![77u8; 5 * 3 * 4];
        let img = ImageView::new(&px, 5, 3, 4).unwrap();
        for sigma in [0.0, 0.7, 3.0, 9.0, 1000.0] {
            assert_eq!(gaussian_blur(img, sigma, Direction::None, true).unwrap().data, px);
        }
        let one = [200u8];
        let img = ImageView::new(&one, 1, 1, 1).unwrap();
        for sigma in [1.0, 40.0] {
            for dir in [Direction::None, Direction::Up, Direction::Down] {
                assert_eq!(gaussian_blur(img, sigma, dir, true).unwrap().data, vec![200]);
            }
        }
        assert!(gaussian_blur(img, -1.0, Direction::None, true).is_err());
        assert!(gaussian_blur(img, f64::NAN, Direction::None, true).is_err());
    }

    #[test]
    fn alpha_is_carried_unless_included() {
        let px = noise(6 * 7 * 4, 3);
        let img = ImageView::new(&px, 6, 7, 4).unwrap();
        let out = gaussian_blur(img, 1.5, Direction::None, false).unwrap();
        assert!(out.data.chunks(4).zip(px.chunks(4)).all(|(o, i)| o[3] == i[3]));
        let all = gaussian_blur(img, 1.5, Direction::None, true).unwrap();
        assert!(all.data.chunks(4).zip(px.chunks(4)).any(|(o, i)| o[3] != i[3]));
    }

    /// The portable passes (CPUs without AVX2) agree with the dispatched ones.
    #[test]
    fn directional_portable_passes_match() {
        let half = kernel_half(2.0);
        let r = half.len() - 1;
        let n = 100;
        let rows: Vec<Vec<f32>> = (0..=2 * r).map(|k| (0..n).map(|x| ((x * 31 + k * 17) % 97) as f32).collect()).collect();
        let taps: Vec<&[f32]> = rows.iter().map(|v| v.as_slice()).collect();
        let (mut a, mut b) = (vec![0f32; n], vec![0f32; n]);
        dir_vertical_rows::<1>(&taps, &half, &mut a, n, n);
        dir_vertical_generic(&taps, &half, &mut b);
        assert!(a.iter().zip(&b).all(|(x, y)| (x - y).abs() < 1e-3));
        // The pair pass over one more row: its first output is the row above.
        let extra: Vec<f32> = (0..n).map(|x| ((x * 5) % 41) as f32).collect();
        let mut pair_taps = taps.clone();
        pair_taps.push(&extra);
        let mut b1 = vec![0f32; n];
        let mut pair = vec![0f32; 2 * n];
        dir_vertical_rows::<2>(&pair_taps, &half, &mut pair, n, n);
        let (p0, p1) = pair.split_at(n);
        dir_vertical_generic(&pair_taps[1..], &half, &mut b1);
        assert!(p0.iter().zip(&b).all(|(x, y)| (x - y).abs() < 1e-3));
        assert!(p1.iter().zip(&b1).all(|(x, y)| (x - y).abs() < 1e-3));
        let c = 3;
        let padded: Vec<f32> = (0..n + 2 * r * c).map(|x| ((x * 13) % 89) as f32).collect();
        let orig: Vec<f32> = (0..n).map(|x| ((x * 7) % 60) as f32).collect();
        // Column ranges that start partly above and partly below the results.
        let start: Vec<f32> = (0..n).map(|x| ((x * 11) % 70) as f32).collect();
        let ranges = || (vec![0f32; n], start.clone(), start.clone());
        for up in [true, false] {
            let ((mut a, mut la, mut ha), (mut b, mut lb, mut hb)) = (ranges(), ranges());
            let sweep = HorizontalSweep { padded: &padded, padded_stride: 0, orig: &orig, out: &mut a, stride: 0, rows: 1 };
            if up {
                dir_horizontal::<true>(sweep, c, &half, &mut la, &mut ha);
                dir_horizontal_up(&padded, c, &half, &orig, &mut b, &mut lb, &mut hb);
            } else {
                dir_horizontal::<false>(sweep, c, &half, &mut la, &mut ha);
                dir_horizontal_down(&padded, c, &half, &orig, &mut b, &mut lb, &mut hb);
            }
            let close = |x: &[f32], y: &[f32]| x.iter().zip(y).all(|(x, y)| (x - y).abs() < 1e-3);
            assert!(close(&a, &b) && close(&la, &lb) && close(&ha, &hb));
            for x in 0..n {
                assert_eq!(la[x], start[x].min(a[x]));
                assert_eq!(ha[x], start[x].max(a[x]));
            }
        }
    }

    /// One-channel sweeps (the permute kernel on AVX-512) at every radius, on
    /// several rows and ragged lengths, against the portable row pass.
    #[test]
    fn directional_one_channel_sweeps_match_portable() {
        for radius in 1..=MAX_DIR_RADIUS {
            let half: Vec<f32> = (0..=radius).map(|k| 1.0 / (1.0 + k as f32)).collect();
            for len in [16, 37, 100] {
                let (rows, stride, padded_stride) = (3, len + 5, len + 2 * radius + DIR_PAD_SLACK);
                let padded: Vec<f32> = (0..rows * padded_stride).map(|x| ((x * 13) % 89) as f32).collect();
                let orig: Vec<f32> = (0..rows * stride).map(|x| ((x * 7) % 60) as f32).collect();
                for up in [true, false] {
                    let (mut out, mut lo, mut hi) = (vec![0f32; rows * stride], vec![50f32; len], vec![50f32; len]);
                    let sweep = HorizontalSweep { padded: &padded, padded_stride, orig: &orig, out: &mut out, stride, rows };
                    if up {
                        dir_horizontal::<true>(sweep, 1, &half, &mut lo, &mut hi);
                    } else {
                        dir_horizontal::<false>(sweep, 1, &half, &mut lo, &mut hi);
                    }
                    let (mut lo2, mut hi2) = (vec![50f32; len], vec![50f32; len]);
                    for o in 0..rows {
                        let pad = &padded[o * padded_stride..o * padded_stride + len + 2 * radius];
                        let (g, mut row) = (&orig[o * stride..o * stride + len], vec![0f32; len]);
                        if up {
                            dir_horizontal_up(pad, 1, &half, g, &mut row, &mut lo2, &mut hi2);
                        } else {
                            dir_horizontal_down(pad, 1, &half, g, &mut row, &mut lo2, &mut hi2);
                        }
                        let ours = &out[o * stride..o * stride + len];
                        assert!(ours.iter().zip(&row).all(|(a, b)| (a - b).abs() < 1e-3), "radius {radius} len {len}");
                    }
                    assert!(lo.iter().zip(&lo2).chain(hi.iter().zip(&hi2)).all(|(a, b)| (a - b).abs() < 1e-3));
                }
            }
        }
    }

    /// The tiled rounds (settled-tile skipping, SIMD passes) against a plain
    /// f64 run of the same rounds, on a multi-tile 3-channel image.
    #[test]
    fn directional_tiles_match_plain_rounds() {
        let (h, w, c) = (70, 150, 3);
        let mut data = vec![0f32; h * w * c];
        for y in 0..h {
            for x in 0..w {
                let inside = ((x as f32 - 60.0) / 30.0).powi(2) + ((y as f32 - 30.0) / 18.0).powi(2) < 1.0;
                for ch in 0..c {
                    data[(y * w + x) * c + ch] = if inside || (ch == 1 && x > 130) { 255.0 } else { 0.0 };
                }
            }
        }
        let half = kernel_half(2.0);
        let r = half.len() as isize - 1;
        for up in [true, false] {
            let ours =
                if up { directional_fir::<true>(&data, h, w, c, &half) } else { directional_fir::<false>(&data, h, w, c, &half) };
            let mut state: Vec<f64> = data.iter().map(|&v| v as f64).collect();
            let mut tmp = state.clone();
            for _ in 0..DIRECTIONAL_ROUNDS {
                for y in 0..h {
                    for i in 0..w * c {
                        let mut acc = 0.0;
                        for k in -r..=r {
                            acc += half[k.unsigned_abs()] as f64 * state[reflect101(y as isize + k, h) * w * c + i];
                        }
                        tmp[y * w * c + i] = acc;
                    }
                }
                for y in 0..h {
                    for x in 0..w {
                        for ch in 0..c {
                            let mut acc = 0.0;
                            for k in -r..=r {
                                acc += half[k.unsigned_abs()] as f64 * tmp[(y * w + reflect101(x as isize + k, w)) * c + ch];
                            }
                            let o = data[(y * w + x) * c + ch] as f64;
                            state[(y * w + x) * c + ch] = if up { acc.max(o) } else { acc.min(o) };
                        }
                    }
                }
            }
            let worst = ours.iter().zip(&state).map(|(&a, &b)| (a as f64 - b).abs()).fold(0.0, f64::max);
            assert!(worst < 0.3, "up={up}: max deviation {worst}");
        }
    }

    #[test]
    fn directional_grows_and_shrinks_bright_areas() {
        let (h, w) = (24, 24);
        let mut px = vec![0u8; h * w];
        for y in 8..16 {
            for x in 8..16 {
                px[y * w + x] = 255;
            }
        }
        let img = ImageView::new(&px, h, w, 1).unwrap();
        let up = gaussian_blur(img, 4.0, Direction::Up, false).unwrap();
        let down = gaussian_blur(img, 4.0, Direction::Down, false).unwrap();
        for i in 0..px.len() {
            assert!(up.data[i] >= px[i] && down.data[i] <= px[i]);
        }
        assert!(up.data[6 * w + 12] > 0, "UP spreads outward");
        assert!(down.data[9 * w + 12] < 255, "DOWN eats inward");
        assert_eq!(up.data[12 * w + 12], 255);
    }
}
