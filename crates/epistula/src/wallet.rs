//! Hotkeys in the Bittensor wallet layout: `<wallets>/<name>/hotkeys/<hotkey>`, an
//! unencrypted JSON file with `secretSeed`, `secretPhrase`, `cryptoType`, `publicKey`,
//! `ss58Address`, `accountId` and `privateKey`, readable by `btcli` and `bittensor-wallet`.

use std::fs;
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use thiserror::Error;
use zeroize::Zeroizing;

use crate::AccountId;
use crate::keypair::{CryptoType, KeyError, Keypair};
use crate::mnemonic;

/// Hotkey files are a few hundred bytes; anything far larger is not one.
const MAX_HOTKEY_FILE_BYTES: u64 = 64 * 1024;

/// Why a hotkey file could not be loaded or created.
#[derive(Debug, Error)]
pub enum WalletError {
    /// No hotkey file at this path.
    #[error("hotkey file {0} does not exist (create one with `brainlock wallet create` or btcli)")]
    NotFound(PathBuf),
    /// Reading, writing or creating a wallet path failed (permissions, disk, ...).
    #[error("cannot access {path}: {source}")]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// The underlying error.
        source: io::Error,
    },
    /// The file is an encrypted keyfile (NaCl, Ansible vault or legacy Fernet).
    #[error("hotkey file {0} is encrypted; only unencrypted hotkeys are supported")]
    Encrypted(PathBuf),
    /// The file is not wallet JSON: not UTF-8, over 64 KiB, bad hex or unknown `cryptoType`.
    #[error("hotkey file {path} is malformed: {reason}")]
    Malformed {
        /// The hotkey file.
        path: PathBuf,
        /// What is wrong with it.
        reason: String,
    },
    /// The file has neither `secretSeed` nor `secretPhrase`.
    #[error("hotkey file {0} has neither secretSeed nor secretPhrase (a public-only file?)")]
    NoSecret(PathBuf),
    /// The key derived from the secret differs from the file's `publicKey` or `ss58Address`.
    #[error("hotkey file {path}: the secret does not match its {field}")]
    Mismatch {
        /// The hotkey file.
        path: PathBuf,
        /// The disagreeing field: `publicKey` or `ss58Address`.
        field: &'static str,
    },
    /// [`create_hotkey`] would replace an existing file without `overwrite`.
    #[error("{0} already exists (pass overwrite to replace it)")]
    AlreadyExists(PathBuf),
    /// A wallet or hotkey name is empty, `.`/`..`, or contains `/`, `\` or NUL.
    #[error("invalid wallet or hotkey name {0:?}: must be non-empty, without path separators")]
    BadName(String),
    /// The phrase or seed in the file is invalid, or generating a phrase failed.
    #[error(transparent)]
    Key(#[from] KeyError),
}

/// `~/.bittensor/wallets`, where btcli keeps wallets, if the home directory is known.
pub fn default_wallets_dir() -> Option<PathBuf> {
    std::env::var_os("HOME").map(|home| PathBuf::from(home).join(".bittensor").join("wallets"))
}

/// The path of a hotkey file in the wallet layout.
pub fn hotkey_path(wallets_dir: &Path, name: &str, hotkey: &str) -> Result<PathBuf, WalletError> {
    check_name(name)?;
    check_name(hotkey)?;
    Ok(wallets_dir.join(name).join("hotkeys").join(hotkey))
}

fn check_name(name: &str) -> Result<(), WalletError> {
    let bad = name.is_empty() || name == "." || name == ".." || name.contains(['/', '\\', '\0']);
    if bad {
        return Err(WalletError::BadName(name.to_owned()));
    }
    Ok(())
}

/// Loads the hotkey `<wallets_dir>/<name>/hotkeys/<hotkey>`.
pub fn load_hotkey(wallets_dir: &Path, name: &str, hotkey: &str) -> Result<Keypair, WalletError> {
    load_hotkey_file(&hotkey_path(wallets_dir, name, hotkey)?)
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct StoredHotkey {
    secret_seed: Option<String>,
    secret_phrase: Option<String>,
    /// Absent in files written by older tooling, which only made sr25519 keys.
    crypto_type: Option<u64>,
    public_key: Option<String>,
    ss58_address: Option<String>,
}

/// Loads a hotkey file from `secretSeed`, or from `secretPhrase` when there is no seed,
/// and checks the result against the file's `publicKey` and `ss58Address`.
pub fn load_hotkey_file(path: &Path) -> Result<Keypair, WalletError> {
    let text = read_small_file(path)?;
    let malformed = |reason: String| WalletError::Malformed {
        path: path.to_owned(),
        reason,
    };
    let trimmed = text.trim_start();
    // Encrypted keyfiles: NaCl, Ansible vault, and the legacy Fernet token.
    if ["$NACL", "$ANSIBLE_VAULT", "gAAAAA"]
        .iter()
        .any(|marker| trimmed.starts_with(marker))
    {
        return Err(WalletError::Encrypted(path.to_owned()));
    }
    let stored: StoredHotkey =
        serde_json::from_str(&text).map_err(|e| malformed(format!("not wallet JSON: {e}")))?;
    let crypto = match stored.crypto_type {
        None => CryptoType::Sr25519,
        Some(code) => CryptoType::from_wallet_code(code)
            .ok_or_else(|| malformed(format!("unknown cryptoType {code}")))?,
    };
    let keypair = match (&stored.secret_seed, &stored.secret_phrase) {
        (Some(seed), _) => {
            let seed =
                parse_hex32(seed).map_err(|reason| malformed(format!("secretSeed {reason}")))?;
            Keypair::from_seed(crypto, &seed)
        }
        (None, Some(phrase)) => Keypair::from_phrase(crypto, phrase)?,
        (None, None) => return Err(WalletError::NoSecret(path.to_owned())),
    };
    let account = keypair.account_id();
    if let Some(public) = &stored.public_key {
        let public =
            parse_hex32(public).map_err(|reason| malformed(format!("publicKey {reason}")))?;
        if public.as_ref() != account.as_bytes() {
            return Err(WalletError::Mismatch {
                path: path.to_owned(),
                field: "publicKey",
            });
        }
    }
    if let Some(address) = &stored.ss58_address
        && AccountId::from_ss58(address).ok() != Some(account)
    {
        return Err(WalletError::Mismatch {
            path: path.to_owned(),
            field: "ss58Address",
        });
    }
    Ok(keypair)
}

fn read_small_file(path: &Path) -> Result<Zeroizing<String>, WalletError> {
    let io_error = |source: io::Error| match source.kind() {
        io::ErrorKind::NotFound => WalletError::NotFound(path.to_owned()),
        _ => WalletError::Io {
            path: path.to_owned(),
            source,
        },
    };
    let file = fs::File::open(path).map_err(io_error)?;
    let mut text = Zeroizing::new(String::new());
    file.take(MAX_HOTKEY_FILE_BYTES + 1)
        .read_to_string(&mut text)
        .map_err(|source| match source.kind() {
            io::ErrorKind::InvalidData => WalletError::Malformed {
                path: path.to_owned(),
                reason: "not UTF-8 text".into(),
            },
            _ => io_error(source),
        })?;
    if text.len() as u64 > MAX_HOTKEY_FILE_BYTES {
        return Err(WalletError::Malformed {
            path: path.to_owned(),
            reason: format!("larger than {MAX_HOTKEY_FILE_BYTES} bytes"),
        });
    }
    Ok(text)
}

fn parse_hex32(text: &str) -> Result<Zeroizing<[u8; 32]>, String> {
    let digits = text.strip_prefix("0x").unwrap_or(text);
    let mut out = Zeroizing::new([0u8; 32]);
    hex::decode_to_slice(digits, out.as_mut())
        .map_err(|e| format!("is not 32 bytes of hex: {e}"))?;
    Ok(out)
}

/// A hotkey just written by [`create_hotkey`]. Show the phrase to the operator once:
/// it is the only backup.
#[derive(Debug)]
pub struct CreatedHotkey {
    /// Where the hotkey file was written.
    pub path: PathBuf,
    /// The new sr25519 hotkey.
    pub keypair: Keypair,
    /// Its 12-word BIP39 `secretPhrase`; wiped on drop.
    pub phrase: Zeroizing<String>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct HotkeyFileOut<'a> {
    public_key: String,
    secret_seed: &'a str,
    secret_phrase: &'a str,
    crypto_type: u8,
    ss58_address: String,
    account_id: String,
    private_key: &'a str,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct HotkeyPubFileOut {
    public_key: String,
    ss58_address: String,
    account_id: String,
    crypto_type: u8,
}

/// Creates a fresh sr25519 hotkey from a new 12-word phrase and writes it, as
/// `bittensor-wallet` does, to `<wallets_dir>/<name>/hotkeys/<hotkey>` (mode 0600) with
/// its public part in `<hotkey>pub.txt`. Refuses to replace an existing key unless
/// `overwrite` is set.
pub fn create_hotkey(
    wallets_dir: &Path,
    name: &str,
    hotkey: &str,
    overwrite: bool,
) -> Result<CreatedHotkey, WalletError> {
    let path = hotkey_path(wallets_dir, name, hotkey)?;
    if !overwrite && path.exists() {
        return Err(WalletError::AlreadyExists(path));
    }
    let phrase = mnemonic::generate_phrase()?;
    let seed = mnemonic::seed_from_phrase(&phrase)?;
    let keypair = Keypair::from_seed(CryptoType::Sr25519, &seed);
    let (secret_json, public_json) = hotkey_file_contents(&keypair, &seed, &phrase);
    let account = keypair.account_id();

    let dir = path.parent().expect("hotkey paths have a parent");
    fs::create_dir_all(dir).map_err(|source| WalletError::Io {
        path: dir.to_owned(),
        source,
    })?;
    write_private(&path, secret_json.as_bytes())?;
    write_private(
        &dir.join(format!("{hotkey}pub.txt")),
        public_json.as_bytes(),
    )?;
    tracing::info!(path = %path.display(), hotkey = %account, "created hotkey");
    Ok(CreatedHotkey {
        path,
        keypair,
        phrase,
    })
}

/// The JSON of a hotkey file and of its `pub.txt` companion, field for field as
/// `bittensor-wallet` writes them.
fn hotkey_file_contents(
    keypair: &Keypair,
    seed: &[u8; 32],
    phrase: &str,
) -> (Zeroizing<String>, String) {
    let account = keypair.account_id();
    let public_hex = format!("0x{}", hex::encode(account.as_bytes()));
    let seed_hex = Zeroizing::new(format!("0x{}", hex::encode(seed)));
    let private_hex = Zeroizing::new(format!("0x{}", hex::encode(&*keypair.wallet_private_key())));
    let crypto_type = keypair.crypto_type().wallet_code();
    let secret_json = Zeroizing::new(
        serde_json::to_string(&HotkeyFileOut {
            public_key: public_hex.clone(),
            secret_seed: &seed_hex,
            secret_phrase: phrase,
            crypto_type,
            ss58_address: account.to_ss58(),
            account_id: public_hex.clone(),
            private_key: &private_hex,
        })
        .expect("a struct of strings serializes"),
    );
    let public_json = serde_json::to_string(&HotkeyPubFileOut {
        public_key: public_hex.clone(),
        ss58_address: account.to_ss58(),
        account_id: public_hex,
        crypto_type,
    })
    .expect("a struct of strings serializes");
    (secret_json, public_json)
}

/// Writes a file readable only by its owner, replacing any old one atomically (a
/// temporary file in the same directory, then a rename) so a crash never leaves a
/// half-written key.
fn write_private(path: &Path, contents: &[u8]) -> Result<(), WalletError> {
    let io_error = |source| WalletError::Io {
        path: path.to_owned(),
        source,
    };
    let mut temp_name = path.as_os_str().to_owned();
    temp_name.push(format!(".tmp{}", std::process::id()));
    let temp = PathBuf::from(temp_name);
    let mut options = fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let written = options.open(&temp).and_then(|mut file| {
        file.write_all(contents)?;
        file.sync_all()
    });
    if let Err(source) = written.and_then(|()| fs::rename(&temp, path)) {
        let _ = fs::remove_file(&temp);
        return Err(io_error(source));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn created_hotkey_loads_back_with_owner_only_permissions() {
        let dir = tempfile::tempdir().unwrap();
        let created = create_hotkey(dir.path(), "w", "h", false).unwrap();
        assert_eq!(created.path, dir.path().join("w/hotkeys/h"));
        let loaded = load_hotkey(dir.path(), "w", "h").unwrap();
        assert_eq!(loaded.account_id(), created.keypair.account_id());
        // The phrase alone reproduces the key, so it is a working backup.
        let from_phrase = Keypair::from_phrase(CryptoType::Sr25519, &created.phrase).unwrap();
        assert_eq!(from_phrase.account_id(), created.keypair.account_id());
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = fs::metadata(&created.path).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        let public: serde_json::Value = serde_json::from_str(
            &fs::read_to_string(dir.path().join("w/hotkeys/hpub.txt")).unwrap(),
        )
        .unwrap();
        assert_eq!(
            public["ss58Address"],
            created.keypair.account_id().to_ss58()
        );
        assert!(public.get("secretSeed").is_none());
    }

    #[test]
    fn create_refuses_to_overwrite_unless_asked() {
        let dir = tempfile::tempdir().unwrap();
        let first = create_hotkey(dir.path(), "w", "h", false).unwrap();
        assert!(matches!(
            create_hotkey(dir.path(), "w", "h", false),
            Err(WalletError::AlreadyExists(_))
        ));
        let loaded = load_hotkey(dir.path(), "w", "h").unwrap();
        assert_eq!(loaded.account_id(), first.keypair.account_id());
        let second = create_hotkey(dir.path(), "w", "h", true).unwrap();
        assert_ne!(second.keypair.account_id(), first.keypair.account_id());
        assert_eq!(
            load_hotkey(dir.path(), "w", "h").unwrap().account_id(),
            second.keypair.account_id()
        );
    }

    #[test]
    fn rejects_path_tricks_in_names() {
        let dir = tempfile::tempdir().unwrap();
        for bad in ["", ".", "..", "a/b", "a\\b"] {
            assert!(matches!(
                create_hotkey(dir.path(), bad, "h", false),
                Err(WalletError::BadName(_))
            ));
            assert!(matches!(
                load_hotkey(dir.path(), "w", bad),
                Err(WalletError::BadName(_))
            ));
        }
    }

    fn write(dir: &Path, text: &str) -> PathBuf {
        let path = dir.join("hotkey");
        fs::write(&path, text).unwrap();
        path
    }

    #[test]
    fn clear_errors_for_missing_and_malformed_files() {
        let dir = tempfile::tempdir().unwrap();
        let missing = load_hotkey(dir.path(), "nowallet", "nohotkey").unwrap_err();
        assert!(matches!(missing, WalletError::NotFound(_)));
        assert!(missing.to_string().contains("nowallet/hotkeys/nohotkey"));

        type Expectation = fn(&WalletError) -> bool;
        let cases: [(&str, Expectation); 8] = [
            ("not json", |e| matches!(e, WalletError::Malformed { .. })),
            ("$NACL\x01\x02", |e| matches!(e, WalletError::Encrypted(_))),
            ("gAAAAABk", |e| matches!(e, WalletError::Encrypted(_))),
            (r#"{"publicKey":"0x00"}"#, |e| {
                matches!(e, WalletError::NoSecret(_))
            }),
            (
                r#"{"secretSeed":"0x1234"}"#,
                |e| matches!(e, WalletError::Malformed { reason, .. } if reason.contains("secretSeed")),
            ),
            (r#"{"secretPhrase":"not a real phrase"}"#, |e| {
                matches!(e, WalletError::Key(KeyError::BadPhrase(_)))
            }),
            (
                r#"{"secretSeed":"0x0707070707070707070707070707070707070707070707070707070707070707","cryptoType":9}"#,
                |e| matches!(e, WalletError::Malformed { reason, .. } if reason.contains("cryptoType")),
            ),
            (
                r#"{"secretSeed":"0x0707070707070707070707070707070707070707070707070707070707070707","ss58Address":"5GrwvaEF5zXb26Fz9rcQpDWS57CtERHpNehXCPcNoHGKutQY"}"#,
                |e| {
                    matches!(
                        e,
                        WalletError::Mismatch {
                            field: "ss58Address",
                            ..
                        }
                    )
                },
            ),
        ];
        for (text, expected) in cases {
            let err = load_hotkey_file(&write(dir.path(), text)).unwrap_err();
            assert!(expected(&err), "{text:?} gave {err:?}");
        }
        let huge = "x".repeat(MAX_HOTKEY_FILE_BYTES as usize + 10);
        assert!(matches!(
            load_hotkey_file(&write(dir.path(), &huge)),
            Err(WalletError::Malformed { .. })
        ));
    }

    #[test]
    fn loads_from_phrase_when_there_is_no_seed() {
        let dir = tempfile::tempdir().unwrap();
        let text = r#"{"secretPhrase":"legal winner thank year wave sausage worth useful legal winner thank yellow","cryptoType":1,"ss58Address":"5EHgWw2Af1pnoc7f1A8bfmM97W3DAYW8xr82RfhLL9oAabAe"}"#;
        let pair = load_hotkey_file(&write(dir.path(), text)).unwrap();
        assert_eq!(
            pair.account_id().to_ss58(),
            "5EHgWw2Af1pnoc7f1A8bfmM97W3DAYW8xr82RfhLL9oAabAe"
        );
    }

    #[test]
    fn written_fields_match_what_bittensor_wallet_writes() {
        // A hotkey file written by Python bittensor-wallet (scripts/interop/make_fixtures.py).
        let python: serde_json::Value = serde_json::from_str(include_str!(
            "../tests/fixtures/wallets/epistula-test/hotkeys/test-only-sr25519"
        ))
        .unwrap();
        let python_pub: serde_json::Value = serde_json::from_str(include_str!(
            "../tests/fixtures/wallets/epistula-test/hotkeys/test-only-sr25519pub.txt"
        ))
        .unwrap();
        let phrase = python["secretPhrase"].as_str().unwrap();
        let seed = mnemonic::seed_from_phrase(phrase).unwrap();
        let keypair = Keypair::from_seed(CryptoType::Sr25519, &seed);
        let (secret, public) = hotkey_file_contents(&keypair, &seed, phrase);
        let ours: serde_json::Value = serde_json::from_str(&secret).unwrap();
        let ours_pub: serde_json::Value = serde_json::from_str(&public).unwrap();
        assert_eq!(ours, python, "every field, privateKey included");
        assert_eq!(ours_pub, python_pub);
    }
}
