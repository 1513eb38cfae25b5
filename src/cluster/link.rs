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

use super::classic::{self, Broadcast, Channels, Request};
use super::requests::Requests;
use super::{LinkCounters, Outgoing, ServerListener};
use crate::hub::{BroadcastAck, DisconnectReason, Hub, Message, Room, WeakHub};

/// The first wait before connecting again; it doubles up to [`MAX_BACKOFF`].
const MIN_BACKOFF: Duration = Duration::from_millis(100);
/// The longest wait between two attempts to reach Redis.
const MAX_BACKOFF: Duration = Duration::from_secs(5);
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
    pub(super) channels: Channels,
    pub(super) counters: Arc<LinkCounters>,
    /// Where answers to requests are queued (the same queue as broadcasts).
    pub(super) replies: mpsc::Sender<Outgoing>,
    /// This node's own requests, waiting for answers.
    pub(super) requests: Arc<Requests>,
    /// Who hears other nodes' `serverSideEmit` here.
    pub(super) listener: Arc<Mutex<Option<ServerListener>>>,
}

impl Link {
    /// Runs until the hub is gone.
    pub(super) fn run(self, hub: WeakHub, queue: mpsc::Receiver<Outgoing>) {
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
        runtime.block_on(async move {
            tokio::spawn(publish(
                client.clone(),
                queue,
                link.counters.clone(),
                link.requests.clone(),
            ));
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
            // Connecting to a Redis that accepts but never answers must not hang either.
            let opened = tokio::time::timeout(KEEPALIVE, self.open_subscriptions(&client))
                .await
                .unwrap_or_else(|_| {
                    Err(redis::RedisError::from((
                        redis::ErrorKind::Io,
                        "no answer to SUBSCRIBE",
                    )))
                });
            match opened {
                Ok(pubsub) => {
                    if subscribed_before {
                        LinkCounters::add(&self.counters.reconnects, 1);
                        tracing::info!(node = %self.uid, "cluster: resubscribed to Redis");
                    } else {
                        tracing::info!(node = %self.uid, "cluster: subscribed to Redis");
                    }
                    subscribed_before = true;
                    backoff = MIN_BACKOFF;
                    self.counters.connected.store(true, Ordering::Relaxed);
                    let (mut sink, mut messages) = pubsub.split();
                    let mut keepalive = tokio::time::interval(KEEPALIVE);
                    keepalive.tick().await;
                    loop {
                        tokio::select! {
                            message = messages.next() => {
                                let Some(message) = message else { break };
                                let Some(hub) = hub.upgrade() else {
                                    return;
                                };
                                self.on_message(
                                    &hub,
                                    message.get_channel_name(),
                                    message.get_payload_bytes(),
                                );
                            }
                            _ = keepalive.tick() => {
                                // A connection that died without a FIN (a partition) answers
                                // nothing: without this it would be noticed only when TCP gives up.
                                let pong = tokio::time::timeout(KEEPALIVE, sink.ping::<redis::Value>()).await;
                                if !matches!(pong, Ok(Ok(_))) {
                                    tracing::warn!(node = %self.uid, "cluster: Redis did not answer a PING on the subscription");
                                    break;
                                }
                            }
                        }
                    }
                    self.counters.connected.store(false, Ordering::Relaxed);
                    tracing::warn!(node = %self.uid, "cluster: lost the Redis subscription; local delivery goes on, reconnecting");
                }
                Err(error) => {
                    tracing::warn!(node = %self.uid, %error, retry_in_ms = backoff.as_millis() as u64, "cluster: cannot subscribe to Redis");
                }
            }
            tokio::time::sleep(backoff).await;
            backoff = (backoff * 2).min(MAX_BACKOFF);
        }
    }

    async fn open_subscriptions(
        &self,
        client: &redis::Client,
    ) -> redis::RedisResult<redis::aio::PubSub> {
        let mut pubsub = client.get_async_pubsub().await?;
        pubsub.psubscribe(self.channels.broadcast_pattern()).await?;
        pubsub
            .subscribe(&[
                self.channels.request(),
                self.channels.response(),
                self.channels.own_response(),
            ])
            .await?;
        Ok(pubsub)
    }

    fn on_message(&self, hub: &Hub, channel: &str, body: &[u8]) {
        let handled = if channel == self.channels.request() {
            self.on_request(hub, body)
        } else if channel == self.channels.response() || channel == self.channels.own_response() {
            // Answers to other nodes' requests are not for this node: dropped unread.
            classic::decode_response(body).map(|(id, answer)| {
                self.requests.answer(&id, answer);
            })
        } else {
            self.on_broadcast(hub, channel, body)
        };
        match handled {
            Ok(()) => LinkCounters::add(&self.counters.received, 1),
            Err(error) => {
                LinkCounters::add(&self.counters.malformed, 1);
                tracing::warn!(node = %self.uid, channel, %error, bytes = body.len(), "cluster: message dropped");
            }
        }
    }

    fn on_broadcast(
        &self,
        hub: &Hub,
        channel: &str,
        body: &[u8],
    ) -> Result<(), classic::Malformed> {
        // A room's own channel with nobody of that room here: nothing to decode (as Node does).
        if let Some(room) = self.channels.room_of(channel) {
            if !hub.has_room_or_socket(room) {
                return Ok(());
            }
        }
        match classic::decode_broadcast(body)? {
            Some(broadcast) if *broadcast.uid != *self.uid => {
                deliver(hub, &broadcast);
            }
            _ => {}
        }
        Ok(())
    }

    fn on_request(&self, hub: &Hub, body: &[u8]) -> Result<(), classic::Malformed> {
        let own = |uid: &str| *uid == *self.uid;
        match classic::decode_request(body)? {
            Request::AllRooms { uid, request_id } if !own(&uid) => {
                let rooms = hub.root_rooms();
                self.reply(classic::all_rooms_response(&request_id, &rooms));
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
                self.reply(classic::fetch_response(&request_id, sockets));
            }
            // Applied whoever sent them: a classic node applies its own when they come back.
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
                    self.reply(classic::server_side_emit_response(&id, answer));
                }
            }
            Request::BroadcastWithAck {
                request_id,
                broadcast,
            } if !own(&broadcast.uid) => self.deliver_with_ack(hub, request_id, &broadcast),
            _ => {}
        }
        Ok(())
    }

    /// A broadcast whose sender waits for acks: delivered like any other, the Socket.IO sockets
    /// asked to acknowledge (relay sessions of other protocols cannot, and are not counted);
    /// the count goes back at once, then each ack as it comes (`ra:439-463`).
    fn deliver_with_ack(&self, hub: &Hub, request_id: Value, broadcast: &Broadcast) {
        let replies = self.replies.clone();
        let channel = self.channels.response().to_string();
        let counters = self.counters.clone();
        let id = request_id.clone();
        let sink = move |args: Vec<Value>| {
            let outgoing =
                Outgoing::publish(channel.clone(), classic::broadcast_ack_response(&id, &args));
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
            ack,
        );
        // The count is queued before any ack can be: the acks come from the sockets' actors,
        // after this returns.
        let delivered = hub.deliver_selected(&broadcast.to.rooms, &broadcast.to.except, &message);
        self.reply(classic::client_count_response(
            &request_id,
            delivered.socketio,
        ));
    }

    fn reply(&self, body: Vec<u8>) {
        let outgoing = Outgoing::publish(self.channels.response().to_string(), body);
        if self.replies.try_send(outgoing).is_err() {
            LinkCounters::add(&self.counters.publish_dropped, 1);
        }
    }
}

/// The room a relay client is told a broadcast was for: its one room, if it had one.
fn single_room(broadcast: &Broadcast) -> Option<Room> {
    match broadcast.to.rooms.as_slice() {
        [room] => Some(room.clone()),
        _ => None,
    }
}

/// Hands a broadcast from another node to the local sockets it selects.
fn deliver(hub: &Hub, broadcast: &Broadcast) {
    let message = Message::with_args(
        None,
        single_room(broadcast),
        broadcast.event.clone(),
        broadcast.args.clone(),
    );
    hub.deliver_selected(&broadcast.to.rooms, &broadcast.to.except, &message);
}

/// Publishes what is queued, a pipeline of what is waiting at a time, until the queue closes. A
/// request of this node goes with a `PUBSUB NUMSUB` of its channel: the nodes that hear it.
async fn publish(
    client: redis::Client,
    mut queue: mpsc::Receiver<Outgoing>,
    counters: Arc<LinkCounters>,
    requests: Arc<Requests>,
) {
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
        let mut asked = Vec::new();
        for message in &batch {
            if let Some(id) = &message.request {
                pipe.cmd("PUBSUB").arg("NUMSUB").arg(&message.channel);
                asked.push(id.clone());
            }
            pipe.cmd("PUBLISH")
                .arg(&message.channel)
                .arg(&message.body)
                .ignore();
        }
        let n = batch.len() as u64;
        match pipe
            .query_async::<Vec<std::collections::HashMap<String, usize>>>(&mut connection)
            .await
        {
            Ok(counts) => {
                LinkCounters::add(&counters.published, n);
                for (id, count) in asked.iter().zip(counts) {
                    requests.expect(id, count.into_values().next().unwrap_or(0));
                }
            }
            Err(error) => {
                LinkCounters::add(&counters.publish_failed, n);
                for id in &asked {
                    requests.close(id);
                }
                tracing::warn!(%error, messages = n, "cluster: Redis did not take these messages; they reached no other node");
            }
        }
        batch.clear();
    }
}
