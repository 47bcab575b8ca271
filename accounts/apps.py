from django.apps import AppConfig


class AccountsConfig(AppConfig):
    name = "accounts"

    def ready(self) -> None:
        # Connected here, not in views.py, so it fires however the code path imports things.
        from accounts import signals  # noqa: F401
