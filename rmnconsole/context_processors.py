"""Values every console page needs: navigation with the active section, Chart.js location."""

from django.conf import settings
from django.urls import reverse

NAV = [
    ("home", "Overview", "🏠"),
    ("training:index", "Training", "🚀"),
    ("federation:index", "Federation", "🔗"),
    ("deployments:index", "Deployments", "🛰️"),
    ("federation:pipelines", "Pipelines", "🔁"),
    ("datasets_app:index", "Datasets & Mappings", "📊"),
    ("monitoring:index", "Monitoring", "📈"),
]


def console(request):
    nav = []
    for url_name, label, icon in NAV:
        url = reverse(url_name)
        active = request.path == url or (url != "/" and request.path.startswith(url))
        nav.append({"url": url, "label": label, "icon": icon, "active": active})
    # /federation/pipelines/ is inside /federation/: the longest matching section is the active one.
    longest = max((len(item["url"]) for item in nav if item["active"]), default=0)
    for item in nav:
        item["active"] = item["active"] and len(item["url"]) == longest
    return {
        "NAV": nav,
        "CHARTJS_URL": settings.CHARTJS_URL,
        "CHARTJS_INTEGRITY": settings.CHARTJS_INTEGRITY,
    }
