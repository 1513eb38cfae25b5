//! Building, mounting, running and stopping a switchboard server.

use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use actix_web::dev::ServerHandle;
use actix_web::{web, App, HttpResponse};

use crate::auth::{AuthSlot, Authenticator};
use crate::engineio::{Cors, Engine, EngineConfig};
use crate::handler::{Handler, SharedHandler};
use crate::http_server::{serve, ServerOptions};
use crate::hub::{Adapter, DisconnectReason, Hub, HubLimits, LocalAdapter};
use crate::relay::RelayHandler;
use crate::socketio::{RelaySockets, SocketHandler, SocketIo, SocketIoConfig};
use crate::sockjs::{RelaySockJs, SockJs, SockJsConfig};
use crate::{api, websocket, AppState, Config};

/// Something more to mount next to switchboard's own endpoints.
type Mount = Arc<dyn Fn(&mut web::ServiceConfig) + Send + Sync>;

/// A switchboard server: configuration, hub and application, ready to mount or run.
#[derive(Clone)]
pub struct Switchboard {
    state: web::Data<AppState>,
    mounts: Vec<Mount>,
    /// The Socket.IO endpoint: relay mode (or the application's [`Handler`]), or the
    /// application's own [`SocketHandler`].
    socketio: Mount,
    /// True once [`Switchboard::with_socketio`] replaced relay mode's Socket.IO endpoint.
    custom_socketio: bool,
    /// The authenticator the Socket.IO endpoint asks, whichever app it runs (set again when
    /// [`Switchboard::with_authenticator`] comes after [`Switchboard::with_socketio`]).
    socketio_auth: AuthSlot,
    sockjs: SockJs<RelaySockJs>,
}

fn sockjs_service(state: &AppState) -> SockJs<RelaySockJs> {
    let config = &state.config;
    let sockjs_config = SockJsConfig {
        prefix: config.sockjs_prefix.trim_end_matches('/').to_string(),
        sockjs_url: config.sockjs_url.clone(),
        websocket: true,
        jsessionid: config.sockjs_jsessionid,
        heartbeat_delay: Duration::from_millis(config.sockjs_heartbeat_ms),
        disconnect_delay: Duration::from_millis(config.sockjs_disconnect_delay_ms),
        response_limit: config.sockjs_response_limit,
        max_message_size: config.max_message_size,
        body_timeout: config.body_timeout(),
    };
    let sockjs = SockJs::new(
        sockjs_config,
        RelaySockJs::new(state.handler.clone(), state.relay_limits()),
        state.hub.clone(),
        state.session_options(),
    );
    match &state.authenticator {
        Some(authenticator) => sockjs.authenticated_by(authenticator.clone()),
        None => sockjs,
    }
}

/// The Socket.IO endpoint at `--socketio-path`, running `app`, configured by `state`'s config.
fn socketio_endpoint<A: SocketHandler>(state: &AppState, app: A, auth: &AuthSlot) -> Mount {
    let config = &state.config;
    let engine_config = EngineConfig {
        path: config.socketio_path.clone(),
        ping_interval: config.ping_interval(),
        ping_timeout: config.ping_timeout(),
        max_payload: config.max_message_size,
        upgrade_timeout: Duration::from_millis(config.upgrade_timeout_ms),
        body_timeout: config.body_timeout(),
        allow_eio3: !config.disable_eio3,
        cors: (!config.cors_origin.is_empty()).then(|| Cors {
            origins: config.cors_origin.clone(),
            credentials: config.cors_credentials,
        }),
        cookie: config.cookie.then(|| "io".to_string()),
        ..EngineConfig::default()
    };
    let mut socketio = SocketIo::new(
        app,
        SocketIoConfig {
            connect_timeout: Duration::from_millis(config.connect_timeout_ms),
            recovery_skip_middlewares: config.recovery_skip_middlewares,
            ..SocketIoConfig::default()
        },
    );
    socketio = socketio.authenticated_through(auth.clone());
    let engine = Engine::new(
        engine_config,
        socketio,
        state.hub.clone(),
        state.session_options(),
    );
    Arc::new(move |cfg: &mut web::ServiceConfig| engine.configure(cfg))
}

/// Relay mode's Socket.IO endpoint (the handler's, when one is set).
fn relay_socketio(state: &AppState, auth: &AuthSlot) -> Mount {
    socketio_endpoint(
        state,
        RelaySockets::new(state.handler.clone(), state.relay_limits()),
        auth,
    )
}

/// `handler`, with what happens to sessions also sent to the webhooks, when there are some.
fn reporting(handler: SharedHandler, webhooks: Option<&crate::webhook::Webhooks>) -> SharedHandler {
    match webhooks {
        Some(hooks) => Arc::new(crate::webhook::WebhookHandler::new(handler, hooks.clone())),
        None => handler,
    }
}

/// The hub's adapter for a configuration: Redis in cluster mode (`redis_url`), else none. A URL
/// Redis cannot use is logged and the node runs alone (the binary refuses it at startup).
fn cluster_adapter(config: &Config) -> Arc<dyn Adapter> {
    let Some(url) = &config.redis_url else {
        return Arc::new(LocalAdapter);
    };
    let cluster = crate::cluster::ClusterConfig {
        url: url.clone(),
        prefix: config.redis_key_prefix.clone(),
        adapter: config.redis_adapter,
        subscription_mode: config.redis_subscription_mode,
        publish_queue: config.redis_publish_queue,
        session_ttl: config.recovery().map(|r| r.max_disconnection),
    };
    match crate::cluster::RedisAdapter::new(cluster) {
        Ok(adapter) => Arc::new(adapter),
        Err(error) => {
            tracing::error!(%error, "cluster mode is off");
            Arc::new(LocalAdapter)
        }
    }
}

impl Switchboard {
    /// A single-node server running relay mode.
    pub fn new(config: Config) -> Switchboard {
        let relay = RelayHandler {
            server_only_publish: config.server_only_publish,
        };
        let adapter = cluster_adapter(&config);
        Switchboard::with_parts(config, Arc::new(relay), adapter)
    }

    /// A server running `handler` instead of relay mode.
    pub fn with_handler(self, handler: impl Handler) -> Switchboard {
        let old = self.state.get_ref();
        let state = AppState {
            handler: reporting(Arc::new(handler), old.webhooks.as_ref()),
            ..old.clone()
        };
        self.with_state(state)
    }

    /// A server whose clients must be let in by `authenticator` (instead of the one the
    /// configuration's `--auth-jwt-*` options make), on every protocol: each session then has its
    /// [`User`](crate::auth::User).
    pub fn with_authenticator(self, authenticator: impl Authenticator) -> Switchboard {
        let state = AppState {
            authenticator: Some(Arc::new(authenticator)),
            ..self.state.get_ref().clone()
        };
        self.with_state(state)
    }

    /// The same server around `state`: its relay endpoints rebuilt to use it.
    fn with_state(self, state: AppState) -> Switchboard {
        *self
            .socketio_auth
            .write()
            .unwrap_or_else(|e| e.into_inner()) = state.authenticator.clone();
        Switchboard {
            socketio: match self.custom_socketio {
                true => self.socketio,
                false => relay_socketio(&state, &self.socketio_auth),
            },
            custom_socketio: self.custom_socketio,
            socketio_auth: self.socketio_auth,
            sockjs: sockjs_service(&state),
            state: web::Data::new(state),
            mounts: self.mounts,
        }
    }

    /// A server whose Socket.IO endpoint (at `--socketio-path`, with every Engine.IO and
    /// Socket.IO option of the configuration) runs `app`, the full Socket.IO API (namespaces,
    /// middleware, acks both ways, binary), instead of relay mode. SockJS, `/ws` and the API
    /// are unchanged and share the hub, so rooms still span protocols.
    pub fn with_socketio(self, app: impl SocketHandler) -> Switchboard {
        Switchboard {
            socketio: socketio_endpoint(self.state.get_ref(), app, &self.socketio_auth),
            custom_socketio: true,
            ..self
        }
    }

    /// A server from its parts: configuration, application and cluster adapter.
    pub(crate) fn with_parts(
        config: Config,
        handler: SharedHandler,
        adapter: Arc<dyn Adapter>,
    ) -> Switchboard {
        let limits = HubLimits {
            max_sessions: config.max_sessions,
            max_rooms_per_session: config.max_rooms_per_session,
            recovery: config.recovery(),
            presence_events: config.presence_events,
        };
        let hub = Hub::new(limits, adapter);
        let webhooks = config.webhooks().map(crate::webhook::Webhooks::start);
        let state = AppState {
            handler: reporting(handler, webhooks.as_ref()),
            hub,
            authenticator: config.authenticator(),
            config: Arc::new(config),
            webhooks,
        };
        let socketio_auth = Arc::new(std::sync::RwLock::new(state.authenticator.clone()));
        Switchboard {
            socketio: relay_socketio(&state, &socketio_auth),
            custom_socketio: false,
            socketio_auth,
            sockjs: sockjs_service(&state),
            state: web::Data::new(state),
            mounts: Vec::new(),
        }
    }

    /// Adds more services (e.g. a bare Engine.IO server) to mount with switchboard's own.
    pub fn mount(mut self, f: impl Fn(&mut web::ServiceConfig) + Send + Sync + 'static) -> Self {
        self.mounts.push(Arc::new(f));
        self
    }

    /// The hub, to publish from Rust or look at sessions.
    pub fn hub(&self) -> &Hub {
        &self.state.hub
    }

    /// The configuration.
    pub fn config(&self) -> &Config {
        &self.state.config
    }

    /// Mounts every endpoint (`/socket.io/`, `/sockjs`, `/ws`, `/api`, `/healthz`; not the static page)
    /// into an `App`:
    /// `App::new().configure(switchboard.configure())`.
    pub fn configure(&self) -> impl Fn(&mut web::ServiceConfig) + Clone + use<> {
        let state = self.state.clone();
        let mounts = self.mounts.clone();
        let socketio = self.socketio.clone();
        let sockjs = self.sockjs.clone();
        move |cfg: &mut web::ServiceConfig| {
            for mount in &mounts {
                mount(cfg);
            }
            socketio(cfg);
            sockjs.configure(cfg);
            cfg.app_data(state.clone())
                .configure(websocket::configure)
                .configure(api::configure)
                .route("/metrics", web::get().to(crate::metrics::metrics))
                .route("/healthz", web::get().to(healthz));
        }
    }

    /// Binds the configured address and starts serving in the background, static page included.
    pub fn start(self) -> io::Result<RunningServer> {
        let config = self.state.config.clone();
        let mount = self.configure();
        let static_dir = config.static_dir.clone();
        let serve_static = static_dir.is_dir();
        if !serve_static {
            tracing::warn!(dir = %static_dir.display(), "static folder not found: / is not served");
        }
        let make_app = move || {
            let app = App::new().configure(mount.clone());
            if serve_static {
                app.service(actix_files::Files::new("/", &static_dir).index_file("index.html"))
            } else {
                app.service(actix_files::Files::new("/", ".").path_filter(|_, _| false))
            }
        };
        let options = ServerOptions {
            workers: config.workers,
            shutdown_timeout: 1,
            client_disconnect_timeout: Duration::from_secs(1),
            max_head: config.max_head_size,
            upgrade_timeouts: crate::upgrade::UpgradeTimeouts {
                final_write: config.write_timeout(),
                write_stall: config.write_stall_timeout(),
            },
        };
        let (server, addr) = serve(config.listen, options, make_app)?;
        let handle = server.handle();
        let task = actix_web::rt::spawn(server);
        let sweeper = self.state.hub.recovery().map(|_| {
            let recovery_hub = self.state.hub.clone();
            // Kept sessions that never come back expire even when no one else calls.
            actix_web::rt::spawn(async move {
                let mut tick = tokio::time::interval(Duration::from_millis(250));
                loop {
                    tick.tick().await;
                    if let Some(recovery) = recovery_hub.recovery() {
                        recovery.sweep();
                    }
                }
            })
        });
        tracing::info!(%addr, "switchboard listening");
        Ok(RunningServer {
            addr,
            hub: self.state.hub.clone(),
            handle,
            task,
            sweeper,
            shutdown_timeout: config.shutdown_timeout(),
            webhooks: self.state.webhooks.clone(),
        })
    }

    /// Runs until Ctrl-C or SIGTERM, then shuts down gracefully.
    pub async fn run(self) -> io::Result<()> {
        let server = self.start()?;
        shutdown_signal().await;
        tracing::info!("shutdown signal received");
        server.shutdown().await
    }
}

async fn healthz() -> HttpResponse {
    HttpResponse::Ok().json(serde_json::json!({"status": "ok"}))
}

/// A server that is running.
pub struct RunningServer {
    addr: SocketAddr,
    hub: Hub,
    handle: ServerHandle,
    task: actix_web::rt::task::JoinHandle<io::Result<()>>,
    sweeper: Option<actix_web::rt::task::JoinHandle<()>>,
    shutdown_timeout: Duration,
    webhooks: Option<crate::webhook::Webhooks>,
}

impl RunningServer {
    /// The address it listens on.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The hub.
    pub fn hub(&self) -> &Hub {
        &self.hub
    }

    /// Closes every session with a proper close (reason: server shutdown), waits for them to
    /// go (at most the shutdown timeout), then stops the HTTP server.
    pub async fn shutdown(self) -> io::Result<()> {
        self.hub.disconnect_all(DisconnectReason::ServerShutdown);
        let deadline = Instant::now() + self.shutdown_timeout;
        // Wait for every session to go, and for every close to reach a transport (a polling
        // client's close waits for its next poll, at most a couple of seconds).
        while (self.hub.session_count() > 0 || self.hub.closing_count() > 0)
            && Instant::now() < deadline
        {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        if self.hub.session_count() > 0 {
            tracing::warn!(
                left = self.hub.session_count(),
                "sessions still open at shutdown"
            );
        }
        if let Some(webhooks) = &self.webhooks {
            // The sessions' last events (their disconnects) go out before the process ends.
            webhooks
                .flushed(deadline.saturating_duration_since(Instant::now()))
                .await;
        }
        if let Some(sweeper) = &self.sweeper {
            sweeper.abort();
        }
        self.handle.stop(true).await;
        match self.task.await {
            Ok(result) => result,
            Err(e) => Err(io::Error::other(e)),
        }
    }
}

async fn shutdown_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = tokio::signal::ctrl_c() => {}
                    _ = term.recv() => {}
                }
            }
            Err(e) => {
                tracing::warn!(%e, "cannot listen for SIGTERM");
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}
