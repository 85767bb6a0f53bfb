//! The incentive simulator behind `brainlock incentives simulate`: the validator's own
//! scoring and reward code (`brainlock-scoring`) run over populations of simulated
//! miners, tempo by tempo, to show who earns what under DESIGN section 5's rules.
//!
//! Nothing here is a model of the rules: every query score, history, standing, speed
//! record, bounty and weight comes from the functions the validator calls. What is
//! simulated is only the miners ([`SimMiner`]: speed, improvement, failures, timing
//! jitter, hotkeys) and the validator's schedule ([`SimConfig`]).
//!
//! - [`scenario`]: the named populations ([`SCENARIOS`]).
//! - [`simulate`]: one run, deterministic for a seed.
//! - [`Report`]: a run as a markdown table, a CSV of shares per tempo and a PNG plot.

#![deny(missing_docs)]

mod plot;
mod report;
mod scenario;
mod sim;

use std::path::PathBuf;

pub use plot::plot_shares;
pub use report::{Report, run_scenario};
pub use scenario::{HONEST_FAILURE_RATE, SCENARIOS, Scenario, SimMiner, scenario};
pub use sim::{MinerRun, Run, SimConfig, simulate};

/// Why a simulation could not run or its outputs could not be written.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The reward rules are out of range (the source says which setting).
    #[error("invalid reward policy")]
    Policy(#[from] brainlock_scoring::PolicyError),
    /// The simulated validator's schedule is impossible.
    #[error("invalid simulation settings: {0}")]
    Config(&'static str),
    /// A simulated miner is impossible.
    #[error("simulated miner {name}: {reason}")]
    Miner {
        /// Its name.
        name: String,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// An output file or folder could not be written (the source says why).
    #[error("writing {}", path.display())]
    Io {
        /// The file or folder.
        path: PathBuf,
        /// The error.
        source: std::io::Error,
    },
    /// The embedded font could not be loaded.
    #[error("the embedded DejaVu Sans font could not be loaded")]
    Font,
    /// The plot could not be drawn or written.
    #[error("plotting {}: {message}", path.display())]
    Plot {
        /// The PNG file.
        path: PathBuf,
        /// What plotters reported.
        message: String,
    },
}
