//! Every option of the server and its default.
//!
//! One struct, readable from the command line and from `SWITCHBOARD_*` environment variables
//! (through clap), with the defaults of the Node servers our users come from.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use clap::Parser;

/// Every default, in one place, with where it comes from. The configuration's flags, the
/// protocol configurations' `Default`s and the session limits all read them from here.
pub mod defaults {
    /// socket.io pingInterval.
    pub const PING_INTERVAL_MS: u64 = 25_000;
    /// socket.io pingTimeout.
    pub const PING_TIMEOUT_MS: u64 = 20_000;
    /// socket.io maxHttpBufferSize (also the WebSocket message and SockJS body limit).
    pub const MAX_MESSAGE_SIZE: usize = 1_000_000;
    /// socket.io upgradeTimeout.
    pub const UPGRADE_TIMEOUT_MS: u64 = 10_000;
    /// socket.io connectTimeout.
    pub const CONNECT_TIMEOUT_MS: u64 = 45_000;
    /// Node's maxHeaderSize (16 KiB).
    pub const MAX_HEAD_SIZE: usize = 16 * 1024;
    /// nginx's client_body_timeout.
    pub const BODY_TIMEOUT_MS: u64 = 60_000;
    /// Messages per publish batch (and a sixteenth of a session's inbox).
    pub const MAX_OUTBOX: usize = 1024;
    /// Bytes waiting for one client (Centrifugo's client queue is 1 MiB; four here).
    pub const MAX_OUTBOX_BYTES: usize = 4 << 20;
    /// How long queued data may wait for a client that does not read.
    pub const WRITE_TIMEOUT_MS: u64 = 10_000;
    /// How long a write to an upgraded connection may make no progress at all.
    pub const WRITE_STALL_TIMEOUT_MS: u64 = 30_000;
    /// Sessions per node.
    pub const MAX_SESSIONS: usize = 100_000;
    /// Rooms per session.
    pub const MAX_ROOMS_PER_SESSION: usize = 1024;
    /// Bytes of a room name.
    pub const MAX_ROOM_NAME: usize = 256;
    /// sockjs-node heartbeat_delay.
    pub const SOCKJS_HEARTBEAT_MS: u64 = 25_000;
    /// sockjs-node disconnect_delay.
    pub const SOCKJS_DISCONNECT_DELAY_MS: u64 = 5_000;
    /// sockjs-node response_limit.
    pub const SOCKJS_RESPONSE_LIMIT: usize = 128 * 1024;
    /// socket.io maxDisconnectionDuration.
    pub const RECOVERY_WINDOW_MS: u64 = 120_000;
    /// Broadcasts kept for recovery.
    pub const RECOVERY_MAX_MESSAGES: usize = 10_000;
    /// Bytes of broadcasts kept for recovery.
    pub const RECOVERY_MAX_BYTES: usize = 64 << 20;
    /// Graceful shutdown.
    pub const SHUTDOWN_TIMEOUT_MS: u64 = 5_000;
    /// `@socket.io/redis-adapter`'s `key` option: the prefix of every channel.
    pub const REDIS_KEY_PREFIX: &str = "socket.io";
    /// Messages waiting to be published to Redis before more are dropped (and counted).
    pub const REDIS_PUBLISH_QUEUE: usize = 65_536;
    /// How long the auth backend may take.
    pub const AUTH_TIMEOUT_MS: u64 = 5_000;
    /// Requests to the auth backend at once.
    pub const AUTH_MAX_CONCURRENT: usize = 256;
    /// Webhook events waiting for the receiver before more are dropped (and counted).
    pub const WEBHOOK_QUEUE: usize = 10_000;
    /// Webhook events in one POST.
    pub const WEBHOOK_BATCH: usize = 100;
    /// One webhook POST's time limit.
    pub const WEBHOOK_TIMEOUT_MS: u64 = 5_000;
}

use defaults as d;

/// Durations in milliseconds: at least 1 ms, at most a day (a zero interval would spin, a huge
/// one overflow a deadline).
fn millis() -> clap::builder::RangedU64ValueParser {
    clap::builder::RangedU64ValueParser::new().range(1..=86_400_000)
}

/// The whole configuration of a switchboard server.
#[derive(Debug, Clone, Parser)]
#[command(
    name = "switchboard",
    version,
    about = "A realtime server: Socket.IO, SockJS and plain WebSocket clients in one hub"
)]
pub struct Config {
    /// Address to listen on.
    #[arg(long, env = "SWITCHBOARD_LISTEN", default_value = "127.0.0.1:3000")]
    pub listen: SocketAddr,

    /// Number of worker threads (0: one per core).
    #[arg(long, env = "SWITCHBOARD_WORKERS", default_value_t = 0)]
    pub workers: usize,

    /// Folder served at `/` (the demo page).
    #[arg(long, env = "SWITCHBOARD_STATIC_DIR", default_value = "static")]
    pub static_dir: PathBuf,

    /// Bearer token required by the HTTP API (`/api/*`); none means the API is open.
    #[arg(long, env = "SWITCHBOARD_API_TOKEN")]
    pub api_token: Option<String>,

    /// Every client must present a JWT signed with this secret (HS256): its `sub` is the user
    /// (protocols/auth.md).
    #[arg(
        long,
        env = "SWITCHBOARD_AUTH_JWT_SECRET",
        conflicts_with = "auth_jwt_public_key",
        value_parser = clap::builder::NonEmptyStringValueParser::new()
    )]
    pub auth_jwt_secret: Option<String>,

    /// Every client must present a JWT signed with the private half of this public key (a PEM
    /// file: RSA for RS256, EC P-256 for ES256).
    #[arg(long, env = "SWITCHBOARD_AUTH_JWT_PUBLIC_KEY", value_parser = public_key_file())]
    pub auth_jwt_public_key: Option<PathBuf>,

    /// Every client is let in (or not) by this backend: on each connect switchboard POSTs
    /// `{protocol, transport, headers, query, auth, remote_addr}`; `200 {"user": ...}` accepts,
    /// a 4xx refuses with its `message` (protocols/auth.md).
    #[arg(long, env = "SWITCHBOARD_AUTH_URL", conflicts_with_all = ["auth_jwt_secret", "auth_jwt_public_key"], value_parser = http_url())]
    pub auth_url: Option<String>,

    /// How long the auth backend may take to answer, in milliseconds; then the client is
    /// refused with `authentication unavailable`.
    #[arg(long, env = "SWITCHBOARD_AUTH_TIMEOUT_MS", default_value_t = d::AUTH_TIMEOUT_MS, value_parser = millis())]
    pub auth_timeout_ms: u64,

    /// Most requests to the auth backend at once; more connects wait (within the timeout).
    #[arg(long, env = "SWITCHBOARD_AUTH_MAX_CONCURRENT", default_value_t = d::AUTH_MAX_CONCURRENT)]
    pub auth_max_concurrent: usize,

    /// Tell a room's members when a user's first session joins it (`joined`, `{user, info}`) and
    /// when its last leaves (`left`); needs authenticated clients.
    #[arg(long, env = "SWITCHBOARD_PRESENCE_EVENTS", default_value_t = false)]
    pub presence_events: bool,

    /// POST every connect, disconnect, join, leave and `user_offline` as JSON events to this URL
    /// (`http://`), several to a request, in order, retried with backoff.
    #[arg(long, env = "SWITCHBOARD_WEBHOOK_URL", value_parser = http_url())]
    pub webhook_url: Option<String>,

    /// Sign each webhook body: `X-Switchboard-Signature: sha256=<hex HMAC-SHA256 of the body>`.
    #[arg(long, env = "SWITCHBOARD_WEBHOOK_SECRET")]
    pub webhook_secret: Option<String>,

    /// Most webhook events waiting for the receiver; more are dropped (counted in `/api/stats`).
    #[arg(long, env = "SWITCHBOARD_WEBHOOK_QUEUE", default_value_t = d::WEBHOOK_QUEUE)]
    pub webhook_queue: usize,

    /// How long one webhook POST may take, in milliseconds; then it is retried.
    #[arg(long, env = "SWITCHBOARD_WEBHOOK_TIMEOUT_MS", default_value_t = d::WEBHOOK_TIMEOUT_MS, value_parser = millis())]
    pub webhook_timeout_ms: u64,

    /// Refuse `publish` from clients: only the server (HTTP API, library) publishes.
    #[arg(long, env = "SWITCHBOARD_SERVER_ONLY_PUBLISH", default_value_t = false)]
    pub server_only_publish: bool,

    /// Largest message a client may send, in bytes (WebSocket message, HTTP body).
    #[arg(
        long,
        env = "SWITCHBOARD_MAX_MESSAGE_SIZE",
        default_value_t = d::MAX_MESSAGE_SIZE
    )]
    pub max_message_size: usize,

    /// Largest request head (request line and headers) accepted, in bytes; a larger one is
    /// answered 431 and the connection closed (Node's maxHeaderSize, 16 KiB). Applies to
    /// the server switchboard runs; mounted into your own `HttpServer`, actix-http's 128 KiB
    /// applies.
    #[arg(long, env = "SWITCHBOARD_MAX_HEAD_SIZE", default_value_t = d::MAX_HEAD_SIZE)]
    pub max_head_size: usize,

    /// How long queued data may wait for a client that does not read it, in milliseconds;
    /// then the session is closed (a slow consumer).
    #[arg(long, env = "SWITCHBOARD_WRITE_TIMEOUT_MS", default_value_t = d::WRITE_TIMEOUT_MS, value_parser = millis())]
    pub write_timeout_ms: u64,

    /// How long a write to an upgraded connection may make no progress at all before the socket
    /// is dropped, in milliseconds (frees the socket of a client that keeps its TCP window shut).
    #[arg(long, env = "SWITCHBOARD_WRITE_STALL_TIMEOUT_MS", default_value_t = d::WRITE_STALL_TIMEOUT_MS, value_parser = millis())]
    pub write_stall_timeout_ms: u64,

    /// Longest a request body may take to arrive whole, in milliseconds (nginx's
    /// client_body_timeout is 60 s); later, the request is answered 408.
    #[arg(long, env = "SWITCHBOARD_BODY_TIMEOUT_MS", default_value_t = d::BODY_TIMEOUT_MS, value_parser = millis())]
    pub body_timeout_ms: u64,

    /// Most messages in one publish batch; sixteen times as many broadcasts may wait for one
    /// session's actor.
    #[arg(long, env = "SWITCHBOARD_MAX_OUTBOX", default_value_t = d::MAX_OUTBOX)]
    pub max_outbox: usize,

    /// Bytes that may wait for one client to read them; a client that lets more pile up
    /// (it does not drain) is disconnected (overflow, close 1008).
    #[arg(
        long,
        env = "SWITCHBOARD_MAX_OUTBOX_BYTES",
        default_value_t = d::MAX_OUTBOX_BYTES
    )]
    pub max_outbox_bytes: usize,

    /// Most sessions this node accepts at once; further connections are refused (503).
    #[arg(long, env = "SWITCHBOARD_MAX_SESSIONS", default_value_t = d::MAX_SESSIONS)]
    pub max_sessions: usize,

    /// Most rooms one session may be in.
    #[arg(
        long,
        env = "SWITCHBOARD_MAX_ROOMS_PER_SESSION",
        default_value_t = d::MAX_ROOMS_PER_SESSION
    )]
    pub max_rooms_per_session: usize,

    /// Longest room name, in bytes.
    #[arg(long, env = "SWITCHBOARD_MAX_ROOM_NAME", default_value_t = d::MAX_ROOM_NAME)]
    pub max_room_name: usize,

    /// Interval between keepalive pings, in milliseconds (socket.io pingInterval).
    #[arg(long, env = "SWITCHBOARD_PING_INTERVAL_MS", default_value_t = d::PING_INTERVAL_MS, value_parser = millis())]
    pub ping_interval_ms: u64,

    /// How long a client may stay silent after a ping before it is disconnected, in milliseconds
    /// (socket.io pingTimeout).
    #[arg(long, env = "SWITCHBOARD_PING_TIMEOUT_MS", default_value_t = d::PING_TIMEOUT_MS, value_parser = millis())]
    pub ping_timeout_ms: u64,

    /// Path of the Socket.IO endpoint.
    #[arg(long, env = "SWITCHBOARD_SOCKETIO_PATH", default_value = "/socket.io/")]
    pub socketio_path: String,

    /// How long a Socket.IO connection may stay without joining a namespace, in milliseconds
    /// (socket.io connectTimeout).
    #[arg(long, env = "SWITCHBOARD_CONNECT_TIMEOUT_MS", default_value_t = d::CONNECT_TIMEOUT_MS, value_parser = millis())]
    pub connect_timeout_ms: u64,

    /// How long a polling-to-WebSocket upgrade may take, in milliseconds (upgradeTimeout).
    #[arg(long, env = "SWITCHBOARD_UPGRADE_TIMEOUT_MS", default_value_t = d::UPGRADE_TIMEOUT_MS, value_parser = millis())]
    pub upgrade_timeout_ms: u64,

    /// Refuse Engine.IO v3 clients (socket.io-client 1.x/2.x), which are served by default.
    #[arg(long, env = "SWITCHBOARD_DISABLE_EIO3", default_value_t = false)]
    pub disable_eio3: bool,

    /// Origins allowed to reach Socket.IO from a browser on another origin (repeat the flag, or
    /// separate with commas; `*` allows any). None: no CORS headers, as Node's default.
    #[arg(long, env = "SWITCHBOARD_CORS_ORIGIN", value_delimiter = ',')]
    pub cors_origin: Vec<String>,

    /// Allow credentials (cookies) on cross-origin Socket.IO requests.
    #[arg(long, env = "SWITCHBOARD_CORS_CREDENTIALS", default_value_t = false)]
    pub cors_credentials: bool,

    /// Set the sticky-session cookie `io=<sid>` on Socket.IO handshakes (for load balancers).
    #[arg(long, env = "SWITCHBOARD_COOKIE", default_value_t = false)]
    pub cookie: bool,

    /// Prefix of the SockJS endpoint (relay mode over SockJS).
    #[arg(long, env = "SWITCHBOARD_SOCKJS_PREFIX", default_value = "/sockjs")]
    pub sockjs_prefix: String,

    /// Time between SockJS heartbeat frames, in milliseconds (sockjs-node heartbeat_delay).
    #[arg(
        long,
        env = "SWITCHBOARD_SOCKJS_HEARTBEAT_MS",
        default_value_t = d::SOCKJS_HEARTBEAT_MS,
        value_parser = millis()
    )]
    pub sockjs_heartbeat_ms: u64,

    /// How long a SockJS session lives without a receiving request, in milliseconds
    /// (sockjs-node disconnect_delay).
    #[arg(
        long,
        env = "SWITCHBOARD_SOCKJS_DISCONNECT_DELAY_MS",
        default_value_t = d::SOCKJS_DISCONNECT_DELAY_MS,
        value_parser = millis()
    )]
    pub sockjs_disconnect_delay_ms: u64,

    /// Bytes one SockJS streaming response carries before the client opens another
    /// (sockjs-node response_limit).
    #[arg(
        long,
        env = "SWITCHBOARD_SOCKJS_RESPONSE_LIMIT",
        default_value_t = d::SOCKJS_RESPONSE_LIMIT
    )]
    pub sockjs_response_limit: usize,

    /// Send the JSESSIONID cookie on SockJS requests (for sticky load balancers).
    #[arg(long, env = "SWITCHBOARD_SOCKJS_JSESSIONID", default_value_t = false)]
    pub sockjs_jsessionid: bool,

    /// The sockjs-client script the SockJS iframe page loads.
    #[arg(
        long,
        env = "SWITCHBOARD_SOCKJS_URL",
        default_value = "https://cdn.jsdelivr.net/npm/sockjs-client@1/dist/sockjs.min.js"
    )]
    pub sockjs_url: String,

    /// Connection state recovery: dropped clients that come back within the window get their
    /// session, rooms and missed messages back (Socket.IO, and relay resume over WebSocket and
    /// SockJS).
    #[arg(
        long,
        env = "SWITCHBOARD_CONNECTION_STATE_RECOVERY",
        default_value_t = false
    )]
    pub connection_state_recovery: bool,

    /// How long a dropped session is kept for recovery, in milliseconds
    /// (socket.io maxDisconnectionDuration).
    #[arg(
        long,
        env = "SWITCHBOARD_RECOVERY_WINDOW_MS",
        default_value_t = d::RECOVERY_WINDOW_MS,
        value_parser = millis()
    )]
    pub recovery_window_ms: u64,

    /// Most broadcasts kept for recovery; a client that missed more gets a fresh session.
    #[arg(
        long,
        env = "SWITCHBOARD_RECOVERY_MAX_MESSAGES",
        default_value_t = d::RECOVERY_MAX_MESSAGES
    )]
    pub recovery_max_messages: usize,

    /// Most bytes of broadcasts kept for recovery (64 MiB); older ones go first.
    #[arg(
        long,
        env = "SWITCHBOARD_RECOVERY_MAX_BYTES",
        default_value_t = d::RECOVERY_MAX_BYTES
    )]
    pub recovery_max_bytes: usize,

    /// Recovered Socket.IO connections skip the connect middleware (socket.io skipMiddlewares).
    #[arg(
        long,
        env = "SWITCHBOARD_RECOVERY_SKIP_MIDDLEWARES",
        default_value_t = true,
        action = clap::ArgAction::Set
    )]
    pub recovery_skip_middlewares: bool,

    /// Cluster mode: the Redis server (`redis://HOST:PORT[/DB]`) through which this node joins a
    /// cluster of switchboard and Node socket.io nodes (`@socket.io/redis-adapter`, classic).
    /// Without it the node is alone.
    #[arg(long, env = "SWITCHBOARD_REDIS_URL", value_parser = redis_url())]
    pub redis_url: Option<String>,

    /// The prefix of every cluster channel (the Node adapter's `key` option).
    #[arg(long, env = "SWITCHBOARD_REDIS_KEY_PREFIX", default_value = d::REDIS_KEY_PREFIX)]
    pub redis_key_prefix: String,

    /// The Node adapter the cluster runs: `classic` (`createAdapter`, PUBLISH/PSUBSCRIBE),
    /// `sharded` (`createShardedAdapter`, SPUBLISH/SSUBSCRIBE, Redis 7 or later) or `streams`
    /// (`@socket.io/redis-streams-adapter`: with `--connection-state-recovery`, clients recover
    /// on any node).
    #[arg(long, env = "SWITCHBOARD_REDIS_ADAPTER", value_enum, default_value_t = RedisAdapterKind::Classic)]
    pub redis_adapter: RedisAdapterKind,

    /// The sharded adapter's `subscriptionMode`: `dynamic` (a channel of its own for each room
    /// this node has), `dynamic-private` (for each socket id too) or `static` (one channel).
    #[arg(long, env = "SWITCHBOARD_REDIS_SUBSCRIPTION_MODE", value_enum, default_value_t = SubscriptionMode::Dynamic)]
    pub redis_subscription_mode: SubscriptionMode,

    /// Messages waiting to be published to Redis; past it they are dropped and counted
    /// (`cluster.publish_dropped` in `/api/stats`), and local delivery goes on.
    #[arg(long, env = "SWITCHBOARD_REDIS_PUBLISH_QUEUE", default_value_t = d::REDIS_PUBLISH_QUEUE)]
    pub redis_publish_queue: usize,

    /// How long graceful shutdown waits for sessions to close, in milliseconds.
    #[arg(long, env = "SWITCHBOARD_SHUTDOWN_TIMEOUT_MS", default_value_t = d::SHUTDOWN_TIMEOUT_MS, value_parser = millis())]
    pub shutdown_timeout_ms: u64,
}

/// Which `@socket.io/redis-adapter` protocol a cluster speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum RedisAdapterKind {
    /// `createAdapter`: PUBLISH/PSUBSCRIBE, msgpack broadcasts, `PUBSUB NUMSUB` server count.
    Classic,
    /// `createShardedAdapter`: SPUBLISH/SSUBSCRIBE, JSON envelopes, `PUBSUB SHARDNUMSUB`.
    Sharded,
    /// `@socket.io/redis-streams-adapter` 0.3: broadcasts in a Redis stream (whose entry ids are
    /// the offsets clients recover from on any node), requests over Pub/Sub, dropped sessions
    /// in Redis.
    Streams,
}

/// Which channels a sharded-adapter node subscribes to (Node's `subscriptionMode`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum SubscriptionMode {
    /// The namespace's channel only: every broadcast reaches every node.
    Static,
    /// Also a channel for each room this node has members of (not for socket ids).
    #[default]
    Dynamic,
    /// Also a channel for each room and each socket id of this node.
    DynamicPrivate,
}

/// A PEM file holding a public key a JWT can be checked with, read when the configuration is,
/// so a wrong file stops the server at once.
fn public_key_file() -> impl clap::builder::TypedValueParser<Value = PathBuf> {
    use clap::builder::TypedValueParser;
    clap::builder::PathBufValueParser::new().try_map(|path: PathBuf| {
        let pem = std::fs::read(&path).map_err(|e| format!("{}: {e}", path.display()))?;
        crate::auth::JwtAuthenticator::from_public_key_pem(&pem)
            .map_err(|e| format!("{}: {e}", path.display()))?;
        Ok::<_, String>(path)
    })
}

/// An `http://host[:port]/path` URL, checked when the configuration is read (the backends
/// switchboard calls are plain HTTP for now).
fn http_url() -> impl clap::builder::TypedValueParser<Value = String> {
    use clap::builder::TypedValueParser;
    clap::builder::NonEmptyStringValueParser::new().try_map(|url: String| {
        let uri: actix_web::http::Uri = url.parse().map_err(|e| format!("{url}: {e}"))?;
        match (uri.scheme_str(), uri.host()) {
            (Some("http"), Some(_)) => Ok(url),
            _ => Err(format!("{url}: an http:// URL with a host is needed")),
        }
    })
}

/// Checks a Redis URL when the configuration is read, so a typo stops the server at once.
fn redis_url() -> impl clap::builder::TypedValueParser<Value = String> {
    use clap::builder::TypedValueParser;
    clap::builder::NonEmptyStringValueParser::new().try_map(|url: String| {
        redis::Client::open(url.as_str())
            .map(|_| url.clone())
            .map_err(|error| error.to_string())
    })
}

impl Default for Config {
    fn default() -> Self {
        Config::parse_from(["switchboard"])
    }
}

impl Config {
    /// The webhooks `--webhook-url` asks for.
    pub(crate) fn webhooks(&self) -> Option<crate::webhook::WebhookConfig> {
        Some(crate::webhook::WebhookConfig {
            url: self.webhook_url.clone()?,
            secret: self.webhook_secret.clone(),
            queue: self.webhook_queue,
            batch: d::WEBHOOK_BATCH,
            timeout: Duration::from_millis(self.webhook_timeout_ms),
        })
    }

    /// The authenticator `--auth-url`, `--auth-jwt-secret` or `--auth-jwt-public-key` asks for,
    /// if one is set. A key file that cannot be used (checked again here, for configurations built in
    /// code) refuses every client: a server told to authenticate never runs open.
    pub(crate) fn authenticator(&self) -> Option<crate::auth::SharedAuthenticator> {
        use crate::auth::{JwtAuthenticator, Refuser};
        if let Some(url) = &self.auth_url {
            return Some(std::sync::Arc::new(crate::auth::BackendAuthenticator::new(
                url.clone(),
                Duration::from_millis(self.auth_timeout_ms),
                self.auth_max_concurrent,
            )));
        }
        let (what, key) = match (&self.auth_jwt_secret, &self.auth_jwt_public_key) {
            (Some(secret), _) => (
                "--auth-jwt-secret".to_string(),
                JwtAuthenticator::hs256(secret.as_bytes()).map_err(|e| e.to_string()),
            ),
            (None, Some(path)) => (
                path.display().to_string(),
                std::fs::read(path)
                    .map_err(|e| e.to_string())
                    .and_then(|pem| {
                        JwtAuthenticator::from_public_key_pem(&pem).map_err(|e| e.to_string())
                    }),
            ),
            (None, None) => return None,
        };
        Some(match key {
            Ok(authenticator) => std::sync::Arc::new(authenticator),
            Err(error) => {
                tracing::error!(key = what, %error, "JWT key unusable: every client is refused");
                std::sync::Arc::new(Refuser)
            }
        })
    }

    /// Keepalive ping interval.
    pub fn ping_interval(&self) -> Duration {
        Duration::from_millis(self.ping_interval_ms)
    }

    /// Silence allowed after a ping before the session is closed.
    pub fn ping_timeout(&self) -> Duration {
        Duration::from_millis(self.ping_timeout_ms)
    }

    /// What the hub keeps for recovery, when it is on.
    pub fn recovery(&self) -> Option<crate::hub::RecoveryConfig> {
        self.connection_state_recovery
            .then(|| crate::hub::RecoveryConfig {
                max_disconnection: Duration::from_millis(self.recovery_window_ms),
                max_messages: self.recovery_max_messages,
                max_bytes: self.recovery_max_bytes,
                ..crate::hub::RecoveryConfig::default()
            })
    }

    /// How long queued data may wait for a client that does not read it.
    pub fn write_timeout(&self) -> Duration {
        Duration::from_millis(self.write_timeout_ms)
    }

    /// How long a write to an upgraded connection may make no progress.
    pub fn write_stall_timeout(&self) -> Duration {
        Duration::from_millis(self.write_stall_timeout_ms)
    }

    /// Longest a request body may take to arrive.
    pub fn body_timeout(&self) -> Duration {
        Duration::from_millis(self.body_timeout_ms)
    }

    /// Time graceful shutdown waits for sessions to close.
    pub fn shutdown_timeout(&self) -> Duration {
        Duration::from_millis(self.shutdown_timeout_ms)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_match_the_node_servers() {
        let c = Config::default();
        assert_eq!(c.listen, "127.0.0.1:3000".parse().unwrap());
        assert_eq!(c.ping_interval(), Duration::from_secs(25));
        assert_eq!(c.ping_timeout(), Duration::from_secs(20));
        assert_eq!(c.max_message_size, 1_000_000);
        assert!(!c.server_only_publish);
    }

    #[test]
    fn backend_urls_must_be_http_with_a_host() {
        let parse = |flag: &str, url: &str| Config::try_parse_from(["switchboard", flag, url]);
        for flag in ["--webhook-url", "--auth-url"] {
            assert!(parse(flag, "http://127.0.0.1:8080/hook").is_ok(), "{flag}");
            assert!(
                parse(flag, "https://backend/hook").is_err(),
                "{flag}: no TLS yet"
            );
            assert!(parse(flag, "backend/hook").is_err(), "{flag}");
            assert!(parse(flag, "http://").is_err(), "{flag}");
        }
    }

    #[test]
    fn durations_must_be_sane() {
        assert!(Config::try_parse_from(["switchboard", "--ping-interval-ms", "0"]).is_err());
        assert!(
            Config::try_parse_from(["switchboard", "--sockjs-heartbeat-ms", "99999999999"])
                .is_err()
        );
        assert!(Config::try_parse_from(["switchboard", "--ping-interval-ms", "300"]).is_ok());
    }

    #[test]
    fn flags_override_defaults() {
        let c = Config::parse_from([
            "switchboard",
            "--listen",
            "0.0.0.0:8080",
            "--server-only-publish",
        ]);
        assert_eq!(c.listen.port(), 8080);
        assert!(c.server_only_publish);
    }
}
