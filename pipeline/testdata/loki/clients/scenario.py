"""The shared scenario (scenario.json) for the Python clients, and a logging filter that
pins what a recording must not take from the machine: the clock, process and thread ids
and the script's path, so a re-recording gives the same bytes."""
import json
import logging
import os

with open(os.path.join(os.path.dirname(__file__), "scenario.json"), encoding="utf-8") as f:
    ENTRIES = json.load(f)["entries"]

LEVELS = {"debug": logging.DEBUG, "info": logging.INFO, "warn": logging.WARNING, "error": logging.ERROR}


def long_line(e):
    """The message followed by `long` numbered upstream timings, as scenario.js builds it."""
    if not e.get("long"):
        return e["message"]
    return e["message"] + " ".join(f"upstream-{i}={(i * 37) % 1000}ms" for i in range(e["long"]))


class Pin(logging.Filter):
    """Sets record.created from the entry's `ms` (passed as extra={"ms": ...})."""

    def filter(self, record):
        record.created = record.__dict__.pop("ms") / 1000
        record.process = 4242
        record.thread = 1
        record.pathname = "clients/" + record.filename
        return True
