//! A Redis connection held in subscribed mode for sharded channels (SSUBSCRIBE, RESP2): the
//! `redis` crate speaks sharded pub/sub only through its Redis Cluster client, so this one
//! writes commands packed by `redis` and reads replies with `redis-protocol`'s RESP2 decoder.

use redis_protocol::resp2::decode::decode;
use redis_protocol::resp2::types::OwnedFrame;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::TcpStream;

/// The most bytes one reply may take before the connection is given up (a message on a
/// channel is at most Redis's own 512 MB bulk limit; nothing sane comes near this).
const MAX_REPLY: usize = 64 * 1024 * 1024;

/// What Redis sent on a subscribed connection.
#[derive(Debug, PartialEq)]
pub(super) enum Push {
    /// A message published on a shard channel this connection subscribes to.
    Message { channel: String, payload: Vec<u8> },
    /// A subscription (or unsubscription) was confirmed.
    Confirmed,
    /// The answer to a PING.
    Pong,
    /// Redis refused a command (e.g. `unknown command 'SSUBSCRIBE'` before Redis 7).
    Refused(String),
}

/// Why the connection is no use any more.
#[derive(Debug, thiserror::Error)]
pub(super) enum ShardError {
    /// The socket failed or closed.
    #[error("{0}")]
    Io(#[from] std::io::Error),
    /// Redis sent something that is not RESP2, or too much of it.
    #[error("bad reply from Redis: {0}")]
    Protocol(String),
    /// Redis refused to authenticate this connection.
    #[error("Redis refused AUTH: {0}")]
    Auth(String),
    /// The URL names something this connection cannot reach (TLS, a Unix socket).
    #[error("sharded pub/sub needs a redis:// TCP URL")]
    Unsupported,
}

/// The reading half: what has come and not been decoded yet.
pub(super) struct ShardReader {
    socket: OwnedReadHalf,
    buffer: Vec<u8>,
}

/// The writing half: commands go out whole.
pub(super) struct ShardWriter {
    socket: OwnedWriteHalf,
}

/// Connects to the Redis of `info` and authenticates when the URL has a password.
pub(super) async fn connect(
    info: &redis::ConnectionInfo,
) -> Result<(ShardReader, ShardWriter), ShardError> {
    let redis::ConnectionAddr::Tcp(host, port) = info.addr() else {
        return Err(ShardError::Unsupported);
    };
    let socket = TcpStream::connect((host.as_str(), *port)).await?;
    socket.set_nodelay(true)?;
    let (read, write) = socket.into_split();
    let mut reader = ShardReader {
        socket: read,
        buffer: Vec::with_capacity(16 * 1024),
    };
    let mut writer = ShardWriter { socket: write };
    let settings = info.redis_settings();
    if let Some(password) = settings.password() {
        let mut auth = redis::cmd("AUTH");
        if let Some(user) = settings.username() {
            auth.arg(user);
        }
        auth.arg(password);
        writer.send(&auth).await?;
        if let OwnedFrame::Error(error) = reader.next_frame().await? {
            return Err(ShardError::Auth(error));
        }
    }
    Ok((reader, writer))
}

impl ShardWriter {
    /// Writes one command.
    pub(super) async fn send(&mut self, command: &redis::Cmd) -> Result<(), ShardError> {
        self.socket.write_all(&command.get_packed_command()).await?;
        Ok(())
    }

    /// Subscribes to `channels` (nothing is sent for none).
    pub(super) async fn subscribe(&mut self, channels: &[String]) -> Result<(), ShardError> {
        self.channels_command("SSUBSCRIBE", channels).await
    }

    /// Unsubscribes from `channels` (nothing is sent for none: that would mean all of them).
    pub(super) async fn unsubscribe(&mut self, channels: &[String]) -> Result<(), ShardError> {
        self.channels_command("SUNSUBSCRIBE", channels).await
    }

    async fn channels_command(
        &mut self,
        name: &str,
        channels: &[String],
    ) -> Result<(), ShardError> {
        // Redis Cluster wants the channels of one command in one slot; one channel per command
        // keeps that true, and one write carries them all.
        let mut bytes = Vec::new();
        for channel in channels {
            bytes.extend_from_slice(&redis::cmd(name).arg(channel).get_packed_command());
        }
        if !bytes.is_empty() {
            self.socket.write_all(&bytes).await?;
        }
        Ok(())
    }
}

impl ShardReader {
    async fn next_frame(&mut self) -> Result<OwnedFrame, ShardError> {
        loop {
            match decode(&self.buffer) {
                Ok(Some((frame, used))) => {
                    self.buffer.drain(..used);
                    return Ok(frame);
                }
                Ok(None) if self.buffer.len() > MAX_REPLY => {
                    return Err(ShardError::Protocol("reply too large".into()))
                }
                Ok(None) => {}
                Err(error) => return Err(ShardError::Protocol(error.to_string())),
            }
            let read = self.socket.read_buf(&mut self.buffer).await?;
            if read == 0 {
                return Err(ShardError::Io(std::io::ErrorKind::UnexpectedEof.into()));
            }
        }
    }

    /// The next thing Redis sends.
    pub(super) async fn next(&mut self) -> Result<Push, ShardError> {
        let frame = self.next_frame().await?;
        Ok(match frame {
            OwnedFrame::Error(error) => Push::Refused(error),
            OwnedFrame::Array(items) => match <[OwnedFrame; 3]>::try_from(items) {
                Ok(
                    [OwnedFrame::BulkString(kind), OwnedFrame::BulkString(channel), OwnedFrame::BulkString(payload)],
                ) if kind == b"smessage" => Push::Message {
                    channel: String::from_utf8_lossy(&channel).into_owned(),
                    payload,
                },
                Ok([OwnedFrame::BulkString(kind), _, _])
                    if kind == b"ssubscribe" || kind == b"sunsubscribe" =>
                {
                    Push::Confirmed
                }
                Ok(other) => return Err(ShardError::Protocol(format!("unexpected {other:?}"))),
                // In subscribed mode a PING is answered with `["pong", ""]`.
                Err(items) => match items.first() {
                    Some(OwnedFrame::BulkString(kind)) if kind == b"pong" => Push::Pong,
                    _ => return Err(ShardError::Protocol(format!("unexpected {items:?}"))),
                },
            },
            OwnedFrame::SimpleString(text) if text == b"PONG" => Push::Pong,
            other => return Err(ShardError::Protocol(format!("unexpected {other:?}"))),
        })
    }
}
