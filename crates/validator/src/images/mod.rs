//! Where the validator's test images come from, and how they become circuit inputs.
//!
//! Every query needs an input the miner cannot predict: a fresh draw from a source,
//! then a random augmentation, then int8 quantization with scale 2^-7.

pub mod augment;
pub mod cifar;
pub mod folder;
pub mod huggingface;
pub mod synthetic;

use std::path::PathBuf;

use rand::RngCore;

pub use augment::{Augmentation, augment, circuit_input, quantize};

/// An RGB image, channel-major (C x H x W), each value in [-1, 1].
#[derive(Clone, Debug, PartialEq)]
pub struct Image {
    /// Rows.
    pub height: usize,
    /// Columns.
    pub width: usize,
    /// `3 * height * width` values, channel 0 first.
    pub pixels: Vec<f32>,
}

impl Image {
    /// Converts 8-bit RGB pixels (row-major, interleaved) to [-1, 1] channel-major.
    pub fn from_rgb8(rgb: &image::RgbImage) -> Self {
        let (width, height) = (rgb.width() as usize, rgb.height() as usize);
        let mut pixels = vec![0.0; 3 * height * width];
        for (x, y, p) in rgb.enumerate_pixels() {
            for c in 0..3 {
                pixels[c * height * width + y as usize * width + x as usize] =
                    f32::from(p.0[c]) / 127.5 - 1.0;
            }
        }
        Self {
            height,
            width,
            pixels,
        }
    }

    /// Decodes a PNG or JPEG file's bytes and resizes it to `height x width`.
    pub fn decode(bytes: &[u8], height: usize, width: usize) -> Result<Self, ImageError> {
        let decoded = image::load_from_memory(bytes).map_err(ImageError::Decode)?;
        let rgb = decoded.to_rgb8();
        let rgb = if rgb.width() as usize == width && rgb.height() as usize == height {
            rgb
        } else {
            image::imageops::resize(
                &rgb,
                width as u32,
                height as u32,
                image::imageops::FilterType::Triangle,
            )
        };
        Ok(Self::from_rgb8(&rgb))
    }

    /// The value of `channel` at row `y`, column `x`.
    pub fn at(&self, channel: usize, y: usize, x: usize) -> f32 {
        self.pixels[channel * self.height * self.width + y * self.width + x]
    }
}

/// Why an image could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum ImageError {
    /// An image file is not a decodable PNG or JPEG.
    #[error("cannot decode image: {0}")]
    Decode(image::ImageError),
    /// An image file or folder could not be read.
    #[error("cannot read {path}: {source}")]
    Io {
        /// The file or folder.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The `dir:` folder holds no PNG or JPEG image.
    #[error("{0} holds no PNG or JPEG image")]
    EmptyFolder(PathBuf),
    /// A `cifar:` file is not a CIFAR-10 binary batch.
    #[error("{path} is not a CIFAR-10 binary batch: {reason}")]
    NotCifar {
        /// The file.
        path: PathBuf,
        /// What is wrong with it.
        reason: String,
    },
    /// The HTTP client for the dataset server could not be built.
    #[error("dataset server client: {0}")]
    HttpClient(#[source] reqwest::Error),
    /// A dataset server URL (the endpoint, or one it sent) does not parse.
    #[error("dataset server URL {url:?}: {source}")]
    Url {
        /// The URL as given.
        url: String,
        /// Why it does not parse.
        source: url::ParseError,
    },
    /// The dataset server could not be reached, or the connection broke.
    #[error("dataset server {url}: {source}")]
    Http {
        /// Host and path asked for.
        url: String,
        /// The transport error.
        source: reqwest::Error,
    },
    /// The dataset server answered with an error status.
    #[error("dataset server {url}: HTTP {status}")]
    Status {
        /// Host and path asked for.
        url: String,
        /// The HTTP status it answered with.
        status: u16,
    },
    /// The dataset server's answer is larger than anything it should send.
    #[error("dataset server {url}: response over {max} bytes")]
    TooLarge {
        /// Host and path asked for.
        url: String,
        /// The cap, bytes.
        max: usize,
    },
    /// The dataset server's answer is not the JSON expected.
    #[error("dataset server {what}: {source}")]
    Json {
        /// Which answer (`/rows`, `/splits`, an image cell).
        what: String,
        /// The decoding error.
        source: serde_json::Error,
    },
    /// The dataset server's answer decodes but lacks what is needed (rows, an image
    /// column, a matching split).
    #[error("dataset server answered something unexpected: {0}")]
    Schema(String),
}

/// Where images are drawn from (`--dataset`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SourceSpec {
    /// Seeded-random images, no data needed.
    Synthetic,
    /// A folder of PNG/JPEG files.
    Folder(PathBuf),
    /// A CIFAR-10 binary batch file, or a folder of them (`*.bin`).
    Cifar(PathBuf),
    /// A HuggingFace dataset through the dataset viewer's rows API.
    HuggingFace(huggingface::DatasetRef),
}

impl SourceSpec {
    /// Parses `synthetic`, `dir:PATH`, `cifar:PATH`, `hf:NAME[:CONFIG[:SPLIT]]`, or a bare
    /// HuggingFace dataset name (`owner/name`).
    pub fn parse(spec: &str) -> Result<Self, String> {
        let spec = spec.trim();
        if spec == "synthetic" {
            return Ok(Self::Synthetic);
        }
        if let Some(path) = spec.strip_prefix("dir:") {
            return Ok(Self::Folder(PathBuf::from(path)));
        }
        if let Some(path) = spec.strip_prefix("cifar:") {
            return Ok(Self::Cifar(PathBuf::from(path)));
        }
        let hf = spec.strip_prefix("hf:").unwrap_or(spec);
        huggingface::DatasetRef::parse(hf).map(Self::HuggingFace)
    }
}

/// An opened image source. `draw` returns a fresh image of the requested size.
pub enum ImageSource {
    /// Seeded random images (`synthetic`), no files or network.
    Synthetic,
    /// A folder of PNG/JPEG images (`dir:PATH`).
    Folder(folder::FolderSource),
    /// CIFAR-10 binary batches (`cifar:PATH`).
    Cifar(cifar::CifarSource),
    /// A HuggingFace dataset fetched through the viewer API.
    HuggingFace(Box<huggingface::HfSource>),
}

impl ImageSource {
    /// Opens a source; `hf_endpoint` is the dataset viewer's base URL.
    pub fn open(spec: &SourceSpec, hf_endpoint: &str) -> Result<Self, ImageError> {
        Ok(match spec {
            SourceSpec::Synthetic => Self::Synthetic,
            SourceSpec::Folder(path) => Self::Folder(folder::FolderSource::open(path)?),
            SourceSpec::Cifar(path) => Self::Cifar(cifar::CifarSource::open(path)?),
            SourceSpec::HuggingFace(dataset) => Self::HuggingFace(Box::new(
                huggingface::HfSource::new(hf_endpoint, dataset.clone())?,
            )),
        })
    }

    /// A fresh image of `height x width`. Errors are the source's (a network outage, a
    /// corrupt file); the caller decides whether to fall back to a synthetic image.
    pub async fn draw(
        &self,
        height: usize,
        width: usize,
        rng: &mut (dyn RngCore + Send),
    ) -> Result<Image, ImageError> {
        match self {
            Self::Synthetic => Ok(synthetic::draw(height, width, rng)),
            Self::Folder(source) => source.draw(height, width, rng),
            Self::Cifar(source) => source.draw(height, width, rng),
            Self::HuggingFace(source) => source.draw(height, width, rng).await,
        }
    }

    /// A one-line description of the source for logs.
    pub fn describe(&self) -> String {
        match self {
            Self::Synthetic => "synthetic".into(),
            Self::Folder(s) => format!("folder {} ({} files)", s.root().display(), s.len()),
            Self::Cifar(s) => format!("CIFAR-10 batches ({} records)", s.len()),
            Self::HuggingFace(s) => format!("HuggingFace {}", s.dataset()),
        }
    }
}
