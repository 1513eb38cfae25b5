//! Where a broadcast sits in the recovery log: what clients hold to resume from.

use std::fmt;
use std::str::FromStr;

/// A broadcast's place in the recovery log. A single node counts its own broadcasts; in a
/// streams cluster (`--redis-adapter streams`) it is the Redis stream entry id every node gives
/// the same broadcast (`1796141247536-1`), as `@socket.io/redis-streams-adapter` does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Offset {
    /// This node's own counter (`7`).
    Local(u64),
    /// A Redis stream entry id, milliseconds and sequence (`1796141247536-1`).
    Stream {
        /// The entry's milliseconds part.
        ms: u64,
        /// The entry's sequence part.
        seq: u64,
    },
}

impl Offset {
    /// The smallest stream id after this one (an exclusive start for `XRANGE`).
    pub(crate) fn next_stream_id(self) -> String {
        match self {
            Offset::Local(n) => format!("0-{}", n.saturating_add(1)),
            Offset::Stream { ms, seq } => match seq.checked_add(1) {
                Some(seq) => format!("{ms}-{seq}"),
                None => format!("{}-0", ms.saturating_add(1)),
            },
        }
    }
}

impl fmt::Display for Offset {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Offset::Local(n) => write!(f, "{n}"),
            Offset::Stream { ms, seq } => write!(f, "{ms}-{seq}"),
        }
    }
}

/// An offset that is neither a counter nor a stream id.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("invalid offset")]
pub struct InvalidOffset;

impl FromStr for Offset {
    type Err = InvalidOffset;

    /// `7` or `1796141247536-1` (digits only: Node's `/^[0-9]+-[0-9]+$/` for stream ids).
    fn from_str(text: &str) -> Result<Offset, InvalidOffset> {
        let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
        match text.split_once('-') {
            Some((ms, seq)) if digits(ms) && digits(seq) => Ok(Offset::Stream {
                ms: ms.parse().map_err(|_| InvalidOffset)?,
                seq: seq.parse().map_err(|_| InvalidOffset)?,
            }),
            None if digits(text) => text.parse().map(Offset::Local).map_err(|_| InvalidOffset),
            _ => Err(InvalidOffset),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn offsets_read_and_print_as_clients_hold_them() {
        for text in ["0", "7", "1796141247536-0", "1796141247536-12"] {
            assert_eq!(text.parse::<Offset>().unwrap().to_string(), text);
        }
        for bad in [
            "",
            "-",
            "1-",
            "-1",
            "1-2-3",
            "a-1",
            "1e3",
            " 1",
            "99999999999999999999",
        ] {
            assert_eq!(bad.parse::<Offset>(), Err(InvalidOffset), "{bad:?}");
        }
        let a: Offset = "5-9".parse().unwrap();
        let b: Offset = "6-0".parse().unwrap();
        assert!(a < b);
        assert_eq!(a.next_stream_id(), "5-10");
    }
}
