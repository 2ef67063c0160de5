"""The benchmark's old entry point: ``python benchmarks/run.py`` runs ``python -m benchmarks``."""

from __future__ import annotations

import sys
from pathlib import Path

if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    from benchmarks.__main__ import main

    sys.exit(main())
