//! The HTTP server under [`Switchboard::start`](crate::Switchboard::start): what actix-web's
//! `HttpServer` does, plus an upgrade service ([`crate::upgrade`]) so that WebSocket connections
//! leave the HTTP/1 dispatcher and its per-connection buffers.

use std::io;
use std::net::{SocketAddr, TcpListener};
use std::time::Duration;

use actix_http::{HttpService, Protocol, Request};
use actix_service::{fn_service, map_config, IntoServiceFactory, ServiceFactoryExt};
use actix_web::body::MessageBody;
use actix_web::dev::{AppConfig, Server};
use actix_web::rt::net::TcpStream;

use crate::connection::Connection;
use crate::upgrade::{AppFactory, UpgradeTimeouts};

/// Connections waiting to be accepted (actix-web's default).
const BACKLOG: i32 = 1024;

/// How the server runs.
pub(crate) struct ServerOptions {
    /// Worker threads; 0 for one per core.
    pub workers: usize,
    /// Seconds a stopping worker waits for its connections.
    pub shutdown_timeout: u64,
    /// How long a closing connection may take to say goodbye.
    pub client_disconnect_timeout: Duration,
    /// Largest request head accepted (larger ones are answered 431).
    pub max_head: usize,
    /// The deadlines of upgraded connections.
    pub upgrade_timeouts: UpgradeTimeouts,
}

fn listener(addr: SocketAddr) -> io::Result<TcpListener> {
    let socket = socket2::Socket::new(
        socket2::Domain::for_address(addr),
        socket2::Type::STREAM,
        Some(socket2::Protocol::TCP),
    )?;
    socket.set_reuse_address(true)?;
    socket.bind(&addr.into())?;
    socket.listen(BACKLOG)?;
    Ok(socket.into())
}

/// Binds `addr` and starts serving the application `make_app` builds (once per worker). Returns
/// the server (to await or stop) and the address it bound.
pub(crate) fn serve<F, I, S, B>(
    addr: SocketAddr,
    options: ServerOptions,
    make_app: F,
) -> io::Result<(Server, SocketAddr)>
where
    F: Fn() -> I + Send + Clone + 'static,
    I: IntoServiceFactory<S, Request> + 'static,
    S: AppFactory<B>,
    S::Service: 'static,
    B: MessageBody + 'static,
{
    let listener = listener(addr)?;
    let bound = listener.local_addr()?;
    let mut builder = actix_web::dev::Server::build()
        .disable_signals()
        .shutdown_timeout(options.shutdown_timeout);
    if options.workers > 0 {
        builder = builder.workers(options.workers);
    }
    let disconnect = options.client_disconnect_timeout;
    let max_head = options.max_head;
    let upgrade_timeouts = options.upgrade_timeouts;
    let server = builder
        .listen("switchboard", listener, move || {
            let app = make_app()
                .into_factory()
                .map_err(|err| err.error_response());
            let http = HttpService::build()
                .client_disconnect_timeout(disconnect)
                .local_addr(bound)
                .on_connect_ext(|io: &Connection, extensions| {
                    crate::session::peer::record(io.tcp(), extensions)
                })
                .upgrade(crate::upgrade::factory(make_app.clone(), upgrade_timeouts))
                .finish(map_config(app, |_| AppConfig::default()));
            // `peer::record` (the on_connect hook above) turns Nagle's algorithm off.
            fn_service(move |tcp: TcpStream| async move {
                let peer = tcp.peer_addr().ok();
                Ok((Connection::new(tcp, max_head), Protocol::Http1, peer))
            })
            .and_then(http)
        })?
        .run();
    Ok((server, bound))
}
