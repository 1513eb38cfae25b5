//! Broadcast with ack (Node's `io.timeout(t).emit(event, ...args, callback)`): the Socket.IO
//! sockets it reaches, here and on the other nodes, each acknowledge once, and the sender gets
//! every acknowledgement, or what came before the timeout.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::Value;
use tokio::sync::oneshot;

use super::{BroadcastAck, Hub, Message, Target};

/// A broadcast with ack that did not hear from every socket in time (Node's error).
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("operation has timed out")]
pub struct BroadcastAckTimeout {
    /// The acknowledgements that came in time (each one's first argument).
    pub acks: Vec<Value>,
}

#[derive(Debug, Default)]
struct Tally {
    /// Sockets asked to acknowledge, on the nodes that have told.
    clients: usize,
    /// Whether this node's own count is in `clients`.
    local_counted: bool,
    /// The other nodes, once Redis has said how many heard the request.
    other_nodes: Option<usize>,
    /// The other nodes that have told their count.
    nodes_counted: usize,
    acks: Vec<Value>,
    done: Option<oneshot::Sender<()>>,
}

impl Tally {
    fn complete_if_done(&mut self) {
        let every_node = self
            .other_nodes
            .is_some_and(|nodes| self.nodes_counted >= nodes);
        if self.local_counted && every_node && self.acks.len() >= self.clients {
            if let Some(done) = self.done.take() {
                let _ = done.send(());
            }
        }
    }
}

/// The acknowledgements of one broadcast with ack, as they come from here and the other nodes.
#[derive(Debug)]
pub(crate) struct AckCollector {
    tally: Mutex<Tally>,
}

impl AckCollector {
    fn new(done: oneshot::Sender<()>) -> AckCollector {
        AckCollector {
            tally: Mutex::new(Tally {
                done: Some(done),
                ..Tally::default()
            }),
        }
    }

    fn update(&self, change: impl FnOnce(&mut Tally)) {
        let mut tally = self.tally.lock().unwrap_or_else(|p| p.into_inner());
        change(&mut tally);
        tally.complete_if_done();
    }

    fn local_count(&self, clients: usize) {
        self.update(|t| {
            t.clients += clients;
            t.local_counted = true;
        });
    }

    /// How many other nodes heard the request (0: alone, or the request could not go out).
    pub(crate) fn other_nodes(&self, nodes: usize) {
        self.update(|t| t.other_nodes = Some(nodes));
    }

    /// Another node asked `clients` of its sockets.
    pub(crate) fn node_count(&self, clients: usize) {
        self.update(|t| {
            t.clients += clients;
            t.nodes_counted += 1;
        });
    }

    /// One socket's acknowledgement (its first argument), from here or another node.
    pub(crate) fn ack(&self, value: Value) {
        self.update(|t| t.acks.push(value));
    }

    fn acks(&self) -> Vec<Value> {
        std::mem::take(&mut self.tally.lock().unwrap_or_else(|p| p.into_inner()).acks)
    }
}

impl Hub {
    /// Node's `io.to(rooms).except(rooms).timeout(t).emit(event, ...args, callback)`: every
    /// Socket.IO socket of `/` that `target` selects, here and (unless `target.local`) on the
    /// other nodes of the cluster, is asked to acknowledge; the answer is each acknowledgement's first argument.
    /// Relay clients of the other protocols get the event but cannot acknowledge, and are not
    /// waited for. Fails like Node's (`operation has timed out`), with what came, when some
    /// socket or node has not answered within `timeout`.
    pub async fn broadcast_with_ack(
        &self,
        target: &Target,
        event: &str,
        args: Vec<Value>,
        timeout: Duration,
    ) -> Result<Vec<Value>, BroadcastAckTimeout> {
        let (done, finished) = oneshot::channel();
        let collector = Arc::new(AckCollector::new(done));
        let except: Vec<super::Room> = target.except.iter().map(|id| id.as_ref().into()).collect();
        let sink = {
            let collector = collector.clone();
            move |answer: Vec<Value>| collector.ack(answer.into_iter().next().unwrap_or_default())
        };
        let room = match target.rooms.as_slice() {
            [room] => Some(room.clone()),
            _ => None,
        };
        let message = Message::with_ack(
            room,
            event,
            args,
            Vec::new(),
            BroadcastAck {
                sink: Arc::new(sink),
                timeout,
            },
        );
        if target.volatile {
            message.mark_volatile();
        }
        let delivered = self.deliver_selected(&target.rooms, &except, &message);
        collector.local_count(delivered.socketio);
        // `local`: this node's sockets only, as Node's `io.local.timeout(t).emit(...)`.
        let cluster = self.inner.adapter.cluster().filter(|_| !target.local);
        let request = match cluster {
            Some(cluster) => {
                let to = crate::cluster::Selection {
                    rooms: target.rooms.clone(),
                    except,
                };
                Some(cluster.broadcast_with_ack(&collector, &message, &to, timeout))
            }
            None => {
                collector.other_nodes(0);
                None
            }
        };
        let outcome = tokio::time::timeout(timeout, finished).await;
        if let (Some(id), Some(cluster)) = (request, cluster) {
            cluster.forget_broadcast(&id);
        }
        let acks = collector.acks();
        match outcome {
            Ok(_) => Ok(acks),
            Err(_) => Err(BroadcastAckTimeout { acks }),
        }
    }
}
