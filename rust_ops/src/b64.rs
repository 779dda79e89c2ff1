//! Base64 for the wire codec, on `base64-simd` (AVX2/SSSE3/NEON picked at run time).
//!
//! Encoding: standard alphabet, padded. Decoding accepts the standard or (when
//! allowed) the URL-safe alphabet, padded or not; anything else is an error
//! (no whitespace skipping, no mixed alphabets).
use base64_simd::{AsOut, Base64};

use crate::error::{OpsError, Result};

/// Length of the padded standard encoding of `n` bytes.
pub fn encoded_len(n: usize) -> usize {
    base64_simd::STANDARD.encoded_length(n)
}

/// Encodes `src` into `dst`, which must be exactly `encoded_len(src.len())` long.
pub fn encode_into(src: &[u8], dst: &mut [u8]) {
    assert_eq!(dst.len(), encoded_len(src.len()), "base64 output buffer has the wrong length");
    let _ = base64_simd::STANDARD.encode(src, dst.as_out());
}

pub fn encode(src: &[u8]) -> Vec<u8> {
    let mut out = vec![0u8; encoded_len(src.len())];
    encode_into(src, &mut out);
    out
}

/// The standard and URL-safe engines matching `data`'s padding.
fn engines(data: &[u8]) -> (&'static Base64, &'static Base64) {
    if data.last() == Some(&b'=') {
        (&base64_simd::STANDARD, &base64_simd::URL_SAFE)
    } else {
        (&base64_simd::STANDARD_NO_PAD, &base64_simd::URL_SAFE_NO_PAD)
    }
}

fn invalid() -> OpsError {
    OpsError::invalid("invalid base64 data")
}

/// Number of bytes `data` decodes to (checks length and padding only).
pub fn decoded_len(data: &[u8]) -> Result<usize> {
    engines(data).0.decoded_length(data).map_err(|_| invalid())
}

/// Decodes `data` into `dst` (exactly `decoded_len(data)` long).
pub fn decode_into(data: &[u8], urlsafe_ok: bool, dst: &mut [u8]) -> Result<()> {
    let (standard, url_safe) = engines(data);
    if standard.decode(data, dst.as_out()).is_ok() {
        return Ok(());
    }
    if urlsafe_ok && url_safe.decode(data, dst.as_out()).is_ok() {
        return Ok(());
    }
    Err(invalid())
}

pub fn decode(data: &[u8], urlsafe_ok: bool) -> Result<Vec<u8>> {
    let mut out = vec![0u8; decoded_len(data)?];
    decode_into(data, urlsafe_ok, &mut out)?;
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bytes(n: usize, seed: u64) -> Vec<u8> {
        let mut s = seed;
        (0..n)
            .map(|_| {
                s = s.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
                (s >> 56) as u8
            })
            .collect()
    }

    #[test]
    fn known_vectors() {
        for (plain, enc) in
            [("", ""), ("f", "Zg=="), ("fo", "Zm8="), ("foo", "Zm9v"), ("foob", "Zm9vYg=="), ("fooba", "Zm9vYmE=")]
        {
            assert_eq!(encode(plain.as_bytes()), enc.as_bytes());
            assert_eq!(decode(enc.as_bytes(), false).unwrap(), plain.as_bytes());
            let unpadded = enc.trim_end_matches('=');
            assert_eq!(decode(unpadded.as_bytes(), false).unwrap(), plain.as_bytes());
        }
    }

    #[test]
    fn round_trips_in_both_alphabets() {
        for n in [0, 1, 2, 3, 31, 32, 33, 100, 1000, 4099] {
            let data = bytes(n, n as u64 + 7);
            let enc = encode(&data);
            assert_eq!(decode(&enc, true).unwrap(), data);
            let url: Vec<u8> = enc
                .iter()
                .map(|&b| match b {
                    b'+' => b'-',
                    b'/' => b'_',
                    b => b,
                })
                .collect();
            assert_eq!(decode(&url, true).unwrap(), data);
            if url != enc {
                assert!(decode(&url, false).is_err(), "URL-safe refused unless allowed");
            }
        }
    }

    #[test]
    fn rejects_invalid_input() {
        for bad in ["Z", "Zm9v!", "Zm9v Zg==", "Zg=", "Z===", "=Zg=", "Zm+v_g==", "Zg==Zg==", "\u{e9}Zg="] {
            assert!(decode(bad.as_bytes(), true).is_err(), "{bad:?} accepted");
        }
    }
}
