//! This node's own requests to the cluster (`fetchSockets`, `serverSideEmit` with ack): each
//! waits for one answer from every other node, the number Redis gives as the request channel's
//! subscribers less this node (`PUBSUB NUMSUB`, as Node counts), or for its timeout.

use std::collections::HashMap;
use std::sync::Mutex;

use std::sync::Arc;

use serde_json::Value;
use tokio::sync::oneshot;

use crate::hub::AckCollector;

/// One request waiting for answers.
struct Pending {
    /// How many answers complete it, once the server count is known.
    expected: Option<usize>,
    answers: Vec<Value>,
    done: Option<oneshot::Sender<Vec<Value>>>,
}

impl Pending {
    fn complete_if_answered(&mut self) {
        if self.expected.is_some_and(|n| self.answers.len() >= n) {
            if let Some(done) = self.done.take() {
                let _ = done.send(std::mem::take(&mut self.answers));
            }
        }
    }
}

/// The requests this node waits on, by request id.
#[derive(Default)]
pub(crate) struct Requests {
    pending: Mutex<HashMap<String, Pending>>,
    /// Broadcasts with ack of this node: their counts and acks go to their collectors.
    broadcasts: Mutex<HashMap<String, Arc<AckCollector>>>,
}

impl Requests {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Pending>> {
        self.pending.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Starts waiting for the answers to request `id`.
    pub(crate) fn open(&self, id: &str) -> oneshot::Receiver<Vec<Value>> {
        let (done, answers) = oneshot::channel();
        self.lock().insert(
            id.to_string(),
            Pending {
                expected: None,
                answers: Vec::new(),
                done: Some(done),
            },
        );
        answers
    }

    fn broadcast(&self, id: &str) -> Option<Arc<AckCollector>> {
        self.broadcasts
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(id)
            .cloned()
    }

    /// Starts collecting the counts and acks of broadcast with ack `id`.
    pub(crate) fn open_broadcast(&self, id: &str, collector: Arc<AckCollector>) {
        self.broadcasts
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(id.to_string(), collector);
    }

    /// Another node's client count for broadcast `id`; false when it is not this node's.
    pub(crate) fn client_count(&self, id: &str, clients: usize) -> bool {
        self.broadcast(id).map(|c| c.node_count(clients)).is_some()
    }

    /// A client's ack (on another node) of broadcast `id`; false when it is not this node's.
    pub(crate) fn broadcast_ack(&self, id: &str, ack: Value) -> bool {
        self.broadcast(id).map(|c| c.ack(ack)).is_some()
    }

    /// The request went out and `servers` nodes (this one included) heard it.
    pub(crate) fn expect(&self, id: &str, servers: usize) {
        if let Some(collector) = self.broadcast(id) {
            collector.other_nodes(servers.saturating_sub(1));
            return;
        }
        let mut pending = self.lock();
        if let Some(request) = pending.get_mut(id) {
            request.expected = Some(servers.saturating_sub(1));
            request.complete_if_answered();
        }
    }

    /// An answer from another node; false when no request of this node has that id.
    pub(crate) fn answer(&self, id: &str, answer: Value) -> bool {
        let mut pending = self.lock();
        let Some(request) = pending.get_mut(id) else {
            return false;
        };
        if request.done.is_some() {
            request.answers.push(answer);
            request.complete_if_answered();
        }
        true
    }

    /// Stops waiting (answered, timed out or failed); what had come so far. A broadcast with
    /// ack stops waiting for other nodes.
    pub(crate) fn close(&self, id: &str) -> Vec<Value> {
        let broadcast = self
            .broadcasts
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(id);
        if let Some(collector) = broadcast {
            collector.other_nodes(0);
            return Vec::new();
        }
        self.lock()
            .remove(id)
            .map(|request| request.answers)
            .unwrap_or_default()
    }

    /// How many answers request `id` waits for, once known.
    pub(crate) fn expected(&self, id: &str) -> Option<usize> {
        self.lock().get(id).and_then(|request| request.expected)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_request_completes_with_one_answer_per_other_node() {
        let requests = Requests::default();
        let mut answers = requests.open("r1");
        assert!(
            requests.answer("r1", json!(1)),
            "an answer may come before the count"
        );
        requests.expect("r1", 3);
        assert!(
            answers.try_recv().is_err(),
            "two other nodes: one answer is not enough"
        );
        requests.answer("r1", json!(2));
        assert_eq!(answers.try_recv().unwrap(), vec![json!(1), json!(2)]);
        assert!(!requests.answer("unknown", json!(0)));
        requests.close("r1");
        assert!(!requests.answer("r1", json!(3)), "closed");
    }

    #[test]
    fn alone_a_request_completes_at_once_and_a_timeout_keeps_what_came() {
        let requests = Requests::default();
        let mut answers = requests.open("alone");
        requests.expect("alone", 1);
        assert_eq!(answers.try_recv().unwrap(), Vec::<Value>::new());

        let _waiting = requests.open("late");
        requests.expect("late", 3);
        requests.answer("late", json!("a"));
        assert_eq!(requests.close("late"), vec![json!("a")]);
    }
}
