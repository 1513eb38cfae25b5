//! A session's bounded queue of frames waiting for a transport.

use std::collections::VecDeque;

use crate::hub::Frame;

/// Frames queued for one client, at most `limit` bytes of them (one frame is always taken, however
/// large: a message within the size limit can always be sent).
#[derive(Debug)]
pub(crate) struct Outbox {
    frames: VecDeque<Frame>,
    /// The payload bytes of `frames`.
    bytes: usize,
    limit: usize,
}

/// The outbox is full: the frame was not queued.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Overflow;

impl Outbox {
    /// An empty outbox that holds at most `limit` bytes.
    pub(crate) fn new(limit: usize) -> Outbox {
        Outbox {
            frames: VecDeque::new(),
            bytes: 0,
            limit: limit.max(1),
        }
    }

    /// Queues a frame, or refuses it when it would take the outbox over its limit.
    pub(crate) fn push(&mut self, frame: Frame) -> Result<(), Overflow> {
        if !self.frames.is_empty() && self.bytes + frame.len() > self.limit {
            return Err(Overflow);
        }
        self.bytes += frame.len();
        self.frames.push_back(frame);
        Ok(())
    }

    /// Takes every queued frame, oldest first (the queue's memory goes with them: an idle
    /// session keeps none).
    pub(crate) fn drain(&mut self) -> Vec<Frame> {
        self.bytes = 0;
        Vec::from(std::mem::take(&mut self.frames))
    }

    /// Puts frames a transport could not deliver back at the front, in order (the limit does
    /// not apply: they were already counted).
    pub(crate) fn restore(&mut self, frames: Vec<Frame>) {
        for frame in frames.into_iter().rev() {
            self.bytes += frame.len();
            self.frames.push_front(frame);
        }
    }

    /// Drops every queued frame.
    pub(crate) fn clear(&mut self) {
        self.frames.clear();
        self.bytes = 0;
    }

    /// Most bytes the outbox holds.
    pub(crate) fn limit(&self) -> usize {
        self.limit
    }

    /// Number of queued frames.
    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.frames.len()
    }

    /// True when nothing is queued.
    pub(crate) fn is_empty(&self) -> bool {
        self.frames.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refuses_past_its_byte_limit_and_drains_in_order() {
        let mut outbox = Outbox::new(2);
        outbox.push(Frame::Text("a".into())).unwrap();
        outbox.push(Frame::Text("b".into())).unwrap();
        assert_eq!(outbox.push(Frame::Text("c".into())), Err(Overflow));
        assert_eq!(
            outbox.drain(),
            vec![Frame::Text("a".into()), Frame::Text("b".into())]
        );
        assert!(outbox.is_empty());
        // One frame over the limit alone is taken; a second is not.
        outbox.push(Frame::Text("def".into())).unwrap();
        assert_eq!(outbox.push(Frame::Text("g".into())), Err(Overflow));
        assert_eq!(outbox.len(), 1);
        outbox.clear();
        outbox.restore(vec![Frame::Text("xy".into())]);
        assert_eq!(outbox.push(Frame::Text("z".into())), Err(Overflow));
    }

    #[test]
    fn many_small_frames_fit_a_byte_limit() {
        let mut outbox = Outbox::new(1 << 20);
        for _ in 0..10_000 {
            outbox.push(Frame::Text("0123456789".into())).unwrap();
        }
        assert_eq!(outbox.len(), 10_000);
    }
}
