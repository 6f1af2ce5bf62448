"""CPython's own networked nntplib suite, run against a real `moot serve`.

The tests are `NetworkedNNTPTestsMixin` of `Lib/test/test_nntplib.py` from
CPython 3.11 (written against 3.11.7, which this project's interpreter ships;
3.12 still has it), imported from the interpreter's `test` package at test
time, never copied. nntplib and its tests left the standard library in Python
3.13 (PEP 594): there, as on a Debian python3 without its test package
(libpython3.X-testsuite), the module skips, saying which.

Upstream points the mixin at news.trigofacile.com; here it points at Moot on
loopback, seeded with what its methods look at: `comp.lang.*` groups, more
than ten articles in `comp.lang.python` (test_over asks for `last - 10`),
replies, non-ASCII headers and bodies, a subject of the longest length Moot
takes and a body line that starts with a dot. It departs from upstream in
three ways:

- Upstream wraps every method in `socket_helper.transient_internet`, which
  turns a refused connection, a timeout or any 4xx reply into a skip
  ("Resource ... is not available"): right for a public server, wrong for
  ours. The methods run unwrapped (`inspect.unwrap`).
- Upstream skips `test_over` (bpo-28971: a public server's overview lines
  outgrew nntplib's 2048-octet line limit) and `test_article_head_body`
  (bpo-32128: the public server's trouble with SSL) for what those servers
  did; `inspect.unwrap` drops those skips too, so both run. (nntplib's limit
  holds for Moot too: a thread some 40 replies deep under a long non-ASCII
  subject has overview lines past 2048 octets, which RFC 3977 allows and
  nntplib refuses; the seed here stays below it.)
- Upstream opens one connection for the class and relies on test order
  (`test_zlogin` "must be the penultimate", `test_zzquit` last); here each
  method gets its own connection, so none depends on another and any order
  or worker split gives the same result.

The module's `NetworkedNNTP_SSLTests` (implicit TLS, `nntplib.NNTP_SSL`) is
not run: Moot serves NNTP over TLS only after `STARTTLS` (docs/NNTP.md, TLS),
which that class does not send; an NNTPS listener would let it run with the
same seed and `ssl_context` trusting tests/tls_support's certificate.
"""

from __future__ import annotations

import asyncio
import datetime
import functools
import inspect
import unittest

import pytest

from moot.articles import posting
from moot.people import accounts
from moot.store import validate
from moot.store.db import Database
from tests.nntp_support import prepare
from tests.processes import start_process, stop_process

try:
    from test import test_nntplib as cpython
except ImportError as error:
    pytest.skip(
        f"CPython's Lib/test/test_nntplib.py cannot be imported ({error}): nntplib and its tests"
        " left the standard library in Python 3.13 (PEP 594), and Debian's python3 ships the"
        " `test` package separately (libpython3.X-testsuite)",
        allow_module_level=True,
    )

pytestmark = pytest.mark.xdist_group("cpython-nntplib")  # one `moot serve` for the class

GROUP = "comp.lang.python"  # nntp_support.prepare creates it, described "Python, the language"
LONG_SUBJECT = ("Überlange Betreffzeile, sehr lang: " + "ça déborde " * 30)[: validate.SUBJECT_MAX]


async def seed(db_path: str) -> None:
    """nntp_support.prepare's groups and thread, then 13 more articles in GROUP, 15 in
    all (threads, a chain of replies, non-ASCII, the longest subject), and one in comp.lang.c."""
    await prepare(db_path)
    db = await Database(db_path, read_connections=1).open()
    try:
        async with db.transaction() as conn:
            ada, marta = await accounts.get_user(conn, "ada"), await accounts.get_user(conn, "marta")

            async def post(user, body: str, subject=None, group=None, parent=None) -> int:
                submission = posting.Submission(body=body, subject=subject, group=group, parent=parent)
                return (await posting.submit(conn, "test.moot", user, submission))["article"]["id"]

            for n in range(1, 6):
                await post(ada, f"Question {n}\n\nwith a blank line above.", f"Question {n}", GROUP)
            parent = await post(marta, "Ünïcödé bodies: 日本語, Ελληνικά, emoji 🐍.", LONG_SUBJECT, GROUP)
            for n in range(1, 7):  # a chain, so References grow
                parent = await post((ada, marta)[n % 2], f"> quoted\nReply {n}, naïve café.", parent=parent)
            await post(marta, "Last one.\n.a line that starts with a dot\n..and two", "Fin", GROUP)
            await post(ada, "Pointers.", "In C", "comp.lang.c")
    finally:
        await db.close()


@pytest.fixture(scope="class")
def moot_nntp(request, tmp_path_factory):
    """A seeded `moot serve` with NNTP on a free port, for the class's NNTP_CLASS."""
    folder = tmp_path_factory.mktemp("cpython-nntplib")
    db_path = str(folder / "moot.db")
    asyncio.run(seed(db_path))
    proc = start_process(db_path, str(folder / "server.log"), nntp="any")
    try:
        port = proc.listening().nntp
        # The mixin connects as NNTP_CLASS(NNTP_HOST, ...): the port goes in here.
        request.cls.NNTP_CLASS = functools.partial(cpython.nntplib.NNTP, port=port)
        yield
    finally:
        stop_process(proc)


def run_unwrapped(cls: type) -> type:
    """Every test method of the mixin on `cls` as written, without the
    transient_internet wrapper or upstream's skips (see the module docstring)."""
    for name in dir(cpython.NetworkedNNTPTestsMixin):
        if name.startswith("test_"):
            method = inspect.unwrap(getattr(cpython.NetworkedNNTPTestsMixin, name))
            assert not getattr(method, "__unittest_skip__", False), name
            setattr(cls, name, method)
    return cls


@run_unwrapped
@pytest.mark.usefixtures("moot_nntp")
class CPythonNetworkedNNTPTests(cpython.NetworkedNNTPTestsMixin, unittest.TestCase):
    NNTP_HOST = "127.0.0.1"
    GROUP_NAME = GROUP
    GROUP_PAT = "comp.lang.*"
    DESC = "Python"
    NNTP_CLASS = None  # set by moot_nntp

    def setUp(self) -> None:
        # Upstream's setUpClass connection, opened for each method (see the module docstring).
        self.server = self.NNTP_CLASS(
            self.NNTP_HOST, timeout=cpython.support.INTERNET_TIMEOUT, usenetrc=False
        )
        self.addCleanup(self.server.__exit__, None, None, None)  # QUIT unless test_zzquit did

    def test_seed_gives_every_method_something(self) -> None:
        """Several mixin checks pass vacuously on empty answers (`if len(groups) > 0`,
        `for line in lines`, skipTest without articles): Moot's are not empty."""
        n = self.server
        _, count, first, last, _ = n.group(GROUP)
        assert (count, first, last) == (15, 1, 15)
        assert {g.group for g in n.list()[1]} >= {"comp.lang.c", GROUP, "rec.music.folk"}
        assert {g.group for g in n.list(self.GROUP_PAT)[1]} == {"comp.lang.c", GROUP}
        week_ago = datetime.date.today() - datetime.timedelta(days=7)  # as test_newgroups
        assert {g.group for g in n.newgroups(week_ago)[1]} >= {GROUP}
        assert [number for number, _ in n.xover(last - 5, last)[1]] == list(range(last - 5, last + 1))
        _, overviews = n.over((last - 10, None))
        assert [number for number, _ in overviews] == list(range(last - 10, last + 1))
        subjects = [cpython.nntplib.decode_header(fields["subject"]) for _, fields in overviews]
        assert LONG_SUBJECT in subjects and "Re: " + LONG_SUBJECT[:-4] in subjects
        assert n.xhdr("subject", str(last))[1] == [(str(last), "Fin")]
        assert n.body(last)[1].lines == [b"Last one.", b".a line that starts with a dot", b"..and two"]
        assert "日本語".encode() in b"\n".join(n.body(8)[1].lines)
