//! Noticing a client that went away while its request waits.
//!
//! actix-web does not tell a handler that the client aborted a request whose body it has already
//! read (a long-poll, a streaming response that is idle). Protocols need to know: Node's
//! engine.io and sockjs-node end the session at once. [`record`] keeps the connection's file
//! descriptor in the request's extensions ([`actix_web::HttpServer::on_connect`]); [`PeerWatch`]
//! duplicates it for the life of one waiting request and resolves when the peer hung up.

use std::os::fd::{AsRawFd, BorrowedFd, RawFd};

use actix_web::dev::Extensions;
use actix_web::HttpRequest;

/// The raw descriptor of a request's TCP connection.
#[derive(Debug, Clone, Copy)]
struct PeerFd(RawFd);

/// The `on_connect` hook: remembers the connection's descriptor for [`PeerWatch::of`], and
/// turns Nagle's algorithm off (small writes leave at once, as Node's sockets do).
pub(crate) fn record(connection: &dyn std::any::Any, extensions: &mut Extensions) {
    if let Some(tcp) = connection.downcast_ref::<actix_web::rt::net::TcpStream>() {
        let _ = tcp.set_nodelay(true);
        extensions.insert(PeerFd(tcp.as_raw_fd()));
    }
}

/// A watch on one request's client connection.
pub(crate) struct PeerWatch {
    tcp: tokio::net::TcpStream,
}

impl PeerWatch {
    /// A watch on `req`'s connection, when the server recorded it (see [`record`]).
    pub(crate) fn of(req: &HttpRequest) -> Option<PeerWatch> {
        let PeerFd(raw) = *req.conn_data::<PeerFd>()?;
        // SAFETY: the descriptor belongs to the connection that carries `req`, which stays open
        // at least as long as `req` is being handled; it is only borrowed to duplicate it.
        let borrowed = unsafe { BorrowedFd::borrow_raw(raw) };
        let tcp = std::net::TcpStream::from(borrowed.try_clone_to_owned().ok()?);
        tcp.set_nonblocking(true).ok()?;
        Some(PeerWatch {
            tcp: tokio::net::TcpStream::from_std(tcp).ok()?,
        })
    }

    /// Resolves when the client has closed its side of the connection (or it failed). If the
    /// client sends more data instead (a pipelined request), it never resolves.
    pub(crate) async fn closed(&self) {
        let mut byte = [0u8; 1];
        match self.tcp.peek(&mut byte).await {
            Ok(0) | Err(_) => {}
            Ok(_) => std::future::pending().await,
        }
    }
}
