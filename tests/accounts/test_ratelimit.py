"""The rate-limit counters themselves (accounts.ratelimit): rows in the database, one atomic upsert per
attempt, so every worker and host counts on the same rows."""

from __future__ import annotations

import json
import time

import pytest
from django.db import connection

from accounts import ratelimit, throttles
from accounts.models import RateCounter
from accounts.ratelimit import Limit
from tests.factories import at_once
from tests.test_settings import run_django


def test_a_window_counts_up_to_its_limit_then_says_how_long_to_wait(db):
    limit = Limit("test-window", limit=3, window=600)
    assert [limit.hit("ann") for _ in range(3)] == [0, 0, 0]
    assert 590 <= limit.hit("ann") <= 600, "the rest of the ten-minute window, however slow the machine"
    assert limit.hit("bob") == 0, "another identity has its own count"


def test_an_ended_window_starts_again_and_ended_rows_are_forgotten(db):
    limit = Limit("test-ended", limit=1, window=600)
    limit.hit("ann"), limit.hit("bob")
    assert limit.hit("ann") > 0
    RateCounter.objects.update(ends_at=time.time() - 1)  # both windows are over
    assert limit.hit("ann") == 0, "a new window"
    assert RateCounter.objects.count() == 1, "bob's ended window went when ann's began"


def test_undo_and_reset(db):
    limit = Limit("test-undo", limit=2, window=600)
    limit.hit("ann"), limit.hit("ann")
    limit.undo("ann")
    assert limit.hit("ann") == 0
    assert limit.hit("ann") > 0
    limit.reset("ann")
    assert limit.hit("ann") == 0
    limit.undo("nobody")  # nothing to take back: no error, no row
    assert not RateCounter.objects.filter(key=ratelimit._key("test-undo", "nobody")).exists()


def test_a_refusal_gives_back_what_the_other_limits_allowed(db):
    both = [(throttles.LOGIN_PER_EMAIL, "ann@example.com"), (throttles.LOGIN_PER_IP, "10.0.0.1")]
    for _ in range(49):
        ratelimit.attempt(both[1])
    assert ratelimit.attempt(*both) == 0, "the IP's 50th attempt"
    assert ratelimit.attempt(*both) > 0, "the IP's 51st is refused"
    # The refused attempt was taken back from the address: it counted 1, not 2.
    assert RateCounter.objects.get(key=ratelimit._key("login-email", "ann@example.com")).count == 1


def test_no_identity_is_stored_in_the_clear(db):
    throttles.LOGIN_PER_EMAIL.hit("ann@example.com")
    assert "ann" not in RateCounter.objects.get().key


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_another_process_counts_on_the_same_rows():
    """A gunicorn worker is another process: its attempts count towards the same limit."""
    limit = "Limit('test-workers', limit=10, window=600)"
    for _ in range(6):
        assert Limit("test-workers", limit=10, window=600).hit("ann@example.com") == 0
    db = connection.settings_dict
    url = f"postgres://{db['USER'] or 'postgres'}@{db['HOST']}:{db['PORT']}/{db['NAME']}"
    code = (
        "import json\nfrom accounts.ratelimit import Limit\n"
        f"print(json.dumps([{limit}.hit('ann@example.com') for _ in range(5)]))"
    )
    other = run_django(code, DEBUG="1", DATABASE_URL=url)
    assert other.returncode == 0, other.stderr
    waits = json.loads(other.stdout.strip().splitlines()[-1])
    assert waits[:4] == [0, 0, 0, 0] and waits[4] > 0, "the 11th attempt, in the other process, is refused"


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_concurrent_attempts_are_each_counted():
    """Twenty threads at once, each its own connection: not one increment is lost."""
    limit = Limit("test-threads", limit=1000, window=600)
    at_once(lambda: limit.hit("ann@example.com"), 20)
    assert RateCounter.objects.get().count == 20
