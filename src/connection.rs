//! An accepted TCP connection that caps the size of request heads.
//!
//! actix-http accepts a request head of up to 128 KiB and cannot be told less; Node answers a
//! head over 16 KiB with `431 Request Header Fields Too Large` and closes the connection, and so
//! do we. The connection watches what it reads while a head is expected: from the connection's
//! start, and again after each response has begun (the next request on a kept-alive
//! connection). A head ends at its blank line; bytes after it (a body) are not counted. A head
//! that grows past the cap is answered 431 at once and the connection is closed. An upgraded
//! connection (a WebSocket) stops watching.

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;

/// What a client whose head is too big gets, before the connection closes.
const TOO_LARGE: &[u8] = b"HTTP/1.1 431 Request Header Fields Too Large\r\n\
content-length: 0\r\nconnection: close\r\n\r\n";

/// The start of an interim answer to `Expect: 100-continue`.
const CONTINUE: &[u8] = b"HTTP/1.1 100 ";

/// Where the connection is in its requests.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Reading {
    /// A head: this many bytes of it so far, and how much of its blank line (`\r\n\r\n`) the
    /// last bytes matched.
    Head { bytes: usize, matched: u8 },
    /// A body, or a request being answered: nothing is counted until the answer is written.
    Body,
    /// Upgraded (or refused): nothing is watched any more.
    Off,
}

/// The watch on one connection's request heads: a pure state machine over what is read and
/// written.
#[derive(Debug)]
struct HeadWatch {
    max_head: usize,
    reading: Reading,
    /// An answer has gone out on this connection: what follows may be the rest of a body the
    /// application answered without reading (a 401, a 413), which has no blank line to end it.
    answered: bool,
}

/// A head grew past the cap.
#[derive(Debug, PartialEq, Eq)]
struct HeadTooLarge;

const NEW_HEAD: Reading = Reading::Head {
    bytes: 0,
    matched: 0,
};

impl HeadWatch {
    fn new(max_head: usize) -> HeadWatch {
        HeadWatch {
            max_head,
            reading: NEW_HEAD,
            answered: false,
        }
    }

    /// Follows bytes read from the client. Only a connection's first head is refused: once an
    /// answer has gone out, bytes past the cap may be an unread body, and the watch stops
    /// (actix-http's own limit still holds).
    fn read(&mut self, read: &[u8]) -> Result<(), HeadTooLarge> {
        let refused = self.watch(read);
        if refused.is_err() && self.answered {
            self.reading = Reading::Off;
            return Ok(());
        }
        refused
    }

    fn watch(&mut self, read: &[u8]) -> Result<(), HeadTooLarge> {
        let Reading::Head { bytes, matched } = &mut self.reading else {
            return Ok(());
        };
        for (i, byte) in read.iter().enumerate() {
            *matched = match (*matched, byte) {
                (0 | 2, b'\r') | (1 | 3, b'\n') => *matched + 1,
                (_, b'\r') => 1,
                _ => 0,
            };
            if *matched == 4 {
                // The head is whole; what follows it belongs to the body.
                if *bytes + i + 1 > self.max_head {
                    return Err(HeadTooLarge);
                }
                self.reading = Reading::Body;
                return Ok(());
            }
        }
        *bytes += read.len();
        if *bytes > self.max_head {
            return Err(HeadTooLarge);
        }
        Ok(())
    }

    /// `written` went out: once an answer goes out, the client's next bytes start a new head
    /// (an interim `100 Continue` is not the answer: the body comes after it).
    fn wrote(&mut self, written: &[u8]) {
        if self.reading == Reading::Body && !written.is_empty() && !written.starts_with(CONTINUE) {
            self.reading = NEW_HEAD;
            self.answered = true;
        }
    }
}

/// A TCP connection whose request heads may be at most `max_head` bytes.
#[derive(Debug)]
pub(crate) struct Connection {
    tcp: TcpStream,
    watch: HeadWatch,
}

impl Connection {
    /// Wraps an accepted connection.
    pub(crate) fn new(tcp: TcpStream, max_head: usize) -> Connection {
        Connection {
            tcp,
            watch: HeadWatch::new(max_head),
        }
    }

    /// The TCP connection underneath.
    pub(crate) fn tcp(&self) -> &TcpStream {
        &self.tcp
    }

    /// The connection carries something other than HTTP requests from now on (an upgrade).
    pub(crate) fn stop_watching(&mut self) {
        self.watch.reading = Reading::Off;
    }
}

impl AsyncRead for Connection {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let before = buf.filled().len();
        let polled = Pin::new(&mut this.tcp).poll_read(cx, buf);
        if let Poll::Ready(Ok(())) = polled {
            if this.watch.read(&buf.filled()[before..]).is_err() {
                tracing::debug!(limit = this.watch.max_head, "request head too large: 431");
                this.stop_watching();
                // Best effort: the answer is small and the socket's buffer is empty, since
                // nothing else was written for this request.
                let _ = this.tcp.try_write(TOO_LARGE);
                buf.set_filled(before);
                return Poll::Ready(Err(io::Error::new(
                    io::ErrorKind::InvalidData,
                    "request head too large",
                )));
            }
        }
        polled
    }
}

impl AsyncWrite for Connection {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        data: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        let written = Pin::new(&mut this.tcp).poll_write(cx, data);
        if let Poll::Ready(Ok(n)) = written {
            this.watch.wrote(&data[..n]);
        }
        written
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        let written = Pin::new(&mut this.tcp).poll_write_vectored(cx, bufs);
        if let (Poll::Ready(Ok(n)), Some(first)) = (&written, bufs.first()) {
            this.watch.wrote(&first[..(*n).min(first.len())]);
        }
        written
    }

    fn is_write_vectored(&self) -> bool {
        self.tcp.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().tcp).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().tcp).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_head_within_the_cap_passes_then_its_body_is_not_counted() {
        let mut watch = HeadWatch::new(40);
        assert_eq!(watch.read(b"POST / HTTP/1.1\r\nA: b\r"), Ok(()));
        // The blank line split across reads, then a body far over the cap.
        assert_eq!(watch.read(b"\n\r\n"), Ok(()));
        assert_eq!(watch.reading, Reading::Body);
        assert_eq!(watch.read(&[b'x'; 1000]), Ok(()));
    }

    #[test]
    fn a_head_over_the_cap_is_refused_with_or_without_its_end() {
        let mut watch = HeadWatch::new(20);
        assert_eq!(watch.read(b"GET / HTTP/1.1\r\n"), Ok(()));
        assert_eq!(watch.read(b"X-Long: aaaaaaa"), Err(HeadTooLarge));
        let mut watch = HeadWatch::new(20);
        assert_eq!(
            watch.read(b"GET / HTTP/1.1\r\nX-Long: aaaaaaa\r\n\r\n"),
            Err(HeadTooLarge)
        );
    }

    #[test]
    fn a_body_left_unread_after_an_early_answer_is_not_refused() {
        // A 401 sent before a 40 kB body was read: the rest of the body is no head.
        let mut watch = HeadWatch::new(20);
        assert_eq!(watch.read(b"POST / HTTP/1.1\r\n\r\n"), Ok(()));
        watch.wrote(b"HTTP/1.1 401 Unauthorized\r\n");
        assert_eq!(watch.read(&[b'x'; 40_000]), Ok(()));
        assert_eq!(watch.reading, Reading::Off);
    }

    #[test]
    fn a_100_continue_is_not_the_answer() {
        let mut watch = HeadWatch::new(20);
        assert_eq!(watch.read(b"POST / HTTP/1.1\r\n\r\n"), Ok(()));
        watch.wrote(b"HTTP/1.1 100 Continue\r\n\r\n");
        assert_eq!(watch.read(&[b'x'; 100]), Ok(()));
        watch.wrote(b"");
        assert_eq!(watch.reading, Reading::Body);
    }

    #[test]
    fn each_request_of_a_kept_alive_connection_gets_the_whole_cap() {
        let mut watch = HeadWatch::new(20);
        for _ in 0..3 {
            assert_eq!(watch.read(b"GET / HTTP/1.1\r\n\r\n"), Ok(()));
            watch.wrote(b"HTTP/1.1 200 OK\r\n");
        }
        // A stray "\r" resets only the part of the blank line matched so far.
        assert_eq!(watch.read(b"GET / \r\r\n\r\n"), Ok(()));
        assert_eq!(watch.reading, Reading::Body);
    }
}
