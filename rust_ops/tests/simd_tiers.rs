//! Every instruction-set copy of the kernels agrees with the portable one.
//! (Its own test binary: the tier cap is process-wide.)
use sfumato_ops::blur::{gaussian_blur, Direction};
use sfumato_ops::image::ImageView;
use sfumato_ops::simd::{cap_level, SimdLevel};

/// The tier cap is process-wide: tests that move it take turns.
static TIER: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn noise(n: usize, seed: u64) -> Vec<u8> {
    let mut s = seed;
    (0..n)
        .map(|_| {
            s = s.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            (s >> 56) as u8
        })
        .collect()
}

fn max_diff(a: &[u8], b: &[u8]) -> u8 {
    a.iter().zip(b).map(|(&x, &y)| x.abs_diff(y)).max().unwrap_or(0)
}

#[test]
fn blur_tiers_agree() {
    let _turn = TIER.lock().unwrap_or_else(|e| e.into_inner());
    // Widths and heights that leave partial lane blocks and bands.
    let cases = [(37, 45, 4), (29, 70, 3), (51, 33, 1)];
    // σ 4 and 8: the fixed-point exact kernel on AVX2 and AVX-512, the
    // recursive filter on the portable tier (both within a level of the float result).
    let settings = [
        (1.5, Direction::None),
        (4.0, Direction::None),
        (8.0, Direction::None),
        (12.0, Direction::None),
        (70.0, Direction::None),
        (20.0, Direction::Up),
    ];
    let run = |level| {
        cap_level(level);
        let mut outs = Vec::new();
        for &(h, w, c) in &cases {
            let px = noise(h * w * c, (h * w) as u64);
            let img = ImageView::new(&px, h, w, c).unwrap();
            for &(sigma, dir) in &settings {
                outs.push(gaussian_blur(img, sigma, dir, true).unwrap().data);
            }
            let floats: Vec<f32> = px.iter().map(|&v| v as f32 / 255.0).collect();
            let img = ImageView::new(&floats, h, w, c).unwrap();
            let blurred = gaussian_blur(img, 12.0, Direction::None, true).unwrap().data;
            outs.push(blurred.iter().map(|&v| (v * 255.0).round() as u8).collect());
        }
        outs
    };
    let portable = run(SimdLevel::Portable);
    for level in [SimdLevel::Avx2, SimdLevel::Avx512] {
        let tier = run(level);
        for (i, (a, b)) in portable.iter().zip(&tier).enumerate() {
            assert!(max_diff(a, b) <= 1, "{level:?} case {i}: differs by {}", max_diff(a, b));
        }
    }
    cap_level(SimdLevel::Avx512);
}

#[test]
fn area_tiers_agree_exactly() {
    let _turn = TIER.lock().unwrap_or_else(|e| e.into_inner());
    use sfumato_ops::resize::{rescale, Filter, Mode};
    // Halving (the vector paths: whole vector steps plus ragged ends for 1, 3
    // and 4 channels, and rows too short for one step) and a 3×2 factor.
    let cases = [
        (2, 2, 4, 1, 1),
        (34, 46, 4, 17, 23),
        (34, 46, 1, 17, 23),
        (30, 26, 3, 15, 13),
        (36, 42, 4, 12, 21),
        (4, 134, 4, 2, 67),
        (4, 130, 1, 2, 65),
        (6, 70, 3, 3, 35),
        (2, 18, 3, 1, 9),
        (2, 16, 3, 1, 8),
    ];
    let run = |level| {
        cap_level(level);
        cases
            .iter()
            .map(|&(h, w, c, oh, ow)| {
                let px = noise(h * w * c, (h * w * c) as u64);
                let img = ImageView::new(&px, h, w, c).unwrap();
                rescale(img, ow, oh, Mode::Strict, Filter::Area).unwrap().data
            })
            .collect::<Vec<_>>()
    };
    let portable = run(SimdLevel::Portable);
    for level in [SimdLevel::Avx2, SimdLevel::Avx512] {
        assert_eq!(run(level), portable, "{level:?}");
    }
    cap_level(SimdLevel::Avx512);
}

#[test]
fn upscale_tiers_agree_exactly() {
    let _turn = TIER.lock().unwrap_or_else(|e| e.into_inner());
    use sfumato_ops::resize::Filter;
    use sfumato_ops::upscale::upscale_u8;
    // One and four channels take the vector rows; sizes leave ragged tails and borders.
    let cases = [(19, 37, 4), (23, 70, 1), (9, 13, 3), (2, 3, 4)];
    let run = |level| {
        cap_level(level);
        let mut outs = Vec::new();
        for &(h, w, c) in &cases {
            let px = noise(h * w * c, (h * w * c) as u64);
            let img = ImageView::new(&px, h, w, c).unwrap();
            for filter in [Filter::Bilinear, Filter::Bicubic] {
                for (kx, ky) in [(2, 2), (4, 4), (3, 2), (2, 3)] {
                    let mut out = vec![0u8; h * ky * w * kx * c];
                    upscale_u8(img, kx, ky, filter, &mut out);
                    outs.push(out);
                }
            }
        }
        outs
    };
    let portable = run(SimdLevel::Portable);
    for level in [SimdLevel::Avx2, SimdLevel::Avx512] {
        assert_eq!(run(level), portable, "{level:?}");
    }
    cap_level(SimdLevel::Avx512);
}
