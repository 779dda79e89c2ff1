//! PNG encoding and decoding.
//!
//! Decoding uses the `png` crate after checking the header's dimensions
//! against the caller's pixel limit, so a tiny file that declares a huge image
//! is refused before anything is allocated. Output is 8-bit: palettes and
//! low bit depths are expanded, 16-bit is stripped to its high byte, and
//! grey+alpha becomes RGBA (the kernels take 1, 3 or 4 channels).
//!
//! Encoding filters rows adaptively (minimum sum of absolute differences, as
//! libpng and Pillow do); rows are split into slices that are filtered and
//! compressed on separate threads (the caller and pool threads as they wake)
//! and joined with sync flushes into one zlib stream. The default mode
//! deflates with zlib-rs at level 1 with the RLE strategy, the fast mode with
//! `literal_deflate` (literals and runs of zeros, a Huffman code fitted to
//! each slice).
use std::io::Cursor;

use zlib_rs::{Deflate, DeflateConfig, DeflateFlush, Method, Strategy};

use crate::error::{OpsError, Result};
use crate::image::{Image, ImageView};
use crate::literal_deflate;

const SIGNATURE: [u8; 8] = [0x89, b'P', b'N', b'G', b'\r', b'\n', 0x1a, b'\n'];
/// Rows of filtered data each thread compresses at least (smaller slices cost ratio).
const MIN_SLICE_BYTES: usize = 256 * 1024;
/// Slices per pool thread: a thread that wakes late still finds one to take.
const SLICES_PER_THREAD: usize = 2;
/// Largest IDAT chunk written.
const IDAT_CHUNK: usize = 1 << 20;

/// Width and height from the IHDR chunk, without decoding anything else.
pub fn png_info(data: &[u8]) -> Result<(u32, u32)> {
    if data.len() < 8 || data[..8] != SIGNATURE {
        return Err(OpsError::Decode("not a PNG file (bad signature)".into()));
    }
    if data.len() < 33 {
        return Err(OpsError::Decode("truncated PNG header".into()));
    }
    let length = u32::from_be_bytes(data[8..12].try_into().unwrap());
    if length != 13 || &data[12..16] != b"IHDR" {
        return Err(OpsError::Decode("PNG does not start with an IHDR chunk".into()));
    }
    let width = u32::from_be_bytes(data[16..20].try_into().unwrap());
    let height = u32::from_be_bytes(data[20..24].try_into().unwrap());
    if width == 0 || height == 0 || width > i32::MAX as u32 || height > i32::MAX as u32 {
        return Err(OpsError::Decode(format!("invalid PNG dimensions {width}x{height}")));
    }
    Ok((width, height))
}

fn decode_error(e: png::DecodingError) -> OpsError {
    match e {
        png::DecodingError::LimitsExceeded => OpsError::TooLarge("PNG needs more memory than allowed".into()),
        other => OpsError::Decode(format!("corrupt or truncated PNG: {other}")),
    }
}

/// Decodes to an H×W×C `u8` image (C = 1, 3 or 4).
pub fn decode_png(data: &[u8], max_pixels: u64) -> Result<Image<u8>> {
    let (width, height) = png_info(data)?;
    let pixels = width as u64 * height as u64;
    if pixels > max_pixels {
        return Err(OpsError::TooLarge(format!(
            "PNG is {width}x{height} ({pixels} pixels), above the limit of {max_pixels}"
        )));
    }
    // Room for the 8-bit output plus the decoder's own row and metadata buffers.
    let budget = (pixels as usize).saturating_mul(16).saturating_add(64 << 20);
    let mut decoder = png::Decoder::new_with_limits(Cursor::new(data), png::Limits { bytes: budget });
    decoder.set_transformations(png::Transformations::EXPAND | png::Transformations::STRIP_16);
    let mut reader = decoder.read_info().map_err(decode_error)?;
    let size = reader
        .output_buffer_size()
        .ok_or_else(|| OpsError::TooLarge("PNG output does not fit in memory".into()))?;
    let mut buf = vec![0u8; size];
    let frame = reader.next_frame(&mut buf).map_err(decode_error)?;
    buf.truncate(frame.buffer_size());
    let (h, w) = (frame.height as usize, frame.width as usize);
    match frame.color_type {
        png::ColorType::Grayscale => Image::new(buf, h, w, 1),
        png::ColorType::Rgb => Image::new(buf, h, w, 3),
        png::ColorType::Rgba => Image::new(buf, h, w, 4),
        png::ColorType::GrayscaleAlpha => {
            let rgba = buf.chunks_exact(2).flat_map(|p| [p[0], p[0], p[0], p[1]]).collect();
            Image::new(rgba, h, w, 4)
        }
        png::ColorType::Indexed => Err(OpsError::Decode("palette was not expanded".into())),
    }
}

fn colour_type(channels: usize) -> u8 {
    match channels {
        1 => 0,
        3 => 2,
        _ => 6,
    }
}

/// A PNG keyword: 1–79 Latin-1 characters, no leading/trailing/double spaces.
fn check_keyword(keyword: &str) -> Result<()> {
    let ok = (1..=79).contains(&keyword.chars().count())
        && keyword.chars().all(|c| (' '..='~').contains(&c) || ('\u{a1}'..='\u{ff}').contains(&c))
        && !keyword.starts_with(' ')
        && !keyword.ends_with(' ')
        && !keyword.contains("  ");
    if ok {
        Ok(())
    } else {
        Err(OpsError::invalid(format!("{keyword:?} is not a valid PNG text keyword (1-79 Latin-1 characters)")))
    }
}

fn is_latin1(text: &str) -> bool {
    text.chars().all(|c| c == '\n' || (' '..='~').contains(&c) || ('\u{a1}'..='\u{ff}').contains(&c))
}

/// Encodes an 8-bit image; `text` becomes tEXt chunks (iTXt when not Latin-1).
pub fn encode_png(img: ImageView<'_, u8>, fast: bool, text: &[(String, String)]) -> Result<Vec<u8>> {
    for (keyword, _) in text {
        check_keyword(keyword)?;
    }
    if img.width > i32::MAX as usize || img.height > i32::MAX as usize {
        return Err(OpsError::invalid("image too large for PNG"));
    }
    if fast {
        encode_sliced(img, text, literal_deflate::deflate_slice, FAST_CHOICE_ROWS)
    } else {
        encode_sliced(img, text, deflate_rle, 1)
    }
}

/// The fast mode picks a row's filter by trying all five on every
/// `FAST_CHOICE_ROWS`th row only and applies that choice to the rows up to
/// the next: photographs change little from one row to the next, and the
/// trials were half of the encoder's time (see docs/imageops.md).
const FAST_CHOICE_ROWS: usize = 4;

fn write_chunk(out: &mut Vec<u8>, kind: &[u8; 4], body: &[u8]) {
    write_chunk_of(out, kind, &[body]);
}

/// A chunk whose data is `pieces` back to back.
fn write_chunk_of(out: &mut Vec<u8>, kind: &[u8; 4], pieces: &[&[u8]]) {
    let length: usize = pieces.iter().map(|piece| piece.len()).sum();
    out.extend_from_slice(&(length as u32).to_be_bytes());
    let start = out.len();
    out.extend_from_slice(kind);
    for piece in pieces {
        out.extend_from_slice(piece);
    }
    let crc = zlib_rs::crc32::crc32(0, &out[start..]);
    out.extend_from_slice(&crc.to_be_bytes());
}

/// The zlib stream `pieces` (back to back) as IDAT chunks of at most `IDAT_CHUNK` bytes.
fn write_idat_chunks(out: &mut Vec<u8>, pieces: &[&[u8]]) {
    let mut chunk: Vec<&[u8]> = Vec::new();
    let mut room = IDAT_CHUNK;
    for &piece in pieces {
        let mut rest = piece;
        while !rest.is_empty() {
            let (taken, left) = rest.split_at(room.min(rest.len()));
            chunk.push(taken);
            room -= taken.len();
            rest = left;
            if room == 0 {
                write_chunk_of(out, b"IDAT", &chunk);
                chunk.clear();
                room = IDAT_CHUNK;
            }
        }
    }
    if !chunk.is_empty() {
        write_chunk_of(out, b"IDAT", &chunk);
    }
}

fn text_chunk(keyword: &str, value: &str) -> (&'static [u8; 4], Vec<u8>) {
    let mut body = Vec::new();
    if is_latin1(value) {
        body.extend(keyword.chars().map(|c| c as u8));
        body.push(0);
        body.extend(value.chars().map(|c| c as u8));
        (b"tEXt", body)
    } else {
        // keyword, NUL, compression flag 0, method 0, empty language, NUL, empty translated keyword, NUL, UTF-8.
        body.extend(keyword.chars().map(|c| c as u8));
        body.extend_from_slice(&[0, 0, 0, 0, 0]);
        body.extend_from_slice(value.as_bytes());
        (b"iTXt", body)
    }
}

/// Compresses one slice of filtered rows into raw deflate that ends
/// byte-aligned (the last slice with a final block); returns it with the
/// slice's adler32.
type SliceDeflate = fn(&[u8], bool) -> Result<(Vec<u8>, u32)>;

/// A slice's deflate stream, the adler32 and length of its filtered rows.
type EncodedSlice = (Vec<u8>, u32, usize);

/// Encodes with `deflate`, choosing the filter on every `choice_rows`th row
/// of each slice (and reusing it for the rows in between).
fn encode_sliced(
    img: ImageView<'_, u8>,
    text: &[(String, String)],
    deflate: SliceDeflate,
    choice_rows: usize,
) -> Result<Vec<u8>> {
    let row_len = img.row_len();
    let bpp = img.channels;
    let stride = row_len + 1;
    let total = stride * img.height;
    let threads = crate::parallel::num_threads();
    let slices = (total / MIN_SLICE_BYTES).clamp(1, SLICES_PER_THREAD * threads);
    let rows_per_slice = img.height.div_ceil(slices);
    let starts: Vec<usize> = (0..img.height).step_by(rows_per_slice).collect();

    // Each slice: filtered rows, their adler32, and a raw deflate stream that
    // ends byte-aligned (sync flush) so the streams concatenate.
    let encode_slice = |y0: usize| -> Result<EncodedSlice> {
        let y1 = (y0 + rows_per_slice).min(img.height);
        let mut filtered = vec![0u8; (y1 - y0) * stride];
        let mut scratch = vec![0u8; row_len];
        let mut kind = 0;
        for (y, dst) in (y0..y1).zip(filtered.chunks_exact_mut(stride)) {
            let above = if y == 0 { None } else { Some(img.row(y - 1)) };
            kind = match above {
                Some(above) if !(y - y0).is_multiple_of(choice_rows) => apply_filter(kind, img.row(y), above, bpp, dst),
                _ => filter_row(img.row(y), above, bpp, dst, &mut scratch),
            };
        }
        let (deflated, adler) = deflate(&filtered, y1 == img.height)?;
        Ok((deflated, adler, filtered.len()))
    };
    // The calling thread starts on the first slice; pool threads take the others as they wake.
    let mut parts: Vec<Option<Result<EncodedSlice>>> = starts.iter().map(|_| None).collect();
    crate::parallel::share_chunks_mut(&mut parts, 1, |i, part| part[0] = Some(encode_slice(starts[i])));
    let parts = parts.into_iter().map(|part| part.expect("every slice was encoded"));

    let mut deflated = Vec::with_capacity(starts.len());
    let mut adler = 1u32;
    for part in parts {
        let (part_deflated, part_adler, len) = part?;
        deflated.push(part_deflated);
        adler = zlib_rs::adler32::adler32_combine(adler, part_adler, len as u64);
    }
    let adler = adler.to_be_bytes();
    // The zlib stream: header, the slices' deflate, adler32; IDAT chunks are cut from it in place.
    let mut zlib: Vec<&[u8]> = vec![&[0x78, 0x01]];
    zlib.extend(deflated.iter().map(Vec::as_slice));
    zlib.push(&adler);
    let zlib_len: usize = zlib.iter().map(|piece| piece.len()).sum();

    let mut out = Vec::with_capacity(zlib_len + zlib_len.div_ceil(IDAT_CHUNK) * 12 + 1024);
    out.extend_from_slice(&SIGNATURE);
    let mut ihdr = Vec::with_capacity(13);
    ihdr.extend_from_slice(&(img.width as u32).to_be_bytes());
    ihdr.extend_from_slice(&(img.height as u32).to_be_bytes());
    ihdr.extend_from_slice(&[8, colour_type(img.channels), 0, 0, 0]);
    write_chunk(&mut out, b"IHDR", &ihdr);
    for (keyword, value) in text {
        let (kind, body) = text_chunk(keyword, value);
        write_chunk(&mut out, kind, &body);
    }
    write_idat_chunks(&mut out, &zlib);
    write_chunk(&mut out, b"IEND", &[]);
    Ok(out)
}

/// Raw deflate (no zlib header) at level 1 with the RLE strategy.
fn deflate_rle(data: &[u8], last: bool) -> Result<(Vec<u8>, u32)> {
    let config = DeflateConfig {
        level: 1,
        method: Method::Deflated,
        window_bits: -15,
        mem_level: 8,
        strategy: Strategy::Rle,
    };
    let mut stream = Deflate::new_with_config(config);
    let mut out = vec![0u8; zlib_rs::compress_bound(data.len()) + 64];
    let flush = if last { DeflateFlush::Finish } else { DeflateFlush::SyncFlush };
    stream
        .compress(data, &mut out, flush)
        .map_err(|e| OpsError::invalid(format!("deflate failed: {e:?}")))?;
    if stream.total_in() as usize != data.len() {
        return Err(OpsError::invalid("deflate did not consume its input"));
    }
    out.truncate(stream.total_out() as usize);
    Ok((out, zlib_rs::adler32::adler32(1, data)))
}

/// A PNG row filter: (row, row above, bytes per pixel, output).
type RowFilter = fn(&[u8], &[u8], usize, &mut [u8]);

/// Writes the filter byte and the row filtered by filter `kind`; returns `kind`.
fn apply_filter(kind: u8, row: &[u8], above: &[u8], bpp: usize, dst: &mut [u8]) -> u8 {
    let (code, body) = dst.split_first_mut().unwrap();
    *code = kind;
    match kind {
        1 => sub(row, bpp, body),
        2 => up(row, above, bpp, body),
        3 => average(row, above, bpp, body),
        4 => paeth(row, above, bpp, body),
        _ => body.copy_from_slice(row),
    }
    kind
}

/// Writes the filter byte and the filtered row that minimises the sum of
/// absolute (signed) residuals; returns the filter's code.
fn filter_row(row: &[u8], above: Option<&[u8]>, bpp: usize, dst: &mut [u8], scratch: &mut [u8]) -> u8 {
    write_best_filter(row, above, bpp, dst, scratch);
    dst[0]
}

fn write_best_filter(row: &[u8], above: Option<&[u8]>, bpp: usize, dst: &mut [u8], scratch: &mut [u8]) {
    let (kind, body) = dst.split_first_mut().unwrap();
    let Some(above) = above else {
        // First row: only None and Sub are meaningful; Sub almost always wins on images.
        let none = cost(row);
        sub(row, bpp, scratch);
        if cost(scratch) < none {
            *kind = 1;
            body.copy_from_slice(scratch);
        } else {
            *kind = 0;
            body.copy_from_slice(row);
        }
        return;
    };
    *kind = 0;
    body.copy_from_slice(row);
    let mut best = cost(row);
    let candidates: [(u8, RowFilter); 4] =
        [(1, |r, _, b, o| sub(r, b, o)), (2, up), (3, average), (4, paeth)];
    for (code, apply) in candidates {
        apply(row, above, bpp, scratch);
        let c = cost(scratch);
        if c < best {
            best = c;
            *kind = code;
            body.copy_from_slice(scratch);
        }
    }
}

crate::simd::multiversion! {
    fn cost(residuals: &[u8]) -> u64 {
        let mut total = 0u64;
        for block in residuals.chunks(4096) {
            let mut sum = 0u32;
            for &v in block {
                sum += (v as i8).unsigned_abs() as u32;
            }
            total += sum as u64;
        }
        total
    }
}

crate::simd::multiversion! {
    fn sub(row: &[u8], bpp: usize, out: &mut [u8]) {
        out[..bpp].copy_from_slice(&row[..bpp]);
        for ((o, &x), &a) in out[bpp..].iter_mut().zip(&row[bpp..]).zip(row) {
            *o = x.wrapping_sub(a);
        }
    }
}

crate::simd::multiversion! {
    fn up(row: &[u8], above: &[u8], _bpp: usize, out: &mut [u8]) {
        for ((o, &x), &b) in out.iter_mut().zip(row).zip(above) {
            *o = x.wrapping_sub(b);
        }
    }
}

crate::simd::multiversion! {
    fn average(row: &[u8], above: &[u8], bpp: usize, out: &mut [u8]) {
        for i in 0..bpp {
            out[i] = row[i].wrapping_sub(above[i] >> 1);
        }
        for (((o, &x), &a), &b) in out[bpp..].iter_mut().zip(&row[bpp..]).zip(row).zip(&above[bpp..]) {
            *o = x.wrapping_sub(((a as u16 + b as u16) >> 1) as u8);
        }
    }
}

crate::simd::multiversion! {
    fn paeth(row: &[u8], above: &[u8], bpp: usize, out: &mut [u8]) {
        for i in 0..bpp {
            out[i] = row[i].wrapping_sub(above[i]);
        }
        let lefts = row.iter().zip(above);
        for ((o, (&x, &b)), (&a, &c)) in out[bpp..].iter_mut().zip(row[bpp..].iter().zip(&above[bpp..])).zip(lefts) {
            let (a16, b16, c16) = (a as i16, b as i16, c as i16);
            let pa = (b16 - c16).abs();
            let pb = (a16 - c16).abs();
            let pc = (a16 + b16 - 2 * c16).abs();
            let predicted = if pa <= pb && pa <= pc { a } else if pb <= pc { b } else { c };
            *o = x.wrapping_sub(predicted);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn photo_like(h: usize, w: usize, c: usize) -> Vec<u8> {
        let mut s = 12345u64;
        (0..h * w * c)
            .map(|i| {
                s = s.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
                let (y, x) = (i / (w * c), i / c % w);
                ((x * 3 + y * 2 + (i % c) * 40) as u64 + (s >> 61)) as u8
            })
            .collect()
    }

    #[test]
    fn round_trips_every_channel_count_in_both_modes() {
        for c in [1, 3, 4] {
            for (h, w) in [(1, 1), (7, 13), (300, 257)] {
                let px = photo_like(h, w, c);
                let img = ImageView::new(&px, h, w, c).unwrap();
                for fast in [false, true] {
                    let text = vec![("parameters".to_string(), "seed 1, ünïcode ✓".to_string())];
                    let data = encode_png(img, fast, &text).unwrap();
                    assert_eq!(png_info(&data).unwrap(), (w as u32, h as u32));
                    let back = decode_png(&data, u64::MAX).unwrap();
                    assert_eq!((back.height, back.width, back.channels), (h, w, c));
                    assert_eq!(back.data, px, "c={c} {h}x{w} fast={fast}");
                }
            }
        }
    }

    #[test]
    fn both_modes_split_large_images_into_one_valid_stream() {
        let (h, w, c) = (1100, 300, 3);
        let px = photo_like(h, w, c);
        let img = ImageView::new(&px, h, w, c).unwrap();
        for fast in [false, true] {
            let data = crate::parallel::run(|| encode_png(img, fast, &[]).unwrap());
            assert_eq!(decode_png(&data, u64::MAX).unwrap().data, px, "fast={fast}");
        }
    }

    #[test]
    fn streams_over_one_idat_chunk_are_split_and_read_back() {
        // Noise barely compresses: 1.7 MB of deflate, two slices, two IDAT chunks.
        let (h, w, c) = (600, 1000, 3);
        let mut state = 7u64;
        let px: Vec<u8> = (0..h * w * c)
            .map(|_| {
                state = state.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
                (state >> 56) as u8
            })
            .collect();
        let img = ImageView::new(&px, h, w, c).unwrap();
        for fast in [false, true] {
            let data = crate::parallel::run(|| encode_png(img, fast, &[("k".into(), "v".into())]).unwrap());
            let idat_chunks = data.windows(4).filter(|window| window == b"IDAT").count();
            assert!(idat_chunks >= 2, "fast={fast}: {idat_chunks} IDAT chunks");
            assert_eq!(decode_png(&data, u64::MAX).unwrap().data, px, "fast={fast}");
        }
    }

    #[test]
    fn fast_filter_choice_every_few_rows_costs_little_size() {
        // Smooth gradients with noise and an edge every 7 rows (stale choices there).
        let (h, w, c) = (400, 300, 3);
        let mut px = photo_like(h, w, c);
        for y in (0..h).step_by(7) {
            for v in &mut px[y * w * c..(y + 1) * w * c] {
                *v = 255 - *v;
            }
        }
        let img = ImageView::new(&px, h, w, c).unwrap();
        let every_row = encode_sliced(img, &[], literal_deflate::deflate_slice, 1).unwrap();
        let sampled = encode_sliced(img, &[], literal_deflate::deflate_slice, FAST_CHOICE_ROWS).unwrap();
        assert_eq!(decode_png(&sampled, u64::MAX).unwrap().data, px);
        let growth = sampled.len() as f64 / every_row.len() as f64;
        assert!(growth <= 1.03, "{} vs {} bytes", sampled.len(), every_row.len());
    }

    #[test]
    fn refuses_oversize_headers_before_decoding() {
        let px = [0u8; 3];
        let mut data = encode_png(ImageView::new(&px, 1, 1, 3).unwrap(), false, &[]).unwrap();
        data[16..20].copy_from_slice(&50000u32.to_be_bytes());
        data[20..24].copy_from_slice(&50000u32.to_be_bytes());
        assert!(matches!(decode_png(&data, 1 << 26), Err(OpsError::TooLarge(_))));
        assert_eq!(png_info(&data).unwrap(), (50000, 50000));
    }

    #[test]
    fn corrupt_and_truncated_inputs_are_decode_errors() {
        let px = photo_like(20, 20, 4);
        let data = encode_png(ImageView::new(&px, 20, 20, 4).unwrap(), false, &[]).unwrap();
        for cut in [0, 5, 20, 40, data.len() / 2, data.len() - 13] {
            assert!(matches!(decode_png(&data[..cut], u64::MAX), Err(OpsError::Decode(_))), "cut {cut}");
        }
        let mut bad = data.clone();
        let mid = bad.len() / 2;
        bad[mid] ^= 0x55;
        assert!(matches!(decode_png(&bad, u64::MAX), Err(OpsError::Decode(_))));
        assert!(matches!(decode_png(b"GIF89a", u64::MAX), Err(OpsError::Decode(_))));
    }

    #[test]
    fn rejects_bad_keywords() {
        let px = [0u8];
        let img = ImageView::new(&px, 1, 1, 1).unwrap();
        assert!(encode_png(img, false, &[("".into(), "x".into())]).is_err());
        assert!(encode_png(img, true, &[(" lead".into(), "x".into())]).is_err());
    }
}
