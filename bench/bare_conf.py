"""Gunicorn settings for bare Flask (`bench/bare_app.py`): the service's own (`ivr/web/gunicorn_conf.py`),
without its hooks, which are the service's work (the phonebook checked and the call log migrated at
start, the call-log writer process beside the workers), not the web server's."""

import runpy
from pathlib import Path

SETTINGS = ("bind", "workers", "worker_class", "timeout", "graceful_timeout", "keepalive", "control_socket_disable",
            "accesslog", "errorlog", "logger_class", "access_log_format")

_service = runpy.run_path(str(Path(__file__).resolve().parent.parent / "ivr" / "web" / "gunicorn_conf.py"))
globals().update({name: _service[name] for name in SETTINGS})
