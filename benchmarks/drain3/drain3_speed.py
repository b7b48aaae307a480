"""Mine every line of a file with Drain3 (default configuration) and print the rate as one
JSON line, the same shape as `quality loghub --lines FILE` prints for KubeSage's miner."""
import json
import sys
import time

from drain3 import TemplateMiner
from drain3.template_miner_config import TemplateMinerConfig


def main(path):
    with open(path, encoding="utf-8", errors="replace") as f:
        lines = f.read().splitlines()
    config = TemplateMinerConfig()  # Drain3's defaults: depth 4, sim_th 0.4, no masking
    config.profiling_enabled = False
    miner = TemplateMiner(config=config)
    start = time.perf_counter()
    for line in lines:
        miner.add_log_message(line)
    secs = time.perf_counter() - start
    print(json.dumps({
        "benchmark": "drain3-lines",
        "lines": len(lines),
        "seconds": round(secs, 6),
        "lines_per_sec": round(len(lines) / secs),
        "templates": len(miner.drain.clusters),
    }))


if __name__ == "__main__":
    main(sys.argv[1])
