"""The store: the SQLite database behind one write door (db), its schema and
numbered migrations, backups and the integrity check, and the foundations every
other package stands on: configuration, time, the error hierarchy, pure input
rules (validate), keyset pagination, and the live events outbox (events, with
the JSON shapes its events carry).

Imports nothing else of Moot: every other package may import it."""
