"""Mine every line of a file with Drain3 and print the rate as one JSON line, the same shape
as `quality loghub --lines FILE` prints for KubeSage's miner.

  drain3_speed.py FILE            Drain3's default configuration (no masking)
  drain3_speed.py FILE --masking  with the masking list of Drain3's own example drain3.ini
                                  (ids, IPs, hex sequences, hex and decimal numbers), the
                                  way Drain3 is configured in practice; KubeSage's miner
                                  masks these shapes and more in every run."""
import json
import sys
import time

from drain3 import TemplateMiner
from drain3.masking import MaskingInstruction
from drain3.template_miner_config import TemplateMinerConfig

# Drain3's examples/drain3.ini [MASKING] list.
EXAMPLE_MASKING = [
    (r"((?<=[^A-Za-z0-9])|^)(([0-9a-f]{2,}:){3,}([0-9a-f]{2,}))((?=[^A-Za-z0-9])|$)", "ID"),
    (r"((?<=[^A-Za-z0-9])|^)(\d{1,3}\.\d{1,3}\.\d{1,3}\.\d{1,3})((?=[^A-Za-z0-9])|$)", "IP"),
    (r"((?<=[^A-Za-z0-9])|^)([0-9a-f]{6,} ?){3,}((?=[^A-Za-z0-9])|$)", "SEQ"),
    (r"((?<=[^A-Za-z0-9])|^)([0-9A-F]{4} ?){4,}((?=[^A-Za-z0-9])|$)", "SEQ"),
    (r"((?<=[^A-Za-z0-9])|^)(0x[a-f0-9A-F]+)((?=[^A-Za-z0-9])|$)", "HEX"),
    (r"((?<=[^A-Za-z0-9])|^)([\-\+]?\d+)((?=[^A-Za-z0-9])|$)", "NUM"),
]


def main(path, masking):
    with open(path, encoding="utf-8", errors="replace") as f:
        lines = f.read().splitlines()
    config = TemplateMinerConfig()  # Drain3's defaults: depth 4, sim_th 0.4, no masking
    config.profiling_enabled = False
    if masking:
        config.masking_instructions = [MaskingInstruction(p, m) for p, m in EXAMPLE_MASKING]
    miner = TemplateMiner(config=config)
    start = time.perf_counter()
    for line in lines:
        miner.add_log_message(line)
    secs = time.perf_counter() - start
    print(json.dumps({
        "benchmark": "drain3-lines-masking" if masking else "drain3-lines",
        "lines": len(lines),
        "seconds": round(secs, 6),
        "lines_per_sec": round(len(lines) / secs),
        "templates": len(miner.drain.clusters),
    }))


if __name__ == "__main__":
    main(sys.argv[1], "--masking" in sys.argv[2:])
