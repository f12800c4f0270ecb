#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Checks on rtasync-trace's task reports and record files, for test_task.c.

  check_task.py query JSON EXPR
      prints EXPR evaluated with r = the parsed JSON (ints and strings as
      they are, anything else as JSON); exit 1 if it raises
  check_task.py prom FILE EXPR
      FILE parsed by the Prometheus project's own parser (prometheus_client),
      then as query, with r = {metric name: [(labels, value), ...]}
      (counters keep their _total suffix); exit 1 if it does not parse
  check_task.py compare-top JSON TABLE
  check_task.py compare-hist JSON TABLE
  check_task.py compare-blocked JSON TABLE
  check_task.py compare-dump JSON TABLE
      the table carries the JSON's numbers (exit 1 on a mismatch)
  check_task.py record FILE
      validates a Chrome/Perfetto trace written by `record` and prints a
      JSON summary: slices, records and drops, per-thread sequence
      numbers strictly increasing and unique, slices of a thread never
      overlapping, reasons and slice names counted
"""
import json
import re
import sys


def ms(ns):
    return f"{ns / 1e6:.3f}"


def us(ns):
    return f"{ns / 1e3:.3f}"


def base(path):
    return path.rsplit("/", 1)[-1]


def hist_rows(lines, start):
    """The log2 rows after line index start, as (low, high, count)."""
    rows = []
    for line in lines[start:]:
        m = re.match(r"\s*(\d+) -> (\d+)\s*: (\d+)", line)
        if m:
            rows.append(tuple(int(x) for x in m.groups()))
        elif rows or "(no samples)" in line:
            break
    return rows


def json_hist(h):
    return [(b["low"], b["high"], b["count"]) for b in h]


def report(errors, what):
    for e in errors:
        print("mismatch:", e, file=sys.stderr)
    print(f"compared {what}: {len(errors)} mismatches", file=sys.stderr)
    return 1 if errors else 0


def compare_top(rep, lines):
    errors = []
    sites = {}
    workers = {}
    for line in lines:
        tok = line.split()
        if len(tok) >= 4 and tok[0].isdigit() and ":" not in tok[0]:
            sites[int(tok[0])] = (tok[-2], tok[-1])
        elif tok and (re.match(r"^\d+:\d+$", tok[0]) or tok[0] == "TOTAL"):
            workers[tok[0]] = tok[-9:]
    for s in rep["sites"]:
        want = (str(s["suspends"]), f"{s['per_second']:.1f}")
        if sites.get(s["id"]) != want:
            errors.append(f"site {s['id']}: table {sites.get(s['id'])} json {want}")

    def cells(w):
        c = w["counters"]
        return [str(c[k]) for k in ("spawned", "completed", "resumes",
                                    "suspends", "yields", "steals",
                                    "parks")] + \
            [str(c["wakes_msg_ring"] + c["wakes_eventfd"]),
             f"{w['per_second']['resumes']:.1f}"]
    for w in rep["workers"]:
        key = f"{w['runtime']}:{w['worker']}"
        if workers.get(key) != cells(w):
            errors.append(f"worker {key}: table {workers.get(key)} json {cells(w)}")
    if workers.get("TOTAL") != cells(rep["total"]):
        errors.append(f"total: table {workers.get('TOTAL')} json {cells(rep['total'])}")
    return report(errors, f"{len(rep['sites'])} sites, {len(rep['workers'])} workers")


def compare_hist(rep, lines):
    errors = []
    seen = 0
    for i, line in enumerate(lines):
        m = re.match(r"site (\d+): (.*)", line)
        if not m:
            continue
        seen += 1
        site = next((s for s in rep["sites"] if s["id"] == int(m.group(1))), None)
        if site is None:
            errors.append(f"site {m.group(1)} not in JSON")
            continue
        want = (f"  {site['suspends']} suspensions, {site['samples']} resumed; "
                f"avg {us(site['avg_ns'])} us, max {us(site['max_ns'])} us")
        if lines[i + 1] != want:
            errors.append(f"site {site['id']}: table {lines[i + 1]!r} json {want!r}")
        if site["id"] and f"({base(site['file'])}:{site['line']})" not in m.group(2):
            errors.append(f"site {site['id']}: label {m.group(2)!r}")
        if hist_rows(lines, i + 2) != json_hist(site["hist_usecs"]):
            errors.append(f"site {site['id']}: histogram differs")
    if seen != len(rep["sites"]):
        errors.append(f"{seen} sites in the table, {len(rep['sites'])} in JSON")
    want = (f"Records: {rep['records']} read, {rep['dropped']} dropped (ring "
            f"overflow) in {rep['gaps']} gaps; sampling 1 step in "
            f"{1 << rep['sample_shift']}")
    if want not in lines:
        errors.append(f"no line {want!r}")
    return report(errors, f"{seen} sites")


def blk_cells(t):
    return [str(t["count"]), ms(t["total_ns"]), ms(t["max_ns"]),
            str(t["voluntary"]), ms(t["voluntary_ns"]),
            str(t["involuntary"]), ms(t["involuntary_ns"])]


def compare_blocked(rep, lines):
    errors = []
    sites, tasks, idle = {}, {}, None
    hists = {}
    for i, line in enumerate(lines):
        tok = line.split()
        if len(tok) >= 10 and tok[0].isdigit():
            sites[int(tok[0])] = tok[-7:]
        elif len(tok) >= 10 and tok[0].startswith("0x"):
            tasks[(tok[0], int(tok[1]))] = tok[-7:]
        elif len(tok) >= 10 and tok[0] == "-":
            idle = tok[-7:]
        m = re.match(r"Off-CPU time per switch-out, site (\d+):", line)
        if m:
            hists[int(m.group(1))] = hist_rows(lines, i + 1)
    for s in rep["sites"]:
        if sites.get(s["site"]) != blk_cells(s):
            errors.append(f"site {s['site']}: table {sites.get(s['site'])} json {blk_cells(s)}")
        if hists.get(s["site"]) != json_hist(s["hist_usecs"]):
            errors.append(f"site {s['site']}: histogram differs")
    for t in rep["tasks"]:
        key = (t["task"], t["site"])
        if tasks.get(key) != blk_cells(t):
            errors.append(f"task {key}: table {tasks.get(key)} json {blk_cells(t)}")
    if idle != blk_cells(rep["no_task"]):
        errors.append(f"no task: table {idle} json {blk_cells(rep['no_task'])}")
    return report(errors, f"{len(rep['sites'])} sites, {len(rep['tasks'])} tasks")


def printable(s):
    """A string as the tool's tables print it (trace_printable())."""
    return "".join(chr(b) if 0x20 <= b < 0x7f else f"\\x{b:02x}"
                   for b in s.encode("utf-8", "surrogateescape"))


def json_name(name):
    """A task's JSON name as its table line says it, None: no line."""
    if name is None:
        return "(unreadable)"
    return printable(name) if name else None


def sym_label(f, addr):
    """A symbol as the dump table shows it: name+0x.., name, or addr."""
    if not f["symbol"]:
        return addr
    return f["symbol"] + (f"+0x{f['offset']:x}" if f["offset"] else "")


def compare_dump(rep, lines):
    errors = []
    blocks = {}
    cur = None
    for line in lines:
        m = re.match(r"task (0x[0-9a-f]+), .*\), (\d+) frames?$", line)
        if m:
            cur = {"depth": int(m.group(2)), "frames": []}
            blocks[m.group(1)] = cur
            continue
        m = re.match(r"  waits at (.*)$", line)
        if m and cur is not None:
            cur["site"] = m.group(1)
            continue
        m = re.match(r"  name (.*)$", line)
        if m and cur is not None:
            cur["name"] = m.group(1)
            continue
        m = re.match(r"    #(\d+)\s+(\S+)\s+(\S+)(  \[root\])?$", line)
        if m and cur is not None:
            cur["frames"].append((m.group(2), m.group(3), bool(m.group(4))))
        m = re.match(r"  fiber (0x[0-9a-f]+) C stack, (\d+) frames?( \(walk stopped short of its base\))?$",
                     line)
        if m and cur is not None:
            cur["fiber"] = {"fiber": m.group(1), "truncated": bool(m.group(3)),
                            "frames": []}
            continue
        m = re.match(r"    c(\d+)\s+(\S+)\s+(\S+)$", line)
        if m and cur is not None and "fiber" in cur:
            cur["fiber"]["frames"].append((m.group(2), m.group(3)))
    for t in rep["tasks"]:
        b = blocks.get(t["task"])
        if b is None:
            errors.append(f"task {t['task']} not in the table")
            continue
        s = t["site"]
        want = f"{s['func']} ({base(s['file'])}:{s['line']})" if s["line"] else s["func"]
        if b.get("site") != want or b["depth"] != t["depth"]:
            errors.append(f"task {t['task']}: table {b.get('site')!r}/{b['depth']} "
                          f"json {want!r}/{t['depth']}")
        if b.get("name") != json_name(t["name"]):
            errors.append(f"task {t['task']}: name table {b.get('name')!r} "
                          f"json {t['name']!r}")
        frames = [(sym_label(f, f["fn"]), base(f["module"]) or "?", f["root"])
                  for f in t["frames"]]
        if b["frames"] != frames:
            errors.append(f"task {t['task']}: frames table {b['frames']} json {frames}")
        fb = t["fiber"] and {"fiber": t["fiber"]["fiber"],
                             "truncated": t["fiber"]["truncated"],
                             "frames": [(sym_label(f, f["pc"]), base(f["module"]) or "?")
                                        for f in t["fiber"]["frames"]]}
        if b.get("fiber") != fb:
            errors.append(f"task {t['task']}: fiber table {b.get('fiber')} json {fb}")
    if len(blocks) != len(rep["tasks"]):
        errors.append(f"{len(blocks)} tasks in the table, {len(rep['tasks'])} in JSON")
    return report(errors, f"{len(rep['tasks'])} tasks")


def check_record(path):
    rep = json.load(open(path))
    ev = rep["traceEvents"]
    other = rep["otherData"]
    slices = [e for e in ev if e["ph"] == "X"]
    out = {"slices": len(slices), "records": other["records"],
           "dropped": other["dropped"], "sample_shift": other["sample_shift"],
           "threads": sorted({e["tid"] for e in ev if e["ph"] == "M" and
                              e["name"] == "thread_name"}),
           "gap_events": sum(int(e["name"].split()[0]) for e in ev
                             if e["ph"] == "i"),
           "reasons": {}, "names": {}}
    seq_ok, overlaps = True, 0
    by_tid = {}
    for e in slices:
        by_tid.setdefault(e["tid"], []).append(e)
        out["reasons"][e["cat"]] = out["reasons"].get(e["cat"], 0) + 1
        out["names"][e["name"]] = out["names"].get(e["name"], 0) + 1
    for tid, es in by_tid.items():
        seqs = [e["args"]["seq"] for e in es]   # in file order: ring order
        if len(set(seqs)) != len(seqs) or seqs != sorted(seqs):
            seq_ok = False
        es = sorted(es, key=lambda e: (e["ts"], e["args"]["seq"]))
        for a, b in zip(es, es[1:]):
            if a["ts"] + a["dur"] > b["ts"] + 0.002:
                overlaps += 1
    out["seq_ok"] = seq_ok
    out["overlaps"] = overlaps
    out["slice_tids_known"] = all(t in out["threads"] for t in by_tid)
    print(json.dumps(out))
    return 0


def prom_samples(path):
    from prometheus_client.parser import text_string_to_metric_families
    r = {}
    for fam in text_string_to_metric_families(open(path).read()):
        for s in fam.samples:
            r.setdefault(s.name, []).append((s.labels, s.value))
    return r


def main(argv):
    if len(argv) == 4 and argv[1] in ("query", "prom"):
        try:
            load = json.load if argv[1] == "query" else None
            r = load(open(argv[2])) if load else prom_samples(argv[2])
            v = eval(argv[3], {"r": r})
        except Exception as e:      # noqa: BLE001 - report any failure
            print(f"query failed: {e!r}", file=sys.stderr)
            return 1
        plain = isinstance(v, (int, str)) and not isinstance(v, bool)
        print(v if plain else json.dumps(v))
        return 0
    cmps = {"compare-top": compare_top, "compare-hist": compare_hist,
            "compare-blocked": compare_blocked, "compare-dump": compare_dump}
    if len(argv) == 4 and argv[1] in cmps:
        rep = json.load(open(argv[2]))
        return cmps[argv[1]](rep, open(argv[3]).read().splitlines())
    if len(argv) == 3 and argv[1] == "record":
        return check_record(argv[2])
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv))
