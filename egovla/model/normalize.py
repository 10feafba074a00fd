"""Normalization of state and action vectors with dataset statistics.

Stats are a dict `{feature: {"mean", "std", "min", "max", "q01", "q99", "count"}}` of per-dim lists,
for the features "state" and "action"; the policy saves them as stats.json and loads them back.
Modes: "mean_std" maps x to (x - mean) / std; "quantile" maps [q01, q99] onto [-1, 1]. One mode
for every feature ("quantile"), or one per feature ("state=mean_std,action=quantile"; features not
named keep "mean_std").
"""

from __future__ import annotations

import torch
from torch import nn

EPS = 1e-6
MODES = ("mean_std", "quantile")


class Normalizer(nn.Module):
    """`sources` maps a feature to the stats entry it is normalized with when that is another one (a policy
    with relative actions normalizes its "action" with "action_relative"); `stats` keeps every entry."""

    def __init__(self, stats: dict | None, dims: dict[str, int], mode: str = "mean_std",
                 sources: dict[str, str] | None = None):
        super().__init__()
        self.modes = parse_modes(mode, list(dims))
        self.stats = stats
        sources = sources or {}
        for key, dim in dims.items():
            entry = sources.get(key, key)
            if stats and entry != key and entry not in stats:
                raise ValueError(f"the statistics have no {entry!r} entry (they hold {sorted(stats)}), which "
                                 f"normalizes {key!r}: compute them again from the training data")
            shift, scale = self._affine(stats.get(entry) if stats else None, dim, key, entry)
            # not persistent: stats.json is the single saved copy of the statistics
            self.register_buffer(f"{key}_shift", shift, persistent=False)
            self.register_buffer(f"{key}_scale", scale, persistent=False)

    def _affine(self, s: dict | None, dim: int, key: str, entry: str) -> tuple[torch.Tensor, torch.Tensor]:
        if s is None:
            return torch.zeros(dim), torch.ones(dim)
        if self.modes[key] == "mean_std":
            lo, spread = torch.tensor(s["mean"]), torch.tensor(s["std"])
        else:
            q01, q99 = torch.tensor(s["q01"]), torch.tensor(s["q99"])
            lo, spread = (q01 + q99) / 2, (q99 - q01) / 2
        if lo.shape != (dim,):
            raise ValueError(f"stats for {entry!r} have {tuple(lo.shape)} dims, the policy expects ({dim},)")
        return lo.float(), spread.float().clamp(min=EPS)

    @property
    def mode(self) -> str:
        return ",".join(f"{k}={m}" for k, m in self.modes.items())

    def normalize(self, key: str, x: torch.Tensor) -> torch.Tensor:
        return (x - getattr(self, f"{key}_shift")) / getattr(self, f"{key}_scale")

    def unnormalize(self, key: str, x: torch.Tensor) -> torch.Tensor:
        return x * getattr(self, f"{key}_scale") + getattr(self, f"{key}_shift")


def parse_modes(mode: str, keys: list[str]) -> dict[str, str]:
    """'quantile' -> every key quantile; 'action=quantile' -> action quantile, the rest mean_std."""
    if "=" not in mode:
        if mode not in MODES:
            raise ValueError(f"normalization mode {mode!r} is not one of {MODES}")
        return {k: mode for k in keys}
    out = {k: "mean_std" for k in keys}
    for part in mode.split(","):
        key, _, m = part.partition("=")
        key, m = key.strip(), m.strip()
        if key not in out:
            raise ValueError(f"normalization mode {part!r}: no feature {key!r} (features: {keys})")
        if m not in MODES:
            raise ValueError(f"normalization mode {part!r}: {m!r} is not one of {MODES}")
        out[key] = m
    return out
