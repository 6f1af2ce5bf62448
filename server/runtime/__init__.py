"""The running process: the Site that create_app builds and every adapter
shares (configuration, database, limits), the live hub that tails the events
outbox for /live, what is kept in memory between requests (a reader's
session, encoded responses), rate limits and metrics. Everything here lives in
one process's memory; the database stays the truth.

May import: store, people (accounts and read state for the session cache) and
stewardship (permissions)."""
