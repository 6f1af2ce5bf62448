"""The demo's history: what makes the demo show what Moot is for. A long
session thread that drifts twice ("(was: …)" subjects, so split suggestions
appear), months of older threads that are archived, a locked thread, a
split, a move and a reference thread in the public log, an open proposal,
times spread over eight months as a real site's would be, and a few items
waiting in the moderation queue (`queue`).

Reproducible: the same content, structure and times relative to the day it
is built (times count back from the start of that UTC day; a seeded random
generator places replies), so two builds on one day are alike but for
Message-IDs."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

from aiosqlite import Connection

from .articles import held, posting
from .articles.authors import Author
from .stewardship import maintenance, proposals, reports
from .stewardship.permissions import User
from .store import clock, validate
from .store.config import Config
from .store.db import fetch_all

SEED = 1036  # the year the first known folk tune was written down, near enough

# The long thread: (subtopic, author, body); a subtopic's first article changes the subject.
SESSION_SUBJECT = "Tunes for a slow session on Thursdays"
DRIFT = {
    "recording": "Recording sessions on a phone (was: Tunes for a slow session on Thursdays)",
    "apps": "Which app slows a tune down? (was: Recording sessions on a phone)",
}
SESSION = [
    ("tunes", "bruno", "Simple polkas and slides: short parts, lots of repetition."),
    ("tunes", "dagny", "Britches Full of Stitches was our first. Everyone had it in a week."),
    ("tunes", "chidi", "Avoid reels at first; the speed pressure scares people off."),
    ("tunes", "ada", "We did one air a month too. Slow tunes teach phrasing."),
    ("tunes", "marta", "Write the tune list on the session's page so people can prepare."),
    ("tunes", "bruno", "The Rattlin' Bog is a good singing one for the end of the night."),
    ("tunes", "dagny", "Keys matter: D and G suit whistles and fiddles alike."),
    ("tunes", "chidi", "Does anyone teach by ear only? Our group asks for dots."),
    ("tunes", "ada", "By ear, phrase by phrase; dots afterwards for those who want them."),
    ("tunes", "bruno", "Same here. Dots make people look down instead of listening."),
    (
        "recording",
        "dagny",
        "Off topic, but: how do you record the session? My phone picks up only the bodhrán.",
    ),
    (
        "recording",
        "chidi",
        "Put the phone in the middle of the table, not near the drum, and turn off noise suppression.",
    ),
    ("recording", "ada", "A cheap clip-on microphone on a stand does wonders."),
    ("recording", "bruno", "Ask first: some players do not want to be recorded."),
    ("recording", "marta", "Good point. Our session asks at the start and skips anyone who says no."),
    ("recording", "dagny", "Mono is fine for learning; nobody needs stereo to hear a B part."),
    ("recording", "chidi", "Record at 48 kHz if the app allows; slowing down sounds better."),
    ("recording", "ada", "And name the files by tune, not by date, or you will never find them."),
    ("apps", "bruno", "Which app slows a tune down without changing the pitch?"),
    ("apps", "ada", "Audacity's Change Tempo does it on a computer."),
    ("apps", "dagny", "On the phone I use the music player's speed setting; it keeps the pitch."),
    ("apps", "chidi", "Transcribe! is worth paying for if you learn a lot of tunes."),
    ("apps", "bruno", "Loops matter more than speed for me: the same two bars, over and over."),
    ("apps", "marta", "Most of these loop. Set the loop on one phrase, not the whole part."),
    ("apps", "dagny", "75% speed is where I start; 90% when it sits under the fingers."),
    ("apps", "ada", "Then back to full speed at the session, and the tune sounds new again."),
    ("tunes", "chidi", "Back to tunes: we added The Kesh last week and it went well."),
    ("tunes", "marta", "Next month: Maggie in the Woods. A polka everyone knows somewhere."),
]

# Older threads, archived: (group, author, subject, body, replies as (author, body), months ago)
OLDER = [
    (
        "sci.astro.amateur",
        "chidi",
        "Perseids from a dark site",
        "Counted 61 in an hour from the hills, despite a quarter moon.",
        [("ada", "Lovely. Did you see the fireball around 01:30?"), ("chidi", "Yes! Green, with a trail.")],
        7,
    ),
    (
        "sci.astro.amateur",
        "dagny",
        "Collimating a Newtonian for the first time",
        "The secondary is off and I am scared to touch it.",
        [
            ("bruno", "A Cheshire eyepiece and patience. Small turns."),
            ("dagny", "Done. Stars are points again."),
        ],
        6,
    ),
    (
        "comp.lang.python",
        "ada",
        "f-strings and the = specifier",
        "print(f'{x=}') prints the expression and its value: handy for debugging.",
        [("chidi", "It even keeps the spaces: f'{x = }'."), ("bruno", "I did not know that. Thanks.")],
        5,
    ),
    (
        "comp.lang.python",
        "bruno",
        "pathlib or os.path?",
        "Is there any reason to write os.path.join in new code?",
        [
            ("dagny", "Only when a library wants strings; pathlib converts with str()."),
            ("ada", "And os.fspath for the general case."),
        ],
        4,
    ),
    (
        "rec.music.folk",
        "marta",
        "Session etiquette, collected",
        "What rules does your session have? Let us gather them in one place.",
        [
            ("dagny", "Do not start a tune while one is being played."),
            ("bruno", "Ask before joining in with a drum."),
            ("chidi", "Buy the musicians a drink."),
        ],
        3,
    ),
]
ANNOUNCE_LOCKED = (
    "moot.announce",
    "admin",
    "Maintenance on Sunday: the site is read-only from 02:00",
    "We are moving to a new disk. Expect an hour of read-only pages.",
    [
        ("ada", "Thanks for the notice."),
        ("bruno", "Will NNTP stay up?"),
        ("admin", "> Will NNTP stay up?\n\nReading yes, posting no."),
    ],
)
MISPLACED = (
    "moot.meta",
    "chidi",
    "Event loop blocked by a slow DNS lookup",
    "My asyncio server stalls for seconds when a client connects. A profiler shows getaddrinfo.",
    [
        ("ada", "getaddrinfo runs in a thread pool; is the pool full? Check loop.set_default_executor."),
        ("chidi", "That was it: the default pool was exhausted by file reads."),
    ],
)


async def new_thread(conn: Connection, domain: str, user: User, group: str, subject: str, body: str) -> dict:
    """`user` starts a thread in `group`: {thread, article}."""
    return await posting.submit(
        conn, domain, user, posting.Submission(body=body, subject=subject, group=group)
    )


async def reply(
    conn: Connection, domain: str, user: User, parent: int, body: str, subject: str | None = None
) -> dict:
    """`user` replies to article `parent`: the new article."""
    posted = await posting.submit(
        conn, domain, user, posting.Submission(body=body, subject=subject, parent=parent)
    )
    return posted["article"]


async def tell(conn: Connection, config: Config, users: dict[str, User]) -> dict:
    """Add the story to a demo site that has its groups and users; returns what it made."""
    rng = random.Random(SEED)
    marta = users["marta"]
    made: dict = {}
    # the long drifting thread
    started = await new_thread(
        conn,
        config.domain,
        users["dagny"],
        "rec.music.folk",
        SESSION_SUBJECT,
        "We are starting a slow session. Which tunes would you teach first?",
    )
    root = started["article"]
    made["drifting"] = root["thread_id"]
    last_of: dict[str, list[int]] = {"tunes": [root["id"]]}
    for topic, author, body in SESSION:
        pool = last_of.get(topic) or [a for ids in last_of.values() for a in ids[-2:]]
        parent = rng.choice(pool[-3:])
        subject = DRIFT[topic] if topic not in last_of else None
        article = await reply(conn, config.domain, users[author], parent, body, subject)
        last_of.setdefault(topic, []).append(article["id"])
    # older threads, archived; the etiquette one becomes a reference
    for group, author, subject, body, replies, _months in OLDER:
        started = await new_thread(conn, config.domain, users[author], group, subject, body)
        parent = started["article"]["id"]
        for who, text in replies:
            parent = (await reply(conn, config.domain, users[who], parent, text))["id"]
        made.setdefault("archived", []).append(started["thread"]["id"])
    # a locked announcement, and a thread posted in the wrong group, then moved
    for key, (group, author, subject, body, replies) in (("locked", ANNOUNCE_LOCKED), ("moved", MISPLACED)):
        started = await new_thread(conn, config.domain, users[author], group, subject, body)
        parent = started["article"]["id"]
        for who, text in replies:
            parent = (await reply(conn, config.domain, users[who], parent, text))["id"]
        made[key] = started["thread"]["id"]
    # a heated post that members will report until it is hidden (`queue`)
    heated = await new_thread(conn, config.domain, users["chidi"], *HEATED)
    made["heated"] = heated["article"]["id"]
    made["times"] = await _retime(conn, rng, made)
    # the moderation history, in the order a moderator would have done it
    for thread_id in made["archived"]:
        if thread_id == made["archived"][-1]:
            await maintenance.set_reference(conn, marta, thread_id, True, "the rules newcomers ask about")
        await maintenance.set_state(conn, marta, thread_id, "archive", "finished; kept for reference")
    await maintenance.set_state(
        conn, marta, made["locked"], "lock", "the answer is given; questions in moot.meta"
    )
    await maintenance.move(
        conn, marta, made["moved"], "comp.lang.python.async", reason="about asyncio, not this site"
    )
    csv = await fetch_all(
        conn, "SELECT id, thread_id FROM articles WHERE subject LIKE 'CSV dialects%' LIMIT 1"
    )
    if csv:
        await maintenance.split(
            conn,
            config.domain,
            marta,
            maintenance.Split(
                csv[0]["thread_id"], csv[0]["id"], "CSV deserves its own thread", subject="CSV dialects"
            ),
        )
    # an open proposal, one endorsement short of the site's threshold
    proposal = await proposals.propose(
        conn,
        users["chidi"],
        "rec.crafts.woodworking",
        "Hand tools, joinery and finishing",
        "Questions and projects in wood. Photos by link.",
        rules=proposals.Rules.of(config),
    )
    if config.proposal_threshold > 2:
        await proposals.endorse(conn, users["dagny"], proposal["id"], rules=proposals.Rules.of(config))
    made["proposal"] = proposal["id"]
    await _retime_maintenance(conn, rng)
    return made


HEATED = (
    "comp.lang.python",
    "Tabs or spaces, settled",
    "Anyone who still indents with tabs should not be allowed near a keyboard. Idiots, all of them.",
)
ANNOUNCE_HELD = (
    "Folk night at the library, Friday",
    "The library lends us its hall on Friday at 19:00. Bring an instrument, or just your voice.",
)
ANNOUNCE_REPLY = "Thank you for setting this up. Is there a guide for newcomers to newsreaders?"
STRANGER = (
    "Wren Hale",
    "wren@example.org",
    "Session in Galway?",
    "Hello all, I am visiting Galway in May. Is there a session you would recommend?",
)


async def queue(conn: Connection, config: Config, users: dict[str, User], made: dict) -> dict:
    """Fill the moderation queue for the demo moderator: moot.announce becomes
    moderated (as an admin's PUT /api/groups/moot.announce/policy would make
    it) and holds a member's new thread and a reply; rec.music.folk holds
    mail from strangers for its moderators and has one waiting; a heated post is reported as abuse until it is hidden;
    an astronomy article is reported as off-topic and stays visible."""
    await conn.execute("UPDATE groups SET status = 'm' WHERE name = 'moot.announce'")
    waiting = [await new_thread(conn, config.domain, users["ada"], "moot.announce", *ANNOUNCE_HELD)]
    welcome = await fetch_all(
        conn,
        "SELECT a.id FROM articles a JOIN groups g ON g.id = a.group_id"
        " WHERE g.name = 'moot.announce' AND a.parent_id IS NULL ORDER BY a.id LIMIT 1",
    )
    posted = await posting.submit(
        conn, config.domain, users["bruno"], posting.Submission(body=ANNOUNCE_REPLY, parent=welcome[0]["id"])
    )
    waiting.append(posted)
    await conn.execute("UPDATE groups SET stranger_mail = 'moderate' WHERE name = 'rec.music.folk'")
    folk = await fetch_all(conn, "SELECT id FROM groups WHERE name = 'rec.music.folk'")
    name, address, subject, body = STRANGER
    await held.hold(
        conn,
        held.Held(
            group_id=folk[0]["id"],
            why="stranger",
            channel="mail",
            message_id=posting.new_message_id(config.domain),
            author=Author(name, None, address),
            subject=subject,
            body=body,
            mail_from=address,
        ),
    )
    for who in ("ada", "bruno", "dagny", "marta", "admin"):
        result = await reports.report(
            conn, users[who], made["heated"], "abuse", "name-calling", threshold=config.report_threshold
        )
        if result["article"]["status"] == "hidden":
            break
    stars = await fetch_all(
        conn,
        "SELECT a.id FROM articles a JOIN groups g ON g.id = a.group_id JOIN users u ON u.id = a.user_id"
        " WHERE g.name = 'sci.astro.amateur' AND a.status = 'ok' AND u.username != 'dagny' ORDER BY a.id DESC LIMIT 1",
    )
    if stars:
        await reports.report(
            conn,
            users["dagny"],
            stars[0]["id"],
            "off-topic",
            "more about cameras than the sky",
            threshold=config.report_threshold,
        )
    return {"held": [w["held"]["id"] for w in waiting]}


async def _retime(conn: Connection, rng: random.Random, made: dict) -> int:
    """Spread the site over eight months before the start of today (UTC):
    each thread starts on its own day, each reply minutes to a day after its
    parent. Threads and groups keep counters in step. Returns the articles retimed."""
    today = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    months_ago = {tid: months for tid, (*_, months) in zip(made.get("archived", []), OLDER, strict=False)}
    threads = await fetch_all(conn, "SELECT id FROM threads ORDER BY id")
    times: dict[int, datetime] = {}
    count = 0
    for index, thread in enumerate(threads):
        tid = thread["id"]
        if tid in months_ago:
            start = today - timedelta(days=30 * months_ago[tid] + rng.randint(0, 20))
        elif tid == made.get("drifting"):
            start = today - timedelta(days=12)  # long, and still going
        else:
            start = today - timedelta(days=2 + 3 * index + rng.randint(0, 2))
        start = start.replace(hour=rng.randint(7, 21), minute=rng.randint(0, 59))
        rows = await fetch_all(
            conn, "SELECT id, parent_id, depth FROM articles WHERE thread_id = ? ORDER BY seq", (tid,)
        )
        for row in rows:
            if row["parent_id"] is None or row["parent_id"] not in times:
                moment = start
            else:
                # replies come fast at first and slower deeper in a thread
                minutes = rng.randint(6, 90) * (1 + row["depth"] // 3) + rng.randint(0, 600)
                moment = times[row["parent_id"]] + timedelta(minutes=minutes)
            times[row["id"]] = min(moment, today - timedelta(minutes=5))
            count += 1
    await conn.executemany(
        "UPDATE articles SET created_at = ? WHERE id = ?", [(clock.stamp(t), aid) for aid, t in times.items()]
    )
    await conn.execute(
        "UPDATE threads SET created_at = (SELECT a.created_at FROM articles a WHERE a.id = threads.root_article_id),"
        " last_article_at = (SELECT max(a.created_at) FROM articles a WHERE a.thread_id = threads.id)"
    )
    await conn.execute(
        "UPDATE groups SET last_article_at = (SELECT max(a.created_at) FROM articles a"
        " WHERE a.group_id = groups.id)"
    )
    earliest = min(times.values()) - timedelta(days=30)
    await conn.execute("UPDATE users SET created_at = ?", (clock.stamp(earliest),))
    return count


async def _retime_maintenance(conn: Connection, rng: random.Random) -> None:
    """Moderation happened after the talk it tidied: each log entry (and a
    split's notice, a thread's archive time) a few hours after its thread's
    last article, the proposal a few days ago."""
    entries = await fetch_all(
        conn,
        "SELECT m.id, m.action, (SELECT max(a.created_at) FROM articles a WHERE a.status != 'notice'"
        " AND a.thread_id IN (m.thread_id, m.other_thread_id)) AS latest FROM modlog m"
        " WHERE m.thread_id IS NOT NULL ORDER BY m.id",
    )
    for entry in entries:
        when = clock.parse(entry["latest"]) + timedelta(hours=rng.randint(2, 30))
        stamp = clock.stamp(min(when, datetime.now(UTC) - timedelta(minutes=1)))
        await conn.execute("UPDATE modlog SET created_at = ? WHERE id = ?", (stamp, entry["id"]))
        if entry["action"] == "archive":
            await conn.execute(
                "UPDATE threads SET archived_at = ? WHERE id = (SELECT thread_id FROM modlog WHERE id = ?)",
                (stamp, entry["id"]),
            )
    # a split's or merge's notice is as old as the action that left it
    await conn.execute(
        "UPDATE articles SET created_at = coalesce((SELECT m.created_at FROM modlog m"
        " WHERE m.action IN ('split', 'merge') AND json_extract(m.data, '$.notice_id') = articles.id),"
        " created_at) WHERE status = 'notice' AND user_id IS NOT NULL"
    )
    first = await fetch_all(conn, "SELECT min(created_at) AS t FROM users")
    await conn.execute("UPDATE modlog SET created_at = ? WHERE action = 'group.create'", (first[0]["t"],))
    await conn.execute("UPDATE groups SET created_at = ?", (first[0]["t"],))
    await conn.execute(
        "UPDATE threads SET created_at = (SELECT a.created_at FROM articles a WHERE a.id = threads.root_article_id),"
        " last_article_at = coalesce((SELECT max(a.created_at) FROM articles a WHERE a.thread_id = threads.id),"
        " last_article_at)"
    )
    await conn.execute(
        "UPDATE groups SET last_article_at = (SELECT max(a.created_at) FROM articles a"
        " WHERE a.group_id = groups.id)"
    )
    days = rng.randint(2, 4)
    await conn.execute("UPDATE proposals SET created_at = ?", (clock.ago(days=days),))
    await conn.execute("UPDATE endorsements SET created_at = ?", (clock.ago(days=days - 1),))


# Unread notifications a demo reader starts with: the newest replies, mentions
# and moderation notices, in threads short enough to show on one page.
UNREAD_KEPT = 3


async def settle_notifications(conn: Connection) -> None:
    """A reader of a months-old site has opened most of what told them: each
    notification dated by its article (or log entry) and numbered in date
    order, all read but each
    reader's newest few worth opening (not "a new article in a thread you follow")."""
    await conn.execute(
        "UPDATE notifications SET created_at = coalesce((SELECT a.created_at FROM articles a"
        " WHERE a.id = article_id), (SELECT m.created_at FROM modlog m WHERE m.id = entry_id), created_at)"
    )
    # The inbox lists newest first by id, as ids grow with time on a live site:
    # number the backdated notifications in the order of their dates.
    await conn.execute(
        "CREATE TEMP TABLE renumbered AS SELECT id AS old,"
        " row_number() OVER (ORDER BY created_at, id) AS new FROM notifications"
    )
    await conn.execute(
        "UPDATE notifications SET id = -(SELECT new FROM renumbered WHERE old = notifications.id)"
    )
    await conn.execute("UPDATE notifications SET id = -id")
    await conn.execute("DROP TABLE renumbered")
    await conn.execute(
        "UPDATE notifications SET read = 1 WHERE id NOT IN (SELECT id FROM (SELECT n.id, row_number()"
        " OVER (PARTITION BY n.user_id ORDER BY n.created_at DESC, n.id DESC) AS k"
        " FROM notifications n JOIN threads t ON t.id = n.thread_id"
        " WHERE n.kind != 'follow' AND t.article_count <= ?) WHERE k <= ?)",
        (validate.PAGE_MAX, UNREAD_KEPT),
    )
