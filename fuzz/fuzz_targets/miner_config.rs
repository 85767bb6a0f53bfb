//! A miner's config file, resolved with default flags and checked.
#![no_main]

#[path = "config.rs"]
mod config;

use brainlock_miner::config::FileConfig;
use brainlock_miner::{Cli, MinerConfig};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((file, cli)) =
        config::file_with_default_flags::<FileConfig, Cli>(data, "brainlock-miner")
    else {
        return;
    };
    if let Ok(config) = MinerConfig::resolve(&cli, file) {
        let _ = config.check();
    }
});
