"""Gunicorn settings for Twilio webhooks (Procfile: `gunicorn -c ivr/gunicorn_conf.py "ivr:create_app()"`).

Twilio waits at most 15 s for TwiML and then plays its fallback; a worker stuck longer than
`timeout` is killed well before that, so one bad request cannot hold a call. Webhooks are short
single requests, so connections are not kept open for long.
"""

import os

bind = f"0.0.0.0:{os.environ.get('PORT', '8000')}"
workers = int(os.environ.get("WEB_CONCURRENCY", "2"))
worker_class = "sync"
timeout = 10
graceful_timeout = 10
keepalive = 2
accesslog = "-"
errorlog = "-"
