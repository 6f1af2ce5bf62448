"""Mail, the domain side of groups by email: members' addresses and list
subscriptions (mailing), the mail outbox (mailqueue), outgoing mail as bytes
(mailformat) and its DKIM signature (signing), notifications by mail (noticemail), and incoming mail: a message
for a list address becomes an article (inbound), or waits for a moderator when
its sender is a stranger (heldmail); who a mail is shown to be from
(identity: reply keys, DKIM, a trusted relay's verdict), and a member's mail
that shows nothing, held until they confirm it (unverified); docs/MAIL.md.
The SMTP/LMTP listener and the relay client are the smtp adapter.

May import: store, articles, people (killfiles), stewardship (permissions,
the moderation log), news (articles as news messages, the peers' outbox) and
runtime (inbound works over a Site)."""
