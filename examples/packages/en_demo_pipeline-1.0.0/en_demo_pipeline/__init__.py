"""A demo model package laid out as `spacy package` lays out a pipeline.

A real one loads with spaCy (``spacy.util.load_model_from_init_py``); this one reads its data
file directly, so the example needs nothing but the standard library.
"""

from __future__ import annotations

import json
from pathlib import Path

_HERE = Path(__file__).parent
META = json.loads((_HERE / "meta.json").read_text(encoding="utf-8"))
__version__ = META["version"]
DATA_DIR = _HERE / f"{META['lang']}_{META['name']}-{__version__}"


def load() -> list[str]:
    """The pipeline's data: one greeting a line."""
    return (DATA_DIR / "greetings.txt").read_text(encoding="utf-8").split("\n")[:-1]
