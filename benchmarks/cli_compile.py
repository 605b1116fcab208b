"""Compile time of every `jaxmf` command: a first run against a fresh persistent compilation cache,
then the same command again (the cache warm), and once with --no-cache, each in its own process.

    python benchmarks/cli_compile.py [--only compare bifurcation ...] [--repeats 1] [--json F]

Each command is small (short t1, small n) so that compiling dominates, as it does for a user's
first look. "compile s" and "run s" are what the command itself reports on its last line (jax's
tracing, lowering and XLA compilation or cache reads, and the rest of the time after the command
started); "wall s" is the whole process, Python and jax start-up included. The peer of a repeated
run is the first run and the --no-cache run in the same table ("x first": first wall / this wall).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

_LINE = re.compile(r"time: compile ([0-9.]+) s, run ([0-9.]+) s")

SWEEP_TOML = """\
preset = "chen_campbell_2022"
model = "meanfield"
observables = ["regime", "r_mean"]
plot = false
[grid]
design = "product"
eta_bar = { start = 0.0, stop = 0.3, num = 8 }
w_jump = { start = 0.005, stop = 0.05, num = 8 }
[options]
t1 = 400.0
"""


def commands(work: Path) -> dict[str, list[str]]:
    common = ["--no-plot", "--quiet", "--out", str(work / "out")]
    return {
        "simulate": ["simulate", "--n", "2000", "--t1", "100", *common],
        "meanfield": ["meanfield", "--t1", "800", *common],
        "compare": ["compare", "--n", "2000", "--t1", "300", *common],
        "bifurcation": ["bifurcation", "--preset", "rounded", "--param", "eta_bar", *common],
        "fit": [
            "fit",
            "--target",
            str(work / "out" / "meanfield.npz"),
            "--set",
            "eta_bar=0.11",
            *common,
            "--name",
            "fit",
        ],
        "sweep": ["sweep", str(work / "sweep.toml"), "--overwrite", *common],
    }


def run(argv: list[str], cache: Path, *extra: str) -> dict:
    env = {**os.environ, "JAXMF_CACHE_DIR": str(cache)}
    env.pop("JAXMF_NO_CACHE", None)
    t0 = time.perf_counter()
    proc = subprocess.run(
        [sys.executable, "-m", "jaxmf", *argv, *extra],
        env=env,
        capture_output=True,
        text=True,
        timeout=1800,
    )
    wall = time.perf_counter() - t0
    found = _LINE.findall(proc.stdout)
    if proc.returncode != 0 or not found:
        tail = (proc.stderr.strip() or proc.stdout.strip())[-300:]
        raise RuntimeError(f"jaxmf {' '.join(argv)} failed ({proc.returncode}): {tail}")
    compile_s, run_s = map(float, found[-1])
    return {"wall_s": wall, "compile_s": compile_s, "run_s": run_s}


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--only", nargs="+", help="commands to measure (default all)")
    ap.add_argument("--repeats", type=int, default=1, help="repeated (warm) runs, median shown")
    ap.add_argument("--json", type=Path, help="also write the rows here")
    args = ap.parse_args(argv)
    work = Path(tempfile.mkdtemp(prefix="jaxmf-cli-compile-"))
    (work / "sweep.toml").write_text(SWEEP_TOML)
    table = commands(work)
    names = args.only or list(table)
    # fit reads the trace that meanfield writes
    if "fit" in names and "meanfield" not in names:
        run(table["meanfield"], work / "scratch-cache", "--no-cache")
    print(f"# {os.cpu_count()} cores; each row its own process; cache folders fresh under {work}")
    print(
        f"{'command':12s} {'run':9s} {'wall s':>7s} {'compile s':>9s} {'run s':>7s} "
        f"{'x first':>7s}  cache"
    )
    rows = []
    try:
        for name in names:
            cache = work / f"cache-{name}"
            first = run(table[name], cache)
            entries = sum(1 for _ in cache.iterdir()) if cache.exists() else 0
            warm = [run(table[name], cache) for _ in range(max(1, args.repeats))]
            repeated = {
                k: statistics.median(w[k] for w in warm) for k in ("wall_s", "compile_s", "run_s")
            }
            off = run(table[name], work / f"unused-{name}", "--no-cache")
            for label, r, note in (
                ("first", first, f"{entries} entries written"),
                ("repeated", repeated, "read back"),
                ("no-cache", off, "off"),
            ):
                ratio = first["wall_s"] / r["wall_s"]
                print(
                    f"{name:12s} {label:9s} {r['wall_s']:7.2f} {r['compile_s']:9.2f} "
                    f"{r['run_s']:7.2f} {ratio:7.2f}  {note}",
                    flush=True,
                )
                rows.append({"command": name, "run": label, **r})
    finally:
        shutil.rmtree(work, ignore_errors=True)
    if args.json:
        args.json.write_text(json.dumps(rows, indent=1))


if __name__ == "__main__":
    main()
