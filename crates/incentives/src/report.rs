//! A scenario's results as a markdown table, a CSV of shares per tempo and a plot.

use std::fmt::Write as _;
use std::fs;
use std::path::{Path, PathBuf};

use crate::Error;
use crate::plot::plot_shares;
use crate::scenario::Scenario;
use crate::sim::{Run, SimConfig, simulate};

/// A scenario's run, and for a scenario in which a machine mines with several
/// hotkeys, the run of the same machines with one hotkey each.
#[derive(Clone, Debug, PartialEq)]
pub struct Report {
    /// What the scenario shows.
    pub summary: &'static str,
    /// The run.
    pub run: Run,
    /// The same machines with one hotkey each, same seed: every miner draws the same
    /// queries in both runs, so the difference is the extra hotkeys alone.
    pub one_hotkey: Option<Run>,
}

/// Runs `scenario` (and its one-hotkey twin when it has Sybils).
pub fn run_scenario(scenario: &Scenario, config: &SimConfig) -> Result<Report, Error> {
    let run = simulate(scenario, config)?;
    let one_hotkey = if scenario.has_sybils() {
        Some(simulate(&scenario.one_hotkey_each(), config)?)
    } else {
        None
    };
    Ok(Report {
        summary: scenario.summary,
        run,
        one_hotkey,
    })
}

fn percent(share: f64) -> String {
    format!("{:.2}%", 100.0 * share)
}

impl Report {
    /// The report in markdown: a heading, the settings, one table row per miner, and
    /// for Sybils what each machine gets with all its hotkeys and with one.
    pub fn markdown(&self) -> String {
        let run = &self.run;
        let c = &run.config;
        let b = &c.policy.bounty;
        let mut out = String::new();
        // Writing to a String cannot fail.
        let _ = writeln!(out, "## {}\n\n{}\n", run.scenario, self.summary);
        let _ = writeln!(
            out,
            "{} tempos of {} blocks, {} scored queries per hotkey and tempo, seed {}; \
             bounty share {} for {} tempos, step {:.1}%, over {} clean queries.\n",
            c.tempos,
            c.blocks_per_tempo,
            c.queries_per_tempo,
            c.seed,
            b.share,
            b.tempos,
            100.0 * b.step,
            b.queries,
        );
        out.push_str(
            "| miner | first-tempo share | last-tempo share | mean share | bounties won | \
             tempos with a bounty | records set |\n\
             |---|---:|---:|---:|---:|---:|---:|\n",
        );
        for m in &run.miners {
            let name = if m.hotkeys > 1 {
                format!("{} ({} hotkeys)", m.name, m.hotkeys)
            } else {
                m.name.clone()
            };
            let _ = writeln!(
                out,
                "| {name} | {} | {} | {} | {} | {} | {} |",
                percent(m.first_share()),
                percent(m.last_share()),
                percent(m.mean_share()),
                m.bounties_won,
                m.bounty_tempos,
                m.records_set,
            );
        }
        let forfeited: Vec<String> = run
            .miners
            .iter()
            .filter(|m| m.bounties_forfeited > 0)
            .map(|m| format!("{} {}", m.name, m.bounties_forfeited))
            .collect();
        if !forfeited.is_empty() {
            let _ = writeln!(out, "\nBounties forfeited: {}.", forfeited.join(", "));
        }
        let late: Vec<String> = run
            .miners
            .iter()
            .filter(|m| m.joins_at > 0)
            .map(|m| format!("{} joined at tempo {}", m.name, m.joins_at))
            .collect();
        if !late.is_empty() {
            let _ = writeln!(
                out,
                "\n{}; its first and mean shares count from then.",
                late.join(", ")
            );
        }
        if let Some(single) = &self.one_hotkey {
            out.push_str(
                "\nThe same machines with one hotkey each (same seed, same draws):\n\n\
                 | machine | hotkeys | mean share | mean share with one hotkey | ratio | \
                 last-tempo share | with one hotkey |\n\
                 |---|---:|---:|---:|---:|---:|---:|\n",
            );
            for (many, one) in run.miners.iter().zip(&single.miners) {
                if many.hotkeys < 2 {
                    continue;
                }
                let _ = writeln!(
                    out,
                    "| {} | {} | {} | {} | {:.2}x | {} | {} |",
                    many.name,
                    many.hotkeys,
                    percent(many.mean_share()),
                    percent(one.mean_share()),
                    many.mean_share() / one.mean_share(),
                    percent(many.last_share()),
                    percent(one.last_share()),
                );
            }
            let others: Vec<String> = run
                .miners
                .iter()
                .zip(&single.miners)
                .filter(|(many, _)| many.hotkeys < 2)
                .map(|(many, one)| {
                    format!(
                        "{} {} / {}",
                        many.name,
                        percent(many.mean_share()),
                        percent(one.mean_share())
                    )
                })
                .collect();
            let _ = writeln!(
                out,
                "\nThe others' mean shares, with the Sybils / without: {}.",
                others.join(", ")
            );
        }
        out
    }

    /// Shares per tempo: a `tempo` column, then one column per miner (all its hotkeys
    /// together).
    pub fn csv(&self) -> String {
        let miners = &self.run.miners;
        let mut out = String::from("tempo");
        for m in miners {
            out.push(',');
            out.push_str(&csv_field(&m.name));
        }
        out.push('\n');
        for tempo in 0..self.run.config.tempos as usize {
            let _ = write!(out, "{tempo}");
            for m in miners {
                let _ = write!(out, ",{:.6}", m.shares[tempo]);
            }
            out.push('\n');
        }
        out
    }

    /// Writes `<dir>/<scenario>.md`, `.csv` and `.png` (creating `dir`) and returns
    /// their paths.
    pub fn write(&self, dir: &Path) -> Result<Vec<PathBuf>, Error> {
        fs::create_dir_all(dir).map_err(|source| Error::Io {
            path: dir.to_owned(),
            source,
        })?;
        let base = dir.join(self.run.scenario);
        let markdown = base.with_extension("md");
        let csv = base.with_extension("csv");
        let png = base.with_extension("png");
        for (path, text) in [(&markdown, self.markdown()), (&csv, self.csv())] {
            fs::write(path, text).map_err(|source| Error::Io {
                path: path.clone(),
                source,
            })?;
        }
        plot_shares(&self.run, &png)?;
        Ok(vec![markdown, csv, png])
    }
}

/// A CSV field, quoted when it must be.
fn csv_field(text: &str) -> String {
    if text.contains([',', '"', '\n']) {
        format!("\"{}\"", text.replace('"', "\"\""))
    } else {
        text.to_owned()
    }
}
