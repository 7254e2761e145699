"""
WSGI config for tmsclinic project.

It exposes the WSGI callable as a module-level variable named ``application``.

For more information on this file, see
https://docs.djangoproject.com/en/5.2/howto/deployment/wsgi/
"""

import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault('DJANGO_SETTINGS_MODULE', 'tmsclinic.settings')

application = get_wsgi_application()


def _warm_up():
    """Pay for matplotlib's import and first drawing as the process starts, not in the first
    request that shows a chart (tmsclinic imports the apps only inside functions)."""
    from patients import charts

    charts.warm_up()


_warm_up()
