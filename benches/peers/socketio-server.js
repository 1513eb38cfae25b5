// The relay app on Node socket.io 4.8: join/leave/publish events acked {ok:true}, room messages
// delivered as socket.on(event, data), POST /api/publish for server-side bursts. With REDIS_URL,
// a node of a cluster through @socket.io/redis-adapter (classic; REDIS_ADAPTER=sharded for
// createShardedAdapter, dynamic subscriptions; REDIS_ADAPTER=streams for
// @socket.io/redis-streams-adapter). RECOVERY=1: connection state recovery (socket.io's defaults).
"use strict";
const http = require("node:http");
const { Server } = require("socket.io");
const { PING_INTERVAL, PING_TIMEOUT, port, apiHandler } = require("./common");

let io;
const server = http.createServer(
  apiHandler((room, event, data) => {
    io.to(room).emit(event, data);
    const members = io.sockets.adapter.rooms.get(room);
    return members ? members.size : 0;
  }),
);
io = new Server(server, {
  pingInterval: PING_INTERVAL,
  pingTimeout: PING_TIMEOUT,
  perMessageDeflate: false,
  httpCompression: false,
  maxHttpBufferSize: 1e6,
  serveClient: false,
  ...(process.env.RECOVERY === "1" ? { connectionStateRecovery: {} } : {}),
});
io.on("connection", (socket) => {
  const reply = (ack, value) => typeof ack === "function" && ack(value);
  socket.on("join", (room, ack) => {
    if (typeof room !== "string") return reply(ack, { ok: false, error: "room must be a string" });
    socket.join(room);
    reply(ack, { ok: true });
  });
  socket.on("leave", (room, ack) => {
    socket.leave(room);
    reply(ack, { ok: true });
  });
  socket.on("publish", (msg, ack) => {
    if (!msg || typeof msg.room !== "string" || typeof msg.event !== "string") {
      return reply(ack, { ok: false, error: "room and event are required" });
    }
    socket.to(msg.room).emit(msg.event, msg.data === undefined ? null : msg.data);
    reply(ack, { ok: true });
  });
});
// Cluster mode (benches/cluster): the Redis adapter, as a Node cluster runs it.
async function listen() {
  if (process.env.REDIS_URL) {
    const { createAdapter, createShardedAdapter } = require("@socket.io/redis-adapter");
    const { createClient } = require("redis");
    const pub = createClient({ url: process.env.REDIS_URL });
    const sub = pub.duplicate();
    await Promise.all([pub.connect(), sub.connect()]);
    switch (process.env.REDIS_ADAPTER) {
      case "sharded":
        io.adapter(createShardedAdapter(pub, sub));
        break;
      case "streams":
        io.adapter(require("@socket.io/redis-streams-adapter").createAdapter(pub));
        break;
      default:
        io.adapter(createAdapter(pub, sub));
    }
  }
  server.listen(port(), "127.0.0.1");
}
listen();
