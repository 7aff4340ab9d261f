//! Percentiles and medians of the measurements.

use std::time::Duration;

/// Latency percentiles of one run.
#[derive(Debug, Clone, Copy, Default)]
pub struct Percentiles {
    pub p50: Duration,
    pub p90: Duration,
    pub p99: Duration,
}

/// The `q`-quantile (0..=1) of sorted samples, nearest rank.
fn quantile(sorted: &[Duration], q: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let rank = (q * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

/// p50, p90 and p99 of `samples`.
pub fn percentiles(samples: &[Duration]) -> Percentiles {
    let mut sorted = samples.to_vec();
    sorted.sort_unstable();
    Percentiles {
        p50: quantile(&sorted, 0.50),
        p90: quantile(&sorted, 0.90),
        p99: quantile(&sorted, 0.99),
    }
}

/// The median of repeated runs' figures (the lower middle of an even count).
pub fn median<T: PartialOrd + Copy + Default>(values: &[T]) -> T {
    let mut sorted = values.to_vec();
    sorted.sort_by(|a, b| a.partial_cmp(b).unwrap_or(std::cmp::Ordering::Equal));
    sorted
        .get(sorted.len().saturating_sub(1) / 2)
        .copied()
        .unwrap_or_default()
}

/// Element-wise median of repeated runs' percentiles.
pub fn median_percentiles(runs: &[Percentiles]) -> Percentiles {
    let pick = |f: fn(&Percentiles) -> Duration| median(&runs.iter().map(f).collect::<Vec<_>>());
    Percentiles {
        p50: pick(|p| p.p50),
        p90: pick(|p| p.p90),
        p99: pick(|p| p.p99),
    }
}

/// `12.3 ms`, `456 µs`, `1.20 s`: a duration at a readable scale.
pub fn fmt_duration(d: Duration) -> String {
    let us = d.as_secs_f64() * 1e6;
    if us < 1000.0 {
        format!("{us:.0} µs")
    } else if us < 1e6 {
        format!("{:.1} ms", us / 1000.0)
    } else {
        format!("{:.2} s", us / 1e6)
    }
}

/// `p50 / p90 / p99` in one cell.
pub fn fmt_percentiles(p: &Percentiles) -> String {
    format!(
        "{} / {} / {}",
        fmt_duration(p.p50),
        fmt_duration(p.p90),
        fmt_duration(p.p99)
    )
}
