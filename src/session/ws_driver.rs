//! Accepts a WebSocket for a session and reads it: client frames go to the actor as
//! [`TransportEvent`]s; what the actor sends goes through a [`WsOutput`] straight into the
//! response body. Used by every protocol that runs over WebSocket.

use std::time::Duration;

use actix::{Addr, Recipient};
use actix_web::{web, HttpRequest, HttpResponse};
use actix_ws::{AggregatedMessage, AggregatedMessageStream, MessageStream, ProtocolError};

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

/// An accepted WebSocket, not yet handed to a session.
pub struct WsConnection {
    output: WsOutput,
    stream: AggregatedMessageStream,
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
    let (head, actix_body) = response.into_parts();
    let response = head
        .set_body(body.keeping(actix_body))
        .map_into_boxed_body();
    let stream = limited_stream(stream, limits);
    Ok((response, WsConnection { output, stream }))
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

    /// Hands the connection to a session actor: the actor writes to it from now on, and a
    /// background task feeds it the client's messages until the connection ends.
    pub fn run<A>(self, addr: Addr<A>)
    where
        A: actix::Actor<Context = actix::Context<A>>
            + actix::Handler<AttachSocket>
            + actix::Handler<TransportEvent>,
    {
        addr.do_send(AttachSocket(self.output.clone()));
        actix_web::rt::spawn(read_websocket(self.stream, self.output, addr.recipient()));
    }
}

/// Feeds a WebSocket's messages to its session until the connection ends; answers pings.
async fn read_websocket(
    mut stream: AggregatedMessageStream,
    output: WsOutput,
    events: Recipient<TransportEvent>,
) {
    let mut forwarding = true;
    while let Some(incoming) = stream.recv().await {
        if !forwarding {
            // After a close or an error: drain until the connection ends.
            continue;
        }
        let event = match incoming {
            Ok(AggregatedMessage::Text(text)) => TransportEvent::Text(text),
            Ok(AggregatedMessage::Binary(data)) => TransportEvent::Binary(data),
            Ok(AggregatedMessage::Ping(data)) => match output.pong(&data) {
                Ok(()) => TransportEvent::Pong,
                Err(_) => TransportEvent::Gone,
            },
            Ok(AggregatedMessage::Pong(_)) => TransportEvent::Pong,
            Ok(AggregatedMessage::Close(_)) => TransportEvent::ClientClose,
            Err(error) => {
                tracing::debug!(%error, "websocket protocol error");
                TransportEvent::Error(reason_of(&error))
            }
        };
        forwarding = matches!(
            event,
            TransportEvent::Text(_) | TransportEvent::Binary(_) | TransportEvent::Pong
        );
        if events.send(event).await.is_err() {
            return;
        }
    }
    let _ = events.send(TransportEvent::Gone).await;
}
