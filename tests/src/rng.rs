//! A tiny seeded PRNG (xorshift64*) for tests that pick moments and mixes at random but must be
//! replayable: print the seed, rerun with it.

use std::hash::{BuildHasher, Hasher};

/// xorshift64*: not for cryptography, only for choosing test cases.
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    /// A generator from `seed` (0 is mapped to a fixed non-zero state).
    pub fn new(seed: u64) -> Self {
        Self(if seed == 0 {
            0x9E37_79B9_7F4A_7C15
        } else {
            seed
        })
    }

    /// The seed in environment variable `var`, or a random one; prints which, so that a
    /// failure can be replayed with `var=<seed>`.
    pub fn from_env(var: &str) -> (Self, u64) {
        let seed = std::env::var(var)
            .ok()
            .and_then(|s| s.trim().parse().ok())
            // std's hasher keys are random per process: a fresh seed without reading the clock.
            .unwrap_or_else(|| {
                std::collections::hash_map::RandomState::new()
                    .build_hasher()
                    .finish()
            });
        eprintln!("seed: {var}={seed}");
        (Self::new(seed), seed)
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    /// Uniform in `lo..hi` (`lo < hi`).
    pub fn range(&mut self, lo: u64, hi: u64) -> u64 {
        lo + self.next_u64() % (hi - lo)
    }

    /// A derived generator (one per client thread).
    pub fn fork(&mut self) -> Self {
        Self::new(self.next_u64())
    }
}
