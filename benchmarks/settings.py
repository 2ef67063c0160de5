"""The benchmark's settings, from its command line."""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from benchmarks.realdeps import DEFAULT_CACHE


@dataclass(frozen=True)
class Config:
    sizes_mb: tuple[float, ...]
    repeat: int
    bandwidth: float  # MB/s per connection from the model host; 0: as fast as it goes
    scaling: tuple[int, ...]
    fill_size_mb: float
    fill_bandwidth: float
    keep: bool
    memory: bool  # the pip-version x HTTP-cache matrix at the largest size
    real_deps: bool
    real_deps_cache: Path


def sizes(text: str) -> tuple[float, ...]:
    try:
        values = tuple(float(part) for part in text.split(",") if part.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a list of sizes: {text!r}") from None
    if not values or min(values) <= 0:
        raise argparse.ArgumentTypeError("sizes must be positive")
    return values


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m benchmarks",
        description="Compare pipmodels with pip, pip-tools, the blog's Makefile and uv on local "
        "throttled servers. Markdown results on stdout, progress on stderr.",
    )
    add = p.add_argument
    add("--size-mb", type=sizes, help="Model wheel sizes, comma-separated [50; 5 with --quick].")
    add("--repeat", type=int, help="Warm runs per workflow [3; 1 with --quick].")
    add(
        "--bandwidth",
        type=float,
        default=50.0,
        help="Model host MB/s per connection; 0 for no limit [50].",
    )
    add("--quick", action="store_true", help="Small model, one warm run, scaling 1 and 10 only.")
    add("--keep", action="store_true", help="Keep the scratch folders (their path is printed).")
    add(
        "--no-memory",
        action="store_true",
        help="Skip the memory runs (two pips x HTTP cache on/off at the largest size).",
    )
    add("--no-scaling", action="store_true", help="Skip the no-op scaling and parallel fill.")
    add(
        "--real-deps",
        action="store_true",
        help="Also measure spaCy's real dependency tree from the package index.",
    )
    add(
        "--real-deps-cache",
        type=Path,
        default=DEFAULT_CACHE,
        help=f"Download caches kept between --real-deps runs [{DEFAULT_CACHE}].",
    )
    return p


def parse_config(argv: Sequence[str] | None) -> Config:
    args = parser().parse_args(argv)
    quick = bool(args.quick)
    return Config(
        sizes_mb=args.size_mb or ((5.0,) if quick else (50.0,)),
        repeat=max(1, args.repeat if args.repeat is not None else 1 if quick else 3),
        bandwidth=args.bandwidth,
        scaling=() if args.no_scaling else (1, 10) if quick else (1, 10, 50),
        fill_size_mb=0.0 if args.no_scaling else 4.0 if quick else 8.0,
        fill_bandwidth=2.0,
        keep=bool(args.keep),
        memory=not args.no_memory,
        real_deps=bool(args.real_deps),
        real_deps_cache=args.real_deps_cache,
    )
