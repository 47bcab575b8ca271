from django.apps import AppConfig


class ByokConfig(AppConfig):
    name = "byok"
