#!/usr/bin/env python3
"""The table and the plot of bench/soak.sh, from the files it leaves in its work folder.

For each side: soak-<side>.csv (time, transfers so far, RSS in KiB) and soak.env (the runs'
answers and seconds, and loopgate's restart). Prints a Markdown table on stdout (RSS at 100k, 1M
and 2M transfers, the restart) and writes a PNG of RSS against transfers, the sides on the same
axes.

    python3 bench/plot_soak.py --work DIR --png OUT.png --sides loopgate nginx
"""

import argparse
import csv

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

COLOURS = {"loopgate": "#1f77b4", "nginx": "#d62728"}
MILESTONES = (100_000, 1_000_000, 2_000_000)


def samples(work, side):
    with open(f"{work}/soak-{side}.csv", newline="") as f:
        return [(int(r["transfers"]), int(r["rss_kib"])) for r in csv.DictReader(f)]


def env(work):
    values = {}
    for line in open(f"{work}/soak.env"):
        for pair in line.split():
            key, _, value = pair.partition("=")
            values[key] = value
    return values


def at(points, transfers):
    """RSS (MiB) of the first sample at or after `transfers` transfers, or None."""
    for done, rss in points:
        if done >= transfers:
            return rss / 1024
    return None


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--work", required=True)
    parser.add_argument("--png", required=True)
    parser.add_argument("--sides", nargs="+", default=["loopgate", "nginx"])
    args = parser.parse_args()
    e = env(args.work)
    data = {side: samples(args.work, side) for side in args.sides}

    def cell(v):
        return "-" if v is None else f"{v:.1f}"

    print("| RSS (MiB) | start | " + " | ".join(f"{m:,} transfers" for m in MILESTONES) + " | end |")
    print("|---|" + "---|" * (len(MILESTONES) + 2))
    for side, points in data.items():
        row = [cell(points[0][1] / 1024)] + [cell(at(points, m)) for m in MILESTONES]
        row.append(f"{points[-1][1] / 1024:.1f} ({points[-1][0]:,})")
        print(f"| {side} | " + " | ".join(row) + " |")
    print()
    for side in args.sides:
        if f"{side}_ok" in e:
            print(f"- {side}: {int(e[f'{side}_ok']):,} answered 201, {e[f'{side}_bad']} otherwise, "
                  f"{e[f'{side}_rps']}/s over {e[f'{side}_seconds']} s")
    for name, what in (("restart", "restart over that log"), ("rebuild", "start with data/index deleted")):
        if f"{name}_ready_s" in e:
            print(f"- loopgate {what}: ready in {e[f'{name}_ready_s']} s, "
                  f"{e.get(f'{name}_replayed', '?')} of {e.get(f'{name}_log_size', '?')} records replayed "
                  f"into the views, RSS {int(e[f'{name}_rss_kib']) / 1024:.1f} MiB two seconds after")

    fig, ax = plt.subplots(figsize=(9, 5))
    for side, points in data.items():
        ax.plot([p[0] / 1e6 for p in points], [p[1] / 1024 for p in points],
                label=side, color=COLOURS.get(side), marker=".", markersize=3)
    ax.set_xlabel("transfers done (millions, 1 KiB each)")
    ax.set_ylabel("RSS (MiB)")
    ax.set_ylim(bottom=0)
    ax.set_title("RSS against the log's history: 1 KiB transfers on 64 connections")
    ax.grid(True, alpha=0.3)
    ax.legend()
    fig.tight_layout()
    fig.savefig(args.png, dpi=110)


if __name__ == "__main__":
    main()
