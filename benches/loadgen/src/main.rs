//! loadgen: switchboard's load generator. It speaks the wire protocols itself (Engine.IO v4 +
//! Socket.IO v5 over WebSocket and polling, SockJS websocket and xhr_streaming, the plain relay
//! envelope over WebSocket) and drives switchboard and its Node peers (benches/peers) with the same
//! bytes. Every scenario counts what it expects and what arrived, and reports drops, disconnects
//! and errors next to its numbers; it exits 2 when any check fails.
//!
//! `loadgen run <scenario> ...` prints one JSON line of results (and appends it to `--out`);
//! `loadgen smoke` starts a switchboard binary and checks every protocol with small numbers.

mod client;
mod http;
mod procstat;

use clap::{Parser, Subcommand, ValueEnum};
use client::{payload, publish_msg, Client, Proto, Shared, Target, ECHO_BASE};
use futures_util::stream::{self, StreamExt};
use hdrhistogram::Histogram;
use serde_json::{json, Value};
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;
use std::time::{Duration, Instant};

#[derive(Parser)]
#[command(about = "switchboard's load generator")]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Run one scenario against a running server; print its results as one JSON line.
    Run(Box<RunArgs>),
    /// Start a switchboard binary and check every protocol with small numbers: completeness and
    /// no errors, never a timing. Exits non-zero on any loss.
    Smoke {
        /// The binary to start.
        #[arg(long, default_value = "target/debug/switchboard")]
        bin: String,
    },
}

#[derive(Clone, Copy, Debug, PartialEq, ValueEnum)]
enum Scenario {
    /// Idle connections: RSS at each step of --clients, then idle CPU over --idle-secs.
    Idle,
    /// Connection rate: open --clients connections, --concurrency at a time.
    Connrate,
    /// Room fan-out burst: --messages published server-side, in one batch request per publisher.
    Burst,
    /// Room fan-out at a fixed --rate (open loop) for --duration, latency from the schedule.
    Paced,
    /// Publish-with-ack round trips at a fixed total --rate (open loop) for --duration.
    Echo,
    /// Client-publisher fan-out: one client (on --publish-addr, default --addr) publishes
    /// --messages to the room, each with an ack id, --window of them in flight; the room's
    /// members are on --addr. What an app whose clients publish does.
    Publisher,
}

#[derive(Parser, Clone, Debug)]
struct RunArgs {
    scenario: Scenario,
    #[arg(long, value_enum)]
    proto: Proto,
    /// Server address (host:port).
    #[arg(long, default_value = "127.0.0.1:3000")]
    addr: SocketAddr,
    /// Where the burst's publishers send (another node of the cluster than `--addr`, whose
    /// members receive); default `--addr`. Its answers count its own members only, so they are
    /// not checked against the room.
    #[arg(long)]
    publish_addr: Option<SocketAddr>,
    /// publisher scenario with `--publish-addr`: half the members on the publisher's node, half
    /// on `--addr` (members on both nodes of a cluster).
    #[arg(long)]
    members_split: bool,
    /// The server's pid, for its CPU time and RSS from /proc.
    #[arg(long)]
    server_pid: Option<u32>,
    /// Number of clients (idle: a comma-separated list of steps).
    #[arg(long, value_delimiter = ',', default_value = "1000")]
    clients: Vec<usize>,
    /// Share of clients that stay outside the room (burst, paced).
    #[arg(long, default_value_t = 0.1)]
    outside: f64,
    /// Messages to publish (burst).
    #[arg(long, default_value_t = 100)]
    messages: usize,
    /// Size of each message's data, bytes of JSON.
    #[arg(long, default_value_t = 32)]
    payload: usize,
    /// Messages per second (paced, echo).
    #[arg(long, default_value_t = 10.0)]
    rate: f64,
    /// Seconds of sending (paced, echo).
    #[arg(long, default_value_t = 5.0)]
    duration: f64,
    /// Connections opened at once.
    #[arg(long, default_value_t = 64)]
    concurrency: usize,
    /// HTTP connections used to publish.
    #[arg(long, default_value_t = 4)]
    publishers: usize,
    /// Publishes waiting for their ack at once (publisher).
    #[arg(long, default_value_t = 100)]
    window: usize,
    /// Source addresses 127.0.0.2 .. 127.0.0.(1+N), to spread ephemeral ports.
    #[arg(long, default_value_t = 8)]
    sources: u8,
    /// Seconds to let the server settle before an RSS reading (idle).
    #[arg(long, default_value_t = 2.0)]
    settle_secs: f64,
    /// Seconds of idleness to measure CPU over (idle).
    #[arg(long, default_value_t = 10.0)]
    idle_secs: f64,
    /// Seconds without progress after which a wait gives up (and the run fails).
    #[arg(long, default_value_t = 10.0)]
    stall_secs: f64,
    /// Free text copied into the result (contestant, run number).
    #[arg(long, default_value = "")]
    label: String,
    /// Append the JSON line to this file too.
    #[arg(long)]
    out: Option<String>,
}

fn main() {
    let cli = Cli::parse();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("tokio runtime");
    let code = rt.block_on(async move {
        match cli.cmd {
            Cmd::Run(args) => {
                let result = run(&args).await;
                let line = result.to_string();
                println!("{line}");
                if let Some(path) = &args.out {
                    use std::io::Write;
                    let mut f = std::fs::OpenOptions::new()
                        .create(true)
                        .append(true)
                        .open(path)
                        .expect("--out file");
                    writeln!(f, "{line}").expect("write --out");
                }
                if result["ok"].as_bool() == Some(true) {
                    0
                } else {
                    2
                }
            }
            Cmd::Smoke { bin } => smoke(&bin).await,
        }
    });
    std::process::exit(code);
}

fn target(args: &RunArgs) -> Target {
    let sources = (0..args.sources.max(1))
        .map(|k| IpAddr::V4(Ipv4Addr::new(127, 0, 0, 2 + k)))
        .collect();
    Target {
        server: args.addr,
        sources,
    }
}

/// Opens `n` clients (indices `first..first+n`), `concurrency` at a time; those for which
/// `room_of(i)` is Some join that room. Returns the clients and the histogram of setup times (µs).
async fn open_clients(
    args: &RunArgs,
    target: &Target,
    shared: &Arc<Shared>,
    first: usize,
    n: usize,
    room_of: impl Fn(usize) -> Option<&'static str>,
) -> Result<(Vec<Client>, Histogram<u64>), String> {
    let mut setup = Histogram::<u64>::new_with_bounds(1, 600_000_000, 3).unwrap();
    let results: Vec<_> = stream::iter(first..first + n)
        .map(|i| {
            let room = room_of(i);
            let shared = shared.clone();
            async move {
                // From connect to joined (to the handshake's end for a client outside rooms).
                let start = Instant::now();
                let join_on_open = room.filter(|_| args.proto == Proto::Ws);
                let mut c = tokio::time::timeout(
                    Duration::from_secs(20),
                    Client::connect(args.proto, target, i, shared, room.is_none(), join_on_open),
                )
                .await
                .map_err(|_| format!("client {i}: handshake timed out"))?
                .map_err(|e| format!("client {i}: {e}"))?;
                if let Some(room) = room {
                    let joined = if join_on_open.is_some() {
                        c.joined(Duration::from_secs(20)).await
                    } else {
                        c.join(room, Duration::from_secs(20)).await
                    };
                    joined.map_err(|e| format!("client {i}: {e}"))?;
                }
                Ok::<_, String>((c, start.elapsed()))
            }
        })
        .buffer_unordered(args.concurrency.max(1))
        .collect()
        .await;
    let mut clients = Vec::with_capacity(n);
    for r in results {
        let (c, took) = r?;
        let _ = setup.record((took.as_micros() as u64).max(1));
        clients.push(c);
    }
    Ok((clients, setup))
}

/// Waits until `count()` reaches `expected`, or until it has not moved for `stall`. Returns when it
/// got there (or None).
async fn wait_for(count: impl Fn() -> u64, expected: u64, stall: Duration) -> Option<Instant> {
    let mut last = count();
    let mut last_move = Instant::now();
    loop {
        let now = count();
        if now >= expected {
            return Some(Instant::now());
        }
        if now != last {
            last = now;
            last_move = Instant::now();
        } else if last_move.elapsed() > stall {
            return None;
        }
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
}

fn pct(h: &Histogram<u64>) -> Value {
    if h.is_empty() {
        return Value::Null;
    }
    json!({"count": h.len(), "p50": h.value_at_quantile(0.5), "p99": h.value_at_quantile(0.99),
           "p999": h.value_at_quantile(0.999), "max": h.max(), "mean": h.mean().round()})
}

/// The JSON of one message to publish.
fn publish_body(room: &str, data: &str) -> String {
    format!("{{\"room\":\"{room}\",\"event\":\"bench\",\"data\":{data}}}")
}

/// POSTs one message to /api/publish over `conn` (reopened once if the server had closed it).
/// Returns the `delivered` count of the answer.
async fn publish_http(
    conn: &mut Option<http::Http>,
    target: &Target,
    room: &str,
    data: &str,
) -> Result<u64, String> {
    let answer = post_publish(conn, target, &publish_body(room, data)).await?;
    answer
        .as_u64()
        .ok_or_else(|| format!("publish answer without delivered: {answer}"))
}

/// POSTs a batch of messages (a server-side burst) to /api/publish; returns the `delivered`
/// count of each.
async fn publish_batch_http(
    conn: &mut Option<http::Http>,
    target: &Target,
    room: &str,
    datas: &[String],
) -> Result<Vec<u64>, String> {
    let bodies: Vec<String> = datas.iter().map(|d| publish_body(room, d)).collect();
    let answer = post_publish(conn, target, &format!("[{}]", bodies.join(","))).await?;
    let counts: Option<Vec<u64>> = answer
        .as_array()
        .map(|a| a.iter().filter_map(Value::as_u64).collect());
    match counts {
        Some(counts) if counts.len() == datas.len() => Ok(counts),
        _ => Err(format!(
            "batch answer does not count every message: {answer}"
        )),
    }
}

/// POSTs `body` to /api/publish; returns the answer's `delivered`.
async fn post_publish(
    conn: &mut Option<http::Http>,
    target: &Target,
    body: &str,
) -> Result<Value, String> {
    for attempt in 0..2 {
        if conn.as_ref().is_none_or(|c| c.closed) {
            *conn = Some(
                http::Http::open(target.server, target.source(attempt))
                    .await
                    .map_err(|e| format!("publish connect: {e}"))?,
            );
        }
        let c = conn.as_mut().unwrap();
        c.send(
            "POST",
            "/api/publish",
            Some("application/json"),
            body.as_bytes(),
        )
        .await
        .map_err(|e| format!("publish send: {e}"))?;
        match c.head().await.map_err(|e| format!("publish answer: {e}"))? {
            None => {
                *conn = None; // a keep-alive connection the server had closed: nothing was read
                continue;
            }
            Some(head) => {
                let b = c.body().await.map_err(|e| format!("publish body: {e}"))?;
                let v: Value = serde_json::from_slice(&b)
                    .map_err(|e| format!("publish answer not JSON: {e}"))?;
                if head.status != 200 {
                    return Err(format!("publish: {} {v}", head.status));
                }
                return Ok(v["delivered"].clone());
            }
        }
    }
    Err("publish: the server closed the connection twice".into())
}

struct Meter {
    start: procstat::Sample,
    pid: Option<u32>,
}

impl Meter {
    fn start(pid: Option<u32>) -> Meter {
        Meter {
            start: procstat::sample(pid),
            pid,
        }
    }
    /// Server and client CPU over the span, per `ops` operations.
    fn stop(&self, ops: u64) -> (Value, Value) {
        let end = procstat::sample(self.pid);
        let wall = end.at.duration_since(self.start.at).as_secs_f64().max(1e-9);
        let server_cpu = match (self.start.server_cpu, end.server_cpu) {
            (Some(a), Some(b)) => Some(b - a),
            _ => None,
        };
        let client_cpu = end.client_cpu - self.start.client_cpu;
        let client_util = client_cpu / wall;
        let server_util = server_cpu.map(|c| c / wall);
        // The client was the limit if it was busy nearly all the time while the server was not.
        let limited = client_util > 0.85 && server_util.is_none_or(|s| s < client_util);
        let server = json!({
            "cpu_s": server_cpu, "util": server_util,
            "cpu_us_per_op": server_cpu.filter(|_| ops > 0).map(|c| c * 1e6 / ops as f64),
            "rss_kib_before": self.start.server_rss, "rss_kib_after": end.server_rss,
        });
        let client = json!({"cpu_s": client_cpu, "util": client_util, "limited": limited});
        (server, client)
    }
}

async fn run(args: &RunArgs) -> Value {
    let shared = Shared::new();
    let mut result = json!({
        "scenario": format!("{:?}", args.scenario).to_lowercase(), "proto": args.proto.name(), "label": args.label,
        "params": {"clients": args.clients, "outside": args.outside, "messages": args.messages, "payload": args.payload,
                   "rate": args.rate, "duration": args.duration, "concurrency": args.concurrency},
    });
    let outcome = match args.scenario {
        Scenario::Idle => idle(args, &shared).await,
        Scenario::Connrate => connrate(args, &shared).await,
        Scenario::Burst => fanout(args, &shared, false).await,
        Scenario::Paced => fanout(args, &shared, true).await,
        Scenario::Echo => echo(args, &shared).await,
        Scenario::Publisher => client_publisher(args, &shared).await,
    };
    let mut checks: Vec<String> = Vec::new();
    match outcome {
        Ok(fields) => {
            for (k, v) in fields.as_object().unwrap() {
                result[k] = v.clone();
            }
        }
        Err(e) => checks.push(e),
    }
    if let Some(expected) = result.get("expected").and_then(Value::as_u64) {
        let got = result["delivered"].as_u64().unwrap_or(0);
        if got != expected {
            checks.push(format!(
                "delivered {got} of {expected} ({} lost)",
                expected.saturating_sub(got)
            ));
        }
    }
    let outside = shared.outside.load(Relaxed);
    let disconnects = shared.disconnects.load(Relaxed);
    let errors = shared.errors.load(Relaxed);
    if outside > 0 {
        checks.push(format!(
            "{outside} messages reached clients outside the room"
        ));
    }
    if disconnects > 0 {
        checks.push(format!("{disconnects} disconnects"));
    }
    if errors > 0 {
        checks.push(format!(
            "{errors} errors, first: {}",
            shared
                .last_error
                .lock()
                .unwrap()
                .clone()
                .unwrap_or_default()
        ));
    }
    result["outside_received"] = json!(outside);
    result["disconnects"] = json!(disconnects);
    result["errors"] = json!(errors);
    result["ok"] = json!(checks.is_empty());
    result["checks_failed"] = json!(checks);
    shared.closing.store(true, Relaxed);
    result
}

async fn idle(args: &RunArgs, shared: &Arc<Shared>) -> Result<Value, String> {
    let target = target(args);
    let settle = Duration::from_secs_f64(args.settle_secs);
    tokio::time::sleep(settle.min(Duration::from_millis(500))).await;
    let base = procstat::sample(args.server_pid);
    let mut clients = Vec::new();
    let mut steps = Vec::new();
    let mut prev_rss = base.server_rss;
    let mut prev_n = 0usize;
    for &n in &args.clients {
        let (mut more, _) = open_clients(
            args,
            &target,
            shared,
            clients.len(),
            n.saturating_sub(clients.len()),
            |_| None,
        )
        .await?;
        clients.append(&mut more);
        tokio::time::sleep(settle).await;
        let s = procstat::sample(args.server_pid);
        let per_conn = match (s.server_rss, prev_rss) {
            (Some(a), Some(b)) if n > prev_n => {
                Some((a as f64 - b as f64) * 1024.0 / (n - prev_n) as f64)
            }
            _ => None,
        };
        steps.push(json!({"clients": n, "rss_kib": s.server_rss, "bytes_per_conn_since_previous": per_conn}));
        prev_rss = s.server_rss;
        prev_n = n;
    }
    let meter = Meter::start(args.server_pid);
    tokio::time::sleep(Duration::from_secs_f64(args.idle_secs)).await;
    let (server, client) = meter.stop(0);
    let idle_cpu_pct = server["util"].as_f64().map(|u| u * 100.0);
    // RSS per connection: the slope between the first and the last step.
    let slope = if steps.len() >= 2 {
        let (a, b) = (&steps[0], &steps[steps.len() - 1]);
        match (a["rss_kib"].as_f64(), b["rss_kib"].as_f64()) {
            (Some(ra), Some(rb)) => Some(
                (rb - ra) * 1024.0
                    / (b["clients"].as_f64().unwrap() - a["clients"].as_f64().unwrap()),
            ),
            _ => None,
        }
    } else {
        steps
            .first()
            .and_then(|s| s["bytes_per_conn_since_previous"].as_f64())
    };
    let open = clients.len();
    drop(clients);
    Ok(
        json!({"rss_kib_base": base.server_rss, "steps": steps, "bytes_per_conn": slope,
              "idle_cpu_pct": idle_cpu_pct, "connections": open, "server": server, "client": client,
              "rate": slope, "unit": "bytes/conn"}),
    )
}

async fn connrate(args: &RunArgs, shared: &Arc<Shared>) -> Result<Value, String> {
    let target = target(args);
    let n = args.clients[0];
    let meter = Meter::start(args.server_pid);
    let start = Instant::now();
    // Connect, open, join with its answer: setup is connect to joined.
    let (clients, setup) = open_clients(args, &target, shared, 0, n, |_| Some("bench")).await?;
    let secs = start.elapsed().as_secs_f64();
    let (server, client) = meter.stop(n as u64);
    // Every connection must still be there a moment later.
    tokio::time::sleep(Duration::from_millis(300)).await;
    drop(clients);
    Ok(
        json!({"connections": n, "secs": secs, "rate": n as f64 / secs, "unit": "conn/s",
              "setup_us": pct(&setup), "server": server, "client": client}),
    )
}

async fn fanout(args: &RunArgs, shared: &Arc<Shared>, paced: bool) -> Result<Value, String> {
    let target = target(args);
    let n = args.clients[0];
    let outside = ((n as f64) * args.outside).round() as usize;
    let members = n - outside;
    // Clients outside the room are spread among the members (every 10th for 10 %).
    let stride = n.checked_div(outside).unwrap_or(usize::MAX);
    let room_of = move |i: usize| {
        if outside > 0 && i % stride == stride - 1 && i / stride < outside {
            None
        } else {
            Some("bench")
        }
    };
    let (clients, _) = open_clients(args, &target, shared, 0, n, room_of).await?;
    let members_real = (0..n).filter(|&i| room_of(i).is_some()).count();
    debug_assert_eq!(members_real, members);
    let members = members_real as u64;
    tokio::time::sleep(Duration::from_millis(200)).await;
    shared.hist.lock().unwrap().reset();

    let messages = if paced {
        (args.rate * args.duration).round() as usize
    } else {
        args.messages
    };
    let expected = members * messages as u64;
    let meter = Meter::start(args.server_pid);
    let start = Instant::now();
    let mut answers: Vec<Result<u64, String>> = Vec::with_capacity(messages);
    if paced {
        // Open loop: message i is due at start + i / rate; its payload carries that time, so a
        // late send (a slow answer holding every publishing connection) counts as latency.
        let (pool_tx, mut pool_rx) = tokio::sync::mpsc::unbounded_channel();
        for _ in 0..args.publishers.max(1) {
            let _ = pool_tx.send(None::<http::Http>);
        }
        let (ans_tx, mut ans_rx) = tokio::sync::mpsc::unbounded_channel();
        for i in 0..messages {
            let due = start + Duration::from_secs_f64(i as f64 / args.rate);
            tokio::time::sleep_until(due.into()).await;
            let mut conn = pool_rx.recv().await.unwrap();
            let (pool_tx, ans_tx, target) = (pool_tx.clone(), ans_tx.clone(), target.clone());
            let data = payload(client::at_ns(due), args.payload);
            tokio::spawn(async move {
                let r = publish_http(&mut conn, &target, "bench", &data).await;
                let _ = ans_tx.send(r);
                let _ = pool_tx.send(conn);
            });
        }
        drop(ans_tx);
        while let Some(r) = ans_rx.recv().await {
            answers.push(r);
        }
    } else {
        // A server-side burst: each publisher sends its share in one batch request, which the
        // server publishes in a loop.
        let k = args.publishers.max(1);
        let publish_target = Target {
            server: args.publish_addr.unwrap_or(args.addr),
            ..target.clone()
        };
        let tasks: Vec<_> = (0..k)
            .map(|j| {
                let target = publish_target.clone();
                let count = messages / k + usize::from(j < messages % k);
                let size = args.payload;
                tokio::spawn(async move {
                    let mut conn = None;
                    let datas: Vec<String> = (0..count)
                        .map(|_| payload(client::now_ns(), size))
                        .collect();
                    match publish_batch_http(&mut conn, &target, "bench", &datas).await {
                        Ok(counts) => counts.into_iter().map(Ok).collect(),
                        Err(e) => vec![Err(e)],
                    }
                })
            })
            .collect();
        for t in tasks {
            answers.extend(t.await.map_err(|e| format!("publisher task: {e}"))?);
        }
    }
    let published_secs = start.elapsed().as_secs_f64();
    let done = wait_for(
        || shared.delivered.load(Relaxed),
        expected,
        Duration::from_secs_f64(args.stall_secs),
    )
    .await;
    let delivered = shared.delivered.load(Relaxed);
    let (server, client) = meter.stop(delivered);
    let secs = done.map(|d| d.duration_since(start).as_secs_f64());
    let mut bad_answers = Vec::new();
    for a in &answers {
        match a {
            Ok(d) if *d == members || args.publish_addr.is_some() => {}
            Ok(d) => bad_answers.push(format!(
                "publish answered delivered={d}, room has {members}"
            )),
            Err(e) => bad_answers.push(e.clone()),
        }
    }
    // A little longer, so that late or misrouted messages would show.
    tokio::time::sleep(Duration::from_millis(200)).await;
    let hist = shared.hist.lock().unwrap().clone();
    drop(clients);
    if let Some(first) = bad_answers.first() {
        shared.error(format!(
            "{} bad publish answers, first: {first}",
            bad_answers.len()
        ));
    }
    let rate = secs.map(|s| delivered as f64 / s);
    Ok(
        json!({"members": members, "outside_clients": outside, "messages": messages, "expected": expected,
              "delivered": delivered, "published_secs": published_secs, "secs": secs,
              "rate": rate, "unit": "deliveries/s", "latency_us": pct(&hist), "server": server, "client": client}),
    )
}

async fn echo(args: &RunArgs, shared: &Arc<Shared>) -> Result<Value, String> {
    let target = target(args);
    let n = args.clients[0].max(1);
    let (clients, _) = open_clients(args, &target, shared, 0, n, |_| None).await?;
    tokio::time::sleep(Duration::from_millis(200)).await;
    let total = (args.rate * args.duration).round() as u64;
    let meter = Meter::start(args.server_pid);
    let start = Instant::now();
    let data = payload(0, args.payload);
    for i in 0..total {
        let due = start + Duration::from_secs_f64(i as f64 / args.rate);
        tokio::time::sleep_until(due.into()).await;
        let c = &clients[(i as usize) % n];
        // The ack id carries the scheduled time: the round trip counts from the schedule.
        c.send(publish_msg(
            c.proto,
            "echo-void",
            "echo",
            &data,
            ECHO_BASE + client::at_ns(due),
        ));
    }
    let done = wait_for(
        || shared.acks.load(Relaxed),
        total,
        Duration::from_secs_f64(args.stall_secs),
    )
    .await;
    let acks = shared.acks.load(Relaxed);
    let (server, client) = meter.stop(acks);
    let secs = done.map(|d| d.duration_since(start).as_secs_f64());
    let hist = shared.hist.lock().unwrap().clone();
    drop(clients);
    Ok(
        json!({"expected": total, "delivered": acks, "secs": secs, "rate": secs.map(|s| acks as f64 / s),
              "unit": "acks/s", "latency_us": pct(&hist), "server": server, "client": client}),
    )
}

/// One client publishes to the room, a window of publishes with ack in flight; every member
/// counts its deliveries and their latency from the time in the payload.
async fn client_publisher(args: &RunArgs, shared: &Arc<Shared>) -> Result<Value, String> {
    let target = target(args);
    let n = args.clients[0].max(1);
    let publish_target = Target {
        server: args.publish_addr.unwrap_or(args.addr),
        ..target.clone()
    };
    let beside = if args.members_split && args.publish_addr.is_some() {
        n / 2
    } else {
        0
    };
    let (mut members, _) =
        open_clients(args, &target, shared, 0, n - beside, |_| Some("bench")).await?;
    if beside > 0 {
        let (more, _) = open_clients(args, &publish_target, shared, n - beside, beside, |_| {
            Some("bench")
        })
        .await?;
        members.extend(more);
    }
    let (mut publishers, _) = open_clients(args, &publish_target, shared, n, 1, |_| None).await?;
    let publisher = &mut publishers[0];
    tokio::time::sleep(Duration::from_millis(200)).await;
    shared.hist.lock().unwrap().reset();
    let messages = args.messages;
    let expected = n as u64 * messages as u64;
    let window = args.window.max(1);
    let stall = Duration::from_secs_f64(args.stall_secs);
    let meter = Meter::start(args.server_pid);
    let start = Instant::now();
    let mut in_flight = 0;
    let mut refused = 0;
    for i in 0..messages {
        if in_flight >= window {
            let (_, ok) = publisher
                .next_ack(stall)
                .await
                .map_err(|e| format!("publisher: {e}"))?;
            refused += usize::from(!ok);
            in_flight -= 1;
        }
        let data = payload(client::now_ns(), args.payload);
        // Ids from 2: 1 was the (unused) join's.
        publisher.send(publish_msg(
            publisher.proto,
            "bench",
            "bench",
            &data,
            2 + i as u64,
        ));
        in_flight += 1;
    }
    for _ in 0..in_flight {
        let (_, ok) = publisher
            .next_ack(stall)
            .await
            .map_err(|e| format!("publisher: {e}"))?;
        refused += usize::from(!ok);
    }
    let published_secs = start.elapsed().as_secs_f64();
    let done = wait_for(|| shared.delivered.load(Relaxed), expected, stall).await;
    let delivered = shared.delivered.load(Relaxed);
    let (server, client) = meter.stop(delivered);
    let secs = done.map(|d| d.duration_since(start).as_secs_f64());
    // A little longer, so that late or misrouted messages would show.
    tokio::time::sleep(Duration::from_millis(200)).await;
    let hist = shared.hist.lock().unwrap().clone();
    drop(members);
    if refused > 0 {
        shared.error(format!("{refused} publishes refused"));
    }
    let rate = secs.map(|s| delivered as f64 / s);
    Ok(
        json!({"members": n, "messages": messages, "window": window, "expected": expected,
              "delivered": delivered, "published_secs": published_secs, "secs": secs,
              "rate": rate, "unit": "deliveries/s", "latency_us": pct(&hist), "server": server, "client": client}),
    )
}

/// Starts `bin` on a free port with one worker and runs every protocol with small numbers.
async fn smoke(bin: &str) -> i32 {
    let port = {
        let probe = std::net::TcpListener::bind("127.0.0.1:0").expect("bind a probe port");
        probe.local_addr().unwrap().port()
    };
    let addr: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
    let mut child = match tokio::process::Command::new(bin)
        .args(["--listen", &addr.to_string(), "--workers", "1"])
        .env("RUST_LOG", "warn")
        .stdout(std::process::Stdio::null())
        .kill_on_drop(true)
        .spawn()
    {
        Ok(c) => c,
        Err(e) => {
            eprintln!("smoke: cannot start {bin}: {e}");
            return 1;
        }
    };
    let ready_by = Instant::now() + Duration::from_secs(15);
    loop {
        if let Ok(mut h) = http::Http::open(addr, IpAddr::V4(Ipv4Addr::LOCALHOST)).await {
            if let Ok((200, _)) = h.request("GET", "/healthz", None, b"").await {
                break;
            }
        }
        if Instant::now() > ready_by {
            eprintln!("smoke: {bin} did not answer /healthz within 15 s");
            return 1;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let pid = child.id();
    let base = RunArgs::parse_from(["run", "burst", "--proto", "ws"]);
    let mut failures = 0;
    let mut total = 0;
    let protos = [
        Proto::Ws,
        Proto::SioWs,
        Proto::SioPolling,
        Proto::SioUpgrade,
        Proto::SockjsWs,
        Proto::SockjsXhr,
    ];
    for proto in protos {
        let runs = [
            (
                Scenario::Connrate,
                RunArgs {
                    clients: vec![40],
                    concurrency: 8,
                    ..base.clone()
                },
            ),
            (
                Scenario::Burst,
                RunArgs {
                    clients: vec![30],
                    messages: 150,
                    payload: 1024,
                    ..base.clone()
                },
            ),
            (
                Scenario::Paced,
                RunArgs {
                    clients: vec![20],
                    rate: 50.0,
                    duration: 0.4,
                    ..base.clone()
                },
            ),
            (
                Scenario::Echo,
                RunArgs {
                    clients: vec![10],
                    rate: 400.0,
                    duration: 0.25,
                    ..base.clone()
                },
            ),
        ];
        for (scenario, a) in runs {
            let a = RunArgs {
                scenario,
                proto,
                addr,
                server_pid: pid,
                stall_secs: 5.0,
                label: "smoke".into(),
                ..a
            };
            let r = run(&a).await;
            total += 1;
            let ok = r["ok"].as_bool() == Some(true);
            if !ok {
                failures += 1;
            }
            println!(
                "smoke {:<12} {:<9} {} expected={} delivered={} disconnects={} errors={} {}",
                proto.name(),
                r["scenario"].as_str().unwrap_or(""),
                if ok { "ok  " } else { "FAIL" },
                r.get("expected").unwrap_or(&json!(r.get("connections"))),
                r.get("delivered").unwrap_or(&json!(r.get("connections"))),
                r["disconnects"],
                r["errors"],
                if ok {
                    String::new()
                } else {
                    r["checks_failed"].to_string()
                },
            );
        }
    }
    let _ = child.start_kill();
    let _ = child.wait().await;
    println!("smoke: {} passed, {} failed", total - failures, failures);
    if failures == 0 {
        0
    } else {
        1
    }
}
