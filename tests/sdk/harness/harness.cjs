#!/usr/bin/env node
// The official ConnectyCube JavaScript SDK (npm "connectycube", pinned to 6.1.2 by
// package-lock.json) run as a black-box peer of the cubeproto conformance tests (tests/sdk).
//
// Protocol: JSON lines.  pytest writes one request per line on stdin:
//     {"id": 7, "op": "call", "path": "chat.send", "args": [1234, {"body": "hi"}]}
// and reads lines from stdout:
//     {"type": "reply", "id": 7, "ok": true, "value": "6650c2..."}
//     {"type": "reply", "id": 7, "ok": false, "error": "..."}
//     {"type": "event", "name": "onMessageListener", "args": [1234, {...}]}
//     {"type": "xml", "dir": "in" | "out", "xml": "<message .../>"}     (raw traffic, for diagnostics)
// Every chat listener of the SDK is installed and reported with all of its arguments.
//
// Values that JSON cannot carry travel as tagged objects, both ways:
//     {"__js__": "undefined"} / {"__js__": "NaN"} / {"__js__": "Infinity"} / {"__js__": "-Infinity"}
//     {"__xml__": "<delay .../>"}   an XML element the SDK passes to a listener (message.delay)
//     {"__error__": "message"}      an Error object
//
// Known defects of SDK 6.1.2 that this harness works around -- here, and never in cubeproto:
//   D1 chat.muc.join() and chat.muc.leave() never resolve on a standard MUC
//      self-presence: the SDK looks for <status> as an element named "xmlns" with a child "code"
//      instead of <status code="110"/>.  The "join"/"leave" ops below send through the SDK and
//      settle when the room's self-presence (status 110) reaches the SDK's XMPP client; the
//      SDK's own promise is left pending.
//   D2 the stream-management "sent" callback counts on the server's h, which also
//      counts stanzas that are not tracked messages, so a message can be reported sent early;
//      and messages without a body are never tracked.  Tests do not assert on onSentMessageCallback.
//   D3 extension values decode as strings (numbers and booleans do not round
//      trip); an empty top-level element (<x/>: "", null, {}) is dropped, but an empty element
//      inside an object is reported as null (not dropped as at the top level).  Tests
//      compare against this observed decoding (tests/sdk/expect.py) rather than a round trip.
//   D4 privacylist.getNames() lists the <active/> and <default/> entries in "names"
//      (as "" when nameless), reports a nameless <active/>/<default/> as "" rather than null,
//      and getList() never reports mutualBlock; tests compare against that.
//   D5 non-attachment arrays in an extension are written as elements named
//      "0", "1", ... -- not well-formed XML; tests never ask the SDK to send one.
//   D6 the SDK logs every stanza with console.log (debug mode 1 by default); the harness sets
//      debug mode 0 and sends console.* to stderr, so stdout carries only protocol lines.
//   D7 chat.connect() resolves on "online", in the same tick as the SDK sends its initial
//      presence -- before the server has processed it -- so a 1-1 message to the user's bare
//      JID can find no available resource and go to offline storage.  "connect" settles after
//      a ping round trip on the same stream (see connect() below).
//   D8 any unsolicited IQ with a "from" and a <query> child is taken for a
//      last-activity push, whatever its namespace: the server's privacy-list push
//      (<query xmlns="jabber:iq:privacy">) fires onLastUserActivityListener(ownUserId, NaN).
//   D9 the message-error listener gets {code, info} from the legacy error@code
//      attribute and <text>; for a bounce without them (ejabberd's) that is {code: 0, info: null}
//      and the defined condition (<service-unavailable/>) is not reported.
//   D10 with CUBE_TCP_ENABLE (xmpp:// URL) the SDK never negotiates STARTTLS although the
//      server offers it: it authenticates and chats over plain TCP.  Tests record this
//      (test_transports.py); for an encrypted socket the SDK needs CUBE_TLS_ENABLE (xmpps://).
//      Against a server that requires STARTTLS (our local server: <starttls><required/>)
//      the SDK sends nothing after the stream features and chat.connect() never settles --
//      neither resolved nor rejected, no listener called.  Tests use WebSocket or direct TLS
//      with our local server.
"use strict";

const readline = require("node:readline");

// D6: keep stdout for the protocol.
const toStderr = (...parts) => process.stderr.write(parts.map(String).join(" ") + "\n");
console.log = toStderr;
console.info = toStderr;
console.debug = toStderr;
console.warn = toStderr;

const ConnectyCube = require("connectycube").default;

const LISTENERS = [
  "onChatStatusListener",
  "onConnectionErrorListener",
  "onDisconnectedListener",
  "onReconnectListener",
  "onMessageListener",
  "onSystemMessageListener",
  "onMessageErrorListener",
  "onMessageTypingListener",
  "onMessageUpdateListener",
  "onMessageDeleteListener",
  "onMessageReactionsListener",
  "onDeliveredStatusListener",
  "onReadStatusListener",
  "onSentMessageCallback",
  "onLastUserActivityListener",
  "onJoinOccupant",
  "onLeaveOccupant",
  "onKickOccupant",
];

function emit(obj) {
  process.stdout.write(JSON.stringify(obj) + "\n");
}

// -- value transport ----------------------------------------------------------------------

function encode(value, seen = new Set()) {
  if (value === undefined) return { __js__: "undefined" };
  if (typeof value === "number") {
    if (Number.isNaN(value)) return { __js__: "NaN" };
    if (value === Infinity) return { __js__: "Infinity" };
    if (value === -Infinity) return { __js__: "-Infinity" };
    return value;
  }
  if (value === null || typeof value === "string" || typeof value === "boolean") return value;
  if (typeof value === "bigint") return value.toString();
  if (typeof value === "function") return { __js__: "function" };
  if (value instanceof Error) return { __error__: String(value.message || value) };
  // ltx elements (the XML objects of xmpp.js) have name, attrs and children.
  if (typeof value === "object" && typeof value.name === "string" && value.attrs && Array.isArray(value.children)) {
    return { __xml__: value.toString() };
  }
  if (seen.has(value)) return { __js__: "cycle" };
  seen.add(value);
  let out;
  if (Array.isArray(value)) {
    out = value.map((item) => encode(item, seen));
  } else {
    out = {};
    for (const key of Object.keys(value)) out[key] = encode(value[key], seen);
  }
  seen.delete(value);
  return out;
}

function decode(value) {
  if (Array.isArray(value)) return value.map(decode);
  if (value !== null && typeof value === "object") {
    const keys = Object.keys(value);
    if (keys.length === 1 && keys[0] === "__js__") {
      switch (value.__js__) {
        case "undefined":
          return undefined;
        case "NaN":
          return NaN;
        case "Infinity":
          return Infinity;
        case "-Infinity":
          return -Infinity;
        default:
          throw new Error(`unknown JS value tag ${value.__js__}`);
      }
    }
    const out = {};
    for (const key of keys) out[key] = decode(value[key]);
    return out;
  }
  return value;
}

function describe(err) {
  if (err instanceof Error) return err.stack || String(err);
  if (typeof err === "string") return err;
  try {
    return JSON.stringify(encode(err));
  } catch {
    return String(err);
  }
}

// -- the SDK ------------------------------------------------------------------------------

let initialized = false;

function installListeners() {
  for (const name of LISTENERS) {
    ConnectyCube.chat[name] = (...args) => emit({ type: "event", name, args: encode(args) });
  }
  // Raw traffic, for the tests' framing checks and failure diagnostics: the embedded xmpp.js
  // connection writes everything but batched sends through write() and reads through
  // _onData() (bound when the socket is attached, i.e. after this patch).
  const client = ConnectyCube.chat.xmppClient;
  const write = client.write;
  client.write = function (data) {
    emit({ type: "xml", dir: "out", xml: String(data) });
    return write.call(this, data);
  };
  const onData = client._onData;
  client._onData = function (data) {
    emit({ type: "xml", dir: "in", xml: data.toString("utf8") });
    return onData.call(this, data);
  };
}

function init(args) {
  if (initialized) throw new Error("init may be called once per harness process");
  const config = {
    endpoints: { chat: args.chatHost, chat_url: args.chatUrl },
    chat: {
      streamManagement: { enable: Boolean(args.streamManagement) },
      reconnect: { enable: false, timeInterval: 5 },
    },
    debug: { mode: 0 },
  };
  if (args.apiUrl) config.endpoints.api_url = args.apiUrl;
  ConnectyCube.init({ appId: args.appId, authKey: args.authKey || "harness-auth-key" }, config);
  installListeners();
  initialized = true;
  return { version: ConnectyCube.version, platform: ConnectyCube.platform };
}

// D7: chat.connect() resolves on "online", in the same tick as the SDK sends its initial
// presence -- before the server has processed it.  A 1-1 message addressed to the user's bare
// JID in that window finds no available resource and goes to offline storage.  The harness
// settles "connect" only after a ping round trip on the same stream, which the server
// answers after it has handled the presence.
async function connect(args) {
  const connected = await ConnectyCube.chat.connect({ userId: args.userId, password: args.password });
  if (connected !== true) throw new Error(`chat.connect resolved ${connected}`);
  await ConnectyCube.chat.ping();
  return true;
}

function resolvePath(path) {
  const parts = path.split(".");
  let owner = null;
  let value = ConnectyCube;
  for (const part of parts) {
    if (value === null || value === undefined) throw new Error(`no ${path} in the SDK`);
    owner = value;
    value = value[part];
  }
  return { owner, value };
}

async function call(args) {
  const { owner, value } = resolvePath(args.path);
  if (typeof value !== "function") throw new Error(`${args.path} is not a function`);
  const result = value.apply(owner, decode(args.args || []));
  if (args.await === false) return null;
  return await result;
}

// D1: join/leave settle on the self-presence reaching the SDK's XMPP client.
function mucSelfPresence(path, dialogId, wantUnavailable, timeoutMs) {
  const chat = ConnectyCube.chat;
  const roomJid = chat.helpers.getDialogJid(dialogId);
  const myNick = String(chat.currentUserId);
  return new Promise((resolve, reject) => {
    const client = chat.xmppClient;
    const timer = setTimeout(() => {
      client.removeListener("stanza", onStanza);
      reject(new Error(`no self-presence from ${roomJid}/${myNick} within ${timeoutMs} ms`));
    }, timeoutMs);
    function onStanza(stanza) {
      if (!stanza.is("presence")) return;
      const from = stanza.attrs.from || "";
      if (from !== `${roomJid}/${myNick}`) return;
      if (stanza.attrs.type === "error") {
        clearTimeout(timer);
        client.removeListener("stanza", onStanza);
        reject(new Error(`room refused: ${stanza.toString()}`));
        return;
      }
      const isUnavailable = stanza.attrs.type === "unavailable";
      const x = stanza.getChild("x", "http://jabber.org/protocol/muc#user");
      const self = x && x.getChildren("status").some((s) => s.attrs.code === "110");
      if (self && isUnavailable === wantUnavailable) {
        clearTimeout(timer);
        client.removeListener("stanza", onStanza);
        resolve({ roomJid, stanza: stanza.toString() });
      }
    }
    client.on("stanza", onStanza);
    // The SDK's promise never settles (D1); errors it might raise are still reported.
    chat.muc[path](dialogId).catch((err) => emit({ type: "event", name: `muc.${path}.rejected`, args: encode([err]) }));
  });
}

function sendIq(xml, timeoutMs) {
  const client = ConnectyCube.chat.xmppClient;
  const stanza = require("ltx").parse(xml);
  const id = stanza.attrs.id;
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      client.removeListener("stanza", onStanza);
      reject(new Error(`no reply to IQ ${id} within ${timeoutMs} ms`));
    }, timeoutMs);
    function onStanza(reply) {
      if (reply.is("iq") && reply.attrs.id === id && ["result", "error"].includes(reply.attrs.type)) {
        clearTimeout(timer);
        client.removeListener("stanza", onStanza);
        resolve(reply.toString());
      }
    }
    client.on("stanza", onStanza);
    client.send(stanza).catch(reject);
  });
}

// The SDK's own REST encoder: URL (with the query for GET/HEAD) and body, as it would send them.
function serialize(args) {
  if (!ConnectyCube.service) {
    // An encoder-only process: initialise the SDK without chat listeners or endpoints.
    ConnectyCube.init({ appId: 1, authKey: "harness-auth-key" }, { debug: { mode: 0 } });
  }
  const service = ConnectyCube.service;
  return args.cases.map((c) => {
    const request = { type: c.method, url: c.url || "http://api.test/chat/Message.json" };
    if (c.data !== undefined) request.data = decode(c.data);
    const [options, url] = service.buildRequestAndURL(request);
    return {
      url,
      body: options.body === undefined ? null : String(options.body),
      contentType: (options.headers || {})["Content-Type"] || null,
    };
  });
}

// The SDK's upload flow (storage.createAndUpload: create the blob, POST the multipart form
// to blob_object_access's URL, mark it complete) with a file made from the request's bytes.
// In Node the SDK builds the form with the "form-data" package and sends it with
// "node-fetch" (its platform build, dist/node), so the file must be what form-data takes: a
// Buffer or a readable stream -- a web Blob/File throws "source.on is not a function".
// args.file picks the form an application would pass: "buffer" (appended without a file
// name) or "stream" (fs.createReadStream of a temporary file: the part carries its name,
// and the body goes out with chunked transfer encoding, its length being unknown).
async function upload(args) {
  const bytes = Buffer.from(args.base64, "base64");
  let file = bytes;
  let tmpdir = null;
  if (args.file === "stream") {
    const fs = require("node:fs");
    const path = require("node:path");
    tmpdir = fs.mkdtempSync(path.join(require("node:os").tmpdir(), "sdk-upload-"));
    const where = path.join(tmpdir, args.name);
    fs.writeFileSync(where, bytes);
    file = fs.createReadStream(where);
  } else if (args.file !== "buffer") {
    throw new Error(`unknown file form ${args.file}`);
  }
  const params = { name: args.name, file, type: args.contentType, size: bytes.length };
  if (args.public !== undefined) params.public = args.public;
  try {
    return await ConnectyCube.storage.createAndUpload(params);
  } finally {
    if (tmpdir) require("node:fs").rmSync(tmpdir, { recursive: true, force: true });
  }
}

// GET a URL (e.g. the SDK's storage.privateUrl) with the fetch the SDK's Node build uses
// (node-fetch), as an application shows a file from such a URL; no SDK headers.
async function download(args) {
  const fetch = require("node-fetch");
  const response = await fetch(args.url);
  const bytes = Buffer.from(await response.arrayBuffer());
  return {
    status: response.status,
    contentType: response.headers.get("content-type"),
    base64: bytes.toString("base64"),
  };
}

const OPS = {
  init,
  connect,
  call,
  join: (args) => mucSelfPresence("join", args.dialogId, false, args.timeoutMs || 10000),
  leave: (args) => mucSelfPresence("leave", args.dialogId, true, args.timeoutMs || 10000),
  // The SDK user's full JID, as its XMPP client holds it.
  jid: () => String(ConnectyCube.chat.xmppClient.jid),
  // An IQ sent through the SDK's XMPP client; settles with the reply (XML text).  The SDK
  // has no call that pings a user (chat.ping() pings the server), so this carries the
  // user-to-user ping.
  sendIq: (args) => sendIq(args.xml, args.timeoutMs || 10000),
  serialize,
  upload,
  download,
  disconnect: () => ConnectyCube.chat.disconnect(),
  exit: () => {
    setImmediate(() => process.exit(0));
    return null;
  },
};

async function handle(line) {
  let request;
  try {
    request = JSON.parse(line);
  } catch (err) {
    emit({ type: "reply", id: null, ok: false, error: `bad request line: ${describe(err)}` });
    return;
  }
  const op = OPS[request.op];
  if (!op) {
    emit({ type: "reply", id: request.id, ok: false, error: `unknown op ${request.op}` });
    return;
  }
  try {
    const value = await op(request);
    emit({ type: "reply", id: request.id, ok: true, value: encode(value) });
  } catch (err) {
    emit({ type: "reply", id: request.id, ok: false, error: describe(err) });
  }
}

process.on("unhandledRejection", (err) => emit({ type: "log", level: "unhandledRejection", text: describe(err) }));

const lines = readline.createInterface({ input: process.stdin });
lines.on("line", (line) => {
  if (line.trim()) handle(line);
});
lines.on("close", () => process.exit(0));
emit({ type: "ready", sdk: require("connectycube/package.json").version });
