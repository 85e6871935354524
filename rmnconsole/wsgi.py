"""WSGI entry point (gunicorn rmnconsole.wsgi)."""

import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "rmnconsole.settings")
application = get_wsgi_application()
