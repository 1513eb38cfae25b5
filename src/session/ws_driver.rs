//! Drives one WebSocket connection for a session: reads client frames into the actor, pulls frames
//! from the actor and writes them. Used by every protocol that runs over WebSocket.

use std::time::Duration;

use actix::Recipient;
use actix_ws::{
    AggregatedMessage, AggregatedMessageStream, CloseCode, CloseReason, MessageStream,
    ProtocolError,
};
use tokio::sync::oneshot;
use tokio::time::timeout;

use super::{CloseInfo, Pull, Pulled, TransportEvent};
use crate::hub::{DisconnectReason, Frame};

/// Limits of one WebSocket connection.
#[derive(Debug, Clone)]
pub struct WsLimits {
    /// Largest message accepted from the client, in bytes (after joining continuations).
    pub max_message_size: usize,
    /// Longest a write may wait for the client before the connection is dropped.
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

fn request(pull: &Recipient<Pull>) -> oneshot::Receiver<Pulled> {
    let (tx, rx) = oneshot::channel();
    pull.do_send(Pull(tx));
    rx
}

async fn write(ws: &mut actix_ws::Session, frame: Frame) -> Result<(), actix_ws::Closed> {
    match frame {
        Frame::Text(text) => ws.text(text).await,
        Frame::Binary(data) => ws.binary(data).await,
        Frame::Ping => ws.ping(b"").await,
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

/// Runs a WebSocket for a session until either side closes it.
pub async fn drive_websocket(
    mut ws: actix_ws::Session,
    mut stream: AggregatedMessageStream,
    pull: Recipient<Pull>,
    events: Recipient<TransportEvent>,
    limits: WsLimits,
) {
    let mut reading = true;
    let mut pending = request(&pull);
    loop {
        tokio::select! {
            pulled = &mut pending => {
                let Ok(pulled) = pulled else { return };
                // One deadline for the whole batch (a timer per frame costs more than the write).
                let frames = pulled.frames;
                let written = timeout(limits.write_timeout, async {
                    for frame in frames {
                        write(&mut ws, frame).await?;
                    }
                    Ok::<(), actix_ws::Closed>(())
                })
                .await;
                if !matches!(written, Ok(Ok(()))) {
                    events.do_send(TransportEvent::Gone);
                    return;
                }
                if let Some(CloseInfo { code, reason, farewell, .. }) = pulled.close {
                    if let Some(text) = farewell {
                        let _ = timeout(limits.write_timeout, ws.text(text)).await;
                    }
                    let close = CloseReason { code: CloseCode::from(code), description: Some(reason) };
                    let _ = timeout(limits.write_timeout, ws.close(Some(close))).await;
                    return;
                }
                pending = request(&pull);
            }
            incoming = stream.recv(), if reading => {
                let event = match incoming {
                    None => {
                        events.do_send(TransportEvent::Gone);
                        return;
                    }
                    Some(Ok(AggregatedMessage::Text(text))) => TransportEvent::Text(text),
                    Some(Ok(AggregatedMessage::Binary(data))) => TransportEvent::Binary(data),
                    Some(Ok(AggregatedMessage::Ping(data))) => {
                        if !matches!(timeout(limits.write_timeout, ws.pong(&data)).await, Ok(Ok(()))) {
                            events.do_send(TransportEvent::Gone);
                            return;
                        }
                        TransportEvent::Pong
                    }
                    Some(Ok(AggregatedMessage::Pong(_))) => TransportEvent::Pong,
                    Some(Ok(AggregatedMessage::Close(_))) => {
                        reading = false;
                        TransportEvent::ClientClose
                    }
                    Some(Err(error)) => {
                        tracing::debug!(%error, "websocket protocol error");
                        reading = false;
                        TransportEvent::Error(reason_of(&error))
                    }
                };
                if events.send(event).await.is_err() {
                    return;
                }
            }
        }
    }
}

/// Runs a WebSocket for a session actor in the background: limits the client's messages, feeds
/// them to the actor and writes what it pulls.
pub fn spawn_websocket<A>(
    ws: actix_ws::Session,
    stream: MessageStream,
    addr: actix::Addr<A>,
    limits: WsLimits,
) where
    A: actix::Actor<Context = actix::Context<A>>
        + actix::Handler<Pull>
        + actix::Handler<TransportEvent>,
{
    let stream = limited_stream(stream, &limits);
    actix_web::rt::spawn(drive_websocket(
        ws,
        stream,
        addr.clone().recipient(),
        addr.recipient(),
        limits,
    ));
}
