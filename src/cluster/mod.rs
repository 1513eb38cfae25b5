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
mod stream_log;
mod streams;
mod wire;

use std::collections::HashSet;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use tokio::sync::{mpsc, Notify};

use crate::config::{RedisAdapterKind, SubscriptionMode};
use crate::hub::{Adapter, ClusterStats, Hub, Message, Offset, Room, Target, WeakHub};
use classic::Channels;
use dialect::Dialect;
use sharded::ShardChannels;
use streams::StreamChannels;
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
    /// How long a dropped session waits in Redis for its client, when recovery is on (streams
    /// clusters keep sessions there).
    pub(crate) session_ttl: Option<std::time::Duration>,
}

/// One command for Redis, from the publishing queue.
#[derive(Debug)]
enum Outgoing {
    /// PUBLISH (sharded: SPUBLISH) a message.
    Publish { channel: String, body: Vec<u8> },
    /// A request of this node: published with the server count of its channel (`PUBSUB
    /// NUMSUB`, or `SHARDNUMSUB`), for request `id`.
    Request {
        channel: String,
        body: Vec<u8>,
        id: String,
    },
    /// XADD an entry to the stream (streams). `then`: a broadcast of this node delivered here
    /// once the stream gave it its id, which becomes its offset.
    Append {
        stream: String,
        fields: Vec<(&'static str, String)>,
        then: Option<(Target, Arc<Message>)>,
    },
    /// SET a dropped session for `ttl` (PX), for any node to recover it (streams).
    Persist {
        key: String,
        value: String,
        ttl: std::time::Duration,
    },
}

impl Outgoing {
    fn publish(channel: String, body: Vec<u8>) -> Outgoing {
        Outgoing::Publish { channel, body }
    }

    fn request(channel: String, body: Vec<u8>, id: &str) -> Outgoing {
        Outgoing::Request {
            channel,
            body,
            id: id.to_string(),
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

/// A dropped session taken back from Redis (streams): who it was, and what it missed.
#[derive(Debug)]
pub(crate) struct Restored {
    /// Its session id (a Socket.IO socket id, or a relay session's).
    pub(crate) sid: String,
    /// Its rooms, less its own id.
    pub(crate) rooms: Vec<Room>,
    /// The broadcasts it missed, oldest first, each with its offset.
    pub(crate) missed: Vec<Arc<Message>>,
    /// The newest offset read: live copies at or below it are duplicates.
    pub(crate) through: Offset,
}

/// Why a session was not taken back from Redis (the client gets a fresh one).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub(crate) enum RestoreError {
    /// Not a stream id (Node's check, before Redis is asked).
    #[error("invalid offset")]
    InvalidOffset,
    /// No such session (never, expired, or already taken back).
    #[error("unknown or expired session")]
    UnknownSession,
    /// Its offset is no longer in the stream (trimmed), or never was: what it missed is gone.
    #[error("missed messages are no longer available")]
    OffsetGone,
    /// Redis did not answer in time.
    #[error("the cluster is unreachable")]
    Unreachable,
}

/// A restore asked of the link thread.
struct RestoreJob {
    pid: String,
    offset: Offset,
    reply: tokio::sync::oneshot::Sender<Result<Restored, RestoreError>>,
}

/// Who hears other nodes' `serverSideEmit` on this node: the event and its arguments in, the
/// answer for a `serverSideEmitWithAck` out (`None`: no answer, as a Node listener that does not
/// call back).
pub(crate) type ServerListener =
    Arc<dyn Fn(&str, Vec<serde_json::Value>) -> Option<serde_json::Value> + Send + Sync>;

/// Restores that may wait for the link thread at once; past it a client gets a fresh session.
const RESTORE_QUEUE: usize = 1024;

/// How long this node waits for the answers to its requests (Node's `requestsTimeout`).
const REQUEST_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(5);

/// The counters behind [`ClusterStats`].
#[derive(Debug, Default)]
struct LinkCounters {
    connected: AtomicBool,
    /// The stream is being read (streams; always true otherwise): with `connected`, the node
    /// hears everything published from now on.
    reading: AtomicBool,
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
    /// Restores for the link thread, and their receiving end until it takes it.
    restores: mpsc::Sender<RestoreJob>,
    pending_restores: Mutex<Option<mpsc::Receiver<RestoreJob>>>,
    /// The newest stream id this node knows of (streams): a relay welcome's offset.
    head: Arc<Mutex<Offset>>,
    /// The hub, once started: broadcasts waiting for their offset are delivered to it.
    hub: std::sync::OnceLock<WeakHub>,
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
            RedisAdapterKind::Streams => {
                let uid = sharded_uid();
                let channels = StreamChannels::new(&config.prefix, &uid);
                (uid, Dialect::Streams(channels))
            }
        };
        let uid: Arc<str> = uid.into();
        let (queue, pending) = mpsc::channel(config.publish_queue.max(1));
        let (restores, pending_restores) = mpsc::channel(RESTORE_QUEUE);
        Ok(RedisAdapter {
            restores,
            pending_restores: Mutex::new(Some(pending_restores)),
            head: Arc::new(Mutex::new(Offset::Stream { ms: 0, seq: 0 })),
            hub: std::sync::OnceLock::new(),
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

    /// Whether this cluster keeps the recovery log and dropped sessions (streams, recovery
    /// on): broadcasts get their offsets from the stream, and sessions recover on any node.
    pub(crate) fn keeps_sessions(&self) -> bool {
        matches!(*self.dialect, Dialect::Streams(_)) && self.config.session_ttl.is_some()
    }

    /// The newest offset this node knows of (a relay welcome's, to resume from).
    pub(crate) fn head(&self) -> Offset {
        self.head.lock().map(|h| *h).unwrap_or(Offset::Local(0))
    }

    /// Keeps a dropped session in Redis for any node to recover (streams, recovery on).
    pub(crate) fn persist_session(&self, sid: &str, pid: &str, rooms: &[Room]) {
        let (Dialect::Streams(channels), Some(ttl)) = (&*self.dialect, self.config.session_ttl)
        else {
            return;
        };
        let value = streams::encode_session(sid, pid, rooms, &serde_json::json!({}));
        self.enqueue(Outgoing::Persist {
            key: channels.session_key(pid),
            value,
            ttl,
        });
    }

    /// Takes back the session `pid` kept in Redis, with what it missed since `offset` (a
    /// stream id, as Node checks it). The session is used up, found or not, as in Node.
    pub(crate) fn restore(
        &self,
        pid: &str,
        offset: &str,
    ) -> impl std::future::Future<Output = Result<Restored, RestoreError>> + Send + 'static {
        let restores = self.restores.clone();
        let pid = pid.to_string();
        let offset = offset.parse::<Offset>();
        async move {
            let offset = match offset {
                Ok(offset @ Offset::Stream { .. }) => offset,
                _ => return Err(RestoreError::InvalidOffset),
            };
            let (reply, answer) = tokio::sync::oneshot::channel();
            let job = RestoreJob { pid, offset, reply };
            restores
                .try_send(job)
                .map_err(|_| RestoreError::Unreachable)?;
            match tokio::time::timeout(REQUEST_TIMEOUT, answer).await {
                Ok(Ok(result)) => result,
                _ => Err(RestoreError::Unreachable),
            }
        }
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
        let _ = self.hub.set(hub.downgrade());
        let restores = self.pending_restores.lock().ok().and_then(|mut p| p.take());
        let link = link::Link {
            head: self.head.clone(),
            recovery: self.config.session_ttl.is_some(),
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
        let protocol = self.dialect.name();
        tracing::info!(node = %self.uid, url = %self.config.url, prefix = %self.config.prefix, protocol, "cluster mode: joining through Redis (redis-adapter protocol)");
        let spawned = std::thread::Builder::new()
            .name("switchboard-redis".into())
            .spawn(move || link.run(weak, receiver, restores));
        if let Err(error) = spawned {
            tracing::error!(%error, "cluster mode: cannot start the Redis thread; this node is alone");
        }
    }

    fn forward(&self, target: &Target, message: &Arc<Message>) {
        // Only namespace `/` (relay rooms) crosses nodes for now.
        if message.namespace.is_some() {
            return;
        }
        let to = to_selection(target);
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

    fn forward_for_offset(&self, target: &Target, message: &Arc<Message>) -> bool {
        if !self.keeps_sessions() || message.namespace.is_some() {
            return false;
        }
        let Outgoing::Append { stream, fields, .. } = self.dialect.broadcast(
            &self.uid,
            &message.event,
            &message.args,
            &message.attachments,
            &to_selection(target),
            message.is_volatile(),
        ) else {
            return false;
        };
        let append = Outgoing::Append {
            stream,
            fields,
            then: Some((target.clone(), message.clone())),
        };
        if let Err(error) = self.queue.try_send(append) {
            // Not in the stream: delivered here at once, without an offset (as Node does when
            // XADD fails).
            LinkCounters::add(&self.counters.publish_dropped, 1);
            if let (
                Outgoing::Append {
                    then: Some((target, message)),
                    ..
                },
                Some(hub),
            ) = (
                error.into_inner(),
                self.hub.get().and_then(WeakHub::upgrade),
            ) {
                hub.deliver_local(&target, &message);
            }
        }
        true
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
            connected: c.connected.load(Ordering::Relaxed) && c.reading.load(Ordering::Relaxed),
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

/// A streams entry's fields (`parts`: name, value, name, value...), read as another node's and
/// as a missed broadcast.
#[cfg(feature = "fuzzing")]
pub(crate) fn fuzz_decode_stream_entry(parts: &[&[u8]]) -> bool {
    let fields: Vec<(String, Vec<u8>)> = parts
        .chunks(2)
        .map(|pair| {
            let name = String::from_utf8_lossy(pair[0]).into_owned();
            (name, pair.get(1).map(|v| v.to_vec()).unwrap_or_default())
        })
        .collect();
    let id = Offset::Stream { ms: 1, seq: 0 };
    let _ = streams::missed_broadcast(&[Room::from("r")], id, &fields);
    streams::decode_entry("0123456789abcdef", id, &fields).is_ok()
}

/// A kept session's value, as Redis returns it.
#[cfg(feature = "fuzzing")]
pub(crate) fn fuzz_decode_session(bytes: &[u8]) -> bool {
    streams::decode_session(bytes).is_ok()
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

/// Who a hub target selects, as the cluster names it (socket ids are rooms).
fn to_selection(target: &Target) -> Selection {
    Selection {
        rooms: target.rooms.clone(),
        except: target.except.iter().map(|id| id.as_ref().into()).collect(),
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
