"""People: accounts and their sessions (scrypt hashes, sign-in, the session
service every channel uses), password resets and recovery codes, public
profiles, each reader's read marks (.newsrc ranges) and killfile, what they
follow, and the notifications that tell them what concerns them, and their
drafts.

May import: store, stewardship (permissions and the moderation log), articles
(the read queries), mail (notification mail, the mail outbox) and runtime
(sessions work over a Site)."""
