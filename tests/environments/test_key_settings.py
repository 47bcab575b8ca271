"""QODEX_ENCRYPTION_KEYS: read newest first, derived in development, required with DEBUG off (SPEC §1)."""

import os
import subprocess
import sys
from pathlib import Path

from cryptography.fernet import Fernet

from qodex import crypto

ROOT = Path(__file__).resolve().parents[2]


def run_settings(code: str, **env: str) -> subprocess.CompletedProcess:
    """Import the settings in a fresh interpreter with exactly these variables."""
    dropped = {"DEBUG", "SECRET_KEY", "ALLOWED_HOSTS", "DATABASE_URL", "QODEX_ENCRYPTION_KEYS"}
    base = {key: value for key, value in os.environ.items() if key not in dropped}
    return subprocess.run(
        [sys.executable, "-c", "import django; django.setup()\n" + code],
        cwd=ROOT,
        env={**base, "DJANGO_SETTINGS_MODULE": "qodex.settings", "ALLOWED_HOSTS": "example.com", **env},
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_debug_off_refuses_to_start_without_encryption_keys():
    result = run_settings("", DEBUG="0", SECRET_KEY="s" * 50)
    assert result.returncode != 0
    assert "QODEX_ENCRYPTION_KEYS must be set" in result.stderr


def test_debug_off_refuses_a_malformed_key():
    result = run_settings("", DEBUG="0", SECRET_KEY="s" * 50, QODEX_ENCRYPTION_KEYS="not-a-fernet-key")
    assert result.returncode != 0
    assert "QODEX_ENCRYPTION_KEYS" in result.stderr


def test_debug_on_derives_a_development_key_from_the_secret_key():
    code = "from django.conf import settings as s; from qodex import crypto\nprint(s.QODEX_ENCRYPTION_KEYS)"
    result = run_settings(code, DEBUG="1", SECRET_KEY="dev-secret")
    assert result.stdout.strip() == str([crypto.derive_key("dev-secret")]), result.stderr


def test_keys_are_read_newest_first_from_a_comma_separated_list():
    old, new = Fernet.generate_key().decode(), Fernet.generate_key().decode()
    code = "from django.conf import settings as s\nprint(','.join(s.QODEX_ENCRYPTION_KEYS))"
    result = run_settings(code, DEBUG="0", SECRET_KEY="s" * 50, QODEX_ENCRYPTION_KEYS=f"{new}, {old}")
    assert result.stdout.strip() == f"{new},{old}", result.stderr
