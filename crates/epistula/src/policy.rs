//! Who may send requests. The daemons plug in their own rule (for example "registered
//! validator with a permit or enough stake" from the metagraph); any
//! `Fn(&AccountId) -> bool` is a policy, and [`AllowList`] and [`AnyOf`] cover the rest.

use std::collections::HashSet;
use std::sync::Arc;

use crate::AccountId;

/// Decides, from the claimed sender alone and before the body is read, whether a
/// request is worth authenticating. Called on every request: keep it cheap and
/// non-blocking (consult an in-memory snapshot, not the chain).
pub trait SenderPolicy: Send + Sync {
    /// True if requests signed by the hotkey `sender` may proceed to authentication.
    fn allows(&self, sender: &AccountId) -> bool;
}

impl<F> SenderPolicy for F
where
    F: Fn(&AccountId) -> bool + Send + Sync,
{
    fn allows(&self, sender: &AccountId) -> bool {
        self(sender)
    }
}

/// A fixed set of permitted hotkeys.
#[derive(Debug, Clone, Default)]
pub struct AllowList(HashSet<AccountId>);

impl AllowList {
    /// A policy permitting exactly `accounts`.
    pub fn new(accounts: impl IntoIterator<Item = AccountId>) -> Self {
        Self(accounts.into_iter().collect())
    }
}

impl SenderPolicy for AllowList {
    fn allows(&self, sender: &AccountId) -> bool {
        self.0.contains(sender)
    }
}

/// Permits a sender that any of the inner policies permits.
#[derive(Clone, Default)]
pub struct AnyOf(pub Vec<Arc<dyn SenderPolicy>>);

impl SenderPolicy for AnyOf {
    fn allows(&self, sender: &AccountId) -> bool {
        self.0.iter().any(|policy| policy.allows(sender))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn allow_list_and_any_of() {
        let a = AccountId([1; 32]);
        let b = AccountId([2; 32]);
        let c = AccountId([3; 32]);
        let list = AllowList::new([a]);
        assert!(list.allows(&a) && !list.allows(&b));
        let either = AnyOf(vec![Arc::new(list), Arc::new(move |s: &AccountId| *s == b)]);
        assert!(either.allows(&a) && either.allows(&b) && !either.allows(&c));
        assert!(!AnyOf::default().allows(&a));
    }
}
