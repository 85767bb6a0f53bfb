//! Synthetic calibration/query images, deterministic from a seed: smooth random
//! gradients and colour blobs with pixel noise, like natural images in their
//! statistics (spatially correlated, all three channels related), quantized to int8
//! with scale 2^-7 as DESIGN section 1 prescribes.

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use crate::model::{Circuit, Shape};

/// CIFAR-10 sized input.
pub const IMAGE_SHAPE: Shape = Shape::new(3, 32, 32);

/// Quantizes a real pixel in [-1, 1]: `clamp(round(x * 128), -128, 127)`.
pub fn quantize_pixel(x: f64) -> i64 {
    (x * 128.0).round().clamp(-128.0, 127.0) as i64
}

/// Image `index` of the synthetic set `seed` (3x32x32, channel-major, int8 values).
pub fn synthetic_image(seed: u64, index: u64) -> Vec<i64> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    rng.set_stream(index);
    let (h, w) = (IMAGE_SHAPE.height, IMAGE_SHAPE.width);
    let mut pixels = vec![0.0f64; IMAGE_SHAPE.len()];
    // Background: a per-channel linear gradient around a common brightness.
    let brightness: f64 = rng.random_range(-0.4..0.4);
    let gradients: Vec<[f64; 3]> = (0..3)
        .map(|_| {
            [
                brightness + rng.random_range(-0.3..0.3),
                rng.random_range(-0.8..0.8),
                rng.random_range(-0.8..0.8),
            ]
        })
        .collect();
    // Blobs: gaussian bumps with a colour.
    let blobs: Vec<([f64; 3], f64, f64, f64)> = (0..rng.random_range(1..=5))
        .map(|_| {
            let colour = [
                rng.random_range(-1.0..1.0),
                rng.random_range(-1.0..1.0),
                rng.random_range(-1.0..1.0),
            ];
            let (cy, cx) = (
                rng.random_range(0.0..h as f64),
                rng.random_range(0.0..w as f64),
            );
            let radius: f64 = rng.random_range(2.5..10.0);
            (colour, cy, cx, radius)
        })
        .collect();
    let noise: f64 = rng.random_range(0.02..0.12);
    for c in 0..3 {
        let [base, gy, gx] = gradients[c];
        for y in 0..h {
            for x in 0..w {
                let (fy, fx) = (y as f64 / h as f64 - 0.5, x as f64 / w as f64 - 0.5);
                let mut v = base + gy * fy + gx * fx;
                for (colour, cy, cx, radius) in &blobs {
                    let d2 = (y as f64 - cy).powi(2) + (x as f64 - cx).powi(2);
                    v += colour[c] * (-d2 / (2.0 * radius * radius)).exp();
                }
                v += noise * (rng.random::<f64>() * 2.0 - 1.0) * 1.7;
                pixels[(c * h + y) * w + x] = v;
            }
        }
    }
    pixels.into_iter().map(quantize_pixel).collect()
}

/// Images `0..count` of the synthetic set `seed`.
pub fn synthetic_images(seed: u64, count: usize) -> Vec<Vec<i64>> {
    (0..count as u64)
        .map(|i| synthetic_image(seed, i))
        .collect()
}

/// `count` inputs of the kind `circuit` is queried with, deterministic from `seed`:
/// synthetic images for CIFAR-shaped 8-bit circuits, uniform values of the input width
/// otherwise. For simulations that stand in for real queries (gates, cheat fits).
pub fn sample_inputs(circuit: &Circuit, seed: u64, count: usize) -> Vec<Vec<i64>> {
    sample_inputs_of(circuit.input_shape, circuit.input_bits, seed, count)
}

/// [`sample_inputs`] for an input of `shape` and `bits` (e.g. a network not yet calibrated).
pub fn sample_inputs_of(shape: Shape, bits: u32, seed: u64, count: usize) -> Vec<Vec<i64>> {
    if shape == IMAGE_SHAPE && bits == 8 {
        return synthetic_images(seed, count);
    }
    let half = 1i64 << (bits.clamp(1, 16) - 1);
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    (0..count)
        .map(|_| {
            (0..shape.len())
                .map(|_| rng.random_range(-half..half))
                .collect()
        })
        .collect()
}
