//! HuggingFace datasets through the dataset viewer's public REST API
//! (`https://datasets-server.huggingface.co`):
//! - `GET /splits?dataset=D` -> `{splits: [{dataset, config, split}], ...}`
//! - `GET /rows?dataset=D&config=C&split=S&offset=O&length=L` (L <= 100) ->
//!   `{features: [{feature_idx, name, type: {_type}}], rows: [{row_idx, row,
//!   truncated_cells}], num_rows_total}`; an `Image` cell is `{src, height, width}` where
//!   `src` is a (signed) URL of the encoded image.
//!
//! One row per draw, at a random offset: two small requests per query.

use std::fmt;
use std::time::Duration;

use rand::{Rng, RngCore};
use serde::Deserialize;
use tokio::sync::OnceCell;

use super::{Image, ImageError};

/// The public HuggingFace dataset viewer API.
pub const DEFAULT_ENDPOINT: &str = "https://datasets-server.huggingface.co";
/// CIFAR-10's test split: the default dataset.
pub const DEFAULT_DATASET: &str = "uoft-cs/cifar10";
const MAX_JSON_BYTES: usize = 4 << 20;
const MAX_IMAGE_BYTES: usize = 8 << 20;

/// `NAME[:CONFIG[:SPLIT]]`; missing parts are resolved through `/splits` (preferring
/// the `test` split).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DatasetRef {
    /// Dataset repository, e.g. `uoft-cs/cifar10`.
    pub name: String,
    /// Dataset config; `None`: resolved through `/splits`.
    pub config: Option<String>,
    /// Split; `None`: resolved through `/splits`, preferring `test`.
    pub split: Option<String>,
}

impl DatasetRef {
    /// Parses `NAME[:CONFIG[:SPLIT]]`.
    pub fn parse(spec: &str) -> Result<Self, String> {
        let mut parts = spec.split(':');
        let name = parts.next().unwrap_or_default().trim().to_string();
        if name.is_empty() || name.contains(char::is_whitespace) {
            return Err(format!("{spec:?} is not a dataset name"));
        }
        let part = |p: Option<&str>| p.map(str::trim).filter(|s| !s.is_empty()).map(String::from);
        let (config, split) = (part(parts.next()), part(parts.next()));
        if parts.next().is_some() {
            return Err(format!("{spec:?}: expected NAME[:CONFIG[:SPLIT]]"));
        }
        Ok(Self {
            name,
            config,
            split,
        })
    }
}

impl fmt::Display for DatasetRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.name)?;
        if let Some(c) = &self.config {
            write!(f, ":{c}")?;
        }
        if let Some(s) = &self.split {
            write!(f, ":{s}")?;
        }
        Ok(())
    }
}

#[derive(Deserialize)]
struct SplitsResponse {
    splits: Vec<SplitEntry>,
}

#[derive(Deserialize)]
struct SplitEntry {
    config: String,
    split: String,
}

#[derive(Deserialize)]
struct RowsResponse {
    features: Vec<Feature>,
    rows: Vec<RowEntry>,
    num_rows_total: u64,
}

#[derive(Deserialize)]
struct Feature {
    name: String,
    #[serde(rename = "type")]
    kind: serde_json::Value,
}

#[derive(Deserialize)]
struct RowEntry {
    row: serde_json::Map<String, serde_json::Value>,
}

#[derive(Deserialize)]
struct ImageCell {
    src: String,
}

/// Where the rows live once resolved: config, split, row count, image column.
struct Resolved {
    config: String,
    split: String,
    total: u64,
    column: String,
}

/// Images fetched row by row from a HuggingFace dataset through the viewer API.
pub struct HfSource {
    client: reqwest::Client,
    endpoint: url::Url,
    dataset: DatasetRef,
    resolved: OnceCell<Resolved>,
}

impl HfSource {
    /// A source for `dataset` at the viewer API base URL `endpoint`.
    pub fn new(endpoint: &str, dataset: DatasetRef) -> Result<Self, ImageError> {
        let endpoint = url::Url::parse(endpoint).map_err(|source| ImageError::Url {
            url: endpoint.to_string(),
            source,
        })?;
        let client = reqwest::Client::builder()
            .timeout(Duration::from_secs(30))
            .user_agent(concat!("brainlock-validator/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(ImageError::HttpClient)?;
        Ok(Self {
            client,
            endpoint,
            dataset,
            resolved: OnceCell::new(),
        })
    }

    /// The dataset (with config and split once resolved).
    pub fn dataset(&self) -> &DatasetRef {
        &self.dataset
    }

    /// Fetches a random row's image and resizes it to the requested height and width.
    pub async fn draw(
        &self,
        height: usize,
        width: usize,
        rng: &mut (dyn RngCore + Send),
    ) -> Result<Image, ImageError> {
        let resolved = self.resolved.get_or_try_init(|| self.resolve()).await?;
        let offset = rng.random_range(0..resolved.total);
        let rows = self.rows(&resolved.config, &resolved.split, offset).await?;
        let row = rows
            .rows
            .first()
            .ok_or_else(|| ImageError::Schema(format!("no row at offset {offset}")))?;
        let cell = row.row.get(&resolved.column).ok_or_else(|| {
            ImageError::Schema(format!("row {offset} lacks column {:?}", resolved.column))
        })?;
        let cell: ImageCell =
            serde_json::from_value(cell.clone()).map_err(|source| ImageError::Json {
                what: format!("image cell of row {offset}"),
                source,
            })?;
        let src = self.join(&cell.src)?;
        let bytes = self.get_limited(src, MAX_IMAGE_BYTES).await?;
        Image::decode(&bytes, height, width)
    }

    async fn resolve(&self) -> Result<Resolved, ImageError> {
        let (config, split) = match (&self.dataset.config, &self.dataset.split) {
            (Some(c), Some(s)) => (c.clone(), s.clone()),
            _ => self.pick_split().await?,
        };
        let first = self.rows(&config, &split, 0).await?;
        if first.num_rows_total == 0 {
            return Err(ImageError::Schema(format!(
                "{} {config}/{split} has no rows",
                self.dataset.name
            )));
        }
        let column = first
            .features
            .iter()
            .find(|f| f.kind.get("_type").and_then(|t| t.as_str()) == Some("Image"))
            .map(|f| f.name.clone())
            .ok_or_else(|| {
                ImageError::Schema(format!("{} has no Image column", self.dataset.name))
            })?;
        tracing::info!(dataset = %self.dataset.name, %config, %split, rows = first.num_rows_total, %column, "dataset resolved");
        Ok(Resolved {
            config,
            split,
            total: first.num_rows_total,
            column,
        })
    }

    /// The configured config (or the first one) and its `test` split (or its first).
    async fn pick_split(&self) -> Result<(String, String), ImageError> {
        let mut url = self.join("splits")?;
        url.query_pairs_mut()
            .append_pair("dataset", &self.dataset.name);
        let body = self.get_limited(url, MAX_JSON_BYTES).await?;
        let splits: SplitsResponse =
            serde_json::from_slice(&body).map_err(|source| ImageError::Json {
                what: "/splits".into(),
                source,
            })?;
        let candidates: Vec<&SplitEntry> = splits
            .splits
            .iter()
            .filter(|s| self.dataset.config.as_ref().is_none_or(|c| &s.config == c))
            .filter(|s| self.dataset.split.as_ref().is_none_or(|p| &s.split == p))
            .collect();
        let chosen = candidates
            .iter()
            .find(|s| s.split == "test")
            .or(candidates.first())
            .ok_or_else(|| ImageError::Schema(format!("no split of {} matches", self.dataset)))?;
        Ok((chosen.config.clone(), chosen.split.clone()))
    }

    async fn rows(
        &self,
        config: &str,
        split: &str,
        offset: u64,
    ) -> Result<RowsResponse, ImageError> {
        let mut url = self.join("rows")?;
        url.query_pairs_mut()
            .append_pair("dataset", &self.dataset.name)
            .append_pair("config", config)
            .append_pair("split", split)
            .append_pair("offset", &offset.to_string())
            .append_pair("length", "1");
        let body = self.get_limited(url, MAX_JSON_BYTES).await?;
        serde_json::from_slice(&body).map_err(|source| ImageError::Json {
            what: "/rows".into(),
            source,
        })
    }

    /// `path` (relative or absolute) against the endpoint.
    fn join(&self, path: &str) -> Result<url::Url, ImageError> {
        self.endpoint.join(path).map_err(|source| ImageError::Url {
            url: path.to_string(),
            source,
        })
    }

    /// GET with a status check and a cap on the body, read chunk by chunk.
    async fn get_limited(&self, url: url::Url, max: usize) -> Result<Vec<u8>, ImageError> {
        let shown = format!("{}{}", url.host_str().unwrap_or(""), url.path());
        let mut response =
            self.client
                .get(url)
                .send()
                .await
                .map_err(|source| ImageError::Http {
                    url: shown.clone(),
                    source,
                })?;
        if !response.status().is_success() {
            return Err(ImageError::Status {
                url: shown,
                status: response.status().as_u16(),
            });
        }
        let mut body = Vec::new();
        while let Some(chunk) = response.chunk().await.map_err(|source| ImageError::Http {
            url: shown.clone(),
            source,
        })? {
            if body.len() + chunk.len() > max {
                return Err(ImageError::TooLarge { url: shown, max });
            }
            body.extend_from_slice(&chunk);
        }
        Ok(body)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dataset_refs_parse() {
        let d = DatasetRef::parse("uoft-cs/cifar10:plain_text:test").unwrap();
        assert_eq!(
            (d.config.as_deref(), d.split.as_deref()),
            (Some("plain_text"), Some("test"))
        );
        assert_eq!(d.to_string(), "uoft-cs/cifar10:plain_text:test");
        assert_eq!(DatasetRef::parse("a/b").unwrap().config, None);
        assert!(DatasetRef::parse("").is_err());
        assert!(DatasetRef::parse("a:b:c:d").is_err());
    }
}
