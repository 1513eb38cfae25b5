// The relay envelope inside SockJS messages on sockjs-node 0.3.24 at /sockjs, plus POST /api/publish.
"use strict";
const http = require("node:http");
const sockjs = require("sockjs");
const { PING_INTERVAL, port, apiHandler, Relay } = require("./common");

const relay = new Relay();
const server = http.createServer(apiHandler((room, event, data) => relay.broadcast(room, event, data, null)));
const service = sockjs.createServer({
  prefix: "/sockjs",
  heartbeat_delay: PING_INTERVAL,
  disconnect_delay: 5000,
  response_limit: 128 * 1024,
  log: () => {},
});
service.on("connection", (conn) => {
  const session = relay.open((text) => conn.write(text));
  conn.on("data", (text) => relay.message(session, text));
  conn.on("close", () => relay.close(session));
});
service.installHandlers(server);
server.listen(port(), "127.0.0.1");
