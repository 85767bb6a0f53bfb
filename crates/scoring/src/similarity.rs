//! Comparisons between a decrypted output and the exact simulation's output.

/// Cosine similarity of two integer vectors, in [-1, 1] and never NaN.
///
/// Degenerate cases score 0 (no evidence of agreement): different lengths, empty
/// vectors, or either vector all zero. In particular an all-zero answer (what a
/// trivial zero ciphertext decrypts to) never passes, even against an all-zero truth.
pub fn cosine_similarity(a: &[i64], b: &[i64]) -> f64 {
    if a.len() != b.len() || a.is_empty() {
        return 0.0;
    }
    // In f64, |x| < 2^63 squared and summed over any realistic length stays far from
    // overflow (1e38 per term against a 1e308 limit).
    let (mut dot, mut norm_a, mut norm_b) = (0.0f64, 0.0f64, 0.0f64);
    for (&x, &y) in a.iter().zip(b) {
        let (x, y) = (x as f64, y as f64);
        dot += x * y;
        norm_a += x * x;
        norm_b += y * y;
    }
    if norm_a == 0.0 || norm_b == 0.0 {
        return 0.0;
    }
    // sqrt(a * b) rather than sqrt(a) * sqrt(b): identical vectors then give exactly 1
    // (sqrt(x * x) == x in floating point). The product cannot overflow (see above).
    let cosine = dot / (norm_a * norm_b).sqrt();
    if cosine.is_finite() {
        cosine.clamp(-1.0, 1.0)
    } else {
        0.0
    }
}

/// Index of the largest value, ties broken to the lowest index; `None` if empty.
pub fn top1(values: &[i64]) -> Option<usize> {
    let mut best: Option<(usize, i64)> = None;
    for (index, &value) in values.iter().enumerate() {
        if best.is_none_or(|(_, top)| value > top) {
            best = Some((index, value));
        }
    }
    best.map(|(index, _)| index)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cosine_of_known_vectors() {
        assert_eq!(cosine_similarity(&[1, 2, 3], &[2, 4, 6]), 1.0);
        assert_eq!(cosine_similarity(&[1, 0], &[0, 5]), 0.0);
        assert_eq!(cosine_similarity(&[3, -4], &[-3, 4]), -1.0);
        let c = cosine_similarity(&[1, 1], &[1, 0]);
        assert!((c - std::f64::consts::FRAC_1_SQRT_2).abs() < 1e-12);
    }

    #[test]
    fn degenerate_cosines_are_zero_not_nan() {
        assert_eq!(cosine_similarity(&[0, 0], &[0, 0]), 0.0);
        assert_eq!(cosine_similarity(&[0, 0], &[1, 2]), 0.0);
        assert_eq!(cosine_similarity(&[1, 2], &[0, 0]), 0.0);
        assert_eq!(cosine_similarity(&[], &[]), 0.0);
        assert_eq!(cosine_similarity(&[1, 2], &[1, 2, 3]), 0.0);
        let extreme = cosine_similarity(&[i64::MIN, i64::MAX], &[i64::MIN, i64::MAX]);
        assert!((extreme - 1.0).abs() < 1e-12);
    }

    #[test]
    fn top1_breaks_ties_to_the_lowest_index() {
        assert_eq!(top1(&[1, 5, 5, 2]), Some(1));
        assert_eq!(top1(&[-3, -3]), Some(0));
        assert_eq!(top1(&[i64::MIN]), Some(0));
        assert_eq!(top1(&[]), None);
    }
}
