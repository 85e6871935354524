from django.apps import AppConfig


class RmnConsoleConfig(AppConfig):
    name = "rmnconsole"
    verbose_name = "Console"
