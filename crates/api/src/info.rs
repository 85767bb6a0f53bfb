//! JSON documents of the miner API: `GET /v1/info` (a miner's, or a gateway's) and the
//! answer to `PUT /v1/keys`.

use serde::{Deserialize, Serialize};

use crate::ids::{CircuitId, KeyId, ProfileId};

/// Where the miner runs its bootstraps.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Backend {
    /// Bootstraps run on the CPU.
    /// Spelled `"cpu"` in JSON.
    Cpu,
    /// Bootstraps run on an NVIDIA GPU.
    /// Spelled `"cuda"` in JSON.
    Cuda,
}

/// What a miner accepts; clients size their requests to fit, the miner enforces them.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct MinerLimits {
    /// Largest evaluation key upload, in wire bytes.
    pub max_key_bytes: u64,
    /// Most inputs in one infer request.
    pub max_batch: u32,
    /// Largest infer request body, in wire bytes.
    pub max_body_bytes: u64,
    /// Infer requests processed at once; more are answered `busy`.
    pub max_inflight: u32,
}

/// The body of `GET /v1/info`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct MinerInfo {
    /// [`crate::PROTOCOL_VERSION`] of the miner.
    pub protocol_version: u16,
    /// The miner software's own version (free text, e.g. the crate version).
    pub software_version: String,
    /// The miner's hotkey, SS58 (prefix 42).
    pub hotkey: String,
    /// Circuits the miner can evaluate.
    pub circuits: Vec<CircuitId>,
    /// Parameter profiles whose evaluation keys the miner accepts.
    pub profiles: Vec<ProfileId>,
    /// Where the miner runs its bootstraps.
    pub backend: Backend,
    /// Sizes the miner accepts; larger requests are refused.
    pub limits: MinerLimits,
}

impl MinerInfo {
    /// Whether this miner can run `circuit` with keys of `profile`.
    pub fn supports(&self, circuit: &CircuitId, profile: &ProfileId) -> bool {
        self.circuits.contains(circuit) && self.profiles.contains(profile)
    }
}

/// The body of a validator gateway's `GET /v1/info` (served without credentials: a
/// customer needs the hotkey to sign for it).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GatewayInfo {
    /// [`crate::PROTOCOL_VERSION`] of the gateway.
    pub protocol_version: u16,
    /// The validator software's own version (free text, e.g. the crate version).
    pub software_version: String,
    /// The validator's hotkey, SS58: Epistula requests are signed for it.
    pub hotkey: String,
    /// Circuits customers may query through this gateway.
    pub circuits: Vec<CircuitId>,
    /// Parameter profiles whose evaluation keys the gateway accepts.
    pub profiles: Vec<ProfileId>,
    /// Sizes a customer's uploads and requests must stay within.
    pub limits: CustomerLimits,
}

/// Sizes a gateway customer must stay within.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct CustomerLimits {
    /// Largest evaluation key upload, in wire bytes.
    pub max_key_bytes: u64,
    /// Largest infer request body, in wire bytes.
    pub max_body_bytes: u64,
    /// Most inputs in one infer request.
    pub max_batch: u32,
    /// Requests must hold exactly `max_batch` inputs.
    pub exact_batch: bool,
    /// Infer requests one evaluation key serves: upload a fresh key after that many.
    pub max_requests_per_key: u32,
    /// Seconds an uploaded key stays usable.
    pub key_ttl_seconds: u64,
}

/// The body of a gateway's `POST /v1/reports`: a customer's canary items failed in the
/// answers to requests under `key_id`. It names the session only; nothing in it is
/// secret (no key material, no decrypted value).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CanaryReport {
    /// The evaluation key of the session whose answers failed.
    pub key_id: KeyId,
    /// Canary items the customer checked in the session.
    pub canaries: u32,
    /// How many of them failed (at least one).
    pub failed: u32,
}

/// The gateway's answer to a [`CanaryReport`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CanaryReceipt {
    /// The customer's requests now avoid the miner that served the session, and the
    /// validator checks that miner with extra scored queries.
    pub miner_avoided: bool,
}

/// The body of a successful `PUT /v1/keys`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct KeyUploadResponse {
    /// [`KeyId::of`] the uploaded bytes; a client checks it against its own hash.
    pub key_id: KeyId,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn info_round_trips_as_json() {
        let info = MinerInfo {
            protocol_version: crate::PROTOCOL_VERSION,
            software_version: "0.1.0".into(),
            hotkey: "5GrwvaEF5zXb26Fz9rcQpDWS57CtERHpNehXCPcNoHGKutQY".into(),
            circuits: vec![
                CircuitId::new("vgg9").unwrap(),
                CircuitId::new("conv3x3").unwrap(),
            ],
            profiles: vec![ProfileId::new("n918-N2048").unwrap()],
            backend: Backend::Cuda,
            limits: MinerLimits {
                max_key_bytes: 200 << 20,
                max_batch: 8,
                max_body_bytes: 1 << 30,
                max_inflight: 2,
            },
        };
        let json = serde_json::to_string(&info).unwrap();
        assert!(json.contains(r#""backend":"cuda""#), "{json}");
        assert!(json.contains(r#""circuits":["vgg9","conv3x3"]"#), "{json}");
        assert_eq!(serde_json::from_str::<MinerInfo>(&json).unwrap(), info);
        assert!(info.supports(&"conv3x3".parse().unwrap(), &"n918-N2048".parse().unwrap()));
        assert!(!info.supports(&"conv3x3".parse().unwrap(), &"other".parse().unwrap()));
        // An invalid circuit name makes the whole document invalid.
        let bad = json.replace("conv3x3", "conv 3x3");
        assert!(serde_json::from_str::<MinerInfo>(&bad).is_err());
    }

    #[test]
    fn key_upload_response_carries_hex_id() {
        let response = KeyUploadResponse {
            key_id: KeyId::of(b"key"),
        };
        let json = serde_json::to_string(&response).unwrap();
        assert_eq!(json, format!(r#"{{"key_id":"{}"}}"#, response.key_id));
        assert_eq!(
            serde_json::from_str::<KeyUploadResponse>(&json).unwrap(),
            response
        );
    }
}
