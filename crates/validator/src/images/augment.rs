//! Random augmentation and int8 quantization.
//!
//! Augmentation makes each query's input unpredictable even when the dataset is
//! public: a miner that cached answers for every dataset image gains nothing.

use rand::{Rng, RngCore};

use super::Image;

/// The augmentation's strength. The defaults are the usual CIFAR-10 training ones.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Augmentation {
    /// Pixels of zero padding on each side before a random crop back to size.
    pub crop_padding: usize,
    /// Probability of a horizontal flip.
    pub flip_probability: f64,
    /// Uniform brightness offset in `[-jitter, jitter]`, in [-1, 1] pixel units.
    pub brightness_jitter: f32,
}

impl Default for Augmentation {
    fn default() -> Self {
        Self {
            crop_padding: 4,
            flip_probability: 0.5,
            brightness_jitter: 0.1,
        }
    }
}

/// Pads with zeros, crops a random window of the original size, maybe flips, shifts the
/// brightness, and clamps back to [-1, 1].
pub fn augment(image: &Image, aug: &Augmentation, rng: &mut (dyn RngCore + Send)) -> Image {
    let (h, w, pad) = (image.height, image.width, aug.crop_padding);
    let dy = rng.random_range(0..=2 * pad);
    let dx = rng.random_range(0..=2 * pad);
    let flip = rng.random_bool(aug.flip_probability.clamp(0.0, 1.0));
    let brightness = if aug.brightness_jitter > 0.0 {
        rng.random_range(-aug.brightness_jitter..=aug.brightness_jitter)
    } else {
        0.0
    };
    let mut pixels = Vec::with_capacity(image.pixels.len());
    for c in 0..3 {
        for y in 0..h {
            for x in 0..w {
                let src_x = if flip { w - 1 - x } else { x };
                // Coordinates in the padded image, back to the original's.
                let (py, px) = (
                    (y + dy) as isize - pad as isize,
                    (src_x + dx) as isize - pad as isize,
                );
                let inside = (0..h as isize).contains(&py) && (0..w as isize).contains(&px);
                let value = if inside {
                    image.at(c, py as usize, px as usize)
                } else {
                    0.0
                };
                pixels.push((value + brightness).clamp(-1.0, 1.0));
            }
        }
    }
    Image {
        height: h,
        width: w,
        pixels,
    }
}

/// Signed `bits`-bit quantization with scale 2^-(bits-1): for 8 bits
/// `q = clamp(round(x * 128), -128, 127)`, the image circuits' input.
pub fn quantize(image: &Image, bits: u32) -> Vec<i64> {
    let bits = bits.clamp(1, 32);
    let half = (1i64 << (bits - 1)) as f64;
    image
        .pixels
        .iter()
        .map(|&x| (f64::from(x) * half).round().clamp(-half, half - 1.0) as i64)
        .collect()
}

/// A circuit input of `channels x height x width` from an RGB image of that height and
/// width: its first channels (cycled when the circuit wants more than 3), quantized.
pub fn circuit_input(image: &Image, channels: usize, bits: u32) -> Vec<i64> {
    let plane = image.height * image.width;
    let quantized = quantize(image, bits);
    (0..channels)
        .flat_map(|c| {
            quantized[(c % 3) * plane..(c % 3 + 1) * plane]
                .iter()
                .copied()
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use rand::SeedableRng;
    use rand_chacha::ChaCha8Rng;

    use super::*;

    fn ramp(h: usize, w: usize) -> Image {
        let pixels = (0..3 * h * w)
            .map(|i| (i as f32 / (3 * h * w) as f32) * 2.0 - 1.0)
            .collect();
        Image {
            height: h,
            width: w,
            pixels,
        }
    }

    #[test]
    fn quantization_follows_the_scale_and_clamps() {
        let image = Image {
            height: 1,
            width: 1,
            pixels: vec![-1.0, 1.0, 0.5],
        };
        assert_eq!(quantize(&image, 8), vec![-128, 127, 64]);
        let image = Image {
            height: 1,
            width: 1,
            pixels: vec![0.0039, -0.0039, 0.99],
        };
        assert_eq!(quantize(&image, 8), vec![0, 0, 127]);
        let image = Image {
            height: 1,
            width: 1,
            pixels: vec![-1.0, 1.0, 0.3],
        };
        assert_eq!(quantize(&image, 2), vec![-2, 1, 1]);
        assert_eq!(circuit_input(&image, 1, 2), vec![-2]);
        assert_eq!(circuit_input(&image, 4, 8), vec![-128, 127, 38, -128]);
    }

    #[test]
    fn no_op_augmentation_is_identity() {
        let image = ramp(8, 8);
        let aug = Augmentation {
            crop_padding: 0,
            flip_probability: 0.0,
            brightness_jitter: 0.0,
        };
        let mut rng = ChaCha8Rng::seed_from_u64(1);
        assert_eq!(augment(&image, &aug, &mut rng), image);
    }

    #[test]
    fn flip_mirrors_rows() {
        let image = ramp(4, 5);
        let aug = Augmentation {
            crop_padding: 0,
            flip_probability: 1.0,
            brightness_jitter: 0.0,
        };
        let out = augment(&image, &aug, &mut ChaCha8Rng::seed_from_u64(2));
        for c in 0..3 {
            for y in 0..4 {
                for x in 0..5 {
                    assert_eq!(out.at(c, y, x), image.at(c, y, 4 - x));
                }
            }
        }
    }

    #[test]
    fn augmentation_keeps_shape_and_range_and_varies() {
        let image = ramp(32, 32);
        let aug = Augmentation {
            brightness_jitter: 0.5,
            ..Augmentation::default()
        };
        let mut rng = ChaCha8Rng::seed_from_u64(3);
        let a = augment(&image, &aug, &mut rng);
        let b = augment(&image, &aug, &mut rng);
        assert_eq!(a.pixels.len(), image.pixels.len());
        assert!(a.pixels.iter().all(|v| (-1.0..=1.0).contains(v)));
        assert_ne!(a, b, "two draws should differ");
    }
}
