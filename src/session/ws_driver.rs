//! Accepts a WebSocket for a session and reads it: client frames go to the actor as
//! [`TransportEvent`]s; what the actor sends goes through a [`WsOutput`] straight into the
//! response body. Used by every protocol that runs over WebSocket.
//!
//! Neither side has a task of its own: the response body, polled by the connection, both reads
//! (a [`Reader`] it holds) and writes.

use std::cell::RefCell;
use std::future::Future;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll};
use std::time::Duration;

use actix::dev::RecipientRequest;
use actix::{Addr, Recipient};
use actix_web::{web, HttpRequest, HttpResponse};
use actix_ws::{AggregatedMessage, AggregatedMessageStream, MessageStream, ProtocolError};
use futures_util::Stream;

use super::ws_output::WsOutput;
use super::{AttachSocket, TransportEvent};
use crate::hub::DisconnectReason;

/// Frames an accepted WebSocket may queue before a session takes it over (a probe answer, pongs).
const UNATTACHED_LIMIT: usize = 64;

/// Limits of one WebSocket connection.
#[derive(Debug, Clone)]
pub struct WsLimits {
    /// Largest message accepted from the client, in bytes (after joining continuations).
    pub max_message_size: usize,
    /// Longest queued frames may wait for the client to read them before the connection is
    /// dropped.
    pub write_timeout: Duration,
}

impl Default for WsLimits {
    fn default() -> Self {
        WsLimits {
            max_message_size: 1_000_000,
            write_timeout: Duration::from_secs(10),
        }
    }
}

fn reason_of(error: &ProtocolError) -> DisconnectReason {
    match error {
        ProtocolError::Overflow => DisconnectReason::MessageTooBig,
        ProtocolError::Io(_) => DisconnectReason::TransportClosed,
        other => DisconnectReason::TransportError(other.to_string()),
    }
}

/// A WebSocket's incoming messages, continuations joined, within the size limit.
pub fn limited_stream(stream: MessageStream, limits: &WsLimits) -> AggregatedMessageStream {
    stream
        .max_frame_size(limits.max_message_size)
        .aggregate_continuations()
        .max_continuation_size(limits.max_message_size)
}

/// Where the response body finds its [`Reader`] once a session takes the connection.
pub(super) type ReaderSlot = Rc<RefCell<Option<Reader>>>;

/// An accepted WebSocket, not yet handed to a session.
pub struct WsConnection {
    output: WsOutput,
    stream: AggregatedMessageStream,
    reader: ReaderSlot,
}

/// Accepts a WebSocket handshake: the `101` response to return, and the connection behind it.
pub fn accept_websocket(
    req: &HttpRequest,
    body: web::Payload,
    limits: &WsLimits,
) -> Result<(HttpResponse, WsConnection), actix_web::Error> {
    // actix-ws does the handshake and parses the client's frames; the body it made is kept (its
    // drop ends the message stream) and ours writes.
    let (response, _session, stream) = actix_ws::handle(req, body)?;
    let (output, body) = WsOutput::new(UNATTACHED_LIMIT, limits.write_timeout);
    let reader = ReaderSlot::default();
    let (head, actix_body) = response.into_parts();
    let response = head
        .set_body(body.keeping(actix_body).reading(reader.clone()))
        .map_into_boxed_body();
    let stream = limited_stream(stream, limits);
    Ok((
        response,
        WsConnection {
            output,
            stream,
            reader,
        },
    ))
}

impl WsConnection {
    /// Where frames for the client go.
    pub fn output(&self) -> &WsOutput {
        &self.output
    }

    /// The client's next message (before the connection is handed to a session).
    pub async fn recv(&mut self) -> Option<Result<AggregatedMessage, ProtocolError>> {
        self.stream.recv().await
    }

    /// Hands the connection to a session actor: the actor writes to it from now on, and the
    /// response body feeds it the client's messages until the connection ends.
    pub fn run<A>(self, addr: Addr<A>)
    where
        A: actix::Actor<Context = actix::Context<A>>
            + actix::Handler<AttachSocket>
            + actix::Handler<TransportEvent>,
    {
        addr.do_send(AttachSocket(self.output.clone()));
        *self.reader.borrow_mut() = Some(Reader {
            stream: self.stream,
            output: self.output.clone(),
            events: addr.recipient(),
            in_flight: None,
            forwarding: true,
        });
        // The body may be waiting with nothing to write: have it start reading.
        self.output.wake_body();
    }
}

/// Feeds a WebSocket's messages to its session, one at a time (the next is read once the actor
/// has handled the last), and answers pings. Polled by the response body.
pub(super) struct Reader {
    stream: AggregatedMessageStream,
    output: WsOutput,
    events: Recipient<TransportEvent>,
    /// The message the actor is handling.
    in_flight: Option<Pin<Box<RecipientRequest<TransportEvent>>>>,
    /// False after a close or an error: what follows is read and dropped.
    forwarding: bool,
}

impl Reader {
    fn event_of(&self, incoming: Result<AggregatedMessage, ProtocolError>) -> TransportEvent {
        match incoming {
            Ok(AggregatedMessage::Text(text)) => TransportEvent::Text(text),
            Ok(AggregatedMessage::Binary(data)) => TransportEvent::Binary(data),
            Ok(AggregatedMessage::Ping(data)) => match self.output.pong(&data) {
                Ok(()) => TransportEvent::Pong,
                Err(_) => TransportEvent::Gone,
            },
            Ok(AggregatedMessage::Pong(_)) => TransportEvent::Pong,
            Ok(AggregatedMessage::Close(_)) => TransportEvent::ClientClose,
            Err(error) => {
                tracing::debug!(%error, "websocket protocol error");
                TransportEvent::Error(reason_of(&error))
            }
        }
    }

    /// Forwards what the client sent. Ready when the reading is over (the connection ended or
    /// the session is gone).
    pub(super) fn poll(&mut self, cx: &mut Context<'_>) -> Poll<()> {
        loop {
            if let Some(request) = self.in_flight.as_mut() {
                match request.as_mut().poll(cx) {
                    Poll::Pending => return Poll::Pending,
                    Poll::Ready(Ok(())) => self.in_flight = None,
                    Poll::Ready(Err(_)) => return Poll::Ready(()),
                }
            }
            let incoming = match Pin::new(&mut self.stream).poll_next(cx) {
                Poll::Pending => return Poll::Pending,
                Poll::Ready(None) => {
                    self.connection_ended();
                    return Poll::Ready(());
                }
                Poll::Ready(Some(incoming)) => incoming,
            };
            if !self.forwarding {
                continue;
            }
            let event = self.event_of(incoming);
            self.forwarding = matches!(
                event,
                TransportEvent::Text(_) | TransportEvent::Binary(_) | TransportEvent::Pong
            );
            self.in_flight = Some(Box::pin(self.events.send(event)));
        }
    }

    /// Tells the session its connection has ended.
    pub(super) fn connection_ended(&self) {
        self.events.do_send(TransportEvent::Gone);
    }
}
