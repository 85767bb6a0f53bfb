//! Which subtensor node to talk to.

use std::fmt;
use std::str::FromStr;

/// A Bittensor network by name, or any node URL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Network {
    /// Mainnet.
    Finney,
    /// The public testnet.
    Test,
    /// A node on this machine (`ws://127.0.0.1:9944`).
    Local,
    /// Any `ws://` or `wss://` URL.
    Url(String),
}

impl Network {
    /// WebSocket URL of the network's public entrypoint (or the URL given).
    pub fn url(&self) -> &str {
        match self {
            Network::Finney => "wss://entrypoint-finney.opentensor.ai:443",
            Network::Test => "wss://test.finney.opentensor.ai:443",
            Network::Local => "ws://127.0.0.1:9944",
            Network::Url(url) => url,
        }
    }
}

/// A network name or URL that is neither `finney`, `test`, `local` nor a ws(s) URL.
#[derive(Debug, thiserror::Error)]
#[error("unknown network {0:?}: expected finney, test, local or a ws:// / wss:// URL")]
pub struct UnknownNetwork(String);

impl FromStr for Network {
    type Err = UnknownNetwork;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "finney" => Ok(Network::Finney),
            "test" => Ok(Network::Test),
            "local" => Ok(Network::Local),
            url if url.starts_with("ws://") || url.starts_with("wss://") => {
                Ok(Network::Url(url.to_string()))
            }
            other => Err(UnknownNetwork(other.to_string())),
        }
    }
}

impl fmt::Display for Network {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.url())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_names_and_urls() {
        assert_eq!("finney".parse::<Network>().unwrap(), Network::Finney);
        assert_eq!(
            "test".parse::<Network>().unwrap().url(),
            "wss://test.finney.opentensor.ai:443"
        );
        assert_eq!(
            "local".parse::<Network>().unwrap().url(),
            "ws://127.0.0.1:9944"
        );
        assert_eq!(
            "ws://10.0.0.1:9944".parse::<Network>().unwrap(),
            Network::Url("ws://10.0.0.1:9944".into())
        );
        assert!("mainnet".parse::<Network>().is_err());
        assert!("http://x".parse::<Network>().is_err());
    }
}
