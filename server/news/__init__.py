"""News: articles as news messages (RFC 5536), reading by number and
Message-ID as a newsreader does, wildmats, news peers and the peers' outbox
(peers), and taking in what peers send (intake). The NNTP listener and the
outgoing feed that talks to peers are the nntp adapter.

May import: store, articles, and stewardship (the moderation log; intake
hands a group's structural actions to stewardship.actions)."""
