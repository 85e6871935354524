"""`console_banners`: open alerts as banners on every console page, without the shell knowing monitoring.

base.html prints `{{ console_banners }}` in its alert_banners block; this processor (listed in settings) fills it.
The query runs only when a template prints the value, so partials and API-adjacent renders pay nothing.
"""

from __future__ import annotations

from django.template.loader import render_to_string
from django.utils.functional import cached_property

from monitoring.templatetags.monitoring_tags import banner_alerts


class _Banners:
    def __init__(self, request):
        self.request = request

    @cached_property
    def html(self) -> str:
        context = banner_alerts(getattr(self.request, "user", None))
        if not context["alerts"]:
            return ""
        return render_to_string("monitoring/_alert_banners.html", context, request=self.request)

    def __html__(self) -> str:
        return self.html

    def __str__(self) -> str:
        return self.html

    def __bool__(self) -> bool:
        return bool(self.html)


def alert_banners(request) -> dict:
    return {"console_banners": _Banners(request)}
