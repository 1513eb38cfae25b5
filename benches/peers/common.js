// Shared by the three Node peers: the port from argv/env, the HTTP publish API, and the plain relay
// envelope of protocols/relay.md (used by the ws and sockjs peers), so that the load generator
// drives every contestant with the same bytes.
"use strict";
const crypto = require("node:crypto");

const PING_INTERVAL = 25000;
const PING_TIMEOUT = 20000;

function port() {
  const i = process.argv.indexOf("--port");
  const p = Number(i > 0 ? process.argv[i + 1] : process.env.PORT);
  if (!Number.isInteger(p) || p <= 0) throw new Error("usage: node <peer>.js --port N");
  return p;
}

function json(res, status, body) {
  const text = JSON.stringify(body);
  res.writeHead(status, { "content-type": "application/json", "content-length": Buffer.byteLength(text) });
  res.end(text);
}

// An HTTP handler for GET /healthz and POST /api/publish {room,event,data} -> {"delivered":N}, or
// a batch [{room,event,data},...] -> {"delivered":[N,...]} published in order (a server-side burst).
// `publish(room, event, data)` returns the number of sessions that took it.
function apiHandler(publish) {
  return (req, res) => {
    if (req.method === "GET" && req.url === "/healthz") return json(res, 200, { status: "ok" });
    if (req.method === "POST" && req.url === "/api/publish") {
      const chunks = [];
      req.on("data", (c) => chunks.push(c));
      req.on("end", () => {
        let body;
        try {
          body = JSON.parse(Buffer.concat(chunks).toString("utf8"));
        } catch (e) {
          return json(res, 400, { error: "invalid JSON" });
        }
        const valid = (m) => m && typeof m.room === "string" && typeof m.event === "string";
        const one = (m) => publish(m.room, m.event, m.data === undefined ? null : m.data);
        if (Array.isArray(body)) {
          if (!body.every(valid)) return json(res, 400, { error: "room and event are required strings" });
          return json(res, 200, { delivered: body.map(one) });
        }
        if (!valid(body)) return json(res, 400, { error: "room and event are required strings" });
        json(res, 200, { delivered: one(body) });
      });
      return;
    }
    // Requests the transport layers did not take.
    if (!res.headersSent && !res.writableEnded) json(res, 404, { error: "not found" });
  };
}

// The relay application over any session that can `send(text)`: rooms, join/leave/publish with
// acks, one encoding per broadcast.
class Relay {
  constructor() {
    this.rooms = new Map(); // room -> Set<session>
  }
  open(send) {
    const session = { id: crypto.randomBytes(16).toString("hex"), send, rooms: new Set() };
    send(JSON.stringify({ type: "welcome", session: session.id }));
    return session;
  }
  close(session) {
    for (const room of session.rooms) this.leave(session, room);
  }
  leave(session, room) {
    const members = this.rooms.get(room);
    if (members) {
      members.delete(session);
      if (members.size === 0) this.rooms.delete(room);
    }
    session.rooms.delete(room);
  }
  broadcast(room, event, data, except) {
    const members = this.rooms.get(room);
    if (!members) return 0;
    const text = JSON.stringify({ type: "message", room, event, data });
    let n = 0;
    for (const member of members) {
      if (member === except) continue;
      member.send(text);
      n += 1;
    }
    return n;
  }
  message(session, text) {
    let msg;
    const answer = (m) => session.send(JSON.stringify(m));
    try {
      msg = JSON.parse(text);
    } catch (e) {
      return answer({ type: "error", message: `invalid JSON: ${e.message}` });
    }
    if (!msg || typeof msg !== "object" || Array.isArray(msg)) {
      return answer({ type: "error", message: "a message must be a JSON object" });
    }
    const id = msg.id;
    const fail = (message) => answer(id === undefined ? { type: "error", message } : { type: "error", id, message });
    const ok = () => id !== undefined && answer({ type: "ack", id });
    if (typeof msg.room !== "string") return fail('missing field "room"');
    switch (msg.type) {
      case "join": {
        let members = this.rooms.get(msg.room);
        if (!members) this.rooms.set(msg.room, (members = new Set()));
        members.add(session);
        session.rooms.add(msg.room);
        return ok();
      }
      case "leave":
        this.leave(session, msg.room);
        return ok();
      case "publish":
        if (typeof msg.event !== "string") return fail('missing field "event"');
        this.broadcast(msg.room, msg.event, msg.data === undefined ? null : msg.data, session);
        return ok();
      default:
        return fail(`unknown type ${JSON.stringify(msg.type)}`);
    }
  }
}

module.exports = { PING_INTERVAL, PING_TIMEOUT, port, apiHandler, Relay };
