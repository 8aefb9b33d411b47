from django.apps import AppConfig


class PlaygroundConfig(AppConfig):
    name = "playground"

    def ready(self) -> None:
        from playground import signals  # noqa: F401  (connects the receivers)
