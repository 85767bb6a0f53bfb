//! The devnet's leaderboard: the validator's published standings, one row per miner,
//! and the circuit's speed record, redrawn after every round as plain text (works in
//! logs and without a terminal).

use std::fmt::Write;

use brainlock_validator::{Leaderboard, MinerStanding};

/// Shortens an SS58 address to its first and last characters.
fn short(hotkey: &str) -> String {
    if hotkey.len() <= 12 {
        return hotkey.to_string();
    }
    format!("{}..{}", &hotkey[..6], &hotkey[hotkey.len() - 4..])
}

fn cell(value: Option<f64>, digits: usize) -> String {
    value.map_or_else(|| "-".to_string(), |v| format!("{v:.digits$}"))
}

fn line(cells: [&str; 11]) -> String {
    format!(
        "{:>4}  {:<14}  {:>7}  {:<16}  {:>9}  {:>8}  {:>10}  {:>10}  {:>4}  {:>7}  {:>10}",
        cells[0],
        cells[1],
        cells[2],
        cells[3],
        cells[4],
        cells[5],
        cells[6],
        cells[7],
        cells[8],
        cells[9],
        cells[10]
    )
}

/// Renders the table, best weight first (then best standing, then uid).
pub(crate) fn render(title: &str, board: &Leaderboard) -> String {
    let mut miners: Vec<&MinerStanding> = board.miners.iter().collect();
    miners.sort_by(|a, b| {
        (b.weight, b.standing)
            .partial_cmp(&(a.weight, a.standing))
            .unwrap_or(std::cmp::Ordering::Equal)
            .then(a.uid.cmp(&b.uid))
    });
    let mut out = String::new();
    let _ = writeln!(out, "{title} (block {})", board.block);
    if let Some(record) = &board.record {
        let _ = writeln!(
            out,
            "{} speed record: {:.3} s per item by {}{} at block {}",
            record.circuit,
            record.seconds_per_item,
            record
                .uid
                .map_or_else(String::new, |uid| format!("uid {uid}, ")),
            short(&record.hotkey),
            record.block
        );
    }
    let header = line([
        "uid",
        "hotkey",
        "queries",
        "last",
        "latency s",
        "quality",
        "score",
        "standing",
        "tier",
        "weight",
        "bounty",
    ]);
    let _ = writeln!(out, "{header}");
    let _ = writeln!(out, "{}", "-".repeat(header.len()));
    for m in miners {
        let _ = writeln!(
            out,
            "{}",
            line([
                &m.uid.to_string(),
                &short(&m.hotkey.to_string()),
                &m.queries.to_string(),
                m.last_outcome.as_deref().unwrap_or("-"),
                &cell(m.latency, 3),
                &cell(m.quality, 4),
                &format!("{:.4}", m.score),
                &format!("{:.4}", m.standing),
                &m.tier.map_or_else(|| "-".to_string(), |t| t.to_string()),
                &format!("{:.4}", m.weight),
                &m.bounty.map_or_else(
                    || "-".to_string(),
                    |b| format!("{:.1} tempo", b.tempos_left)
                ),
            ])
        );
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use brainlock_validator::{BountyStatus, RecordStanding};

    fn standing(uid: u16, weight: f64, latency: Option<f64>) -> MinerStanding {
        MinerStanding {
            uid,
            hotkey: "5GrwvaEF5zXb26Fz9rcQpDWS57CtERHpNehXCPcNoHGKutQY"
                .parse()
                .unwrap(),
            axon: None,
            queries: 2,
            failure_rate: 0.0,
            last_outcome: latency.map(|_| "passed".to_string()),
            latency,
            quality: latency.map(|_| 0.99871),
            score: weight / 2.0,
            standing: weight / 2.0,
            sustained_latency: None,
            tier: latency.map(|_| 1),
            weight,
            bounty: None,
        }
    }

    #[test]
    fn renders_sorted_aligned_rows_with_placeholders() {
        let mut best = standing(2, 0.75, Some(1.5));
        best.bounty = Some(BountyStatus {
            remaining: 0.5,
            tempos_left: 10.0,
        });
        let board = Leaderboard {
            block: 7,
            miners: vec![
                standing(1, 0.25, Some(12.3456)),
                best,
                standing(3, 0.0, None),
            ],
            record: Some(RecordStanding {
                circuit: "conv3x3".into(),
                hotkey: "5GrwvaEF5zXb26Fz9rcQpDWS57CtERHpNehXCPcNoHGKutQY".into(),
                uid: Some(2),
                seconds_per_item: 1.5,
                block: 6,
            }),
            ..Leaderboard::default()
        };
        let text = render("round 2/2", &board);
        let mut lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines[0], "round 2/2 (block 7)");
        assert_eq!(
            lines.remove(1),
            "conv3x3 speed record: 1.500 s per item by uid 2, 5Grwva..utQY at block 6"
        );
        assert!(lines[3].ends_with("10.0 tempo"), "{text}");
        assert!(lines[1].contains("latency s") && lines[1].contains("weight"));
        assert!(
            lines[3].trim_start().starts_with("2 "),
            "best weight first: {text}"
        );
        assert!(
            lines[3].contains("5Grwva..utQY")
                && lines[3].contains("1.500")
                && lines[3].contains("0.7500")
        );
        assert!(
            lines[4].contains("12.346") && lines[4].contains("0.9987"),
            "{text}"
        );
        assert!(
            lines[5].trim_start().starts_with("3 ") && lines[5].contains(" - "),
            "{text}"
        );
        assert!(
            lines[3..].iter().all(|l| l.len() == lines[1].len()),
            "rows line up: {text}"
        );
    }
}
