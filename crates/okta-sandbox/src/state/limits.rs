//! Okta's rate-limit windows: requests counted per bucket in fixed windows.

use std::collections::HashMap;

/// Counters of the current window per bucket.
#[derive(Debug, Default)]
pub(crate) struct RateLimits {
    windows: HashMap<&'static str, (i64, u32)>,
    /// Requests refused with 429 per bucket (faults injected on purpose are counted apart).
    pub refused: std::collections::BTreeMap<&'static str, u64>,
}

/// The outcome of counting one request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Count {
    pub(crate) limit: u32,
    pub(crate) remaining: u32,
    pub(crate) reset: i64,
    pub(crate) exceeded: bool,
}

impl RateLimits {
    /// Counts one request in `bucket` at `now` (unix seconds), in fixed windows of `window`
    /// seconds (Okta's: 60).
    pub fn count(&mut self, bucket: &'static str, limit: u32, now: i64, window: i64) -> Count {
        let length = window.max(1);
        let window = now - now.rem_euclid(length);
        let entry = self.windows.entry(bucket).or_insert((window, 0));
        if entry.0 != window {
            *entry = (window, 0);
        }
        entry.1 = entry.1.saturating_add(1);
        let exceeded = entry.1 > limit;
        if exceeded {
            *self.refused.entry(bucket).or_default() += 1;
        }
        Count {
            limit,
            remaining: limit.saturating_sub(entry.1),
            reset: window + length,
            exceeded,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn window_counts_then_resets_each_minute() {
        let mut r = RateLimits::default();
        let a = r.count("users", 2, 120, 60);
        assert_eq!((a.remaining, a.reset, a.exceeded), (1, 180, false));
        let b = r.count("users", 2, 150, 60);
        assert_eq!((b.remaining, b.exceeded), (0, false));
        let c = r.count("users", 2, 179, 60);
        assert_eq!((c.remaining, c.exceeded), (0, true));
        let other = r.count("oauth2", 2, 179, 60);
        assert!(!other.exceeded, "buckets are separate");
        let d = r.count("users", 2, 180, 60);
        assert_eq!((d.remaining, d.reset, d.exceeded), (1, 240, false));
        assert_eq!(r.refused.get("users"), Some(&1), "one request refused");
        let short = r.count("short", 1, 181, 2);
        assert_eq!(short.reset, 182, "windows of two seconds");
    }
}
