//! Summary statistics over samples (seconds).

use serde_json::{json, Value};

#[derive(Debug, Clone, Default)]
pub struct Stats {
    pub n: usize,
    pub median: f64,
    pub p99: f64,
    pub p999: f64,
    pub mean: f64,
    pub min: f64,
    pub max: f64,
}

impl Stats {
    pub fn of(samples: &[f64]) -> Self {
        if samples.is_empty() {
            return Self::default();
        }
        let mut s = samples.to_vec();
        s.sort_by(|a, b| a.partial_cmp(b).expect("no NaN"));
        let n = s.len();
        let median = if n % 2 == 1 {
            s[n / 2]
        } else {
            (s[n / 2 - 1] + s[n / 2]) / 2.0
        };
        // Nearest-rank percentiles: with fewer than 100 samples, p99 is the
        // max (p99.9 with fewer than 1000).
        let rank = |q: f64| ((q * n as f64).ceil() as usize).clamp(1, n);
        Self {
            n,
            median,
            p99: s[rank(0.99) - 1],
            p999: s[rank(0.999) - 1],
            mean: s.iter().sum::<f64>() / n as f64,
            min: s[0],
            max: s[n - 1],
        }
    }

    pub fn json(&self) -> Value {
        json!({
            "n": self.n,
            "median_s": self.median,
            "p99_s": self.p99,
            "p999_s": self.p999,
            "mean_s": self.mean,
            "min_s": self.min,
            "max_s": self.max,
        })
    }
}

/// The share of `samples` above `threshold`, in percent.
pub fn share_above(samples: &[f64], threshold: f64) -> f64 {
    if samples.is_empty() {
        return f64::NAN;
    }
    100.0 * samples.iter().filter(|&&s| s > threshold).count() as f64 / samples.len() as f64
}

/// A duration in seconds, shown with a unit that keeps 3 significant digits.
pub fn fmt_secs(s: f64) -> String {
    if s.is_nan() {
        "-".into()
    } else if s >= 1.0 {
        format!("{s:.2} s")
    } else if s >= 1e-3 {
        format!("{:.2} ms", s * 1e3)
    } else {
        format!("{:.0} µs", s * 1e6)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn median_and_p99() {
        let v: Vec<f64> = (1..=200).map(f64::from).collect();
        let s = Stats::of(&v);
        assert_eq!(s.median, 100.5);
        assert_eq!(s.p99, 198.0);
        assert_eq!(s.p999, 200.0);
        let v: Vec<f64> = (1..=2000).map(f64::from).collect();
        assert_eq!(Stats::of(&v).p999, 1998.0);
        assert_eq!(Stats::of(&[3.0, 1.0, 2.0]).median, 2.0);
        assert_eq!(Stats::of(&[3.0, 1.0, 2.0]).p99, 3.0);
    }
}

/// `0..n` in an order that depends only on `seed` (a Fisher-Yates shuffle
/// driven by splitmix64): reproducible, and with every subject after
/// every other equally often over many seeds.
pub fn shuffled(n: usize, seed: u64) -> Vec<usize> {
    let mut state = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ 0xD1B5_4A32_D192_ED03;
    let mut next = move || {
        state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = state;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    };
    let mut order: Vec<usize> = (0..n).collect();
    for i in (1..n).rev() {
        let j = (next() % (i as u64 + 1)) as usize;
        order.swap(i, j);
    }
    order
}

#[cfg(test)]
mod shuffle_tests {
    use super::shuffled;

    #[test]
    fn every_subject_follows_every_other() {
        let n = 6;
        let mut after = vec![vec![0usize; n]; n];
        for seed in 0..6000 {
            let order = shuffled(n, seed);
            let mut sorted = order.clone();
            sorted.sort();
            assert_eq!(sorted, (0..n).collect::<Vec<_>>());
            for w in order.windows(2) {
                after[w[1]][w[0]] += 1;
            }
        }
        // 6000 orders x 5 pairs / 30 ordered pairs = 1000 each, if fair.
        for (k, row) in after.iter().enumerate() {
            for (j, &count) in row.iter().enumerate() {
                if j != k {
                    assert!((800..1200).contains(&count), "{k} after {j}: {count}");
                }
            }
        }
    }
}
