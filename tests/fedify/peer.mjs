// A fediverse peer for Moot's end-to-end tests, built on Fedify (a widely used
// ActivityPub framework): one Person actor, "alice", per first-knock signature
// scheme, each on its own port (so a server that remembers the scheme per host
// meets each one fresh), all in one process.
//
// Environment: PEER_KNOCKS (comma-separated first knocks: "rfc9421",
// "draft-cavage-http-signatures-12"), PEER_TLS_CERT and PEER_TLS_KEY (serve
// https with them; plain http without), NODE_EXTRA_CA_CERTS (the CA of the
// server under test). Once it serves, it prints one JSON line to stdout:
// {"control": PORT, "peers": {KNOCK: {"origin", "actor", "inbox", "sharedInbox"}}}.
//
// The control API (plain http on 127.0.0.1, JSON in and out; every POST takes
// "knock", which peer acts):
//   POST /lookup   {handle}                       WebFinger, then the actor it names
//   POST /follow   {target}                       send Follow (target: handle or actor id)
//   POST /unfollow {target}                       send Undo{Follow}
//   POST /create   {target, inReplyTo, content, public?}  send Create{Note} to the target's inbox
//   POST /update   {target, id, content}          send Update{Note}
//   POST /delete   {target, id}                   send Delete{Tombstone}
//   POST /forged   {target, inReplyTo, content, flaw: "key"|"body"}
//                  a Create signed with a key that is not alice's, or whose body changed
//                  after signing; answers the status the target's inbox gave
//   GET  /received?knock=K   every POST the peer's inboxes took: {path, status, verified, scheme, activity}
//   GET  /sent               every POST the process sent: {url, status, scheme}
// Each POST's answer also lists, under "sent", the POSTs it made.
import http from "node:http";
import https from "node:https";
import fs from "node:fs";
import { randomUUID } from "node:crypto";
import { Temporal } from "@js-temporal/polyfill";
import { createFederation, generateCryptoKeyPair, MemoryKvStore, signRequest } from "@fedify/fedify";
import {
  Activity, Create, Delete, Endpoints, Follow, Note, Person, PUBLIC_COLLECTION, Tombstone, Undo, Update,
} from "@fedify/vocab";

const KNOCKS = (process.env.PEER_KNOCKS || "rfc9421").split(",");
const tls = process.env.PEER_TLS_CERT
  ? { cert: fs.readFileSync(process.env.PEER_TLS_CERT), key: fs.readFileSync(process.env.PEER_TLS_KEY) }
  : null;

// Every signed POST this process sends, with the scheme it was signed with.
const sent = [];
const realFetch = globalThis.fetch;
globalThis.fetch = async (input, init) => {
  const request = new Request(input, init);
  const response = await realFetch(request.clone());
  if (request.method === "POST") {
    const scheme = request.headers.has("signature-input") ? "rfc9421"
      : request.headers.has("signature") ? "draft-cavage-http-signatures-12" : "none";
    sent.push({ url: request.url, status: response.status, scheme });
  }
  return response;
};

function makePeer(knock) {
  const peer = { knock, received: [], verified: new Set(), notes: new Map() };
  const federation = createFederation({
    kv: new MemoryKvStore(), allowPrivateAddress: true, firstKnock: knock,
    // Moot checks a signature's date within minutes; the peer's own window stays Fedify's default.
  });
  federation
    .setActorDispatcher("/users/{identifier}", async (ctx, identifier) => {
      if (identifier !== "alice") return null;
      const keys = await ctx.getActorKeyPairs(identifier);
      return new Person({
        id: ctx.getActorUri(identifier),
        preferredUsername: identifier,
        name: "Alice \u202ePeer",  // a bidi control Moot must strip from the author's name
        url: ctx.getActorUri(identifier),
        inbox: ctx.getInboxUri(identifier),
        endpoints: new Endpoints({ sharedInbox: ctx.getInboxUri() }),
        publicKey: keys[0].cryptographicKey,
      });
    })
    .setKeyPairsDispatcher(async (_ctx, identifier) => (identifier === "alice" ? [peer.keys] : []));
  federation.setObjectDispatcher(Note, "/users/{identifier}/notes/{id}", (ctx, values) => {
    const note = peer.notes.get(ctx.getObjectUri(Note, values).href);
    return note ?? null;
  });
  federation
    .setInboxListeners("/users/{identifier}/inbox", "/inbox")
    .on(Activity, async (_ctx, activity) => {
      if (activity.id) peer.verified.add(activity.id.href);
    });
  peer.federation = federation;
  return peer;
}

async function toRequest(req, origin) {
  const chunks = [];
  for await (const chunk of req) chunks.push(chunk);
  const headers = new Headers();
  for (const [name, value] of Object.entries(req.headers)) {
    for (const one of [value].flat()) if (one != null) headers.append(name, one);
  }
  const body = req.method === "GET" || req.method === "HEAD" ? undefined : Buffer.concat(chunks);
  return new Request(new URL(req.url, origin), { method: req.method, headers, body });
}

async function send(res, response) {
  res.writeHead(response.status, Object.fromEntries(response.headers));
  res.end(Buffer.from(await response.arrayBuffer()));
}

async function serveFederation(peer, req, res) {
  const request = await toRequest(req, peer.origin);
  const body = request.method === "POST" ? await request.clone().text() : null;
  const response = await peer.federation.fetch(request, { contextData: undefined });
  if (body !== null) {
    let activity = null;
    try { activity = JSON.parse(body); } catch { activity = body; }
    peer.received.push({
      path: new URL(request.url).pathname, status: response.status,
      verified: Boolean(activity && activity.id && peer.verified.has(activity.id)),
      scheme: request.headers.has("signature-input") ? "rfc9421" : "draft-cavage-http-signatures-12",
      activity,
    });
  }
  await send(res, response);
}

function listen(handler, secure) {
  const server = secure ? https.createServer(tls, handler) : http.createServer(handler);
  return new Promise((resolve) => server.listen(0, "127.0.0.1", () => resolve(server.address().port)));
}

const peers = {};
for (const knock of KNOCKS) {
  const peer = makePeer(knock);
  peer.keys = await generateCryptoKeyPair("RSASSA-PKCS1-v1_5");
  const port = await listen((req, res) => serveFederation(peer, req, res).catch((error) => {
    res.writeHead(500).end(String(error));
  }), Boolean(tls));
  peer.origin = `${tls ? "https" : "http"}://127.0.0.1:${port}`;
  peer.ctx = () => peer.federation.createContext(new URL(peer.origin), undefined);
  peers[knock] = peer;
}

const me = { identifier: "alice" };

async function resolve(ctx, target) {
  const actor = await ctx.lookupObject(target);
  if (!actor || !actor.inboxId) throw new Error(`no actor with an inbox at ${target}`);
  return actor;
}

function noteOf(ctx, group, { id, inReplyTo, content, public: isPublic = true }) {
  const to = isPublic ? [PUBLIC_COLLECTION] : [];
  return new Note({
    id: new URL(id), attribution: ctx.getActorUri("alice"), content, replyTarget: new URL(inReplyTo),
    tos: to, ccs: isPublic ? [group.id] : [], audience: isPublic ? group.id : null,
    published: Temporal.Now.instant(),
  });
}

const actions = {
  async lookup(peer, { handle }) {
    const ctx = peer.ctx();
    const webfinger = await ctx.lookupWebFinger(handle.startsWith("acct:") ? handle : `acct:${handle}`);
    const actor = await ctx.lookupObject(handle);
    return { webfinger, actor: actor ? await actor.toJsonLd() : null };
  },
  async follow(peer, { target }) {
    const ctx = peer.ctx();
    const group = await resolve(ctx, target);
    const follow = new Follow({ id: new URL(`${peer.origin}/follows/${randomUUID()}`), actor: ctx.getActorUri("alice"), object: group.id });
    peer.follow = follow;
    await ctx.sendActivity(me, group, follow);
    return { id: follow.id.href, group: group.id.href };
  },
  async unfollow(peer, { target }) {
    const ctx = peer.ctx();
    const group = await resolve(ctx, target);
    const undo = new Undo({ id: new URL(`${peer.origin}/undo/${randomUUID()}`), actor: ctx.getActorUri("alice"), object: peer.follow });
    await ctx.sendActivity(me, group, undo);
    return { id: undo.id.href };
  },
  async create(peer, { target, ...fields }) {
    const ctx = peer.ctx();
    const group = await resolve(ctx, target);
    const id = `${peer.origin}/users/alice/notes/${randomUUID()}`;
    const note = noteOf(ctx, group, { id, ...fields });
    peer.notes.set(id, note);
    const create = new Create({
      id: new URL(`${id}/create`), actor: ctx.getActorUri("alice"), object: note,
      tos: note.toIds, ccs: note.ccIds, audience: note.audienceId,
    });
    await ctx.sendActivity(me, group, create);
    return { id, activity: create.id.href };
  },
  async update(peer, { target, id, content }) {
    const ctx = peer.ctx();
    const group = await resolve(ctx, target);
    const note = peer.notes.get(id).clone({ content, updated: Temporal.Now.instant() });
    peer.notes.set(id, note);
    const update = new Update({
      id: new URL(`${id}/update/${randomUUID()}`), actor: ctx.getActorUri("alice"), object: note,
      tos: note.toIds, ccs: note.ccIds,
    });
    await ctx.sendActivity(me, group, update);
    return { id, activity: update.id.href };
  },
  async delete(peer, { target, id }) {
    const ctx = peer.ctx();
    const group = await resolve(ctx, target);
    const note = peer.notes.get(id);
    peer.notes.delete(id);
    const del = new Delete({
      id: new URL(`${id}/delete`), actor: ctx.getActorUri("alice"),
      object: new Tombstone({ id: new URL(id) }), tos: note.toIds, ccs: note.ccIds,
    });
    await ctx.sendActivity(me, group, del);
    return { id, activity: del.id.href };
  },
  async forged(peer, { target, flaw = "key", ...fields }) {
    const ctx = peer.ctx();
    const group = await resolve(ctx, target);
    const id = `${peer.origin}/users/alice/notes/${randomUUID()}`;
    const note = noteOf(ctx, group, { id, ...fields });
    const create = new Create({
      id: new URL(`${id}/create`), actor: ctx.getActorUri("alice"), object: note,
      tos: note.toIds, ccs: note.ccIds, audience: note.audienceId,
    });
    const body = JSON.stringify(await create.toJsonLd({ format: "compact" }));
    const key = flaw === "key" ? (await generateCryptoKeyPair("RSASSA-PKCS1-v1_5")).privateKey : peer.keys.privateKey;
    const unsigned = new Request(group.inboxId, {
      method: "POST", body, headers: { "content-type": "application/activity+json" },
    });
    let signed = await signRequest(unsigned, key, new URL(`${ctx.getActorUri("alice").href}#main-key`), { spec: peer.knock });
    if (flaw === "body") signed = new Request(signed, { body: body.replace(fields.content, `${fields.content} (altered)`) });
    const response = await realFetch(signed);
    return { id, status: response.status, body: await response.text() };
  },
};

async function control(req, res) {
  const url = new URL(req.url, "http://control");
  const reply = (status, value) => {
    res.writeHead(status, { "content-type": "application/json" });
    res.end(JSON.stringify(value));
  };
  const peer = peers[url.searchParams.get("knock") ?? KNOCKS[0]];
  if (req.method === "GET" && url.pathname === "/received") return reply(200, peer.received);
  if (req.method === "GET" && url.pathname === "/sent") return reply(200, sent);
  const action = actions[url.pathname.slice(1)];
  if (req.method !== "POST" || !action) return reply(404, { error: "no such control" });
  let args;
  try {
    const chunks = [];
    for await (const chunk of req) chunks.push(chunk);
    args = JSON.parse(Buffer.concat(chunks).toString() || "{}");
  } catch (error) {
    return reply(400, { error: String(error) });
  }
  const target = peers[args.knock ?? KNOCKS[0]];
  if (!target) return reply(400, { error: `no peer with knock ${args.knock}` });
  try {
    const before = sent.length;
    const result = await action(target, args);
    return reply(200, { ...result, sent: sent.slice(before) });
  } catch (error) {
    return reply(502, { error: String(error && error.stack || error) });
  }
}

const controlPort = await listen(control, false);
const described = Object.fromEntries(Object.entries(peers).map(([knock, peer]) => [knock, {
  origin: peer.origin, actor: `${peer.origin}/users/alice`,
  inbox: `${peer.origin}/users/alice/inbox`, sharedInbox: `${peer.origin}/inbox`,
}]));
process.stdout.write(JSON.stringify({ control: controlPort, peers: described }) + "\n");
