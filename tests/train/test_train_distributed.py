"""How a multi-process run ends: every rank waits for the others, then the process group is taken down."""

import torch.distributed as dist

from egovla.train.distributed import close_process_group


def test_closing_without_a_process_group_does_nothing():
    assert not dist.is_initialized()
    close_process_group()
    assert not dist.is_initialized()


def test_closing_takes_the_process_group_down(tmp_path):
    store = dist.FileStore(str(tmp_path / "store"), 1)
    dist.init_process_group("gloo", store=store, rank=0, world_size=1)
    try:
        assert dist.is_initialized()
        close_process_group()
        assert not dist.is_initialized()
    finally:
        if dist.is_initialized():
            dist.destroy_process_group()
