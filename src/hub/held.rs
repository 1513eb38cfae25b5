//! Broadcasts held while a session handles one batch of its client's messages.
//!
//! A client that publishes many messages at once (a batch read from its WebSocket) would make
//! the hub walk the room, push to every member and wake every member once per message. While a
//! [`HeldBroadcasts`] scope is open on a thread, consecutive broadcasts of that thread to the same
//! target are held instead and delivered together when the target changes, when any other hub
//! call that delivers or changes rooms comes, or when the scope ends (before the actor's turn
//! ends). Each member then takes all of them in one push and is woken once. Nothing is reordered:
//! whatever the session does between two broadcasts delivers what is held first. What is held is
//! bounded by the batch (at most 64 client messages).

use std::cell::{Cell, RefCell};
use std::sync::Arc;

use super::{Hub, Message, Target};

struct Held {
    hub: Hub,
    target: Target,
    messages: Vec<Arc<Message>>,
    /// How many sessions the held broadcasts are for (counted when the first was held).
    recipients: usize,
}

thread_local! {
    /// Open scopes on this thread.
    static DEPTH: Cell<u32> = const { Cell::new(0) };
    static HELD: RefCell<Option<Held>> = const { RefCell::new(None) };
}

/// While alive, this thread's consecutive broadcasts to one target are delivered together (see
/// the module docs); dropping it delivers what is held.
pub(crate) struct HeldBroadcasts {
    hub: Hub,
}

impl Drop for HeldBroadcasts {
    fn drop(&mut self) {
        let depth = DEPTH.with(|d| {
            let depth = d.get().saturating_sub(1);
            d.set(depth);
            depth
        });
        if depth == 0 {
            self.hub.release_held();
        }
    }
}

fn same_target(a: &Target, b: &Target) -> bool {
    a.rooms == b.rooms && a.except == b.except && a.volatile == b.volatile && a.local == b.local
}

impl Hub {
    /// Opens a scope in which broadcasts to the same target are delivered together.
    pub(crate) fn hold_broadcasts(&self) -> HeldBroadcasts {
        DEPTH.with(|d| d.set(d.get() + 1));
        HeldBroadcasts { hub: self.clone() }
    }

    /// Holds a broadcast when a scope is open on this thread: `Some(recipients)`, or `None`
    /// when it must be delivered now (what was held for another target is delivered first).
    pub(super) fn hold(&self, target: &Target, message: &Arc<Message>) -> Option<usize> {
        if DEPTH.with(Cell::get) == 0 {
            return None;
        }
        let joined = HELD.with(|held| {
            let mut held = held.borrow_mut();
            match held.as_mut() {
                Some(h) if h.hub.same_as(self) && same_target(&h.target, target) => {
                    h.messages.push(message.clone());
                    Some(h.recipients)
                }
                _ => None,
            }
        });
        if joined.is_some() {
            return joined;
        }
        self.release_held();
        let recipients = self.recipient_count(target);
        HELD.with(|held| {
            *held.borrow_mut() = Some(Held {
                hub: self.clone(),
                target: target.clone(),
                messages: vec![message.clone()],
                recipients,
            })
        });
        Some(recipients)
    }

    /// Delivers what this thread holds, if anything.
    pub(super) fn release_held(&self) {
        if let Some(held) = HELD.with(|h| h.borrow_mut().take()) {
            // Counted when held (`recipients`).
            let _ = held.hub.deliver_together(&held.target, &held.messages);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::{
        HubLimits, Inbox, LocalAdapter, Mailbox, Protocol, SessionCommand, SessionId, Transport,
    };
    use super::*;
    use std::collections::VecDeque;

    /// An actor that only counts its wake-ups.
    struct Woken(Arc<std::sync::atomic::AtomicUsize>);

    impl actix::Actor for Woken {
        type Context = actix::Context<Self>;
    }

    impl actix::Handler<SessionCommand> for Woken {
        type Result = ();
        fn handle(&mut self, _: SessionCommand, _: &mut actix::Context<Self>) {
            self.0.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        }
    }

    fn taken(inbox: &Inbox) -> Vec<serde_json::Value> {
        let mut out: VecDeque<(SessionId, Arc<Message>)> = VecDeque::new();
        inbox.take_into(&mut out);
        out.iter().map(|(_, m)| m.data().clone()).collect()
    }

    #[actix_web::test]
    async fn held_broadcasts_reach_a_member_together_and_in_order() {
        use actix::Actor;
        let hub = Hub::new(HubLimits::default(), Arc::new(LocalAdapter));
        let inbox = Arc::new(Inbox::new(100));
        let addr = Woken(Default::default()).start();
        let mailbox = Mailbox {
            addr: Arc::new(addr.recipient()),
            inbox: inbox.clone(),
        };
        hub.register(
            "m".into(),
            Protocol::WebSocket,
            Transport::WebSocket,
            mailbox,
            None,
        )
        .unwrap();
        hub.join("m", "r".into()).unwrap();
        let publish = |i: i32| {
            hub.broadcast(
                &Target::room("r"),
                Message::new(None, "e", serde_json::json!(i)),
            )
        };
        {
            let _held = hub.hold_broadcasts();
            for i in 0..3 {
                assert_eq!(publish(i), 1, "counted when held");
            }
            assert!(taken(&inbox).is_empty(), "held while the scope is open");
            // A join delivers what is held first.
            hub.join("m", "other".into()).unwrap();
            assert_eq!(taken(&inbox), vec![0, 1, 2]);
            publish(3);
            publish(4);
            // Another target delivers what is held first too.
            hub.broadcast(
                &Target::room("other"),
                Message::new(None, "e", serde_json::json!(5)),
            );
            publish(6);
        }
        assert_eq!(taken(&inbox), vec![3, 4, 5, 6]);
        // Without a scope, at once.
        publish(7);
        assert_eq!(taken(&inbox), vec![7]);
    }
}
