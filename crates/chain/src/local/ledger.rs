//! The weights ledger: one JSON line per weight setting, where a chain would have stored
//! the weights. Appended under the registry lock, so lines from several validators never
//! interleave.

use std::fs::{self, OpenOptions};
use std::io::{BufRead, BufReader, Read, Write};
use std::path::Path;

use brainlock_account::AccountId;
use serde::{Deserialize, Serialize};

use crate::error::ChainError;

/// Longest ledger line accepted when reading (a full 4096-neuron setting is ~60 KB).
const MAX_LINE_BYTES: usize = 1024 * 1024;

/// One weight setting.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LedgerEntry {
    /// Registry block at which the weights were set.
    pub block: u64,
    /// Wall-clock time of the setting, in Unix milliseconds.
    pub unix_ms: u64,
    /// Subnet the weights are for.
    pub netuid: u16,
    /// The validator's hotkey.
    pub validator: AccountId,
    /// Uids with a non-zero weight, in the order given.
    pub uids: Vec<u16>,
    /// Weights of those uids on the u16 scale (largest = 65535).
    pub weights: Vec<u16>,
    /// Version key sent with the weights.
    pub version_key: u64,
}

fn io_error(path: &Path, source: std::io::Error) -> ChainError {
    ChainError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// Appends one entry as a single write of one line.
pub(super) fn append(path: &Path, entry: &LedgerEntry) -> Result<(), ChainError> {
    let mut line = serde_json::to_vec(entry).map_err(|e| ChainError::Registry {
        path: path.to_path_buf(),
        message: e.to_string(),
    })?;
    line.push(b'\n');
    let mut file = OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .map_err(|e| io_error(path, e))?;
    file.write_all(&line).map_err(|e| io_error(path, e))?;
    file.sync_data().map_err(|e| io_error(path, e))
}

/// Reads every entry of a ledger (an absent ledger has none).
pub fn read_ledger(path: &Path) -> Result<Vec<LedgerEntry>, ChainError> {
    let file = match fs::File::open(path) {
        Ok(file) => file,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(io_error(path, e)),
    };
    let mut entries = Vec::new();
    let mut reader = BufReader::new(file);
    let mut line = Vec::new();
    for number in 1.. {
        line.clear();
        let read = (&mut reader)
            .take(MAX_LINE_BYTES as u64 + 1)
            .read_until(b'\n', &mut line)
            .map_err(|e| io_error(path, e))?;
        if read == 0 {
            break;
        }
        let bad = |message: String| ChainError::Registry {
            path: path.to_path_buf(),
            message: format!("ledger line {number}: {message}"),
        };
        if line.len() > MAX_LINE_BYTES {
            return Err(bad(format!("longer than {MAX_LINE_BYTES} bytes")));
        }
        let text = line.trim_ascii();
        if text.is_empty() {
            continue;
        }
        entries.push(serde_json::from_slice(text).map_err(|e| bad(e.to_string()))?);
    }
    Ok(entries)
}
