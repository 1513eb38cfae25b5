//! A small deterministic generator for the randomized unit tests (the same seed, the same run).

/// Xorshift64: fast, reproducible, not for anything but tests.
pub(crate) struct TestRng(pub(crate) u64);

impl TestRng {
    /// The next 64 random bits.
    pub(crate) fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    /// A number in `0..n`.
    pub(crate) fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}
