//! CIFAR-10 binary batches (`data_batch_1.bin` .. `test_batch.bin`): records of one
//! label byte then 3072 pixel bytes (1024 red, 1024 green, 1024 blue, row-major 32x32).
//! Records are read by seeking, so a 30 MB batch is never held in memory.

use std::io::{Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};

use rand::{Rng, RngCore};

use super::{Image, ImageError};

/// Size of one CIFAR-10 binary record, bytes: a label byte and 32x32x3 pixels.
pub const RECORD_BYTES: u64 = 1 + 3072;
const SIDE: usize = 32;

/// CIFAR-10 binary batch files (`cifar:PATH`), read record by record.
pub struct CifarSource {
    /// Each batch file with its record count.
    batches: Vec<(PathBuf, u64)>,
    records: u64,
}

impl CifarSource {
    /// Opens one batch file, or every `*.bin` file in a folder.
    pub fn open(path: &Path) -> Result<Self, ImageError> {
        let io = |p: &Path| {
            let p = p.to_path_buf();
            move |source| ImageError::Io { path: p, source }
        };
        let mut files = Vec::new();
        if path.is_dir() {
            for entry in std::fs::read_dir(path).map_err(io(path))? {
                let file = entry.map_err(io(path))?.path();
                if file.extension().is_some_and(|e| e == "bin") {
                    files.push(file);
                }
            }
            files.sort();
        } else {
            files.push(path.to_path_buf());
        }
        let mut batches = Vec::new();
        for file in files {
            let len = std::fs::metadata(&file).map_err(io(&file))?.len();
            if len == 0 || len % RECORD_BYTES != 0 {
                return Err(ImageError::NotCifar {
                    path: file,
                    reason: format!(
                        "{len} bytes is not a whole number of {RECORD_BYTES}-byte records"
                    ),
                });
            }
            batches.push((file, len / RECORD_BYTES));
        }
        let records = batches.iter().map(|(_, n)| n).sum();
        if records == 0 {
            return Err(ImageError::NotCifar {
                path: path.to_path_buf(),
                reason: "no .bin batch found".into(),
            });
        }
        Ok(Self { batches, records })
    }

    /// Number of images across all batch files.
    pub fn len(&self) -> u64 {
        self.records
    }

    /// Whether the batch files hold no image.
    pub fn is_empty(&self) -> bool {
        self.records == 0
    }

    /// Record `index` over all batches: its label and image.
    pub fn record(&self, mut index: u64) -> Result<(u8, Image), ImageError> {
        for (path, count) in &self.batches {
            if index >= *count {
                index -= count;
                continue;
            }
            let io = |source| ImageError::Io {
                path: path.clone(),
                source,
            };
            let mut file = std::fs::File::open(path).map_err(io)?;
            file.seek(SeekFrom::Start(index * RECORD_BYTES))
                .map_err(io)?;
            let mut record = vec![0u8; RECORD_BYTES as usize];
            file.read_exact(&mut record).map_err(io)?;
            let label = record[0];
            if label > 9 {
                return Err(ImageError::NotCifar {
                    path: path.clone(),
                    reason: format!("label {label} at record {index}"),
                });
            }
            let pixels = record[1..]
                .iter()
                .map(|&b| f32::from(b) / 127.5 - 1.0)
                .collect();
            return Ok((
                label,
                Image {
                    height: SIDE,
                    width: SIDE,
                    pixels,
                },
            ));
        }
        Err(ImageError::NotCifar {
            path: PathBuf::new(),
            reason: format!("record {index} out of range"),
        })
    }

    /// Reads a random record and resizes it to the requested height and width.
    pub fn draw(
        &self,
        height: usize,
        width: usize,
        rng: &mut (dyn RngCore + Send),
    ) -> Result<Image, ImageError> {
        let (_, image) = self.record(rng.random_range(0..self.records))?;
        if (height, width) == (SIDE, SIDE) {
            return Ok(image);
        }
        let rgb = image::RgbImage::from_fn(SIDE as u32, SIDE as u32, |x, y| {
            let byte = |c| ((image.at(c, y as usize, x as usize) + 1.0) * 127.5).round() as u8;
            image::Rgb([byte(0), byte(1), byte(2)])
        });
        let resized = image::imageops::resize(
            &rgb,
            width as u32,
            height as u32,
            image::imageops::FilterType::Triangle,
        );
        Ok(Image::from_rgb8(&resized))
    }
}

#[cfg(test)]
mod tests {
    use rand::SeedableRng;
    use rand_chacha::ChaCha8Rng;

    use super::*;

    fn record(label: u8, r: u8, g: u8, b: u8) -> Vec<u8> {
        let mut rec = vec![label];
        for v in [r, g, b] {
            rec.extend(std::iter::repeat_n(v, 1024));
        }
        rec
    }

    #[test]
    fn reads_records_across_batches() {
        let dir = tempfile::tempdir().unwrap();
        let mut first = record(3, 255, 0, 0);
        first.extend(record(7, 0, 255, 0));
        std::fs::write(dir.path().join("data_batch_1.bin"), first).unwrap();
        std::fs::write(dir.path().join("test_batch.bin"), record(9, 0, 0, 255)).unwrap();
        let source = CifarSource::open(dir.path()).unwrap();
        assert_eq!(source.len(), 3);
        let (label, image) = source.record(1).unwrap();
        assert_eq!(label, 7);
        assert_eq!(
            (image.at(0, 0, 0), image.at(1, 5, 5), image.at(2, 31, 31)),
            (-1.0, 1.0, -1.0)
        );
        let (label, image) = source.record(2).unwrap();
        assert_eq!(label, 9);
        assert_eq!(image.at(2, 10, 3), 1.0);
        let drawn = source
            .draw(32, 32, &mut ChaCha8Rng::seed_from_u64(4))
            .unwrap();
        assert_eq!(drawn.pixels.len(), 3072);
    }

    #[test]
    fn rejects_truncated_batches_and_bad_labels() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("cut.bin");
        std::fs::write(&path, &record(1, 0, 0, 0)[..3000]).unwrap();
        assert!(matches!(
            CifarSource::open(&path),
            Err(ImageError::NotCifar { .. })
        ));
        std::fs::write(&path, record(200, 0, 0, 0)).unwrap();
        let source = CifarSource::open(&path).unwrap();
        assert!(matches!(source.record(0), Err(ImageError::NotCifar { .. })));
    }
}
