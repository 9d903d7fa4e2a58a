//! Latency histogram (log-linear buckets in microseconds, HDR-style) and error counts.

use std::collections::BTreeMap;
use std::time::Duration;

/// Bits of precision below the leading bit: every bucket above `2^SUB_BITS` µs is at most
/// 1/64 (1.6 %) of its value wide; values under `2^SUB_BITS` µs are exact.
const SUB_BITS: u32 = 7;
const SUB: u64 = 1 << SUB_BITS;
const HALF: u64 = SUB / 2;
/// Enough buckets for any `u64` value.
const BUCKETS: usize = (SUB + (64 - SUB_BITS as u64) * HALF) as usize;

/// A latency histogram in microseconds; cheap to record into, mergeable.
#[derive(Debug, Clone)]
pub struct Histogram {
    counts: Vec<u64>,
    count: u64,
    sum: u128,
    min: u64,
    max: u64,
}

impl Default for Histogram {
    fn default() -> Self {
        Self::new()
    }
}

impl Histogram {
    pub fn new() -> Self {
        Self {
            counts: vec![0; BUCKETS],
            count: 0,
            sum: 0,
            min: u64::MAX,
            max: 0,
        }
    }

    fn index(v: u64) -> usize {
        if v < SUB {
            return v as usize;
        }
        let msb = 63 - v.leading_zeros();
        let shift = msb - (SUB_BITS - 1);
        let top = v >> shift; // in [HALF, SUB)
        (SUB + u64::from(shift - 1) * HALF + (top - HALF)) as usize
    }

    /// The highest value that falls in bucket `i` (what HDR calls the highest equivalent value).
    fn upper_bound(i: usize) -> u64 {
        let i = i as u64;
        if i < SUB {
            return i;
        }
        let shift = (i - SUB) / HALF + 1;
        let top = (i - SUB) % HALF + HALF;
        let low = top << shift;
        low.saturating_add((1u64 << shift) - 1)
    }

    pub fn record_micros(&mut self, v: u64) {
        if let Some(c) = self.counts.get_mut(Self::index(v)) {
            *c += 1;
        }
        self.count += 1;
        self.sum += u128::from(v);
        self.min = self.min.min(v);
        self.max = self.max.max(v);
    }

    pub fn record(&mut self, d: Duration) {
        self.record_micros(u64::try_from(d.as_micros()).unwrap_or(u64::MAX));
    }

    pub fn merge(&mut self, other: &Histogram) {
        for (a, b) in self.counts.iter_mut().zip(&other.counts) {
            *a += *b;
        }
        self.count += other.count;
        self.sum += other.sum;
        self.min = self.min.min(other.min);
        self.max = self.max.max(other.max);
    }

    pub fn count(&self) -> u64 {
        self.count
    }

    pub fn max(&self) -> u64 {
        self.max
    }

    pub fn mean(&self) -> f64 {
        if self.count == 0 {
            0.0
        } else {
            self.sum as f64 / self.count as f64
        }
    }

    /// The value at percentile `p` (0..=100) in microseconds: the upper bound of the bucket
    /// holding the `ceil(p% × count)`-th smallest value, never above the recorded maximum.
    pub fn percentile(&self, p: f64) -> u64 {
        if self.count == 0 {
            return 0;
        }
        let p = p.clamp(0.0, 100.0);
        let rank = ((p / 100.0) * self.count as f64).ceil().max(1.0) as u64;
        let mut seen = 0u64;
        for (i, c) in self.counts.iter().enumerate() {
            seen += c;
            if seen >= rank {
                return Self::upper_bound(i).min(self.max).max(self.min);
            }
        }
        self.max
    }
}

/// What went wrong, by HTTP status for answers outside 2xx, plus transport failures.
#[derive(Debug, Clone, Default)]
pub struct ErrorCounts {
    pub by_status: BTreeMap<u16, u64>,
    pub transport: u64,
    /// The first transport error seen, to say what kind it was.
    pub first_transport: Option<String>,
}

impl ErrorCounts {
    pub fn status(&mut self, code: u16) {
        *self.by_status.entry(code).or_insert(0) += 1;
    }

    pub fn transport(&mut self, message: impl FnOnce() -> String) {
        self.transport += 1;
        if self.first_transport.is_none() {
            self.first_transport = Some(message());
        }
    }

    pub fn merge(&mut self, other: &ErrorCounts) {
        for (k, v) in &other.by_status {
            *self.by_status.entry(*k).or_insert(0) += v;
        }
        self.transport += other.transport;
        if self.first_transport.is_none() {
            self.first_transport.clone_from(&other.first_transport);
        }
    }

    pub fn total(&self) -> u64 {
        self.by_status.values().sum::<u64>() + self.transport
    }
}

/// One worker's (or the merged) outcome of a timed run.
#[derive(Debug, Clone, Default)]
pub struct Outcome {
    pub latency: Histogram,
    pub ok: u64,
    pub errors: ErrorCounts,
}

impl Outcome {
    pub fn merge(&mut self, other: &Outcome) {
        self.latency.merge(&other.latency);
        self.ok += other.ok;
        self.errors.merge(&other.errors);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn small_values_are_exact() {
        let mut h = Histogram::new();
        for v in 1..=100 {
            h.record_micros(v);
        }
        assert_eq!(h.percentile(50.0), 50);
        assert_eq!(h.percentile(99.0), 99);
        assert_eq!(h.percentile(100.0), 100);
        assert_eq!(h.percentile(0.0), 1);
    }

    #[test]
    fn percentiles_of_a_uniform_spread_are_within_bucket_precision() {
        let mut h = Histogram::new();
        for v in 1..=100_000u64 {
            h.record_micros(v);
        }
        for (p, exact) in [(50.0, 50_000f64), (95.0, 95_000.0), (99.0, 99_000.0)] {
            let got = h.percentile(p) as f64;
            assert!(got >= exact, "p{p}: {got} < {exact}");
            assert!(
                (got - exact) / exact <= 1.0 / 64.0,
                "p{p}: {got} vs {exact}"
            );
        }
        assert_eq!(h.percentile(100.0), 100_000);
        assert_eq!(h.max(), 100_000);
        assert!((h.mean() - 50_000.5).abs() < 1e-6);
    }

    #[test]
    fn a_single_outlier_shows_only_in_the_top_percentile() {
        let mut h = Histogram::new();
        for _ in 0..999 {
            h.record_micros(1_000);
        }
        h.record_micros(2_000_000);
        assert!(h.percentile(99.0) <= 1_015);
        assert_eq!(h.percentile(100.0), 2_000_000);
    }

    #[test]
    fn buckets_are_contiguous_and_bounds_contain_their_values() {
        let mut prev = 0usize;
        for v in [
            0u64,
            1,
            127,
            128,
            129,
            255,
            256,
            1_000,
            65_535,
            1 << 40,
            u64::MAX,
        ] {
            let i = Histogram::index(v);
            assert!(i >= prev);
            assert!(i < BUCKETS);
            assert!(Histogram::upper_bound(i) >= v);
            if i > 0 {
                assert!(Histogram::upper_bound(i - 1) < v);
            }
            prev = i;
        }
    }

    #[test]
    fn merged_histograms_equal_one_recording_everything() {
        let (mut a, mut b, mut all) = (Histogram::new(), Histogram::new(), Histogram::new());
        for v in 0..5_000u64 {
            let x = v * 37 % 20_000;
            if v % 2 == 0 {
                a.record_micros(x)
            } else {
                b.record_micros(x)
            }
            all.record_micros(x);
        }
        a.merge(&b);
        for p in [1.0, 50.0, 90.0, 99.9] {
            assert_eq!(a.percentile(p), all.percentile(p));
        }
        assert_eq!(a.count(), 5_000);
    }

    #[test]
    fn an_empty_histogram_reports_zero() {
        assert_eq!(Histogram::new().percentile(99.0), 0);
    }

    #[test]
    fn error_counts_add_up_by_status_and_transport() {
        let mut e = ErrorCounts::default();
        e.status(500);
        e.status(500);
        e.status(409);
        e.transport(|| "reset".into());
        let mut f = ErrorCounts::default();
        f.status(500);
        f.transport(|| "refused".into());
        e.merge(&f);
        assert_eq!(e.by_status.get(&500), Some(&3));
        assert_eq!(e.transport, 2);
        assert_eq!(e.first_transport.as_deref(), Some("reset"));
        assert_eq!(e.total(), 6);
    }
}
