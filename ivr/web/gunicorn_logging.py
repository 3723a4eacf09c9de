"""gunicorn's error and access logs in the service's line format (`ivr.logs`), named in
`ivr/web/gunicorn_conf.py` as its `logger_class`.

gunicorn makes its logger before any hook runs, so a bad IVR_LOG_FORMAT is written as text here;
`on_starting` then refuses it in one line.
"""

from __future__ import annotations

from typing import Any

from gunicorn.glogging import Logger

from ivr.config import SettingsError, default, read_setting
from ivr.logs import CALL_SID_ENVIRON, LineFormatter, about_call


def _log_format() -> str:
    try:
        return str(read_setting("IVR_LOG_FORMAT"))
    except SettingsError:
        return str(default("IVR_LOG_FORMAT"))


class ServiceLogger(Logger):
    def setup(self, cfg: Any) -> None:
        super().setup(cfg)
        formatter = LineFormatter(_log_format())
        for handler in (*self.error_log.handlers, *self.access_log.handlers):
            handler.setFormatter(formatter)

    def access(self, resp: Any, req: Any, environ: dict, request_time: Any) -> None:
        # After the app returned: the webhook left its CallSid in the environ.
        with about_call(environ.get(CALL_SID_ENVIRON)):
            super().access(resp, req, environ, request_time)
