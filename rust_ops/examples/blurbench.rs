//! Times the blur kernels on a synthetic RGBA image:
//! `cargo run --release --no-default-features --example blurbench -- 1024 1,2,8,64 [up|down]`;
//! `MASK=file` times a raw `size`×`size` one-channel image instead (e.g. the
//! benchmark's mask, written with `numpy.ndarray.tofile`); `SIMD=avx2` or
//! `SIMD=portable` caps the vector tier; `CHANNELS=4` runs UP/DOWN on a
//! four-channel copy of the mask, `CHANNELS=1` or `3` the plain blur on
//! one or three channels; `THREADS=n` sizes the pool.
use std::time::Instant;

use sfumato_ops::blur::{gaussian_blur, Direction};
use sfumato_ops::image::ImageView;

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let size: usize = args.get(1).map(|s| s.parse().unwrap()).unwrap_or(1024);
    let sigmas: Vec<f64> =
        args.get(2).map(|s| s.split(',').map(|v| v.parse().unwrap()).collect()).unwrap_or(vec![1.0, 2.0, 8.0, 64.0]);
    let (dir, c) = match args.get(3).map(|s| s.as_str()) {
        Some("up") => (Direction::Up, channels(1)),
        Some("down") => (Direction::Down, channels(1)),
        _ => (Direction::None, channels(4)),
    };
    let mut s = 1u64;
    let px: Vec<u8> = (0..size * size * c)
        .map(|i| {
            s = s.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            if dir == Direction::None {
                ((i / 4096) as u8).wrapping_add((s >> 60) as u8)
            } else if (i % size) > size / 3 && (i / size) < size / 2 {
                255
            } else {
                0
            }
        })
        .collect();
    match std::env::var("SIMD").as_deref() {
        Ok("avx2") => sfumato_ops::simd::cap_level(sfumato_ops::simd::SimdLevel::Avx2),
        Ok("portable") => sfumato_ops::simd::cap_level(sfumato_ops::simd::SimdLevel::Portable),
        _ => {}
    }
    if let Some(threads) = std::env::var("THREADS").ok().and_then(|v| v.parse().ok()) {
        sfumato_ops::parallel::set_num_threads(threads);
    }
    let px = match std::env::var("MASK") {
        Ok(f) => std::fs::read(f).unwrap().into_iter().flat_map(|v| std::iter::repeat_n(v, c)).collect(),
        Err(_) => px,
    };
    let img = ImageView::new(&px, size, size, c).unwrap();
    for sigma in sigmas {
        let mut best = f64::MAX;
        for _ in 0..if dir == Direction::None { 30 } else { 2 } {
            let t = Instant::now();
            let out = sfumato_ops::parallel::run(|| gaussian_blur(img, sigma, dir, true).unwrap());
            std::hint::black_box(out);
            best = best.min(t.elapsed().as_secs_f64());
        }
        println!("{size} sigma {sigma}: {:.3} ms", best * 1e3);
    }
}

/// Channels of the image (`CHANNELS`, default 1 for UP/DOWN, 4 otherwise).
fn channels(default: usize) -> usize {
    std::env::var("CHANNELS").ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}
