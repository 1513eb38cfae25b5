// A Node socket.io 4.8 node of a Redis cluster (@socket.io/redis-adapter 8.x, classic or sharded,
// or @socket.io/redis-streams-adapter 0.3.x), running the same relay application as switchboard's Socket.IO relay (protocols/socketio.md,
// "Relay mode over Socket.IO"), so that a client cannot tell which kind of node it is on.
//
//   PORT=0 REDIS_URL=redis://127.0.0.1:6379 ADAPTER=classic KEY=socket.io node lib/node-node.mjs
//
// Environment: PORT (0 = a free port), REDIS_URL, ADAPTER (classic | sharded | streams), KEY (the
// adapter's `key` / `channelPrefix`, and with streams also its `streamName`; default socket.io),
// SUBSCRIPTION_MODE (sharded only: dynamic (default) | dynamic-private | static), REQUESTS_TIMEOUT
// (classic `requestsTimeout`, default 5000 ms), RECOVERY_MS (when set: connection state recovery,
// `maxDisconnectionDuration` = RECOVERY_MS, `skipMiddlewares: true`; only the streams adapter keeps
// sessions across nodes), NODE_NAME (shown in serverSideEmit answers and logs; with streams the
// node's Redis connections are named `harness-node-<NAME>-<pid>` by CLIENT SETNAME).
//
// Prints one JSON line on stdout once it listens and its Redis subscriptions are confirmed (with
// streams: once PUBSUB NUMSUB counts its response channel `<key>#/#<uid>#` and its XREAD loop has
// reached Redis, CLIENT LIST showing one of its connections on `xread`: the loop starts at "$", so
// an entry XADDed before that would never be read here):
//   {"ready":true,"port":N,"uid":"<adapter uid of />","adapter":"classic","subscriptionMode":null,
//    "key":"socket.io","name":...,"recoveryMs":null}
//
// Started with child_process.fork (serialization "advanced", so Buffers stay binary) it takes
// commands over IPC: {id, cmd, args} answered with {id, result} or {id, error, responses?}; and
// it sends notifications {notify, ...} (serverSideEmit received, Redis client state changes).
// The commands are in COMMANDS below.
import { createServer } from "node:http";
import { createAdapter, createShardedAdapter } from "@socket.io/redis-adapter";
import { createAdapter as createStreamsAdapter } from "@socket.io/redis-streams-adapter";
import { createClient } from "redis";
import { Server } from "socket.io";

const PORT = Number(process.env.PORT ?? 0);
const REDIS_URL = process.env.REDIS_URL ?? "redis://127.0.0.1:6379";
const ADAPTER = process.env.ADAPTER ?? "classic";
const KEY = process.env.KEY || "socket.io";
const SUBSCRIPTION_MODE = process.env.SUBSCRIPTION_MODE ?? "dynamic";
const REQUESTS_TIMEOUT = Number(process.env.REQUESTS_TIMEOUT ?? 5000);
const NAME = process.env.NODE_NAME ?? `node-${process.pid}`;
/** Connection state recovery's window in ms, or null (off). */
const RECOVERY_MS = process.env.RECOVERY_MS ? Number(process.env.RECOVERY_MS) : null;
/** The streams adapter's Redis connections are named so CLIENT LIST tells this node's apart. */
const CLIENT_NAME = `harness-node-${NAME}-${process.pid}`.replace(/[^!-~]/g, "_");

// switchboard's relay limits (src/relay/mod.rs, src/hub/mod.rs): the same refusals, word for word.
const MAX_ROOM_NAME = Number(process.env.MAX_ROOM_NAME ?? 256);
const MAX_ROOMS_PER_SESSION = Number(process.env.MAX_ROOMS_PER_SESSION ?? 1024);

if (!["classic", "sharded", "streams"].includes(ADAPTER)) {
  console.error(`ADAPTER must be classic, sharded or streams, not ${JSON.stringify(ADAPTER)}`);
  process.exit(2);
}
if (RECOVERY_MS !== null && !(Number.isInteger(RECOVERY_MS) && RECOVERY_MS > 0)) {
  console.error(`RECOVERY_MS must be a positive integer (ms), not ${JSON.stringify(process.env.RECOVERY_MS)}`);
  process.exit(2);
}
if (!["dynamic", "static", "dynamic-private"].includes(SUBSCRIPTION_MODE)) {
  console.error(`SUBSCRIPTION_MODE must be dynamic, static or dynamic-private, not ${JSON.stringify(SUBSCRIPTION_MODE)}`);
  process.exit(2);
}
/** The sharded adapter's subscription mode, null with the classic adapter. */
const MODE = ADAPTER === "sharded" ? SUBSCRIPTION_MODE : null;

const log = (...parts) => console.error(`[${NAME}]`, ...parts);
const notify = (message) => process.send?.({ notify: message.notify, ...message });

// --- Redis ---------------------------------------------------------------------------------------

const redisState = {};

/** A node-redis 4 client whose state changes are counted, logged once each and notified. */
function redisClient(role, client) {
  const state = (redisState[role] = { ready: false, readyCount: 0, errors: 0, reconnecting: 0, lastError: null });
  client.on("ready", () => {
    state.ready = true;
    state.readyCount += 1;
    if (state.readyCount > 1) log(`redis ${role}: ready again (${state.readyCount})`);
    notify({ notify: "redis", role, event: "ready", readyCount: state.readyCount });
  });
  client.on("error", (error) => {
    // node-redis emits an error for each failed reconnection attempt: log the first of an outage.
    if (state.ready || state.errors === 0) log(`redis ${role}: ${error.message}`);
    state.ready = false;
    state.errors += 1;
    state.lastError = error.message;
  });
  client.on("reconnecting", () => {
    state.ready = false;
    state.reconnecting += 1;
  });
  client.on("end", () => (state.ready = false));
  return client;
}

const STREAMS = ADAPTER === "streams";
// The streams adapter takes one client and duplicates it itself (a subscriber, and one reader per
// stream for its blocking XREAD); duplicates keep the options, so the name too.
const pubClient = redisClient("pub", createClient({ url: REDIS_URL, ...(STREAMS ? { name: CLIENT_NAME } : {}) }));
const subClient = STREAMS ? null : redisClient("sub", pubClient.duplicate());
const clientRoles = STREAMS ? ["pub"] : ["pub", "sub"];
await Promise.all([pubClient, subClient].filter(Boolean).map((client) => client.connect()));

let barrierSeq = 0;
/**
 * Resolves once every (S)SUBSCRIBE that was sent on the subscriber connection before this call has
 * been confirmed by Redis: a throwaway subscription round trip (replies come in order). The
 * adapters never await their subscriptions; this is how the harness knows they are in place.
 */
async function subscriptionBarrier() {
  if (STREAMS) return streamsBarrier();
  const channel = `${KEY}-harness-barrier#${process.pid}#${++barrierSeq}#`;
  const noop = () => {};
  if (ADAPTER === "sharded") {
    await subClient.sSubscribe(channel, noop);
    await subClient.sUnsubscribe(channel);
  } else {
    await subClient.subscribe(channel, noop);
    await subClient.unsubscribe(channel);
  }
}

/** `key=value` fields of one CLIENT LIST line. */
function clientFields(line) {
  return Object.fromEntries(
    line
      .trim()
      .split(" ")
      .map((pair) => [pair.slice(0, pair.indexOf("=")), pair.slice(pair.indexOf("=") + 1)]),
  );
}

/**
 * The streams adapter's state as Redis sees it: `subscribed`, PUBSUB NUMSUB of this node's response
 * channel `<key>#/#<uid>#` (the adapter SUBSCRIBEs it with the public one in one command, never
 * awaited); `reading`, whether one of this node's connections (by CLIENT SETNAME) has sent XREAD.
 */
async function streamsState() {
  const [, subscribers] = await pubClient.sendCommand(["PUBSUB", "NUMSUB", `${KEY}#/#${nsp.adapter.uid}#`]);
  const clients = String(await pubClient.sendCommand(["CLIENT", "LIST"])).split("\n").filter(Boolean).map(clientFields);
  const reading = clients.some((c) => c.name === CLIENT_NAME && c.cmd === "xread");
  return { subscribed: Number(subscribers) === 1, reading };
}

/** Resolves once streamsState() is all true (polled every 10 ms), rejects after 10 s. */
async function streamsBarrier(timeoutMs = 10_000) {
  const deadline = Date.now() + timeoutMs;
  let state;
  for (;;) {
    try {
      state = await streamsState();
      if (state.subscribed && state.reading) return;
    } catch (error) {
      state = error.message;
    }
    if (Date.now() > deadline) throw new Error(`the streams adapter is not subscribed and reading: ${JSON.stringify(state)}`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

// --- socket.io -----------------------------------------------------------------------------------

/** The adapter of ADAPTER: the streams adapter's streamName and channelPrefix are both KEY. */
function adapter() {
  switch (ADAPTER) {
    case "sharded":
      return createShardedAdapter(pubClient, subClient, { channelPrefix: KEY, subscriptionMode: SUBSCRIPTION_MODE });
    case "streams":
      return createStreamsAdapter(pubClient, { streamName: KEY, channelPrefix: KEY });
    default:
      return createAdapter(pubClient, subClient, { key: KEY, requestsTimeout: REQUESTS_TIMEOUT });
  }
}

const httpServer = createServer();
const io = new Server(httpServer, {
  allowEIO3: true, // socket.io-client 2.x, as switchboard accepts it
  adapter: adapter(),
  ...(RECOVERY_MS === null ? {} : { connectionStateRecovery: { maxDisconnectionDuration: RECOVERY_MS, skipMiddlewares: true } }),
});
const nsp = io.of("/");

/** True if `value` holds binary anywhere (what makes socket.io send attachments). */
function hasBinary(value, depth = 0) {
  if (value === null || typeof value !== "object" || depth > 64) return false;
  if (ArrayBuffer.isView(value) || value instanceof ArrayBuffer) return true;
  if (Array.isArray(value)) return value.some((item) => hasBinary(item, depth + 1));
  return Object.values(value).some((item) => hasBinary(item, depth + 1));
}

const isPlainObject = (v) =>
  v !== null && typeof v === "object" && [Object.prototype, null].includes(Object.getPrototypeOf(v));

class Refusal extends Error {}

/** Names socket.io's emit refuses (socket.io/dist/socket-types.js). */
const RESERVED_EVENTS = new Set(["connect", "connect_error", "disconnect", "disconnecting", "newListener", "removeListener"]);

/** switchboard's RelayLimits::room_name. */
function roomName(room) {
  if (room.length === 0) throw new Refusal("room name must not be empty");
  if (Buffer.byteLength(room, "utf8") > MAX_ROOM_NAME) throw new Refusal(`room name longer than ${MAX_ROOM_NAME} bytes`);
  return room;
}

function stringArg(args, what) {
  if (typeof args[0] !== "string") throw new Refusal(`${what} expects a room name (a string)`);
  return args[0];
}

/** One relay request, as src/socketio/relay.rs: resolves with undefined (ok) or throws a Refusal. */
async function relay(socket, event, args) {
  if (hasBinary(args)) throw new Refusal("binary payloads are not relayed: send JSON");
  switch (event) {
    case "join": {
      const room = roomName(stringArg(args, "join"));
      if (socket.rooms.has(room)) return;
      const joined = [...socket.rooms].filter((r) => r !== socket.id).length;
      if (joined >= MAX_ROOMS_PER_SESSION) throw new Refusal(`too many rooms (limit ${MAX_ROOMS_PER_SESSION})`);
      await socket.join(room);
      // The sharded adapter SSUBSCRIBEs a new room's channel without awaiting it: ack the join only
      // once Redis confirmed it, so that a broadcast sent after the ack cannot miss this member.
      if (ADAPTER === "sharded") await subscriptionBarrier();
      return;
    }
    case "leave": {
      const room = roomName(stringArg(args, "leave"));
      if (room !== socket.id) await socket.leave(room);
      return;
    }
    case "publish": {
      if (args.length !== 1 || !isPlainObject(args[0])) throw new Refusal("publish expects one object: {room, event, data}");
      const fields = args[0];
      for (const name of ["room", "event"]) {
        if (typeof fields[name] !== "string") throw new Refusal(`publish: "${name}" must be a string`);
      }
      const room = roomName(fields.room);
      const data = fields.data === undefined ? null : fields.data;
      if (RESERVED_EVENTS.has(fields.event)) {
        // socket.io's emit throws on these; switchboard relays them: hand the packet to the adapter
        // as emit would have (what goes out on Redis is the same).
        nsp.adapter.broadcast(
          { type: 2, data: [fields.event, data], nsp: "/" },
          { rooms: new Set([room]), except: new Set([socket.id]), flags: {} },
        );
      } else {
        socket.to(room).emit(fields.event, data); // every other member of the room, on every node
      }
      return;
    }
    default:
      throw new Refusal(`no handler for event "${event}"`);
  }
}

io.on("connection", (socket) => {
  socket.onAny(async (event, ...args) => {
    const ack = typeof args[args.length - 1] === "function" ? args.pop() : null;
    let reply;
    try {
      await relay(socket, event, args);
      reply = { ok: true };
    } catch (error) {
      if (!(error instanceof Refusal)) log(`relay ${event} failed:`, error);
      reply = { ok: false, error: error.message };
    }
    ack?.(reply);
  });
});

// serverSideEmit from other nodes (or the emitter): recorded, notified, and acked when asked.
const serverSideEmits = [];
nsp._onServerSideEmit = (args) => {
  args = [...args];
  const ack = typeof args[args.length - 1] === "function" ? args.pop() : null;
  const [event, ...rest] = args;
  const record = { event, args: rest, withAck: ack !== null };
  serverSideEmits.push(record);
  notify({ notify: "serverSideEmit", ...record });
  ack?.({ from: "node", name: NAME, uid: nsp.adapter.uid, event, args: rest });
};

// --- IPC commands --------------------------------------------------------------------------------

/** Buffers cross IPC as Uint8Array: give socket.io back Buffers. */
function revive(value, depth = 0) {
  if (depth > 64) return value;
  if (value instanceof Uint8Array && !Buffer.isBuffer(value)) return Buffer.from(value.buffer, value.byteOffset, value.byteLength);
  if (Array.isArray(value)) return value.map((v) => revive(v, depth + 1));
  if (isPlainObject(value)) return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, revive(v, depth + 1)]));
  return value;
}

/** `io`, narrowed to `room` (a string or a list) unless it is null/undefined. */
const target = (room, operator = io) => (room === null || room === undefined ? operator : operator.to(room));

/** fetchSockets' entries, as plain data (RemoteSocket and Socket alike). */
function socketDetails(socket) {
  return {
    id: socket.id,
    rooms: [...socket.rooms].sort(),
    handshake: JSON.parse(JSON.stringify(socket.handshake)),
    data: socket.data ?? {},
    local: typeof socket.conn === "object",
    ...(typeof socket.conn === "object" ? { recovered: socket.recovered } : {}),
  };
}

/** A callback-form emit with ack, as a promise of {responses} that rejects with the partial ones. */
function broadcastWithAck(operator, event, args) {
  return new Promise((resolve, reject) => {
    operator.emit(event, ...args, (error, responses) => {
      if (error) {
        error.responses = responses;
        reject(error);
      } else {
        resolve(responses);
      }
    });
  });
}

const COMMANDS = {
  /** This node's identity and Redis state. */
  info: () => ({ name: NAME, pid: process.pid, port: httpServer.address().port, uid: nsp.adapter.uid, adapter: ADAPTER, subscriptionMode: MODE, key: KEY, recoveryMs: RECOVERY_MS, clientName: STREAMS ? CLIENT_NAME : null, redis: redisState }),
  /** Sockets of the whole cluster (or of `room`): [{id, rooms, handshake, data, local}]. */
  fetchSockets: async (room) => (await target(room).fetchSockets()).map(socketDetails),
  /** Sockets of this node only. */
  localSockets: async (room) => (await target(room, io.local).fetchSockets()).map(socketDetails),
  serverSideEmit: (event, ...args) => (io.serverSideEmit(event, ...args), true),
  /** One answer per other node; on timeout the error carries the partial answers. */
  serverSideEmitWithAck: (event, ...args) => io.serverSideEmitWithAck(event, ...args),
  /** io.timeout(5000).to(room).emitWithAck(event, ...args): every client's first ack argument. */
  emitWithAck: (room, event, ...args) => broadcastWithAck(target(room, io.timeout(5000)), event, args),
  /** The same with a chosen timeout. */
  emitWithAckTimeout: (timeoutMs, room, event, ...args) => broadcastWithAck(target(room, io.timeout(timeoutMs)), event, args),
  socketsJoin: (room, rooms) => (target(room).socketsJoin(rooms), true),
  socketsLeave: (room, rooms) => (target(room).socketsLeave(rooms), true),
  disconnectSockets: (room, close = false) => (target(room).disconnectSockets(close), true),
  /** Classic only: the sharded adapter (socket.io-adapter's ClusterAdapter) has no allRooms. */
  allRooms: async () => {
    if (typeof nsp.adapter.allRooms !== "function") throw new Error(`allRooms is not supported by the ${ADAPTER} adapter`);
    return [...(await nsp.adapter.allRooms())].sort();
  },
  /**
   * classic: PUBSUB NUMSUB of the requests channel; sharded: PUBSUB SHARDNUMSUB of `<key>#/#`;
   * streams: PUBSUB NUMSUB of `<key>#/#`.
   */
  serverCount: () => nsp.adapter.serverCount(),
  /** io.to(room).emit(event, ...args); binary arguments stay binary. */
  broadcast: (room, event, ...args) => (target(room).emit(event, ...args), true),
  /** The same with every operator: {to, except, volatile, compress, local}. */
  broadcastWith: (opts, event, ...args) => {
    let operator = io;
    if (opts.local) operator = operator.local;
    if (opts.volatile) operator = operator.volatile;
    if (opts.compress !== undefined) operator = operator.compress(opts.compress);
    if (opts.to !== undefined) operator = operator.to(opts.to);
    if (opts.except !== undefined) operator = operator.except(opts.except);
    operator.emit(event, ...args);
    return true;
  },
  /** Every serverSideEmit received so far: [{event, args, withAck}]. */
  serverSideEmits: () => serverSideEmits,
  /** This node's own rooms of "/" and their members. */
  localRooms: () => Object.fromEntries([...nsp.adapter.rooms].map(([room, sids]) => [room, [...sids].sort()])),
  /**
   * Resolves once both Redis clients (with streams: the one client this file holds) have been ready
   * more than `afterReadyCount` times each (so after a reconnection, pass the counts seen before the
   * outage) and the subscriptions are confirmed (node-redis resubscribes everything before it
   * reports ready; with streams, see streamsBarrier).
   */
  waitRedisReady: async (afterReadyCount = 0) => {
    for (;;) {
      const ok = clientRoles.every((role) => redisState[role].ready && redisState[role].readyCount > afterReadyCount);
      if (ok) {
        try {
          await subscriptionBarrier();
          await pubClient.ping();
          return redisState;
        } catch {
          // the connection dropped under us: wait for the next ready
        }
      }
      await new Promise((resolve) => {
        const clients = [pubClient, subClient].filter(Boolean);
        const onReady = () => {
          for (const client of clients) client.off("ready", onReady);
          resolve();
        };
        for (const client of clients) client.on("ready", onReady);
      });
    }
  },
  /** Confirms every subscription sent so far (see subscriptionBarrier). */
  barrier: async () => (await subscriptionBarrier(), true),
  /** streams only: {subscribed, reading} as Redis sees them now (see streamsState). */
  streamsState: () => {
    if (!STREAMS) throw new Error(`streamsState is for the streams adapter, not ${ADAPTER}`);
    return streamsState();
  },
  stop: async () => {
    setImmediate(shutdown);
    return true;
  },
};

process.on("message", async (message) => {
  if (!message || typeof message !== "object" || !("cmd" in message)) return;
  const { id, cmd, args = [] } = message;
  const command = COMMANDS[cmd];
  try {
    if (!command) throw new Error(`unknown command ${JSON.stringify(cmd)}`);
    const result = await command(...revive(args));
    process.send?.({ id, result });
  } catch (error) {
    process.send?.({ id, error: error.message, responses: error.responses });
  }
});

// --- start and stop ------------------------------------------------------------------------------

let stopping = false;
async function shutdown() {
  if (stopping) return;
  stopping = true;
  const forced = setTimeout(() => process.exit(0), 3000);
  forced.unref();
  try {
    await new Promise((resolve) => io.close(() => resolve()));
    await Promise.allSettled([pubClient, subClient].filter(Boolean).map((client) => client.disconnect()));
  } finally {
    process.exit(0);
  }
}
process.on("SIGTERM", shutdown);
process.on("SIGINT", shutdown);
process.on("disconnect", shutdown); // the parent that forked us is gone

await new Promise((resolve, reject) => {
  httpServer.once("error", reject);
  httpServer.listen(PORT, "127.0.0.1", resolve);
});
await subscriptionBarrier(); // the adapter's subscriptions of "/" are in place (and, streams, its XREAD)
const { port } = httpServer.address();
process.stdout.write(`${JSON.stringify({ ready: true, port, uid: nsp.adapter.uid, adapter: ADAPTER, subscriptionMode: MODE, key: KEY, name: NAME, pid: process.pid, recoveryMs: RECOVERY_MS })}\n`);
