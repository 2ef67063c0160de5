"""The Markdown report: tables with ratios, the cold run step by step, memory, the no-op."""

from __future__ import annotations

import datetime
import os
import platform
from collections.abc import Callable, Sequence

from benchmarks.breakdown import phases, totals
from benchmarks.findings import Findings, SizeRun
from benchmarks.measure import Result, Sample, cold, warm_sample
from benchmarks.memory import FillMemory
from benchmarks.workflows import MAKEFILE, PIPMODELS, PIPMODELS_UV, UV_URL
from benchmarks.world import DEPENDENCY


def mb(value: float) -> str:
    return f"{value / 1e6:.1f}"


def ratio(value: float | None, base: float | None) -> str:
    if value is None or base is None:
        return "-"
    if base == 0:
        return "=" if value == 0 else "inf"
    return f"{value / base:.2f}x"


def table(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> list[str]:
    lines = ["| " + " | ".join(headers) + " |", "|" + "|".join("---" for _ in headers) + "|"]
    return lines + ["| " + " | ".join(row) + " |" for row in rows]


def seconds_of(result: Result | None, pick: Callable[[Result], Sample | None]) -> float | None:
    sample = pick(result) if result is not None else None
    return sample.seconds if sample is not None else None


def header(findings: Findings) -> list[str]:
    c = findings.config
    elapsed = datetime.datetime.now(datetime.timezone.utc) - findings.started
    limit = f"{c.bandwidth:g} MB/s per connection" if c.bandwidth > 0 else "without a limit"
    return [
        "# pipmodels benchmark",
        "",
        f"- Date: {findings.started:%Y-%m-%d %H:%M} UTC (took {elapsed.total_seconds():.0f} s)",
        f"- Machine: {platform.machine()}, {os.cpu_count()} CPUs, Python "
        f"{platform.python_version()}, {platform.system()} {platform.release()}",
        "- Tools: " + "; ".join(f"{k} {v}" for k, v in findings.versions.items()),
        f"- Model: {', '.join(f'{s.size_mb:.0f} MB' for s in findings.sizes)} wheels, a "
        f"GitHub-like release asset (302 to a blob URL with GitHub's caching headers) served "
        f"{limit}; the dependency {DEPENDENCY} comes from a local PEP 503 index",
        "- Load average (1 min) at the start and the end: "
        f"{findings.load[0]:.1f}, {os.getloadavg()[0]:.1f}",
        f"- Runs: 1 cold (process tree sampled every 20 ms) + {c.repeat} warm per workflow; "
        "model MB and requests are what the model host served during one run",
        *(f"- Note: {note}" for note in findings.notes),
    ]


RUN_HEADERS = (
    "Workflow",
    "Cold s",
    "x Makefile",
    "x uv",
    "Warm s",
    "x pipmodels",
    "Model MB cold",
    "x model",
    "Model MB warm",
    "Peak RSS MB (cold)",
    "pip / uv cache MB after cold",
)


def run_rows(run: SizeRun) -> list[list[str]]:
    makefile, uv = run.by_name(MAKEFILE), run.by_name(UV_URL)
    base_warm = seconds_of(run.by_name(PIPMODELS), warm_sample)
    rows = []
    for result in run.results:
        cold_sample, warm = cold(result), warm_sample(result)
        if result.error:
            rows.append([result.name, "failed", *["-"] * (len(RUN_HEADERS) - 2)])
            continue
        cold_s = cold_sample.seconds if cold_sample else None
        rows.append(
            [
                result.name,
                f"{cold_s:.2f}" if cold_s is not None else "(as above)",
                ratio(cold_s, seconds_of(makefile, cold)),
                ratio(cold_s, seconds_of(uv, cold)),
                f"{warm.seconds:.2f}" if warm else "-",
                ratio(warm.seconds if warm else None, base_warm),
                mb(cold_sample.model_bytes) if cold_sample else "-",
                ratio(cold_sample.model_bytes, run.wheel_bytes) if cold_sample else "-",
                mb(warm.model_bytes) if warm else "-",
                f"{result.peak_rss / 1e6:.0f} ({result.peak_label})" if cold_sample else "-",
                f"{mb(result.pip_cache)} / {mb(result.uv_cache)}" if cold_sample else "-",
            ]
        )
    return rows


def steps_rows(results: Sequence[Result]) -> list[list[str]]:
    rows = []
    for result in results:
        for label, sample in (("cold", cold(result)), ("warm", warm_sample(result))):
            if sample is not None:
                steps = ", ".join(f"{name} {secs:.2f}" for name, secs in sample.steps)
                rows.append([result.name, label, f"{sample.seconds:.2f}", steps])
    return rows


def size_section(run: SizeRun, repeat: int) -> list[str]:
    return [
        f"## {run.size_mb:.0f} MB model: cold and warm (warm: median of {repeat})",
        "",
        *table(RUN_HEADERS, run_rows(run)),
        "",
        f"Steps, seconds each ({run.size_mb:.0f} MB model):",
        "",
        *table(("Workflow", "Run", "Total s", "Steps s"), steps_rows(run.results)),
    ]


def breakdown_section(results: Sequence[Result], what: str) -> list[str]:
    """The cold run of each pipmodels engine among ``results``, step by step."""
    lines: list[str] = []
    for result in results:
        if result.name not in (PIPMODELS, PIPMODELS_UV) or not result.traces or result.error:
            continue
        name, trace = result.name, result.traces[0][1]
        found = phases(trace, round(result.size_mb * 1e6))
        rows = [[p.name, f"{p.start:.2f}", f"{p.seconds:.2f}", p.note] for p in found]
        summary = ", ".join(f"{k} {v:.2f} s" for k, v in totals(found).items())
        lines += [
            f"## Where a cold `{name}` spends its time ({what})",
            "",
            *table(("Step", "Starts at s", "Seconds", "Notes"), rows),
            "",
            f"Total {trace.end - trace.start:.2f} s: {summary}.",
            "",
        ]
    return lines


def memory_section(found: Sequence[FillMemory], size_mb: float) -> list[str]:
    if not found:
        return []
    rows = [
        [
            f"pip {m.pip}",
            "on" if m.http_cache else "off (PIP_NO_CACHE_DIR=1)",
            f"{m.seconds:.2f}",
            f"{m.peak_rss / 1e6:.0f} ({m.peak_label})",
            mb(m.pip_cache),
            mb(m.model_bytes),
        ]
        for m in found
    ]
    headers = ("pip", "pip's HTTP cache", "Time s", "Peak RSS MB", "pip cache MB after", "Model MB")
    return [
        f"## Memory and disk: cold `pipmodels download` of the {size_mb:.0f} MB model",
        "",
        *table(headers, rows),
    ]


def noop_section(result: Result | None) -> list[str]:
    noop = result.noop if result is not None else None
    if noop is None:
        return []
    base = noop.timings.get("pipmodels sync (warm no-op)")
    timing_rows = [[k, f"{v:.3f}", ratio(v, base)] for k, v in noop.timings.items()]
    packages = list(noop.by_package().items())[:12]
    top = [[name, str(count), f"{us / 1000:.1f}"] for name, (count, us) in packages]
    heavy = ", ".join(
        f"{name} ({count} modules, {us / 1000:.0f} ms)"
        for name, (count, us) in noop.heavy_imports().items()
    )
    return [
        "## The warm no-op beside `uv pip sync` (median of 5 or more)",
        "",
        *table(("Command", "Seconds", "x pipmodels"), timing_rows),
        "",
        f"`python -X importtime -m pipmodels sync` (warm no-op): {len(noop.imports)} modules, "
        f"{noop.import_total_us / 1000:.0f} ms of imports in all. Modules the check should not "
        f"need, imported anyway: {heavy or 'none'}. Import time by top-level package:",
        "",
        *table(("Package", "Modules", "Own import ms"), top),
        "",
        "```",
        "Output of a warm run:",
        *(f"    {line}" for line in noop.said),
        f"Commands started by a warm run with -v ({len(noop.commands)}):",
        *(f"    {line}" for line in noop.commands or ["(none)"]),
        "```",
    ]


def scaling_section(findings: Findings) -> list[str]:
    if not findings.scaling:
        return []
    rows = [
        [
            str(n),
            f"{r.seconds:.2f}",
            f"{r.seconds / n * 1000:.0f}",
            str(r.requests),
            f"{r.listed}/{n}",
        ]
        for n, r in sorted(findings.scaling.items())
    ]
    fill_rows = [
        [
            f"--jobs {j}",
            f"{f.seconds:.2f}",
            ratio(f.seconds, findings.fill[1].seconds if 1 in findings.fill else None),
            f"{f.listed}/4",
        ]
        for j, f in sorted(findings.fill.items())
    ]
    c = findings.config
    return [
        f"## Warm no-op scaling (pipmodels sync, small models; median of {c.repeat})",
        "",
        *table(
            (
                "Models",
                "Time s",
                "ms per model",
                "Model-host requests",
                "On the cache page after the cold sync",
            ),
            rows,
        ),
        "",
        f"## Parallel fill (pipmodels download, 4 x {c.fill_size_mb:g} MB models at "
        f"{c.fill_bandwidth:g} MB/s per connection; median of {c.repeat})",
        "",
        *table(("Jobs", "Time s", "x --jobs 1", "On the cache page after the run"), fill_rows),
    ]


def real_section(results: Sequence[Result]) -> list[str]:
    if not results:
        return []
    rows = []
    for result in results:
        primed = result.primes[0].seconds if result.primes else None
        sample, warm = cold(result), warm_sample(result)
        steps = ", ".join(f"{n} {s:.2f}" for n, s in sample.steps) if sample else result.error
        rows.append(
            [
                result.name,
                f"{primed:.2f}" if primed is not None else "-",
                f"{sample.seconds:.2f}" if sample else "failed",
                f"{warm.seconds:.2f}" if warm else "-",
                steps,
            ]
        )
    return [
        "## Real dependencies: spacy>=3.8,<3.9 from the package index plus a 13 MB model",
        "",
        "Download caches (pip, uv, pip-tools) are shared and kept between runs; the first run "
        "fills them, the cold run is in a fresh venv with a fresh pipmodels cache.",
        "",
        *table(("Workflow", "First run s", "Cold s", "Warm s", "Cold steps s"), rows),
    ]


def render(findings: Findings, targets: Sequence[tuple[str, str, str]]) -> list[str]:
    """The whole report; ``targets`` as (target, measured, verdict) rows."""
    c = findings.config
    lines = [*header(findings), ""]
    for run in findings.sizes:
        lines += [*size_section(run, c.repeat), ""]
    for run in findings.sizes:
        lines += breakdown_section(run.results, f"{run.size_mb:.0f} MB model")
    largest = max(findings.sizes, key=lambda s: s.size_mb) if findings.sizes else None
    if largest is not None:
        lines += [*memory_section(findings.memory, largest.size_mb), ""]
    first = findings.sizes[0].by_name(PIPMODELS) if findings.sizes else None
    lines += [*noop_section(first), ""]
    lines += [*scaling_section(findings), ""]
    lines += [*real_section(findings.real), ""]
    lines += breakdown_section(findings.real, "real dependencies")
    lines += [
        "## Targets (issue 20, and the earlier issues' that still hold)",
        "",
        *table(("Target", "Measured", "Result"), targets),
    ]
    failed = [r for run in findings.sizes for r in run.results if r.error] + [
        r for r in findings.real if r.error
    ]
    for result in failed:
        lines += ["", f"### Failure: {result.name}", "", "```", result.error, "```"]
    return lines
