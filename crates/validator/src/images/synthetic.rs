//! Synthetic images: no dataset needed, and unpredictable by construction.
//!
//! A few random low-frequency waves per channel plus a little pixel noise, so the
//! image has structure like a photo (a pure noise image would give every conv output
//! nearly the same statistics).

use rand::{Rng, RngCore};

use super::Image;

/// A random image of the given size from `rng`.
pub fn draw(height: usize, width: usize, rng: &mut (dyn RngCore + Send)) -> Image {
    let mut pixels = vec![0.0f32; 3 * height * width];
    for c in 0..3 {
        let waves: Vec<(f32, f32, f32, f32)> = (0..3)
            .map(|_| {
                (
                    rng.random_range(-0.4..0.4),                  // amplitude
                    rng.random_range(0.0..0.5),                   // vertical frequency
                    rng.random_range(0.0..0.5),                   // horizontal frequency
                    rng.random_range(0.0..std::f32::consts::TAU), // phase
                )
            })
            .collect();
        let offset: f32 = rng.random_range(-0.3..0.3);
        for y in 0..height {
            for x in 0..width {
                let mut v = offset + rng.random_range(-0.05..0.05);
                for &(a, fy, fx, phase) in &waves {
                    v += a * (fy * y as f32 + fx * x as f32 + phase).sin();
                }
                pixels[c * height * width + y * width + x] = v.clamp(-1.0, 1.0);
            }
        }
    }
    Image {
        height,
        width,
        pixels,
    }
}

#[cfg(test)]
mod tests {
    use rand::SeedableRng;
    use rand_chacha::ChaCha8Rng;

    #[test]
    fn synthetic_images_are_in_range_and_distinct() {
        let mut rng = ChaCha8Rng::seed_from_u64(9);
        let a = super::draw(32, 32, &mut rng);
        let b = super::draw(32, 32, &mut rng);
        assert_eq!(a.pixels.len(), 3 * 32 * 32);
        assert!(a.pixels.iter().all(|v| (-1.0..=1.0).contains(v)));
        assert_ne!(a, b);
        let mean = a.pixels.iter().sum::<f32>() / a.pixels.len() as f32;
        let var = a.pixels.iter().map(|v| (v - mean).powi(2)).sum::<f32>() / a.pixels.len() as f32;
        assert!(
            var > 1e-3,
            "a synthetic image must not be flat (variance {var})"
        );
    }
}
