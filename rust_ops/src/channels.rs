//! Channel rearrangement (`channels{r,g,b,a}`).
//!
//! Every output channel names a source. On inputs with fewer than four
//! channels a missing alpha reads as ONE (opaque), and a single-channel image
//! supplies its one channel for R, G and B. DISCARD drops that output channel;
//! the remaining outputs keep their r, g, b, a order and must number 1, 3 or 4.

use crate::error::{OpsError, Result};
use crate::image::{Image, ImageView, Sample};

/// The API's `ChannelSource` numbers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ChannelSource {
    R = 0,
    G = 1,
    B = 2,
    A = 3,
    Zero = 4,
    One = 5,
    Discard = 6,
}

impl ChannelSource {
    pub fn from_code(code: i64) -> Result<Self> {
        Ok(match code {
            0 => Self::R,
            1 => Self::G,
            2 => Self::B,
            3 => Self::A,
            4 => Self::Zero,
            5 => Self::One,
            6 => Self::Discard,
            _ => return Err(OpsError::invalid(format!("unknown channel source {code} (expected 0..6)"))),
        })
    }
}

/// Where one output sample comes from, resolved against the input's channel count.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Pick<T> {
    Input(usize),
    Constant(T),
}

fn resolve<T: Sample>(source: ChannelSource, in_channels: usize) -> Option<Pick<T>> {
    let channel = |i: usize| {
        if in_channels == 1 {
            Pick::Input(0)
        } else {
            Pick::Input(i)
        }
    };
    Some(match source {
        ChannelSource::R => channel(0),
        ChannelSource::G => channel(1),
        ChannelSource::B => channel(2),
        ChannelSource::A if in_channels == 4 => Pick::Input(3),
        ChannelSource::A | ChannelSource::One => Pick::Constant(T::FULL),
        ChannelSource::Zero => Pick::Constant(T::default()),
        ChannelSource::Discard => return None,
    })
}

/// Number of channels `channels` produces from `sources`, or an error.
pub fn output_channels(sources: &[ChannelSource; 4]) -> Result<usize> {
    let kept = sources.iter().filter(|s| **s != ChannelSource::Discard).count();
    if !matches!(kept, 1 | 3 | 4) {
        return Err(OpsError::invalid(format!(
            "channels would produce {kept} channels; only 1, 3 or 4 are supported"
        )));
    }
    Ok(kept)
}

const ROWS_PER_TASK: usize = 16;

pub fn channels<T: Sample>(src: ImageView<'_, T>, sources: &[ChannelSource; 4]) -> Result<Image<T>> {
    let out_channels = output_channels(sources)?;
    let mut out = Image::zeros(src.height, src.width, out_channels);
    channels_into(src, sources, &mut out.data)?;
    Ok(out)
}

/// `channels` into `dst` (height × width × output channels); shared with the pool when large.
pub fn channels_into<T: Sample>(src: ImageView<'_, T>, sources: &[ChannelSource; 4], dst: &mut [T]) -> Result<()> {
    let out_channels = output_channels(sources)?;
    let picks: Vec<Pick<T>> = sources.iter().filter_map(|s| resolve(*s, src.channels)).collect();
    let (in_row, out_row) = (src.row_len(), src.width * out_channels);
    assert_eq!(dst.len(), out_row * src.height);
    let fast = match (byte_rgba_picks(&picks), src.channels, out_channels) {
        (Some(fast), 4, 4) => Some(fast),
        _ => None,
    };
    let work = |(dst, s): (&mut [T], &[T])| {
        if let Some(fast) = &fast {
            // SAFETY of the casts is checked by `byte_rgba_picks`: T is u8.
            let s: &[u8] = bytemuck_u8(s);
            let dst: &mut [u8] = bytemuck_u8_mut(dst);
            swizzle_rgba_u8(s, dst, fast);
        } else {
            generic(s, dst, src.channels, &picks);
        }
    };
    if crate::parallel::worth_parallel(std::mem::size_of_val(dst)) {
        let (out_part, in_part) = (out_row * ROWS_PER_TASK, in_row * ROWS_PER_TASK);
        crate::parallel::share_chunks_mut(dst, out_part, |i, d| {
            let rows = d.len() / out_row;
            work((d, &src.data[i * in_part..][..rows * in_row]));
        });
    } else {
        work((dst, src.data));
    }
    Ok(())
}

fn generic<T: Sample>(src: &[T], dst: &mut [T], in_channels: usize, picks: &[Pick<T>]) {
    let n = picks.len();
    for (o, i) in dst.chunks_exact_mut(n).zip(src.chunks_exact(in_channels)) {
        for (slot, pick) in o.iter_mut().zip(picks) {
            *slot = match *pick {
                Pick::Input(c) => i[c],
                Pick::Constant(v) => v,
            };
        }
    }
}

/// 4→4 byte swizzles as 32-bit words: per output byte a shift, a keep-mask and
/// a constant, the same for every pixel, so the loop vectorises.
#[derive(Clone, Copy)]
struct WordSwizzle {
    shift: [u32; 4],
    keep: [u32; 4],
    constant: [u32; 4],
}

fn byte_rgba_picks<T: Sample>(picks: &[Pick<T>]) -> Option<WordSwizzle> {
    if std::any::TypeId::of::<T>() != std::any::TypeId::of::<u8>() || picks.len() != 4 {
        return None;
    }
    let mut w = WordSwizzle { shift: [0; 4], keep: [0; 4], constant: [0; 4] };
    for (o, pick) in picks.iter().enumerate() {
        match *pick {
            Pick::Input(c) => {
                w.shift[o] = 8 * c as u32;
                w.keep[o] = 0xFF;
            }
            Pick::Constant(v) => w.constant[o] = (v.to_f32() as u32) << (8 * o),
        }
    }
    Some(w)
}

fn bytemuck_u8<T: Sample>(s: &[T]) -> &[u8] {
    assert_eq!(std::mem::size_of::<T>(), 1);
    // SAFETY: only reached for T = u8 (checked by the caller and the size assert).
    unsafe { std::slice::from_raw_parts(s.as_ptr().cast(), s.len()) }
}

fn bytemuck_u8_mut<T: Sample>(s: &mut [T]) -> &mut [u8] {
    assert_eq!(std::mem::size_of::<T>(), 1);
    // SAFETY: as above.
    unsafe { std::slice::from_raw_parts_mut(s.as_mut_ptr().cast(), s.len()) }
}

fn swizzle_rgba_u8(src: &[u8], dst: &mut [u8], w: &WordSwizzle) {
    #[cfg(target_arch = "x86_64")]
    if crate::simd::has_avx2() {
        // SAFETY: the CPU has AVX2.
        return unsafe { swizzle_avx2::swizzle(src, dst, w) };
    }
    swizzle_rgba_u8_words(src, dst, w)
}

crate::simd::multiversion! {
    fn swizzle_rgba_u8_words(src: &[u8], dst: &mut [u8], w: &WordSwizzle) {
        for (o, i) in dst.chunks_exact_mut(4).zip(src.chunks_exact(4)) {
            let px = u32::from_le_bytes([i[0], i[1], i[2], i[3]]);
            let mut word = 0u32;
            for c in 0..4 {
                word |= (((px >> w.shift[c]) & w.keep[c]) << (8 * c)) | w.constant[c];
            }
            o.copy_from_slice(&word.to_le_bytes());
        }
    }
}

/// The 4→4 swizzle as one byte shuffle (`vpshufb`) plus the constants, 8 pixels per register.
#[cfg(target_arch = "x86_64")]
mod swizzle_avx2 {
    use std::arch::x86_64::*;

    use super::WordSwizzle;

    /// # Safety
    /// The CPU must support AVX2.
    #[target_feature(enable = "avx2")]
    pub unsafe fn swizzle(src: &[u8], dst: &mut [u8], w: &WordSwizzle) {
        let mut shuffle = [0u8; 32];
        let mut constant = [0u8; 32];
        for (i, (m, k)) in shuffle.iter_mut().zip(constant.iter_mut()).enumerate() {
            let (px, o) = (i / 4 % 4, i % 4);
            *m = if w.keep[o] != 0 { (4 * px) as u8 + (w.shift[o] / 8) as u8 } else { 0x80 };
            *k = (w.constant[o] >> (8 * o)) as u8;
        }
        let n = src.len().min(dst.len());
        let blocks = n / 32;
        // SAFETY: each block reads and writes 32 bytes below `blocks * 32 ≤ n`.
        unsafe {
            let m = _mm256_loadu_si256(shuffle.as_ptr().cast());
            let k = _mm256_loadu_si256(constant.as_ptr().cast());
            for b in 0..blocks {
                let v = _mm256_loadu_si256(src.as_ptr().add(32 * b).cast());
                let r = _mm256_or_si256(_mm256_shuffle_epi8(v, m), k);
                _mm256_storeu_si256(dst.as_mut_ptr().add(32 * b).cast(), r);
            }
        }
        super::swizzle_rgba_u8_words(&src[blocks * 32..n], &mut dst[blocks * 32..n], w);
    }
}

#[cfg(test)]
mod tests {
    use super::ChannelSource::*;
    use super::*;

    #[test]
    fn long_rows_match_the_word_swizzle() {
        let px: Vec<u8> = (0..4 * 37).map(|i| (i * 7 % 251) as u8).collect();
        let img = ImageView::new(&px, 1, 37, 4).unwrap();
        for sources in [[B, G, R, A], [R, G, B, One], [A, Zero, A, R], [G, G, G, Zero]] {
            let out = channels(img, &sources).unwrap().data;
            let picks: Vec<Pick<u8>> = sources.iter().filter_map(|s| resolve(*s, 4)).collect();
            let w = byte_rgba_picks(&picks).unwrap();
            let mut want = vec![0u8; px.len()];
            swizzle_rgba_u8_words(&px, &mut want, &w);
            assert_eq!(out, want);
        }
    }

    #[test]
    fn swaps_and_fills() {
        let px = [1u8, 2, 3, 4, 5, 6, 7, 8];
        let img = ImageView::new(&px, 1, 2, 4).unwrap();
        assert_eq!(channels(img, &[B, G, R, A]).unwrap().data, vec![3, 2, 1, 4, 7, 6, 5, 8]);
        assert_eq!(channels(img, &[R, G, B, One]).unwrap().data, vec![1, 2, 3, 255, 5, 6, 7, 255]);
        assert_eq!(channels(img, &[A, Zero, A, R]).unwrap().data, vec![4, 0, 4, 1, 8, 0, 8, 5]);
        let out = channels(img, &[A, A, A, Discard]).unwrap();
        assert_eq!((out.channels, out.data), (3, vec![4, 4, 4, 8, 8, 8]));
        let out = channels(img, &[Discard, Discard, G, Discard]).unwrap();
        assert_eq!((out.channels, out.data), (1, vec![2, 6]));
    }

    #[test]
    fn fewer_input_channels() {
        let gray = [9u8, 10];
        let img = ImageView::new(&gray, 1, 2, 1).unwrap();
        assert_eq!(channels(img, &[R, G, B, A]).unwrap().data, vec![9, 9, 9, 255, 10, 10, 10, 255]);
        let rgb = [0.25f32, 0.5, 0.75];
        let img = ImageView::new(&rgb, 1, 1, 3).unwrap();
        assert_eq!(channels(img, &[A, B, Zero, Discard]).unwrap().data, vec![1.0, 0.75, 0.0]);
    }

    #[test]
    fn rejects_two_channel_output() {
        let px = [1u8, 2, 3];
        let img = ImageView::new(&px, 1, 1, 3).unwrap();
        assert!(channels(img, &[R, G, Discard, Discard]).is_err());
        assert!(channels(img, &[Discard; 4]).is_err());
        assert!(ChannelSource::from_code(7).is_err());
    }
}
