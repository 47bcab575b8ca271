"""Checks on the checkout itself."""

import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
MARKERS = ("<<<<<<< ", ">>>>>>> ")


def test_no_file_holds_a_merge_conflict_marker():
    tracked = subprocess.run(
        ["git", "ls-files"], cwd=ROOT, capture_output=True, text=True, check=False
    ).stdout.split()
    if not tracked:  # not a git checkout (an sdist): every file we ship
        tracked = [str(path.relative_to(ROOT)) for path in ROOT.rglob("*") if ".venv" not in path.parts]
    conflicted = []
    for name in tracked:
        path = ROOT / name
        if not path.is_file() or path.suffix in {".png", ".ico", ".woff2", ".sqlite3"}:
            continue
        try:
            lines = path.read_text(encoding="utf-8").splitlines()
        except UnicodeDecodeError:
            continue
        conflicted += [f"{name}:{number}" for number, line in enumerate(lines, 1) if line.startswith(MARKERS)]
    assert conflicted == []
