// The relay envelope of protocols/relay.md on Node ws 8 at /ws, plus POST /api/publish.
"use strict";
const http = require("node:http");
const { WebSocketServer } = require("ws");
const { PING_INTERVAL, PING_TIMEOUT, port, apiHandler, Relay } = require("./common");

const relay = new Relay();
const server = http.createServer(apiHandler((room, event, data) => relay.broadcast(room, event, data, null)));
const wss = new WebSocketServer({ server, path: "/ws", perMessageDeflate: false, maxPayload: 1e6 });
wss.on("connection", (ws) => {
  const session = relay.open((text) => ws.send(text));
  ws.lastPong = Date.now();
  ws.on("pong", () => (ws.lastPong = Date.now()));
  ws.on("message", (data, isBinary) => {
    if (isBinary) return session.send(JSON.stringify({ type: "error", message: "binary frames are not supported: send JSON text" }));
    relay.message(session, data.toString("utf8"));
  });
  ws.on("close", () => relay.close(session));
});
// Ping every PING_INTERVAL; a client whose pong has not come PING_TIMEOUT after a ping is closed.
setInterval(() => {
  const sent = Date.now();
  for (const ws of wss.clients) ws.ping();
  setTimeout(() => {
    for (const ws of wss.clients) if (ws.lastPong < sent) ws.close(1001, "ping timeout");
  }, PING_TIMEOUT).unref();
}, PING_INTERVAL).unref();
server.listen(port(), "127.0.0.1");
