//! Speed records and progressive bounties.
//!
//! Per circuit the validator keeps the speed record: the best sustained seconds per
//! item any miner has shown ([`MinerHistory::sustained_latency`], never one query). A
//! miner whose sustained latency beats the record by at least [`BountyPolicy::step`]
//! sets a new record and is owed a bounty: [`BountyPolicy::share`] of the weights for
//! [`BountyPolicy::tempos`] tempos, decaying linearly. The first record on a circuit is
//! a baseline and is owed nothing.
//!
//! A bounty pays for a reliable speedup, so it is awarded only once the record holder
//! has also passed [`BountyPolicy::queries`] queries in a row after it first set a
//! record (a confirmation); a failure cancels what it is owed and forfeits what it
//! holds. A miner that fails one query in seven must then pass about 80 in a row
//! (probability 0.85^80, 2e-6) and in practice never earns one; an honest miner
//! (failures under 1 in 1,000) nearly always does, and while it keeps improving
//! without failing, each of its later records pays at once.

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
    /// Consecutive passed queries a sustained latency is the median of, 10 to 40, and
    /// that confirm a record before its bounty is awarded. Default 40: a miner that
    /// fails one query in seven practically never shows 40 clean ones in a row, let
    /// alone twice; an honest one (gates fail fewer than 1 in 1,000) nearly always does.
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
    /// A new record. Its bounty comes with it when the holder's run of passed queries
    /// already confirms it; otherwise, unless the record is the circuit's first, it is
    /// owed until [`RecordEvent::BountyAwarded`] or [`RecordEvent::Forfeited`].
    NewRecord {
        /// The record set.
        record: SpeedRecord<H>,
        /// Seconds per item of the record it beat.
        previous: Option<f64>,
        /// The bounty awarded with it.
        bounty: Option<Bounty<H>>,
    },
    /// The record holder confirmed its record: the bounty it was owed now runs.
    BountyAwarded(Bounty<H>),
    /// A miner failed a query: it loses the bounty it held, if any, and the one it was
    /// owed, if any (the record stays: it was measured).
    Forfeited {
        /// The miner.
        holder: H,
        /// The running bounty it lost.
        bounty: Option<Bounty<H>>,
    },
}

/// Where the current record's holder stands on its confirmation.
#[derive(Clone, Debug, PartialEq)]
struct Confirmation<H> {
    holder: H,
    /// Its passed queries in a row since it first set a record in this run of passes.
    passed: usize,
    /// Whether the current record is owed a bounty not yet awarded.
    owed: bool,
}

/// One circuit's speed record and running bounties (at most one per holder).
#[derive(Clone, Debug, PartialEq)]
pub struct RecordBook<H> {
    record: Option<SpeedRecord<H>>,
    bounties: Vec<Bounty<H>>,
    confirmation: Option<Confirmation<H>>,
}

impl<H> Default for RecordBook<H> {
    fn default() -> Self {
        Self {
            record: None,
            bounties: Vec::new(),
            confirmation: None,
        }
    }
}

impl<H: Clone + PartialEq> RecordBook<H> {
    /// A book as stored: the current record, whether its bounty is still owed, and the
    /// bounties that have not been forfeited (expired ones are harmless: they are worth
    /// 0). A restart restarts the confirmation count: what the holder passed before it
    /// is not counted twice, only conservatively forgotten.
    pub fn restore(record: Option<SpeedRecord<H>>, owed: bool, bounties: Vec<Bounty<H>>) -> Self {
        let confirmation = record.as_ref().map(|r| Confirmation {
            holder: r.holder.clone(),
            passed: 0,
            owed,
        });
        Self {
            record,
            bounties,
            confirmation,
        }
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

    /// Whether the current record's bounty is owed but not yet awarded.
    pub fn owed(&self) -> bool {
        self.confirmation.as_ref().is_some_and(|c| c.owed)
    }

    /// Takes `holder`'s latest query into account: `history` already holds it and the
    /// query finished at `block`. A failure forfeits the holder's bounties; a sustained
    /// latency (see [`BountyPolicy::queries`]) that beats the record by the step sets
    /// a new record; a confirmed record's bounty runs `tempos x blocks_per_tempo` blocks.
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
        let confirming = self.confirmation.as_mut().filter(|c| c.holder == *holder);
        if last.is_failure() {
            let owed = confirming.is_some_and(|c| {
                c.passed = 0;
                std::mem::take(&mut c.owed)
            });
            let bounty = self
                .bounties
                .iter()
                .position(|b| b.holder == *holder)
                .map(|lost| self.bounties.remove(lost));
            return (owed || bounty.is_some()).then(|| RecordEvent::Forfeited {
                holder: holder.clone(),
                bounty,
            });
        }
        if let Some(c) = confirming {
            c.passed += 1;
        }
        let previous = self.record.as_ref().map(|r| r.seconds_per_item);
        let beaten = history
            .sustained_latency(policy.queries)
            .filter(|&sustained| {
                previous.is_none_or(|previous| sustained < previous * (1.0 - policy.step))
            });
        let Some(sustained) = beaten else {
            return self
                .award_if_confirmed(block, blocks_per_tempo, policy)
                .map(RecordEvent::BountyAwarded);
        };
        let record = SpeedRecord {
            holder: holder.clone(),
            seconds_per_item: sustained,
            block,
        };
        self.record = Some(record.clone());
        let passed = match &self.confirmation {
            Some(c) if c.holder == *holder => c.passed,
            _ => 0,
        };
        self.confirmation = Some(Confirmation {
            holder: holder.clone(),
            passed,
            owed: previous.is_some(),
        });
        let bounty = self.award_if_confirmed(block, blocks_per_tempo, policy);
        Some(RecordEvent::NewRecord {
            record,
            previous,
            bounty,
        })
    }

    /// Awards the current record's bounty if it is owed and confirmed.
    fn award_if_confirmed(
        &mut self,
        block: u64,
        blocks_per_tempo: u64,
        policy: &BountyPolicy,
    ) -> Option<Bounty<H>> {
        let c = self
            .confirmation
            .as_mut()
            .filter(|c| c.owed && c.passed >= policy.queries)?;
        c.owed = false;
        let bounty = Bounty {
            holder: c.holder.clone(),
            awarded_block: block,
            expires_block: block
                .saturating_add(u64::from(policy.tempos).saturating_mul(blocks_per_tempo)),
        };
        self.bounties.retain(|b| b.holder != bounty.holder);
        self.bounties.push(bounty.clone());
        Some(bounty)
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

    /// `history` with `queries` more passes at `seconds`, each observed by `book`.
    fn pass(
        book: &mut RecordBook<&'static str>,
        holder: &'static str,
        history: &mut MinerHistory,
        seconds: f64,
        queries: usize,
        block: u64,
        policy: &BountyPolicy,
    ) -> Vec<RecordEvent<&'static str>> {
        (0..queries)
            .filter_map(|_| {
                history.push(QueryRecord::passed(1.0, seconds));
                book.observe(&holder, history, block, TEMPO, policy)
            })
            .collect()
    }

    /// A book holding miner a's baseline record of 10 s per item.
    fn baseline() -> RecordBook<&'static str> {
        let record = SpeedRecord {
            holder: "a",
            seconds_per_item: 10.0,
            block: 1,
        };
        RecordBook::restore(Some(record), false, Vec::new())
    }

    fn policy() -> BountyPolicy {
        BountyPolicy {
            queries: 10,
            ..BountyPolicy::default()
        }
    }

    #[test]
    fn first_record_is_a_baseline_then_a_confirmed_ten_percent_leap_earns_a_bounty() {
        let policy = policy();
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
        assert!(!book.owed(), "a baseline is owed nothing");
        // 9.5 s is only 5% better: no record.
        let mut b = clean(9.5, 10);
        assert_eq!(book.observe(&"b", &b, 200, TEMPO, &policy), None);
        let events = pass(&mut book, "b", &mut b, 8.9, 10, 300, &policy);
        let [
            RecordEvent::NewRecord {
                bounty: None,
                previous: Some(previous),
                ..
            },
        ] = events.as_slice()
        else {
            panic!("11% better sets a record: {events:?}");
        };
        assert_eq!(*previous, 10.0);
        assert!(book.owed());
        assert_eq!(book.record().unwrap().holder, "b");
        // Ten passes after it (the median moved below 9 s at the sixth of those ten)
        // confirm it: the tenth awards the bounty, from its block.
        let events = pass(&mut book, "b", &mut b, 8.9, 5, 300, &policy);
        assert!(events.is_empty(), "{events:?}");
        assert_eq!(book.remaining(&"b", 300), 0.0);
        let events = pass(&mut book, "b", &mut b, 8.9, 1, 400, &policy);
        let [RecordEvent::BountyAwarded(bounty)] = events.as_slice() else {
            panic!("confirmed: {events:?}");
        };
        assert_eq!(bounty.expires_block, 400 + 20 * TEMPO);
        assert!(!book.owed());
        assert_eq!(book.remaining(&"b", 400), 1.0);
        assert_eq!(book.remaining(&"b", 400 + 10 * TEMPO), 0.5);
        assert_eq!(book.remaining(&"b", 400 + 20 * TEMPO), 0.0);
        assert_eq!(book.remaining(&"a", 400), 0.0);
        // Confirmed and still passing, its next leaps (7.95 s, then 7 s) pay at once.
        let events = pass(&mut book, "b", &mut b, 7.0, 10, 500, &policy);
        assert_eq!(events.len(), 2, "{events:?}");
        for event in &events {
            let RecordEvent::NewRecord {
                bounty: Some(bounty),
                ..
            } = event
            else {
                panic!("a confirmed holder's next record pays at once: {events:?}");
            };
            assert_eq!(bounty.awarded_block, 500);
        }
        assert_eq!(book.remaining(&"b", 500), 1.0);
    }

    #[test]
    fn a_failure_before_confirmation_cancels_the_bounty_owed() {
        let policy = policy();
        let mut book = baseline();
        let mut b = MinerHistory::new();
        let events = pass(&mut book, "b", &mut b, 5.0, 10, 10, &policy);
        assert!(matches!(events.as_slice(), [RecordEvent::NewRecord { .. }]));
        pass(&mut book, "b", &mut b, 5.0, 9, 10, &policy);
        b.push(QueryRecord::failed());
        let Some(RecordEvent::Forfeited { holder, bounty }) =
            book.observe(&"b", &b, 11, TEMPO, &policy)
        else {
            panic!("a failure cancels what is owed");
        };
        assert_eq!((holder, bounty), ("b", None));
        assert!(!book.owed());
        // Passing on never revives it; the record stays.
        let events = pass(&mut book, "b", &mut b, 5.0, 30, 12, &policy);
        assert!(events.is_empty(), "{events:?}");
        assert_eq!(book.remaining(&"b", 12), 0.0);
        assert_eq!(book.record().unwrap().seconds_per_item, 5.0);
    }

    #[test]
    fn a_failure_forfeits_the_running_bounty_but_not_the_record() {
        let policy = policy();
        let mut book = baseline();
        let mut b = MinerHistory::new();
        pass(&mut book, "b", &mut b, 5.0, 20, 10, &policy);
        assert_eq!(book.remaining(&"b", 10), 1.0);
        b.push(QueryRecord::failed());
        let Some(RecordEvent::Forfeited {
            holder,
            bounty: Some(lost),
        }) = book.observe(&"b", &b, 11, TEMPO, &policy)
        else {
            panic!("a failure forfeits");
        };
        assert_eq!((holder, lost.holder), ("b", "b"));
        assert_eq!(book.remaining(&"b", 11), 0.0);
        assert_eq!(book.record().unwrap().seconds_per_item, 5.0);
        assert_eq!(book.observe(&"b", &b, 12, TEMPO, &policy), None);
    }

    #[test]
    fn a_record_beaten_before_confirmation_pays_its_setter_nothing() {
        let policy = policy();
        let mut book = baseline();
        let (mut b, mut c) = (MinerHistory::new(), MinerHistory::new());
        pass(&mut book, "b", &mut b, 8.0, 15, 10, &policy);
        let events = pass(&mut book, "c", &mut c, 6.0, 10, 20, &policy);
        assert!(matches!(events.as_slice(), [RecordEvent::NewRecord { .. }]));
        let events = pass(&mut book, "b", &mut b, 8.0, 20, 30, &policy);
        assert!(events.is_empty(), "{events:?}");
        assert_eq!(book.remaining(&"b", 30), 0.0);
        let events = pass(&mut book, "c", &mut c, 6.0, 10, 40, &policy);
        assert!(matches!(events.as_slice(), [RecordEvent::BountyAwarded(_)]));
    }

    #[test]
    fn a_restored_book_owes_what_was_owed_and_counts_again() {
        let policy = policy();
        let record = SpeedRecord {
            holder: "b",
            seconds_per_item: 5.0,
            block: 1,
        };
        let mut book = RecordBook::restore(Some(record), true, Vec::new());
        assert!(book.owed());
        let mut b = MinerHistory::new();
        assert!(pass(&mut book, "b", &mut b, 5.0, 9, 2, &policy).is_empty());
        let events = pass(&mut book, "b", &mut b, 5.0, 1, 3, &policy);
        assert!(matches!(events.as_slice(), [RecordEvent::BountyAwarded(_)]));
    }
}
