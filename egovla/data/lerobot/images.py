"""Image features stored in the data files: LeRobot's `image` dtype (e.g. the published Meta-World MT50 set).

Such a camera has no video: each row of its parquet column is a struct {bytes, path} holding one
encoded frame (PNG or JPEG), as Hugging Face `datasets.Image` writes it. `ImageColumn` reads the
frames a window asks for, one row group at a time (a dataset of this kind can hold far more
encoded bytes than memory), keeps the last few row groups, and decodes with PIL to uint8 RGB.
`camera_hw(feature)` reads (height, width) from the feature's shape and names, which LeRobot
writes channels-first for images ([3, H, W], names [channels, height, width]) and channels-last
for videos.
"""

from __future__ import annotations

import io
from collections import OrderedDict
import numpy as np
import pyarrow.parquet as pq

from egovla.data.lerobot.format import DatasetFormatError


def camera_hw(feature: dict) -> tuple[int, int]:
    """(height, width) of a video or image feature."""
    shape = [int(s) for s in feature["shape"]]
    names = feature.get("names")
    if isinstance(names, list) and len(names) == len(shape) and "height" in names and "width" in names:
        return shape[names.index("height")], shape[names.index("width")]
    if len(shape) == 3 and shape[0] in (1, 3) and shape[2] not in (1, 3):
        return shape[1], shape[2]  # channels first without names
    return shape[0], shape[1]


class ImageColumn:
    """Frames of one image feature, by row of the data file they are in."""

    def __init__(self, key: str, keep_groups: int = 4):
        self.key, self.keep = key, keep_groups
        self._files: dict[str, tuple[pq.ParquetFile, np.ndarray]] = {}
        self._groups: OrderedDict[tuple[str, int], list] = OrderedDict()

    def __getstate__(self):  # a worker process opens its own files
        return {"key": self.key, "keep": self.keep, "_files": {}, "_groups": OrderedDict()}

    def _file(self, path: str) -> tuple[pq.ParquetFile, np.ndarray]:
        if path not in self._files:
            try:
                f = pq.ParquetFile(path)
            except OSError as e:
                raise DatasetFormatError(f"{path}: cannot read the data file ({e})") from e
            if self.key not in f.schema_arrow.names:
                raise DatasetFormatError(f"{path}: no column {self.key!r} for the image feature")
            sizes = [f.metadata.row_group(i).num_rows for i in range(f.num_row_groups)]
            self._files[path] = (f, np.cumsum([0, *sizes]))
        return self._files[path]

    def _row_group(self, path: str, group: int) -> list:
        k = (path, group)
        if k not in self._groups:
            f, _ = self._file(path)
            self._groups[k] = f.read_row_group(group, columns=[self.key]).column(0).to_pylist()
            while len(self._groups) > self.keep:
                self._groups.popitem(last=False)
        self._groups.move_to_end(k)
        return self._groups[k]

    def read(self, path: str, rows: list[int], hw: tuple[int, int]) -> np.ndarray:
        """uint8 (n, H, W, 3) frames of the data file's `rows`."""
        from PIL import Image

        _, bounds = self._file(path)
        out = np.empty((len(rows), *hw, 3), dtype=np.uint8)
        for i, row in enumerate(rows):
            group = int(np.searchsorted(bounds, row, side="right")) - 1
            if not 0 <= group < len(bounds) - 1:
                raise DatasetFormatError(f"{path}: row {row} is outside the file's {int(bounds[-1])} rows")
            cell = self._row_group(path, group)[row - int(bounds[group])]
            data = cell.get("bytes") if isinstance(cell, dict) else cell
            if data is None:
                where = cell.get("path") if isinstance(cell, dict) else None
                raise DatasetFormatError(f"{path}: row {row} of {self.key!r} has no image bytes"
                                         + (f" (it points to {where}, which egovla does not follow)" if where else ""))
            try:
                img = np.asarray(Image.open(io.BytesIO(data)).convert("RGB"))
            except OSError as e:
                raise DatasetFormatError(f"{path}: row {row} of {self.key!r} is not a readable image ({e})") from e
            if img.shape[:2] != tuple(hw):
                raise DatasetFormatError(f"{path}: row {row} of {self.key!r} is {img.shape[:2]}, "
                                         f"meta/info.json says {tuple(hw)}")
            out[i] = img
        return out

