//! End to end on loopback: `brainlock classify` (the binary) through a customer
//! gateway to a real miner returns what the clear simulation returns, and the key
//! upload and infer request reach the miner exactly as the customer made them.

use std::net::{Ipv4Addr, SocketAddr};
use std::process::Command;
use std::sync::{Arc, Mutex};

use brainlock_chain::{LocalRegistry, Registration, Role};
use brainlock_cli::workload::{resolve_circuit, synthetic_input};
use brainlock_epistula::{CryptoType, Keypair};
use brainlock_fhe::Profile;
use brainlock_gateway::{
    CustomerConfig, FrameStream, GatewayConfig, GatewayState, Relay, RelayError, RelayRequest,
    Workload, hash_api_key,
};
use brainlock_miner::config::{AuthConfig, ChainSource, MinerConfig, WalletConfig};
use brainlock_miner::{Miner, MinerClient};
use brainlock_wire::InferRequest;
use tokio::sync::watch;

const API_KEY: &str = "blk_e2e_customer";

/// Relays to one miner with the validator's hotkey, as the validator does.
struct MinerRelay {
    client: MinerClient,
    relayed: Mutex<usize>,
}

impl Relay for MinerRelay {
    async fn relay(&self, request: RelayRequest) -> Result<FrameStream, RelayError> {
        let miner_error = |e: brainlock_miner::ClientError| RelayError::Miner(e.to_string());
        self.client
            .upload_key(request.key_bytes)
            .await
            .map_err(miner_error)?;
        let infer = InferRequest {
            key_id: request.key_id,
            circuit: request.circuit,
            profile: request.profile,
            inputs: request.inputs,
        };
        let stream = self.client.infer(&infer).await.map_err(miner_error)?;
        *self.relayed.lock().unwrap() += 1;
        Ok(Box::pin(futures_util::stream::unfold(
            stream,
            |mut stream| async move {
                match stream.next_frame().await {
                    Ok(Some(frame)) => Some((Ok(frame), stream)),
                    Ok(None) => None,
                    Err(e) => Some((Err(RelayError::Miner(e.to_string())), stream)),
                }
            },
        )))
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn classify_through_gateway_matches_clear_simulation() {
    let dir = tempfile::tempdir().unwrap();
    let registry_path = dir.path().join("registry.json");
    let wallets = dir.path().join("wallets");
    let validator = Keypair::from_seed(CryptoType::Sr25519, &[21; 32]);
    let miner_key = brainlock_epistula::wallet::create_hotkey(&wallets, "miner", "default", false)
        .unwrap()
        .keypair;
    let (validator_ss58, miner_ss58) = (
        validator.account_id().to_ss58(),
        miner_key.account_id().to_ss58(),
    );

    let registry = LocalRegistry::open(&registry_path, 55, &validator_ss58).unwrap();
    for (hotkey, role) in [
        (&validator_ss58, Role::Validator),
        (&miner_ss58, Role::Miner),
    ] {
        registry
            .register(Registration {
                hotkey: hotkey.clone(),
                coldkey: None,
                role,
                stake: 1.0,
            })
            .await
            .unwrap();
    }
    let config = MinerConfig {
        netuid: 55,
        chain: ChainSource::Registry(registry_path.clone()),
        wallet: WalletConfig {
            name: "miner".into(),
            hotkey: "default".into(),
            path: wallets.clone(),
        },
        bind: SocketAddr::from((Ipv4Addr::LOCALHOST, 0)),
        circuits: vec!["test-tiny".into()],
        auth: AuthConfig {
            allow: vec![validator_ss58.clone()],
            ..AuthConfig::default()
        },
        ..MinerConfig::default()
    };
    let miner_chain = Arc::new(LocalRegistry::open(&registry_path, 55, &miner_ss58).unwrap());
    let miner = Miner::start(&config, miner_key.account_id(), miner_chain)
        .await
        .unwrap();
    let miner_url = format!("http://{}", miner.local_addr());
    let (stop, stop_rx) = watch::channel(false);
    let stopped = |mut rx: watch::Receiver<bool>| async move {
        let _ = rx.wait_for(|s| *s).await;
    };
    let miner_task = tokio::spawn(miner.serve(stopped(stop_rx.clone())));

    let circuit = Arc::new(resolve_circuit("test-tiny").unwrap());
    let profile = Profile::default_for(&circuit.id);
    let relay = Arc::new(MinerRelay {
        client: MinerClient::new(
            miner_url,
            miner_key.account_id(),
            Arc::new(validator),
            reqwest::Client::new(),
        ),
        relayed: Mutex::new(0),
    });
    let gateway_config = GatewayConfig {
        customers: vec![CustomerConfig {
            name: "e2e".into(),
            api_key_sha256: Some(hash_api_key(API_KEY)),
            hotkey: None,
            quota: None,
        }],
        ..GatewayConfig::default()
    };
    let state = GatewayState::new(
        gateway_config,
        Keypair::from_seed(CryptoType::Sr25519, &[21; 32]).account_id(),
        Workload {
            circuit: circuit.clone(),
            profile,
        },
        relay.clone(),
    )
    .unwrap();
    let listener = tokio::net::TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
        .await
        .unwrap();
    let gateway_url = format!("http://{}", listener.local_addr().unwrap());
    let gateway_task = tokio::spawn(
        axum::serve(
            brainlock_epistula::LingeringListener::new(listener),
            brainlock_gateway::router(state),
        )
        .with_graceful_shutdown(stopped(stop_rx))
        .into_future(),
    );

    // The real binary, as a customer runs it.
    let classify = |api_key: &'static str| {
        let url = gateway_url.clone();
        tokio::task::spawn_blocking(move || {
            Command::new(env!("CARGO_BIN_EXE_brainlock"))
                .args([
                    "classify",
                    "synthetic:5",
                    "--circuit",
                    "test-tiny",
                    "--gateway",
                    &url,
                    "--json",
                ])
                .env("BRAINLOCK_API_KEY", api_key)
                .output()
                .unwrap()
        })
    };
    let output = classify(API_KEY).await.unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "stdout: {stdout}\nstderr: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let report: serde_json::Value = serde_json::from_str(stdout.lines().last().unwrap()).unwrap();

    let clear = brainlock_circuit::Simulator::new(&circuit)
        .unwrap()
        .run(&synthetic_input(&circuit, 5))
        .unwrap();
    assert_eq!(report["class"], brainlock_circuit::argmax(&clear));
    assert_eq!(report["clear_class"], report["class"]);
    // test-tiny spreads each accumulator over two boxes: honest results are exact.
    assert_eq!(report["exact_match_fraction"], 1.0, "{report}");
    assert_eq!(report["target"], "api-key");
    assert_eq!(*relay.relayed.lock().unwrap(), 1);

    // A wrong API key gets a clear refusal and nothing is relayed.
    let output = classify("blk_not_issued").await.unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    // The gateway refuses before reading the key upload's body; the lingering close lets
    // the client read the 401 anyway.
    assert!(
        stderr.contains("401") && stderr.contains("API key"),
        "{stderr}"
    );
    assert_eq!(*relay.relayed.lock().unwrap(), 1);

    stop.send(true).unwrap();
    miner_task.await.unwrap().unwrap();
    gateway_task.await.unwrap().unwrap();
}
