"""Settings come from the environment (SPEC §1); checked in fresh interpreters so each case starts clean."""

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def run_django(code: str, **env: str) -> subprocess.CompletedProcess:
    base = {
        k: v
        for k, v in os.environ.items()
        if k not in {"DEBUG", "SECRET_KEY", "ALLOWED_HOSTS", "DATABASE_URL"}
    }
    script = "import django; django.setup()\n" + code
    return subprocess.run(
        [sys.executable, "-c", script],
        cwd=ROOT,
        env={**base, "DJANGO_SETTINGS_MODULE": "qodex.settings", **env},
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_debug_off_refuses_to_start_without_a_secret_key():
    result = run_django("", DEBUG="0", ALLOWED_HOSTS="example.com")
    assert result.returncode != 0
    assert "SECRET_KEY must be set" in result.stderr


def test_debug_off_refuses_to_start_without_allowed_hosts():
    result = run_django("", DEBUG="0", SECRET_KEY="s" * 50)
    assert result.returncode != 0
    assert "ALLOWED_HOSTS must be set" in result.stderr


def test_debug_off_turns_on_secure_cookies_hsts_and_connection_health_checks():
    code = (
        "from django.conf import settings as s\n"
        "print(s.SESSION_COOKIE_SECURE, s.CSRF_COOKIE_SECURE, s.SECURE_HSTS_SECONDS > 0, "
        "s.DATABASES['default']['CONN_HEALTH_CHECKS'])"
    )
    result = run_django(code, DEBUG="0", SECRET_KEY="s" * 50, ALLOWED_HOSTS="example.com")
    assert result.stdout.split() == ["True", "True", "True", "True"], result.stderr


def test_healthz_answers_503_when_the_database_is_down():
    code = (
        "from django.test import Client\n"
        "r = Client().get('/healthz')\n"
        "print(r.status_code, r.json()['status'])"
    )
    result = run_django(
        code, DEBUG="1", DATABASE_URL="postgres://nobody@127.0.0.1:1/nothing", ALLOWED_HOSTS="testserver"
    )
    assert result.stdout.split() == ["503", "unavailable"], result.stderr


def test_pages_carry_security_headers(client, db):
    response = client.get("/accounts/login/")
    assert "default-src 'self'" in response["Content-Security-Policy"]
    assert response["X-Frame-Options"] == "DENY"
    assert response["X-Content-Type-Options"] == "nosniff"


def test_manage_py_works_in_a_bare_developer_shell():
    base = {
        k: v
        for k, v in os.environ.items()
        if k not in {"DEBUG", "SECRET_KEY", "ALLOWED_HOSTS", "DATABASE_URL"}
    }
    base.pop("QODEX_ENCRYPTION_KEYS", None)
    result = subprocess.run(
        [sys.executable, "manage.py", "check"], cwd=ROOT, env=base, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr


def test_postgresql_connections_prepare_repeated_statements_unless_turned_off():
    code = "from django.db import connection as c\nprint(c.settings_dict['OPTIONS'].get('prepare_threshold'))"
    url = "postgres://nobody@127.0.0.1:1/nothing"
    assert run_django(code, DEBUG="1", DATABASE_URL=url).stdout.split() == ["5"]
    off = run_django(code, DEBUG="1", DATABASE_URL=url, DATABASE_PREPARED_STATEMENTS="0")
    assert off.stdout.split() == ["None"], off.stderr


def test_the_embedded_sqlite_database_logs_ahead_and_takes_its_write_lock_up_front(tmp_path):
    code = (
        "from django.db import connection as c\n"
        "cursor = c.cursor(); cursor.execute('PRAGMA journal_mode')\n"
        "print(cursor.fetchone()[0], c.settings_dict['OPTIONS']['transaction_mode'])"
    )
    result = run_django(code, DEBUG="1", DATABASE_URL=f"sqlite:///{tmp_path / 'db.sqlite3'}")
    assert result.stdout.split() == ["wal", "IMMEDIATE"], result.stderr
