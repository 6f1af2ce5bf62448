"""The fediverse: each group an ActivityPub `Group` actor (FEP-1b12) that
people on Mastodon, Lemmy and other servers follow and reply to, members as
`Person` actors, and an instance actor that signs fetches.

- `keys`: one RSA key pair per local actor, made when first needed;
- `signatures`: HTTP Signatures, draft-cavage (`Signature`, `Digest`) and
  RFC 9421 (`Signature-Input`, `Content-Digest`), made and checked;
- `client`: the one HTTP client for remote actors and inboxes (timeouts,
  size limits, a cache, no private addresses);
- `objects`: Moot's groups, members and articles as ActivityPub JSON;
- `outbox`: what the events outbox sets off, turned into activities and one
  delivery per inbox; `delivery`, the task that sends them;
- `inbox`: what remote actors send, checked (signature, origin, addressing,
  replays, blocks) and taken in through the same posting path as every
  channel: trust, spam scoring, the queue and bans apply;
- `html`: remote HTML to Moot's plain text through an allowlist.

Switched off until MOOT_FEDERATION is on with an https MOOT_PUBLIC_URL
(docs/FEDERATION.md). The routes are the web adapter's (web/federation.py).

May import: store, articles, people, stewardship, runtime."""
