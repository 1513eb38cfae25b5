//! Cluster mode: this node joins a cluster of switchboard and Node socket.io nodes through Redis,
//! speaking `@socket.io/redis-adapter`'s classic or sharded protocol
//! (protocols/redis-adapter.md), so that a broadcast on any node reaches the members of its rooms
//! on every node, whatever protocol they speak, and the emitter (`@socket.io/redis-emitter`,
//! classic) reaches them all.
//!
//! [`RedisAdapter`] is the hub's [`Adapter`]: a broadcast is encoded here once and queued (bounded,
//! never blocking local delivery); a thread of its own ([`link`]) publishes the queue and reads the
//! subscriptions, handing what other nodes send to the hub.

mod classic;
mod dialect;
pub(crate) mod js_date;
mod link;
mod msgpack;
mod requests;
mod shard_connection;
mod sharded;
mod wire;

use std::collections::HashSet;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use tokio::sync::{mpsc, Notify};

use crate::config::{RedisAdapterKind, SubscriptionMode};
use crate::hub::{Adapter, ClusterStats, Hub, Message, Room, Target};
use classic::Channels;
use dialect::Dialect;
use sharded::ShardChannels;
pub(crate) use wire::Selection;

/// Where and how a node joins its cluster.
#[derive(Debug, Clone)]
pub(crate) struct ClusterConfig {
    /// `redis://HOST:PORT[/DB]`.
    pub(crate) url: String,
    /// The channel prefix (the Node adapter's `key`).
    pub(crate) prefix: String,
    /// The protocol the cluster speaks.
    pub(crate) adapter: RedisAdapterKind,
    /// Which channels a sharded node subscribes to.
    pub(crate) subscription_mode: SubscriptionMode,
    /// Messages that may wait to be published.
    pub(crate) publish_queue: usize,
}

/// One message for Redis: a channel and its body.
#[derive(Debug)]
struct Outgoing {
    channel: String,
    body: Vec<u8>,
    /// Set for a request of this node: the server count is taken with it (`PUBSUB NUMSUB`, or
    /// `SHARDNUMSUB`).
    request: Option<String>,
}

impl Outgoing {
    fn publish(channel: String, body: Vec<u8>) -> Outgoing {
        Outgoing {
            channel,
            body,
            request: None,
        }
    }

    fn request(channel: String, body: Vec<u8>, id: &str) -> Outgoing {
        Outgoing {
            channel,
            body,
            request: Some(id.to_string()),
        }
    }
}

/// The rooms (and socket ids) whose presence here changed since a sharded node's subscriber last
/// looked: it subscribes to or leaves their channels. A set, so a busy room costs one entry.
#[derive(Debug, Default)]
struct RoomWatch {
    changed: Mutex<HashSet<Room>>,
    wake: Notify,
}

impl RoomWatch {
    fn mark(&self, room: &str) {
        let fresh = self
            .changed
            .lock()
            .map(|mut set| set.insert(Room::from(room)))
            .unwrap_or(false);
        if fresh {
            self.wake.notify_one();
        }
    }

    fn take(&self) -> HashSet<Room> {
        self.changed
            .lock()
            .map(|mut set| std::mem::take(&mut *set))
            .unwrap_or_default()
    }
}

/// Why a request to the cluster did not complete.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ClusterError {
    /// Some nodes did not answer in time (Node's requests timeout, 5 s); what came is kept.
    /// `message` is Node's text for that request.
    #[error("{message}")]
    Timeout {
        /// What Node's error says (`timeout reached: only 1 responses received out of 2`, or
        /// the classic adapter's `timeout reached while waiting for fetchSockets response`).
        message: String,
        /// Answers received.
        received: usize,
        /// Answers expected (the other nodes).
        expected: usize,
        /// What the nodes that answered said.
        partial: Vec<serde_json::Value>,
    },
    /// Redis could not be reached, or the request could not be queued.
    #[error("the cluster is unreachable")]
    Unreachable,
}

/// Who hears other nodes' `serverSideEmit` on this node: the event and its arguments in, the
/// answer for a `serverSideEmitWithAck` out (`None`: no answer, as a Node listener that does not
/// call back).
pub(crate) type ServerListener =
    Arc<dyn Fn(&str, Vec<serde_json::Value>) -> Option<serde_json::Value> + Send + Sync>;

/// How long this node waits for the answers to its requests (Node's `requestsTimeout`).
const REQUEST_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(5);

/// The counters behind [`ClusterStats`].
#[derive(Debug, Default)]
struct LinkCounters {
    connected: AtomicBool,
    published: AtomicU64,
    publish_failed: AtomicU64,
    publish_dropped: AtomicU64,
    received: AtomicU64,
    malformed: AtomicU64,
    reconnects: AtomicU64,
}

impl LinkCounters {
    fn add(counter: &AtomicU64, n: u64) {
        counter.fetch_add(n, Ordering::Relaxed);
    }
}

/// The hub's adapter in cluster mode (`@socket.io/redis-adapter`, classic or sharded).
pub(crate) struct RedisAdapter {
    config: ClusterConfig,
    uid: Arc<str>,
    dialect: Arc<Dialect>,
    rooms: Arc<RoomWatch>,
    queue: mpsc::Sender<Outgoing>,
    /// The other end of `queue`, until the link thread takes it.
    pending: Mutex<Option<mpsc::Receiver<Outgoing>>>,
    counters: Arc<LinkCounters>,
    requests: Arc<requests::Requests>,
    listener: Arc<Mutex<Option<ServerListener>>>,
}

/// Why cluster mode could not start.
#[derive(Debug, thiserror::Error)]
#[error("--redis-url {url:?}: {reason}")]
pub(crate) struct ClusterConfigError {
    url: String,
    reason: String,
}

impl RedisAdapter {
    /// An adapter for `config`, with a new node uid; nothing connects until the hub starts it.
    pub(crate) fn new(config: ClusterConfig) -> Result<RedisAdapter, ClusterConfigError> {
        if let Err(error) = redis::Client::open(config.url.as_str()) {
            return Err(ClusterConfigError {
                url: config.url,
                reason: error.to_string(),
            });
        }
        let (uid, dialect) = match config.adapter {
            RedisAdapterKind::Classic => {
                let uid = node_uid();
                let channels = Channels::new(&config.prefix, &uid);
                (uid, Dialect::Classic(channels))
            }
            RedisAdapterKind::Sharded => {
                let uid = sharded_uid();
                let channels = ShardChannels::new(&config.prefix, &uid, config.subscription_mode);
                (uid, Dialect::Sharded(channels))
            }
        };
        let uid: Arc<str> = uid.into();
        let (queue, pending) = mpsc::channel(config.publish_queue.max(1));
        Ok(RedisAdapter {
            dialect: Arc::new(dialect),
            rooms: Arc::default(),
            config,
            uid,
            queue,
            pending: Mutex::new(Some(pending)),
            counters: Arc::default(),
            requests: Arc::default(),
            listener: Arc::default(),
        })
    }

    /// Sets who hears other nodes' `serverSideEmit` here (replacing any before).
    pub(crate) fn set_listener(&self, listener: ServerListener) {
        if let Ok(mut slot) = self.listener.lock() {
            *slot = Some(listener);
        }
    }

    /// Sends a request of this node and waits for every other node's answer (or the timeout).
    /// `named`: the request the timeout error names, where Node's names one.
    async fn request(
        &self,
        outgoing: impl FnOnce(&str) -> Outgoing,
        named: Option<&'static str>,
    ) -> Result<Vec<serde_json::Value>, ClusterError> {
        let id = node_uid();
        let answers = self.requests.open(&id);
        let outgoing = outgoing(&id);
        if self.queue.try_send(outgoing).is_err() {
            self.requests.close(&id);
            LinkCounters::add(&self.counters.publish_dropped, 1);
            return Err(ClusterError::Unreachable);
        }
        let result = tokio::time::timeout(REQUEST_TIMEOUT, answers).await;
        let expected = self.requests.expected(&id);
        let partial = self.requests.close(&id);
        match result {
            Ok(Ok(answers)) => Ok(answers),
            Ok(Err(_)) => Err(ClusterError::Unreachable),
            Err(_) => {
                let (received, expected) = (partial.len(), expected.unwrap_or(0));
                Err(ClusterError::Timeout {
                    message: match named {
                        Some(name) => format!("timeout reached while waiting for {name} response"),
                        None => format!(
                            "timeout reached: only {received} responses received out of {expected}"
                        ),
                    },
                    received,
                    expected,
                    partial,
                })
            }
        }
    }

    /// The sockets of the other nodes that `to` selects, as their nodes describe them.
    pub(crate) async fn fetch_remote_sockets(
        &self,
        to: Selection,
    ) -> Result<Vec<serde_json::Value>, ClusterError> {
        // The classic adapter names the request; the sharded one counts, as for the others.
        let named = matches!(*self.dialect, Dialect::Classic(_)).then_some("fetchSockets");
        let answers = self
            .request(|id| self.dialect.fetch_request(&self.uid, id, &to), named)
            .await?;
        Ok(answers
            .into_iter()
            .filter_map(
                |mut answer| match answer.get_mut("sockets").map(serde_json::Value::take) {
                    Some(serde_json::Value::Array(sockets)) => Some(sockets),
                    _ => None,
                },
            )
            .flatten()
            .collect())
    }

    /// Sends this node's broadcast with ack to the other nodes: their counts and acks go to
    /// `collector`. Returns the request's id (for [`RedisAdapter::forget_broadcast`]).
    pub(crate) fn broadcast_with_ack(
        &self,
        collector: &Arc<crate::hub::AckCollector>,
        message: &Message,
        to: &Selection,
        timeout: std::time::Duration,
    ) -> String {
        let id = node_uid();
        self.requests.open_broadcast(&id, collector.clone());
        let timeout_ms = u64::try_from(timeout.as_millis()).unwrap_or(u64::MAX);
        let outgoing = self
            .dialect
            .broadcast_with_ack(&self.uid, &id, message, to, timeout_ms);
        if self.queue.try_send(outgoing).is_err() {
            LinkCounters::add(&self.counters.publish_dropped, 1);
            self.requests.close(&id);
        }
        id
    }

    /// Stops collecting for a broadcast with ack (done or timed out).
    pub(crate) fn forget_broadcast(&self, id: &str) {
        self.requests.close(id);
    }

    /// `serverSideEmit` to the other nodes, without an ack.
    pub(crate) fn server_side_emit(&self, event: &str, args: &[serde_json::Value]) {
        self.enqueue(self.dialect.server_side_emit(&self.uid, None, event, args));
    }

    /// `serverSideEmitWithAck`: each other node's answer (the first argument of its ack).
    pub(crate) async fn server_side_emit_with_ack(
        &self,
        event: &str,
        args: &[serde_json::Value],
    ) -> Result<Vec<serde_json::Value>, ClusterError> {
        let answers = self
            .request(
                |id| {
                    self.dialect
                        .server_side_emit(&self.uid, Some(id), event, args)
                },
                None,
            )
            .await?;
        Ok(answers
            .into_iter()
            .map(|mut a| {
                a.get_mut("data")
                    .map(serde_json::Value::take)
                    .unwrap_or_default()
            })
            .collect())
    }

    fn enqueue(&self, outgoing: Outgoing) {
        match self.queue.try_send(outgoing) {
            Ok(()) => {}
            Err(mpsc::error::TrySendError::Full(_)) => {
                LinkCounters::add(&self.counters.publish_dropped, 1);
            }
            Err(mpsc::error::TrySendError::Closed(_)) => {
                LinkCounters::add(&self.counters.publish_failed, 1);
            }
        }
    }
}

impl Adapter for RedisAdapter {
    fn name(&self) -> &'static str {
        "redis"
    }

    fn start(&self, hub: Hub) {
        let Some(receiver) = self.pending.lock().ok().and_then(|mut p| p.take()) else {
            return;
        };
        let link = link::Link {
            url: self.config.url.clone(),
            uid: self.uid.clone(),
            dialect: self.dialect.clone(),
            rooms: self.rooms.clone(),
            counters: self.counters.clone(),
            replies: self.queue.clone(),
            requests: self.requests.clone(),
            listener: self.listener.clone(),
        };
        let weak = hub.downgrade();
        let protocol = match &*self.dialect {
            Dialect::Classic(_) => "classic",
            Dialect::Sharded(_) => "sharded",
        };
        tracing::info!(node = %self.uid, url = %self.config.url, prefix = %self.config.prefix, protocol, "cluster mode: joining through Redis (redis-adapter protocol)");
        let spawned = std::thread::Builder::new()
            .name("switchboard-redis".into())
            .spawn(move || link.run(weak, receiver));
        if let Err(error) = spawned {
            tracing::error!(%error, "cluster mode: cannot start the Redis thread; this node is alone");
        }
    }

    fn forward(&self, target: &Target, message: &Arc<Message>) {
        // Only namespace `/` (relay rooms) crosses nodes for now.
        if message.namespace.is_some() {
            return;
        }
        let to = Selection {
            rooms: target.rooms.clone(),
            except: target.except.iter().map(|id| id.as_ref().into()).collect(),
        };
        let outgoing = self.dialect.broadcast(
            &self.uid,
            &message.event,
            &message.args,
            &message.attachments,
            &to,
            message.is_volatile(),
        );
        self.enqueue(outgoing);
    }

    fn room_changed(&self, room: &str) {
        if let Dialect::Sharded(channels) = &*self.dialect {
            if channels.mode() != SubscriptionMode::Static {
                self.rooms.mark(room);
            }
        }
    }

    fn socket_changed(&self, id: &str) {
        if let Dialect::Sharded(channels) = &*self.dialect {
            if channels.mode() == SubscriptionMode::DynamicPrivate {
                self.rooms.mark(id);
            }
        }
    }

    fn cluster(&self) -> Option<&RedisAdapter> {
        Some(self)
    }

    fn stats(&self) -> Option<ClusterStats> {
        let c = &self.counters;
        let get = |n: &AtomicU64| n.load(Ordering::Relaxed);
        Some(ClusterStats {
            node_id: self.uid.to_string(),
            connected: c.connected.load(Ordering::Relaxed),
            published: get(&c.published),
            publish_failed: get(&c.publish_failed),
            publish_dropped: get(&c.publish_dropped),
            received: get(&c.received),
            malformed: get(&c.malformed),
            reconnects: get(&c.reconnects),
        })
    }
}

/// The broadcast decoder, for the fuzz target.
#[cfg(feature = "fuzzing")]
pub(crate) fn fuzz_decode_broadcast(bytes: &[u8]) -> bool {
    classic::decode_broadcast(bytes).is_ok()
}

/// The request decoder, for the fuzz target.
#[cfg(feature = "fuzzing")]
pub(crate) fn fuzz_decode_request(bytes: &[u8]) -> bool {
    classic::decode_request(bytes).is_ok()
}

/// The sharded envelope decoder, for the fuzz target.
#[cfg(feature = "fuzzing")]
pub(crate) fn fuzz_decode_sharded(bytes: &[u8]) -> bool {
    sharded::decode("0123456789abcdef", bytes, bytes.len().is_multiple_of(2)).is_ok()
}

/// msgpack read as JSON, written back and read again, must give the same JSON.
#[cfg(feature = "fuzzing")]
pub(crate) fn fuzz_msgpack_round_trip(bytes: &[u8]) {
    if let Some(value) = msgpack::decode(bytes) {
        let json = msgpack::to_json(&value);
        // A Buffer read as JSON nests two levels deeper than its bytes did: read back without the
        // depth limit of messages from Redis.
        let written = msgpack::encode(&msgpack::from_json(&json));
        let again =
            rmpv::decode::read_value(&mut written.as_slice()).expect("what we write reads back");
        assert_eq!(msgpack::to_json(&again), json);
    }
}

/// A node uid as the sharded adapter makes one (`randomBytes(8)` in hex): 16 characters.
fn sharded_uid() -> String {
    (0..8)
        .map(|_| format!("{:02x}", rand::random::<u8>()))
        .collect()
}

/// A node uid as the classic adapter makes one (`uid2(6)`): six characters of `A-Za-z0-9-_`.
fn node_uid() -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    (0..6)
        .map(|_| ALPHABET[usize::from(rand::random::<u8>() % 64)] as char)
        .collect()
}
