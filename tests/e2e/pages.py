"""Steps the browser tests share."""

from __future__ import annotations

from tests.factories import PASSWORD


def sign_in(page, user, path: str) -> None:
    """Log in through the real form as `user` (password: tests.factories.PASSWORD) and land on `path`."""
    page.goto(f"/accounts/login/?next={path}")
    page.locator("input[name=username]").fill(user.email)
    page.locator("input[name=password]").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url(f"**{path}")
