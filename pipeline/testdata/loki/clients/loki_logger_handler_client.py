"""loki-logger-handler (JSON, gzip-compressed by default: Content-Encoding: gzip) with Loki 3
structured metadata: `python loki_logger_handler_client.py`. The handler sends its one
batch from its atexit hook."""
import logging
import os

from loki_logger_handler.loki_logger_handler import LokiLoggerHandler

from scenario import ENTRIES, LEVELS, Pin, long_line

handler = LokiLoggerHandler(
    url=os.environ["LOKI_URL"] + "/loki/api/v1/push",
    labels={"namespace": "shop"},
    label_keys=["app"],
    timeout=600,  # no timed flush: everything goes in the batch sent at exit
    enable_structured_loki_metadata=True,
    loki_metadata={"service": "checkout"},
    enable_self_errors=True,
)
logger = logging.getLogger("checkout")
logger.setLevel(logging.DEBUG)
logger.addFilter(Pin())
logger.addHandler(handler)
for e in ENTRIES:
    extra = {"ms": e["ms"], "app": e["app"]}
    if e["level"] == "error":
        extra["loki_metadata"] = {"trace_id": "4bf92f3577b34da6a3ce929d0e0e4736"}
    logger.log(LEVELS[e["level"]], long_line(e), extra=extra)
