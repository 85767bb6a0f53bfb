//! A validator's config file, merged with default flags.
#![no_main]

#[path = "config.rs"]
mod config;

use brainlock_validator::config::FileConfig;
use brainlock_validator::{Cli, ValidatorConfig};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Some((file, cli)) =
        config::file_with_default_flags::<FileConfig, Cli>(data, "brainlock-validator")
    {
        let _ = ValidatorConfig::merge(cli, file);
    }
});
