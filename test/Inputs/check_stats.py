#!/usr/bin/env python3
"""Checks the `chimera-compile --import-stats` line against bounds.

usage: check_stats.py STATS_FILE [--max-seconds S] [--max-rss-mib M]
                      [--min-weight-bytes B]
Prints the measured figures; exits 1 naming the bound that was exceeded.
"""
import argparse
import re
import sys

ap = argparse.ArgumentParser()
ap.add_argument("stats")
ap.add_argument("--max-seconds", type=float)
ap.add_argument("--max-rss-mib", type=float)
ap.add_argument("--min-weight-bytes", type=float)
a = ap.parse_args()
text = open(a.stats).read()
m = re.search(r"stats: (.*)", text)
if not m:
    sys.exit("no stats line in %s:\n%s" % (a.stats, text))
stats = {k: float(v) for k, v in (kv.split("=") for kv in m.group(1).split())}
print("import %.3f s, peak RSS %.1f MiB, %.1f GB of weights in %d tensors" % (
    stats["import_seconds"], stats["peak_rss_mib"], stats["weight_bytes"] / 1e9,
    stats["tensors"]))
fail = []
if a.max_seconds is not None and stats["import_seconds"] > a.max_seconds:
    fail.append("import took %.3f s > %.3f s" % (stats["import_seconds"], a.max_seconds))
if a.max_rss_mib is not None and stats["peak_rss_mib"] > a.max_rss_mib:
    fail.append("peak RSS %.1f MiB > %.1f MiB" % (stats["peak_rss_mib"], a.max_rss_mib))
if a.min_weight_bytes is not None and stats["weight_bytes"] < a.min_weight_bytes:
    fail.append("only %d weight bytes < %d" % (stats["weight_bytes"], a.min_weight_bytes))
if fail:
    sys.exit("; ".join(fail))
