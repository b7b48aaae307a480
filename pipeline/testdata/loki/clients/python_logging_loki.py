"""python-logging-loki (JSON; one request per record, so one record): `python python_logging_loki.py`.

The emitter stamps the entry with time.time() when it sends; that clock is pinned to the
scenario's time of the entry so the recorded body is reproducible."""
import logging
import os
from unittest import mock

import logging_loki

from scenario import ENTRIES, LEVELS

e = ENTRIES[2]  # the multi-byte UTF-8 line
handler = logging_loki.LokiHandler(url=os.environ["LOKI_URL"] + "/loki/api/v1/push", tags={"namespace": "shop"}, version="1")
logger = logging.getLogger("checkout")
logger.setLevel(logging.DEBUG)
logger.addHandler(handler)
with mock.patch("logging_loki.emitter.time.time", return_value=e["ms"] / 1000):
    logger.log(LEVELS[e["level"]], e["message"], extra={"tags": {"app": e["app"], "pod": "cart-7d9f8b-x2k4q"}})
