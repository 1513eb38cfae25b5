//! A session's inbox: where the hub leaves broadcasts for it.
//!
//! A broadcast to a room of thousands costs one push per member: the hub appends the message to
//! each member's inbox (a short lock, no allocation once the queue has room) and wakes the actor
//! only when its inbox was empty. The actor then takes everything at once. Bounded: a session
//! that does not keep up overflows (and is closed) instead of growing without end.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};

use super::{Message, SessionId};

/// Broadcasts waiting for one session actor, for any of the members it registered.
#[derive(Debug)]
pub(crate) struct Inbox {
    queue: Mutex<Queue>,
    limit: usize,
}

#[derive(Debug, Default)]
struct Queue {
    items: VecDeque<(SessionId, Arc<Message>)>,
    /// The actor has been told to drain and has not yet done so.
    woken: bool,
}

/// The inbox is full: the message was not taken.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct InboxFull;

impl Inbox {
    /// An empty inbox holding at most `limit` messages.
    pub(crate) fn new(limit: usize) -> Inbox {
        Inbox {
            queue: Mutex::new(Queue::default()),
            limit: limit.max(1),
        }
    }

    /// Leaves `message` for member `to`. `Ok(true)` when the actor must be woken to drain.
    pub(crate) fn push(&self, to: &SessionId, message: Arc<Message>) -> Result<bool, InboxFull> {
        let mut queue = self.queue.lock().unwrap_or_else(|e| e.into_inner());
        if queue.items.len() >= self.limit {
            return Err(InboxFull);
        }
        queue.items.push_back((to.clone(), message));
        Ok(!std::mem::replace(&mut queue.woken, true))
    }

    /// Leaves every one of `messages` for member `to`, in order, or none of them when they do not
    /// all fit. `Ok(true)` when the actor must be woken to drain.
    pub(crate) fn push_all(
        &self,
        to: &SessionId,
        messages: &[Arc<Message>],
    ) -> Result<bool, InboxFull> {
        let mut queue = self.queue.lock().unwrap_or_else(|e| e.into_inner());
        if queue.items.len() + messages.len() > self.limit {
            return Err(InboxFull);
        }
        queue
            .items
            .extend(messages.iter().map(|m| (to.clone(), m.clone())));
        Ok(!std::mem::replace(&mut queue.woken, true))
    }

    /// Takes everything waiting into `out` (which must be empty; the next push wakes the actor
    /// again), leaving `out`'s allocation in
    /// its place: an actor that drains into the same buffer each time allocates nothing.
    pub(crate) fn take_into(&self, out: &mut VecDeque<(SessionId, Arc<Message>)>) {
        let mut queue = self.queue.lock().unwrap_or_else(|e| e.into_inner());
        queue.woken = false;
        std::mem::swap(&mut queue.items, out);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn taken(inbox: &Inbox) -> usize {
        let mut out = VecDeque::new();
        inbox.take_into(&mut out);
        out.len()
    }

    #[test]
    fn only_the_first_push_after_a_take_wakes_and_the_limit_holds() {
        let inbox = Inbox::new(2);
        let id: SessionId = "a".into();
        let message = Message::new(None, "e", serde_json::Value::Null);
        assert_eq!(inbox.push(&id, message.clone()), Ok(true));
        assert_eq!(inbox.push(&id, message.clone()), Ok(false));
        assert_eq!(inbox.push(&id, message.clone()), Err(InboxFull));
        assert_eq!(taken(&inbox), 2);
        assert_eq!(inbox.push(&id, message), Ok(true));
    }

    #[test]
    fn a_batch_goes_in_whole_or_not_at_all() {
        let inbox = Inbox::new(3);
        let id: SessionId = "a".into();
        let m = Message::new(None, "e", serde_json::Value::Null);
        assert_eq!(inbox.push_all(&id, &[m.clone(), m.clone()]), Ok(true));
        assert_eq!(inbox.push_all(&id, &[m.clone(), m.clone()]), Err(InboxFull));
        assert_eq!(inbox.push_all(&id, std::slice::from_ref(&m)), Ok(false));
        assert_eq!(taken(&inbox), 3);
    }
}
