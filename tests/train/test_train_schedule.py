import math

import pytest
import torch

from egovla.train.schedule import lr_at, set_lr

PEAK = 1e-3


def lr(step, total=20, warmup=4, floor=0.1):
    return lr_at(step, peak_lr=PEAK, total_steps=total, warmup_steps=warmup, min_lr_ratio=floor)


def test_warmup_rises_linearly_to_peak():
    values = [lr(s) for s in range(4)]
    assert values == pytest.approx([PEAK * 0.25, PEAK * 0.5, PEAK * 0.75, PEAK])
    diffs = [b - a for a, b in zip(values, values[1:])]
    assert diffs == pytest.approx([PEAK / 4] * 3)


def test_cosine_from_peak_to_floor_at_last_step():
    assert lr(4) == pytest.approx(PEAK)  # first step after warm-up: the peak
    assert lr(19) == pytest.approx(PEAK * 0.1)  # last step: the floor
    # half way through the cosine (steps 4 .. 19, span 15): midpoint between peak and floor
    assert lr_at(9, peak_lr=PEAK, total_steps=15, warmup_steps=4, min_lr_ratio=0.1) == pytest.approx(PEAK * 0.55)
    # a known value: progress 1/3 -> floor + (peak - floor) * (1 + cos(pi/3)) / 2
    assert lr(9) == pytest.approx(PEAK * 0.1 + PEAK * 0.9 * 0.5 * (1 + math.cos(math.pi / 3)))
    decay = [lr(s) for s in range(4, 20)]
    assert all(b < a for a, b in zip(decay, decay[1:]))  # strictly decreasing
    assert min(decay) == pytest.approx(PEAK * 0.1)


def test_floor_holds_past_the_end_and_edge_cases():
    assert lr(25) == pytest.approx(PEAK * 0.1)
    assert lr(0, warmup=0) == pytest.approx(PEAK)  # no warm-up: starts at the peak
    assert lr(0, total=1, warmup=0) == pytest.approx(PEAK)  # a single step
    assert lr(5, floor=0.0) > 0 and lr(19, floor=0.0) == pytest.approx(0.0)
    with pytest.raises(ValueError):
        lr(-1)


def test_set_lr_sets_every_group():
    p1, p2 = torch.nn.Parameter(torch.zeros(2)), torch.nn.Parameter(torch.zeros(2, 2))
    opt = torch.optim.AdamW([{"params": [p1]}, {"params": [p2], "lr_scale": 0.5}], lr=1.0)
    set_lr(opt, 0.2)
    assert [g["lr"] for g in opt.param_groups] == pytest.approx([0.2, 0.1])
