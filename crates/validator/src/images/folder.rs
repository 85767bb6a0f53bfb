//! A local folder of PNG/JPEG images (searched one level deep).

use std::path::{Path, PathBuf};

use rand::{Rng, RngCore};

use super::{Image, ImageError};

/// Larger files are refused rather than decoded: a 32x32 input needs no 64 MB photo.
const MAX_FILE_BYTES: u64 = 16 << 20;

/// A folder of PNG/JPEG images (`dir:PATH`).
pub struct FolderSource {
    root: PathBuf,
    files: Vec<PathBuf>,
}

impl FolderSource {
    /// Lists the images under `root`; fails when there are none.
    pub fn open(root: &Path) -> Result<Self, ImageError> {
        let io = |source| ImageError::Io {
            path: root.to_path_buf(),
            source,
        };
        let mut files = Vec::new();
        for entry in std::fs::read_dir(root).map_err(io)? {
            let path = entry.map_err(io)?.path();
            let ext = path
                .extension()
                .and_then(|e| e.to_str())
                .map(str::to_ascii_lowercase);
            if path.is_file() && matches!(ext.as_deref(), Some("png" | "jpg" | "jpeg")) {
                files.push(path);
            }
        }
        if files.is_empty() {
            return Err(ImageError::EmptyFolder(root.to_path_buf()));
        }
        // Sorted, so a seeded draw picks the same file on every platform.
        files.sort();
        Ok(Self {
            root: root.to_path_buf(),
            files,
        })
    }

    /// The folder the images are read from.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Number of images found.
    pub fn len(&self) -> usize {
        self.files.len()
    }

    /// Whether the folder holds no image.
    pub fn is_empty(&self) -> bool {
        self.files.is_empty()
    }

    /// Decodes a random image and resizes it to the requested height and width.
    pub fn draw(
        &self,
        height: usize,
        width: usize,
        rng: &mut (dyn RngCore + Send),
    ) -> Result<Image, ImageError> {
        let path = &self.files[rng.random_range(0..self.files.len())];
        let io = |source| ImageError::Io {
            path: path.clone(),
            source,
        };
        let size = std::fs::metadata(path).map_err(io)?.len();
        if size > MAX_FILE_BYTES {
            return Err(ImageError::Io {
                path: path.clone(),
                source: std::io::Error::other(format!(
                    "{size} bytes is over the {MAX_FILE_BYTES}-byte limit"
                )),
            });
        }
        let bytes = std::fs::read(path).map_err(io)?;
        Image::decode(&bytes, height, width)
    }
}

#[cfg(test)]
mod tests {
    use rand::SeedableRng;
    use rand_chacha::ChaCha8Rng;

    use super::*;

    #[test]
    fn reads_png_and_jpeg_and_resizes() {
        let dir = tempfile::tempdir().unwrap();
        let red = image::RgbImage::from_pixel(40, 20, image::Rgb([255, 0, 0]));
        red.save(dir.path().join("a.png")).unwrap();
        red.save(dir.path().join("b.JPG")).unwrap();
        std::fs::write(dir.path().join("notes.txt"), "not an image").unwrap();
        let source = FolderSource::open(dir.path()).unwrap();
        assert_eq!(source.len(), 2);
        let mut rng = ChaCha8Rng::seed_from_u64(5);
        for _ in 0..4 {
            let image = source.draw(32, 32, &mut rng).unwrap();
            assert_eq!((image.height, image.width), (32, 32));
            // Red channel near +1, the others near -1 (JPEG is lossy).
            assert!(image.at(0, 16, 16) > 0.9, "{}", image.at(0, 16, 16));
            assert!(image.at(1, 16, 16) < -0.9);
        }
    }

    #[test]
    fn empty_folder_and_corrupt_file_are_errors() {
        let dir = tempfile::tempdir().unwrap();
        assert!(matches!(
            FolderSource::open(dir.path()),
            Err(ImageError::EmptyFolder(_))
        ));
        std::fs::write(dir.path().join("broken.png"), b"\x89PNG garbage").unwrap();
        let source = FolderSource::open(dir.path()).unwrap();
        let err = source
            .draw(32, 32, &mut ChaCha8Rng::seed_from_u64(1))
            .unwrap_err();
        assert!(matches!(err, ImageError::Decode(_)), "{err}");
    }
}
