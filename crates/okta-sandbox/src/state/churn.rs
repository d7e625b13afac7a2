//! The churn generator's state: its rate, its seeded random source and the task that applies
//! changes at that rate.

use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

/// The churn in force.
#[derive(Debug)]
pub(crate) struct Churn {
    /// Changes a minute; 0 when stopped (`POST /__sandbox/churn/step` works either way).
    pub rate: f64,
    pub seed: u64,
    pub rng: ChaCha8Rng,
    /// Changes applied since the org started, by the task and by steps.
    pub applied: u64,
    /// The task applying changes at `rate`, when one runs.
    pub task: Option<tokio::task::AbortHandle>,
}

impl Churn {
    pub fn new(seed: u64) -> Self {
        Self {
            rate: 0.0,
            seed,
            rng: ChaCha8Rng::seed_from_u64(seed ^ 0xc4u64),
            applied: 0,
            task: None,
        }
    }

    /// Starts over from `seed`.
    pub fn reseed(&mut self, seed: u64) {
        self.seed = seed;
        self.rng = ChaCha8Rng::seed_from_u64(seed ^ 0xc4u64);
    }
}
