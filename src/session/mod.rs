//! The transport-independent session: one actor per client, whatever protocol it speaks.
//!
//! A session outlives its transport. Its state (outbox, close reason, liveness) belongs to a
//! [`SessionActor`]; transports *pull* from it. A WebSocket driver pulls in a loop for the life of
//! the socket; a long-poll request pulls once and returns what it got. Either way the actor answers
//! a pull as soon as it has frames (or a close) for the client, so one mechanism serves every
//! transport. What a protocol adds is a [`SessionLogic`]: how to encode a broadcast, what to do with
//! a frame from the client, how to say goodbye.

pub(crate) mod http;
mod outbox;
pub(crate) mod peer;
mod write_batch;
mod ws_driver;
pub(crate) mod ws_frame;
mod ws_output;

use std::time::{Duration, Instant};

use std::sync::Arc;

use actix::{Actor, ActorContext, AsyncContext, Context, Handler, Message as ActixMessage};
use bytes::Bytes;
use bytestring::ByteString;
use tokio::sync::oneshot;

use crate::hub::{
    Counters, DisconnectReason, Frame, Hub, Inbox, Mailbox, Message, Protocol, RegisterError, Room,
    SessionCommand, SessionId, Transport, WireFormat,
};

pub(crate) use outbox::Outbox;
pub(crate) use ws_driver::{accept_websocket, is_websocket_upgrade, WsConnection, WsLimits};
pub(crate) use ws_frame::Incoming;
pub(crate) use ws_output::{WriteError, WsOutput};

/// Broadcasts that may wait in a session's inbox, per message of `max_outbox`.
const INBOX_PER_OUTBOX: usize = 16;

/// How long a closing session waits for a transport to collect its close frame.
const CLOSE_GRACE: Duration = Duration::from_secs(2);

/// The same, when the client itself closed or went away: nobody is likely to ask.
const CLIENT_CLOSE_GRACE: Duration = Duration::from_millis(200);

/// A close as the transport writes it: a WebSocket close code and a reason.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct CloseInfo {
    /// Close code (WebSocket close codes; protocols map them to their own close frames).
    pub code: u16,
    /// Human-readable reason.
    pub reason: String,
    /// True when the client asked for the close (some protocols answer it differently).
    pub by_client: bool,
    /// A last text frame to write before the close (SockJS's `c[...]` over WebSocket).
    pub farewell: Option<String>,
}

/// What a transport gets for one pull: queued frames, then possibly the close.
#[derive(Debug, Default)]
pub(crate) struct Pulled {
    /// Frames to write, oldest first.
    pub frames: Vec<Frame>,
    /// Set when the session is over: write it after the frames and end the transport.
    pub close: Option<CloseInfo>,
}

/// A WebSocket takes over the session's output: from now on frames go straight to it.
#[derive(Debug, ActixMessage)]
#[rtype(result = "()")]
pub(crate) struct AttachSocket(pub WsOutput);

/// The transport waiting for the session's frames.
#[derive(Debug)]
enum Puller {
    /// One request (a long-poll, a streaming response): answered once, then gone.
    Once(oneshot::Sender<Pulled>),
    /// A WebSocket: written to as frames come, for as long as it lasts.
    Socket(WsOutput),
}

/// What a transport reports from the client's side.
#[derive(Debug, ActixMessage)]
#[rtype(result = "()")]
pub(crate) enum TransportEvent {
    /// A text message from the client.
    Text(ByteString),
    /// A binary message from the client.
    Binary(Bytes),
    /// A keepalive answer (WebSocket pong).
    Pong,
    /// The client closed cleanly.
    ClientClose,
    /// The connection went away without a close.
    Gone,
    /// The transport failed or the client broke the framing.
    Error(DisconnectReason),
}

/// Several client events at once, in order: what a WebSocket had ready to read in one go. The
/// actor handles them all in one turn, so what they broadcast reaches each recipient together
/// (one drain, one write) rather than one at a time.
#[derive(Debug, ActixMessage)]
#[rtype(result = "()")]
pub(crate) struct TransportEvents(pub Vec<TransportEvent>);

/// How a session checks that its client is alive.
#[derive(Debug, Clone)]
pub(crate) enum Keepalive {
    /// Send `frame` every `interval`; if `timeout` is set, the client must show a sign of life
    /// within that long after each one.
    Ping {
        /// The frame to send.
        frame: Frame,
        /// Time between two pings.
        interval: Duration,
        /// How long a ping waits for any sign of life.
        timeout: Option<Duration>,
    },
    /// The client pings; close the session after `limit` without hearing from it.
    Silence {
        /// The longest silence allowed.
        limit: Duration,
    },
}

/// The protocol-specific part of a session.
pub(crate) trait SessionLogic: Unpin + Sized + 'static {
    /// The wire format broadcasts are encoded into for this session.
    fn format(&self) -> WireFormat;

    /// Encodes a broadcast into `format` (called at most once per message and format).
    fn encode(format: WireFormat, message: &Message) -> Frame;

    /// A message from the hub for registered member `to` (the session itself, or another
    /// member it registered); by default it is encoded (once per format) and queued.
    fn on_deliver(&mut self, to: &SessionId, message: Arc<Message>, core: &mut SessionCore) {
        let _ = to;
        let format = self.format();
        core.send(message.encoded::<Self>(format, |m| Self::encode(format, m)));
    }

    /// Takes from the outbox what the waiting transport gets now; by default everything.
    fn take_frames(&mut self, outbox: &mut Outbox) -> Vec<Frame> {
        outbox.drain()
    }

    /// A transport's pull was answered (the transport may now be gone until the next one).
    fn on_pull_answered(&mut self, core: &mut SessionCore) {
        let _ = core;
    }

    /// The actor has stopped: the session is gone for good.
    fn on_stopped(&mut self) {}

    /// A transport's pull was abandoned (its request went away) while frames were ready; the
    /// frames are back in the outbox. By default the session ends.
    fn on_abandoned_pull(&mut self, core: &mut SessionCore) {
        core.close(DisconnectReason::TransportClosed);
    }

    /// The keepalive this session sends, if any.
    fn keepalive(&self) -> Option<Keepalive>;

    /// The session has started and is registered with the hub.
    fn on_open(&mut self, core: &mut SessionCore);

    /// A text message arrived.
    fn on_text(&mut self, text: ByteString, core: &mut SessionCore);

    /// A binary message arrived.
    fn on_binary(&mut self, data: Bytes, core: &mut SessionCore);

    /// How this protocol tells the client why the session ends.
    fn close_info(&self, reason: &DisconnectReason) -> CloseInfo;

    /// The session has ended (already out of the hub); `rooms` are the rooms it was in.
    fn on_close(&mut self, core: &mut SessionCore, reason: &DisconnectReason, rooms: Vec<Room>);
}

/// The state every session has, whatever its protocol.
#[derive(Debug)]
pub(crate) struct SessionCore {
    id: SessionId,
    protocol: Protocol,
    transport: Transport,
    hub: Hub,
    mailbox: Mailbox,
    outbox: Outbox,
    puller: Option<Puller>,
    closing: Option<DisconnectReason>,
    closed_reported: bool,
    last_seen: Instant,
    deadline: Option<(Instant, DisconnectReason)>,
    /// The timer of `deadline`, while one runs (cancelled when the deadline is cleared).
    deadline_timer: Option<actix::SpawnHandle>,
    /// The keepalive ping last due (its scheduled time) and how long it waits for a sign of life.
    ping_wait: Option<(Instant, Duration)>,
    /// The longest silence allowed, when the client drives the keepalive.
    silence_limit: Option<Duration>,
    /// When a waiting request is answered with whatever is queued, possibly nothing.
    release_at: Option<Instant>,
    release_armed: bool,
    /// Per member: broadcasts at or below this offset were replayed on recovery, so live copies
    /// are dropped.
    replayed_through: std::collections::BTreeMap<SessionId, crate::hub::Offset>,
    /// The hub counts this session as closing (until the actor stops).
    counted_closing: bool,
    /// The buffer the inbox is drained into, kept between drains (empty).
    drained: std::collections::VecDeque<(SessionId, Arc<Message>)>,
    /// What is written now are broadcasts: they may wait for the thread's flush.
    batch_writes: bool,
    /// Who the session belongs to, when clients authenticate.
    user: Option<Arc<crate::auth::User>>,
    /// When the session started.
    opened_at: Instant,
    /// It was its user's last session here (set when it leaves the hub).
    last_of_user: bool,
}

/// The largest drain buffer a session keeps between drains, in entries of 32 bytes. Two are kept
/// (one in the inbox, one here), so a session that had a burst holds at most 512 bytes for it.
const KEPT_DRAIN_CAPACITY: usize = 8;

impl SessionCore {
    /// The session's id.
    pub(crate) fn id(&self) -> &SessionId {
        &self.id
    }

    /// The session as application code sees it.
    pub(crate) fn session_ref(&self) -> crate::handler::SessionRef {
        crate::handler::SessionRef::new(
            self.id.clone(),
            self.protocol,
            self.hub.clone(),
            self.user.clone(),
        )
    }

    /// The transport the session is attached through.
    pub(crate) fn transport(&self) -> Transport {
        self.transport
    }

    /// How long the session has been open.
    pub(crate) fn age(&self) -> Duration {
        self.opened_at.elapsed()
    }

    /// Whether, on leaving the hub, it was its user's last session here.
    pub(crate) fn was_last_of_user(&self) -> bool {
        self.last_of_user
    }

    /// The hub the session is registered with.
    pub(crate) fn hub(&self) -> &Hub {
        &self.hub
    }

    /// How the hub reaches this actor, to register more members for this connection.
    pub(crate) fn mailbox(&self) -> Mailbox {
        self.mailbox.clone()
    }

    /// Records that the session now runs over another transport.
    pub(crate) fn set_transport(&mut self, transport: Transport) {
        self.transport = transport;
        self.hub.set_transport(&self.id, transport);
    }

    /// True while a transport waits for frames.
    pub(crate) fn has_puller(&self) -> bool {
        self.puller.is_some()
    }

    /// Whether a frame would go out at once (Node's `transport.writable`): nothing queued, and a
    /// request held open or a WebSocket with nothing waiting.
    pub(crate) fn writable(&self) -> bool {
        self.outbox.is_empty()
            && match &self.puller {
                Some(Puller::Once(_)) => true,
                Some(Puller::Socket(output)) => output.is_idle(),
                None => false,
            }
    }

    /// True when the waiting transport's request (or WebSocket) has gone away.
    pub(crate) fn puller_abandoned(&self) -> bool {
        match &self.puller {
            Some(Puller::Once(p)) => p.is_closed(),
            Some(Puller::Socket(output)) => output.is_gone(),
            None => false,
        }
    }

    /// Attaches a request waiting for frames (replacing any other transport).
    pub(crate) fn attach(&mut self, puller: oneshot::Sender<Pulled>) {
        self.puller = Some(Puller::Once(puller));
    }

    /// Attaches a WebSocket (replacing any other transport); it may hold as many bytes as the
    /// outbox.
    pub(crate) fn attach_socket(&mut self, output: WsOutput) {
        output.set_limit(self.outbox.limit());
        self.puller = Some(Puller::Socket(output));
    }

    /// Answers a waiting request now, with whatever is queued (possibly nothing). A WebSocket
    /// stays attached.
    pub(crate) fn release_puller(&mut self) {
        self.release_at = None;
        if let Some(Puller::Once(puller)) = self.puller.take_if(|p| matches!(p, Puller::Once(_))) {
            let frames = self.outbox.drain();
            if let Err(unsent) = puller.send(Pulled {
                frames,
                close: None,
            }) {
                self.outbox.restore(unsent.frames);
            }
        }
    }

    /// Answers the waiting request after `after` with whatever is queued then (possibly nothing),
    /// unless something answers it sooner.
    pub(crate) fn release_puller_after(&mut self, after: Duration) {
        self.release_at = Some(Instant::now() + after);
    }

    /// Refuses the waiting request: it gets no answer from the session (its transport reports
    /// the session as unknown). A WebSocket stays attached.
    pub(crate) fn refuse_puller(&mut self) {
        self.puller.take_if(|p| matches!(p, Puller::Once(_)));
        self.release_at = None;
    }

    /// True when the client has missed its keepalive: no sign of life within the timeout of the
    /// last ping (by the ping's scheduled time), or a silence longer than allowed. Checked when
    /// a request arrives, so that a request racing the keepalive timer loses, as in Node.
    pub(crate) fn keepalive_expired(&self) -> bool {
        let now = Instant::now();
        let missed_ping = self
            .ping_wait
            .is_some_and(|(sent, timeout)| self.last_seen < sent && now >= sent + timeout);
        let silent = self
            .silence_limit
            .is_some_and(|limit| now.duration_since(self.last_seen) >= limit);
        missed_ping || silent
    }

    /// Closes the session for `reason` unless [`clear_deadline`](Self::clear_deadline) is called
    /// within `after` (e.g. Socket.IO's connectTimeout).
    pub(crate) fn set_deadline(&mut self, after: Duration, reason: DisconnectReason) {
        self.deadline = Some((Instant::now() + after, reason));
    }

    /// Cancels the deadline.
    pub(crate) fn clear_deadline(&mut self) {
        self.deadline = None;
    }

    /// Runs `work` on this session's logic `L` and core once `pending` completes (a restore
    /// from Redis), inside the actor, unless the session is closing by then.
    pub(crate) fn when_done<L: SessionLogic, T: Send + 'static>(
        &self,
        pending: impl std::future::Future<Output = T> + 'static,
        work: impl FnOnce(&mut L, &mut SessionCore, T) + Send + 'static,
    ) {
        let addr = self.mailbox.addr.clone();
        actix::spawn(async move {
            let value = pending.await;
            let later = crate::hub::Later(Box::new(move |logic, core| {
                if let Some(logic) = logic.downcast_mut::<L>() {
                    work(logic, core, value);
                }
            }));
            addr.do_send(SessionCommand::Later(later));
        });
    }

    /// Broadcasts up to `offset` were replayed to recovered member `id`: drop their live copies.
    pub(crate) fn set_replayed_through(&mut self, id: &SessionId, offset: crate::hub::Offset) {
        let through = self.replayed_through.entry(id.clone()).or_insert(offset);
        *through = (*through).max(offset);
    }

    /// Records a sign of life from the client (for keepalive timeouts).
    pub(crate) fn touch(&mut self) {
        self.last_seen = Instant::now();
    }

    /// Queues a frame for the client; an overflow closes the session.
    pub(crate) fn send(&mut self, frame: Frame) {
        if self.closing.is_some() {
            return;
        }
        if self.outbox.push(frame).is_err() {
            self.hub.overflow_of(&self.id);
            self.close(DisconnectReason::Overflow);
        }
    }

    /// Queues a last frame while the session closes (a goodbye the protocol sends before its
    /// close, such as Socket.IO's DISCONNECT); ignored after an overflow.
    pub(crate) fn send_final(&mut self, frame: Frame) {
        if self.closing != Some(DisconnectReason::Overflow) {
            let _ = self.outbox.push(frame);
        }
    }

    /// Ends the session: queued frames are still delivered (but for an overflow), then the close.
    pub(crate) fn close(&mut self, reason: DisconnectReason) {
        if self.closing.is_some() {
            return;
        }
        if reason == DisconnectReason::Overflow {
            self.outbox.clear();
        }
        self.closing = Some(reason);
    }

    /// True once the session is closing.
    pub(crate) fn is_closing(&self) -> bool {
        self.closing.is_some()
    }
}

/// Options every session actor needs.
#[derive(Debug, Clone)]
pub struct SessionOptions {
    /// Broadcasts that may wait for the actor to take them: sixteen times this (the actor takes
    /// them all whenever it runs; a batch of this many always fits).
    pub max_outbox: usize,
    /// Bytes that may wait for the client to read them (queued frames and the socket's
    /// buffer); a client that does not drain them is disconnected (overflow).
    pub max_outbox_bytes: usize,
    /// How long queued data may wait for a WebSocket client that does not read it.
    pub write_timeout: Duration,
}

impl Default for SessionOptions {
    fn default() -> Self {
        SessionOptions {
            max_outbox: crate::config::defaults::MAX_OUTBOX,
            max_outbox_bytes: crate::config::defaults::MAX_OUTBOX_BYTES,
            write_timeout: Duration::from_millis(crate::config::defaults::WRITE_TIMEOUT_MS),
        }
    }
}

/// The actor that owns one session.
pub(crate) struct SessionActor<L: SessionLogic> {
    core: SessionCore,
    logic: L,
}

impl<L: SessionLogic> SessionActor<L> {
    /// Starts a session and registers it with the hub.
    pub(crate) fn start(
        hub: Hub,
        protocol: Protocol,
        transport: Transport,
        logic: L,
        options: &SessionOptions,
        handshake: Option<serde_json::Value>,
        user: Option<Arc<crate::auth::User>>,
    ) -> Result<actix::Addr<SessionActor<L>>, RegisterError> {
        let id = crate::hub::new_session_id();
        let max_outbox = options.max_outbox.max(1);
        // The inbox only holds what the actor has not been scheduled to take yet (it fills only
        // when the server itself falls behind); the outbox's bytes are the per-client bound. A
        // roomy inbox keeps a server-side burst from looking like a slow client.
        let inbox_limit = max_outbox.saturating_mul(INBOX_PER_OUTBOX);
        let mut refused = None;
        let addr = SessionActor::create(|ctx| {
            // Broadcasts wait in the inbox; the actor mailbox carries commands and the client's
            // messages.
            let mailbox = Mailbox {
                addr: Arc::new(ctx.address().recipient()),
                inbox: Arc::new(Inbox::new(inbox_limit)),
            };
            match hub.register(
                id.clone(),
                protocol,
                transport,
                mailbox.clone(),
                user.clone(),
            ) {
                Ok(()) => {
                    if let Some(handshake) = handshake {
                        hub.set_handshake(&id, handshake);
                    }
                }
                Err(e) => refused = Some(e),
            }
            SessionActor {
                core: SessionCore {
                    id,
                    protocol,
                    transport,
                    hub: hub.clone(),
                    mailbox,
                    outbox: Outbox::new(options.max_outbox_bytes),
                    puller: None,
                    closing: None,
                    closed_reported: refused.is_some(),
                    last_seen: Instant::now(),
                    deadline: None,
                    deadline_timer: None,
                    ping_wait: None,
                    silence_limit: None,
                    release_at: None,
                    release_armed: false,
                    replayed_through: Default::default(),
                    counted_closing: false,
                    drained: std::collections::VecDeque::new(),
                    batch_writes: false,
                    user,
                    opened_at: Instant::now(),
                    last_of_user: false,
                },
                logic,
            }
        });
        match refused {
            Some(e) => {
                addr.do_send(SessionCommand::Close(DisconnectReason::ServerDisconnect));
                Err(e)
            }
            None => Ok(addr),
        }
    }

    /// After every event: arm a new deadline, report a new close, hand frames to a transport.
    fn settle(&mut self, ctx: &mut Context<Self>) {
        self.settle_deadline(ctx);
        self.settle_release(ctx);
        self.settle_close_and_frames(ctx);
    }

    fn settle_release(&mut self, ctx: &mut Context<Self>) {
        if ctx.state() != actix::ActorState::Running || self.core.release_armed {
            return;
        }
        if let Some(at) = self.core.release_at {
            self.core.release_armed = true;
            ctx.run_later(at.saturating_duration_since(Instant::now()), |act, ctx| {
                act.core.release_armed = false;
                match act.core.release_at {
                    Some(at) if Instant::now() >= at => {
                        act.core.release_at = None;
                        act.core.release_puller();
                    }
                    _ => {}
                }
                act.settle(ctx);
            });
        }
    }

    fn settle_deadline(&mut self, ctx: &mut Context<Self>) {
        if ctx.state() != actix::ActorState::Running {
            return;
        }
        match (&self.core.deadline, self.core.deadline_timer) {
            (Some((at, _)), None) => {
                let wait = at.saturating_duration_since(Instant::now());
                let timer = ctx.run_later(wait, |act, ctx| {
                    act.core.deadline_timer = None;
                    if let Some((at, reason)) = act.core.deadline.take() {
                        if Instant::now() >= at {
                            act.core.close(reason);
                        } else {
                            act.core.deadline = Some((at, reason));
                        }
                    }
                    act.settle(ctx);
                });
                self.core.deadline_timer = Some(timer);
            }
            // Cleared: its timer goes now, not when it would have fired (it holds memory).
            (None, Some(timer)) => {
                ctx.cancel_future(timer);
                self.core.deadline_timer = None;
            }
            _ => {}
        }
    }

    fn settle_close_and_frames(&mut self, ctx: &mut Context<Self>) {
        if let (Some(reason), false) = (&self.core.closing, self.core.closed_reported) {
            let reason = reason.clone();
            self.core.closed_reported = true;
            let gone = self.core.hub.unregister_reporting(&self.core.id);
            let rooms = gone.rooms;
            self.core.last_of_user = gone.last_of_user;
            let counters = self.core.hub.counters();
            Counters::add(&counters.disconnects[reason.index()], 1);
            self.core.hub.closing();
            self.core.counted_closing = true;
            tracing::info!(
                session = %self.core.id,
                user = self.core.user.as_ref().map(|u| u.id()),
                protocol = %self.core.protocol,
                transport = self.core.transport.as_str(),
                rooms = ?rooms,
                reason = %reason,
                "session closed"
            );
            self.logic.on_close(&mut self.core, &reason, rooms);
            if ctx.state() == actix::ActorState::Running {
                let grace = match reason {
                    DisconnectReason::ClientClosed | DisconnectReason::TransportClosed => {
                        CLIENT_CLOSE_GRACE
                    }
                    _ => CLOSE_GRACE,
                };
                ctx.run_later(grace, |_, ctx| ctx.stop());
            }
        }
        let ready = !self.core.outbox.is_empty() || self.core.closing.is_some();
        if ready && matches!(self.core.puller, Some(Puller::Socket(_))) {
            return self.write_to_socket(ctx);
        }
        if ready {
            if let Some(Puller::Once(puller)) = self.core.puller.take() {
                // Answered now: a release planned for it is moot.
                self.core.release_at = None;
                let frames = self.logic.take_frames(&mut self.core.outbox);
                // A transport that gets only part of the outbox gets the close next time.
                let close = match self.core.outbox.is_empty() {
                    true => self.core.closing.as_ref().map(|r| self.logic.close_info(r)),
                    false => None,
                };
                let done = close.is_some();
                let sent = puller.send(Pulled { frames, close });
                if let Err(unsent) = sent {
                    self.core.outbox.restore(unsent.frames);
                    if !done {
                        self.logic.on_abandoned_pull(&mut self.core);
                        return self.settle(ctx);
                    }
                }
                if done {
                    ctx.stop();
                } else {
                    self.logic.on_pull_answered(&mut self.core);
                    self.settle_deadline(ctx);
                }
            }
        }
    }

    /// Writes everything queued (and the close, when closing) to the attached WebSocket.
    fn write_to_socket(&mut self, ctx: &mut Context<Self>) {
        let Some(Puller::Socket(output)) = self.core.puller.take() else {
            return;
        };
        let mut written = Ok(());
        while !self.core.outbox.is_empty() && written.is_ok() {
            let frames = self.logic.take_frames(&mut self.core.outbox);
            written = if self.core.batch_writes {
                output.send_batched(&frames)
            } else {
                output.send(&frames)
            };
        }
        match written {
            Ok(()) => match &self.core.closing {
                None => self.core.puller = Some(Puller::Socket(output)),
                Some(reason) => {
                    let info = self.logic.close_info(reason);
                    if *reason == DisconnectReason::Overflow {
                        // The client does not keep up: it gets the close, not the backlog.
                        output.close_now(info.code, &info.reason);
                    } else {
                        if let Some(text) = &info.farewell {
                            let _ = output.send(&[Frame::Text(text.as_str().into())]);
                        }
                        output.close(info.code, &info.reason);
                    }
                    ctx.stop();
                }
            },
            Err(WriteError::Gone) => {
                self.core.outbox.clear();
                if self.core.closing.is_none() {
                    self.logic.on_abandoned_pull(&mut self.core);
                    self.settle(ctx);
                }
                ctx.stop();
            }
            Err(WriteError::Overflow) => {
                self.core.hub.overflow_of(&self.core.id);
                self.core.close(DisconnectReason::Overflow);
                self.core.puller = Some(Puller::Socket(output));
                self.settle(ctx);
            }
            Err(WriteError::Stalled) => {
                tracing::debug!(session = %self.core.id, "websocket write timed out");
                self.core
                    .close(DisconnectReason::TransportError("write timeout".into()));
                if let Some(reason) = &self.core.closing {
                    let info = self.logic.close_info(reason);
                    output.close_now(info.code, &info.reason);
                }
                self.core.outbox.clear();
                self.settle(ctx);
                ctx.stop();
            }
        }
    }

    fn start_keepalive(&mut self, ctx: &mut Context<Self>) {
        match self.logic.keepalive() {
            None => {}
            Some(Keepalive::Ping {
                frame,
                interval,
                timeout,
            }) => {
                let started = Instant::now();
                let mut pings = 0u32;
                ctx.run_interval(interval, move |act, ctx| {
                    // Timed from the schedule, not from a timer that may fire late.
                    pings = pings.saturating_add(1);
                    let sent_at = (started + interval * pings).min(Instant::now());
                    act.core.ping_wait = timeout.map(|timeout| (sent_at, timeout));
                    act.core.send(frame.clone());
                    act.settle(ctx);
                    if let Some(timeout) = timeout {
                        ctx.run_later(timeout, move |act, ctx| {
                            if act.core.last_seen < sent_at {
                                act.core.close(DisconnectReason::PingTimeout);
                                act.settle(ctx);
                            }
                        });
                    }
                });
            }
            Some(Keepalive::Silence { limit }) => {
                self.core.silence_limit = Some(limit);
                // Checked four times per limit: a silent client goes within 1.25 × limit.
                ctx.run_interval(limit / 4, move |act, ctx| {
                    if act.core.last_seen.elapsed() >= limit {
                        act.core.close(DisconnectReason::PingTimeout);
                        act.settle(ctx);
                    }
                });
            }
        }
    }
}

impl<L: SessionLogic> Actor for SessionActor<L> {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Context<Self>) {
        if self.core.closed_reported {
            // Refused by the hub (full): nothing to run.
            ctx.stop();
            return;
        }
        tracing::debug!(
            session = %self.core.id,
            user = self.core.user.as_ref().map(|u| u.id()),
            protocol = %self.core.protocol,
            "session opened"
        );
        self.logic.on_open(&mut self.core);
        self.start_keepalive(ctx);
        self.settle(ctx);
    }

    fn stopped(&mut self, ctx: &mut Context<Self>) {
        if self.core.closing.is_none() {
            self.core.close(DisconnectReason::TransportClosed);
        }
        self.settle(ctx);
        if std::mem::take(&mut self.core.counted_closing) {
            self.core.hub.closed();
        }
        self.logic.on_stopped();
    }
}

impl<L: SessionLogic> Handler<SessionCommand> for SessionActor<L> {
    type Result = ();

    fn handle(&mut self, cmd: SessionCommand, ctx: &mut Context<Self>) {
        match cmd {
            SessionCommand::Drain => {
                let mut drained = std::mem::take(&mut self.core.drained);
                self.core.mailbox.inbox.take_into(&mut drained);
                for (to, message) in drained.drain(..) {
                    let replayed = message.offset().is_some_and(|offset| {
                        self.core
                            .replayed_through
                            .get(&to)
                            .is_some_and(|through| offset <= *through)
                    });
                    // A volatile message skips a recipient that is not ready to write.
                    let skipped = message.is_volatile() && !self.core.writable();
                    if self.core.closing.is_none() && !replayed && !skipped {
                        self.logic.on_deliver(&to, message, &mut self.core);
                    }
                }
                // Kept for the next drain, unless a burst made it big.
                if drained.capacity() <= KEPT_DRAIN_CAPACITY {
                    self.core.drained = drained;
                }
                // Broadcasts wait for the thread's next flush; answers to the client do not.
                self.core.batch_writes = true;
            }
            SessionCommand::Close(reason) => self.core.close(reason),
            SessionCommand::Later(crate::hub::Later(work)) => {
                if self.core.closing.is_none() {
                    work(&mut self.logic, &mut self.core);
                }
            }
        }
        self.settle(ctx);
        self.core.batch_writes = false;
    }
}

impl<L: SessionLogic> Handler<AttachSocket> for SessionActor<L> {
    type Result = ();

    fn handle(&mut self, AttachSocket(output): AttachSocket, ctx: &mut Context<Self>) {
        self.core.attach_socket(output);
        self.settle(ctx);
    }
}

impl<L: SessionLogic> SessionActor<L> {
    /// Handles one client event; false when the session is gone for good (stopped).
    fn on_transport(&mut self, event: TransportEvent, ctx: &mut Context<Self>) -> bool {
        self.core.last_seen = Instant::now();
        match event {
            TransportEvent::Text(text) => {
                if self.core.closing.is_none() {
                    self.logic.on_text(text, &mut self.core);
                }
            }
            TransportEvent::Binary(data) => {
                if self.core.closing.is_none() {
                    self.logic.on_binary(data, &mut self.core);
                }
            }
            TransportEvent::Pong => {}
            TransportEvent::ClientClose => self.core.close(DisconnectReason::ClientClosed),
            TransportEvent::Gone => {
                self.core.close(DisconnectReason::TransportClosed);
                self.settle(ctx);
                ctx.stop();
                return false;
            }
            TransportEvent::Error(reason) => self.core.close(reason),
        }
        true
    }
}

impl<L: SessionLogic> Handler<TransportEvent> for SessionActor<L> {
    type Result = ();

    fn handle(&mut self, event: TransportEvent, ctx: &mut Context<Self>) {
        if self.on_transport(event, ctx) {
            self.settle(ctx);
        }
    }
}

impl<L: SessionLogic> Handler<TransportEvents> for SessionActor<L> {
    type Result = ();

    fn handle(&mut self, TransportEvents(events): TransportEvents, ctx: &mut Context<Self>) {
        // What the client's messages broadcast to one room reaches each member in one push.
        let held = self.core.hub.hold_broadcasts();
        for event in events {
            if !self.on_transport(event, ctx) {
                return;
            }
        }
        drop(held);
        self.settle(ctx);
    }
}

/// Runs a closure on a session's logic and core inside the actor (protocol-specific requests
/// such as a long-poll or an upgrade step), then hands frames to a waiting transport.
pub(crate) struct Invoke<L, R>(pub InvokeFn<L, R>);

/// The closure an [`Invoke`] runs.
pub(crate) type InvokeFn<L, R> = Box<dyn FnOnce(&mut L, &mut SessionCore) -> R + Send>;

impl<L: 'static, R: 'static> ActixMessage for Invoke<L, R> {
    type Result = R;
}

impl<L: SessionLogic, R: 'static> Handler<Invoke<L, R>> for SessionActor<L> {
    type Result = actix::MessageResult<Invoke<L, R>>;

    fn handle(&mut self, Invoke(f): Invoke<L, R>, ctx: &mut Context<Self>) -> Self::Result {
        let result = f(&mut self.logic, &mut self.core);
        self.settle(ctx);
        actix::MessageResult(result)
    }
}
