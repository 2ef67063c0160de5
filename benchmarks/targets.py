"""Issue 20's targets (and earlier issues' that still hold), checked against one run's findings."""

from __future__ import annotations

from dataclasses import dataclass

from benchmarks.findings import Findings, SizeRun
from benchmarks.measure import cold, warm_sample
from benchmarks.noop import INSTALLED
from benchmarks.report import seconds_of
from benchmarks.workflows import MAKEFILE, PIPMODELS, PIPMODELS_UV, UV_URL

RSS_LIMIT = 200e6


@dataclass(frozen=True)
class Target:
    name: str
    measured: str
    passed: bool | None  # None: not measured


def verdict(passed: bool | None) -> str:
    return "not measured" if passed is None else "PASS" if passed else "FAIL"


def share(name: str, value: float | None, base: float | None, limit: float) -> Target:
    if value is None or base is None or base == 0:
        return Target(name, "-", None)
    return Target(
        name, f"{value / base:.2f}x ({value:.2f} s vs {base:.2f} s)", value / base <= limit
    )


def cold_targets(run: SizeRun) -> list[Target]:
    size = f"{run.size_mb:.0f} MB"
    makefile = seconds_of(run.by_name(MAKEFILE), cold)
    uv = seconds_of(run.by_name(UV_URL), cold)
    engine_uv = seconds_of(run.by_name(PIPMODELS_UV), cold)
    found = [
        share(
            f"{size}: cold, pip-tools engine <= 0.8x the Makefile workflow",
            seconds_of(run.by_name(PIPMODELS), cold),
            makefile,
            0.8,
        ),
        share(f"{size}: cold, uv engine <= 0.5x the Makefile workflow", engine_uv, makefile, 0.5),
        share(f"{size}: cold, uv engine <= 2x plain uv", engine_uv, uv, 2.0),
    ]
    for name in (PIPMODELS, PIPMODELS_UV):
        result = run.by_name(name)
        sample = cold(result) if result else None
        label = f"{size}: model bytes exactly 1x on a cold `{name}`"
        if sample is None:
            found.append(Target(label, "-", None))
            continue
        served = sample.model_bytes
        measured = f"{served / run.wheel_bytes:.2f}x ({served:,} of {run.wheel_bytes:,} B)"
        found.append(Target(label, measured, served == run.wheel_bytes))
    return found


def memory_targets(findings: Findings) -> list[Target]:
    """The largest model: the pipmodels tree under 200 MB, and no copy in pip's cache."""
    if not findings.sizes:
        return []
    run = max(findings.sizes, key=lambda s: s.size_mb)
    size = f"{run.size_mb:.0f} MB"
    result = run.by_name(PIPMODELS)
    if result is None or result.cold is None:
        return []
    peaks = [(f"pip {m.pip}, HTTP cache on", m.peak_rss) for m in findings.memory if m.http_cache]
    peaks.append(("the cold sync", result.peak_rss))
    worst = max(peaks, key=lambda p: p[1])
    rss = Target(
        f"{size}: largest process of the pipmodels tree < 200 MB resident",
        f"{worst[1] / 1e6:.0f} MB at the most ({worst[0]}; {result.peak_label} in the cold sync)",
        worst[1] < RSS_LIMIT,
    )
    copy = Target(
        f"{size}: no second copy of the model in pip's cache after a cold sync",
        f"{result.pip_cache / 1e6:.1f} MB in PIP_CACHE_DIR",
        result.pip_cache < run.wheel_bytes / 10,
    )
    return [rss, copy]


def noop_targets(findings: Findings) -> list[Target]:
    first = findings.sizes[0].by_name(PIPMODELS) if findings.sizes else None
    noop = first.noop if first else None
    found = []
    if noop is not None:
        timings = noop.timings
        uv = timings.get("uv pip sync (same requirements.txt)")
        for label, key in (
            ("", "pipmodels sync (warm no-op)"),
            (", installed as users install it", INSTALLED),
        ):
            name = f"warm no-op{label} <= `uv pip sync` of the same requirements"
            found.append(share(name, timings.get(key), uv, 1.0))
    warm_requests = [
        s.model_requests
        for run in findings.sizes
        for r in run.results
        if r.name in (PIPMODELS, PIPMODELS_UV)
        for s in r.warm
    ] + [r.requests for r in findings.scaling.values()]
    name = "zero requests to the model host on a pipmodels warm run"
    found.append(
        Target(name, f"at most {max(warm_requests)} per warm run", max(warm_requests) == 0)
        if warm_requests
        else Target(name, "-", None)
    )
    return found


def fill_targets(findings: Findings) -> list[Target]:
    fill = findings.fill
    if 1 not in fill or 4 not in fill:
        return []
    name = "parallel fill (--jobs 4) <= 0.5x serial (--jobs 1)"
    found = [share(name, fill[4].seconds, fill[1].seconds, 0.5)]
    found.append(
        Target(
            "the cache page lists all 4 models after every parallel fill",
            f"{fill[4].listed}/4 at the fewest",
            fill[4].listed == 4,
        )
    )
    if findings.scaling:
        found.append(
            Target(
                "the cache page lists every model after the scaling runs' cold sync",
                ", ".join(f"{r.listed}/{n}" for n, r in sorted(findings.scaling.items())),
                all(r.listed == n for n, r in findings.scaling.items()),
            )
        )
    return found


def real_targets(findings: Findings) -> list[Target]:
    """spaCy's real tree, warm: each engine's no-op within 2x of `uv pip sync` alone."""
    by_name = {r.name: r for r in findings.real}
    uv = by_name.get(UV_URL)
    uv_sample = warm_sample(uv) if uv else None
    uv_sync = (
        next((s for label, s in uv_sample.steps if label == "uv pip sync"), None)
        if uv_sample
        else None
    )
    found = []
    for name in (PIPMODELS, PIPMODELS_UV):
        result = by_name.get(name)
        if result is None:
            continue
        label = f"real spaCy tree: warm `{name}` <= 2x `uv pip sync` of the same lock"
        found.append(share(label, seconds_of(result, warm_sample), uv_sync, 2.0))
    return found


def all_targets(findings: Findings) -> list[Target]:
    found = [t for run in findings.sizes for t in cold_targets(run)]
    found += memory_targets(findings) + noop_targets(findings) + fill_targets(findings)
    return found + real_targets(findings)
