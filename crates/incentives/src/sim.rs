//! The simulation: every hotkey's scored queries, tempo by tempo, through the
//! validator's own scoring code.

use brainlock_scoring::{
    MinerHistory, QueryRecord, RecordBook, RecordEvent, RewardPolicy, ScoringParams, query_score,
    reward_weights,
};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use crate::Error;
use crate::scenario::{Scenario, SimMiner};

/// How the simulated validator runs.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct SimConfig {
    /// Tempos to simulate, at least 1.
    pub tempos: u32,
    /// Scored queries per hotkey and tempo, at least 1.
    pub queries_per_tempo: u32,
    /// Blocks per tempo (360 on the chain), at least `queries_per_tempo + 1`.
    pub blocks_per_tempo: u64,
    /// Seed of every random draw: the same seed gives the same run.
    pub seed: u64,
    /// The reward rules, checked with [`RewardPolicy::validate`].
    pub policy: RewardPolicy,
}

impl Default for SimConfig {
    /// 100 tempos of 360 blocks, 4 queries per hotkey and tempo, seed 0, and the
    /// validator's default rewards except a bounty share of 0.2: the default, 0, would
    /// keep records without paying for them, and the simulation is there to show what
    /// bounties do.
    fn default() -> Self {
        let mut policy = RewardPolicy::default();
        policy.bounty.share = 0.2;
        Self {
            tempos: 100,
            queries_per_tempo: 4,
            blocks_per_tempo: 360,
            seed: 0,
            policy,
        }
    }
}

/// What one miner (a machine, with all its hotkeys) got in a run.
#[derive(Clone, Debug, PartialEq)]
pub struct MinerRun {
    /// Its name.
    pub name: String,
    /// How many hotkeys it mined with.
    pub hotkeys: usize,
    /// The tempo it joined at.
    pub joins_at: u32,
    /// Its share of the weights at the end of each tempo, summed over its hotkeys; 0
    /// before it joined.
    pub shares: Vec<f64>,
    /// Bounties its hotkeys earned (a record beaten by the bounty step).
    pub bounties_won: usize,
    /// Bounties its hotkeys lost by failing a query.
    pub bounties_forfeited: usize,
    /// Speed records its hotkeys set, the first (baseline, no bounty) included.
    pub records_set: usize,
    /// Tempos at whose end one of its hotkeys held a running bounty.
    pub bounty_tempos: usize,
}

impl MinerRun {
    /// The shares from the tempo it joined on.
    pub fn active_shares(&self) -> &[f64] {
        let start = (self.joins_at as usize).min(self.shares.len());
        &self.shares[start..]
    }

    /// Its share at its first tempo (the one it joined at).
    pub fn first_share(&self) -> f64 {
        self.active_shares().first().copied().unwrap_or(0.0)
    }

    /// Its share at the last tempo.
    pub fn last_share(&self) -> f64 {
        self.shares.last().copied().unwrap_or(0.0)
    }

    /// Its mean share over the tempos since it joined.
    pub fn mean_share(&self) -> f64 {
        mean(self.active_shares())
    }
}

/// Mean of `values`; 0 for none.
pub(crate) fn mean(values: &[f64]) -> f64 {
    if values.is_empty() {
        0.0
    } else {
        values.iter().sum::<f64>() / values.len() as f64
    }
}

/// A finished run of one scenario.
#[derive(Clone, Debug, PartialEq)]
pub struct Run {
    /// The scenario's name.
    pub scenario: &'static str,
    /// How it ran.
    pub config: SimConfig,
    /// One per miner, in the scenario's order.
    pub miners: Vec<MinerRun>,
}

/// One registered hotkey and what the validator keeps about it.
struct Hotkey {
    miner: usize,
    history: MinerHistory,
    rng: ChaCha8Rng,
}

/// Runs `scenario` under `config`.
///
/// Each tempo, each hotkey that has joined gets `queries_per_tempo` scored queries,
/// spread evenly over the tempo's blocks. A query fails with the miner's failure rate;
/// otherwise its latency is the miner's latency at that tempo times a log-normal
/// jitter, and it scores [`query_score`] at quality 1 under
/// [`ScoringParams::CONV3X3`]. Each outcome goes into the hotkey's [`MinerHistory`]
/// and then to the circuit's [`RecordBook`], which starts empty, as a fresh
/// validator's does: the first hotkey, in the scenario's order, to show a sustained
/// latency (`policy.bounty.queries` passed queries in a row: tempo 10 by default) sets
/// the baseline record. At the end of the tempo, [`reward_weights`] of every hotkey's
/// standing and running bounty gives the weights.
///
/// Every hotkey draws from its own random stream (seeded by the seed, its miner's
/// position and its own), so one miner's draws do not depend on who else mines.
pub fn simulate(scenario: &Scenario, config: &SimConfig) -> Result<Run, Error> {
    validate(scenario, config)?;
    let mut hotkeys = Vec::new();
    for (miner, m) in scenario.miners.iter().enumerate() {
        for index in 0..m.hotkeys {
            let mut rng = ChaCha8Rng::seed_from_u64(config.seed);
            rng.set_stream(((miner as u64) << 32) | index as u64);
            hotkeys.push(Hotkey {
                miner,
                history: MinerHistory::new(),
                rng,
            });
        }
    }
    let mut runs: Vec<MinerRun> = scenario
        .miners
        .iter()
        .map(|m| MinerRun {
            name: m.name.clone(),
            hotkeys: m.hotkeys,
            joins_at: m.joins_at,
            shares: Vec::with_capacity(config.tempos as usize),
            bounties_won: 0,
            bounties_forfeited: 0,
            records_set: 0,
            bounty_tempos: 0,
        })
        .collect();
    let mut book = RecordBook::<usize>::default();
    let spacing = config.blocks_per_tempo / u64::from(config.queries_per_tempo + 1);
    for tempo in 0..config.tempos {
        let start = u64::from(tempo) * config.blocks_per_tempo;
        for query in 1..=u64::from(config.queries_per_tempo) {
            let block = start + query * spacing;
            for (id, hotkey) in hotkeys.iter_mut().enumerate() {
                let miner = &scenario.miners[hotkey.miner];
                if tempo < miner.joins_at {
                    continue;
                }
                hotkey
                    .history
                    .push(draw_query(miner, tempo, &mut hotkey.rng));
                let run = &mut runs[hotkey.miner];
                match book.observe(
                    &id,
                    &hotkey.history,
                    block,
                    config.blocks_per_tempo,
                    &config.policy.bounty,
                ) {
                    Some(RecordEvent::NewRecord { bounty, .. }) => {
                        run.records_set += 1;
                        run.bounties_won += usize::from(bounty.is_some());
                    }
                    Some(RecordEvent::BountyAwarded(_)) => run.bounties_won += 1,
                    Some(RecordEvent::Forfeited { bounty, .. }) => {
                        run.bounties_forfeited += usize::from(bounty.is_some());
                    }
                    None => {}
                }
            }
        }
        let end = start + config.blocks_per_tempo;
        let standings: Vec<f64> = hotkeys.iter().map(|h| h.history.standing()).collect();
        let bounties: Vec<f64> = (0..hotkeys.len())
            .map(|id| book.remaining(&id, end))
            .collect();
        let rewards = reward_weights(&standings, &bounties, &config.policy);
        let mut shares = vec![0.0; runs.len()];
        let mut holding = vec![false; runs.len()];
        for ((hotkey, weight), left) in hotkeys.iter().zip(&rewards.weights).zip(&bounties) {
            shares[hotkey.miner] += weight;
            holding[hotkey.miner] |= *left > 0.0;
        }
        for ((run, share), holds) in runs.iter_mut().zip(shares).zip(holding) {
            run.shares.push(share);
            run.bounty_tempos += usize::from(holds);
        }
    }
    Ok(Run {
        scenario: scenario.name,
        config: *config,
        miners: runs,
    })
}

/// One query of `miner` at `tempo`, as the validator records it.
fn draw_query(miner: &SimMiner, tempo: u32, rng: &mut ChaCha8Rng) -> QueryRecord {
    if rng.random_bool(miner.failure_rate) {
        return QueryRecord::failed();
    }
    let latency = miner.latency(tempo) * (miner.jitter * standard_normal(rng)).exp();
    QueryRecord::passed(query_score(&ScoringParams::CONV3X3, 1.0, latency), latency)
}

/// A standard normal draw (Box-Muller): the one distribution the simulation needs is
/// not worth a dependency.
fn standard_normal(rng: &mut ChaCha8Rng) -> f64 {
    // 1 - u is in (0, 1]: its logarithm is finite.
    let radius = (-2.0 * (1.0 - rng.random::<f64>()).ln()).sqrt();
    radius * (std::f64::consts::TAU * rng.random::<f64>()).cos()
}

fn validate(scenario: &Scenario, config: &SimConfig) -> Result<(), Error> {
    config.policy.validate()?;
    if config.tempos == 0 || config.queries_per_tempo == 0 {
        return Err(Error::Config(
            "tempos and queries per tempo must be at least 1",
        ));
    }
    if config.blocks_per_tempo <= u64::from(config.queries_per_tempo) {
        return Err(Error::Config(
            "a tempo needs more blocks than queries per hotkey",
        ));
    }
    for m in &scenario.miners {
        let reason = if !(m.seconds_per_item.is_finite() && m.seconds_per_item > 0.0) {
            Some("seconds per item must be finite and positive")
        } else if !(m.latency_factor.is_finite() && m.latency_factor > 0.0) {
            Some("the latency factor must be finite and positive")
        } else if !(0.0..=1.0).contains(&m.failure_rate) {
            Some("the failure rate must be between 0 and 1")
        } else if !(m.jitter.is_finite() && m.jitter >= 0.0) {
            Some("the jitter must be finite and non-negative")
        } else if m.hotkeys == 0 {
            Some("a miner needs at least one hotkey")
        } else {
            None
        };
        if let Some(reason) = reason {
            return Err(Error::Miner {
                name: m.name.clone(),
                reason,
            });
        }
    }
    Ok(())
}
