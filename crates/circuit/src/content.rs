//! Circuits named by their content: `LABEL.HASH`, where HASH is the first
//! [`CONTENT_HASH_HEX`] hex digits of the BLAKE2b-512 of the circuit's JSON with its id
//! set to LABEL. Two parties holding circuits with the same content id hold the same
//! weights and tables; an edited file no longer matches its id. Shipped circuits keep
//! their plain names (they are rebuilt from the seed, not read from files).

use blake2::{Blake2b512, Digest};
use thiserror::Error;

use crate::model::Circuit;

/// Hex digits of the hash in a content id (128 bits: finding two circuits with one id
/// takes about 2^64 hashes).
pub const CONTENT_HASH_HEX: usize = 32;
/// Longest label, so that a content id fits a 64-byte wire name.
pub const MAX_CONTENT_LABEL: usize = 64 - 1 - CONTENT_HASH_HEX;

/// Why a circuit's id does not name its content.
#[derive(Debug, Error, PartialEq, Eq)]
pub enum ContentIdError {
    /// The id is not `LABEL.HASH` with a hex HASH of [`CONTENT_HASH_HEX`] digits.
    #[error(
        "circuit id {0:?} is not a content id (LABEL.HASH, as `brainlock circuit import` \
         writes); circuit files are served and checked under content ids only"
    )]
    NotContentId(String),
    /// The hash in the id is not the content's.
    #[error(
        "circuit id {id:?} does not match the file's content (its hash is {actual}): the \
         file was changed after it was named"
    )]
    Mismatch {
        /// The declared id.
        id: String,
        /// The hash of the content.
        actual: String,
    },
    /// The label is empty, too long or has characters outside `[A-Za-z0-9_-]`.
    #[error(
        "circuit label {0:?} must be 1 to {MAX_CONTENT_LABEL} ASCII letters, digits, '-' or '_'"
    )]
    BadLabel(String),
}

impl Circuit {
    /// The content hash of this circuit under `label` (the id is ignored).
    fn content_hash(&self, label: &str) -> String {
        let labelled = Circuit {
            id: label.to_owned(),
            ..self.clone()
        };
        let json = serde_json::to_vec(&labelled).expect("a circuit serializes to JSON");
        hex::encode(Blake2b512::digest(&json))[..CONTENT_HASH_HEX].to_owned()
    }

    /// This circuit named by its content: id `LABEL.HASH`.
    pub fn with_content_id(mut self, label: &str) -> Result<Self, ContentIdError> {
        check_label(label)?;
        self.id = format!("{label}.{}", self.content_hash(label));
        Ok(self)
    }

    /// Checks that the id is a content id and names this content.
    pub fn verify_content_id(&self) -> Result<(), ContentIdError> {
        let not_content = || ContentIdError::NotContentId(self.id.clone());
        let (label, hash) = self.id.rsplit_once('.').ok_or_else(not_content)?;
        let hex_digits = hash.len() == CONTENT_HASH_HEX
            && hash
                .bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b));
        if !hex_digits {
            return Err(not_content());
        }
        check_label(label)?;
        let actual = self.content_hash(label);
        if actual != hash {
            return Err(ContentIdError::Mismatch {
                id: self.id.clone(),
                actual,
            });
        }
        Ok(())
    }
}

fn check_label(label: &str) -> Result<(), ContentIdError> {
    let valid = !label.is_empty()
        && label.len() <= MAX_CONTENT_LABEL
        && label
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_'));
    if valid {
        Ok(())
    } else {
        Err(ContentIdError::BadLabel(label.to_owned()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_tiny;

    #[test]
    fn content_ids_name_the_content() {
        let named = test_tiny().with_content_id("tiny").unwrap();
        assert!(named.id.starts_with("tiny."), "{}", named.id);
        assert_eq!(named.id.len(), "tiny.".len() + CONTENT_HASH_HEX);
        named.verify_content_id().unwrap();
        // Same content, same id; any change of a table entry, another id.
        assert_eq!(test_tiny().with_content_id("tiny").unwrap().id, named.id);
        let mut edited = named.clone();
        if let crate::LayerOutput::Lookup(lookup) = &mut edited.layers[0].output {
            lookup.tables[0][5] += 1;
        }
        assert!(matches!(
            edited.verify_content_id(),
            Err(ContentIdError::Mismatch { .. })
        ));
        assert_ne!(edited.with_content_id("tiny").unwrap().id, named.id);
    }

    #[test]
    fn plain_names_and_bad_labels_are_refused() {
        assert_eq!(
            test_tiny().verify_content_id(),
            Err(ContentIdError::NotContentId("test-tiny".into()))
        );
        for label in [
            "",
            "has.dot",
            "has space",
            &"x".repeat(MAX_CONTENT_LABEL + 1),
        ] {
            assert!(test_tiny().with_content_id(label).is_err(), "{label:?}");
        }
        // A hash-shaped suffix under a bad label does not verify either.
        let mut odd = test_tiny().with_content_id("tiny").unwrap();
        odd.id = odd.id.replacen("tiny", "a.b", 1);
        assert!(matches!(
            odd.verify_content_id(),
            Err(ContentIdError::BadLabel(_))
        ));
    }
}
