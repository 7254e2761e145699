"""What /healthz checks, shared by its view and by the middleware that answers a balancer's
probe at a node's own address (tmsclinic.middleware.HealthByAddressMiddleware)."""

from django.db import DatabaseError, connection
from django.http import JsonResponse
from django.utils.cache import add_never_cache_headers


def database_answers():
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
    except DatabaseError:
        return False
    return True


def bare_answer():
    """/healthz's answer to anyone: 200 "ok" while the database answers, else 503 "not ok"."""
    up = database_answers()
    response = JsonResponse({"status": "ok" if up else "not ok"}, status=200 if up else 503)
    add_never_cache_headers(response)
    return response
