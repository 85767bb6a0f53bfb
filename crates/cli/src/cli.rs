//! The command line. The help text is the manual: every flag says what it does and
//! what it defaults to.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

/// The `brainlock` command line: global flags and one subcommand.
#[derive(Debug, Parser)]
#[command(
    name = "brainlock",
    version,
    about = "Brainlock: encrypted (TFHE) inference of a quantized CNN on a Bittensor subnet",
    long_about = "Brainlock: encrypted (TFHE) inference of a quantized CNN on a Bittensor subnet.\n\n\
        Customers classify images without revealing them (`brainlock classify`); miners compete \
        on the speed of encrypted inference and validators time and check them. \
        `brainlock devnet` runs a whole subnet on this machine.",
    after_help = "Logs go to stderr; set RUST_LOG (e.g. RUST_LOG=brainlock=debug) or --logging.debug for more."
)]
pub struct Cli {
    /// Debug logs (RUST_LOG overrides).
    #[arg(long = "logging.debug", global = true)]
    pub logging_debug: bool,
    /// The subcommand to run.
    #[command(subcommand)]
    pub command: Command,
}

/// The `brainlock` subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Classify an image with encrypted inference: fresh keys, encrypt, send, decrypt
    /// here. Secret keys never leave this process.
    Classify(ClassifyArgs),
    /// Run a local subnet on loopback: a registry, miners and one validator; show a
    /// live leaderboard and write weights to the local ledger. Runs the
    /// `brainlock-devnet` program installed beside this one with the same arguments
    /// (`brainlock devnet --help` lists them).
    #[command(disable_help_flag = true)]
    Devnet(DevnetArgs),
    /// Benchmark encrypted inference of a circuit on this machine; the last line of
    /// output is the report as JSON.
    Bench(BenchArgs),
    /// Manage Bittensor wallets (hotkeys).
    #[command(subcommand)]
    Wallet(WalletCommand),
    /// Export or inspect circuit files.
    #[command(subcommand)]
    Circuit(CircuitCommand),
    /// Operate a validator's customer gateway.
    #[command(subcommand)]
    Gateway(GatewayCommand),
    /// Manage a local registry: the file that stands in for the chain in a subnet run
    /// without one (devnet, docker compose).
    #[command(subcommand)]
    Registry(RegistryCommand),
    /// Study the reward rules: run the validator's scoring and weights over simulated
    /// miners.
    #[command(subcommand)]
    Incentives(IncentivesCommand),
}

/// Where `classify` sends the encrypted image. Exactly one is required.
#[derive(Debug, Args)]
#[group(required = true, multiple = false)]
pub struct Target {
    /// A validator's customer gateway, e.g. http://validator.example:8093. Authenticate
    /// with --api-key, or with a wallet hotkey the operator admitted (--wallet.*).
    #[arg(long, value_name = "URL")]
    pub gateway: Option<String>,
    /// A miner directly, e.g. http://127.0.0.1:8091. Requests are Epistula-signed with
    /// the --wallet.* hotkey, which the miner must accept (validator permit or allow list).
    #[arg(long, value_name = "URL")]
    pub miner: Option<String>,
    /// Run the encrypted inference in this process (no network): measures this machine.
    #[arg(long)]
    pub local: bool,
}

/// The `--wallet.*` flags: which hotkey signs requests or is created or registered.
#[derive(Debug, Args)]
pub struct WalletArgs {
    /// Wallet name.
    #[arg(long = "wallet.name", default_value = "default", value_name = "NAME")]
    pub name: String,
    /// Hotkey name inside the wallet.
    #[arg(long = "wallet.hotkey", default_value = "default", value_name = "NAME")]
    pub hotkey: String,
    /// Wallets folder [default: ~/.bittensor/wallets].
    #[arg(long = "wallet.path", value_name = "DIR")]
    pub path: Option<PathBuf>,
}

/// The `classify` flags: the image, where it goes, and how.
#[derive(Debug, Args)]
pub struct ClassifyArgs {
    /// The image: a PNG or JPEG file (resized to the circuit's input and quantized to
    /// int8), or `synthetic:N` for synthetic image N of the seeded test set.
    #[arg(value_name = "IMAGE")]
    pub image: String,
    /// Where the encrypted image is sent.
    #[command(flatten)]
    pub target: Target,
    /// Circuit: conv3x3, vgg9, test-tiny, or a circuit JSON file. Must be one the
    /// gateway or miner serves.
    #[arg(long, default_value = "conv3x3", value_name = "CIRCUIT")]
    pub circuit: String,
    /// FHE parameter profile id [default: the circuit's default].
    #[arg(long, value_name = "ID")]
    pub profile: Option<String>,
    /// API key issued by the gateway's operator (prefer the environment variable: a
    /// flag shows in the process list).
    #[arg(
        long,
        env = "BRAINLOCK_API_KEY",
        hide_env_values = true,
        value_name = "KEY"
    )]
    pub api_key: Option<String>,
    /// The miner's hotkey (SS58), needed with --miner to address signed requests.
    #[arg(long = "miner-hotkey", value_name = "SS58")]
    pub miner_hotkey: Option<String>,
    /// The hotkey that signs requests to a miner or gateway.
    #[command(flatten)]
    pub wallet: WalletArgs,
    /// Seconds to wait for each remote infer request before giving up.
    #[arg(long, default_value_t = 1800.0, value_name = "SECONDS")]
    pub timeout: f64,
    /// Canary items mixed into the session at random places: synthetic images whose
    /// answer this machine computes with the exact simulation and checks after
    /// decryption. When one fails, the session is retried once with a fresh key and,
    /// through a gateway, the failure is reported so that your requests avoid that
    /// miner [default: 1 through a gateway, 0 otherwise].
    #[arg(long, value_name = "N")]
    pub canaries: Option<u32>,
    /// Print only the final JSON line (no progress bar, no table).
    #[arg(long)]
    pub json: bool,
}

/// `brainlock devnet` hands its arguments to `brainlock-devnet` untouched: the devnet
/// runs both daemons, which a customer's `brainlock` need not compile.
#[derive(Debug, Args)]
pub struct DevnetArgs {
    /// Arguments for brainlock-devnet (--rounds, --miners, --circuit, --data-dir, --help).
    #[arg(
        trailing_var_arg = true,
        allow_hyphen_values = true,
        value_name = "ARGS"
    )]
    pub args: Vec<String>,
}

/// The `bench` flags: which circuit, profile and how many images.
#[derive(Debug, Args)]
pub struct BenchArgs {
    /// Circuit: conv3x3, vgg9, test-tiny, or a circuit JSON file.
    #[arg(long, default_value = "conv3x3", value_name = "CIRCUIT")]
    pub circuit: String,
    /// FHE parameter profile id [default: the circuit's default].
    #[arg(long, value_name = "ID")]
    pub profile: Option<String>,
    /// Encrypted inferences to time (synthetic images 0..N of the seeded test set).
    #[arg(long, default_value_t = 1, value_name = "N")]
    pub images: usize,
    /// Where the bootstraps run: cpu, or cuda (one NVIDIA GPU; a binary built by
    /// scripts/cuda-build.sh). The first image on cuda includes the key's upload.
    #[arg(long, default_value = "cpu", value_name = "BACKEND")]
    pub backend: brainlock_fhe::Backend,
}

/// The `wallet` subcommands.
#[derive(Debug, Subcommand)]
pub enum WalletCommand {
    /// Create a new sr25519 hotkey (Bittensor wallet layout). Prints its address and
    /// the recovery phrase, once: write the phrase down.
    Create {
        /// Which hotkey to create.
        #[command(flatten)]
        wallet: WalletArgs,
        /// Replace an existing hotkey of the same name (its phrase is lost).
        #[arg(long)]
        overwrite: bool,
    },
}

/// The `circuit` subcommands.
#[derive(Debug, Subcommand)]
pub enum CircuitCommand {
    /// Write a shipped circuit (weights, ranges, tables) to a JSON file.
    Export {
        /// conv3x3, vgg9 or test-tiny.
        #[arg(long, value_name = "CIRCUIT")]
        circuit: String,
        /// Output file.
        #[arg(long, short, value_name = "FILE")]
        output: PathBuf,
    },
    /// Validate a circuit (shipped name or JSON file) and print its layers, shapes and
    /// lookup count.
    Inspect {
        /// conv3x3, vgg9, test-tiny, or a circuit JSON file.
        #[arg(value_name = "CIRCUIT")]
        circuit: String,
    },
    /// Print the gates a validator derives for a circuit, profile and batch size (from
    /// the noise model: nothing is typed by hand), and how much of each lookup layer
    /// the best affine shortcut reproduces on synthetic inputs. The last line is JSON.
    Gates {
        /// conv3x3, vgg9, test-tiny, or a circuit JSON file.
        #[arg(value_name = "CIRCUIT")]
        circuit: String,
        /// FHE parameter profile [default: the circuit's].
        #[arg(long, value_name = "ID")]
        profile: Option<String>,
        /// Items per query.
        #[arg(long, default_value_t = 1, value_name = "N")]
        batch: usize,
    },
    /// Import a quantization-aware-trained ONNX model (Brevitas, exported with
    /// export_onnx_qcdq or export_qonnx) as a circuit file: every layer's scales, bias, BatchNorm, ReLU
    /// and output quantizer fold into one lookup table per output channel, sampled at
    /// rounding R with ranges from the calibration inputs. Prints how real inputs map
    /// to the circuit's input integers and the circuit's layers.
    Import {
        /// The ONNX model.
        #[arg(value_name = "MODEL.onnx")]
        model: PathBuf,
        /// Calibration inputs: `synthetic` or `synthetic:N` (seeded, N = 64 by
        /// default), a JSON file `{"inputs": [[...], ...]}` of input integers, or a
        /// directory of images (decoded as `classify` decodes them).
        #[arg(long, default_value = "synthetic", value_name = "SOURCE")]
        calibration: String,
        /// Rounding threshold R: tables of 2^R entries. Larger is more exact and
        /// slower to evaluate encrypted.
        #[arg(long, default_value_t = 6, value_name = "R")]
        rounding_bits: u32,
        /// Circuit id [default: the model file's name without extension].
        #[arg(long, value_name = "ID")]
        id: Option<String>,
        /// Output circuit file.
        #[arg(long, short, value_name = "FILE")]
        output: PathBuf,
    },
    /// Measure a circuit against a samples file `{"inputs", "labels", "predictions",
    /// "logits"}` (all but inputs optional): accuracy, agreement with the original
    /// model's classes and integer logits, and with --encrypted N, agreement of N
    /// encrypted runs on this machine with the simulation. The last line is JSON.
    Check {
        /// conv3x3, vgg9, test-tiny, or a circuit JSON file.
        #[arg(value_name = "CIRCUIT")]
        circuit: String,
        /// The samples file.
        #[arg(long, value_name = "FILE")]
        against: PathBuf,
        /// Also run the first N inputs encrypted (fresh keys, this machine).
        #[arg(long, default_value_t = 0, value_name = "N")]
        encrypted: usize,
        /// FHE parameter profile for --encrypted [default: the circuit's].
        #[arg(long, value_name = "ID")]
        profile: Option<String>,
    },
}

/// The `gateway` subcommands.
#[derive(Debug, Subcommand)]
pub enum GatewayCommand {
    /// Issue a customer API key: prints the key (give it to the customer, it is not
    /// stored) and the `[[gateway.customers]]` entry for the validator's config file.
    IssueKey {
        /// Customer name used in logs and quotas.
        #[arg(long, value_name = "NAME")]
        name: String,
    },
}

/// The `registry` subcommands.
#[derive(Debug, Subcommand)]
pub enum RegistryCommand {
    /// Register a wallet's hotkey in a local registry file (created when missing) and
    /// print its uid. Registering a hotkey again updates its role and stake.
    Register {
        /// The registry file (JSON); weights go to FILE.weights.jsonl beside it.
        #[arg(long, value_name = "FILE")]
        registry: PathBuf,
        /// Subnet uid the registry stands for.
        #[arg(long, default_value_t = 55, value_name = "UID")]
        netuid: u16,
        /// Which hotkey to register.
        #[command(flatten)]
        wallet: WalletArgs,
        /// What the neuron does on the subnet.
        #[arg(long, value_enum)]
        role: RegistryRole,
        /// Stake in TAO. Miners accept validators with a permit; in a local registry a
        /// validator gets its permit from having stake.
        #[arg(long, default_value_t = 0.0, value_name = "TAO")]
        stake: f64,
    },
}

/// The `incentives` subcommands.
#[derive(Debug, Subcommand)]
pub enum IncentivesCommand {
    /// Run named populations of simulated miners through the validator's own scoring,
    /// speed records, bounties and weights, tempo by tempo, and report each miner's
    /// share of the weights: a markdown table per scenario on stdout and in
    /// DIR/SCENARIO.md, the shares per tempo in DIR/SCENARIO.csv and a plot in
    /// DIR/SCENARIO.png. Each hotkey gets 4 scored queries per tempo of 360 blocks;
    /// query latencies jitter by about 3%. Deterministic for a seed.
    #[command(after_help = "Scenarios:\n  \
        improver     one miner gets 3% faster every tempo; five others stand still\n  \
        all-improve  everyone improves, at 0.5% to 2.5% per tempo\n  \
        unreliable   a miner 30% faster than the others fails 15% of its queries\n  \
        copycat      a copy of the best miner, exactly as fast, joins halfway\n  \
        sybil        one machine mines with five hotkeys among five honest miners; \
        also run with one hotkey, to show what the extra four gain")]
    Simulate(SimulateArgs),
}

/// The `incentives simulate` flags.
#[derive(Debug, Args)]
pub struct SimulateArgs {
    /// Scenario to run; repeat for several [default: all of them].
    #[arg(
        long = "scenario",
        value_name = "NAME",
        value_parser = clap::builder::PossibleValuesParser::new(brainlock_incentives::SCENARIOS)
    )]
    pub scenarios: Vec<String>,
    /// Tempos to simulate (a copycat joins halfway).
    #[arg(long, default_value_t = 100, value_name = "N")]
    pub tempos: u32,
    /// Seed of every random draw (failures, jitter).
    #[arg(long, default_value_t = 0, value_name = "SEED")]
    pub seed: u64,
    /// Folder the tables, CSVs and plots are written to (created if missing).
    #[arg(long, default_value = "incentives-out", value_name = "DIR")]
    pub out: PathBuf,
    /// Share of the weights paid to bounty holders, 0 to 1. Validators default to 0
    /// (records kept, bounties unpaid); the simulation shows them at 0.2.
    #[arg(long, default_value_t = 0.2, value_name = "SHARE")]
    pub bounty_share: f64,
    /// Tempos a bounty runs, decaying linearly.
    #[arg(long, default_value_t = 20, value_name = "N")]
    pub bounty_tempos: u32,
    /// What a tier of indistinguishable standings receives: `pooled` (the prizes of the
    /// ranks it occupies: every improvement pays) or `shared` (one prize: extra hotkeys
    /// of one machine gain nothing) [validators' default: pooled].
    #[arg(long, default_value_t = brainlock_scoring::TierPrize::Pooled, value_name = "RULE")]
    pub tier_prize: brainlock_scoring::TierPrize,
}

/// What a registered neuron does on the subnet (`--role`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum RegistryRole {
    /// Serves encrypted inference.
    Miner,
    /// Queries, scores and weights the miners.
    Validator,
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn every_flag_is_documented() {
        fn walk(command: &clap::Command, path: &str) {
            for arg in command.get_arguments() {
                let id = arg.get_id().as_str();
                if matches!(id, "help" | "version")
                    || arg.is_positional() && arg.get_help().is_some()
                {
                    continue;
                }
                assert!(arg.get_help().is_some(), "{path} --{id} has no help text");
            }
            for sub in command.get_subcommands() {
                assert!(
                    sub.get_about().is_some(),
                    "{path} {} has no description",
                    sub.get_name()
                );
                walk(sub, &format!("{path} {}", sub.get_name()));
            }
        }
        Cli::command().debug_assert();
        walk(&Cli::command(), "brainlock");
    }

    #[test]
    fn classify_needs_exactly_one_target() {
        assert!(Cli::try_parse_from(["brainlock", "classify", "x.png"]).is_err());
        assert!(
            Cli::try_parse_from([
                "brainlock",
                "classify",
                "x.png",
                "--local",
                "--miner",
                "http://m"
            ])
            .is_err()
        );
        let cli = Cli::try_parse_from(["brainlock", "classify", "x.png", "--gateway", "http://g"])
            .unwrap();
        let Command::Classify(args) = cli.command else {
            panic!()
        };
        assert_eq!(args.target.gateway.as_deref(), Some("http://g"));
        assert_eq!(args.circuit, "conv3x3");
    }

    #[test]
    fn devnet_arguments_pass_through_untouched() {
        let cli = Cli::try_parse_from(["brainlock", "devnet", "--rounds", "3", "--help"]).unwrap();
        let Command::Devnet(devnet) = cli.command else {
            panic!()
        };
        assert_eq!(devnet.args, ["--rounds", "3", "--help"]);
    }
}
