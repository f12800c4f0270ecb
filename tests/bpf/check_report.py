#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Checks on rtasync-trace reports, for the bpf tests.

  check_report.py compare JSON TABLE
      the table carries the JSON's numbers: every thread row, the total,
      the per-CPU idle rows and both histograms (exit 1 on a mismatch)
  check_report.py sum JSON FIELD COMM...
      prints the sum of FIELD over the threads named COMM, over all the
      reports of an --interval list (exit 1 if none)
  check_report.py count JSON COMM...
      prints how many thread rows are named COMM (0 too)
"""
import json
import re
import sys


def ms(ns):
    return f"{ns / 1e6:.3f}"


def us(ns):
    return f"{ns / 1e3:.3f}"


def thread_cells(t):
    return [str(t["voluntary"]), str(t["involuntary"]), ms(t["oncpu_ns"]),
            ms(t["offcpu_ns"]), us(t["runq_avg_ns"]), us(t["runq_max_ns"])]


def table_rows(lines):
    """TID/TOTAL -> the six numeric cells; comm may hold spaces."""
    rows = {}
    for line in lines:
        tok = line.split()
        if tok and tok[-1] == "exited":
            tok.pop()
        if len(tok) >= 7 and (tok[0].isdigit() or tok[0] == "TOTAL"):
            rows[tok[0]] = tok[-6:]
    return rows


def cpu_rows(lines):
    rows, on = {}, False
    for line in lines:
        tok = line.split()
        if tok[:2] == ["CPU", "IDLE_ms"]:
            on = True
        elif on and len(tok) == 4 and tok[0].isdigit():
            rows[int(tok[0])] = tok[1:]
        elif on and not tok:
            on = False
    return rows


def hists(lines):
    out, cur = [], None
    for line in lines:
        if line.startswith("     usecs") or "(no samples)" in line:
            cur = []
            out.append(cur)
            continue
        m = re.match(r"\s*(\d+) -> (\d+)\s*: (\d+)", line)
        if m and cur is not None:
            cur.append(tuple(int(x) for x in m.groups()))
    return out


def compare(json_path, table_path):
    rep = json.load(open(json_path))
    lines = open(table_path).read().splitlines()
    rows, errors = table_rows(lines), []
    for t in rep["threads"]:
        got = rows.get(str(t["tid"]))
        if got != thread_cells(t):
            errors.append(f"tid {t['tid']}: table {got} json {thread_cells(t)}")
    if rows.get("TOTAL") != thread_cells(rep["total"]):
        errors.append(f"total: table {rows.get('TOTAL')} json {thread_cells(rep['total'])}")
    cpus = cpu_rows(lines)
    for c in rep["cpus"]:
        want = [ms(c["idle_ns"]), f"{100 * c['idle_ns'] / rep['window_ns']:.1f}",
                str(c["switches"])]
        if cpus.get(c["cpu"]) != want:
            errors.append(f"cpu {c['cpu']}: table {cpus.get(c['cpu'])} json {want}")
    h = hists(lines)
    for i, name in enumerate(["runq_hist_usecs", "offcpu_hist_usecs"]):
        want = [(b["low"], b["high"], b["count"]) for b in rep[name]]
        if i >= len(h) or h[i] != want:
            errors.append(f"{name}: table {h[i] if i < len(h) else None} json {want}")
    for e in errors:
        print("mismatch:", e, file=sys.stderr)
    print(f"compared {len(rep['threads'])} threads, {len(rep['cpus'])} cpus, "
          f"2 histograms: {len(errors)} mismatches", file=sys.stderr)
    return 1 if errors else 0


def sum_field(json_path, field, comms):
    rep = json.load(open(json_path))
    reports = rep if isinstance(rep, list) else [rep]   # --interval: a list
    vals = [t[field] for r in reports for t in r["threads"] if t["comm"] in comms]
    if not vals:
        return 1
    print(sum(vals))
    return 0


def count_rows(json_path, comms):
    rep = json.load(open(json_path))
    reports = rep if isinstance(rep, list) else [rep]
    print(sum(1 for r in reports for t in r["threads"] if t["comm"] in comms))
    return 0


def main(argv):
    if len(argv) == 4 and argv[1] == "compare":
        return compare(argv[2], argv[3])
    if len(argv) >= 5 and argv[1] == "sum":
        return sum_field(argv[2], argv[3], argv[4:])
    if len(argv) >= 4 and argv[1] == "count":
        return count_rows(argv[2], argv[3:])
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv))
