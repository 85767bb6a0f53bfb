//! `brainlock incentives simulate`: the reward rules over simulated miners.

use anyhow::Context;
use brainlock_incentives::{SCENARIOS, SimConfig, run_scenario, scenario};

use crate::cli::SimulateArgs;

/// The `incentives simulate` command: runs each chosen scenario, prints its table and
/// writes its table, CSV and plot under `--out`.
pub fn simulate(args: &SimulateArgs) -> anyhow::Result<()> {
    let mut config = SimConfig {
        tempos: args.tempos,
        seed: args.seed,
        ..SimConfig::default()
    };
    config.policy.bounty.share = args.bounty_share;
    config.policy.bounty.tempos = args.bounty_tempos;
    config.policy.pareto.tier_prize = args.tier_prize;
    let names: Vec<&str> = if args.scenarios.is_empty() {
        SCENARIOS.to_vec()
    } else {
        args.scenarios.iter().map(String::as_str).collect()
    };
    for name in names {
        let scenario = scenario(name, args.tempos)
            .with_context(|| format!("no scenario {name:?}; there are {SCENARIOS:?}"))?;
        let report =
            run_scenario(&scenario, &config).with_context(|| format!("scenario {name}"))?;
        println!("{}", report.markdown());
        let written = report.write(&args.out)?;
        let written: Vec<String> = written.iter().map(|p| p.display().to_string()).collect();
        eprintln!("wrote {}", written.join(", "));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::*;
    use crate::cli::{Cli, Command, IncentivesCommand};

    fn parse(args: &[&str]) -> Result<SimulateArgs, clap::Error> {
        let cli = Cli::try_parse_from(["brainlock", "incentives", "simulate"].iter().chain(args))?;
        let Command::Incentives(IncentivesCommand::Simulate(args)) = cli.command else {
            panic!("not incentives simulate");
        };
        Ok(args)
    }

    #[test]
    fn flags_and_defaults() {
        let defaults = parse(&[]).unwrap();
        assert!(defaults.scenarios.is_empty());
        assert_eq!(defaults.tempos, 100);
        assert_eq!(defaults.out.to_str(), Some("incentives-out"));
        assert_eq!(defaults.bounty_share, 0.2);
        let two = parse(&["--scenario", "sybil", "--scenario", "copycat"]).unwrap();
        assert_eq!(two.scenarios, ["sybil", "copycat"]);
        assert!(parse(&["--scenario", "nonesuch"]).is_err());
        let shared = parse(&["--tier-prize", "shared"]).unwrap();
        assert_eq!(shared.tier_prize, brainlock_scoring::TierPrize::Shared);
        assert!(parse(&["--tier-prize", "fair"]).is_err());
    }

    #[test]
    fn writes_each_scenario_and_refuses_a_bad_policy() {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("out");
        let out_flag = out.to_str().unwrap();
        let args = parse(&[
            "--scenario",
            "improver",
            "--tempos",
            "20",
            "--out",
            out_flag,
        ])
        .unwrap();
        simulate(&args).unwrap();
        for file in ["improver.md", "improver.csv", "improver.png"] {
            assert!(out.join(file).is_file(), "{file}");
        }
        let args = parse(&["--scenario", "copycat", "--bounty-share", "1.5"]).unwrap();
        let error = format!("{:#}", simulate(&args).unwrap_err());
        assert!(error.contains("bounty.share"), "{error}");
    }
}
