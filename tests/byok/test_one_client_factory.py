"""SPEC §7: byok.providers is the only place in the codebase that makes an SDK client (tests, benches and
the stand-in's docstrings aside), so every LLM call goes through the gateway's funding, caps and usage log."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
APPS = ("accounts", "byok", "environments", "projects", "qa", "qodex", "usage")
CLIENTS = {"OpenAI", "AsyncOpenAI", "AzureOpenAI", "AsyncAzureOpenAI"}


def clients_made_in(path: Path) -> list[int]:
    lines = []
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Call):
            func = node.func
            name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", None)
            if name in CLIENTS:
                lines.append(node.lineno)
    return lines


def test_only_byok_providers_makes_an_sdk_client():
    makers = {
        str(path.relative_to(ROOT)): lines
        for app in APPS
        for path in (ROOT / app).rglob("*.py")
        if "migrations" not in path.parts and (lines := clients_made_in(path))
    }
    assert set(makers) == {"byok/providers.py"}, makers
