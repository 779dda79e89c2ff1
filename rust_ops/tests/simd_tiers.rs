//! Every instruction-set copy of the kernels agrees with the portable one.
//! (Its own test binary: the tier cap is process-wide.)
use sfumato_ops::blur::{gaussian_blur, Direction};
use sfumato_ops::image::ImageView;
use sfumato_ops::simd::{cap_level, SimdLevel};

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
    // Widths and heights that leave partial lane blocks and bands.
    let cases = [(37, 45, 4), (29, 70, 3), (51, 33, 1)];
    let settings = [(1.5, Direction::None), (12.0, Direction::None), (70.0, Direction::None), (20.0, Direction::Up)];
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
