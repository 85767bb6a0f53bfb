//! Standings to weights.

/// Standings normalized to sum to 1. Entries that are not finite and non-negative
/// count as 0; if nothing positive remains, every weight is 0 (the caller decides
/// what to set on chain then). Scaling by the maximum first keeps the sum finite
/// even for standings near `f64::MAX`.
pub fn normalize_weights(standings: &[f64]) -> Vec<f64> {
    let clean: Vec<f64> = standings
        .iter()
        .map(|&s| if s.is_finite() && s > 0.0 { s } else { 0.0 })
        .collect();
    let max = clean.iter().copied().fold(0.0, f64::max);
    if max == 0.0 {
        return clean;
    }
    let scaled: Vec<f64> = clean.iter().map(|s| s / max).collect();
    let sum: f64 = scaled.iter().sum();
    scaled.iter().map(|s| s / sum).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalizes_to_one() {
        assert_eq!(normalize_weights(&[1.0, 3.0]), vec![0.25, 0.75]);
        assert_eq!(normalize_weights(&[0.0, 5.0, 0.0]), vec![0.0, 1.0, 0.0]);
        let w = normalize_weights(&[f64::MAX, f64::MAX, f64::MAX]);
        assert!(w.iter().all(|&x| (x - 1.0 / 3.0).abs() < 1e-12), "{w:?}");
    }

    #[test]
    fn nothing_to_reward_gives_all_zero() {
        assert_eq!(normalize_weights(&[0.0, 0.0]), vec![0.0, 0.0]);
        assert_eq!(normalize_weights(&[]), Vec::<f64>::new());
        assert_eq!(
            normalize_weights(&[f64::NAN, -1.0, f64::INFINITY]),
            vec![0.0; 3]
        );
        assert_eq!(normalize_weights(&[f64::NAN, 2.0]), vec![0.0, 1.0]);
    }
}
