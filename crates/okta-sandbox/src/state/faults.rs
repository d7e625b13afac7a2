//! The faults in force and what the sandbox has counted (`/__sandbox/faults`, `--fault`).

use std::collections::BTreeMap;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// One fault rule.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct FaultRule {
    /// Path prefix the rule applies to (`/api/v1/users`), or `*` for every route.
    pub route: String,
    /// Latency added before answering, in milliseconds.
    #[serde(default)]
    pub latency_ms: u64,
    /// Share (0–1) of requests answered 500 or 503.
    #[serde(default)]
    pub errors: f64,
    /// Share (0–1) of requests answered 429 with E0000047.
    #[serde(default)]
    pub rate_limits: f64,
    /// Share (0–1) of responses cut off mid-body.
    #[serde(default)]
    pub cuts: f64,
    /// Inject into at most this many requests, then stop (`None`: no end). With shares of 1,
    /// this makes a fault happen exactly N times, for deterministic tests.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub times: Option<u64>,
}

impl FaultRule {
    pub(crate) fn applies_to(&self, path: &str) -> bool {
        self.route == "*" || path.starts_with(&self.route)
    }

    pub(crate) fn validate(&self) -> Result<(), String> {
        for (name, v) in [
            ("errors", self.errors),
            ("rateLimits", self.rate_limits),
            ("cuts", self.cuts),
        ] {
            if !(0.0..=1.0).contains(&v) {
                return Err(format!("{name} must be a share between 0 and 1, not {v}"));
            }
        }
        if self.route != "*" && !self.route.starts_with('/') {
            return Err(format!("route {:?} must start with / (or be *)", self.route));
        }
        Ok(())
    }
}

/// `ROUTE:key=value,…`, e.g. `/api/v1/users:latency=50,errors=0.1,429=0.05,cuts=0.02`.
impl FromStr for FaultRule {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        let (route, settings) = s.split_once(':').unwrap_or((s, ""));
        let mut rule = FaultRule {
            route: route.trim().to_owned(),
            latency_ms: 0,
            errors: 0.0,
            rate_limits: 0.0,
            cuts: 0.0,
            times: None,
        };
        for kv in settings.split(',').filter(|kv| !kv.trim().is_empty()) {
            let (k, v) = kv.split_once('=').ok_or_else(|| format!("{kv:?}: write key=value"))?;
            let share = || v.trim().parse::<f64>().map_err(|_| format!("{k}={v}: not a number"));
            match k.trim() {
                "latency" => {
                    rule.latency_ms = v
                        .trim()
                        .trim_end_matches("ms")
                        .parse()
                        .map_err(|_| format!("latency={v}: milliseconds"))?
                }
                "errors" => rule.errors = share()?,
                "429" | "rate_limits" => rule.rate_limits = share()?,
                "cuts" => rule.cuts = share()?,
                "times" => rule.times = Some(v.trim().parse().map_err(|_| format!("times={v}: a count"))?),
                other => {
                    return Err(format!(
                        "unknown fault {other:?}: use latency, errors, 429, cuts or times"
                    ));
                }
            }
        }
        rule.validate()?;
        Ok(rule)
    }
}

/// Faults in force and what the sandbox has counted.
#[derive(Debug)]
pub(crate) struct Faults {
    pub rules: Vec<FaultRule>,
    /// Decides which requests get a fault: seeded from the org's seed, so the same requests in
    /// the same order meet the same faults (a test's outcome does not depend on luck).
    pub rng: rand_chacha::ChaCha8Rng,
    /// Requests per `METHOD route`.
    pub requests: BTreeMap<String, u64>,
    /// Faults injected per kind.
    pub injected: BTreeMap<&'static str, u64>,
}

impl Faults {
    /// `rules` in force, decided by a generator seeded with `seed`.
    pub(crate) fn new(rules: Vec<FaultRule>, seed: u64) -> Self {
        use rand::SeedableRng;
        Self {
            rules,
            rng: rand_chacha::ChaCha8Rng::seed_from_u64(seed ^ 0xfa17),
            requests: BTreeMap::new(),
            injected: BTreeMap::new(),
        }
    }
}
