//! WebSocket connections outside actix-http's HTTP/1 dispatcher.
//!
//! The dispatcher keeps an 8 KiB read buffer and an 8 KiB write buffer for every connection for as
//! long as it lives: two thirds of an idle WebSocket's memory. For requests that ask for an
//! upgrade, actix-http can hand the connection to an *upgrade service* instead; this is ours. It
//! runs the request through the same actix-web application (so routing, handlers and handshakes
//! are unchanged), writes the response head itself, and then moves bytes between the socket and
//! the response body / request payload with no buffer of its own while idle: reads land in a
//! stack buffer and are copied out, writes go straight from the body's chunks.
//!
//! Responses other than `101 Switching Protocols` are written whole and the connection is
//! closed (a client that asked to upgrade and was refused does not reuse it).

use std::cell::RefCell;
use std::collections::VecDeque;
use std::future::{poll_fn, Future};
use std::io;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use actix_codec::{Encoder, Framed, FramedParts};
use actix_http::body::{BoxBody, MessageBody};
use actix_http::error::PayloadError;
use actix_http::h1::{Codec, Message};
use actix_http::{Payload, Request, Response, StatusCode};
use actix_web::dev::{AppConfig, Service, ServiceFactory, ServiceResponse};
use bytes::{Buf, Bytes, BytesMut};
use futures_util::Stream;
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt, ReadBuf};

use crate::connection::Connection;

/// Bytes read from the client and not yet taken by the application before reading pauses.
const MAX_UNREAD: usize = 32 * 1024;

/// Size of one read from the socket (on the stack, copied out at the size actually read).
const READ_CHUNK: usize = 8 * 1024;

/// The deadlines of upgraded connections.
#[derive(Debug, Clone, Copy)]
pub(crate) struct UpgradeTimeouts {
    /// Longest the final write of a refused upgrade (or a closing connection) may take (the
    /// write timeout).
    pub final_write: Duration,
    /// Longest a write to an upgraded connection may make no progress before the connection is
    /// dropped (sessions close a client that stops reading sooner, after their write timeout;
    /// this frees the socket of one that keeps its TCP window shut).
    pub write_stall: Duration,
}

#[derive(Default)]
struct Inbound {
    chunks: VecDeque<Bytes>,
    len: usize,
    eof: bool,
    error: Option<io::Error>,
    /// The application waiting for data.
    reader: Option<Waker>,
    /// The connection waiting for room to read more.
    pump: Option<Waker>,
    /// The application dropped the payload: what arrives is discarded.
    dropped: bool,
}

/// The request payload the application reads: what the connection feeds it.
struct InboundStream(Rc<RefCell<Inbound>>);

impl Stream for InboundStream {
    type Item = Result<Bytes, PayloadError>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let mut inbound = self.0.borrow_mut();
        if let Some(chunk) = inbound.chunks.pop_front() {
            inbound.len -= chunk.len();
            if inbound.chunks.is_empty() {
                // An idle connection keeps no queue (it held one or two chunks at a time).
                inbound.chunks = VecDeque::new();
            }
            if let Some(pump) = inbound.pump.take() {
                pump.wake();
            }
            return Poll::Ready(Some(Ok(chunk)));
        }
        if let Some(error) = inbound.error.take() {
            return Poll::Ready(Some(Err(PayloadError::Io(error))));
        }
        if inbound.eof {
            return Poll::Ready(None);
        }
        inbound.reader = Some(cx.waker().clone());
        Poll::Pending
    }
}

impl Drop for InboundStream {
    fn drop(&mut self) {
        let mut inbound = self.0.borrow_mut();
        inbound.dropped = true;
        inbound.chunks.clear();
        inbound.len = 0;
        if let Some(pump) = inbound.pump.take() {
            pump.wake();
        }
    }
}

impl Inbound {
    fn push(&mut self, chunk: Bytes) {
        if !self.dropped {
            self.len += chunk.len();
            self.chunks.push_back(chunk);
        }
        self.wake_reader();
    }

    fn end(&mut self, error: Option<io::Error>) {
        self.eof = true;
        self.error = error;
        self.wake_reader();
    }

    fn wake_reader(&mut self) {
        if let Some(reader) = self.reader.take() {
            reader.wake();
        }
    }
}

/// Answers one upgrade request on `framed`'s connection with `app`, then serves the upgraded
/// connection until either side ends it.
pub(crate) async fn serve<S, B>(
    app: Rc<S>,
    req: Request,
    framed: Framed<Connection, Codec>,
    timeouts: UpgradeTimeouts,
) where
    S: Service<Request, Response = ServiceResponse<B>, Error = actix_web::Error>,
    B: MessageBody + 'static,
{
    tracing::trace!(path = req.path(), "upgrade request");
    let FramedParts {
        mut io,
        mut codec,
        read_buf,
        write_buf,
        ..
    } = framed.into_parts();
    // The dispatcher's buffers go now; only what they held is kept.
    drop(write_buf);
    let inbound = Rc::new(RefCell::new(Inbound::default()));
    if !read_buf.is_empty() {
        // Bytes the client sent right behind its request head.
        inbound.borrow_mut().push(Bytes::copy_from_slice(&read_buf));
    }
    drop(read_buf);
    let payload: Payload = Payload::Stream {
        payload: Box::pin(InboundStream(inbound.clone())),
    };
    // Only a WebSocket handshake is followed by the client's stream. Any other request that came
    // here (`Connection: Upgrade` to h2c, say, without a length) has no body: reading the
    // connection for one would wait out the body timeout.
    let payload = if is_websocket(&req) {
        payload
    } else {
        Payload::None
    };
    let (req, _) = req.replace_payload(payload);
    // Boxed, so that this future (alive as long as the connection) does not carry the room the
    // application's future needs.
    let response: Response<BoxBody> = match Box::pin(app.call(req)).await {
        Ok(response) => response.into_parts().1.map_into_boxed_body().into(),
        Err(error) => error.error_response().into(),
    };
    let status = response.status();
    let (head, body) = response.into_parts();
    let mut head_bytes = BytesMut::new();
    if let Err(error) = codec.encode(Message::Item((head, body.size())), &mut head_bytes) {
        tracing::debug!(%error, "upgrade: cannot encode the response head");
        return;
    }
    if status != StatusCode::SWITCHING_PROTOCOLS {
        refuse(io, codec, head_bytes, body, timeouts.final_write).await;
        return;
    }
    // What the client sends from now on is not HTTP.
    io.stop_watching();
    if io.write_all(&head_bytes).await.is_err() {
        return;
    }
    // The connection goes on in a task of its own: the dispatcher's task (and its state, a few
    // KiB) ends here.
    actix_web::rt::spawn(async move {
        relay(&mut io, body, &inbound, timeouts.write_stall).await;
        let _ = tokio::time::timeout(timeouts.final_write, io.shutdown()).await;
    });
}

/// Whether a request asks for WebSocket (`Upgrade: websocket`).
fn is_websocket(req: &Request) -> bool {
    req.head()
        .headers()
        .get(actix_http::header::UPGRADE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.trim().eq_ignore_ascii_case("websocket"))
}

/// Writes a response that did not switch protocols, as its body comes (a streaming response
/// streams), and closes the connection. Every write has a deadline.
async fn refuse(
    mut io: Connection,
    mut codec: Codec,
    mut out: BytesMut,
    body: BoxBody,
    final_write: Duration,
) {
    let mut body = std::pin::pin!(body);
    loop {
        if !out.is_empty() {
            match tokio::time::timeout(final_write, io.write_all(&out)).await {
                Ok(Ok(())) => out.clear(),
                _ => return,
            }
        }
        match poll_fn(|cx| body.as_mut().poll_next(cx)).await {
            Some(Ok(chunk)) => {
                if codec.encode(Message::Chunk(Some(chunk)), &mut out).is_err() {
                    return;
                }
            }
            Some(Err(error)) => {
                tracing::debug!(error = %error, "upgrade: response body failed");
                return;
            }
            None => break,
        }
    }
    let _ = codec.encode(Message::Chunk(None), &mut out);
    let _ = tokio::time::timeout(final_write, async {
        io.write_all(&out).await?;
        io.shutdown().await
    })
    .await;
}

/// Moves bytes both ways until the body ends (written out) or the connection fails.
async fn relay(
    io: &mut Connection,
    mut body: BoxBody,
    inbound: &Rc<RefCell<Inbound>>,
    write_stall: Duration,
) {
    let mut pending: Option<Bytes> = None;
    let mut reading = true;
    // Armed while a write waits for the client, reset by progress.
    let mut stall: Option<Pin<Box<tokio::time::Sleep>>> = None;
    poll_fn(|cx| {
        // In first (a session reads from inside the body's poll, just below): read while the
        // application keeps up.
        while reading {
            {
                let mut state = inbound.borrow_mut();
                if !state.dropped && state.len >= MAX_UNREAD {
                    state.pump = Some(cx.waker().clone());
                    break;
                }
            }
            let mut stack = [0u8; READ_CHUNK];
            let mut buf = ReadBuf::new(&mut stack);
            match Pin::new(&mut *io).poll_read(cx, &mut buf) {
                Poll::Ready(Ok(())) if buf.filled().is_empty() => {
                    reading = false;
                    inbound.borrow_mut().end(None);
                }
                Poll::Ready(Ok(())) => {
                    let chunk = Bytes::copy_from_slice(buf.filled());
                    inbound.borrow_mut().push(chunk);
                }
                Poll::Ready(Err(error)) => {
                    reading = false;
                    inbound.borrow_mut().end(Some(error));
                }
                Poll::Pending => break,
            }
        }
        // Out: what is pending, then whatever the body has ready.
        loop {
            if let Some(chunk) = pending.as_mut() {
                match Pin::new(&mut *io).poll_write(cx, chunk) {
                    Poll::Ready(Ok(0)) | Poll::Ready(Err(_)) => return Poll::Ready(()),
                    Poll::Ready(Ok(n)) => {
                        stall = None;
                        chunk.advance(n);
                        if chunk.is_empty() {
                            pending = None;
                        }
                        continue;
                    }
                    Poll::Pending => {
                        let timer =
                            stall.get_or_insert_with(|| Box::pin(tokio::time::sleep(write_stall)));
                        if timer.as_mut().poll(cx).is_ready() {
                            tracing::debug!("upgraded connection: write stalled, dropped");
                            return Poll::Ready(());
                        }
                        break;
                    }
                }
            }
            match Pin::new(&mut body).poll_next(cx) {
                Poll::Ready(Some(Ok(chunk))) => {
                    if !chunk.is_empty() {
                        pending = Some(chunk);
                    }
                }
                // The body is over (the close frame is out): the connection ends.
                Poll::Ready(Some(Err(_))) | Poll::Ready(None) => return Poll::Ready(()),
                Poll::Pending => break,
            }
        }
        Poll::Pending
    })
    .await;
    // Whatever happens next, the application reads no more.
    let mut state = inbound.borrow_mut();
    if !state.eof {
        state.end(None);
    }
}

/// What an actix-web `App` is as a service factory (what `HttpServer` accepts).
pub(crate) trait AppFactory<B>:
    ServiceFactory<
        Request,
        Config = AppConfig,
        Response = ServiceResponse<B>,
        Error = actix_web::Error,
        InitError = (),
    > + 'static
{
}

impl<T, B> AppFactory<B> for T where
    T: ServiceFactory<
            Request,
            Config = AppConfig,
            Response = ServiceResponse<B>,
            Error = actix_web::Error,
            InitError = (),
        > + 'static
{
}

/// The upgrade service factory for actix-http: builds `make_app`'s application once per worker
/// and serves every upgrade request with it (see [`serve`]).
pub(crate) fn factory<F, I, S, B>(
    make_app: F,
    timeouts: UpgradeTimeouts,
) -> impl actix_service::ServiceFactory<
    (Request, Framed<Connection, Codec>),
    Config = (),
    Response = (),
    Error = actix_web::Error,
    InitError = (),
>
where
    F: Fn() -> I + Clone + 'static,
    I: actix_service::IntoServiceFactory<S, Request> + 'static,
    S: AppFactory<B>,
    S::Service: 'static,
    B: MessageBody + 'static,
{
    actix_service::fn_factory(move || {
        let app = make_app().into_factory();
        async move {
            let app = Rc::new(app.new_service(AppConfig::default()).await?);
            Ok(actix_service::fn_service(
                move |(req, framed): (Request, Framed<Connection, Codec>)| {
                    let app = app.clone();
                    async move {
                        serve(app, req, framed, timeouts).await;
                        Ok::<(), actix_web::Error>(())
                    }
                },
            ))
        }
    })
}
