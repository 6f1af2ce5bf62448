"""Limits that must hold when requests arrive together, not only one after
another: each limit is reserved before the slow part (a password hash, the
write lock) and given back when the work does not count."""

from __future__ import annotations

import asyncio

import httpx
import pytest

from moot.people import accounts, sessions
from moot.store.errors import AuthRequired, RateLimited
from tests.conftest import PASSWORD, TestSite, seed


@pytest.fixture(autouse=True)
def real_hash_cost(monkeypatch):
    """Sign-ins here overlap while their hashes are checked: they cost what real ones do."""
    monkeypatch.setattr(TestSite, "hash_n", accounts.SCRYPT_N)


def client_from(site, address: str) -> httpx.AsyncClient:
    """An httpx client whose requests come from `address`."""
    client = httpx.AsyncClient(
        transport=httpx.ASGITransport(app=site.app, client=(address, 40000)), base_url="http://testserver"
    )
    site._clients.append(client)
    return client


async def login(client: httpx.AsyncClient, username: str, password: str) -> httpx.Response:
    return await client.post("/api/login", json={"username": username, "password": password})


async def test_concurrent_wrong_guesses_from_many_addresses_check_only_the_configured_number(make_site):
    site = await make_site(login_attempts=5)
    await site.user("ada")
    clients = [client_from(site, f"10.0.{i}.1") for i in range(30)]
    answers = await asyncio.gather(*(login(c, "ada", f"guess number {i}") for i, c in enumerate(clients)))
    statuses = [r.status_code for r in answers]
    assert statuses.count(401) == 5, statuses
    assert statuses.count(429) == 25
    assert all(int(r.headers["retry-after"]) >= 1 for r in answers if r.status_code == 429)


async def test_concurrent_wrong_guesses_from_one_address_are_limited(make_site):
    site = await make_site(login_attempts=5)
    await site.user("ada")
    attacker = client_from(site, "10.6.6.6")
    answers = await asyncio.gather(*(login(attacker, "ada", f"guess {i}!") for i in range(30)))
    statuses = [r.status_code for r in answers]
    assert statuses.count(401) <= 5 and statuses.count(401) + statuses.count(429) == 30, statuses
    # Whatever got through, the pair is now spent only by real failures: the
    # next guesses are refused until the window moves, none is lost.
    more = [await login(attacker, "ada", "another guess") for _ in range(6)]
    assert statuses.count(401) + [r.status_code for r in more].count(401) == 5


async def test_a_right_password_gives_its_reservation_back(make_site):
    site = await make_site(login_attempts=2)
    await site.user("ada")
    client = client_from(site, "10.1.1.1")
    for _ in range(3):  # past the limit, had successes counted
        assert (await login(client, "ada", PASSWORD)).status_code == 200


async def test_guessing_from_elsewhere_cannot_lock_the_owner_out(make_site):
    site = await make_site(login_attempts=3, login_address_attempts=100)
    await site.user("ada")
    home = client_from(site, "192.0.2.10")
    assert (await login(home, "ada", PASSWORD)).status_code == 200  # home is now a known address
    for i in range(12):  # an attacker spreads guesses over many addresses
        r = await login(client_from(site, f"198.51.100.{i}"), "ada", "wrong password")
        assert r.status_code in (401, 429)
    # Unknown addresses meet the account's backoff, even with the right password...
    r = await login(client_from(site, "203.0.113.7"), "ada", PASSWORD)
    assert r.status_code == 429 and int(r.headers["retry-after"]) >= 1
    # ...but the owner's address passes it.
    assert (await login(home, "ada", PASSWORD)).status_code == 200


async def test_one_address_guessing_many_accounts_is_throttled(make_site):
    site = await make_site(login_attempts=5, login_address_attempts=2)
    for name in ("ada", "bob", "eve"):
        await site.user(name)
    attacker = client_from(site, "10.7.7.7")
    statuses = [(await login(attacker, name, "wrong password")).status_code for name in ("ada", "bob", "eve")]
    assert statuses == [401, 401, 429]
    # Another address is not affected.
    assert (await login(client_from(site, "10.8.8.8"), "eve", PASSWORD)).status_code == 200


async def test_the_pair_limit_applies_to_the_right_password_too(make_site):
    site = await make_site(login_attempts=2)
    await site.user("ada")
    client = client_from(site, "10.2.2.2")
    for _ in range(2):
        assert (await login(client, "ada", "wrong password")).status_code == 401
    assert (await login(client, "ada", PASSWORD)).status_code == 429


async def test_a_sign_in_storm_from_one_address_leaves_room_for_others(make_site):
    site = await make_site(login_attempts=1000, login_address_attempts=1000)
    await site.user("ada")
    storm = client_from(site, "10.9.9.9")
    legit = client_from(site, "10.3.3.3")
    bogus = [login(storm, f"nobody{i}", "bogus password") for i in range(100)]
    *answers, mine = await asyncio.gather(*bogus, login(legit, "ada", PASSWORD))
    assert mine.status_code == 200
    statuses = [r.status_code for r in answers]
    # One hash at a time per address and four admitted: the rest are refused at once, not queued.
    assert statuses.count(401) <= 4 and statuses.count(429) >= 96, statuses
    assert all(r.json()["error"]["code"] == "rate_limited" for r in answers if r.status_code == 429)


async def test_a_few_sign_ins_from_one_address_are_checked_in_turn(make_site):
    """A newsreader opens several connections at once, each with AUTHINFO: they
    wait for their turn instead of failing; one more than four is refused."""
    site = await make_site()
    await site.user("ada")
    here = client_from(site, "10.5.5.5")
    answers = await asyncio.gather(*(login(here, "ada", PASSWORD) for _ in range(5)))
    assert sorted(r.status_code for r in answers) == [200, 200, 200, 200, 429]


async def test_hashing_queue_full_is_503_with_retry_after(make_site):
    site = await make_site(hash_queue=2)
    answers = await asyncio.gather(
        *(login(client_from(site, f"10.4.{i}.1"), f"user{i}", "password!") for i in range(20))
    )
    statuses = [r.status_code for r in answers]
    # Two hashes run and two wait; the other sixteen are turned away at once.
    assert statuses.count(401) == 4 and statuses.count(503) == 16, statuses
    busy = next(r for r in answers if r.status_code == 503)
    assert busy.json()["error"]["code"] == "busy" and busy.headers["retry-after"] == "1"


async def test_domain_sign_in_is_reserved_before_the_hash(make_site):
    site = await make_site(login_attempts=5, login_address_attempts=1000)
    await site.user("ada")

    async def guess(i: int) -> str:
        try:
            await sessions.authenticate(site.site, "ada", "wrong guess", address=f"172.16.0.{i}")
        except AuthRequired:
            return "checked"
        except RateLimited:
            return "refused"
        return "signed in"

    outcomes = await asyncio.gather(*(guess(i) for i in range(30)))
    assert outcomes.count("checked") == 5 and outcomes.count("refused") == 25


async def test_concurrent_posts_land_at_most_the_burst(make_site):
    site = await make_site(post_rate=1.0, post_burst=10)
    s = await seed(site, "comp.lang.python")  # ada posts twice
    bob = await site.client("bob")
    root = s["root"]["id"]
    answers = await asyncio.gather(
        *(bob.post(f"/api/articles/{root}/replies", json={"body": f"n{i}"}) for i in range(100))
    )
    statuses = [r.status_code for r in answers]
    assert statuses.count(201) == 10 and statuses.count(429) == 90, statuses
    thread = (await bob.get(f"/api/threads/{s['thread']['id']}")).json()
    assert sum(a["author"]["username"] == "bob" for a in thread["articles"]) == 10


async def test_concurrent_registrations_land_at_most_the_burst(make_site):
    site = await make_site(register_rate=20.0)  # bursts of 5 per address
    client = client_from(site, "10.5.5.5")
    answers = await asyncio.gather(
        *(
            client.post("/api/register", json={"username": f"new{i}", "password": "long enough"})
            for i in range(100)
        )
    )
    statuses = [r.status_code for r in answers]
    assert statuses.count(201) <= 5 and statuses.count(201) + statuses.count(429) == 100, statuses


async def test_failed_registrations_give_their_allowance_back(make_site):
    site = await make_site(register_rate=4.0)  # one registration per address, then 15 minutes
    await site.user("taken")
    client = client_from(site, "10.5.5.6")
    for _ in range(5):
        r = await client.post("/api/register", json={"username": "taken", "password": "long enough"})
        assert r.status_code == 409
    r = await client.post("/api/register", json={"username": "fresh", "password": "long enough"})
    assert r.status_code == 201
    r = await client.post("/api/register", json={"username": "fresher", "password": "long enough"})
    assert r.status_code == 429
