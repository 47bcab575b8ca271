"""A small login site for UI-login tests: GET /login shows a form; the right password sets a cookie."""

PASSWORD = "hunter2-correct-horse"
LOGIN_PAGE = """<!doctype html><title>Sign in</title>
<form method="post" action="/login">
  <label>Email <input id="email" name="email"></label>
  <label>Password <input id="password" name="password" type="password"></label>
  <button type="submit">Sign in</button>
</form>"""
DASHBOARD = """<!doctype html><title>Dashboard</title><h1 class="welcome">Welcome back</h1>
<script>localStorage.setItem("theme", "dark")</script>"""

SIGN_IN = [
    {"action": "goto", "url": "${baseUrl}/login"},
    {"action": "fill", "selector": "#email", "value": "${authEmail}"},
    {"action": "fill", "selector": "#password", "value": "${AUTH_PASSWORD}"},
    {"action": "click", "selector": "button[type=submit]"},
    {"action": "wait_for_url", "url": "**/dashboard"},
    {"action": "wait_for_selector", "selector": ".welcome"},
]
