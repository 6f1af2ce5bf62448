"""Stewardship: keeping groups worth reading, in public. Who may do what
(permissions, the one place roles and suspensions are checked), site-wide
suspensions of accounts, the public moderation log, maintenance of threads
(split, merge, move, lock, archive, reference), undo, the archive sweep,
split suggestions, group proposals, and the home node's structural actions
carried to peers (actions).

May import: store, articles, people, news (the peers' outbox) and runtime
(the sweep runs over a Site)."""
