//! Speed records and progressive bounties.
//!
//! Per circuit the validator keeps the speed record: the best sustained seconds per
//! item any miner has shown ([`MinerHistory::sustained_latency`], never one query). A
//! miner whose sustained latency beats the record by at least [`BountyPolicy::step`]
//! sets a new record and earns a bounty: [`BountyPolicy::share`] of the weights for
//! [`BountyPolicy::tempos`] tempos, decaying linearly, forfeited at its next failed
//! query. The first record on a circuit is a baseline and earns no bounty.

use serde::{Deserialize, Serialize};

use crate::history::MinerHistory;

/// When a record is set and what its bounty is worth.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BountyPolicy {
    /// How much faster than the record a sustained latency must be: 0.1 means at least
    /// 10% lower seconds per item. Default 0.1.
    pub step: f64,
    /// Share of the weights bounty holders receive while their bounties run, 0 to 1.
    /// Default 0: records are kept and shown, bounties pay nothing; the subnet owner's
    /// validator sets it.
    pub share: f64,
    /// Tempos a bounty runs, decaying linearly to 0. Default 20.
    pub tempos: u32,
    /// Consecutive passed queries a sustained latency is the median of, 10 to 40.
    /// Default 40: a miner that fails one query in seven practically never shows 40
    /// clean ones in a row, an honest one (gates fail fewer than 1 in 1,000) nearly
    /// always does.
    pub queries: usize,
}

impl Default for BountyPolicy {
    fn default() -> Self {
        Self {
            step: 0.1,
            share: 0.0,
            tempos: 20,
            queries: 40,
        }
    }
}

/// The best sustained latency on a circuit and who showed it.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct SpeedRecord<H> {
    /// The miner that set it.
    pub holder: H,
    /// Its sustained seconds per item.
    pub seconds_per_item: f64,
    /// Block at which it was set.
    pub block: u64,
}

/// A running bounty: a share of the weights for the miner that set a record.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Bounty<H> {
    /// The record setter.
    pub holder: H,
    /// Block at which it was awarded.
    pub awarded_block: u64,
    /// Block at which it has decayed to nothing.
    pub expires_block: u64,
}

impl<H> Bounty<H> {
    /// What is left of it at `block`: 1 when awarded, falling linearly to 0 at expiry.
    pub fn remaining(&self, block: u64) -> f64 {
        let span = self.expires_block.saturating_sub(self.awarded_block);
        if span == 0 || block >= self.expires_block {
            return 0.0;
        }
        let left = self.expires_block - block.max(self.awarded_block);
        left as f64 / span as f64
    }
}

/// What a query changed in the book, for the validator to persist and announce.
#[derive(Clone, Debug, PartialEq)]
pub enum RecordEvent<H> {
    /// A new record; with a bounty unless it is the circuit's first.
    NewRecord {
        /// The record set.
        record: SpeedRecord<H>,
        /// Seconds per item of the record it beat.
        previous: Option<f64>,
        /// The bounty it earned.
        bounty: Option<Bounty<H>>,
    },
    /// A bounty holder failed a query and lost its bounty.
    Forfeited(Bounty<H>),
}

/// One circuit's speed record and running bounties (at most one per holder).
#[derive(Clone, Debug, PartialEq)]
pub struct RecordBook<H> {
    record: Option<SpeedRecord<H>>,
    bounties: Vec<Bounty<H>>,
}

impl<H> Default for RecordBook<H> {
    fn default() -> Self {
        Self {
            record: None,
            bounties: Vec::new(),
        }
    }
}

impl<H: Clone + PartialEq> RecordBook<H> {
    /// A book as stored: the current record and the bounties that have not been
    /// forfeited (expired ones are harmless: they are worth 0).
    pub fn restore(record: Option<SpeedRecord<H>>, bounties: Vec<Bounty<H>>) -> Self {
        Self { record, bounties }
    }

    /// The current record.
    pub fn record(&self) -> Option<&SpeedRecord<H>> {
        self.record.as_ref()
    }

    /// The bounties still worth something at `block`.
    pub fn running(&self, block: u64) -> impl Iterator<Item = &Bounty<H>> {
        self.bounties
            .iter()
            .filter(move |b| b.remaining(block) > 0.0)
    }

    /// What is left of `holder`'s bounty at `block`; 0 when it holds none.
    pub fn remaining(&self, holder: &H, block: u64) -> f64 {
        self.bounties
            .iter()
            .find(|b| b.holder == *holder)
            .map_or(0.0, |b| b.remaining(block))
    }

    /// Takes `holder`'s latest query into account: `history` already holds it and the
    /// query finished at `block`. A failure forfeits the holder's bounty; a sustained
    /// latency (see [`BountyPolicy::queries`]) that beats the record by the step sets
    /// a new record, whose bounty runs `tempos x blocks_per_tempo` blocks.
    pub fn observe(
        &mut self,
        holder: &H,
        history: &MinerHistory,
        block: u64,
        blocks_per_tempo: u64,
        policy: &BountyPolicy,
    ) -> Option<RecordEvent<H>> {
        self.bounties.retain(|b| b.remaining(block) > 0.0);
        let last = history.records().last()?;
        if last.is_failure() {
            let lost = self.bounties.iter().position(|b| b.holder == *holder)?;
            return Some(RecordEvent::Forfeited(self.bounties.remove(lost)));
        }
        let sustained = history.sustained_latency(policy.queries)?;
        let previous = self.record.as_ref().map(|r| r.seconds_per_item);
        if let Some(previous) = previous
            && sustained >= previous * (1.0 - policy.step)
        {
            return None;
        }
        let record = SpeedRecord {
            holder: holder.clone(),
            seconds_per_item: sustained,
            block,
        };
        self.record = Some(record.clone());
        let bounty = previous.map(|_| Bounty {
            holder: holder.clone(),
            awarded_block: block,
            expires_block: block
                .saturating_add(u64::from(policy.tempos).saturating_mul(blocks_per_tempo)),
        });
        if let Some(bounty) = &bounty {
            self.bounties.retain(|b| b.holder != *holder);
            self.bounties.push(bounty.clone());
        }
        Some(RecordEvent::NewRecord {
            record,
            previous,
            bounty,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::history::QueryRecord;

    const TEMPO: u64 = 360;

    fn clean(seconds: f64, queries: usize) -> MinerHistory {
        let mut history = MinerHistory::new();
        for _ in 0..queries {
            history.push(QueryRecord::passed(1.0, seconds));
        }
        history
    }

    #[test]
    fn first_record_is_a_baseline_then_a_ten_percent_leap_earns_a_bounty() {
        let policy = BountyPolicy {
            queries: 10,
            ..BountyPolicy::default()
        };
        let mut book = RecordBook::default();
        assert_eq!(
            book.observe(&"a", &clean(10.0, 9), 100, TEMPO, &policy),
            None
        );
        let Some(RecordEvent::NewRecord { bounty: None, .. }) =
            book.observe(&"a", &clean(10.0, 10), 100, TEMPO, &policy)
        else {
            panic!("the first sustained latency sets the baseline");
        };
        // 9.5 s is only 5% better: no record.
        assert_eq!(
            book.observe(&"b", &clean(9.5, 10), 200, TEMPO, &policy),
            None
        );
        let Some(RecordEvent::NewRecord {
            bounty: Some(bounty),
            previous: Some(previous),
            ..
        }) = book.observe(&"b", &clean(8.9, 10), 300, TEMPO, &policy)
        else {
            panic!("11% better sets a record");
        };
        assert_eq!(previous, 10.0);
        assert_eq!(bounty.expires_block, 300 + 20 * TEMPO);
        assert_eq!(book.record().unwrap().holder, "b");
        assert_eq!(book.remaining(&"b", 300), 1.0);
        assert_eq!(book.remaining(&"b", 300 + 10 * TEMPO), 0.5);
        assert_eq!(book.remaining(&"b", 300 + 20 * TEMPO), 0.0);
        assert_eq!(book.remaining(&"a", 300), 0.0);
    }

    #[test]
    fn a_failure_forfeits_the_bounty_but_not_the_record() {
        let policy = BountyPolicy {
            queries: 10,
            ..BountyPolicy::default()
        };
        let mut book = RecordBook::restore(
            Some(SpeedRecord {
                holder: "a",
                seconds_per_item: 10.0,
                block: 1,
            }),
            Vec::new(),
        );
        let mut history = clean(5.0, 10);
        assert!(book.observe(&"b", &history, 10, TEMPO, &policy).is_some());
        history.push(QueryRecord::failed());
        let Some(RecordEvent::Forfeited(lost)) = book.observe(&"b", &history, 11, TEMPO, &policy)
        else {
            panic!("a failure forfeits");
        };
        assert_eq!(lost.holder, "b");
        assert_eq!(book.remaining(&"b", 11), 0.0);
        assert_eq!(book.record().unwrap().seconds_per_item, 5.0);
        assert_eq!(book.observe(&"b", &history, 12, TEMPO, &policy), None);
    }
}
