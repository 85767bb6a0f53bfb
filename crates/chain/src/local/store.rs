//! The registry file: its format and a locked read-modify-write that several processes on
//! one machine can run at once (an advisory lock on a side file serializes writers; the
//! new content goes to a temporary file renamed over the old one, so readers never see a
//! half-written registry).

use std::fs::{self, File, OpenOptions, TryLockError};
use std::io::Write;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use brainlock_account::AccountId;
use serde::{Deserialize, Serialize};

use crate::error::ChainError;
use crate::rules::WeightRules;

/// Registry files larger than this are refused rather than read into memory.
const MAX_REGISTRY_BYTES: u64 = 16 * 1024 * 1024;
/// How long a writer waits for another process to release the lock.
const LOCK_TIMEOUT: Duration = Duration::from_secs(10);
const LOCK_POLL: Duration = Duration::from_millis(10);

/// What a registered neuron does on the subnet.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// Sets weights; holds a validator permit unless the file says otherwise.
    Validator,
    /// Serves an axon and is scored by validators; no validator permit by default.
    Miner,
}

/// One neuron as the registry file lists it. Keys are SS58 strings in the file; a key
/// that is not a Bittensor (prefix 42) address makes the whole file unreadable.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RegisteredNeuron {
    /// Position of the neuron in the subnet, handed out in registration order.
    pub uid: u16,
    /// Hotkey (SS58, prefix 42, in the file).
    pub hotkey: AccountId,
    /// Owner coldkey; a local registry has none by default and shows the hotkey instead.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub coldkey: Option<AccountId>,
    /// Whether the neuron validates or mines.
    pub role: Role,
    /// Stake in TAO.
    #[serde(default)]
    pub stake: f64,
    /// Validator permit; when absent, validators have one and miners do not.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub validator_permit: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    /// Served axon address; absent until the neuron serves one.
    pub axon: Option<SocketAddr>,
    #[serde(default)]
    /// Software version of the served axon (the SDK's `version_as_int`).
    pub axon_version: u32,
    #[serde(default)]
    /// Block of the neuron's last weight setting (or registration).
    pub last_update: u64,
}

impl RegisteredNeuron {
    /// The validator permit: the explicit one, else `true` exactly for validators.
    pub fn has_permit(&self) -> bool {
        self.validator_permit
            .unwrap_or(self.role == Role::Validator)
    }
}

/// The whole registry file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RegistryFile {
    /// Subnet the registry stands in for.
    pub netuid: u16,
    /// Unix time (seconds) of block 0; blocks are 12 s apart from there.
    pub genesis_unix: u64,
    #[serde(default)]
    /// Weight-setting rules (rate limit, version key, min/max weights) the registry enforces.
    pub rules: WeightRules,
    #[serde(default)]
    /// Registered neurons, by uid.
    pub neurons: Vec<RegisteredNeuron>,
}

impl RegistryFile {
    /// An empty registry for subnet `netuid` whose block 0 is at `genesis_unix` (Unix seconds).
    pub fn new(netuid: u16, genesis_unix: u64) -> Self {
        Self {
            netuid,
            genesis_unix,
            rules: WeightRules::local(),
            neurons: Vec::new(),
        }
    }

    /// Checks what a hand-edited file could get wrong.
    fn validate(&self) -> Result<(), String> {
        let mut uids = std::collections::HashSet::new();
        let mut hotkeys = std::collections::HashSet::new();
        for neuron in &self.neurons {
            if !uids.insert(neuron.uid) {
                return Err(format!("uid {} is listed twice", neuron.uid));
            }
            if !hotkeys.insert(neuron.hotkey) {
                return Err(format!("hotkey {} is listed twice", neuron.hotkey));
            }
            if !(neuron.stake.is_finite() && neuron.stake >= 0.0) {
                return Err(format!(
                    "uid {}: stake must be a non-negative number",
                    neuron.uid
                ));
            }
        }
        Ok(())
    }
}

fn io_error(path: &Path) -> impl FnOnce(std::io::Error) -> ChainError + '_ {
    move |source| ChainError::Io {
        path: path.to_path_buf(),
        source,
    }
}

fn format_error(path: &Path, message: impl Into<String>) -> ChainError {
    ChainError::Registry {
        path: path.to_path_buf(),
        message: message.into(),
    }
}

/// Reads and validates a registry file.
pub(super) fn read(path: &Path) -> Result<RegistryFile, ChainError> {
    let len = fs::metadata(path).map_err(io_error(path))?.len();
    if len > MAX_REGISTRY_BYTES {
        return Err(format_error(
            path,
            format!("{len} bytes is larger than the {MAX_REGISTRY_BYTES}-byte limit"),
        ));
    }
    let text = fs::read(path).map_err(io_error(path))?;
    let file: RegistryFile =
        serde_json::from_slice(&text).map_err(|e| format_error(path, e.to_string()))?;
    file.validate().map_err(|m| format_error(path, m))?;
    Ok(file)
}

/// An exclusive advisory lock on `<registry>.lock`, released on drop.
pub(super) struct RegistryLock {
    file: File,
}

impl RegistryLock {
    pub(super) fn acquire(registry: &Path) -> Result<Self, ChainError> {
        let path = lock_path(registry);
        let file = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)
            .map_err(io_error(&path))?;
        let deadline = Instant::now() + LOCK_TIMEOUT;
        loop {
            match file.try_lock() {
                Ok(()) => return Ok(Self { file }),
                Err(TryLockError::WouldBlock) if Instant::now() < deadline => {
                    std::thread::sleep(LOCK_POLL)
                }
                Err(TryLockError::WouldBlock) => {
                    return Err(format_error(
                        registry,
                        format!(
                            "another process held {} for {LOCK_TIMEOUT:?}",
                            path.display()
                        ),
                    ));
                }
                Err(TryLockError::Error(e)) => return Err(io_error(&path)(e)),
            }
        }
    }
}

impl Drop for RegistryLock {
    fn drop(&mut self) {
        // Closing the file releases the lock as well; unlocking first just makes it prompt.
        let _ = self.file.unlock();
    }
}

fn lock_path(registry: &Path) -> PathBuf {
    let mut name = registry.as_os_str().to_owned();
    name.push(".lock");
    PathBuf::from(name)
}

/// Writes the registry atomically: temporary file in the same folder, synced, renamed.
pub(super) fn write(path: &Path, file: &RegistryFile) -> Result<(), ChainError> {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let dir = path.parent().filter(|d| !d.as_os_str().is_empty());
    let name = path
        .file_name()
        .ok_or_else(|| format_error(path, "the registry path has no file name"))?;
    let mut tmp_name = std::ffi::OsString::from(".");
    tmp_name.push(name);
    tmp_name.push(format!(
        ".tmp.{}.{}",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed)
    ));
    let tmp = dir.map_or_else(|| PathBuf::from(&tmp_name), |d| d.join(&tmp_name));
    let json = serde_json::to_vec_pretty(file).map_err(|e| format_error(path, e.to_string()))?;
    let result = (|| {
        let mut out = File::create(&tmp)?;
        out.write_all(&json)?;
        out.write_all(b"\n")?;
        out.sync_all()?;
        fs::rename(&tmp, path)
    })();
    if result.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    result.map_err(io_error(path))
}

/// Runs `change` on the registry under the lock and writes the result back. A missing
/// file is first created from `initial`.
pub(super) fn update<T>(
    path: &Path,
    initial: impl FnOnce() -> RegistryFile,
    change: impl FnOnce(&mut RegistryFile) -> Result<T, ChainError>,
) -> Result<T, ChainError> {
    let _lock = RegistryLock::acquire(path)?;
    let mut file = if path.exists() {
        read(path)?
    } else {
        initial()
    };
    let out = change(&mut file)?;
    file.validate().map_err(|m| format_error(path, m))?;
    write(path, &file)?;
    Ok(out)
}
