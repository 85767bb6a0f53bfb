//! The chain interface both daemons use. One implementation talks to subtensor
//! (`brainlock-subtensor`), the other is the local registry that needs no chain.

use async_trait::async_trait;
use brainlock_account::AccountId;

use crate::error::ChainError;
use crate::rules::WeightRules;
use crate::types::{AxonInfo, Metagraph, WeightsReceipt};

/// Access to a chain as one hotkey: reads for anyone, writes signed by that hotkey.
#[async_trait]
pub trait Chain: Send + Sync {
    /// The hotkey this handle signs with.
    fn hotkey(&self) -> &AccountId;

    /// The current block number: the finalized head on a chain (a couple of blocks
    /// behind the best one, so that what is read stays), the block of the clock on the
    /// local registry.
    async fn current_block(&self) -> Result<u64, ChainError>;

    /// The earliest block a call submitted at `current_block` is applied in, which the
    /// chain's rate limits count: the next one on a chain (the default; on finney it is
    /// about three later, behind finality, so a rate limit is met a little late, never
    /// early), the current one where writes apply at once.
    fn applied_at(&self, current_block: u64) -> u64 {
        current_block + 1
    }

    /// Every neuron of a subnet.
    async fn metagraph(&self, netuid: u16) -> Result<Metagraph, ChainError>;

    /// The uid of a hotkey on a subnet, `None` when it is not registered there.
    async fn uid_of(&self, netuid: u16, hotkey: &AccountId) -> Result<Option<u16>, ChainError>;

    /// Announces this hotkey's axon on a subnet.
    async fn serve_axon(&self, netuid: u16, axon: AxonInfo) -> Result<(), ChainError>;

    /// The hyperparameters that gate weight setting on a subnet.
    async fn weight_rules(&self, netuid: u16) -> Result<WeightRules, ChainError>;

    /// Sets this hotkey's weights on a subnet from float scores `(uid, weight)`.
    ///
    /// The floats are converted with [`crate::weights_to_u16`] and padded to the subnet's
    /// minimum count; a refusal for one of the chain's rules comes back as
    /// [`ChainError::Refused`] with the pallet's error. All-zero weights give
    /// [`ChainError::NothingToSet`].
    async fn set_weights(
        &self,
        netuid: u16,
        weights: &[(u16, f32)],
        version_key: u64,
    ) -> Result<WeightsReceipt, ChainError>;
}
