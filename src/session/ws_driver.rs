//! Accepts a WebSocket for a session and reads it: client frames go to the actor as
//! [`TransportEvent`]s; what the actor sends goes through a [`WsOutput`] straight into the
//! response body. Used by every protocol that runs over WebSocket.
//!
//! Neither side has a task of its own: the response body, polled by the connection, both reads
//! (a [`Reader`] it holds) and writes.

use std::cell::RefCell;
use std::future::{poll_fn, Future};
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll};
use std::time::Duration;

use actix::dev::RecipientRequest;
use actix::{Addr, Recipient};
use actix_web::{dev, web, FromRequest, HttpRequest, HttpResponse};
use bytes::BytesMut;
use futures_util::{FutureExt, Stream};

use super::ws_frame::{FrameDecoder, FrameError, Incoming};
use super::ws_output::WsOutput;
use super::{AttachSocket, TransportEvent, TransportEvents};
use crate::config::defaults;
use crate::hub::DisconnectReason;

/// Bytes an accepted WebSocket may queue before a session takes it over (a probe answer, pongs).
const UNATTACHED_LIMIT: usize = 64 * 1024;

/// Limits of one WebSocket connection.
#[derive(Debug, Clone)]
pub(crate) struct WsLimits {
    /// Largest message accepted from the client, in bytes (after joining continuations).
    pub max_message_size: usize,
    /// Longest queued frames may wait for the client to read them before the connection is
    /// dropped.
    pub write_timeout: Duration,
}

impl Default for WsLimits {
    fn default() -> Self {
        WsLimits {
            max_message_size: defaults::MAX_MESSAGE_SIZE,
            write_timeout: Duration::from_millis(defaults::WRITE_TIMEOUT_MS),
        }
    }
}

/// How a session ends when its client breaks the framing.
fn reason_of(error: &FrameError) -> DisconnectReason {
    match error {
        FrameError::TooBig => DisconnectReason::MessageTooBig,
        other => DisconnectReason::TransportError(other.to_string()),
    }
}

/// The client's messages: the request payload through a [`FrameDecoder`]. Reads only as much
/// as the frame being decoded needs, so at most one frame (within the limit) is buffered.
pub(super) struct MessageReader {
    payload: dev::Payload,
    buf: BytesMut,
    decoder: FrameDecoder,
    /// The connection ended or the client broke the framing: nothing more comes.
    ended: bool,
    /// The client has sent something: it is past its `open`, listening for messages.
    heard: bool,
}

impl MessageReader {
    fn new(payload: dev::Payload, max_message_size: usize) -> MessageReader {
        MessageReader {
            payload,
            buf: BytesMut::new(),
            decoder: FrameDecoder::new(max_message_size),
            ended: false,
            heard: false,
        }
    }

    /// The next message; `None` once the connection has ended. After an error, only `None`.
    fn poll_next(&mut self, cx: &mut Context<'_>) -> Poll<Option<Result<Incoming, FrameError>>> {
        loop {
            if self.ended {
                return Poll::Ready(None);
            }
            match self.decoder.decode(&mut self.buf) {
                Ok(Some(incoming)) => return Poll::Ready(Some(Ok(incoming))),
                Ok(None) => {}
                Err(error) => {
                    self.end();
                    return Poll::Ready(Some(Err(error)));
                }
            }
            match Pin::new(&mut self.payload).poll_next(cx) {
                Poll::Pending => return Poll::Pending,
                Poll::Ready(Some(Ok(chunk))) => {
                    self.heard = true;
                    // Grown by what arrives, never by what a header claims: a header alone
                    // reserves nothing.
                    if self.buf.is_empty() {
                        self.buf = BytesMut::from(chunk);
                    } else {
                        self.buf.extend_from_slice(&chunk);
                    }
                }
                Poll::Ready(Some(Err(_))) | Poll::Ready(None) => self.end(),
            }
        }
    }

    fn end(&mut self) {
        self.ended = true;
        self.buf = BytesMut::new();
        self.payload = dev::Payload::None;
    }
}

/// Closes the connection for a client that broke the framing, with the code the error calls
/// for (1002, 1007 or 1009) and its message as the reason.
fn refuse(output: &WsOutput, error: &FrameError) {
    tracing::debug!(%error, code = error.close_code(), "websocket frame refused");
    output.close(error.close_code(), &error.to_string());
}

/// Where the response body finds its [`Reader`] once a session takes the connection.
pub(super) type ReaderSlot = Rc<RefCell<Option<Reader>>>;

/// An accepted WebSocket, not yet handed to a session.
pub(crate) struct WsConnection {
    output: WsOutput,
    messages: MessageReader,
    reader: ReaderSlot,
}

/// Whether a request asks to become a WebSocket: `Upgrade: websocket` and `Connection:` with
/// `upgrade` among its tokens (the handshake's other checks are [`accept_websocket`]'s).
pub(crate) fn is_websocket_upgrade(req: &HttpRequest) -> bool {
    let header = |name| {
        req.headers()
            .get(name)
            .and_then(|v: &actix_web::http::header::HeaderValue| v.to_str().ok())
    };
    let upgrade = header(actix_web::http::header::UPGRADE)
        .is_some_and(|v| v.trim().eq_ignore_ascii_case("websocket"));
    let connection = header(actix_web::http::header::CONNECTION).is_some_and(|v| {
        v.split(',')
            .any(|token| token.trim().eq_ignore_ascii_case("upgrade"))
    });
    upgrade && connection
}

/// Accepts a WebSocket handshake: the `101` response to return, and the connection behind it.
pub(crate) fn accept_websocket(
    req: &HttpRequest,
    payload: web::Payload,
    limits: &WsLimits,
) -> Result<(HttpResponse, WsConnection), actix_web::Error> {
    // actix-ws checks the handshake and makes the 101. It is given no payload: the client's
    // frames are read with our decoder, which refuses a frame on its header (actix-ws's reader
    // buffers a whole frame before it checks its size), and the response body is ours.
    let nothing = web::Payload::from_request(req, &mut dev::Payload::None)
        .now_or_never()
        .expect("a payload extractor is ready at once")?;
    let (response, _session, _stream) = actix_ws::handle(req, nothing)?;
    // Handlers run on the worker's event loop: its flusher batches the writes of every
    // WebSocket on this thread.
    super::write_batch::start();
    let (output, body) = WsOutput::new(UNATTACHED_LIMIT, limits.write_timeout);
    let reader = ReaderSlot::default();
    let (head, _actix_body) = response.into_parts();
    let response = head
        .set_body(body.reading(reader.clone()))
        .map_into_boxed_body();
    Ok((
        response,
        WsConnection {
            output,
            messages: MessageReader::new(payload.into_inner(), limits.max_message_size),
            reader,
        },
    ))
}

impl WsConnection {
    /// Where frames for the client go.
    pub(crate) fn output(&self) -> &WsOutput {
        &self.output
    }

    /// The client's next message (before the connection is handed to a session); `None` once
    /// the connection has ended or the client broke the framing (then the close is written).
    pub(crate) async fn recv(&mut self) -> Option<Incoming> {
        match poll_fn(|cx| self.messages.poll_next(cx)).await? {
            Ok(incoming) => Some(incoming),
            Err(error) => {
                refuse(&self.output, &error);
                None
            }
        }
    }

    /// Hands the connection to a session actor: the actor writes to it from now on, and the
    /// response body feeds it the client's messages until the connection ends.
    pub(crate) fn run<A>(self, addr: Addr<A>)
    where
        A: actix::Actor<Context = actix::Context<A>>
            + actix::Handler<AttachSocket>
            + actix::Handler<TransportEvents>,
    {
        addr.do_send(AttachSocket(self.output.clone()));
        *self.reader.borrow_mut() = Some(Reader {
            messages: self.messages,
            output: self.output.clone(),
            events: addr.recipient(),
            in_flight: None,
        });
        // The body may be waiting with nothing to write: have it start reading.
        self.output.wake_body();
    }
}

/// Most client messages handed to the session at once.
const BATCH_MESSAGES: usize = 64;
/// A batch is handed over once its messages add up to this many bytes.
const BATCH_BYTES: usize = 64 * 1024;

/// Feeds a WebSocket's messages to its session, a batch at a time: every message that can be
/// read now (up to [`BATCH_MESSAGES`] or [`BATCH_BYTES`]) goes in one actor message, and the next
/// batch is read once the actor has handled it. So a client that sends many messages (a publisher
/// with many in flight) has them handled in one turn, and what they broadcast reaches each
/// recipient together. Answers pings. Polled by the response body.
pub(super) struct Reader {
    messages: MessageReader,
    output: WsOutput,
    events: Recipient<TransportEvents>,
    /// The batch the actor is handling.
    in_flight: Option<Pin<Box<RecipientRequest<TransportEvents>>>>,
}

/// What a reader does with one message.
enum Next {
    /// Hand it to the session and read on.
    Forward(TransportEvent),
    /// Tell the session and stop reading: nothing after it counts.
    Last(TransportEvent),
}

impl Reader {
    fn next_of(&self, incoming: Result<Incoming, FrameError>) -> Next {
        match incoming {
            Ok(Incoming::Text(text)) => Next::Forward(TransportEvent::Text(text)),
            Ok(Incoming::Binary(data)) => Next::Forward(TransportEvent::Binary(data)),
            Ok(Incoming::Ping(data)) => match self.output.pong(&data) {
                Ok(()) => Next::Forward(TransportEvent::Pong),
                Err(_) => Next::Last(TransportEvent::Gone),
            },
            Ok(Incoming::Pong) => Next::Forward(TransportEvent::Pong),
            Ok(Incoming::Close(_)) => Next::Last(TransportEvent::ClientClose),
            Err(error) => {
                refuse(&self.output, &error);
                Next::Last(TransportEvent::Error(reason_of(&error)))
            }
        }
    }

    /// Forwards what the client sent. Ready when the reading is over (the connection ended, the
    /// client closed or broke the framing, or the session is gone).
    pub(super) fn poll(&mut self, cx: &mut Context<'_>) -> Poll<()> {
        loop {
            if let Some(request) = self.in_flight.as_mut() {
                match request.as_mut().poll(cx) {
                    Poll::Pending => return Poll::Pending,
                    Poll::Ready(Ok(())) => self.in_flight = None,
                    Poll::Ready(Err(_)) => return Poll::Ready(()),
                }
            }
            let mut batch = Vec::new();
            let mut bytes = 0;
            let mut over = false;
            while batch.len() < BATCH_MESSAGES && bytes < BATCH_BYTES {
                let incoming = match self.messages.poll_next(cx) {
                    Poll::Pending => break,
                    Poll::Ready(None) => {
                        batch.push(TransportEvent::Gone);
                        over = true;
                        break;
                    }
                    Poll::Ready(Some(incoming)) => incoming,
                };
                match self.next_of(incoming) {
                    Next::Forward(event) => {
                        bytes += match &event {
                            TransportEvent::Text(text) => text.len(),
                            TransportEvent::Binary(data) => data.len(),
                            _ => 0,
                        };
                        batch.push(event);
                    }
                    Next::Last(event) => {
                        batch.push(event);
                        over = true;
                        break;
                    }
                }
            }
            if over {
                // Nothing after it counts: handed over without waiting.
                self.events.do_send(TransportEvents(batch));
                return Poll::Ready(());
            }
            if batch.is_empty() {
                return Poll::Pending;
            }
            self.in_flight = Some(Box::pin(self.events.send(TransportEvents(batch))));
        }
    }

    /// Whether the client has sent anything yet.
    pub(super) fn heard_from_client(&self) -> bool {
        self.messages.heard
    }

    /// Tells the session its connection has ended.
    pub(super) fn connection_ended(&self) {
        self.events
            .do_send(TransportEvents(vec![TransportEvent::Gone]));
    }
}
