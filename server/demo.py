"""A demo site written for Moot: a few groups in a hierarchy and threads
with nested replies; demo_story adds the history that shows what Moot is
for (drift, splits, archives, a lock, a proposal, realistic times)."""

from __future__ import annotations

from collections.abc import Sequence

from aiosqlite import Connection

from . import demo_story
from .articles import groups
from .people import accounts
from .stewardship.permissions import User
from .store.config import Config
from .store.db import Database, fetch_value

DEMO_PASSWORD = "demo-password"

USERS = [  # username, display name, role
    ("admin", "Site Admin", "admin"),
    ("marta", "Marta Kowalczyk", "moderator"),
    ("ada", "Ada Osei", "member"),
    ("bruno", "Bruno Ferreira", "member"),
    ("chidi", "Chidi Nwosu", "member"),
    ("dagny", "Dagny Lund", "member"),
]

GROUPS = [  # name, description, charter
    (
        "moot.announce",
        "Announcements about this Moot site",
        "Short notices from the people who run this site. Replies welcome, flames not.",
    ),
    (
        "moot.meta",
        "Talk about how these groups are run",
        "Proposals for new groups, questions about moderation, and the public log.",
    ),
    (
        "comp.lang.python",
        "The Python programming language",
        "Questions and answers about Python, its libraries and its tools.\n"
        "Post a minimal example with your question. Quote only what you answer.",
    ),
    (
        "comp.lang.python.async",
        "asyncio, trio and friends",
        "Event loops, coroutines and the libraries built on them.",
    ),
    (
        "rec.music.folk",
        "Folk music: playing, singing, collecting",
        "Tunes, songs, sessions and the people who keep them alive.",
    ),
    (
        "sci.astro.amateur",
        "Amateur astronomy",
        "Telescopes, observing reports, astrophotography and dark-sky sites.",
    ),
]

# (group, author, subject, body, replies); a reply is (author, body, replies)
# or (author, body, replies, subject) when the subject changes.
THREADS: list[tuple[str, str, str, str, list[tuple]]] = [
    (
        "moot.announce",
        "admin",
        "Welcome to Moot",
        "This site runs Moot: groups that belong to no one, threads that grow,\n"
        "split and get archived, and a public log of every moderation action.\n\n"
        "Start by reading a group's charter and its reference threads.",
        [
            (
                "ada",
                "Glad to be here. Is there an NNTP port for my newsreader?",
                [
                    (
                        "admin",
                        "> Is there an NNTP port for my newsreader?\n\nIt is planned; the web and the "
                        "JSON API come first.",
                        [],
                    ),
                ],
            ),
        ],
    ),
    (
        "comp.lang.python",
        "bruno",
        "Sorting a list of records by two keys",
        "I have a list of (name, score) tuples and want them by score descending,\n"
        "then name ascending. sorted() with reverse=True flips both. What is the idiom?",
        [
            (
                "ada",
                "> sorted() with reverse=True flips both.\n\nNegate the number in the key:\n\n"
                "    sorted(rows, key=lambda r: (-r[1], r[0]))\n\n"
                "For keys that cannot be negated, sort twice: Python's sort is stable.",
                [
                    (
                        "bruno",
                        "> sort twice: Python's sort is stable.\n\nThat is neat. Least significant key "
                        "first, then the most significant?",
                        [
                            ("ada", "> Least significant key first\n\nExactly.", []),
                        ],
                    ),
                    (
                        "chidi",
                        "operator.itemgetter is a little faster than a lambda for plain lookups,\n"
                        "though it cannot negate.",
                        [],
                    ),
                ],
            ),
            (
                "dagny",
                "Is the list large? For a few thousand rows none of this matters.",
                [
                    (
                        "bruno",
                        "A few million, read from a CSV file.",
                        [
                            (
                                "dagny",
                                "Then the CSV parsing will dominate; measure before tuning the sort.",
                                [
                                    (
                                        "chidi",
                                        "Speaking of CSV: does anyone else find the csv module's dialects confusing?\n"
                                        "I never know whether to pass a dialect or the keyword arguments.",
                                        [
                                            (
                                                "ada",
                                                "> I never know whether to pass a dialect\n\n"
                                                "Keyword arguments override the dialect, so pass both if you must.",
                                                [],
                                            ),
                                            (
                                                "bruno",
                                                "I only ever use excel and excel-tab.",
                                                [
                                                    (
                                                        "dagny",
                                                        "Same here, plus delimiter=';' for files from spreadsheets in\n"
                                                        "locales that write decimal commas.",
                                                        [],
                                                    ),
                                                ],
                                            ),
                                        ],
                                        "CSV dialects (was: Sorting a list of records by two keys)",
                                    ),
                                ],
                            ),
                        ],
                    ),
                ],
            ),
        ],
    ),
    (
        "comp.lang.python.async",
        "chidi",
        "When does asyncio.gather hide exceptions?",
        "If one task raises, what happens to the others in gather()?",
        [
            (
                "ada",
                "With return_exceptions=False the first exception propagates and the others\n"
                "keep running. TaskGroup cancels the rest, which is usually what you want.",
                [],
            ),
        ],
    ),
    (
        "sci.astro.amateur",
        "ada",
        "First light with a small refractor",
        "Saturn's rings were sharp at 100x last night, even from town.",
        [
            ("chidi", "Congratulations! Try the Moon's terminator next: the shadows are spectacular.", []),
        ],
    ),
]


async def build(db: Database, config: Config) -> str:
    """Create the demo site in an empty database; a site with groups is left alone."""
    async with db.read() as conn:
        if await fetch_value(conn, "SELECT 1 FROM groups LIMIT 1"):
            return "the database already has groups; demo content not added"
    users: dict[str, User] = {}
    for username, display, role in USERS:
        users[username] = await accounts.create_user(
            db, username, DEMO_PASSWORD, display, role, n=config.scrypt_n
        )
    async with db.transaction() as conn:
        for name, description, charter in GROUPS:
            await groups.create_group(conn, None, name, description, charter)
        for group, author, subject, body, replies in THREADS:
            started = await demo_story.new_thread(conn, config.domain, users[author], group, subject, body)
            await _replies(conn, config, users, started["article"]["id"], replies)
        made = await demo_story.tell(conn, config, users)
        await demo_story.queue(conn, config, users, made)
        await demo_story.settle_notifications(conn)
        threads = await fetch_value(conn, "SELECT count(*) FROM threads WHERE merged_into_thread_id IS NULL")
    names = ", ".join(u for u, _, _ in USERS)
    return (
        f"demo site created in {config.db_path}: {len(GROUPS)} groups, {threads} threads"
        f" ({len(made['archived'])} archived, one locked, {made['times']} articles over eight months),"
        " an open proposal, a moderation history and items waiting in the moderation queue.\n"
        f"Demo accounts ({names}) all have the password {DEMO_PASSWORD!r}; "
        "admin is an admin and marta a moderator."
    )


async def _replies(
    conn: Connection, config: Config, users: dict[str, User], parent_id: int, replies: Sequence[tuple]
) -> None:
    for author, body, children, *subject in replies:
        article = await demo_story.reply(
            conn, config.domain, users[author], parent_id, body, subject[0] if subject else None
        )
        await _replies(conn, config, users, article["id"], children)
