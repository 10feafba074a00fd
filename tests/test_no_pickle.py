"""No module of the project unpickles: no pickle-family imports, no torch.load without
weights_only=True, no numpy allow_pickle=True, no pandas pickles. Checked on the source's syntax tree."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
BANNED_MODULES = {"pickle", "cPickle", "_pickle", "dill", "cloudpickle", "shelve", "joblib"}


def offences(source: str) -> list[str]:
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found += [f"import {a.name}" for a in node.names if a.name.split(".")[0] in BANNED_MODULES]
        elif isinstance(node, ast.ImportFrom) and (node.module or "").split(".")[0] in BANNED_MODULES:
            found.append(f"from {node.module} import ...")
        elif isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
            name, kw = node.func.attr, {k.arg: k.value for k in node.keywords}
            owner = node.func.value.id if isinstance(node.func.value, ast.Name) else None
            if owner == "torch" and name == "load":
                safe = kw.get("weights_only")
                if not (isinstance(safe, ast.Constant) and safe.value is True):
                    found.append(f"line {node.lineno}: torch.load without weights_only=True")
            if name == "load" and "allow_pickle" in kw and not (
                    isinstance(kw["allow_pickle"], ast.Constant) and kw["allow_pickle"].value is False):
                found.append(f"line {node.lineno}: load(allow_pickle=...)")
            if name in ("read_pickle", "to_pickle"):
                found.append(f"line {node.lineno}: {name}")
    return found


def project_files() -> list[Path]:
    return sorted(p for d in ("egovla", "benchmarks", "tests") for p in (ROOT / d).rglob("*.py"))


def test_the_project_never_unpickles():
    files = project_files()
    assert len(files) > 50 and any(p.name == "protocol.py" for p in files)
    bad = {str(p.relative_to(ROOT)): o for p in files if (o := offences(p.read_text()))}
    assert not bad, f"unsafe deserialization: {bad}"


@pytest.mark.parametrize("source", [
    "import pickle", "import dill as d", "from pickle import loads", "from _pickle import Unpickler",
    "import torch\ntorch.load('x.pt')", "import torch\ntorch.load('x.pt', weights_only=False)",
    "import numpy as np\nnp.load('x.npy', allow_pickle=True)", "import pandas as pd\npd.read_pickle('x')",
])
def test_the_check_catches_each_kind(source):
    assert offences(source)


@pytest.mark.parametrize("source", [
    "import torch\ntorch.load('x.pt', weights_only=True)", "import numpy as np\nnp.load('x.npy')",
    "import msgpack\nmsgpack.unpackb(b'')", "import json\njson.loads('{}')"])
def test_safe_loading_passes(source):
    assert not offences(source)
