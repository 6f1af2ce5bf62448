"""Articles and threads: groups, posting and withdrawing articles (the one
function each channel hands its record to), editing within the grace period,
where each article sits in its reply tree, subjects and References, the read
queries and JSON shapes behind every list, full-text search, archives by
month, and the formats articles travel in: mbox, Atom, mail messages read as
articles, and the mbox/Maildir importer.

May import: store; and, for what a new article sets off in its own
transaction, people (follows, notifications), stewardship (permissions, the
moderation log), mail (the mail outbox) and news (the peers' outbox)."""
