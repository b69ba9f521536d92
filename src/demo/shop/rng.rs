//! The shop's dice: a small xorshift generator for which request fails and which price comes
//! next. Seeded from a fresh UUID in the shop, from a constant in tests so they repeat exactly.

#[derive(Debug, Clone)]
pub(super) struct Rng(u64);

impl Rng {
    pub fn seeded(seed: u64) -> Rng {
        // Xorshift never leaves zero: any other state works.
        Rng(if seed == 0 { 0x9e37_79b9_7f4a_7c15 } else { seed })
    }

    pub fn fresh() -> Rng {
        let (a, b) = uuid::Uuid::new_v4().as_u64_pair();
        Rng::seeded(a ^ b.rotate_left(17))
    }

    /// xorshift64* (Vigna): good enough for dice, one multiply per roll.
    pub fn next_u64(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    /// True with probability `share` (0.0 never, 1.0 always).
    pub fn chance(&mut self, share: f64) -> bool {
        // The top 53 bits as a fraction in [0, 1): exact in an f64.
        let unit = (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64;
        unit < share
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chance_hits_about_its_share_and_exactly_at_the_ends() {
        let mut rng = Rng::seeded(42);
        let hits = (0..20_000).filter(|_| rng.chance(0.3)).count();
        assert!((5_400..=6_600).contains(&hits), "{hits} of 20000 at 0.3");
        assert!((0..1000).all(|_| rng.chance(1.0)));
        assert!((0..1000).all(|_| !rng.chance(0.0)));
    }
}
