//! A node's refusal, typed. Subtensor refuses a call in one of two places: its
//! transaction extension checks the guards (rate limits, stake, serving endpoints) when
//! the extrinsic enters the pool, and answers `1010 Invalid Transaction` with a custom
//! validity code; the call itself fails in a block with `System.ExtrinsicFailed`
//! carrying the pallet's error. Both become [`ChainError::Refused`].

use brainlock_chain::{ChainError, PalletError};
use subxt::error::{
    BackendError, DispatchError, ExtrinsicError, RpcError, TransactionEventsError,
    TransactionFinalizedSuccessError, TransactionProgressError, TransactionStatusError,
};

use crate::calls::PALLET;

/// JSON-RPC error code of an invalid transaction.
const INVALID_TRANSACTION: i32 = 1010;

/// The pallet error a custom validity code stands for (subtensor's
/// `CustomTransactionError` as its `From<Error<T>>` maps them), for a call named `call`.
fn from_validity_code(code: u8, call: &str) -> PalletError {
    match code {
        1 => PalletError::NotEnoughStakeToSetWeights,
        6 if call.starts_with("commit") => PalletError::CommittingWeightsTooFast,
        6 => PalletError::SettingWeightsTooFast,
        10 => PalletError::HotKeyNotRegisteredInNetwork,
        11 => PalletError::InvalidIpAddress,
        12 => PalletError::ServingRateLimitExceeded,
        13 => PalletError::InvalidPort,
        19 => PalletError::HotKeyNotRegisteredInSubNet,
        other => PalletError::Other(format!("custom validity code {other}")),
    }
}

/// The custom validity code in a node's words for an invalid transaction: the legacy
/// `author_submitAndWatchExtrinsic` error's data (`"Custom error: 6"`), or the status a
/// `transactionWatch_v1` subscription reports (`"Invalid transaction validity:
/// Custom(6)"`).
fn validity_code(text: &str) -> Option<u8> {
    let (_, rest) = text
        .split_once("Custom error: ")
        .or_else(|| text.split_once("Custom("))?;
    let digits = rest
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(rest.len());
    rest[..digits].parse().ok()
}

/// A refused submission (`call` is the call's name): typed when the pool refused it for
/// a pallet rule, [`ChainError::Rejected`] otherwise.
pub(crate) fn from_submission(error: ExtrinsicError, call: &str) -> ChainError {
    if let ExtrinsicError::ErrorSubmittingTransaction(BackendError::Rpc(RpcError::ClientError(
        subxt::rpcs::Error::User(user),
    ))) = &error
        && user.code == INVALID_TRANSACTION
        && let Some(code) = user.data.as_deref().and_then(|d| validity_code(d.get()))
    {
        return ChainError::Refused(from_validity_code(code, call));
    }
    ChainError::Rejected(error.to_string())
}

/// A call that did not end in a finalized, successful extrinsic: typed when the
/// subtensor pallet refused it in the block, or the pool refused it on a node that
/// reports submissions as `transactionWatch_v1` statuses.
pub(crate) fn from_dispatch(error: TransactionFinalizedSuccessError, call: &str) -> ChainError {
    match &error {
        TransactionFinalizedSuccessError::SuccessError(
            TransactionEventsError::ExtrinsicFailed(DispatchError::Module(module)),
        ) => {
            if let Ok(details) = module.details() {
                let name = details.variant.name.as_str();
                return ChainError::Refused(if details.pallet.name() == PALLET {
                    PalletError::from_name(name)
                } else {
                    PalletError::Other(format!("{}::{name}", details.pallet.name()))
                });
            }
        }
        TransactionFinalizedSuccessError::FinalizationError(
            TransactionProgressError::TransactionStatusError(TransactionStatusError::Invalid(
                message,
            )),
        ) => {
            if let Some(code) = validity_code(message) {
                return ChainError::Refused(from_validity_code(code, call));
            }
        }
        _ => {}
    }
    ChainError::Rejected(error.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn validity_codes_name_the_rule() {
        assert_eq!(validity_code("\"Custom error: 6\""), Some(6));
        assert_eq!(validity_code("Custom error: 255"), Some(255));
        assert_eq!(
            validity_code("Invalid transaction validity: Custom(12)"),
            Some(12)
        );
        assert_eq!(validity_code("Transaction is outdated"), None);
        assert_eq!(validity_code("Custom(x)"), None);
        assert_eq!(
            from_validity_code(6, "set_weights"),
            PalletError::SettingWeightsTooFast
        );
        assert_eq!(
            from_validity_code(6, "commit_timelocked_mechanism_weights"),
            PalletError::CommittingWeightsTooFast
        );
        assert_eq!(
            from_validity_code(255, "serve_axon"),
            PalletError::Other("custom validity code 255".into())
        );
    }
}
