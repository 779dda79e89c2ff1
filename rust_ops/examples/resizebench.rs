//! Times the whole-factor paths against fast_image_resize on the same image,
//! one thread, medians: `cargo run --release --no-default-features --example
//! resizebench -- [size]` (RGBA: area size² → (size/2)², bilinear and bicubic
//! size² → (2·size)²).
use std::time::Instant;

use fast_image_resize::images::{Image as FirImage, ImageRef};
use fast_image_resize::{FilterType, PixelType, ResizeAlg, ResizeOptions, Resizer};
use sfumato_ops::image::ImageView;
use sfumato_ops::resize::Filter;

fn median_ms(mut f: impl FnMut()) -> f64 {
    f();
    let mut times: Vec<f64> = (0..15)
        .map(|_| {
            let start = Instant::now();
            f();
            start.elapsed().as_secs_f64() * 1e3
        })
        .collect();
    times.sort_by(f64::total_cmp);
    times[times.len() / 2]
}

fn main() {
    let size: usize = std::env::args().nth(1).and_then(|s| s.parse().ok()).unwrap_or(1024);
    let pool = rayon::ThreadPoolBuilder::new().num_threads(1).build().unwrap();
    let px: Vec<u8> = (0..size * size * 4).map(|i| ((i * 7919) >> 5) as u8 ^ (i / 4096) as u8).collect();
    let img = ImageView::new(&px, size, size, 4).unwrap();
    let mut resizer = Resizer::new();
    let mut small = vec![0u8; size * size];
    let ours = pool.install(|| median_ms(|| sfumato_ops::area::area_u8(img, 2, 2, &mut small)));
    let source = ImageRef::new(size as u32, size as u32, &px, PixelType::U8x4).unwrap();
    let half = size / 2;
    let mut target = FirImage::from_slice_u8(half as u32, half as u32, &mut small, PixelType::U8x4).unwrap();
    let options = ResizeOptions::new().resize_alg(ResizeAlg::Convolution(FilterType::Box)).use_alpha(false);
    let theirs = pool.install(|| median_ms(|| resizer.resize(&source, &mut target, &options).unwrap()));
    println!("area {size}→{half}: ours {ours:.3} ms, fast_image_resize box {theirs:.3} ms, ratio {:.2}", ours / theirs);

    let double = 2 * size;
    let mut big = vec![0u8; double * double * 4];
    for (name, ours_filter, theirs_filter) in [
        ("bilinear", Filter::Bilinear, FilterType::Bilinear),
        ("bicubic", Filter::Bicubic, FilterType::CatmullRom),
    ] {
        let ours = pool.install(|| median_ms(|| sfumato_ops::upscale::upscale_u8(img, 2, 2, ours_filter, &mut big)));
        let mut target = FirImage::from_slice_u8(double as u32, double as u32, &mut big, PixelType::U8x4).unwrap();
        let options = ResizeOptions::new().resize_alg(ResizeAlg::Convolution(theirs_filter)).use_alpha(false);
        let theirs = pool.install(|| median_ms(|| resizer.resize(&source, &mut target, &options).unwrap()));
        println!(
            "{name} {size}→{double}: ours {ours:.3} ms, fast_image_resize {theirs:.3} ms, ratio {:.2}",
            ours / theirs
        );
    }
}
