//! The `brainlock` command as a library, so tests drive the same code the binary runs.

#![deny(missing_docs)]

pub mod bench;
pub mod circuit_cmd;
pub mod classify;
pub mod cli;
pub mod devnet_cmd;
pub mod gateway_cmd;
pub mod import_cmd;
pub mod incentives_cmd;
pub mod registry_cmd;
pub mod wallet;
pub mod workload;

use cli::{
    CircuitCommand, Cli, Command, GatewayCommand, IncentivesCommand, RegistryCommand, WalletCommand,
};

/// Runs one parsed command line.
pub async fn dispatch(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Command::Classify(args) => classify::run(args).await,
        Command::Devnet(devnet) => devnet_cmd::run(&devnet.args),
        Command::Bench(args) => bench::run(args).await,
        Command::Wallet(WalletCommand::Create { wallet, overwrite }) => {
            wallet::create(&wallet, overwrite)
        }
        Command::Circuit(CircuitCommand::Export { circuit, output }) => {
            circuit_cmd::export(&circuit, &output)
        }
        Command::Circuit(CircuitCommand::Inspect { circuit }) => circuit_cmd::inspect(&circuit),
        Command::Circuit(CircuitCommand::Gates {
            circuit,
            profile,
            batch,
        }) => circuit_cmd::gates(&circuit, profile.as_deref(), batch),
        Command::Circuit(CircuitCommand::Import {
            model,
            calibration,
            rounding_bits,
            id,
            output,
        }) => import_cmd::import(&model, &calibration, rounding_bits, id.as_deref(), &output),
        Command::Circuit(CircuitCommand::Check {
            circuit,
            against,
            encrypted,
            profile,
        }) => import_cmd::check(&circuit, &against, encrypted, profile.as_deref()).map(|_| ()),
        Command::Gateway(GatewayCommand::IssueKey { name }) => gateway_cmd::issue_key(&name),
        Command::Registry(RegistryCommand::Register {
            registry,
            netuid,
            wallet,
            role,
            stake,
        }) => registry_cmd::register(&registry, netuid, &wallet, role, stake).await,
        Command::Incentives(IncentivesCommand::Simulate(args)) => incentives_cmd::simulate(&args),
    }
}
