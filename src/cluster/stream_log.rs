//! A streams cluster's stream (`@socket.io/redis-streams-adapter`, protocols/redis-streams-adapter.md
//! §3 and §6): the XREAD loop that hands other nodes' entries to the hub, and the restore of a
//! dropped session (GET and DEL in one MULTI, then XRANGE from its offset).

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use redis::Value;
use tokio::sync::mpsc;

use super::link::{broadcast_message, Link, MAX_BACKOFF, MIN_BACKOFF};
use super::streams::{self, StreamChannels, BLOCK_MS, READ_COUNT};
use super::{LinkCounters, RestoreError, RestoreJob, Restored};
use crate::hub::{Offset, Room, WeakHub};

/// Most `XRANGE` calls one restore makes (Node's `RESTORE_SESSION_MAX_XRANGE_CALLS`).
const MAX_XRANGE_CALLS: usize = 100;
/// Restores running at once on the Redis thread.
const MAX_RESTORES_RUNNING: usize = 64;
/// Entries one `XRANGE` of a restore reads.
const XRANGE_COUNT: usize = 1_000;

/// One stream entry: its id and its fields.
type Entry = (Offset, Vec<(String, Vec<u8>)>);

fn bytes(value: Value) -> Option<Vec<u8>> {
    match value {
        Value::BulkString(b) => Some(b),
        Value::SimpleString(s) => Some(s.into_bytes()),
        _ => None,
    }
}

/// The entries of an `XRANGE` reply (what is not an entry is skipped).
fn entries(value: Value) -> Vec<Entry> {
    let Value::Array(items) = value else {
        return Vec::new();
    };
    items
        .into_iter()
        .filter_map(|item| {
            let Value::Array(pair) = item else {
                return None;
            };
            let mut pair = pair.into_iter();
            let id = String::from_utf8(bytes(pair.next()?)?).ok()?.parse().ok()?;
            let Value::Array(flat) = pair.next()? else {
                return None;
            };
            let mut fields = Vec::with_capacity(flat.len() / 2);
            let mut flat = flat.into_iter();
            while let (Some(k), Some(v)) = (flat.next(), flat.next()) {
                fields.push((String::from_utf8(bytes(k)?).ok()?, bytes(v)?));
            }
            Some((id, fields))
        })
        .collect()
}

/// The entries of an `XREAD` reply of one stream (nil when it timed out).
fn read_entries(value: Value) -> Vec<Entry> {
    match value {
        Value::Array(streams) => streams
            .into_iter()
            .flat_map(|stream| match stream {
                Value::Array(pair) => pair.into_iter().nth(1).map(entries).unwrap_or_default(),
                _ => Vec::new(),
            })
            .collect(),
        Value::Map(streams) => streams
            .into_iter()
            .flat_map(|(_, list)| entries(list))
            .collect(),
        _ => Vec::new(),
    }
}

/// The newest entry's id, if the stream has one (`XREVRANGE + - COUNT 1`).
async fn newest(
    connection: &mut redis::aio::MultiplexedConnection,
    stream: &str,
) -> redis::RedisResult<Option<Offset>> {
    let reply: Value = redis::cmd("XREVRANGE")
        .arg(stream)
        .arg("+")
        .arg("-")
        .arg("COUNT")
        .arg(1)
        .query_async(connection)
        .await?;
    Ok(entries(reply).into_iter().next().map(|(id, _)| id))
}

/// Reads the stream, until the hub is gone: each entry of another node goes to the hub. It
/// starts after the newest entry (Node's `$`) and, after a lost connection, goes on from the
/// last one it read.
pub(super) async fn read(
    link: Arc<Link>,
    client: redis::Client,
    hub: WeakHub,
    channels: StreamChannels,
) {
    let config = redis::AsyncConnectionConfig::new()
        .set_connection_timeout(Some(Duration::from_secs(5)))
        .set_response_timeout(Some(
            Duration::from_millis(BLOCK_MS) + Duration::from_secs(5),
        ));
    let stream = channels.stream();
    let mut last: Option<Offset> = None;
    let mut backoff = MIN_BACKOFF;
    loop {
        if hub.upgrade().is_none() {
            return;
        }
        let mut connection = match client
            .get_multiplexed_async_connection_with_config(&config)
            .await
        {
            Ok(connection) => connection,
            Err(error) => {
                tracing::warn!(node = %link.uid, %error, retry_in_ms = backoff.as_millis() as u64, "cluster: cannot connect to Redis to read the stream");
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(MAX_BACKOFF);
                continue;
            }
        };
        if last.is_none() {
            match newest(&mut connection, stream).await {
                Ok(id) => {
                    let id = id.unwrap_or(Offset::Stream { ms: 0, seq: 0 });
                    link.saw(id);
                    last = Some(id);
                }
                Err(error) => {
                    tracing::warn!(node = %link.uid, %error, "cluster: cannot read the stream");
                    tokio::time::sleep(backoff).await;
                    backoff = (backoff * 2).min(MAX_BACKOFF);
                    continue;
                }
            }
        }
        backoff = MIN_BACKOFF;
        link.counters.reading.store(true, Ordering::Relaxed);
        loop {
            let from = last.map(|id| id.to_string()).unwrap_or_else(|| "$".into());
            let reply: redis::RedisResult<Value> = redis::cmd("XREAD")
                .arg("COUNT")
                .arg(READ_COUNT)
                .arg("BLOCK")
                .arg(BLOCK_MS)
                .arg("STREAMS")
                .arg(stream)
                .arg(&from)
                .query_async(&mut connection)
                .await;
            match reply {
                Ok(reply) => {
                    let Some(hub) = hub.upgrade() else { return };
                    for (id, fields) in read_entries(reply) {
                        last = Some(id);
                        link.saw(id);
                        link.on_entry(&hub, id, &fields);
                    }
                }
                Err(error) => {
                    link.counters.reading.store(false, Ordering::Relaxed);
                    tracing::warn!(node = %link.uid, %error, "cluster: lost the stream; reading on from the last entry once Redis is back");
                    break;
                }
            }
        }
        tokio::time::sleep(backoff).await;
    }
}

/// Serves restores until the adapter is gone, each on its own task.
pub(super) async fn serve_restores(
    link: Arc<Link>,
    client: redis::Client,
    channels: StreamChannels,
    mut jobs: mpsc::Receiver<RestoreJob>,
) {
    let config = redis::aio::ConnectionManagerConfig::new()
        .set_min_delay(MIN_BACKOFF)
        .set_max_delay(MAX_BACKOFF)
        .set_connection_timeout(Some(Duration::from_secs(5)))
        .set_response_timeout(Some(Duration::from_secs(5)));
    let mut backoff = MIN_BACKOFF;
    let connection = loop {
        match client
            .get_connection_manager_with_config(config.clone())
            .await
        {
            Ok(connection) => break connection,
            Err(error) => {
                tracing::warn!(%error, retry_in_ms = backoff.as_millis() as u64, "cluster: cannot connect to Redis for restores");
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(MAX_BACKOFF);
            }
        }
    };
    let channels = Arc::new(channels);
    // At most this many run at once; the rest wait in the bounded queue (and their callers give
    // up after 5 s), so a flood of reconnections cannot spawn without end.
    let running = Arc::new(tokio::sync::Semaphore::new(MAX_RESTORES_RUNNING));
    while let Some(job) = jobs.recv().await {
        let Ok(permit) = running.clone().acquire_owned().await else {
            return;
        };
        let (connection, channels, link) = (connection.clone(), channels.clone(), link.clone());
        tokio::spawn(async move {
            let _permit = permit;
            let result = restore(connection, &channels, &job.pid, job.offset, link.recovery).await;
            if let Err(error) = &result {
                tracing::debug!(node = %link.uid, pid = %job.pid, %error, "cluster: session not restored");
            }
            let _ = job.reply.send(result);
        });
    }
}

/// Takes the session `pid` out of Redis and reads what it missed since `offset`, as Node's
/// `restoreSession` does: the session is gone once asked for, found or not.
async fn restore(
    connection: redis::aio::ConnectionManager,
    channels: &StreamChannels,
    pid: &str,
    offset: Offset,
    offsets: bool,
) -> Result<Restored, RestoreError> {
    let key = channels.session_key(pid);
    let stream = channels.stream();
    let id = offset.to_string();
    let (mut take_on, mut check_on) = (connection.clone(), connection);
    let mut take_pipe = redis::pipe();
    take_pipe
        .atomic()
        .cmd("GET")
        .arg(&key)
        .cmd("DEL")
        .arg(&key)
        .ignore();
    let take = take_pipe.query_async::<(Option<Vec<u8>>,)>(&mut take_on);
    let mut check_cmd = redis::cmd("XRANGE");
    check_cmd.arg(stream).arg(&id).arg(&id);
    let check = check_cmd.query_async::<Value>(&mut check_on);
    let (taken, found) = tokio::join!(take, check);
    let unreachable = |_| RestoreError::Unreachable;
    let (taken,) = taken.map_err(unreachable)?;
    let found = entries(found.map_err(unreachable)?);
    // Node's "session or offset not found", told apart as the relay protocol words it.
    let taken = taken.ok_or(RestoreError::UnknownSession)?;
    if found.is_empty() {
        return Err(RestoreError::OffsetGone);
    }
    let session = streams::decode_session(&taken).map_err(|_| RestoreError::UnknownSession)?;
    let mut missed = Vec::new();
    let mut cursor = offset;
    for _ in 0..MAX_XRANGE_CALLS {
        let mut next_on = check_on.clone();
        let reply: Value = redis::cmd("XRANGE")
            .arg(stream)
            .arg(cursor.next_stream_id())
            .arg("+")
            .arg("COUNT")
            .arg(XRANGE_COUNT)
            .query_async(&mut next_on)
            .await
            .map_err(unreachable)?;
        let batch = entries(reply);
        if batch.is_empty() {
            break;
        }
        for (id, fields) in batch {
            cursor = id;
            if let Some(broadcast) = streams::missed_broadcast(&session.rooms, id, &fields) {
                missed.push(broadcast_message(&broadcast, offsets));
            }
        }
    }
    let rooms: Vec<Room> = session
        .rooms
        .into_iter()
        .filter(|room| room.as_ref() != session.sid)
        .collect();
    Ok(Restored {
        sid: session.sid,
        rooms,
        missed,
        through: cursor,
    })
}

impl Link {
    /// The stream has reached `id`: the newest this node knows.
    pub(super) fn saw(&self, id: Offset) {
        if let Ok(mut head) = self.head.lock() {
            *head = (*head).max(id);
        }
    }

    /// An entry of the stream: another node's broadcast or operation, acted on here.
    fn on_entry(&self, hub: &crate::hub::Hub, id: Offset, fields: &[(String, Vec<u8>)]) {
        LinkCounters::add(&self.counters.received, 1);
        match streams::decode_entry(&self.uid, id, fields) {
            Ok(super::wire::Incoming::Broadcast(broadcast)) => {
                let message = broadcast_message(&broadcast, self.recovery);
                hub.deliver_selected(&broadcast.to.rooms, &broadcast.to.except, &message);
            }
            Ok(super::wire::Incoming::Request(request)) => self.on_request(hub, request),
            Ok(_) => {}
            Err(error) => {
                LinkCounters::add(&self.counters.malformed, 1);
                tracing::warn!(node = %self.uid, %id, %error, "cluster: stream entry dropped");
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bulk(s: &str) -> Value {
        Value::BulkString(s.as_bytes().to_vec())
    }

    #[test]
    fn replies_are_read_and_garbage_skipped() {
        let entry = Value::Array(vec![
            bulk("5-1"),
            Value::Array(vec![bulk("uid"), bulk("u"), bulk("type"), bulk("3")]),
        ]);
        let junk = Value::Array(vec![bulk("not-an-id"), Value::Array(vec![])]);
        let listed = entries(Value::Array(vec![entry.clone(), junk, Value::Int(3)]));
        assert_eq!(listed.len(), 1);
        assert_eq!(listed[0].0, Offset::Stream { ms: 5, seq: 1 });
        assert_eq!(listed[0].1[1], ("type".to_string(), b"3".to_vec()));
        let read = Value::Array(vec![Value::Array(vec![
            bulk("socket.io"),
            Value::Array(vec![entry]),
        ])]);
        assert_eq!(read_entries(read).len(), 1);
        assert!(read_entries(Value::Nil).is_empty());
    }
}
