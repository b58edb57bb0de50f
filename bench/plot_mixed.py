#!/usr/bin/env python3
"""The table and the plot of bench/mixed.sh, from the files it leaves in its work folder.

For each side (loopgate, nginx): mixed-<side>.json (the driver's summary),
mixed-<side>.seconds.csv (per second: answers and p50/p99 latency) and
mixed-<side>.samples.csv (per second: RSS and open fds). Prints a Markdown table on stdout
and writes an SVG with two panels (p50/p99 latency, RSS) over time. Standard library only.

    python3 bench/plot_mixed.py --work DIR --svg OUT.svg
"""

import argparse
import csv
import json
import sys
from xml.sax.saxutils import escape

SIDES = ("loopgate", "nginx")
COLOURS = {"loopgate": "#1f77b4", "nginx": "#d62728"}


def read_csv(path):
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def load(work, side):
    summary = json.load(open(f"{work}/mixed-{side}.json"))
    seconds = read_csv(f"{work}/mixed-{side}.seconds.csv")
    samples = read_csv(f"{work}/mixed-{side}.samples.csv")
    return summary, seconds, samples


def table(data):
    rows = []

    def row(metric, values, fmt, ratio=True):
        lg, nx = values
        r = f"{lg / nx:.2f}" if ratio and nx else ""
        rows.append((metric, fmt.format(lg), fmt.format(nx), r))

    s = {side: data[side][0] for side in SIDES}
    row("answers/s (all kinds)", [s[x]["requests_per_s"] for x in SIDES], "{:,.0f}")
    row("expected answers/s (201 allowed, 403 denied)", [s[x]["expected_per_s"] for x in SIDES], "{:,.0f}")
    row("body MB/s (10^6 B of 201s)", [s[x]["body_mb_per_s"] for x in SIDES], "{:,.1f}")
    for q in ("p50", "p99", "p999"):
        row(f"latency {q}, all kinds (ms)", [s[x]["all"][f"{q}_ms"] for x in SIDES], "{:.2f}")
    for kind in ("small", "denied", "large"):
        for q in ("p50", "p99", "p999"):
            row(f"latency {q}, {kind} (ms)", [s[x]["kinds"][kind][f"{q}_ms"] for x in SIDES], "{:.2f}")
    peak = lambda side, key: max((int(r[key]) for r in data[side][2] if r[key]), default=0)
    row("RSS peak (MiB)", [peak(x, "rss_kb") / 1024 for x in SIDES], "{:,.1f}")
    row("open fds peak", [peak(x, "fds") for x in SIDES], "{:,.0f}")
    answered = lambda side: (s[side]["all"]["expected"], s[side]["all"]["count"])
    rows.append(("expected answers / all requests", *(f"{a:,}/{b:,}" for a, b in map(answered, SIDES)), ""))
    out = ["| metric | loopgate | nginx | ratio (loopgate/nginx) |", "|---|---:|---:|---:|"]
    out += ["| " + " | ".join(r) + " |" for r in rows]
    for side in SIDES:
        for kind, k in s[side]["kinds"].items():
            others = {code: n for code, n in k["statuses"].items() if int(code) != k["expected_status"]}
            if others:
                out.append(f"\n- {side}, {kind}: answers other than {k['expected_status']}: {others}"
                           " (0: no answer, the driver reconnected)")
    return "\n".join(out)


def panel(x0, y0, w, h, title, unit, series, x_max):
    """An SVG panel: axes, ticks and one polyline per (label, colour, dash, points)."""
    y_max = max((y for *_, pts in series for _, y in pts), default=1.0) or 1.0
    y_max *= 1.1
    sx = lambda x: x0 + x / x_max * w
    sy = lambda y: y0 + h - y / y_max * h
    parts = [f'<text x="{x0}" y="{y0 - 8}" font-size="13" font-weight="bold">{escape(title)}</text>',
             f'<rect x="{x0}" y="{y0}" width="{w}" height="{h}" fill="none" stroke="#999"/>']
    for i in range(5):
        y = y_max * i / 4
        parts.append(f'<line x1="{x0}" y1="{sy(y):.1f}" x2="{x0 + w}" y2="{sy(y):.1f}" stroke="#eee"/>')
        parts.append(f'<text x="{x0 - 6}" y="{sy(y) + 4:.1f}" font-size="10" text-anchor="end">{y:,.1f}</text>')
    for i in range(6):
        x = x_max * i / 5
        parts.append(f'<text x="{sx(x):.1f}" y="{y0 + h + 14}" font-size="10" text-anchor="middle">{x:,.0f}</text>')
    parts.append(f'<text x="{x0 + w / 2}" y="{y0 + h + 28}" font-size="11" text-anchor="middle">seconds</text>')
    parts.append(f'<text x="{x0 - 48}" y="{y0 + h / 2}" font-size="11" text-anchor="middle" '
                 f'transform="rotate(-90 {x0 - 48} {y0 + h / 2})">{escape(unit)}</text>')
    for n, (label, colour, dash, pts) in enumerate(series):
        if pts:
            path = " ".join(f"{sx(x):.1f},{sy(y):.1f}" for x, y in pts)
            parts.append(f'<polyline points="{path}" fill="none" stroke="{colour}" stroke-width="1.5" '
                         f'stroke-dasharray="{dash}"/>')
        ly = y0 + 14 + 14 * n
        parts.append(f'<line x1="{x0 + w - 150}" y1="{ly - 4}" x2="{x0 + w - 130}" y2="{ly - 4}" '
                     f'stroke="{colour}" stroke-width="2" stroke-dasharray="{dash}"/>')
        parts.append(f'<text x="{x0 + w - 125}" y="{ly}" font-size="11">{escape(label)}</text>')
    return parts


def svg(data):
    latency, rss = [], []
    x_max = 1.0
    for side in SIDES:
        _, seconds, samples = data[side]
        c = COLOURS[side]
        p50 = [(int(r["second"]) + 0.5, int(r["p50_us"]) / 1000) for r in seconds]
        p99 = [(int(r["second"]) + 0.5, int(r["p99_us"]) / 1000) for r in seconds]
        mem = [(float(r["t"]), int(r["rss_kb"]) / 1024) for r in samples if r["rss_kb"]]
        latency += [(f"{side} p50", c, "", p50), (f"{side} p99", c, "5,3", p99)]
        rss.append((f"{side} RSS", c, "", mem))
        x_max = max([x_max] + [x for x, _ in p50 + mem])
    w, h = 720, 220
    parts = ['<svg xmlns="http://www.w3.org/2000/svg" width="840" height="600" font-family="sans-serif">',
             '<rect width="100%" height="100%" fill="white"/>']
    parts += panel(90, 40, w, h, "Latency per second (mixed load)", "ms", latency, x_max)
    parts += panel(90, 340, w, h, "Resident memory", "MiB", rss, x_max)
    parts.append("</svg>")
    return "\n".join(parts) + "\n"


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--work", required=True, help="bench/mixed.sh's work folder")
    ap.add_argument("--svg", required=True, help="where to write the plot")
    args = ap.parse_args()
    try:
        data = {side: load(args.work, side) for side in SIDES}
    except (OSError, ValueError, KeyError) as e:
        sys.exit(f"plot_mixed.py: cannot read the run in {args.work}: {e}")
    with open(args.svg, "w") as f:
        f.write(svg(data))
    print(table(data))


if __name__ == "__main__":
    main()
