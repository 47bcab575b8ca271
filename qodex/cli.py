"""The `qodex` command line (SPEC §10). It talks to the JSON API only, never to the database.

    qodex login --url https://qodex.example.com      (the key from QODEX_API_KEY, else a hidden prompt)
    qodex projects list | use <slug> | current
    qodex envs list
    qodex runs start <scenario id or name> [--env NAME]   (waits, prints progress; exit 0 only if passed)
    qodex usage [--days N]
    qodex --version

Configuration lives in ~/.config/qodex/config.toml (mode 600; `QODEX_CONFIG` points elsewhere).
Exit codes: 0 done, 1 the server or the network refused (or a run did not pass), 2 wrong usage or missing
configuration.
"""

from __future__ import annotations

import argparse
import getpass
import json
import os
import sys
import time
import tomllib
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any

import httpx

CONFIG_ENV = "QODEX_CONFIG"
KEY_ENV = "QODEX_API_KEY"
TIMEOUT = 30.0


class CliError(Exception):
    def __init__(self, message: str, exit_code: int = 1):
        super().__init__(message)
        self.message = message
        self.exit_code = exit_code


# --- configuration --------------------------------------------------------------------------------------


def config_path() -> Path:
    override = os.environ.get(CONFIG_ENV)
    if override:
        return Path(override).expanduser()
    base = Path(os.environ.get("XDG_CONFIG_HOME") or Path.home() / ".config")
    return base / "qodex" / "config.toml"


@dataclass
class Config:
    url: str = ""
    key: str = ""
    project: dict[str, str] = field(default_factory=dict)  # {"slug": …, "id": …}

    @classmethod
    def load(cls) -> Config:
        path = config_path()
        if not path.exists():
            return cls()
        try:
            data = tomllib.loads(path.read_text())
        except (OSError, tomllib.TOMLDecodeError) as error:
            raise CliError(f"Could not read {path}: {error}", 2) from None
        return cls(url=data.get("url", ""), key=data.get("key", ""), project=dict(data.get("project", {})))

    def save(self) -> Path:
        path = config_path()
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        lines = [f"url = {_toml_string(self.url)}", f"key = {_toml_string(self.key)}"]
        if self.project:
            lines += ["", "[project]"] + [f"{k} = {_toml_string(v)}" for k, v in sorted(self.project.items())]
        # Created 600 from the start: the key is never readable by others, not even for a moment.
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as handle:
            handle.write("\n".join(lines) + "\n")
        os.chmod(path, 0o600)
        return path

    def require_login(self) -> None:
        if not (self.url and self.key):
            raise CliError(
                f"Not logged in. Run: qodex login --url URL (it asks for the key, or reads {KEY_ENV})", 2
            )


def _toml_string(value: str) -> str:
    # A JSON string (ASCII, every control character escaped) is a valid TOML basic string.
    return json.dumps(value)


# --- the API --------------------------------------------------------------------------------------------


class Api:
    def __init__(self, url: str, key: str):
        self.base = url.rstrip("/") + "/api/v1"
        self.client = httpx.Client(
            timeout=TIMEOUT, headers={"Authorization": f"Bearer {key}", "User-Agent": "qodex-cli"}
        )

    def __enter__(self) -> Api:
        return self

    def __exit__(self, *exc) -> None:
        self.client.close()  # no idle keep-alive connection left behind

    def call(self, method: str, path: str, *, headers: dict | None = None, **kwargs) -> httpx.Response:
        try:
            return self.client.request(method, self.base + path, headers=headers, **kwargs)
        except httpx.HTTPError as error:
            raise CliError(f"Could not reach {self.base}: {error}") from None

    def get(self, path: str, *, headers: dict | None = None, **params) -> Any:
        response = self.call("GET", path, headers=headers, params=params or None)
        return self.check(response)

    @staticmethod
    def check(response: httpx.Response) -> Any:
        if response.status_code < 400:
            return response.json() if response.content else None
        raise CliError(describe_error(response))

    def all_pages(self, path: str, first_page: dict | None = None) -> list[dict]:
        """Every item of a list, following `next_cursor` (from `first_page` when already fetched)."""
        page = first_page or self.get(path, limit=200)
        items = list(page["items"])
        while page.get("next_cursor"):
            page = self.get(path, limit=200, cursor=page["next_cursor"])
            items += page["items"]
        return items


def describe_error(response: httpx.Response) -> str:
    try:
        error = response.json()["error"]
        message = error["message"]
        fields = error.get("fields") or {}
        if fields:  # what exactly is wrong, not only "Some fields are not valid."
            message = " ".join(
                f"{name}: {' '.join(problems)}" if name else " ".join(problems)
                for name, problems in fields.items()
            )
        return f"{message} ({error['code']}, HTTP {response.status_code})"
    except (ValueError, KeyError, TypeError, AttributeError):
        return f"The server answered HTTP {response.status_code}; is the URL a Qodex server?"


def error_code(response: httpx.Response) -> str | None:
    try:
        return response.json()["error"]["code"]
    except (ValueError, KeyError, TypeError):
        return None


# --- commands -------------------------------------------------------------------------------------------


def login_key(args) -> str:
    """The key to log in with: `--key`, else $QODEX_API_KEY, else typed at a hidden prompt.

    The last two keep the key out of shell history; without a terminal there is nobody to ask.
    """
    if args.key and args.key.strip():
        return args.key.strip()
    from_env = os.environ.get(KEY_ENV, "").strip()
    if from_env:
        return from_env
    if sys.stdin is not None and sys.stdin.isatty():
        try:
            typed = getpass.getpass("API key (qdx_…, not shown): ").strip()
        except (EOFError, KeyboardInterrupt):
            typed = ""
        if typed:
            return typed
        raise CliError("No API key given.", 2)
    raise CliError(
        f"No API key: set {KEY_ENV}, run qodex login in a terminal to be asked for it, or pass --key.", 2
    )


def cmd_login(args, out) -> int:
    url = args.url.rstrip("/")
    if not url.startswith(("http://", "https://")):
        raise CliError("--url must start with http:// or https://", 2)
    key = login_key(args)
    with Api(url, key) as api:
        response = api.call("GET", "/project")
    config = Config(url=url, key=key)
    if response.status_code == 200:
        project = response.json()
        config.project = {"slug": project["slug"], "id": project["id"]}
        message = f"Logged in to {url}. This key is locked to the project {project['slug']}."
    elif error_code(response) == "project_required":
        message = (
            f"Logged in to {url} with an organization-wide key. Pick a project: qodex projects use <slug>"
        )
    else:
        raise CliError(describe_error(response))
    path = config.save()
    print(message, file=out)
    print(f"Saved to {path}", file=out)
    return 0


def reachable_projects(api: Api) -> list[dict]:
    """Every project the key reaches: the organization's, or a locked key's one project."""
    response = api.call("GET", "/org/projects", params={"limit": 200})
    if error_code(response) == "project_forbidden":
        return [api.get("/project")]
    return api.all_pages("/org/projects", first_page=api.check(response))


def cmd_projects_list(args, out) -> int:
    config = Config.load()
    config.require_login()
    current = config.project.get("slug")
    with Api(config.url, config.key) as api:
        projects = reachable_projects(api)
    width = max([len(p["slug"]) for p in projects] + [4])
    for project in projects:
        marker = "*" if project["slug"] == current else " "
        default = "  (default)" if project["is_default"] else ""
        print(f"{marker} {project['slug']:<{width}}  {project['id']}  {project['name']}{default}", file=out)
    return 0


def cmd_projects_use(args, out) -> int:
    config = Config.load()
    config.require_login()
    with Api(config.url, config.key) as api:
        projects = reachable_projects(api)
    match = next((p for p in projects if p["slug"] == args.slug), None)
    if match is None:
        names = ", ".join(p["slug"] for p in projects) or "none"
        raise CliError(f"No project “{args.slug}” is reachable with this key. Reachable: {names}.")
    config.project = {"slug": match["slug"], "id": match["id"]}
    config.save()
    print(f"Now using {match['slug']} ({match['id']}).", file=out)
    return 0


def current_project(config: Config) -> dict[str, str]:
    if not config.project:
        raise CliError("No current project. Run: qodex projects use <slug>", 2)
    return config.project


def cmd_projects_current(args, out) -> int:
    config = Config.load()
    config.require_login()
    project = current_project(config)
    with Api(config.url, config.key) as api:
        live = api.get("/project", headers={"X-Project-ID": project["id"]})
    print(f"{live['slug']} ({live['id']}) {live['name']}", file=out)
    return 0


def cmd_envs_list(args, out) -> int:
    config = Config.load()
    config.require_login()
    slug = current_project(config)["slug"]
    with Api(config.url, config.key) as api:
        response = api.call("GET", f"/p/{slug}/environments", params={"limit": 200})
    if response.status_code == 404 and error_code(response) == "not_found":
        raise CliError("This server has no environments API yet.")
    environments = Api.check(response)["items"]
    if not environments:
        print(f"No environments in {slug} yet.", file=out)
        return 0
    rows = [("NAME", "BASE URL", "AUTH", "CONSTRAINTS")]
    rows += [
        (env["name"], env["base_url"], AUTH_LABELS.get(env["auth_type"], env["auth_type"]), constraints(env))
        for env in sorted(environments, key=lambda env: env["name"].casefold())
    ]
    print_table(rows, out)
    return 0


AUTH_LABELS = {
    "none": "none",
    "static_token": "static token",
    "api_login": "API login",
    "ui_login": "UI login",
}


def constraints(env: dict) -> str:
    """The environment's constraint badges, in words: `read-only, 5 rps, destructive off, security off`."""
    return ", ".join(
        [
            "read-only" if env["read_only"] else "read-write",
            f"{env['max_rps']} rps" if env["max_rps"] else "no rps limit",
            "destructive on" if env["allow_destructive"] else "destructive off",
            "security on" if env["allow_security_testing"] else "security off",
        ]
    )


def print_table(rows: list[tuple[str, ...]], out) -> None:
    """Columns padded to their widest cell, two spaces apart; the last column is not padded."""
    widths = [max(len(row[column]) for row in rows) for column in range(len(rows[0]) - 1)]
    for row in rows:
        cells = [cell.ljust(width) for cell, width in zip(row[:-1], widths, strict=True)] + [row[-1]]
        print("  ".join(cells).rstrip(), file=out)


TOP_SOURCES = 5


def cmd_usage(args, out) -> int:
    """The current project's totals and its top sources for the UTC days overlapping the last N days."""
    config = Config.load()
    config.require_login()
    slug = current_project(config)["slug"]
    with Api(config.url, config.key) as api:
        usage = api.get(f"/p/{slug}/usage", days=args.days)
    first, end = usage["from"][:16].replace("T", " "), usage["to"][:16].replace("T", " ")
    print(f"LLM usage of {slug}, {first} to {end} UTC", file=out)
    totals = usage["totals"]
    if not totals["calls"]:
        print("No LLM calls in this period.", file=out)
        return 0
    rows = [("SOURCE", "CALLS", "ERRORS", "TOKENS IN", "TOKENS OUT", "COST (USD)"), figures("total", totals)]
    rows += [figures(source["source"], source) for source in usage["by_source"][:TOP_SOURCES]]
    print_figures(rows, out)
    hidden = len(usage["by_source"]) - TOP_SOURCES
    if hidden > 0:
        print(f"… and {hidden} more source{'s' if hidden > 1 else ''}.", file=out)
    if totals["unpriced_calls"]:
        count = totals["unpriced_calls"]
        print(
            f"{count} call{'s' if count > 1 else ''} unpriced: no price for the model, cost not included.",
            file=out,
        )
    return 0


def figures(name: str, counters: dict) -> tuple[str, ...]:
    return (
        name,
        f"{counters['calls']:,}",
        f"{counters['errors']:,}",
        f"{counters['input_tokens']:,}",
        f"{counters['output_tokens']:,}",
        counters["cost_usd"],
    )


def print_figures(rows: list[tuple[str, ...]], out) -> None:
    """The name column left-aligned, the figures right-aligned, two spaces apart."""
    widths = [max(len(row[column]) for row in rows) for column in range(len(rows[0]))]
    for row in rows:
        cells = [row[0].ljust(widths[0])] + [
            cell.rjust(width) for cell, width in zip(row[1:], widths[1:], strict=True)
        ]
        print("  ".join(cells), file=out)


def days_count(value: str) -> int:
    try:
        days = int(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"“{value}” is not a whole number of days") from None
    if not 1 <= days <= 366:
        raise argparse.ArgumentTypeError("give 1 to 366 days")
    return days


RUN_POLL_SECONDS = 1.0
FINISHED = {"passed", "failed", "error", "blocked"}


def cmd_runs_start(args, out) -> int:
    """Start a run of one scenario, follow it step by step, print the result; 0 only when it passed."""
    config = Config.load()
    config.require_login()
    slug = current_project(config)["slug"]
    scenario = args.scenario.strip()
    body: dict[str, Any] = {"scenario_id": int(scenario)} if scenario.isdigit() else {"scenario": scenario}
    if args.env:
        body["environment"] = args.env
    with Api(config.url, config.key) as api:
        run = Api.check(api.call("POST", f"/p/{slug}/test-runs", json=body))
        run_id = run["id"]
        print(f"Run #{run_id} queued.", file=out, flush=True)
        if args.no_wait:
            return 0
        shown = 0
        deadline = time.monotonic() + args.timeout
        try:
            while True:
                run = api.get(f"/p/{slug}/test-runs/{run_id}")
                for step in run["steps"][shown:]:
                    if step["status"] == "skipped" and run["status"] in FINISHED:
                        continue
                    print(step_line(shown + 1, run["steps_total"], step), file=out, flush=True)
                    shown += 1
                if run["status"] in FINISHED:
                    break
                if time.monotonic() > deadline:
                    raise CliError(
                        f"Run #{run_id} is still {run['status']} after {args.timeout:g} s; stopped waiting."
                    )
                time.sleep(RUN_POLL_SECONDS)
        except KeyboardInterrupt:
            api.call("POST", f"/p/{slug}/test-runs/{run_id}/cancel")
            print(f"\nCancelled run #{run_id}.", file=out)
            return 130
    print(run_summary(run), file=out)
    return 0 if run["status"] == "passed" else 1


def step_line(number: int, total: int, step: dict) -> str:
    status = step["status"].upper()
    where = f" {step['request']['method']} {step['request']['url']}" if step.get("request") else ""
    answer = f" → {step['response']['status']}" if step.get("response") else ""
    timing = f" ({step['duration_ms']} ms)" if step.get("duration_ms") is not None else ""
    line = f"[{number}/{total}] {status:<7} {step['name']}{where}{answer}{timing}"
    if step["reason"] and step["status"] != "passed":
        line += f"\n          {step['reason']}"
    return line


def run_summary(run: dict) -> str:
    took = ""
    if run.get("started_at") and run.get("finished_at"):
        from datetime import datetime

        began, ended = (
            datetime.fromisoformat(run[k].replace("Z", "+00:00")) for k in ("started_at", "finished_at")
        )
        took = f" in {(ended - began).total_seconds():.1f} s"
    reason = f": {run['reason']}" if run.get("reason") else ""
    return f"Run #{run['id']} {run['status']} against {run['environment']}{took}{reason}"


def parser() -> argparse.ArgumentParser:
    root = argparse.ArgumentParser(prog="qodex", description="Qodex from the command line.")
    root.add_argument("--version", action="version", version=f"qodex {installed_version()}")
    commands = root.add_subparsers(dest="command", required=True, metavar="command")

    login = commands.add_parser(
        "login",
        help="store the server URL and API key",
        description=f"The key comes from --key, else ${KEY_ENV}, else a hidden prompt in a terminal.",
    )
    login.add_argument("--url", required=True, help="e.g. https://qodex.example.com")
    login.add_argument(
        "--key",
        help=f"an API key, qdx_… (a command line ends up in shell history: prefer ${KEY_ENV} or the prompt)",
    )
    login.set_defaults(run=cmd_login)

    projects = commands.add_parser("projects", help="list and pick projects").add_subparsers(
        dest="action", required=True, metavar="action"
    )
    projects.add_parser("list", help="projects this key reaches").set_defaults(run=cmd_projects_list)
    use = projects.add_parser("use", help="make <slug> the current project")
    use.add_argument("slug")
    use.set_defaults(run=cmd_projects_use)
    projects.add_parser("current", help="show the current project").set_defaults(run=cmd_projects_current)

    envs = commands.add_parser("envs", help="environments of the current project").add_subparsers(
        dest="action", required=True, metavar="action"
    )
    envs.add_parser("list", help="list environments").set_defaults(run=cmd_envs_list)

    runs = commands.add_parser("runs", help="test runs of the current project").add_subparsers(
        dest="action", required=True, metavar="action"
    )
    start = runs.add_parser(
        "start",
        help="run a scenario and wait for the result",
        description="Start a run, print each step as it ends, and exit 0 only when the run passed.",
    )
    start.add_argument("scenario", help="the scenario's id, or its name")
    start.add_argument("--env", help="environment name (default: your only one)")
    start.add_argument("--no-wait", action="store_true", help="print the run id and return at once")
    start.add_argument("--timeout", type=float, default=3600.0, help="seconds to wait at most (default 3600)")
    start.set_defaults(run=cmd_runs_start)

    usage = commands.add_parser(
        "usage",
        help="LLM usage of the current project",
        description="Calls, tokens and cost of the current project: totals and the top sources.",
    )
    usage.add_argument(
        "--days", type=days_count, default=30, help="UTC days overlapping the last N × 24 hours (1–366; 30)"
    )
    usage.set_defaults(run=cmd_usage)
    return root


def installed_version() -> str:
    try:
        return metadata.version("qodex")
    except metadata.PackageNotFoundError:  # running from a checkout that was never installed
        return "unknown"


def main(argv: list[str] | None = None, out=None, err=None) -> int:
    out, err = out or sys.stdout, err or sys.stderr
    args = parser().parse_args(argv)
    try:
        return args.run(args, out)
    except CliError as error:
        print(f"error: {error.message}", file=err)
        return error.exit_code


if __name__ == "__main__":
    sys.exit(main())
