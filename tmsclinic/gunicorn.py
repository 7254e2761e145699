"""gunicorn's settings, from the environment: ``gunicorn tmsclinic.wsgi -c python:tmsclinic.gunicorn``
(Procfile). Command-line options win over these. README (Deployment) says how to size them."""

import os

# Processes per web node (gunicorn's own variable): about 2 per core; each holds one database
# connection per thread while it serves a request (CONN_MAX_AGE keeps it between requests).
workers = int(os.environ.get("WEB_CONCURRENCY", "3"))
# Threads per process: pages are Python-bound, so more processes beat more threads; 1 keeps
# connections at one per process.
threads = int(os.environ.get("GUNICORN_THREADS", "1"))
# A request running longer than this is killed and its worker replaced (the browser gets a 502
# from the balancer); no page should come near it.
timeout = int(os.environ.get("GUNICORN_TIMEOUT", "30"))
graceful_timeout = int(os.environ.get("GUNICORN_GRACEFUL_TIMEOUT", "30"))
# Each process is replaced after this many requests (with some jitter, so not all at once):
# a leak stays bounded. 0 turns it off.
max_requests = int(os.environ.get("GUNICORN_MAX_REQUESTS", "1000"))
max_requests_jitter = int(os.environ.get("GUNICORN_MAX_REQUESTS_JITTER", "100"))
# Seconds an idle keep-alive connection from the load balancer stays open; keep it above the
# balancer's own idle timeout's complement (below the balancer's, so gunicorn closes first).
keepalive = int(os.environ.get("GUNICORN_KEEPALIVE", "5"))
accesslog = os.environ.get("GUNICORN_ACCESS_LOG", "-")
