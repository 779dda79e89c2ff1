//! The fast PNG mode's deflate: one dynamic-Huffman block per slice that codes
//! literals and runs of zero bytes (a literal zero, then distance-1 matches),
//! with a code fitted to a sample of the slice.
//!
//! Filtered photographs are almost all literals near zero: searching for longer
//! matches (zlib's level 1) costs more time than it saves bytes there. Counting
//! a quarter of the slice, then coding four literals per write into a 64-bit
//! bit buffer, takes about two thirds of fdeflate's time (one fixed table) on
//! the peer benchmark's photograph, at the same size.

use crate::error::{OpsError, Result};

/// Deflate's limit on a code's length.
const MAX_CODE_BITS: u32 = 15;
/// Our limit for literal/length codes: four literals (52 bits) then fit one
/// write into the 64-bit buffer next to the 7 bits it may hold.
const LITERAL_CODE_BITS: u32 = 13;
/// The code is fitted to every `SAMPLE_STRIDE`th block of this many bytes.
const SAMPLE_BLOCK: usize = 4096;
const SAMPLE_STRIDE: usize = 4;
/// Limit on the code-length alphabet's code lengths (3-bit fields).
const MAX_LENGTH_CODE_BITS: u32 = 7;
const END_OF_BLOCK: usize = 256;
/// Literals, end of block and the 29 length codes.
const LITLEN_SYMBOLS: usize = 286;
const MAX_MATCH: usize = 258;
/// Base length and extra bits of length codes 257..=285 (RFC 1951, 3.2.5).
const LENGTH_BASE: [u16; 29] =
    [3, 4, 5, 6, 7, 8, 9, 10, 11, 13, 15, 17, 19, 23, 27, 31, 35, 43, 51, 59, 67, 83, 99, 115, 131, 163, 195, 227, 258];
const LENGTH_EXTRA: [u8; 29] = [0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2, 3, 3, 3, 3, 4, 4, 4, 4, 5, 5, 5, 5, 0];
/// Order in which the code-length alphabet's lengths are sent.
const LENGTH_CODE_ORDER: [usize; 19] = [16, 17, 18, 0, 8, 7, 9, 6, 10, 5, 11, 4, 12, 3, 13, 2, 14, 1, 15];

/// Length code index (0..29) for each match length 3..=258.
const LENGTH_CODE: [u8; MAX_MATCH + 1] = {
    let mut table = [0u8; MAX_MATCH + 1];
    let mut code = 0;
    while code < 28 {
        let mut length = LENGTH_BASE[code] as usize;
        while length < LENGTH_BASE[code] as usize + (1 << LENGTH_EXTRA[code]) && length < MAX_MATCH {
            table[length] = code as u8;
            length += 1;
        }
        code += 1;
    }
    table[MAX_MATCH] = 28; // 258 has its own code (285), not 284 with 31 extra
    table
};

/// Raw deflate of `data` that ends byte-aligned: one dynamic block, final when
/// `last`, else followed by an empty stored block (a sync flush) so slices
/// concatenate. Returns the stream and `data`'s adler32.
pub fn deflate_slice(data: &[u8], last: bool) -> Result<(Vec<u8>, u32)> {
    let lengths = code_lengths(&SymbolCounts::sampled(data), LITERAL_CODE_BITS);
    let codes = canonical_codes(&lengths);
    let table = LiteralTable::new(&lengths, &codes);

    // No byte costs more than one literal code; a match (at most 13 + 5 + 1
    // bits) stands for three bytes or more.
    let mut bytes = vec![0u8; data.len() * LITERAL_CODE_BITS as usize / 8 + HEADER_ROOM];
    let mut out = BitWriter::new(&mut bytes);
    out.put(last as u64, 1);
    out.put(2, 2); // dynamic Huffman codes
    write_code_lengths(&mut out, &lengths)?;
    let mut coder = Coder { out, table: &table };
    scan(data, &mut coder);
    let mut out = coder.out;
    out.put(codes[END_OF_BLOCK] as u64, lengths[END_OF_BLOCK] as u32);
    if !last {
        out.put(0, 3); // empty stored block: BFINAL 0, BTYPE 00, then aligned LEN 0, NLEN 0xFFFF
    }
    let used = out.finish();
    bytes.truncate(used);
    if !last {
        bytes.extend_from_slice(&[0, 0, 0xFF, 0xFF]);
    }
    Ok((bytes, zlib_rs::adler32::adler32(1, data)))
}

/// Room for the block header (at most 3 + 14 + 19·3 + 288·(7 + 7) bits), the
/// end-of-block code, the flush and the writer's 8-byte stores.
const HEADER_ROOM: usize = 1024;

/// What a scan of the data reports: eight literals, single literals, zero runs.
trait Symbols {
    fn eight_literals(&mut self, bytes: &[u8]);
    fn literal(&mut self, byte: u8);
    fn zero_run(&mut self, length: usize);
}

/// Walks the data by 8-byte words: a word of zeros starts or extends a run,
/// which also takes the zeros that open the next word; anything else is
/// literals. Both passes share it, so the counts match what is coded.
#[inline(always)]
fn scan(data: &[u8], sink: &mut impl Symbols) {
    let mut run = 0usize;
    let mut words = data.chunks_exact(8);
    for chunk in &mut words {
        let word = u64::from_le_bytes(chunk.try_into().expect("eight bytes"));
        if word == 0 {
            run += 8;
        } else if run > 0 {
            let leading = (word.trailing_zeros() / 8) as usize;
            sink.zero_run(run + leading);
            run = 0;
            for &byte in &chunk[leading..] {
                sink.literal(byte);
            }
        } else {
            sink.eight_literals(chunk);
        }
    }
    if run > 0 {
        sink.zero_run(run);
    }
    for &byte in words.remainder() {
        sink.literal(byte);
    }
}

/// A run of zeros as deflate codes it here: a literal zero, then matches at
/// distance 1 of at most 258, a remainder under 3 as literal zeros.
#[inline(always)]
fn for_each_run_piece(length: usize, mut piece: impl FnMut(Option<usize>)) {
    piece(None);
    let mut left = length - 1;
    while left >= MAX_MATCH {
        piece(Some(MAX_MATCH));
        left -= MAX_MATCH;
    }
    if left >= 3 {
        piece(Some(left));
    } else {
        for _ in 0..left {
            piece(None);
        }
    }
}

struct SymbolCounts {
    litlen: [u32; LITLEN_SYMBOLS],
    literals: [[u32; 256]; 4],
}

impl SymbolCounts {
    /// Counts over a sample of the data (a quarter of it, in 4 KiB blocks), plus
    /// one for every literal and length symbol, so that each has a code
    /// whatever the rest of the data holds.
    fn sampled(data: &[u8]) -> [u32; LITLEN_SYMBOLS] {
        let mut counts = SymbolCounts { litlen: [1; LITLEN_SYMBOLS], literals: [[0; 256]; 4] };
        for block in data.chunks(SAMPLE_BLOCK).step_by(SAMPLE_STRIDE) {
            scan(block, &mut counts);
        }
        for table in &counts.literals {
            for (total, &count) in counts.litlen.iter_mut().zip(table) {
                *total += count;
            }
        }
        counts.litlen
    }
}

impl Symbols for SymbolCounts {
    #[inline(always)]
    fn eight_literals(&mut self, bytes: &[u8]) {
        // Four tables: runs of one value would otherwise wait on their own increments.
        for quad in bytes.chunks_exact(4) {
            for (table, &byte) in self.literals.iter_mut().zip(quad) {
                table[byte as usize] += 1;
            }
        }
    }

    #[inline(always)]
    fn literal(&mut self, byte: u8) {
        self.literals[0][byte as usize] += 1;
    }

    fn zero_run(&mut self, length: usize) {
        for_each_run_piece(length, |piece| match piece {
            None => self.literals[0][0] += 1,
            Some(length) => self.litlen[257 + LENGTH_CODE[length] as usize] += 1,
        });
    }
}

/// Each literal's code (bit-reversed, as deflate sends it) with its length in the top bits.
struct LiteralTable {
    literal: [u32; 256],
    /// Length symbols: code, its length.
    length: [(u16, u8); 29],
}

impl LiteralTable {
    fn new(lengths: &[u8], codes: &[u16]) -> Self {
        let mut literal = [0u32; 256];
        for (entry, (&code, &bits)) in literal.iter_mut().zip(codes.iter().zip(lengths)) {
            *entry = code as u32 | (bits as u32) << 16;
        }
        let mut length = [(0u16, 0u8); 29];
        for (index, entry) in length.iter_mut().enumerate() {
            *entry = (codes[257 + index], lengths[257 + index]);
        }
        LiteralTable { literal, length }
    }

    /// Two literals' codes joined, and their total length (at most 26 bits).
    #[inline(always)]
    fn pair(&self, first: u8, second: u8) -> (u64, u32) {
        let a = self.literal[first as usize];
        let b = self.literal[second as usize];
        let a_bits = a >> 16;
        (((a & 0xFFFF) | (b & 0xFFFF) << a_bits) as u64, a_bits + (b >> 16))
    }
}

struct Coder<'a> {
    out: BitWriter<'a>,
    table: &'a LiteralTable,
}

impl Symbols for Coder<'_> {
    #[inline(always)]
    fn eight_literals(&mut self, bytes: &[u8]) {
        for quad in bytes.chunks_exact(4) {
            let (low, low_bits) = self.table.pair(quad[0], quad[1]);
            let (high, high_bits) = self.table.pair(quad[2], quad[3]);
            self.out.put(low | high << low_bits, low_bits + high_bits);
        }
    }

    #[inline(always)]
    fn literal(&mut self, byte: u8) {
        let entry = self.table.literal[byte as usize];
        self.out.put((entry & 0xFFFF) as u64, entry >> 16);
    }

    #[inline(always)]
    fn zero_run(&mut self, length: usize) {
        let table = self.table;
        let out = &mut self.out;
        for_each_run_piece(length, |piece| match piece {
            None => {
                let entry = table.literal[0];
                out.put((entry & 0xFFFF) as u64, entry >> 16);
            }
            Some(length) => {
                let index = LENGTH_CODE[length] as usize;
                let (code, bits) = table.length[index];
                let extra_bits = LENGTH_EXTRA[index] as u32;
                let extra = (length - LENGTH_BASE[index] as usize) as u64;
                // the length code, its extra bits, then distance code 0 (one bit, 0: distance 1)
                out.put(code as u64 | extra << bits, bits as u32 + extra_bits + 1);
            }
        });
    }
}

/// LSB-first bit output into a buffer sized beforehand; a put takes at most
/// 56 bits. Every put stores the whole 64-bit buffer at the write position and
/// moves on by the bytes it completed: no branch on the buffer's fill.
struct BitWriter<'a> {
    bytes: &'a mut [u8],
    at: usize,
    bits: u64,
    count: u32,
}

impl<'a> BitWriter<'a> {
    fn new(bytes: &'a mut [u8]) -> Self {
        BitWriter { bytes, at: 0, bits: 0, count: 0 }
    }

    #[inline(always)]
    fn put(&mut self, value: u64, bits: u32) {
        debug_assert!(bits <= 56 && value >> bits == 0 && self.count < 8);
        self.bits |= value << self.count;
        self.count += bits;
        let slot: &mut [u8; 8] = (&mut self.bytes[self.at..self.at + 8]).try_into().expect("eight bytes");
        *slot = self.bits.to_le_bytes();
        let whole = self.count / 8;
        self.at += whole as usize;
        self.bits >>= whole * 8;
        self.count -= whole * 8;
    }

    /// Bytes used, the last one padded with zero bits (already stored).
    fn finish(self) -> usize {
        self.at + self.count.div_ceil(8) as usize
    }
}

/// The block header after BTYPE: HLIT, HDIST, HCLEN and the code lengths,
/// run-length coded with the code-length alphabet.
fn write_code_lengths(out: &mut BitWriter<'_>, litlen: &[u8]) -> Result<()> {
    let used = litlen.iter().rposition(|&bits| bits > 0).map_or(0, |last| last + 1).max(257);
    // Two distance codes of one bit each: a complete code, as every inflater
    // accepts; only code 0 (distance 1) is used.
    let mut sequence: Vec<u8> = litlen[..used].to_vec();
    sequence.extend_from_slice(&[1, 1]);
    let symbols = run_length_code(&sequence);

    let mut counts = [0u32; 19];
    for &(symbol, _) in &symbols {
        counts[symbol as usize] += 1;
    }
    if counts.iter().filter(|&&count| count > 0).count() < 2 {
        // A one-symbol code would be incomplete, which inflaters refuse here.
        let spare = if counts[0] == 0 { 0 } else { 1 };
        counts[spare] = 1;
    }
    let lengths = code_lengths(&counts, MAX_LENGTH_CODE_BITS);
    let codes = canonical_codes(&lengths);
    let sent = LENGTH_CODE_ORDER.iter().rposition(|&symbol| lengths[symbol] > 0).map_or(0, |last| last + 1).max(4);

    out.put((used - 257) as u64, 5);
    out.put(1, 5); // HDIST: two distance codes
    out.put((sent - 4) as u64, 4);
    for &symbol in &LENGTH_CODE_ORDER[..sent] {
        out.put(lengths[symbol] as u64, 3);
    }
    for (symbol, extra) in symbols {
        let index = symbol as usize;
        if lengths[index] == 0 {
            return Err(OpsError::invalid("deflate: code-length symbol without a code"));
        }
        out.put(codes[index] as u64, lengths[index] as u32);
        match symbol {
            16 => out.put(extra as u64, 2),
            17 => out.put(extra as u64, 3),
            18 => out.put(extra as u64, 7),
            _ => {}
        }
    }
    Ok(())
}

/// Code lengths as code-length symbols with their extra-bit values: 16 repeats
/// the previous length 3–6 times, 17 and 18 give 3–10 and 11–138 zeros.
fn run_length_code(lengths: &[u8]) -> Vec<(u8, u8)> {
    let mut symbols = Vec::new();
    let mut at = 0;
    while at < lengths.len() {
        let value = lengths[at];
        let run = lengths[at..].iter().take_while(|&&other| other == value).count();
        let mut left = run;
        if value == 0 {
            while left >= 11 {
                let take = left.min(138);
                symbols.push((18, (take - 11) as u8));
                left -= take;
            }
            if left >= 3 {
                symbols.push((17, (left - 3) as u8));
                left = 0;
            }
        } else {
            symbols.push((value, 0));
            left -= 1;
            while left >= 3 {
                let take = left.min(6);
                symbols.push((16, (take - 3) as u8));
                left -= take;
            }
        }
        symbols.extend(std::iter::repeat_n((value, 0), left));
        at += run;
    }
    symbols
}

/// Huffman code lengths for `counts`, none over `limit`: where the optimal code
/// is deeper, the counts are flattened (halved, kept non-zero) and it is built
/// again. Symbols with a zero count get no code. At least two symbols must count.
fn code_lengths(counts: &[u32], limit: u32) -> Vec<u8> {
    let mut weights: Vec<u64> = counts.iter().map(|&count| count as u64).collect();
    loop {
        let lengths = huffman_lengths(&weights);
        if lengths.iter().all(|&bits| bits as u32 <= limit) {
            return lengths;
        }
        for weight in weights.iter_mut().filter(|weight| **weight > 0) {
            *weight = (*weight >> 1) | 1;
        }
    }
}

/// Optimal (unlimited) code lengths by the two-queue Huffman construction.
fn huffman_lengths(weights: &[u64]) -> Vec<u8> {
    let mut leaves: Vec<(u64, usize)> =
        weights.iter().enumerate().filter(|(_, &weight)| weight > 0).map(|(symbol, &weight)| (weight, symbol)).collect();
    leaves.sort_unstable();
    let mut lengths = vec![0u8; weights.len()];
    let n = leaves.len();
    if n == 1 {
        lengths[leaves[0].1] = 1;
    }
    if n <= 1 {
        return lengths;
    }
    // Nodes 0..n are the leaves in weight order, n.. the merged nodes, made in
    // non-decreasing weight order, so the two lightest are at the queues' heads.
    let mut weight: Vec<u64> = leaves.iter().map(|&(weight, _)| weight).collect();
    let mut parent = vec![0usize; 2 * n - 1];
    let (mut next_leaf, mut next_node) = (0, n);
    for _ in 0..n - 1 {
        let mut pick = || {
            let take_leaf = next_leaf < n && (next_node >= weight.len() || weight[next_leaf] <= weight[next_node]);
            if take_leaf {
                next_leaf += 1;
                next_leaf - 1
            } else {
                next_node += 1;
                next_node - 1
            }
        };
        let (a, b) = (pick(), pick());
        let merged = weight.len();
        parent[a] = merged;
        parent[b] = merged;
        weight.push(weight[a] + weight[b]);
    }
    let mut depth = vec![0u32; 2 * n - 1];
    for node in (0..2 * n - 2).rev() {
        depth[node] = depth[parent[node]] + 1;
    }
    for (leaf, &(_, symbol)) in leaves.iter().enumerate() {
        lengths[symbol] = depth[leaf].min(u8::MAX as u32) as u8;
    }
    lengths
}

/// Canonical codes for `lengths` (RFC 1951, 3.2.2), bit-reversed for LSB-first output.
fn canonical_codes(lengths: &[u8]) -> Vec<u16> {
    let mut per_length = [0u16; MAX_CODE_BITS as usize + 1];
    for &bits in lengths.iter().filter(|&&bits| bits > 0) {
        per_length[bits as usize] += 1;
    }
    let mut next = [0u16; MAX_CODE_BITS as usize + 1];
    let mut code = 0u16;
    for bits in 1..=MAX_CODE_BITS as usize {
        code = (code + per_length[bits - 1]) << 1;
        next[bits] = code;
    }
    lengths
        .iter()
        .map(|&bits| {
            if bits == 0 {
                return 0;
            }
            let code = next[bits as usize];
            next[bits as usize] += 1;
            code.reverse_bits() >> (16 - bits as u32)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn inflate(stream: &[u8], size: usize) -> Vec<u8> {
        // zlib-rs's inflater (zlib's own checks), raw deflate: window_bits -15
        let mut out = vec![0u8; size + 16];
        let config = zlib_rs::InflateConfig { window_bits: -15 };
        let (done, code) = zlib_rs::decompress_slice(&mut out, stream, config);
        assert_eq!(code, zlib_rs::ReturnCode::Ok, "zlib refused the stream");
        done.to_vec()
    }

    fn noisy(len: usize, seed: u64, zero_share: u64) -> Vec<u8> {
        let mut state = seed;
        (0..len)
            .map(|_| {
                state = state.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
                let r = state >> 33;
                if r % 100 < zero_share { 0 } else { (r >> 8) as u8 % 9 }
            })
            .collect()
    }

    #[test]
    fn zlib_inflates_every_kind_of_slice() {
        let mut cases: Vec<Vec<u8>> = vec![
            vec![0],
            vec![7],
            vec![0; 3],
            vec![0; 9],
            vec![0; 100_000],
            vec![5; 100_000],
            (0..=255).collect(),
            (0..70_000u32).map(|i| (i % 251) as u8).collect(),
        ];
        for len in [1, 7, 8, 15, 16, 17, 263, 1000, 65_537] {
            for share in [0, 30, 90, 99] {
                cases.push(noisy(len, len as u64 * 31 + share, share));
            }
        }
        // runs whose length lands on every remainder of 258 and crosses words
        for run in [8, 9, 10, 11, 259, 260, 261, 516, 517, 518, 519, 1000] {
            let mut data = vec![3u8; 5];
            data.extend(std::iter::repeat_n(0, run));
            data.extend_from_slice(&[1, 0, 0, 2]);
            cases.push(data);
        }
        for data in cases {
            let (stream, adler) = deflate_slice(&data, true).unwrap();
            assert_eq!(inflate(&stream, data.len()), data, "len {}", data.len());
            assert_eq!(adler, zlib_rs::adler32::adler32(1, &data));
        }
    }

    #[test]
    fn slices_concatenate_into_one_stream() {
        for len in 1..120usize {
            let data = noisy(len * 37, len as u64, (len % 5) as u64 * 20);
            let cut = data.len() / 3 + 1;
            let (head, tail) = data.split_at(cut);
            let (mut stream, _) = deflate_slice(head, false).unwrap();
            stream.extend_from_slice(&deflate_slice(tail, true).unwrap().0);
            assert_eq!(inflate(&stream, data.len()), data, "len {}", data.len());
        }
    }

    #[test]
    fn code_lengths_respect_the_limit_and_stay_complete() {
        // Fibonacci counts make the optimal code as deep as the alphabet.
        let mut counts = vec![0u32; 40];
        let (mut a, mut b) = (1u32, 1u32);
        for count in counts.iter_mut() {
            *count = a;
            (a, b) = (b, a.saturating_add(b));
        }
        for limit in [7, 15] {
            let lengths = code_lengths(&counts, limit);
            assert!(lengths.iter().all(|&bits| bits >= 1 && bits as u32 <= limit), "{lengths:?}");
            let kraft: f64 = lengths.iter().map(|&bits| 0.5f64.powi(bits as i32)).sum();
            assert!((kraft - 1.0).abs() < 1e-12, "kraft sum {kraft}");
        }
    }

    #[test]
    fn length_codes_cover_every_match_length() {
        for length in 3..=MAX_MATCH {
            let index = LENGTH_CODE[length] as usize;
            let base = LENGTH_BASE[index] as usize;
            assert!(length >= base && length - base < 1 << LENGTH_EXTRA[index], "length {length}");
        }
        assert_eq!(LENGTH_CODE[MAX_MATCH], 28);
    }
}
