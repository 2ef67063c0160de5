"""Everything one benchmark run found, for the report and the targets."""

from __future__ import annotations

import datetime
import os
from dataclasses import dataclass, field

from benchmarks.measure import Result
from benchmarks.memory import FillMemory
from benchmarks.scaling import FillRun, ScalingRun
from benchmarks.settings import Config


@dataclass
class SizeRun:
    """Every workflow over one model size."""

    size_mb: float  # the wheel's real size
    wheel_bytes: int
    results: list[Result]

    def by_name(self, name: str) -> Result | None:
        return next((r for r in self.results if r.name == name), None)


@dataclass
class Findings:
    config: Config
    started: datetime.datetime
    versions: dict[str, str]
    sizes: list[SizeRun] = field(default_factory=list)
    memory: list[FillMemory] = field(default_factory=list)
    scaling: dict[int, ScalingRun] = field(default_factory=dict)
    fill: dict[int, FillRun] = field(default_factory=dict)
    real: list[Result] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    load: tuple[float, float, float] = field(default_factory=os.getloadavg)  # at the start
