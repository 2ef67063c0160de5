# The shape of the setup.py that `spacy package` writes: name, version and requirements come
# from meta.json, and the pipeline's data folder travels as package data.
import json
from pathlib import Path

from setuptools import setup

here = Path(__file__).parent
meta = json.loads((here / "meta.json").read_text(encoding="utf-8"))
name = f"{meta['lang']}_{meta['name']}"

setup(
    name=name,
    version=meta["version"],
    description=meta["description"],
    author=meta["author"],
    license=meta["license"],
    packages=[name],
    package_data={name: ["meta.json", f"{name}-{meta['version']}/*"]},
    install_requires=meta["requirements"],
    zip_safe=False,
)
