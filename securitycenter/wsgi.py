import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "securitycenter.settings")
application = get_wsgi_application()

from core.startup import settle  # noqa: E402 (Django is set up)

settle()
