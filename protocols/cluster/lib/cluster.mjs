// Helpers of the cluster tests: a private redis-server, Node socket.io nodes (lib/node-node.mjs,
// driven over IPC), switchboard nodes (the real binary), the redis-emitter, a TCP proxy standing in
// for a load balancer (lib/proxy.mjs), and real clients of every protocol: socket.io-client 4.x and
// 2.x, sockjs-client and ws with the relay envelope (protocols/relay.md). Waits are on events (or a
// polled condition), each bounded by WAIT.
import { fork } from "node:child_process";
import { EventEmitter } from "node:events";
import path from "node:path";
import { createInterface } from "node:readline";
import { setTimeout as delay } from "node:timers/promises";
import { fileURLToPath } from "node:url";
import { io as ioV4 } from "socket.io-client";
import ioV2 from "socket.io-client-v2";
import SockJS from "sockjs-client";
import WebSocket from "ws";
import { freePort, publish as apiPublish, spawnUntilReady, within } from "../../interop/lib/server.mjs";
import { createEmitter } from "./emitter.mjs";
import { startProxy } from "./proxy.mjs";
import { connectRedisClient, shardSpy, startRedis } from "./redis.mjs";

export { apiPublish, connectRedisClient, createEmitter, freePort, shardSpy, startProxy, startRedis, within };

const libDir = path.dirname(fileURLToPath(import.meta.url));
const clusterDir = path.resolve(libDir, "..");

/** The switchboard binary: $SWITCHBOARD_BIN (relative to protocols/cluster), or the debug build. */
export const BIN = path.resolve(clusterDir, process.env.SWITCHBOARD_BIN ?? "../../target/debug/switchboard");

/** How long any single wait in a test may take before the test fails. */
export const WAIT = 5000;

/** How long an IPC command to a Node node may take: above the adapters' 5 s request timeout. */
export const CALL_WAIT = 10_000;

// --- waiting -------------------------------------------------------------------------------------

/**
 * Resolves with the arguments (an array) of the next `event` of `emitter` (node EventEmitter,
 * socket.io socket, anything with on/off) for which `filter(args)` holds; rejects after
 * `timeoutMs`, or as soon as one of the `failOn` events comes first.
 */
export function waitFor(emitter, event, { timeoutMs = WAIT, failOn = [], filter = () => true } = {}) {
  return new Promise((resolve, reject) => {
    const listeners = new Map();
    const settle = (settler, value) => {
      clearTimeout(timer);
      for (const [name, listener] of listeners) emitter.off(name, listener);
      settler(value);
    };
    listeners.set(event, (...args) => {
      if (filter(args)) settle(resolve, args);
    });
    for (const name of failOn) {
      listeners.set(name, (why) => settle(reject, new Error(`"${name}" before "${event}": ${why?.message ?? why}`)));
    }
    const timer = setTimeout(() => settle(reject, new Error(`no "${event}" event within ${timeoutMs} ms`)), timeoutMs);
    for (const [name, listener] of listeners) emitter.on(name, listener);
  });
}

/** Polls `check()` (async, returning a truthy value when done) every 25 ms; resolves with its value. */
export async function until(check, what, timeoutMs = WAIT) {
  const deadline = Date.now() + timeoutMs;
  let last;
  for (;;) {
    try {
      last = await check();
      if (last) return last;
    } catch (error) {
      last = error;
    }
    if (Date.now() > deadline) throw new Error(`${what}: not within ${timeoutMs} ms (last: ${last?.message ?? JSON.stringify(last)})`);
    await delay(25);
  }
}

// --- Node socket.io nodes ------------------------------------------------------------------------

/**
 * Forks lib/node-node.mjs on a free port and resolves once it printed its ready line. `adapter` is
 * "classic", "sharded" or "streams" (ADAPTER); `subscriptionMode`, sharded only, is "dynamic" (the
 * adapter's default, also when not given), "static" or "dynamic-private" (SUBSCRIPTION_MODE);
 * `recoveryMs` turns connection state recovery on with that window (RECOVERY_MS). Result:
 * `{kind: "node", name, port, url, wsUrl, uid, adapter, subscriptionMode, recoveryMs,
 * call(cmd, ...args), events, stop(), kill(), log()}`.
 * `call` resolves with the command's result, or rejects with its error (with `.responses`, the
 * partial answers of a request that timed out). `events` emits the node's notifications:
 * "serverSideEmit" ({event, args, withAck}) and "redis" ({role, event, readyCount}).
 */
export async function startNodeNode({ redisUrl, adapter = "classic", subscriptionMode, key = "socket.io", name, recoveryMs, env = {}, deadlineMs = 10_000 } = {}) {
  const child = fork(path.join(libDir, "node-node.mjs"), [], {
    cwd: clusterDir,
    env: {
      ...process.env,
      PORT: "0",
      REDIS_URL: redisUrl,
      ADAPTER: adapter,
      KEY: key,
      ...(subscriptionMode ? { SUBSCRIPTION_MODE: subscriptionMode } : {}),
      ...(name ? { NODE_NAME: name } : {}),
      ...(recoveryMs ? { RECOVERY_MS: String(recoveryMs) } : {}),
      ...env,
    },
    stdio: ["ignore", "pipe", "pipe", "ipc"],
    serialization: "advanced", // Buffers stay binary both ways
  });
  let log = "";
  const keep = (chunk) => (log = (log + chunk).slice(-8000));
  child.stderr.on("data", keep);
  const reap = () => child.kill("SIGKILL");
  process.once("exit", reap);
  const exited = new Promise((resolve) => {
    child.once("error", (error) => resolve({ error }));
    child.once("exit", (code, signal) => resolve({ code, signal }));
  }).finally(() => process.off("exit", reap));

  const events = new EventEmitter();
  const pending = new Map();
  let nextId = 0;
  child.on("message", (message) => {
    if (message?.notify) {
      events.emit(message.notify, message);
      return;
    }
    const waiter = pending.get(message?.id);
    if (!waiter) return;
    pending.delete(message.id);
    if ("error" in message) {
      const error = new Error(`${waiter.cmd}: ${message.error}`);
      error.responses = message.responses;
      waiter.reject(error);
    } else {
      waiter.resolve(message.result);
    }
  });
  exited.then((result) => {
    const why = result.error ? result.error.message : `exit code ${result.code}, signal ${result.signal}`;
    for (const { reject, cmd } of pending.values()) reject(new Error(`${cmd}: the node exited (${why})`));
    pending.clear();
  });

  const ready = new Promise((resolve, reject) => {
    const lines = createInterface({ input: child.stdout });
    lines.on("line", (line) => {
      keep(`${line}\n`);
      try {
        const parsed = JSON.parse(line);
        if (parsed.ready) resolve(parsed);
      } catch {
        // not the ready line
      }
    });
    exited.then((result) => reject(new Error(`node-node exited before it was ready (${JSON.stringify(result)})\n${log}`)));
  });
  let info;
  try {
    info = await within(ready, "node-node ready line", deadlineMs);
  } catch (error) {
    child.kill("SIGKILL");
    throw new Error(`${error.message}\n${log}`);
  }

  function call(cmd, ...args) {
    if (child.exitCode !== null || child.signalCode !== null) return Promise.reject(new Error(`${cmd}: the node has exited`));
    const id = ++nextId;
    const answer = new Promise((resolve, reject) => pending.set(id, { resolve, reject, cmd }));
    child.send({ id, cmd, args });
    return within(answer, `node ${info.name}: ${cmd}`, CALL_WAIT).finally(() => pending.delete(id));
  }

  async function stop() {
    if (child.exitCode === null && child.signalCode === null) child.kill("SIGTERM");
    const killer = setTimeout(() => child.kill("SIGKILL"), 5000);
    const result = await exited;
    clearTimeout(killer);
    return result;
  }

  return {
    kind: "node",
    name: info.name,
    adapter,
    subscriptionMode: info.subscriptionMode,
    recoveryMs: info.recoveryMs,
    port: info.port,
    uid: info.uid,
    url: `http://127.0.0.1:${info.port}`,
    wsUrl: `ws://127.0.0.1:${info.port}`,
    call,
    events,
    stop,
    /** SIGKILL: the node vanishes without unsubscribing (as a crash). */
    async kill() {
      child.kill("SIGKILL");
      return exited;
    },
    log: () => log,
  };
}

// --- switchboard nodes ---------------------------------------------------------------------------

/**
 * Spawns the switchboard binary on 127.0.0.1 and a free port, in cluster mode when `redisUrl` is
 * given (`--redis-url URL --redis-adapter ADAPTER --redis-key-prefix KEY`, and
 * `--redis-subscription-mode MODE` when `subscriptionMode` is given: sharded only, switchboard's
 * default being Node's, dynamic), with `--connection-state-recovery --recovery-window-ms N` when
 * `recoveryMs` is given, plus `extraArgs`, and waits until GET /healthz answers 200 (the interop
 * tests' `spawnUntilReady`). With `adapter: "streams"` it then waits until the node is in the
 * cluster as a Node streams node would be (see untilStreamsNodeReady). Resolves with
 * `{kind: "switchboard", url, wsUrl, port, adapter, subscriptionMode, recoveryMs, stop(), log()}`;
 * `stop()` sends SIGTERM, awaits the exit (SIGKILL after 5 s) and resolves with `{code, signal}`.
 */
export async function startSwitchboard({ redisUrl, adapter = "classic", subscriptionMode, key = "socket.io", recoveryMs, extraArgs = [], env = {}, deadlineMs = 10_000 } = {}) {
  const port = await freePort();
  const args = ["--listen", `127.0.0.1:${port}`];
  if (redisUrl) {
    args.push("--redis-url", redisUrl, "--redis-adapter", adapter, "--redis-key-prefix", key);
    if (subscriptionMode) args.push("--redis-subscription-mode", subscriptionMode);
  }
  if (recoveryMs) args.push("--connection-state-recovery", "--recovery-window-ms", String(recoveryMs));
  args.push(...extraArgs);
  const spawnIt = () =>
    spawnUntilReady(BIN, {
      port,
      args,
      env,
      what: "/healthz",
      deadlineMs,
      ready: async (url) => (await fetch(`${url}/healthz`, { signal: AbortSignal.timeout(1000) })).status === 200,
    });
  const server = redisUrl && adapter === "streams" ? await startStreamsSwitchboard(redisUrl, key, spawnIt, deadlineMs) : await spawnIt();
  return { kind: "switchboard", adapter, subscriptionMode: subscriptionMode ?? (adapter === "sharded" ? "dynamic" : undefined), recoveryMs, ...server };
}

// --- the streams adapter's readiness ---------------------------------------------------------------

/** The prefix of the CLIENT SETNAME of lib/node-node.mjs's Redis connections (streams adapter). */
export const NODE_CLIENT_NAME_PREFIX = "harness-node-";

/** `key=value` fields of each line of CLIENT LIST. */
export async function clientList(client) {
  const text = String(await client.sendCommand(["CLIENT", "LIST"]));
  return text
    .split("\n")
    .filter((line) => line.trim())
    .map((line) =>
      Object.fromEntries(
        line
          .trim()
          .split(" ")
          .map((pair) => [pair.slice(0, pair.indexOf("=")), pair.slice(pair.indexOf("=") + 1)]),
      ),
    );
}

/** PUBSUB NUMSUB of one channel through a node-redis client. */
export async function numSub(client, channel) {
  const [, count] = await client.sendCommand(["PUBSUB", "NUMSUB", channel]);
  return Number(count);
}

/** Starts of switchboard streams nodes, one at a time per Redis (see untilStreamsNodeReady). */
const streamsStarts = new Map();

async function startStreamsSwitchboard(redisUrl, key, spawnIt, deadlineMs) {
  const previous = streamsStarts.get(redisUrl) ?? Promise.resolve();
  let done;
  const mine = new Promise((resolve) => (done = resolve));
  streamsStarts.set(redisUrl, previous.then(() => mine));
  await previous;
  const redis = await connectRedisClient({ redisUrl });
  try {
    // Redis numbers its connections in order: whatever connects after this one is newer.
    const before = Number(await redis.client.sendCommand(["CLIENT", "ID"]));
    const server = await spawnIt();
    try {
      await untilStreamsNodeReady(redis.client, server, { key, after: before, timeoutMs: deadlineMs });
    } catch (error) {
      await server.stop();
      throw new Error(`${error.message}\n${server.log()}`);
    }
    return server;
  } finally {
    await redis.close();
    done();
  }
}

/**
 * Resolves once switchboard node `server` (streams adapter) is in the cluster as lib/node-node.mjs's
 * ready line means for a Node node: PUBSUB NUMSUB of its response channel `<key>#/#<uid>#` (the uid
 * being /api/stats `cluster.node_id`) is 1, and a connection opened after Redis connection id
 * `after` (not one of a Node node's, named NODE_CLIENT_NAME_PREFIX...) has sent XREAD: a reader
 * that starts at "$", as Node's does, misses whatever is XADDed before its first XREAD. Starts
 * on one Redis are serialised (startStreamsSwitchboard), so that connection is this node's.
 */
export async function untilStreamsNodeReady(client, server, { key = "socket.io", after = 0, timeoutMs = WAIT } = {}) {
  return until(
    async () => {
      const { cluster } = await stats(server);
      if (!cluster?.node_id) throw new Error(`no cluster.node_id in /api/stats: ${JSON.stringify(cluster)}`);
      const subscribers = await numSub(client, `${key}#/#${cluster.node_id}#`);
      const readers = (await clientList(client)).filter(
        (c) => Number(c.id) > after && c.cmd === "xread" && !(c.name ?? "").startsWith(NODE_CLIENT_NAME_PREFIX),
      );
      if (subscribers !== 1 || readers.length === 0) {
        throw new Error(`${key}#/#${cluster.node_id}# has ${subscribers} subscribers, ${readers.length} new XREAD connections`);
      }
      return true;
    },
    `switchboard :${server.port} subscribed and reading the stream`,
    timeoutMs,
  );
}

/** GET /api/stats of a switchboard node. */
export async function stats(server) {
  const response = await fetch(`${server.url}/api/stats`, { signal: AbortSignal.timeout(WAIT) });
  if (response.status !== 200) throw new Error(`GET /api/stats answered ${response.status}`);
  return response.json();
}

/**
 * Resolves once `node` (a Node node) counts `count` servers in the cluster: the adapter's own
 * `serverCount()`, PUBSUB NUMSUB of the requests channel (classic) or PUBSUB SHARDNUMSUB of the
 * namespace's channel `<key>#/#` (sharded).
 */
export function untilServerCount(node, count, timeoutMs = WAIT) {
  return until(async () => (await node.call("serverCount")) === count, `${node.name}: serverCount ${count}`, timeoutMs);
}

// --- the sharded adapter's channels ---------------------------------------------------------------

/**
 * A sharded-adapter channel of namespace "/": `<key>#/#` (the namespace's channel) without
 * `room`, else `<key>#/#<room>#`, which is the channel of room `room` and also, for a node's uid,
 * that node's response channel.
 */
export function shardChannel(room, { key = "socket.io" } = {}) {
  return room === undefined || room === null ? `${key}#/#` : `${key}#/#${room}#`;
}

/**
 * Resolves once the shard channel of `room` (see shardChannel) has exactly `count` subscribers by
 * PUBSUB SHARDNUMSUB, asked through `redis` (from connectRedisClient / Harness.redisClient) every
 * 25 ms. In dynamic modes a node subscribes a room's channel when its first local member joins
 * and unsubscribes it when the last one leaves, without waiting for Redis before it acks the
 * join: this is how a test knows the subscription is in place (or gone).
 */
export function untilShardSubscribers(redis, room, count, { key, timeoutMs = WAIT } = {}) {
  const channel = shardChannel(room, { key });
  return until(
    async () => {
      const now = await redis.shardNumSub(channel);
      if (now !== count) throw new Error(`${now} subscribers`);
      return true;
    },
    `${channel}: ${count} shard subscribers`,
    timeoutMs,
  );
}

// --- Socket.IO clients ---------------------------------------------------------------------------

export const SOCKETIO_CLIENTS = {
  4: { name: "socket.io-client 4.x", io: ioV4 },
  2: { name: "socket.io-client 2.x", io: ioV2 },
};

/**
 * Connects a socket.io-client (`version` 4 or 2) to namespace "/" of `server` (a Node or a
 * switchboard node); resolves once connected. Websocket only unless `transports` says otherwise.
 * The socket gets `close()` (a promise) for cleanup.
 */
export async function connectSocketIo(server, { version = 4, transports = ["websocket"], ...options } = {}) {
  const { io } = SOCKETIO_CLIENTS[version];
  const socket = io(server.url, { forceNew: true, reconnection: false, transports, ...options });
  socket.close = function close() {
    if (this.connected) {
      const gone = waitFor(this, "disconnect").catch(() => {});
      this.disconnect();
      return gone;
    }
    this.disconnect();
    return Promise.resolve();
  };
  try {
    await waitFor(socket, "connect", { failOn: ["connect_error", "error"] });
  } catch (error) {
    socket.disconnect();
    throw new Error(`${SOCKETIO_CLIENTS[version].name} to ${server.url}: ${error.message}`);
  }
  return socket;
}

/** Emits `event` with one argument and resolves with the ack's one argument. */
export function emitWithAck(socket, event, arg, timeoutMs = WAIT) {
  return within(new Promise((resolve) => socket.emit(event, arg, resolve)), `ack of "${event}"`, timeoutMs);
}

async function relayRequest(socket, event, arg) {
  const answer = await emitWithAck(socket, event, arg);
  if (answer?.ok !== true) throw new Error(`${event} ${JSON.stringify(arg)} refused: ${JSON.stringify(answer)}`);
  return answer;
}

/** Relay mode over Socket.IO: join `room` (rejects unless the ack is {ok: true}). */
export const sioJoin = (socket, room) => relayRequest(socket, "join", room);
export const sioLeave = (socket, room) => relayRequest(socket, "leave", room);
/** Publishes to every other member of `room`, on every node. */
export const sioPublish = (socket, room, event, data) => relayRequest(socket, "publish", { room, event, data });

/**
 * Records every `event` a socket.io socket receives: `entries` (argument arrays, acks left out),
 * `next()` the next one not yet taken, `count`.
 */
export function record(socket, event) {
  const log = new EventEmitter();
  const entries = [];
  let taken = 0;
  socket.on(event, (...args) => {
    if (typeof args[args.length - 1] === "function") args.pop();
    entries.push(args);
    log.emit("entry");
  });
  return {
    entries,
    get count() {
      return entries.length;
    },
    async next(timeoutMs = WAIT) {
      if (taken >= entries.length) await waitFor(log, "entry", { timeoutMs }).catch(() => {
        throw new Error(`no "${event}" within ${timeoutMs} ms (had ${entries.length})`);
      });
      return entries[taken++];
    },
  };
}

// --- relay-envelope clients (plain WebSocket and SockJS) -----------------------------------------

/**
 * A client of the relay envelope over any transport `{send(text), close()}` that calls
 * `receive(text)` and `closed(code, reason)`: `request()` sends a request with a fresh id and
 * resolves with its ack or error; every other message waits in `inbox` for `next()`/`take()`;
 * `messages` keeps every one received.
 */
export class RelayClient {
  constructor(transport) {
    this.transport = transport;
    this.session = null;
    this.inbox = [];
    this.messages = [];
    this.waiters = [];
    this.pending = new Map();
    this.nextId = 0;
    this.events = new EventEmitter();
    this.closed = new Promise((resolve) => (this.resolveClosed = resolve));
  }

  receive(text) {
    const message = JSON.parse(text);
    const answered = this.pending.get(message.id);
    if ((message.type === "ack" || message.type === "error") && answered) {
      this.pending.delete(message.id);
      answered.resolve(message);
      return;
    }
    this.messages.push(message);
    this.inbox.push(message);
    this.events.emit("message", message);
  }

  closedWith(code, reason) {
    const failure = new Error(`connection closed (${code} ${reason})`);
    for (const { reject } of this.pending.values()) reject(failure);
    this.pending.clear();
    this.events.emit("close", failure);
    this.resolveClosed({ code, reason: String(reason) });
  }

  send(message) {
    this.transport.send(typeof message === "string" ? message : JSON.stringify(message));
  }

  request(request, timeoutMs = WAIT) {
    const id = ++this.nextId;
    const answer = new Promise((resolve, reject) => this.pending.set(id, { resolve, reject }));
    this.send({ ...request, id });
    return within(answer, `answer to ${JSON.stringify(request)}`, timeoutMs).finally(() => this.pending.delete(id));
  }

  /** The first message in the inbox for which `predicate` holds (taken out), waiting for it. */
  async take(predicate = () => true, timeoutMs = WAIT) {
    const found = () => {
      const index = this.inbox.findIndex(predicate);
      return index < 0 ? undefined : this.inbox.splice(index, 1)[0];
    };
    const now = found();
    if (now) return now;
    return within(
      new Promise((resolve, reject) => {
        const onMessage = () => {
          const message = found();
          if (message) {
            this.events.off("message", onMessage);
            this.events.off("close", onClose);
            resolve(message);
          }
        };
        const onClose = (error) => {
          this.events.off("message", onMessage);
          reject(error);
        };
        this.events.on("message", onMessage);
        this.events.once("close", onClose);
      }),
      "relay message",
      timeoutMs,
    );
  }

  /** The next message that answers no request. */
  next(timeoutMs = WAIT) {
    return this.take(() => true, timeoutMs);
  }

  async join(room) {
    const answer = await this.request({ type: "join", room });
    if (answer.type !== "ack") throw new Error(`join ${room} refused: ${JSON.stringify(answer)}`);
  }

  async leave(room) {
    const answer = await this.request({ type: "leave", room });
    if (answer.type !== "ack") throw new Error(`leave ${room} refused: ${JSON.stringify(answer)}`);
  }

  async publish(room, event, data) {
    const answer = await this.request({ type: "publish", room, event, data });
    if (answer.type !== "ack") throw new Error(`publish to ${room} refused: ${JSON.stringify(answer)}`);
  }

  waitClose(timeoutMs = WAIT) {
    return within(this.closed, "connection close", timeoutMs);
  }

  close() {
    this.transport.close();
    return this.waitClose().catch(() => {});
  }

  async #welcome() {
    const welcome = await this.next();
    if (welcome.type !== "welcome") throw new Error(`expected a welcome, got ${JSON.stringify(welcome)}`);
    this.session = welcome.session;
    this.welcome = welcome;
    return this;
  }

  /** A relay client over plain WebSocket at `<server>/ws`; resolves after the welcome. */
  static async ws(server) {
    const ws = new WebSocket(`${server.wsUrl}/ws`);
    const client = new RelayClient({ send: (text) => ws.send(text), close: () => ws.close() });
    client.ws = ws;
    ws.on("message", (data) => client.receive(data.toString()));
    ws.on("close", (code, reason) => client.closedWith(code, reason.toString()));
    ws.on("error", (error) => client.events.emit("transport-error", error));
    return client.#welcome();
  }

  /** A relay client over sockjs-client at `<server>/sockjs` with one `transport`; after the welcome. */
  static async sockjs(server, { transport = "websocket" } = {}) {
    const sock = new SockJS(`${server.url}/sockjs`, null, { transports: [transport], timeout: WAIT });
    const client = new RelayClient({ send: (text) => sock.send(text), close: () => sock.close() });
    client.sock = sock;
    sock.onmessage = (e) => client.receive(e.data);
    sock.onclose = (e) => client.closedWith(e.code, e.reason);
    return client.#welcome();
  }
}

// --- fences --------------------------------------------------------------------------------------

let fenceSeq = 0;

/**
 * Proves that everything `source` broadcast before has arrived: it broadcasts event `__fence`
 * with a fresh token to `room` (null: everyone in "/") and resolves once every client (socket.io
 * sockets and RelayClients, each a member) has received it. `source` is a Node node (its
 * `broadcast` command) or an emitter from createEmitter. Redis delivers one connection's
 * publications in order, so whatever that publisher sent earlier has arrived by then, and
 * "exactly once" and "nothing to non-members" can be counted.
 */
export async function fence(source, clients, { room = null } = {}) {
  const token = `fence-${process.pid}-${++fenceSeq}`;
  const heard = clients.map((client) =>
    client instanceof RelayClient
      ? client.take((m) => m.type === "message" && m.event === "__fence" && m.data === token)
      : waitFor(client, "__fence", { filter: ([t]) => t === token }),
  );
  if (source.call) {
    await source.call("broadcast", room, "__fence", token);
  } else {
    (room === null ? source.emitter : source.emitter.to(room)).emit("__fence", token);
  }
  await within(Promise.all(heard), `fence ${token}`);
}

/** Waits until a record() of a socket.io socket has had an entry whose first argument is `data`. */
export function arrives(recorded, data, what = JSON.stringify(data)) {
  return until(() => recorded.entries.some(([first]) => JSON.stringify(first) === JSON.stringify(data)), what, 10_000);
}

/** Records the relay messages of `event` a RelayClient receives (an array, filled as they come). */
export function relayRecord(client, event) {
  const seen = [];
  client.events.on("message", (m) => {
    if (m.type === "message" && m.event === event) seen.push(m);
  });
  return seen;
}

/**
 * Proves that everything switchboard node `server` published before has reached `clients`: a
 * `POST /api/publish` of `__fence` to `room` goes out on the same Redis connection, after them.
 */
export async function fenceFromSwitchboard(server, clients, room) {
  const token = `sb-fence-${process.pid}-${++fenceSeq}`;
  const heard = clients.map((client) =>
    client instanceof RelayClient
      ? client.take((m) => m.type === "message" && m.event === "__fence" && m.data === token)
      : waitFor(client, "__fence", { filter: ([t]) => t === token }),
  );
  await apiPublish(server, { room, event: "__fence", data: token });
  await within(Promise.all(heard), `fence ${token}`);
}

// --- one test's parts, cleaned up together -------------------------------------------------------

/**
 * Starts parts for test `t` and tears them all down when it ends (clients first, then nodes, then
 * Redis: the reverse of creation).
 */
export class Harness {
  constructor(t) {
    this.parts = [];
    t?.after(() => this.close());
  }

  add(part, close) {
    this.parts.push(close ?? (() => (part.close ?? part.stop).call(part)));
    return part;
  }

  async redis(options) {
    return this.add(await startRedis(options));
  }

  async nodeNode(options) {
    return this.add(await startNodeNode(options));
  }

  async switchboard(options) {
    return this.add(await startSwitchboard(options));
  }

  /** startProxy (lib/proxy.mjs): a TCP forwarder to `targetPort`, closed with the others. */
  async proxy(targetPort) {
    return this.add(await startProxy(targetPort));
  }

  async emitter(options) {
    return this.add(await createEmitter(options));
  }

  /** connectRedisClient: `shardNumSub`, `shardChannels` (for untilShardSubscribers). */
  async redisClient(options) {
    return this.add(await connectRedisClient(options));
  }

  /** shardSpy: SSUBSCRIBEs `channels` and keeps what arrives on them. */
  async shardSpy(options) {
    return this.add(await shardSpy(options));
  }

  async socketIo(server, options) {
    return this.add(await connectSocketIo(server, options));
  }

  async ws(server) {
    return this.add(await RelayClient.ws(server));
  }

  async sockjs(server, options) {
    return this.add(await RelayClient.sockjs(server, options));
  }

  async close() {
    const parts = this.parts.reverse();
    this.parts = [];
    for (const close of parts) {
      await within(Promise.resolve().then(close), "cleanup", 6000).catch(() => {});
    }
  }
}
