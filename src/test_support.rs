//! Helpers of the unit tests: a small deterministic generator for the randomized codec tests
//! (the same seed, the same run), and hex for captured bytes.

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

/// Bytes from a hex string (captures in the protocol documents are written so).
pub(crate) fn hex(s: &str) -> Vec<u8> {
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).expect("hex digits"))
        .collect()
}
