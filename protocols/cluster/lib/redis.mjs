// A private redis-server for one test file: Debian's `redis-server` on 127.0.0.1 and a free port,
// nothing saved to disk, ready once it answers PING. Also the tests' own node-redis clients: one
// that asks Redis about the sharded channels (PUBSUB SHARDNUMSUB / SHARDCHANNELS), and a spy that
// SSUBSCRIBEs channels to see what nodes SPUBLISH on them.
import { spawn, spawnSync } from "node:child_process";
import { EventEmitter } from "node:events";
import { mkdtempSync, rmSync } from "node:fs";
import { createConnection, createServer } from "node:net";
import { tmpdir } from "node:os";
import path from "node:path";
import { setTimeout as delay } from "node:timers/promises";
import { createClient } from "redis";

/** The redis-server executable: $REDIS_SERVER, or `redis-server` on PATH. */
export const REDIS_SERVER = process.env.REDIS_SERVER ?? "redis-server";

/** How long redis-server may take to answer PING after it was spawned. */
const READY_MS = 10_000;

function freePort() {
  return new Promise((resolve, reject) => {
    const probe = createServer().once("error", reject);
    probe.listen(0, "127.0.0.1", () => {
      const { port } = probe.address();
      probe.close(() => resolve(port));
    });
  });
}

/** Throws a clear error when redis-server cannot be run at all. */
function checkInstalled() {
  const probe = spawnSync(REDIS_SERVER, ["--version"], { encoding: "utf8" });
  if (probe.error) {
    throw new Error(
      `cannot run ${REDIS_SERVER} (${probe.error.code ?? probe.error.message}): ` +
        "install Debian's package (apt-get install -y redis-server) or set REDIS_SERVER",
    );
  }
  return probe.stdout.trim();
}

/** Sends a raw PING on a fresh connection; resolves true on +PONG, false on anything else. */
function ping(port, timeoutMs = 1000) {
  return new Promise((resolve) => {
    const socket = createConnection({ host: "127.0.0.1", port });
    let reply = "";
    const done = (ok) => {
      clearTimeout(timer);
      socket.destroy();
      resolve(ok);
    };
    const timer = setTimeout(() => done(false), timeoutMs);
    socket.once("error", () => done(false));
    socket.once("connect", () => socket.write("PING\r\n"));
    socket.on("data", (chunk) => {
      reply += chunk;
      if (reply.includes("\r\n")) done(reply.startsWith("+PONG"));
    });
  });
}

/**
 * Starts redis-server on a free port (or `port`). Resolves with `{url, port, version, stop(),
 * restart(), log()}`: `stop()` kills it (SIGTERM, SIGKILL after 5 s) and waits for the exit;
 * `restart()` kills it with SIGKILL (no goodbye to its clients, as a crash) and starts a new one on
 * the same port, resolving once it answers PING. The new server is empty: no keys, no subscribers.
 */
export async function startRedis({ port } = {}) {
  const version = checkInstalled();
  port ??= await freePort();
  const dir = mkdtempSync(path.join(tmpdir(), "switchboard-redis-"));
  let child = null;
  let exited = null;
  let log = "";

  async function spawnServer() {
    const args = [
      "--port", String(port),
      "--bind", "127.0.0.1",
      "--save", "",
      "--appendonly", "no",
      "--dir", dir,
      "--protected-mode", "no",
      "--loglevel", "warning",
    ];
    child = spawn(REDIS_SERVER, args, { stdio: ["ignore", "pipe", "pipe"] });
    const keep = (chunk) => (log = (log + chunk).slice(-4000));
    child.stdout.on("data", keep);
    child.stderr.on("data", keep);
    const reap = () => child?.kill("SIGKILL");
    process.once("exit", reap);
    exited = new Promise((resolve) => {
      child.once("error", (error) => resolve({ error }));
      child.once("exit", (code, signal) => resolve({ code, signal }));
    }).finally(() => process.off("exit", reap));
    let gone = null;
    exited.then((result) => (gone = result));
    const deadline = Date.now() + READY_MS;
    while (gone === null) {
      if (await ping(port)) return;
      if (Date.now() > deadline) break;
      await delay(20);
    }
    await kill("SIGKILL");
    const why = gone?.error ? gone.error.message : gone ? `exit ${gone.code ?? gone.signal}` : "no PONG";
    throw new Error(`redis-server on port ${port} did not start (${why})\n${log}`);
  }

  async function kill(signal) {
    if (!child) return null;
    const current = child;
    if (current.exitCode === null && current.signalCode === null) current.kill(signal);
    const killer = setTimeout(() => current.kill("SIGKILL"), 5000);
    const result = await exited;
    clearTimeout(killer);
    child = null;
    return result;
  }

  await spawnServer();
  return {
    url: `redis://127.0.0.1:${port}`,
    port,
    version,
    log: () => log,
    /** Kills the server as a crash would, then starts a fresh one on the same port. */
    async restart() {
      await kill("SIGKILL");
      await spawnServer();
    },
    /** Kills the server (SIGKILL: a crash) and leaves it down; `start()` brings it back. */
    async crash() {
      await kill("SIGKILL");
    },
    /** Starts it again after `crash()`, on the same port. */
    async start() {
      if (!child) await spawnServer();
    },
    async stop() {
      const result = await kill("SIGTERM");
      rmSync(dir, { recursive: true, force: true });
      return result;
    },
  };
}

// --- the tests' own clients ----------------------------------------------------------------------

async function quit(client) {
  if (client.isOpen) await client.quit().catch(() => client.disconnect().catch(() => {}));
}

/**
 * A node-redis 4 client of `redisUrl` for the tests' questions about Redis itself. Resolves with
 * `{client, shardNumSub(channel), shardChannels(pattern), close()}`. It reconnects by itself after
 * a Redis restart; while Redis is down its commands fail at once (no offline queue), so a polled
 * check (`until`) just tries again.
 */
export async function connectRedisClient({ redisUrl } = {}) {
  const client = createClient({ url: redisUrl, disableOfflineQueue: true });
  client.on("error", () => {}); // reconnection attempts while Redis is down: node-redis retries
  await client.connect();
  return {
    client,
    /** PUBSUB SHARDNUMSUB of one channel: how many connections hold an SSUBSCRIBE of it. */
    async shardNumSub(channel) {
      const [, count] = await client.sendCommand(["PUBSUB", "SHARDNUMSUB", channel]);
      return Number(count);
    },
    /** PUBSUB SHARDCHANNELS `pattern`: the shard channels with a subscriber, sorted. */
    async shardChannels(pattern = "*") {
      const channels = await client.sendCommand(["PUBSUB", "SHARDCHANNELS", pattern]);
      return channels.map(String).sort();
    },
    close: () => quit(client),
  };
}

/**
 * A client that SSUBSCRIBEs `channels` (confirmed by Redis before this resolves) and keeps what
 * arrives: `messages` ([{channel, raw}], raw a Buffer, in arrival order), `events` ("message" per
 * arrival), `close()`. While it is subscribed it counts in those channels' SHARDNUMSUB.
 */
export async function shardSpy({ redisUrl, channels } = {}) {
  const client = createClient({ url: redisUrl });
  client.on("error", () => {});
  await client.connect();
  const messages = [];
  const events = new EventEmitter();
  for (const channel of channels) {
    await client.sSubscribe(
      channel,
      (raw, from) => {
        const entry = { channel: String(from), raw };
        messages.push(entry);
        events.emit("message", entry);
      },
      true, // Buffers, as the sharded adapter reads them
    );
  }
  return { client, messages, events, close: () => quit(client) };
}
