//! Imported activations: what a quantization-aware-trained layer does after its integer
//! multiply-accumulate (scale, bias, BatchNorm, ReLU, the next quantizer), folded into
//! one function per output channel that calibration samples into lookup tables; and
//! the codes that let a 2x2 max pool run as a sum followed by a table.

/// Round half to even, as ONNX `QuantizeLinear` and `torch.round` round.
pub fn round_half_even(x: f64) -> f64 {
    let rounded = x.round();
    if (x - x.trunc()).abs() == 0.5 && rounded % 2.0 != 0.0 {
        rounded - x.signum()
    } else {
        rounded
    }
}

/// The folded activation of one imported layer: output channel `c`'s accumulator
/// `acc` becomes the real `y = gain[c] * acc + offset[c]`, then `max(y, 0)` when `relu`,
/// then the uniform quantizer `q = clamp(round_half_even(y / scale) + zero_point, min,
/// max)`, and the layer outputs `q - zero_point` (the integer the next layer multiplies),
/// or `codes[q - min]` when the layer feeds a max pool ([`max_pool_codes`]).
#[derive(Clone, Debug, PartialEq)]
pub struct Requantizer {
    /// Per output channel: the real value of one accumulator unit (input scale times
    /// weight scale, times the BatchNorm gain).
    pub gain: Vec<f64>,
    /// Per output channel: the real value added to the scaled accumulator (bias and
    /// BatchNorm shift).
    pub offset: Vec<f64>,
    /// A ReLU between the affine part and the quantizer.
    pub relu: bool,
    /// The output quantizer's scale (> 0).
    pub scale: f64,
    /// The output quantizer's zero point.
    pub zero_point: i64,
    /// Smallest quantized value (after the quantizer's clip).
    pub min: i64,
    /// Largest quantized value (after the quantizer's clip).
    pub max: i64,
    /// When set, level `q` is output as `codes[q - min]` instead of `q - zero_point`.
    pub codes: Option<Vec<i64>>,
}

impl Requantizer {
    /// The quantized level (before the zero point is removed) of accumulator `acc` in
    /// channel `channel`.
    pub fn level(&self, channel: usize, acc: f64) -> i64 {
        let mut y = self.gain[channel] * acc + self.offset[channel];
        if self.relu {
            y = y.max(0.0);
        }
        let q = round_half_even(y / self.scale) + self.zero_point as f64;
        (q.clamp(self.min as f64, self.max as f64)) as i64
    }

    /// The layer's output value for accumulator `acc` in channel `channel`.
    pub fn apply(&self, channel: usize, acc: f64) -> i64 {
        let level = self.level(channel, acc);
        match &self.codes {
            Some(codes) => codes[(level - self.min) as usize],
            None => level - self.zero_point,
        }
    }

    /// The output values of levels `min..=max`, in order.
    pub fn level_values(&self) -> Vec<i64> {
        (self.min..=self.max).map(|q| q - self.zero_point).collect()
    }
}

/// Codes for `levels` quantizer levels such that the sum of four codes tells the
/// largest level among them: `c_0 = 0`, `c_i = 4 c_(i-1) + 1`. Four codes below level
/// `i` sum to at most `4 c_(i-1) < c_i`, so the largest level present is the largest
/// `i` with `c_i <= sum` ([`max_level_of_sum`]).
pub fn max_pool_codes(levels: usize) -> Vec<i64> {
    let mut codes = Vec::with_capacity(levels);
    let mut code = 0i64;
    for _ in 0..levels {
        codes.push(code);
        code = 4 * code + 1;
    }
    codes
}

/// The index of the largest level among four codes of [`max_pool_codes`] summing to `sum`.
pub fn max_level_of_sum(codes: &[i64], sum: i64) -> usize {
    codes.iter().rposition(|&c| c <= sum).unwrap_or(0)
}

/// A 2x2 max pool over [`max_pool_codes`]: the pooled sum of four codes becomes the
/// value of the largest level among them.
#[derive(Clone, Debug, PartialEq)]
pub struct MaxOfCodes {
    /// The codes the pooled layer outputs, one per level.
    pub codes: Vec<i64>,
    /// The value each level stands for (the quantized level minus its zero point).
    pub values: Vec<i64>,
}

impl MaxOfCodes {
    /// The pool's output for a window whose codes sum to `sum`.
    pub fn apply(&self, sum: i64) -> i64 {
        self.values[max_level_of_sum(&self.codes, sum)]
    }

    /// Largest pooled sum: four of the top code.
    pub fn max_sum(&self) -> i64 {
        4 * self.codes.last().copied().unwrap_or(0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rounds_ties_to_even() {
        let cases = [
            (0.5, 0.0),
            (1.5, 2.0),
            (2.5, 2.0),
            (-0.5, 0.0),
            (-1.5, -2.0),
            (2.4, 2.0),
            (-2.6, -3.0),
        ];
        for (x, expected) in cases {
            assert_eq!(round_half_even(x), expected, "{x}");
        }
    }

    #[test]
    fn requantizes_like_quantize_linear_after_relu() {
        let r = Requantizer {
            gain: vec![0.5, -1.0],
            offset: vec![1.0, 0.0],
            relu: true,
            scale: 0.5,
            zero_point: 0,
            min: 0,
            max: 7,
            codes: None,
        };
        // y = 0.5 * 3 + 1 = 2.5 -> 5.
        assert_eq!(r.apply(0, 3.0), 5);
        assert_eq!(r.apply(0, -10.0), 0);
        assert_eq!(r.apply(0, 100.0), 7);
        // y = -1 * -0.75 = 0.75 -> 1.5 -> 2 (ties to even).
        assert_eq!(r.apply(1, -0.75), 2);
    }

    #[test]
    fn sums_of_codes_tell_the_largest_level() {
        for levels in 1..=5 {
            let codes = max_pool_codes(levels);
            let values: Vec<i64> = (0..levels as i64).map(|l| l - 1).collect();
            let pool = MaxOfCodes {
                codes: codes.clone(),
                values: values.clone(),
            };
            for window in 0..levels.pow(4) {
                let picks: Vec<usize> = (0..4).map(|i| window / levels.pow(i) % levels).collect();
                let sum: i64 = picks.iter().map(|&l| codes[l]).sum();
                assert!(sum <= pool.max_sum());
                assert_eq!(pool.apply(sum), values[*picks.iter().max().unwrap()]);
            }
        }
    }
}
