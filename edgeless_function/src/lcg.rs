//! A small deterministic pseudo-random generator (a linear congruential
//! generator: multiplier 1103515245, increment 12345, modulus 2^31), for
//! functions that need reproducible data, e.g. benchmarks.

/// The generator's state.
#[derive(Debug, Clone)]
pub struct Lcg {
    state: u32,
}

const MULTIPLIER: u64 = 1_103_515_245;
const INCREMENT: u64 = 12_345;
const MODULUS: u64 = 1 << 31;

impl Lcg {
    /// A generator started from `seed`.
    pub fn new(seed: u32) -> Self {
        Self {
            state: (u64::from(seed) % MODULUS) as u32,
        }
    }

    /// The next number, in `[0, 1)`.
    pub fn rand(&mut self) -> f32 {
        self.state = ((MULTIPLIER * u64::from(self.state) + INCREMENT) % MODULUS) as u32;
        // An f32 has 24 bits of mantissa: dividing the top 24 bits keeps
        // the result below 1.
        (self.state >> 7) as f32 / (1u32 << 24) as f32
    }
}

/// `size` × `size` numbers in `[0, 1)`, row after row.
pub fn random_matrix(lcg: &mut Lcg, size: usize) -> Vec<f32> {
    random_vector(lcg, size * size)
}

/// `size` numbers in `[0, 1)`.
pub fn random_vector(lcg: &mut Lcg, size: usize) -> Vec<f32> {
    (0..size).map(|_| lcg.rand()).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_same_seed_gives_the_same_numbers_in_range() {
        let mut a = Lcg::new(42);
        let mut b = Lcg::new(42);
        let first: Vec<f32> = (0..1000).map(|_| a.rand()).collect();
        let second: Vec<f32> = (0..1000).map(|_| b.rand()).collect();
        assert_eq!(first, second);
        assert!(first.iter().all(|x| (0.0..1.0).contains(x)));
        assert_ne!(first[0], first[1]);
        assert_ne!(Lcg::new(1).rand(), Lcg::new(2).rand());
        assert_eq!(random_matrix(&mut Lcg::new(7), 3).len(), 9);
        assert_eq!(random_vector(&mut Lcg::new(7), 4).len(), 4);
    }
}
