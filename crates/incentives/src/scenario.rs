//! The simulated populations: who mines, how fast, how reliably, from when.

/// Timing jitter of a simulated query: the standard deviation of the log of its
/// measured latency (about 3%).
pub(crate) const DEFAULT_JITTER: f64 = 0.03;

/// Failure rate of an honest miner: the gates fail fewer than 1 honest query in 1,000.
pub const HONEST_FAILURE_RATE: f64 = 0.001;

/// One simulated machine and the hotkeys it mines with.
#[derive(Clone, Debug, PartialEq)]
pub struct SimMiner {
    /// Its name in tables, CSV headers and plot legends.
    pub name: String,
    /// Seconds per item at tempo 0.
    pub seconds_per_item: f64,
    /// What its latency is multiplied by every tempo: 1 for a miner that stands still,
    /// 0.97 for one that gets 3% faster every tempo. Latency at tempo `t` is
    /// `seconds_per_item x latency_factor^t`, also for a miner that joins late (it
    /// joins with the code of its time).
    pub latency_factor: f64,
    /// Probability that one of its queries fails, 0 to 1.
    pub failure_rate: f64,
    /// Standard deviation of the log of a query's measured latency ([`DEFAULT_JITTER`]).
    pub jitter: f64,
    /// Hotkeys it registers, at least 1. Each is queried and scored on its own, and
    /// each is as fast as the machine: validators rarely query them at the same time.
    pub hotkeys: usize,
    /// The tempo its hotkeys register at (0: from the start).
    pub joins_at: u32,
}

impl SimMiner {
    /// An honest miner that stands still at `seconds_per_item`, with one hotkey from
    /// tempo 0.
    pub fn steady(name: impl Into<String>, seconds_per_item: f64) -> Self {
        Self {
            name: name.into(),
            seconds_per_item,
            latency_factor: 1.0,
            failure_rate: HONEST_FAILURE_RATE,
            jitter: DEFAULT_JITTER,
            hotkeys: 1,
            joins_at: 0,
        }
    }

    /// The same miner, `latency_factor` faster every tempo (0.97: 3% faster).
    pub fn improving(self, latency_factor: f64) -> Self {
        Self {
            latency_factor,
            ..self
        }
    }

    /// The same miner, failing each query with probability `failure_rate`.
    pub fn failing(self, failure_rate: f64) -> Self {
        Self {
            failure_rate,
            ..self
        }
    }

    /// The same machine mining with `hotkeys` hotkeys.
    pub fn with_hotkeys(self, hotkeys: usize) -> Self {
        Self { hotkeys, ..self }
    }

    /// The same miner, registering at tempo `joins_at`.
    pub fn joining(self, joins_at: u32) -> Self {
        Self { joins_at, ..self }
    }

    /// Its true seconds per item (before jitter) at `tempo`.
    pub fn latency(&self, tempo: u32) -> f64 {
        self.seconds_per_item * self.latency_factor.powf(f64::from(tempo))
    }
}

/// A named population of simulated miners.
#[derive(Clone, Debug, PartialEq)]
pub struct Scenario {
    /// Its name, as `--scenario` takes it.
    pub name: &'static str,
    /// What it shows, in one sentence.
    pub summary: &'static str,
    /// The miners, in the order validators query them: the first hotkey to show a
    /// sustained latency sets the baseline record.
    pub miners: Vec<SimMiner>,
}

impl Scenario {
    /// The same machines with one hotkey each: what a machine that registers several
    /// hotkeys would earn with one.
    pub fn one_hotkey_each(&self) -> Scenario {
        Scenario {
            miners: self
                .miners
                .iter()
                .map(|m| m.clone().with_hotkeys(1))
                .collect(),
            ..self.clone()
        }
    }

    /// Whether some machine mines with more than one hotkey.
    pub fn has_sybils(&self) -> bool {
        self.miners.iter().any(|m| m.hotkeys > 1)
    }
}

/// The names of the built-in scenarios, in the order they run by default.
pub const SCENARIOS: [&str; 5] = ["improver", "all-improve", "unreliable", "copycat", "sybil"];

/// The built-in scenario `name` for a run of `tempos` tempos; `None` for an unknown
/// name.
pub fn scenario(name: &str, tempos: u32) -> Option<Scenario> {
    match name {
        "improver" => Some(improver()),
        "all-improve" => Some(all_improve()),
        "unreliable" => Some(unreliable()),
        "copycat" => Some(copycat(tempos)),
        "sybil" => Some(sybil()),
        _ => None,
    }
}

/// Five steady miners 38 to 46 s, and one that starts slowest (48 s) and gets 3%
/// faster every tempo. It is queried last, so the fastest steady miner sets the
/// baseline record.
pub(crate) fn improver() -> Scenario {
    let mut miners: Vec<SimMiner> = [38.0, 40.0, 42.0, 44.0, 46.0]
        .map(|s| SimMiner::steady(format!("steady-{s}s"), s))
        .to_vec();
    miners.push(SimMiner::steady("improver", 48.0).improving(0.97));
    Scenario {
        name: "improver",
        summary: "One miner gets 3% faster every tempo; five others of about its speed stand still.",
        miners,
    }
}

/// Five miners start level at 40 s and improve at 0.5% to 2.5% per tempo.
pub(crate) fn all_improve() -> Scenario {
    let miners = [0.5, 1.0, 1.5, 2.0, 2.5]
        .map(|percent| {
            SimMiner::steady(format!("improves-{percent}%"), 40.0).improving(1.0 - percent / 100.0)
        })
        .to_vec();
    Scenario {
        name: "all-improve",
        summary: "Everyone improves, at 0.5% to 2.5% per tempo, from the same start.",
        miners,
    }
}

/// A miner 30% faster than four reliable ones (40 to 46 s) that fails 15% of its
/// queries.
pub(crate) fn unreliable() -> Scenario {
    let mut miners = vec![SimMiner::steady("unreliable", 28.0).failing(0.15)];
    miners.extend([40.0, 42.0, 44.0, 46.0].map(|s| SimMiner::steady(format!("reliable-{s}s"), s)));
    Scenario {
        name: "unreliable",
        summary: "A miner 30% faster than the others fails 15% of its queries.",
        miners,
    }
}

/// The best miner (34 s) among four steady ones (40 to 46 s); a copy of it joins
/// `tempos / 2` tempos in.
pub(crate) fn copycat(tempos: u32) -> Scenario {
    let original = SimMiner::steady("original", 34.0);
    let copy = SimMiner {
        name: "copycat".into(),
        ..original.clone()
    }
    .joining(tempos / 2);
    let mut miners = vec![original];
    miners.extend([40.0, 42.0, 44.0, 46.0].map(|s| SimMiner::steady(format!("steady-{s}s"), s)));
    miners.push(copy);
    Scenario {
        name: "copycat",
        summary: "A copy of the best miner, exactly as fast, joins halfway.",
        miners,
    }
}

/// One machine (40 s) mining with five hotkeys among five honest miners (36 to 46 s)
/// with one each.
pub(crate) fn sybil() -> Scenario {
    let mut miners: Vec<SimMiner> = [36.0, 38.0, 42.0, 44.0, 46.0]
        .map(|s| SimMiner::steady(format!("honest-{s}s"), s))
        .to_vec();
    miners.insert(2, SimMiner::steady("machine-40s", 40.0).with_hotkeys(5));
    Scenario {
        name: "sybil",
        summary: "One machine registers five hotkeys, each as fast as the machine, among five honest miners.",
        miners,
    }
}
