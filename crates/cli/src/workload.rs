//! Which circuit and profile a command runs, built exactly as miners and validators
//! build them (same names, same seed), and the input images fed to it.

use anyhow::{Context, bail};
use brainlock_circuit::{Circuit, DEFAULT_CIRCUIT_SEED, quantize_pixel, synthetic_image};
use brainlock_fhe::Profile;
use brainlock_fhe::workload;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// Seed of the synthetic image set `synthetic:N` draws from.
pub const SYNTHETIC_SET_SEED: u64 = 0xc1a5_51f1_0000_0001;

/// A shipped circuit by name (built from the subnet's seed), or a circuit JSON file.
pub fn resolve_circuit(name: &str) -> anyhow::Result<Circuit> {
    Ok(workload::resolve_circuit(name, DEFAULT_CIRCUIT_SEED)?)
}

/// The named profile, or the circuit's default.
pub fn resolve_profile(circuit: &Circuit, id: Option<&str>) -> anyhow::Result<&'static Profile> {
    Ok(workload::resolve_profile(circuit, id)?)
}

/// The input `spec` names for `circuit`: `synthetic:N`, or an image file resized to the
/// circuit's input and quantized as DESIGN section 1 says (`x` in [-1, 1] to int8).
pub fn load_input(spec: &str, circuit: &Circuit) -> anyhow::Result<Vec<i64>> {
    if let Some(index) = spec.strip_prefix("synthetic:") {
        let index: u64 = index
            .parse()
            .with_context(|| format!("{spec:?}: N must be a number"))?;
        return Ok(synthetic_input(circuit, index));
    }
    let shape = circuit.input_shape;
    if !matches!(shape.channels, 1 | 3) || circuit.input_bits != 8 {
        bail!(
            "circuit {} does not take 8-bit grayscale or RGB images; use synthetic:N",
            circuit.id
        );
    }
    let decoded = image::open(spec).with_context(|| format!("reading image {spec}"))?;
    let resized = decoded.resize_exact(
        shape.width as u32,
        shape.height as u32,
        image::imageops::FilterType::Triangle,
    );
    // Channel-major planes: one (luma) for grayscale circuits, three for RGB ones.
    let planes: Vec<u8> = if shape.channels == 1 {
        resized.to_luma8().into_raw()
    } else {
        let rgb = resized.to_rgb8();
        (0..3)
            .flat_map(|c| rgb.pixels().map(move |p| p[c]).collect::<Vec<_>>())
            .collect()
    };
    Ok(planes
        .into_iter()
        .map(|p| quantize_pixel(f64::from(p) / 127.5 - 1.0))
        .collect())
}

/// Synthetic input `index`: a synthetic natural-looking image for CIFAR-shaped
/// circuits, uniform values of the input's bit width otherwise.
pub fn synthetic_input(circuit: &Circuit, index: u64) -> Vec<i64> {
    if circuit.input_shape == brainlock_circuit::IMAGE_SHAPE && circuit.input_bits == 8 {
        return synthetic_image(SYNTHETIC_SET_SEED, index);
    }
    let mut rng = ChaCha8Rng::seed_from_u64(SYNTHETIC_SET_SEED);
    rng.set_stream(index);
    let half = 1i64 << (circuit.input_bits - 1);
    (0..circuit.input_shape.len())
        .map(|_| rng.random_range(-half..half))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use brainlock_circuit::test_tiny;

    #[test]
    fn inputs_fit_the_circuit() {
        let tiny = test_tiny();
        let input = load_input("synthetic:3", &tiny).unwrap();
        assert_eq!(input.len(), 16);
        assert!(input.iter().all(|v| (-2..2).contains(v)));
        assert_ne!(input, load_input("synthetic:4", &tiny).unwrap());
        assert!(load_input("synthetic:x", &tiny).is_err());
        assert!(
            load_input("picture.png", &tiny)
                .unwrap_err()
                .to_string()
                .contains("synthetic:N")
        );
    }

    #[test]
    fn grayscale_circuits_read_luma() {
        let gray = Circuit {
            input_shape: brainlock_circuit::Shape::new(1, 8, 8),
            input_bits: 8,
            ..test_tiny()
        };
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("gray.png");
        image::GrayImage::from_pixel(8, 8, image::Luma([255]))
            .save(&path)
            .unwrap();
        let values = load_input(path.to_str().unwrap(), &gray).unwrap();
        assert_eq!(values, vec![127; 64]);
    }

    #[test]
    fn image_files_are_resized_and_quantized() {
        let circuit = brainlock_circuit::Circuit { ..test_tiny() };
        let rgb = Circuit {
            input_shape: brainlock_circuit::IMAGE_SHAPE,
            input_bits: 8,
            ..circuit
        };
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("red.png");
        image::RgbImage::from_pixel(64, 48, image::Rgb([255, 0, 128]))
            .save(&path)
            .unwrap();
        let values = load_input(path.to_str().unwrap(), &rgb).unwrap();
        assert_eq!(values.len(), 3 * 32 * 32);
        assert!(values[..1024].iter().all(|&v| v == 127));
        assert!(values[1024..2048].iter().all(|&v| v == -128));
        assert!(values[2048..].iter().all(|&v| v == 0 || v == 1));
    }
}
