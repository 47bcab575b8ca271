"""The Django admin (/admin/db/) for prices (editable) and the usage log (read-only)."""

from __future__ import annotations

from decimal import Decimal

import pytest

from accounts.models import User
from tests.factories import make_org
from usage.models import LlmUsageLog, ModelPrice


@pytest.fixture
def staff(client, db):
    client.force_login(User.objects.create_superuser(email="root@example.com", password="pw-123456789"))
    return client


@pytest.fixture
def usage_rows(db):
    project = make_org("Acme").default_project
    common = {
        "project": project,
        "organization": project.organization,
        "source": LlmUsageLog.Source.PLAYGROUND,
        "provider": "standin",
    }
    return [
        LlmUsageLog.objects.record(
            **common,
            funding=LlmUsageLog.Funding.PLATFORM,
            model="standin-mini",
            outcome=LlmUsageLog.Outcome.OK,
            cost_usd=Decimal("0.00190000"),
        ),
        LlmUsageLog.objects.record(
            **common,
            funding=LlmUsageLog.Funding.BYOK,
            model="standin-unpriced",
            outcome=LlmUsageLog.Outcome.OK,
            cost_usd=None,
        ),
    ]


def test_the_price_list_and_its_pages_answer_for_staff(staff):
    price = ModelPrice.objects.get(provider="standin", model="standin-mini")
    page = staff.get("/admin/db/usage/modelprice/")
    assert page.status_code == 200
    assert "standin-mini" in page.content.decode()
    assert staff.get("/admin/db/usage/modelprice/?q=gpt-4o").status_code == 200
    assert staff.get("/admin/db/usage/modelprice/?provider=openai").status_code == 200
    assert staff.get(f"/admin/db/usage/modelprice/{price.pk}/change/").status_code == 200
    assert staff.get("/admin/db/usage/modelprice/add/").status_code == 200


def test_staff_add_a_price_in_the_admin(staff):
    response = staff.post(
        "/admin/db/usage/modelprice/add/",
        {
            "provider": "openai",
            "model": "gpt-9*",
            "input_per_mtok": "1.5",
            "cached_input_per_mtok": "",
            "output_per_mtok": "6",
            "effective_from_0": "2026-01-01",
            "effective_from_1": "00:00:00",
            "note": "",
        },
    )
    assert response.status_code == 302
    price = ModelPrice.objects.get(provider="openai", model="gpt-9*")
    assert (price.input_per_mtok, price.cached_input_per_mtok) == (Decimal("1.5"), None)


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [("model", "gpt*9", "only at the end"), ("input_per_mtok", "-1", "greater than or equal to 0")],
)
def test_a_bad_price_in_the_admin_is_refused_with_a_message(staff, field, value, message):
    form = {
        "provider": "openai",
        "model": "gpt-9",
        "input_per_mtok": "1",
        "output_per_mtok": "1",
        "effective_from_0": "2026-01-01",
        "effective_from_1": "00:00:00",
        field: value,
    }
    response = staff.post("/admin/db/usage/modelprice/add/", form)
    assert response.status_code == 200
    assert message in response.content.decode()
    assert not ModelPrice.objects.filter(model=value if field == "model" else "gpt-9").exists()


def test_the_usage_log_list_answers_for_staff_with_filters_and_dates(staff, usage_rows):
    page = staff.get("/admin/db/usage/llmusagelog/")
    assert page.status_code == 200
    body = page.content.decode()
    assert "0.00190000" in body and "unpriced" in body
    year = usage_rows[0].created_at.year
    for query in ("funding=byok", "source=playground", "outcome=ok", "q=standin", f"created_at__year={year}"):
        assert staff.get(f"/admin/db/usage/llmusagelog/?{query}").status_code == 200, query
    assert "standin-unpriced" in staff.get("/admin/db/usage/llmusagelog/?funding=byok").content.decode()


def test_the_usage_log_is_read_only_in_the_admin(staff, usage_rows):
    row = usage_rows[0]
    assert staff.get(f"/admin/db/usage/llmusagelog/{row.pk}/change/").status_code == 200
    assert staff.get("/admin/db/usage/llmusagelog/add/").status_code == 403
    assert staff.get(f"/admin/db/usage/llmusagelog/{row.pk}/delete/").status_code == 403
    staff.post(f"/admin/db/usage/llmusagelog/{row.pk}/change/", {"model": "changed"})
    row.refresh_from_db()
    assert row.model == "standin-mini"
    assert (
        'href="/admin/db/usage/llmusagelog/add/"'
        not in staff.get("/admin/db/usage/llmusagelog/").content.decode()
    )


def test_non_staff_cannot_open_the_admin(client, db):
    client.force_login(User.objects.create_user("ann@example.com", "pw-123456789"))
    assert client.get("/admin/db/usage/modelprice/").status_code == 302
