"""Resumable conversion: a converter stages each unit of work (an episode, a shard's record, a clip) as an
`.npz` holding its arrays and a JSON `meta` with the settings' fingerprint; a rerun with the same
settings reuses what is staged, and anything unreadable or staged with other settings is redone."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np


def staged_meta(npz: Path, fingerprint: str) -> dict | None:
    """The staged unit's meta when `npz` holds a complete unit staged with `fingerprint`, else None."""
    if not npz.is_file():
        return None
    try:
        with np.load(npz) as z:
            meta = json.loads(str(z["meta"]))
    except (OSError, ValueError, KeyError):
        return None
    return meta if meta.get("fingerprint") == fingerprint else None
