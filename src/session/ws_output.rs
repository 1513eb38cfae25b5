//! The writing half of a session's WebSocket: the session actor frames what it sends straight into
//! a shared buffer, and the HTTP response body hands the whole buffer to the connection in one
//! chunk when the connection is ready for more.
//!
//! There is no task and no channel between the actor and the socket: a burst of broadcasts to one
//! client becomes one write. The buffer is bounded (bytes, like the outbox) and a client that
//! leaves it unread for longer than the write timeout is dropped.

use std::future::Future;
use std::mem;
use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant};

use actix_http::ws::{OpCode, Parser};
use actix_web::body::{BodySize, MessageBody};
use bytes::{Bytes, BytesMut};

use super::write_batch::{self, Due};
use super::ws_driver::ReaderSlot;
use crate::hub::Frame;

/// How long after the `101` the first frames wait. A client reading the handshake's answer
/// and the first frame in one read may hand that frame over before its application listens for
/// it (Node's `ws` emits it before the code after `open` runs; ws4py starts its reader too late):
/// the first message is lost. Node leaves about 150 µs between the two writes and loses some;
/// a couple of milliseconds lets the client read the `101` alone. Only the first write waits,
/// and not once the client has sent something: it has run past its `open` then, and what the
/// server writes after reading it arrives in a later read.
const FIRST_WRITE_DELAY: Duration = Duration::from_millis(2);

/// RFC 6455: a close frame's reason fits in 123 bytes (125 of payload, less the code).
const MAX_CLOSE_REASON: usize = 123;

/// RFC 6455: control frames carry at most 125 bytes.
const MAX_CONTROL_PAYLOAD: usize = 125;

const OP_TEXT: OpCode = OpCode::Text;
const OP_BINARY: OpCode = OpCode::Binary;
const OP_CLOSE: OpCode = OpCode::Close;
const OP_PING: OpCode = OpCode::Ping;
const OP_PONG: OpCode = OpCode::Pong;

/// Appends one unmasked, final server frame (RFC 6455 §5.2) to `buf`, written by actix-http's
/// own frame writer.
fn put_frame(buf: &mut BytesMut, opcode: OpCode, payload: &[u8]) {
    Parser::write_message(buf, payload, opcode, true, false);
}

fn put_close(buf: &mut BytesMut, code: u16, reason: &str) {
    let mut end = reason.len().min(MAX_CLOSE_REASON);
    while !reason.is_char_boundary(end) {
        end -= 1;
    }
    let mut payload = Vec::with_capacity(2 + end);
    payload.extend_from_slice(&code.to_be_bytes());
    payload.extend_from_slice(&reason.as_bytes()[..end]);
    put_frame(buf, OP_CLOSE, &payload);
}

fn put(buf: &mut BytesMut, frame: &Frame) {
    match frame {
        Frame::Text(text) => put_frame(buf, OP_TEXT, text.as_bytes()),
        Frame::Binary(data) => put_frame(buf, OP_BINARY, data),
        Frame::Ping => put_frame(buf, OP_PING, b""),
    }
}

/// Why frames could not be written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum WriteError {
    /// The connection is gone (or the close was already written).
    Gone,
    /// More bytes are waiting than the limit allows: the client does not keep up.
    Overflow,
    /// Frames have waited longer than the write timeout: the client stopped reading.
    Stalled,
}

#[derive(Debug)]
struct State {
    buf: BytesMut,
    /// Most bytes `buf` may hold (one batch is always taken into an empty buffer).
    limit: usize,
    /// Since when `buf` has held data the connection has not taken.
    waiting_since: Option<Instant>,
    write_timeout: Duration,
    waker: Option<Waker>,
    /// The close frame is written (or the output was aborted): the body ends once `buf` is sent.
    finished: bool,
    /// The response body is gone: the connection has ended.
    gone: bool,
    /// On this thread's due list (see [`write_batch`]): the flusher will wake the connection.
    due: bool,
    /// The flusher released the buffer: it is written without waiting another turn.
    released: bool,
}

/// A buffer this big is written at once rather than waiting for the flush.
const WRITE_NOW_BYTES: usize = 64 * 1024;

impl Due for Mutex<State> {
    fn release(&self) {
        let waker = {
            let mut state = self.lock().unwrap_or_else(|e| e.into_inner());
            state.due = false;
            state.released = true;
            state.waker.clone()
        };
        if let Some(waker) = waker {
            waker.wake();
        }
    }
}

/// The actor's handle on a WebSocket's output (cheap to clone; the reader holds one for pongs).
#[derive(Debug, Clone)]
pub(crate) struct WsOutput {
    state: Arc<Mutex<State>>,
}

impl WsOutput {
    /// A new output holding at most `limit` bytes, and the response body that drains it.
    pub(crate) fn new(limit: usize, write_timeout: Duration) -> (WsOutput, WsBody) {
        let state = Arc::new(Mutex::new(State {
            buf: BytesMut::new(),
            limit: limit.max(1),
            waiting_since: None,
            write_timeout,
            waker: None,
            finished: false,
            gone: false,
            due: false,
            released: false,
        }));
        (
            WsOutput {
                state: state.clone(),
            },
            WsBody {
                state,
                reader: None,
                first_write: FirstWrite::NotYet,
                deferred: false,
            },
        )
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // A panic while holding this lock cannot leave the buffer half-framed in a way that
        // matters more than losing the connection; keep going with whatever is there.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Whether nothing waits for the connection to take it.
    pub(crate) fn is_idle(&self) -> bool {
        self.lock().buf.is_empty()
    }

    /// Sets the most bytes that may wait for the connection.
    pub(crate) fn set_limit(&self, limit: usize) {
        self.lock().limit = limit.max(1);
    }

    /// Frames and queues `frames`, oldest first, and wakes the connection.
    pub(crate) fn send(&self, frames: &[Frame]) -> Result<(), WriteError> {
        self.queue(frames, false)
    }

    /// Frames and queues `frames` (broadcasts), to be written at this thread's next flush (see
    /// [`write_batch`]): what else becomes due for the connection while the worker is busy goes
    /// out in the same write.
    pub(crate) fn send_batched(&self, frames: &[Frame]) -> Result<(), WriteError> {
        self.queue(frames, true)
    }

    fn queue(&self, frames: &[Frame], batched: bool) -> Result<(), WriteError> {
        if frames.is_empty() {
            return Ok(());
        }
        let mut state = self.lock();
        if state.gone || state.finished {
            return Err(WriteError::Gone);
        }
        if let Some(since) = state.waiting_since {
            if since.elapsed() >= state.write_timeout {
                return Err(WriteError::Stalled);
            }
        }
        let adding: usize = frames.iter().map(Frame::len).sum();
        if !state.buf.is_empty() && state.buf.len() + adding > state.limit {
            return Err(WriteError::Overflow);
        }
        for frame in frames {
            put(&mut state.buf, frame);
        }
        if batched {
            self.wake(state);
        } else {
            Self::wake_now(state);
        }
        Ok(())
    }

    /// Answers a client's ping.
    pub(crate) fn pong(&self, data: &[u8]) -> Result<(), WriteError> {
        let mut state = self.lock();
        if state.gone || state.finished {
            return Err(WriteError::Gone);
        }
        put_frame(
            &mut state.buf,
            OP_PONG,
            &data[..data.len().min(MAX_CONTROL_PAYLOAD)],
        );
        Self::wake_now(state);
        Ok(())
    }

    /// Writes the close frame (after what is queued) and ends the output.
    pub(crate) fn close(&self, code: u16, reason: &str) {
        let mut state = self.lock();
        if state.gone || state.finished {
            return;
        }
        put_close(&mut state.buf, code, reason);
        state.finished = true;
        Self::wake_now(state);
    }

    /// Writes a close frame without a code (after what is queued) and ends the output.
    pub(crate) fn end(&self) {
        let mut state = self.lock();
        if state.gone || state.finished {
            return;
        }
        put_frame(&mut state.buf, OP_CLOSE, b"");
        state.finished = true;
        Self::wake_now(state);
    }

    /// Drops whatever is queued, writes only the close frame and ends the output (for a client
    /// that does not keep up: what it missed is lost either way).
    pub(crate) fn close_now(&self, code: u16, reason: &str) {
        {
            let mut state = self.lock();
            state.buf.clear();
        }
        self.close(code, reason);
    }

    /// True once the connection has ended.
    pub(crate) fn is_gone(&self) -> bool {
        self.lock().gone
    }

    /// Has the response body polled again (to pick up a reader).
    pub(super) fn wake_body(&self) {
        let waker = self.lock().waker.take();
        if let Some(waker) = waker {
            waker.wake();
        }
    }

    /// New frames are queued: the connection writes them at the next flush of this thread
    /// (see [`write_batch`]), or now when there is no flusher or the buffer is big.
    fn wake(&self, mut state: MutexGuard<'_, State>) {
        if state.waiting_since.is_none() {
            state.waiting_since = Some(Instant::now());
        }
        if state.buf.len() >= WRITE_NOW_BYTES {
            return Self::wake_now(state);
        }
        if state.due {
            drop(state);
            write_batch::queued();
            return;
        }
        state.due = true;
        drop(state);
        if !write_batch::due(self.state.clone()) {
            Self::wake_now(self.lock());
        }
    }

    /// Wakes the connection to write what is queued.
    fn wake_now(mut state: MutexGuard<'_, State>) {
        if state.waiting_since.is_none() {
            state.waiting_since = Some(Instant::now());
        }
        state.due = false;
        let waker = state.waker.take();
        drop(state);
        if let Some(waker) = waker {
            waker.wake();
        }
    }
}

/// The response body of an accepted WebSocket: yields what the session queued, in one chunk per
/// poll, and ends after the close frame.
pub(crate) struct WsBody {
    state: Arc<Mutex<State>>,
    /// The client's side, once a session has taken the connection.
    reader: Option<ReaderSlot>,
    first_write: FirstWrite,
    /// The write waits one turn of the event loop, so what else becomes due joins it.
    deferred: bool,
}

/// Where the body is with its first write (see [`FIRST_WRITE_DELAY`]).
enum FirstWrite {
    /// Not polled yet: the response head is about to be written.
    NotYet,
    /// Held until the delay is over.
    Waiting(Pin<Box<tokio::time::Sleep>>),
    /// Done: writes go out as they come.
    Done,
}

impl FirstWrite {
    /// The client has sent something (so it has read the `101`): the first write need not
    /// wait any longer.
    fn client_spoke(&mut self) {
        *self = FirstWrite::Done;
    }

    /// Ready once the first write may go out; the first poll starts the wait.
    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<()> {
        if let FirstWrite::NotYet = self {
            *self = FirstWrite::Waiting(Box::pin(tokio::time::sleep(FIRST_WRITE_DELAY)));
        }
        match self {
            FirstWrite::Waiting(sleep) => {
                std::task::ready!(sleep.as_mut().poll(cx));
                *self = FirstWrite::Done;
                Poll::Ready(())
            }
            _ => Poll::Ready(()),
        }
    }
}

impl WsBody {
    /// Reads the client's messages too, with the reader put in `slot`.
    pub(super) fn reading(mut self, slot: ReaderSlot) -> WsBody {
        self.reader = Some(slot);
        self
    }

    fn poll_reader(&mut self, cx: &mut Context<'_>) {
        if let Some(slot) = &self.reader {
            let mut reader = slot.borrow_mut();
            if let Some(r) = reader.as_mut() {
                if r.heard_from_client() {
                    self.first_write.client_spoke();
                }
                if r.poll(cx).is_ready() {
                    *reader = None;
                }
            }
        }
    }
}

impl MessageBody for WsBody {
    type Error = std::io::Error;

    fn size(&self) -> BodySize {
        BodySize::Stream
    }

    fn poll_next(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Bytes, Self::Error>>> {
        let this = self.get_mut();
        this.poll_reader(cx);
        // The timer wakes this body when the first write may go; reading goes on meanwhile.
        if this.first_write.poll_ready(cx).is_pending() {
            return Poll::Pending;
        }
        let mut state = this.state.lock().unwrap_or_else(|e| e.into_inner());
        if !state.buf.is_empty() {
            // Frames that became due in this turn of the event loop go out in one write: the
            // first time something waits, let every task already scheduled run first (they may
            // add to it), then write it all.
            if !state.released && !this.deferred {
                this.deferred = true;
                cx.waker().wake_by_ref();
                return Poll::Pending;
            }
            this.deferred = false;
            state.released = false;
            state.waiting_since = None;
            return Poll::Ready(Some(Ok(mem::take(&mut state.buf).freeze())));
        }
        if state.finished {
            return Poll::Ready(None);
        }
        match &state.waker {
            Some(waker) if waker.will_wake(cx.waker()) => {}
            _ => state.waker = Some(cx.waker().clone()),
        }
        Poll::Pending
    }
}

impl Drop for WsBody {
    fn drop(&mut self) {
        let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        state.gone = true;
        state.buf = BytesMut::new();
        drop(state);
        if let Some(reader) = self.reader.take().and_then(|slot| slot.borrow_mut().take()) {
            reader.connection_ended();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::task::Waker;

    fn drain(body: &mut WsBody) -> Poll<Option<Bytes>> {
        // The first write's delay has its own test below.
        body.first_write = FirstWrite::Done;
        let mut cx = Context::from_waker(Waker::noop());
        let mut poll = |body: &mut WsBody| {
            Pin::new(body)
                .poll_next(&mut cx)
                .map(|item| item.map(|r| r.unwrap()))
        };
        match poll(body) {
            // A write waits one turn of the event loop (it woke itself): the next poll takes it.
            Poll::Pending if body.deferred => poll(body),
            other => other,
        }
    }

    #[test]
    fn frames_are_unmasked_with_the_shortest_length() {
        let mut buf = BytesMut::new();
        put_frame(&mut buf, OP_TEXT, b"hi");
        assert_eq!(&buf[..], b"\x81\x02hi");
        let mut buf = BytesMut::new();
        put_frame(&mut buf, OP_BINARY, &[7u8; 126]);
        assert_eq!(&buf[..4], &[0x82, 126, 0, 126]);
        assert_eq!(buf.len(), 4 + 126);
        let mut buf = BytesMut::new();
        put_frame(&mut buf, OP_TEXT, &vec![b'x'; 70_000]);
        assert_eq!(&buf[..10], &[0x81, 127, 0, 0, 0, 0, 0, 1, 0x11, 0x70]);
        let mut buf = BytesMut::new();
        put(&mut buf, &Frame::Ping);
        assert_eq!(&buf[..], &[0x89, 0]);
    }

    #[test]
    fn a_close_reason_is_cut_at_a_character_boundary() {
        let mut buf = BytesMut::new();
        put_close(&mut buf, 1000, "bye");
        assert_eq!(&buf[..], b"\x88\x05\x03\xe8bye");
        let long = "é".repeat(100); // 200 bytes
        let mut buf = BytesMut::new();
        put_close(&mut buf, 1001, &long);
        assert_eq!(buf[1] as usize, 2 + 122);
        assert!(std::str::from_utf8(&buf[4..]).is_ok());
    }

    #[test]
    fn queued_frames_leave_in_one_chunk_then_the_close_ends_the_body() {
        let (out, mut body) = WsOutput::new(10, Duration::from_secs(10));
        assert_eq!(drain(&mut body), Poll::Pending);
        out.send(&[Frame::Text("a".into()), Frame::Text("b".into())])
            .unwrap();
        out.pong(b"p").unwrap();
        assert_eq!(
            drain(&mut body),
            Poll::Ready(Some(Bytes::from_static(b"\x81\x01a\x81\x01b\x8a\x01p")))
        );
        out.close(1000, "");
        assert_eq!(out.send(&[Frame::Ping]), Err(WriteError::Gone));
        assert_eq!(
            drain(&mut body),
            Poll::Ready(Some(Bytes::from_static(b"\x88\x02\x03\xe8")))
        );
        assert_eq!(drain(&mut body), Poll::Ready(None));
    }

    #[test]
    fn more_bytes_than_the_limit_overflow_and_close_now_drops_them() {
        let (out, mut body) = WsOutput::new(6, Duration::from_secs(10));
        out.send(&[Frame::Text("a".into()), Frame::Text("b".into())])
            .unwrap();
        assert_eq!(
            out.send(&[Frame::Text("c".into())]),
            Err(WriteError::Overflow)
        );
        out.close_now(1008, "slow");
        assert_eq!(
            drain(&mut body),
            Poll::Ready(Some(Bytes::from_static(b"\x88\x06\x03\xf0slow")))
        );
        assert_eq!(drain(&mut body), Poll::Ready(None));
    }

    #[test]
    fn data_left_unread_past_the_write_timeout_is_a_stall() {
        let (out, mut body) = WsOutput::new(10, Duration::ZERO);
        out.send(&[Frame::Ping]).unwrap();
        assert_eq!(out.send(&[Frame::Ping]), Err(WriteError::Stalled));
        assert!(matches!(drain(&mut body), Poll::Ready(Some(_))));
        // Taken by the connection: the clock starts again.
        out.send(&[Frame::Ping]).unwrap();
    }

    #[tokio::test]
    async fn the_first_write_waits_a_little_after_the_head_then_none_does() {
        let (out, mut body) = WsOutput::new(100, Duration::from_secs(10));
        out.send(&[Frame::Text("open".into())]).unwrap();
        let started = tokio::time::Instant::now();
        let first = std::future::poll_fn(|cx| Pin::new(&mut body).poll_next(cx)).await;
        assert!(started.elapsed() >= FIRST_WRITE_DELAY);
        assert_eq!(first.unwrap().unwrap(), Bytes::from_static(b"\x81\x04open"));
        out.send(&[Frame::Text("next".into())]).unwrap();
        let mut cx = Context::from_waker(Waker::noop());
        // One turn of the event loop for what else becomes due, then the write; no timer.
        assert!(Pin::new(&mut body).poll_next(&mut cx).is_pending());
        out.send(&[Frame::Text("more".into())]).unwrap();
        assert_eq!(
            Pin::new(&mut body)
                .poll_next(&mut cx)
                .map(|i| i.map(|r| r.unwrap())),
            Poll::Ready(Some(Bytes::from_static(b"\x81\x04next\x81\x04more")))
        );
    }

    #[test]
    fn the_first_write_waits_no_longer_once_the_client_has_spoken() {
        let (out, mut body) = WsOutput::new(100, Duration::from_secs(10));
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .build()
            .unwrap();
        let _entered = runtime.enter();
        out.send(&[Frame::Text("welcome".into())]).unwrap();
        let mut cx = Context::from_waker(Waker::noop());
        let mut poll = |body: &mut WsBody| {
            Pin::new(body)
                .poll_next(&mut cx)
                .map(|i| i.map(|r| r.unwrap()))
        };
        assert!(poll(&mut body).is_pending());
        assert!(matches!(body.first_write, FirstWrite::Waiting(_)));
        body.first_write.client_spoke();
        // One turn of the event loop for what else becomes due, and no timer.
        assert!(poll(&mut body).is_pending());
        assert_eq!(
            poll(&mut body),
            Poll::Ready(Some(Bytes::from_static(b"\x81\x07welcome")))
        );
    }

    #[actix_web::test]
    async fn broadcasts_wait_for_the_flush_and_answers_do_not() {
        actix_web::rt::spawn(async {
            write_batch::start();
            let (out, mut body) = WsOutput::new(100, Duration::from_secs(10));
            body.first_write = FirstWrite::Done;
            let waker = std::task::Waker::noop();
            let mut cx = Context::from_waker(waker);
            let mut poll = |body: &mut WsBody| {
                Pin::new(body)
                    .poll_next(&mut cx)
                    .map(|item| item.map(|r| r.unwrap()))
            };
            assert_eq!(poll(&mut body), Poll::Pending);
            out.send_batched(&[Frame::Text("a".into())]).unwrap();
            assert!(out.lock().due, "held for the flush");
            // Released by the flusher after a quiet pass: then written without another turn.
            let mut turns = 0;
            while !out.lock().released {
                turns += 1;
                assert!(turns < 100, "the flusher released the output");
                actix_web::rt::task::yield_now().await;
            }
            assert_eq!(
                poll(&mut body),
                Poll::Ready(Some(Bytes::from_static(b"\x81\x01a")))
            );
            // An answer to the client wakes the connection at once (one turn for company).
            out.send(&[Frame::Text("b".into())]).unwrap();
            assert!(!out.lock().due);
            assert_eq!(poll(&mut body), Poll::Pending);
            assert_eq!(
                poll(&mut body),
                Poll::Ready(Some(Bytes::from_static(b"\x81\x01b")))
            );
        })
        .await
        .unwrap();
    }

    #[test]
    fn a_dropped_body_means_the_connection_is_gone() {
        let (out, body) = WsOutput::new(10, Duration::from_secs(10));
        drop(body);
        assert!(out.is_gone());
        assert_eq!(out.send(&[Frame::Ping]), Err(WriteError::Gone));
    }
}
