"""Figures per run, ratios between setups of the same run, and the written report."""

from __future__ import annotations

import json
import statistics
from pathlib import Path


def pct(values: list[float], p: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, round(p / 100 * (len(values) - 1)))] if values else float("nan")


def summarize(label: str, delay: float, result: dict, top: int | None, sequence: str) -> dict:
    run = {"setup": label, "delay_ms": delay, "sequence": sequence}
    if "error" in result:
        return run | {"error": result["error"]}
    rows = result["rows"]
    # The first tile opens the image; "new" tiles are first visits after it.
    seen, new, full = set(), [], []
    for i, row in enumerate(rows):
        key = tuple(row[:3])
        if i and key not in seen:
            new.append(row)
            if row[0] == top:
                full.append(row)
        seen.add(key)
    # Latency and CPU of the tiles after the first: the first is the cold start, reported apart.
    later = rows[1:] or rows
    ms, cpu = [r[3] for r in later], [r[4] for r in later]
    run |= {
        "tiles": len(rows),
        "open_gets": rows[0][5],
        "open_kib": rows[0][6] / 1024,
        "heads": sum(r[7] for r in rows),
        "gets_per_tile": statistics.mean(r[5] for r in new) if new else float("nan"),
        "gets_max": max((r[5] for r in new), default=0),
        "kib_per_tile": statistics.mean(r[6] for r in new) / 1024 if new else float("nan"),
        "full_gets_per_tile": statistics.mean(r[5] for r in full) if full else None,
        "full_bytes_ratio": statistics.mean(r[6] / r[8] for r in full) if full else None,
        "p50_ms": pct(ms, 50),
        "p95_ms": pct(ms, 95),
        "p99_ms": pct(ms, 99),
        "cpu_ms": statistics.mean(cpu),
        "cold_ms": result["cold_s"] * 1000,
        "peak_rss_mb": result["peak_rss_mb"],
        "latencies": ms,
    }
    repeat = result.get("repeat") or {}
    if repeat:
        run |= {
            "warm_p50_ms": pct(repeat["ms"], 50),
            "warm_tiles_per_s": len(repeat["ms"]) / repeat["wall_s"],
            "warm_gets": repeat["gets"],
        }
    return run


def one_line(run: dict) -> str:
    if "error" in run:
        return f"  {run['setup']:38s} +{run['delay_ms']:g} ms: FAILED {run['error']}"
    warm = f", warm p50 {run['warm_p50_ms']:.2f} ms" if "warm_p50_ms" in run else ""
    return (
        f"  {run['setup']:38s} +{run['delay_ms']:g} ms: {run['tiles']} tiles, p50 {run['p50_ms']:.2f} ms, "
        f"GETs/new tile {run['gets_per_tile']:.2f}, open {run['open_gets']} GETs, "
        f"RSS {run['peak_rss_mb']:.0f} MiB{warm}"
    )


def _f(value, digits=2) -> str:
    if value is None or value != value:  # None or NaN
        return "–"
    return f"{value:,.{digits}f}"


COLUMNS = [
    ("tiles", "tiles", 0),
    ("open GETs", "open_gets", 0),
    ("GETs / new tile (max)", None, None),
    ("KiB / new tile", "kib_per_tile", 1),
    ("GETs / new full-res tile", "full_gets_per_tile", 3),
    ("bytes read ÷ tile bytes (full-res)", "full_bytes_ratio", 2),
    ("p50 ms", "p50_ms", 2),
    ("p95 ms", "p95_ms", 1),
    ("p99 ms", "p99_ms", 1),
    ("CPU ms / tile", "cpu_ms", 2),
    ("cold start → first tile ms", "cold_ms", 0),
    ("warm p50 ms", "warm_p50_ms", 2),
    ("warm tiles/s (1 core)", "warm_tiles_per_s", 0),
    ("peak RSS MiB", "peak_rss_mb", 0),
]


def table(runs: list[dict]) -> list[str]:
    lines = ["| setup | " + " | ".join(c[0] for c in COLUMNS) + " |", "|---" * (len(COLUMNS) + 1) + "|"]
    for run in runs:
        if "error" in run:
            lines.append(f"| {run['setup']} | not run: {run['error']} |" + " |" * (len(COLUMNS) - 1))
            continue
        cells = []
        for _, key, digits in COLUMNS:
            if key is None:
                cells.append(f"{_f(run['gets_per_tile'])} ({run['gets_max']})")
            else:
                cells.append(_f(run.get(key), digits))
        lines.append(f"| {run['setup']} | " + " | ".join(cells) + " |")
    return lines


RATIO_PEERS = ["gigatile, re-encoding", "rio-tiler on the COG", "static dzsave tiles", "naive source"]


def _ratio(a, b) -> str:
    return _f(a / b, 3) if a is not None and b else "–"


def ratios(runs: list[dict]) -> list[str]:
    """gigatile ÷ each peer at the same delay: p50 latency, GETs and KiB per new tile."""
    lines = ["| delay | ratio | p50 latency | GETs / new tile | KiB / new tile | CPU / tile |", "|---" * 6 + "|"]
    for delay in sorted({r["delay_ms"] for r in runs}):
        at = {r["setup"]: r for r in runs if r["delay_ms"] == delay and "error" not in r}
        pairs = [("gigatile", peer) for peer in RATIO_PEERS]
        pairs += [("gigatile on the COG", "rio-tiler on the COG")]
        pairs += [("gigatile on the COG, re-encoding", "rio-tiler on the COG")]
        pairs += [("gigatile (baseline JPEG)", "whole-object + Pillow (baseline JPEG)")]
        for mine, peer in pairs:
            if mine in at and peer in at:
                a, b = at[mine], at[peer]
                lines.append(
                    f"| +{delay:g} ms | {mine} ÷ {peer} | {_ratio(a['p50_ms'], b['p50_ms'])} | "
                    f"{_ratio(a['gets_per_tile'], b['gets_per_tile'])} | "
                    f"{_ratio(a['kib_per_tile'], b['kib_per_tile'])} | {_ratio(a['cpu_ms'], b['cpu_ms'])} |"
                )
    return lines


def targets(runs: list[dict]) -> list[str]:
    """Each target of the benchmark issue, computed from this run: figure, goal, met or not."""
    at = {(r["setup"], r["delay_ms"]): r for r in runs if "error" not in r}

    def get(setup, key, delay=0.0):
        return at.get((setup, delay), {}).get(key)

    rows = []

    def check(name, value, goal, ok, digits=3):
        met = "–" if value is None or goal is None else ("met" if ok(value, goal) else "**missed**")
        rows.append(f"| {name} | {_f(value, digits)} | {_f(goal, digits)} | {met} |")

    le = lambda a, b: a <= b  # noqa: E731
    check("GETs / new full-res tile, pyramid (≤ 1.05)", get("gigatile", "full_gets_per_tile"), 1.05, le)
    check(
        "GETs / new full-res tile, COG (≤ rio-tiler's)",
        get("gigatile on the COG", "full_gets_per_tile"),
        get("rio-tiler on the COG", "full_gets_per_tile"),
        le,
    )
    check(
        "GETs to open the COG (≤ rio-tiler's)",
        get("gigatile on the COG", "open_gets"),
        get("rio-tiler on the COG", "open_gets"),
        le,
        0,
    )
    heads = sum(r.get("heads", 0) for r in runs if r["setup"].startswith("gigatile") and "error" not in r)
    check("HEAD requests by gigatile, all runs (0)", heads, 0, le, 0)
    check("bytes read ÷ tile bytes, new full-res tile (≤ 2)", get("gigatile", "full_bytes_ratio"), 2, le, 2)
    check(
        "KiB / new tile on the COG (≤ rio-tiler's)",
        get("gigatile on the COG", "kib_per_tile"),
        get("rio-tiler on the COG", "kib_per_tile"),
        le,
        1,
    )
    rio = get("rio-tiler on the COG", "p50_ms")
    check(
        "p50 re-encoding on the COG ÷ rio-tiler's, +0 ms (≤ 0.7)",
        (get("gigatile on the COG, re-encoding", "p50_ms") or 0) / rio if rio else None,
        0.7,
        le,
    )
    check(
        "p50 with pass-through on the COG ÷ rio-tiler's, +0 ms (≤ 0.3)",
        (get("gigatile on the COG", "p50_ms") or 0) / rio if rio else None,
        0.3,
        le,
    )
    round_trip, render = get("static dzsave tiles", "p50_ms", 20.0), get("gigatile", "warm_p50_ms", 20.0)
    check(
        "p50 at +20 ms (≤ one GET's p50 + warm p50 + 1 ms)",
        get("gigatile", "p50_ms", 20.0),
        round_trip + render + 1 if round_trip and render else None,
        le,
        2,
    )
    check("warm p50 from cached bytes, re-encoding, ms (≤ 2)", get("gigatile, re-encoding", "warm_p50_ms"), 2, le, 2)
    giant = [r for r in runs if "px square" in r["setup"] and "error" not in r]
    for r in giant:
        check(f"peak RSS MiB, {r['setup']} (≤ 250 MB = 238 MiB)", r["peak_rss_mb"], 250e6 / 2**20, le, 0)
    check("cold start → first tile, ms (≤ 800)", get("gigatile", "cold_ms"), 800, le, 0)
    return ["| target | this run | goal | |", "|---|---|---|---|", *rows]


def chart(path: Path, runs: list[dict]) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    ok = [r for r in runs if "error" not in r]
    delays = sorted({r["delay_ms"] for r in ok})
    fig, axes = plt.subplots(1, len(delays) + 1, figsize=(6 * (len(delays) + 1), 6))
    for ax, delay in zip(axes, delays, strict=False):
        at = [r for r in ok if r["delay_ms"] == delay]
        ax.boxplot([r["latencies"] for r in at], vert=False, showfliers=False)
        ax.set_yticks(range(1, len(at) + 1), [r["setup"] for r in at], fontsize=7)
        ax.set_xscale("log")
        ax.set_xlabel("ms per tile (log)")
        ax.set_title(f"latency, +{delay:g} ms per S3 request")
    at = [r for r in ok if r["delay_ms"] == delays[0]]
    axes[-1].barh([r["setup"] for r in at], [r["gets_per_tile"] for r in at])
    axes[-1].set_xscale("log")
    axes[-1].set_xlabel("S3 GETs per new tile (log)")
    axes[-1].tick_params(axis="y", labelsize=7)
    axes[-1].set_title("S3 requests")
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)


# Sections other commands write into benchmarks.md (`make bench` runs them after `tiles`);
# rewriting the tiles report keeps them.
SECTIONS = ("iipsrv", "request-path", "cold-start")


def markers(name: str) -> tuple[str, str]:
    return f"<!-- {name}: begin -->", f"<!-- {name}: end -->"


def kept_sections(path: Path) -> list[str]:
    text = path.read_text() if path.exists() else ""
    kept = []
    for name in SECTIONS:
        begin, end = markers(name)
        if begin in text and end in text:
            kept.append(text[text.index(begin) : text.index(end) + len(end)])
    return kept


def replace_section(path: Path, name: str, lines: list[str]) -> None:
    """Put a command's section in place of its previous one, or at the end."""
    text = path.read_text() if path.exists() else "# Benchmarks\n"
    begin, end = markers(name)
    block = "\n".join([begin, *lines, end])
    if begin in text and end in text:
        text = text[: text.index(begin)] + block + text[text.index(end) + len(end) :]
    else:
        text = text.rstrip("\n") + "\n\n" + block + "\n"
    path.write_text(text)


def write(out: Path, runs: list[dict], context: dict) -> None:
    out.mkdir(parents=True, exist_ok=True)
    data = {"context": context, "runs": [{k: v for k, v in r.items() if k != "latencies"} for r in runs]}
    (out / "benchmarks.json").write_text(json.dumps(data, indent=1) + "\n")
    chart(out / "benchmarks.png", runs)
    sizes = ", ".join(f"{k} {v / 2**20:,.0f} MiB" for k, v in context["sizes"].items())
    lines = [
        "# Benchmarks",
        "",
        f"Made by `{context['command']}` in {context['seconds']} s on {context['machine']}; "
        f"S3 server: {context['s3']} on loopback behind the counting proxy. Image {context['image']} "
        f"(files: {sizes}); whole-object setups use the {context['baseline']} baseline JPEG.",
        "Every setup runs in a fresh process pinned to one core, over the same random tiles "
        f"(seed {context['args']['seed']}, uniform over levels); the first tile opens the image "
        "(cold start, open GETs), later first visits are *new* tiles. *warm* serves the same "
        "sequence again in the same process. Latency is in-process time per tile (encoded bytes "
        "out), except *over HTTP* (uvicorn on loopback, one kept-alive connection).",
        "",
    ]
    for delay in sorted({r["delay_ms"] for r in runs}):
        lines += [f"## +{delay:g} ms per S3 request", ""]
        lines += table([r for r in runs if r["delay_ms"] == delay]) + [""]
    lines += ["## Ratios (same run, same delay)", ""] + ratios(runs) + [""]
    lines += ["## Targets", ""] + targets(runs) + [""]
    whole = context["whole_object_pyramid_bytes"]
    lines += [
        "## Not run",
        "",
        f"- whole-object + Pillow on the {context['image']} pyramid: decoding it needs "
        f"{whole / 2**30:.1f} GiB of pixels (plus the {context['sizes']['pyramid'] / 2**20:,.0f} MiB "
        "download), over a 1,769 MB Lambda; it was measured on the baseline JPEG instead.",
        "",
        "![latency and GETs per setup](benchmarks.png)",
        "",
    ]
    kept = kept_sections(out / "benchmarks.md")
    (out / "benchmarks.md").write_text("\n".join(lines) + "".join(f"\n{block}\n" for block in kept))
