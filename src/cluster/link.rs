//! The Redis side of cluster mode, on a thread of its own: one connection publishes what this
//! node queues (pipelined, in batches of what is waiting), one holds the subscriptions and hands
//! what other nodes send to the hub. Either reconnects with backoff when Redis goes away; local
//! delivery never waits for them.

use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures_util::StreamExt;
use serde_json::Value;
use tokio::sync::mpsc;

use std::collections::HashSet;

use super::dialect::{Answer, Dialect};
use super::requests::Requests;
use super::shard_connection::{self, Push, ShardError, ShardReader, ShardWriter};
use super::sharded::ShardChannels;
use super::wire::{Broadcast, Incoming, Request};
use super::{stream_log, LinkCounters, Outgoing, RestoreJob, RoomWatch, ServerListener};
use crate::config::SubscriptionMode;
use crate::hub::{BroadcastAck, DisconnectReason, Hub, Message, Offset, Room, Target, WeakHub};

/// The first wait before connecting again; it doubles up to [`MAX_BACKOFF`].
pub(super) const MIN_BACKOFF: Duration = Duration::from_millis(100);
/// The longest wait between two attempts to reach Redis.
pub(super) const MAX_BACKOFF: Duration = Duration::from_secs(5);
/// How often the subscription is checked with a PING, and how long its answer may take.
const KEEPALIVE: Duration = Duration::from_secs(5);
/// How long acks are waited for when the sender gave no `timeout` flag (Node's requests timeout).
const DEFAULT_ACK_TIMEOUT_MS: u64 = 5_000;
/// Most queued messages sent in one pipeline.
const BATCH: usize = 256;

/// Everything the link thread needs.
pub(super) struct Link {
    pub(super) url: String,
    pub(super) uid: Arc<str>,
    pub(super) dialect: Arc<Dialect>,
    /// The rooms whose channels a sharded node may have to join or leave.
    pub(super) rooms: Arc<RoomWatch>,
    pub(super) counters: Arc<LinkCounters>,
    /// Where answers to requests are queued (the same queue as broadcasts).
    pub(super) replies: mpsc::Sender<Outgoing>,
    /// This node's own requests, waiting for answers.
    pub(super) requests: Arc<Requests>,
    /// Who hears other nodes' `serverSideEmit` here.
    pub(super) listener: Arc<Mutex<Option<ServerListener>>>,
    /// The newest stream id seen (streams).
    pub(super) head: Arc<Mutex<Offset>>,
    /// Recovery is on: broadcasts from the stream carry their entry id as offset.
    pub(super) recovery: bool,
}

/// How holding the subscriptions ended.
enum Held {
    /// They were in place, then the connection was lost.
    Lost,
    /// They could not be put in place.
    Failed(String),
    /// The hub is gone: nothing to hold them for.
    HubGone,
}

impl Link {
    /// Runs until the hub is gone.
    pub(super) fn run(
        self,
        hub: WeakHub,
        queue: mpsc::Receiver<Outgoing>,
        restores: Option<mpsc::Receiver<RestoreJob>>,
    ) {
        let runtime = match tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
        {
            Ok(runtime) => runtime,
            Err(error) => {
                tracing::error!(%error, "cluster mode: no runtime for the Redis link");
                return;
            }
        };
        let client = match redis::Client::open(self.url.as_str()) {
            Ok(client) => client,
            Err(error) => {
                tracing::error!(%error, "cluster mode: bad Redis URL");
                return;
            }
        };
        let link = Arc::new(self);
        if !matches!(*link.dialect, Dialect::Streams(_)) {
            link.counters.reading.store(true, Ordering::Relaxed);
        }
        runtime.block_on(async move {
            if let Dialect::Streams(channels) = &*link.dialect {
                tokio::spawn(stream_log::read(
                    link.clone(),
                    client.clone(),
                    hub.clone(),
                    channels.clone(),
                ));
                if let Some(restores) = restores {
                    tokio::spawn(stream_log::serve_restores(
                        link.clone(),
                        client.clone(),
                        channels.clone(),
                        restores,
                    ));
                }
            }
            tokio::spawn(publish(client.clone(), queue, link.clone(), hub.clone()));
            link.subscribe(client, hub).await;
        });
    }

    /// Holds the subscriptions, again and again, until the hub is gone.
    async fn subscribe(&self, client: redis::Client, hub: WeakHub) {
        let mut backoff = MIN_BACKOFF;
        let mut subscribed_before = false;
        loop {
            if hub.upgrade().is_none() {
                return;
            }
            let held = match &*self.dialect {
                Dialect::Classic(channels) => {
                    let subscription = Subscription {
                        pattern: Some(channels.broadcast_pattern()),
                        channels: vec![
                            channels.request().to_string(),
                            channels.response().to_string(),
                            channels.own_response().to_string(),
                        ],
                    };
                    self.hold_pubsub(&client, &hub, &subscription, &mut subscribed_before)
                        .await
                }
                Dialect::Streams(channels) => {
                    let subscription = Subscription {
                        pattern: None,
                        channels: vec![
                            channels.public().to_string(),
                            channels.private().to_string(),
                        ],
                    };
                    self.hold_pubsub(&client, &hub, &subscription, &mut subscribed_before)
                        .await
                }
                Dialect::Sharded(channels) => {
                    self.hold_sharded(&client, &hub, channels, &mut subscribed_before)
                        .await
                }
            };
            match held {
                Held::HubGone => return,
                Held::Lost => {
                    backoff = MIN_BACKOFF;
                    self.counters.connected.store(false, Ordering::Relaxed);
                    tracing::warn!(node = %self.uid, "cluster: lost the Redis subscription; local delivery goes on, reconnecting");
                }
                Held::Failed(error) => {
                    tracing::warn!(node = %self.uid, %error, retry_in_ms = backoff.as_millis() as u64, "cluster: cannot subscribe to Redis");
                }
            }
            tokio::time::sleep(backoff).await;
            backoff = (backoff * 2).min(MAX_BACKOFF);
        }
    }

    /// The subscriptions are in place.
    fn subscribed(&self, before: &mut bool) {
        if *before {
            LinkCounters::add(&self.counters.reconnects, 1);
            tracing::info!(node = %self.uid, "cluster: resubscribed to Redis");
        } else {
            tracing::info!(node = %self.uid, "cluster: subscribed to Redis");
        }
        *before = true;
        self.counters.connected.store(true, Ordering::Relaxed);
    }

    /// Classic and streams: SUBSCRIBE (and for classic PSUBSCRIBE to the broadcast channels),
    /// then read them until the connection is lost.
    async fn hold_pubsub(
        &self,
        client: &redis::Client,
        hub: &WeakHub,
        subscription: &Subscription,
        subscribed_before: &mut bool,
    ) -> Held {
        // Connecting to a Redis that accepts but never answers must not hang either.
        let opened = tokio::time::timeout(KEEPALIVE, open_pubsub(client, subscription)).await;
        let pubsub = match opened {
            Ok(Ok(pubsub)) => pubsub,
            Ok(Err(error)) => return Held::Failed(error.to_string()),
            Err(_) => return Held::Failed("no answer to SUBSCRIBE".into()),
        };
        self.subscribed(subscribed_before);
        let (mut sink, mut messages) = pubsub.split();
        let mut keepalive = tokio::time::interval(KEEPALIVE);
        keepalive.tick().await;
        loop {
            tokio::select! {
                message = messages.next() => {
                    let Some(message) = message else { return Held::Lost };
                    let Some(hub) = hub.upgrade() else { return Held::HubGone };
                    self.on_message(&hub, message.get_channel_name(), message.get_payload_bytes());
                }
                _ = keepalive.tick() => {
                    // A connection that died without a FIN (a partition) answers nothing:
                    // without this it would be noticed only when TCP gives up.
                    let pong = tokio::time::timeout(KEEPALIVE, sink.ping::<redis::Value>()).await;
                    if !matches!(pong, Ok(Ok(_))) {
                        tracing::warn!(node = %self.uid, "cluster: Redis did not answer a PING on the subscription");
                        return Held::Lost;
                    }
                }
            }
        }
    }

    /// Sharded: SSUBSCRIBE to the namespace's channel and this node's response channel, and (in
    /// the dynamic modes) to the channel of each room here, joining and leaving room channels
    /// as rooms come and go, until the connection is lost.
    async fn hold_sharded(
        &self,
        client: &redis::Client,
        hub: &WeakHub,
        channels: &ShardChannels,
        subscribed_before: &mut bool,
    ) -> Held {
        let opened = tokio::time::timeout(KEEPALIVE, open_sharded(client, channels)).await;
        let (mut reader, mut writer) = match opened {
            Ok(Ok(connection)) => connection,
            Ok(Err(error)) => return Held::Failed(error.to_string()),
            Err(_) => return Held::Failed("no answer to SSUBSCRIBE".into()),
        };
        self.subscribed(subscribed_before);
        let mode = channels.mode();
        let sockets = mode == SubscriptionMode::DynamicPrivate;
        let mut joined: HashSet<Room> = HashSet::new();
        if mode != SubscriptionMode::Static {
            // What changes from here on is marked again: nothing is missed between the two.
            self.rooms.take();
            let Some(present) = hub.upgrade().map(|h| h.shard_rooms(sockets)) else {
                return Held::HubGone;
            };
            let names: Vec<String> = present.iter().map(|r| channels.room(r)).collect();
            if writer.subscribe(&names).await.is_err() {
                return Held::Lost;
            }
            joined.extend(present);
        }
        let mut keepalive = tokio::time::interval(KEEPALIVE);
        keepalive.tick().await;
        let mut awaiting_pong = false;
        loop {
            tokio::select! {
                push = reader.next() => match push {
                    Ok(Push::Message { channel, payload }) => {
                        let Some(hub) = hub.upgrade() else { return Held::HubGone };
                        self.on_message(&hub, &channel, &payload);
                    }
                    Ok(Push::Pong) => awaiting_pong = false,
                    Ok(Push::Confirmed) => {}
                    Ok(Push::Refused(error)) => {
                        tracing::warn!(node = %self.uid, %error, "cluster: Redis refused a subscription");
                    }
                    Err(error) => {
                        tracing::warn!(node = %self.uid, %error, "cluster: the sharded subscription failed");
                        return Held::Lost;
                    }
                },
                _ = self.rooms.wake.notified() => {
                    let Some(hub) = hub.upgrade() else { return Held::HubGone };
                    let (mut join, mut leave) = (Vec::new(), Vec::new());
                    for room in self.rooms.take() {
                        let wanted = hub.has_shard_room(&room, sockets);
                        if wanted && !joined.contains(&room) {
                            join.push(channels.room(&room));
                            joined.insert(room);
                        } else if !wanted && joined.remove(&room) {
                            leave.push(channels.room(&room));
                        }
                    }
                    drop(hub);
                    if writer.subscribe(&join).await.is_err() || writer.unsubscribe(&leave).await.is_err() {
                        return Held::Lost;
                    }
                }
                _ = keepalive.tick() => {
                    if awaiting_pong {
                        tracing::warn!(node = %self.uid, "cluster: Redis did not answer a PING on the subscription");
                        return Held::Lost;
                    }
                    if writer.send(&redis::cmd("PING")).await.is_err() {
                        return Held::Lost;
                    }
                    awaiting_pong = true;
                }
            }
        }
    }

    fn on_message(&self, hub: &Hub, channel: &str, body: &[u8]) {
        // A classic room's own channel with nobody of that room here: nothing to decode (as
        // Node does; sharded nodes subscribe only to the rooms they have).
        if let Dialect::Classic(channels) = &*self.dialect {
            if channels
                .room_of(channel)
                .is_some_and(|room| !hub.has_room_or_socket(room))
            {
                LinkCounters::add(&self.counters.received, 1);
                return;
            }
        }
        match self.dialect.decode(&self.uid, channel, body) {
            Ok(incoming) => {
                LinkCounters::add(&self.counters.received, 1);
                match incoming {
                    Incoming::Broadcast(broadcast) => deliver(hub, &broadcast),
                    Incoming::Request(request) => self.on_request(hub, request),
                    // Answers to other nodes' requests are not awaited here: dropped.
                    Incoming::Response { request_id, answer } => {
                        self.requests.answer(&request_id, answer);
                    }
                    Incoming::ClientCount { request_id, count } => {
                        self.requests.client_count(&request_id, count);
                    }
                    Incoming::Ack { request_id, value } => {
                        self.requests.broadcast_ack(&request_id, value);
                    }
                    Incoming::Nothing => {}
                }
            }
            Err(error) => {
                LinkCounters::add(&self.counters.malformed, 1);
                tracing::warn!(node = %self.uid, channel, %error, bytes = body.len(), "cluster: message dropped");
            }
        }
    }

    pub(super) fn on_request(&self, hub: &Hub, request: Request) {
        let own = |uid: &str| *uid == *self.uid;
        match request {
            Request::AllRooms { uid, request_id } if !own(&uid) => {
                let rooms = hub.root_rooms();
                self.reply(&uid, &request_id, Answer::AllRooms(&rooms));
            }
            Request::Fetch {
                uid,
                request_id,
                to,
            } if !own(&uid) => {
                let sockets = hub
                    .select_sockets(&to.rooms, &to.except)
                    .iter()
                    .map(|id| hub.socket_details(id))
                    .collect();
                self.reply(&uid, &request_id, Answer::Sockets(sockets));
            }
            // Applied whoever sent them: a classic node applies its own when they come back (a
            // sharded one never hears its own).
            Request::Join { to, rooms } => {
                for id in hub.select_sockets(&to.rooms, &to.except) {
                    for room in &rooms {
                        if let Err(error) = hub.join(&id, room.clone()) {
                            tracing::debug!(%id, %room, %error, "cluster: socketsJoin refused");
                        }
                    }
                }
            }
            Request::Leave { to, rooms } => {
                for id in hub.select_sockets(&to.rooms, &to.except) {
                    for room in &rooms {
                        hub.leave(&id, room);
                    }
                }
            }
            Request::Disconnect { to, close: _ } => {
                for id in hub.select_sockets(&to.rooms, &to.except) {
                    hub.disconnect(&id, DisconnectReason::ServerDisconnect);
                }
            }
            Request::ServerSideEmit {
                uid,
                request_id,
                event,
                args,
            } if !own(&uid) => {
                // Without a listener, as a Node node without one: nothing answers.
                let listener = self.listener.lock().ok().and_then(|l| l.clone());
                let answer = listener.and_then(|listener| listener(&event, args));
                if let (Some(id), Some(answer)) = (request_id, answer) {
                    self.reply(&uid, &id, Answer::Emitted(answer));
                }
            }
            Request::BroadcastWithAck {
                request_id,
                broadcast,
            } if !own(&broadcast.uid) => self.deliver_with_ack(hub, request_id, &broadcast),
            _ => {}
        }
    }

    /// A broadcast whose sender waits for acks: delivered like any other, the Socket.IO sockets
    /// asked to acknowledge (relay sessions of other protocols cannot, and are not counted);
    /// the count goes back at once, then each ack as it comes (`ra:439-463`).
    fn deliver_with_ack(&self, hub: &Hub, request_id: Value, broadcast: &Broadcast) {
        let replies = self.replies.clone();
        let counters = self.counters.clone();
        let dialect = self.dialect.clone();
        let uid = self.uid.clone();
        let requester = broadcast.uid.clone();
        let id = request_id.clone();
        let sink = move |args: Vec<Value>| {
            let Some(outgoing) = dialect.answer(&uid, &requester, &id, Answer::Ack(&args)) else {
                return;
            };
            if replies.try_send(outgoing).is_err() {
                LinkCounters::add(&counters.publish_dropped, 1);
            }
        };
        let ack = BroadcastAck {
            sink: Arc::new(sink),
            timeout: Duration::from_millis(broadcast.timeout_ms.unwrap_or(DEFAULT_ACK_TIMEOUT_MS)),
        };
        let message = Message::with_ack(
            single_room(broadcast),
            broadcast.event.clone(),
            broadcast.args.clone(),
            broadcast.attachments.clone(),
            ack,
        );
        // The count is queued before any ack can be: the acks come from the sockets' actors,
        // after this returns.
        let delivered = hub.deliver_selected(&broadcast.to.rooms, &broadcast.to.except, &message);
        self.reply(
            &broadcast.uid,
            &request_id,
            Answer::ClientCount(delivered.socketio),
        );
    }

    /// Queues this node's answer to a request of node `requester`.
    fn reply(&self, requester: &str, request_id: &Value, answer: Answer<'_>) {
        let Some(outgoing) = self
            .dialect
            .answer(&self.uid, requester, request_id, answer)
        else {
            return;
        };
        if self.replies.try_send(outgoing).is_err() {
            LinkCounters::add(&self.counters.publish_dropped, 1);
        }
    }
}

/// The Pub/Sub subscriptions of a classic or streams node.
struct Subscription {
    /// PSUBSCRIBEd (classic: the broadcast channels).
    pattern: Option<String>,
    /// SUBSCRIBEd.
    channels: Vec<String>,
}

/// Opens the Pub/Sub subscriptions.
async fn open_pubsub(
    client: &redis::Client,
    subscription: &Subscription,
) -> redis::RedisResult<redis::aio::PubSub> {
    let mut pubsub = client.get_async_pubsub().await?;
    if let Some(pattern) = &subscription.pattern {
        pubsub.psubscribe(pattern).await?;
    }
    pubsub.subscribe(&subscription.channels).await?;
    Ok(pubsub)
}

/// Opens the sharded connection with its two fixed subscriptions confirmed.
async fn open_sharded(
    client: &redis::Client,
    channels: &ShardChannels,
) -> Result<(ShardReader, ShardWriter), ShardError> {
    let (mut reader, mut writer) = shard_connection::connect(client.get_connection_info()).await?;
    writer
        .subscribe(&[
            channels.main().to_string(),
            channels.own_response().to_string(),
        ])
        .await?;
    let mut confirmed = 0;
    while confirmed < 2 {
        match reader.next().await? {
            Push::Confirmed => confirmed += 1,
            Push::Refused(error) => {
                return Err(ShardError::Protocol(format!(
                    "SSUBSCRIBE refused ({error}); the sharded adapter needs Redis 7 or later"
                )))
            }
            // Nothing else is sent before the confirmations; a message after one is not lost
            // on a reconnect that a moment's loss would cause.
            _ => {}
        }
    }
    Ok((reader, writer))
}

/// The room a relay client is told a broadcast was for: its one room, if it had one.
fn single_room(broadcast: &Broadcast) -> Option<Room> {
    match broadcast.to.rooms.as_slice() {
        [room] => Some(room.clone()),
        _ => None,
    }
}

/// A broadcast from another node as the hub's message; `offsets`: recovery is on, so a stream
/// entry's id is its offset (not for volatile ones, as Node adds none to them).
pub(super) fn broadcast_message(broadcast: &Broadcast, offsets: bool) -> Arc<Message> {
    let message = Message::with_binary(
        None,
        single_room(broadcast),
        broadcast.event.clone(),
        broadcast.args.clone(),
        broadcast.attachments.clone(),
    );
    if broadcast.volatile {
        message.mark_volatile();
    } else if let (Some(offset), true) = (broadcast.offset, offsets) {
        message.set_offset(offset);
    }
    message
}

/// Hands a broadcast from another node to the local sockets it selects.
fn deliver(hub: &Hub, broadcast: &Broadcast) {
    let message = broadcast_message(broadcast, false);
    hub.deliver_selected(&broadcast.to.rooms, &broadcast.to.except, &message);
}

/// What a reply in a publishing pipeline is for.
enum Awaited {
    /// The server count for request `id`.
    Count(String),
    /// The stream id of this broadcast, delivered here once it has it.
    Added(Target, Arc<Message>),
}

/// Publishes what is queued, a pipeline of what is waiting at a time, until the queue closes. A
/// request of this node goes with a `PUBSUB NUMSUB` (sharded: `SHARDNUMSUB`) of its channel:
/// the nodes that hear it. A broadcast waiting for its stream id is delivered here once XADD
/// answers (without an offset if it fails, as Node does).
async fn publish(
    client: redis::Client,
    mut queue: mpsc::Receiver<Outgoing>,
    link: Arc<Link>,
    hub: WeakHub,
) {
    let (publish, count) = if link.dialect.sharded() {
        ("SPUBLISH", "SHARDNUMSUB")
    } else {
        ("PUBLISH", "NUMSUB")
    };
    let counters = &link.counters;
    let mut backoff = MIN_BACKOFF;
    let mut connection = loop {
        let config = redis::aio::ConnectionManagerConfig::new()
            .set_min_delay(MIN_BACKOFF)
            .set_max_delay(MAX_BACKOFF)
            .set_connection_timeout(Some(Duration::from_secs(5)))
            .set_response_timeout(Some(Duration::from_secs(5)));
        match client.get_connection_manager_with_config(config).await {
            Ok(connection) => break connection,
            Err(error) => {
                // What waits meanwhile stays queued (bounded); what overflows is counted.
                tracing::warn!(%error, retry_in_ms = backoff.as_millis() as u64, "cluster: cannot connect to Redis to publish");
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(MAX_BACKOFF);
            }
        }
    };
    let mut batch = Vec::with_capacity(BATCH);
    while queue.recv_many(&mut batch, BATCH).await > 0 {
        let mut pipe = redis::pipe();
        let mut awaited = Vec::new();
        let n = batch.len() as u64;
        for message in batch.drain(..) {
            match message {
                Outgoing::Publish { channel, body } => {
                    pipe.cmd(publish).arg(channel).arg(body).ignore();
                }
                Outgoing::Request { channel, body, id } => {
                    pipe.cmd("PUBSUB").arg(count).arg(&channel);
                    awaited.push(Awaited::Count(id));
                    pipe.cmd(publish).arg(channel).arg(body).ignore();
                }
                Outgoing::Append {
                    stream,
                    fields,
                    then,
                } => {
                    let xadd = pipe
                        .cmd("XADD")
                        .arg(stream)
                        .arg("MAXLEN")
                        .arg("~")
                        .arg(super::streams::MAX_LEN)
                        .arg("*");
                    for (name, value) in fields {
                        xadd.arg(name).arg(value);
                    }
                    match then {
                        Some((target, message)) => awaited.push(Awaited::Added(target, message)),
                        None => {
                            xadd.ignore();
                        }
                    }
                }
                Outgoing::Persist { key, value, ttl } => {
                    let ms = u64::try_from(ttl.as_millis()).unwrap_or(u64::MAX).max(1);
                    pipe.cmd("SET")
                        .arg(key)
                        .arg(value)
                        .arg("PX")
                        .arg(ms)
                        .ignore();
                }
            }
        }
        let replies = pipe.query_async::<Vec<redis::Value>>(&mut connection).await;
        let hub = hub.upgrade();
        match replies {
            Ok(replies) => {
                LinkCounters::add(&counters.published, n);
                for (awaited, reply) in awaited.into_iter().zip(replies) {
                    match awaited {
                        Awaited::Count(id) => {
                            let counted = redis::from_redis_value::<
                                std::collections::HashMap<String, usize>,
                            >(reply)
                            .ok()
                            .and_then(|c| c.into_values().next());
                            link.requests.expect(&id, counted.unwrap_or(0));
                        }
                        Awaited::Added(target, message) => {
                            let id = redis::from_redis_value::<String>(reply)
                                .ok()
                                .and_then(|id| id.parse::<Offset>().ok());
                            if let Some(id) = id {
                                link.saw(id);
                                message.set_offset(id);
                            }
                            if let Some(hub) = &hub {
                                hub.deliver_local(&target, &message);
                            }
                        }
                    }
                }
            }
            Err(error) => {
                LinkCounters::add(&counters.publish_failed, n);
                for awaited in awaited {
                    match awaited {
                        Awaited::Count(id) => {
                            link.requests.close(&id);
                        }
                        Awaited::Added(target, message) => {
                            if let Some(hub) = &hub {
                                hub.deliver_local(&target, &message);
                            }
                        }
                    }
                }
                tracing::warn!(%error, messages = n, "cluster: Redis did not take these messages; they reached no other node");
            }
        }
    }
}
