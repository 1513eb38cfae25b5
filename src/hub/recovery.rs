//! What the hub keeps so that a client that drops and comes back finds its session as it left
//! it: a log of recent broadcasts (each kept once, whoever missed it) and the sessions that ended
//! recently, by private token.
//!
//! Both are bounded: the log by count, bytes and age, kept sessions by count and age. A session whose missed
//! messages fell out of the log is not recovered at all (a fresh session, never a partial replay).

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use dashmap::DashMap;

use super::{Message, Offset, Room, SessionId, Target};
use crate::config::defaults;

/// How long and how much the hub keeps for recovery.
#[derive(Debug, Clone)]
pub struct RecoveryConfig {
    /// How long a session is kept after it drops (socket.io maxDisconnectionDuration).
    pub max_disconnection: Duration,
    /// Most broadcasts kept in the log.
    pub max_messages: usize,
    /// Most bytes of broadcasts kept in the log (as [`Message::size`] counts them).
    pub max_bytes: usize,
    /// Most dropped sessions kept at once; more are not kept (they get a fresh session).
    pub max_kept: usize,
}

impl Default for RecoveryConfig {
    fn default() -> Self {
        RecoveryConfig {
            max_disconnection: Duration::from_millis(defaults::RECOVERY_WINDOW_MS),
            max_messages: defaults::RECOVERY_MAX_MESSAGES,
            max_bytes: defaults::RECOVERY_MAX_BYTES,
            max_kept: 100_000,
        }
    }
}

/// A session that ended recently and may come back.
#[derive(Debug, Clone)]
pub(crate) struct KeptSession {
    /// Its id (a Socket.IO socket gets it back).
    pub id: SessionId,
    /// The Socket.IO namespace it was in (`None`: `/` or a relay session).
    pub namespace: Option<Arc<str>>,
    /// The rooms it was in.
    pub rooms: Vec<Room>,
    expires: Instant,
}

/// A recovered session: what it was, and what it missed, in order.
#[derive(Debug)]
pub(crate) struct Recovered {
    /// The session as it was kept.
    pub session: KeptSession,
    /// The broadcasts it missed, oldest first.
    pub missed: Vec<Arc<Message>>,
    /// The newest offset at the time of recovery: live deliveries at or below it are duplicates.
    pub through: Offset,
}

/// Why a session could not be recovered (the client gets a fresh session).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub(crate) enum RecoveryError {
    /// The token names no kept session (never, or expired, or already recovered).
    #[error("unknown or expired session")]
    UnknownSession,
    /// The offset is not one the server gave.
    #[error("invalid offset")]
    InvalidOffset,
    /// Messages the session missed are no longer in the log.
    #[error("missed messages are no longer available")]
    Overflow,
}

struct Logged {
    offset: u64,
    at: Instant,
    size: usize,
    target: Target,
    message: Arc<Message>,
}

struct Log {
    entries: VecDeque<Logged>,
    /// The sizes of `entries`, added up.
    bytes: usize,
    /// The next offset to give.
    next: u64,
}

/// The recovery state of one hub.
pub(crate) struct Recovery {
    config: RecoveryConfig,
    log: Mutex<Log>,
    kept: DashMap<String, KeptSession>,
    /// Private tokens of live relay sessions, by session id.
    tokens: DashMap<SessionId, String>,
    keeps: std::sync::atomic::AtomicU64,
}

impl Recovery {
    /// Empty recovery state.
    pub(crate) fn new(config: RecoveryConfig) -> Recovery {
        Recovery {
            config,
            log: Mutex::new(Log {
                entries: VecDeque::new(),
                bytes: 0,
                next: 1,
            }),
            kept: DashMap::new(),
            tokens: DashMap::new(),
            keeps: std::sync::atomic::AtomicU64::new(0),
        }
    }

    /// The private token a live session will be recovered by (created on first use).
    pub(crate) fn token_for(&self, id: &SessionId) -> String {
        self.tokens
            .entry(id.clone())
            .or_insert_with(|| super::new_session_id().to_string())
            .clone()
    }

    /// A live session with a token ended: its token, forgotten here (a streams cluster keeps
    /// the session in Redis instead).
    pub(crate) fn forget_token(&self, id: &SessionId) -> Option<String> {
        self.tokens.remove(id).map(|(_, token)| token)
    }

    /// A live session with a token ended: keep it under that token when `recoverable`, forget
    /// it otherwise.
    pub(crate) fn park(&self, id: &SessionId, rooms: Vec<Room>, recoverable: bool) {
        if let Some((_, token)) = self.tokens.remove(id) {
            if recoverable {
                self.keep(token, id.clone(), None, rooms);
            }
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Log> {
        self.log.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Gives a broadcast its offset and keeps it; call before delivering it.
    pub(crate) fn record(&self, target: &Target, message: &Arc<Message>) {
        let mut log = self.lock();
        let offset = log.next;
        log.next += 1;
        message.set_offset(Offset::Local(offset));
        let size = message.size();
        let now = Instant::now();
        log.bytes += size;
        log.entries.push_back(Logged {
            offset,
            at: now,
            size,
            target: target.clone(),
            message: message.clone(),
        });
        log.trim(now, &self.config);
    }

    /// The newest offset given so far (0 before any).
    pub(crate) fn head(&self) -> Offset {
        Offset::Local(self.lock().next - 1)
    }

    /// Keeps a session that dropped, under its private `token`.
    pub(crate) fn keep(
        &self,
        token: String,
        id: SessionId,
        namespace: Option<Arc<str>>,
        rooms: Vec<Room>,
    ) {
        let expires = Instant::now() + self.config.max_disconnection;
        // Amortized clean-up: sessions that never come back go, whoever calls.
        if self
            .keeps
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed)
            % 64
            == 63
        {
            self.sweep();
        }
        if self.kept.len() >= self.config.max_kept {
            self.sweep();
            if self.kept.len() >= self.config.max_kept {
                tracing::warn!(
                    limit = self.config.max_kept,
                    "recovery: too many kept sessions, not keeping one more"
                );
                return;
            }
        }
        self.kept.insert(
            token,
            KeptSession {
                id,
                namespace,
                rooms,
                expires,
            },
        );
    }

    /// Takes back a kept session and what it missed since `offset` (the last offset it got).
    #[cfg(test)]
    pub(crate) fn recover(&self, token: &str, offset: u64) -> Result<Recovered, RecoveryError> {
        let offset = Offset::Local(offset);
        let session = self.take(token)?;
        let (missed, through) = self.missed(&session, offset)?;
        Ok(Recovered {
            session,
            missed,
            through,
        })
    }

    /// Takes back a kept session (once: the token is used up), if it has not expired.
    pub(crate) fn take(&self, token: &str) -> Result<KeptSession, RecoveryError> {
        let (_, session) = self
            .kept
            .remove(token)
            .ok_or(RecoveryError::UnknownSession)?;
        if Instant::now() > session.expires {
            return Err(RecoveryError::UnknownSession);
        }
        Ok(session)
    }

    /// What `session` missed since `offset`, oldest first, and the newest offset now. Call it
    /// after the recovered session is back in its rooms: a broadcast recorded meanwhile is then
    /// either in this list or delivered live (live copies at or below the newest offset are
    /// duplicates to drop).
    pub(crate) fn missed(
        &self,
        session: &KeptSession,
        offset: Offset,
    ) -> Result<(Vec<Arc<Message>>, Offset), RecoveryError> {
        // This log counts; a stream id is a cluster's (another node's streams mode).
        let Offset::Local(offset) = offset else {
            return Err(RecoveryError::InvalidOffset);
        };
        let log = self.lock();
        let through = log.next - 1;
        if offset > through {
            return Err(RecoveryError::InvalidOffset);
        }
        let first = log.entries.front().map_or(log.next, |e| e.offset);
        if offset + 1 < first {
            return Err(RecoveryError::Overflow);
        }
        let missed = log
            .entries
            .iter()
            .filter(|e| e.offset > offset && reaches(&e.target, session))
            .filter(|e| e.message.namespace == session.namespace)
            .map(|e| e.message.clone())
            .collect();
        Ok((missed, Offset::Local(through)))
    }

    /// Drops expired sessions and log entries; returns how many sessions went.
    pub(crate) fn sweep(&self) -> usize {
        let now = Instant::now();
        let before = self.kept.len();
        self.kept.retain(|_, s| s.expires > now);
        self.lock().trim(now, &self.config);
        before - self.kept.len()
    }

    /// Sessions kept now.
    pub(crate) fn kept_count(&self) -> usize {
        self.kept.len()
    }

    /// Broadcasts in the log now.
    pub(crate) fn log_len(&self) -> usize {
        self.lock().entries.len()
    }

    /// Bytes of the broadcasts in the log now.
    pub(crate) fn log_bytes(&self) -> usize {
        self.lock().bytes
    }
}

impl Log {
    /// Drops the oldest entries until the log is within its count, bytes and age.
    fn trim(&mut self, now: Instant, config: &RecoveryConfig) {
        while self.entries.len() > config.max_messages
            || self.bytes > config.max_bytes
            || self
                .entries
                .front()
                .is_some_and(|e| now.duration_since(e.at) > config.max_disconnection)
        {
            match self.entries.pop_front() {
                Some(gone) => self.bytes -= gone.size,
                None => break,
            }
        }
    }
}

/// Whether a broadcast to `target` would have reached `session`.
fn reaches(target: &Target, session: &KeptSession) -> bool {
    if target.except.contains(&session.id) {
        return false;
    }
    target.rooms.is_empty() || target.rooms.iter().any(|r| session.rooms.contains(r))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn recovery(max_messages: usize, window: Duration) -> Recovery {
        Recovery::new(RecoveryConfig {
            max_disconnection: window,
            max_messages,
            max_kept: 3,
            ..RecoveryConfig::default()
        })
    }

    #[test]
    fn the_log_is_bounded_in_bytes_too() {
        let r = Recovery::new(RecoveryConfig {
            max_bytes: 1_000_000,
            ..RecoveryConfig::default()
        });
        let big = json!("x".repeat(300_000));
        for _ in 0..500 {
            r.record(
                &Target::room("empty"),
                &Message::new(Some("empty".into()), "e", big.clone()),
            );
        }
        // Three of 300 kB fit in 1 MB; the rest went, oldest first.
        assert_eq!(r.log_len(), 3);
        assert!(r.log_bytes() <= 1_000_000, "{}", r.log_bytes());
        assert_eq!(r.head(), Offset::Local(500));
    }

    fn publish(r: &Recovery, room: &str, n: i64) -> Arc<Message> {
        let message = Message::new(Some(room.into()), "e", json!(n));
        r.record(&Target::room(room), &message);
        message
    }

    fn keep(r: &Recovery, token: &str, rooms: &[&str]) {
        r.keep(
            token.into(),
            "sid".into(),
            None,
            rooms.iter().map(|r| Room::from(*r)).collect(),
        );
    }

    fn data(recovered: &Recovered) -> Vec<i64> {
        recovered
            .missed
            .iter()
            .map(|m| m.data().as_i64().unwrap())
            .collect()
    }

    #[test]
    fn replays_what_was_missed_in_its_rooms_in_order_once() {
        let r = recovery(100, Duration::from_secs(60));
        let seen = publish(&r, "a", 1);
        assert_eq!(seen.offset(), Some(Offset::Local(1)));
        keep(&r, "t", &["a", "b"]);
        publish(&r, "a", 2);
        publish(&r, "other", 3);
        publish(&r, "b", 4);
        let recovered = r.recover("t", 1).unwrap();
        assert_eq!(data(&recovered), [2, 4]);
        assert_eq!(recovered.through, Offset::Local(4));
        assert_eq!(recovered.session.rooms.len(), 2);
        // Once: the token is used up.
        assert_eq!(
            r.recover("t", 1).unwrap_err(),
            RecoveryError::UnknownSession
        );
    }

    #[test]
    fn exceptions_and_namespaces_are_respected() {
        let r = recovery(100, Duration::from_secs(60));
        keep(&r, "t", &["a"]);
        r.record(
            &Target::room("a").except("sid".into()),
            &Message::new(Some("a".into()), "e", json!(1)),
        );
        r.record(&Target::all(), &Message::new(None, "e", json!(2)));
        let other_nsp = Message::with_args(Some("/x".into()), None, "e", vec![json!(3)]);
        r.record(&Target::all(), &other_nsp);
        assert_eq!(data(&r.recover("t", 0).unwrap()), [2]);
    }

    #[test]
    fn wrong_token_future_offset_and_overflow_give_a_fresh_session() {
        let r = recovery(2, Duration::from_secs(60));
        publish(&r, "a", 1);
        keep(&r, "t", &["a"]);
        assert_eq!(
            r.recover("nope", 1).unwrap_err(),
            RecoveryError::UnknownSession
        );
        keep(&r, "t2", &["a"]);
        assert_eq!(
            r.recover("t2", 99).unwrap_err(),
            RecoveryError::InvalidOffset
        );
        // Three more messages: the log keeps two, so message 2 is gone.
        for n in 2..=4 {
            publish(&r, "a", n);
        }
        assert_eq!(r.log_len(), 2);
        assert_eq!(r.recover("t", 1).unwrap_err(), RecoveryError::Overflow);
    }

    #[test]
    fn kept_sessions_are_bounded_in_number() {
        let r = recovery(10, Duration::from_secs(60));
        for token in ["a", "b", "c", "d"] {
            keep(&r, token, &["x"]);
        }
        assert_eq!(r.kept_count(), 3);
        assert_eq!(
            r.recover("d", 0).unwrap_err(),
            RecoveryError::UnknownSession
        );
    }

    #[test]
    fn kept_sessions_expire() {
        let r = recovery(10, Duration::ZERO);
        keep(&r, "t", &["a"]);
        assert_eq!(r.kept_count(), 1);
        std::thread::sleep(Duration::from_millis(2));
        assert_eq!(
            r.recover("t", 0).unwrap_err(),
            RecoveryError::UnknownSession
        );
        keep(&r, "u", &["a"]);
        std::thread::sleep(Duration::from_millis(2));
        assert_eq!(r.sweep(), 1);
        assert_eq!(r.kept_count(), 0);
    }
}
