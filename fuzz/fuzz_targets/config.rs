//! What the config targets share: the input as a daemon's TOML file, with the daemon's
//! flags at their defaults.

use clap::Parser;
use serde::de::DeserializeOwned;

/// The file as `F` and a command line of `binary` alone, or `None` where the daemon would
/// refuse the file before looking at it (not UTF-8, not TOML of that shape).
pub fn file_with_default_flags<F: DeserializeOwned, C: Parser>(
    data: &[u8],
    binary: &str,
) -> Option<(F, C)> {
    let text = std::str::from_utf8(data).ok()?;
    let file = toml::from_str::<F>(text).ok()?;
    let cli = C::try_parse_from([binary]).ok()?;
    Some((file, cli))
}
