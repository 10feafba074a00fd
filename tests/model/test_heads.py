"""Head internals: the regression head's last layer computes only the outputs it reads."""

from __future__ import annotations

import pytest
import torch

from egovla.model.heads.base import encode_tail, transformer


@pytest.mark.parametrize("layers", [1, 2, 3])
@pytest.mark.parametrize("train", [True, False])
def test_encode_tail_equals_the_full_encoder_read_at_the_last_positions(layers, train):
    torch.manual_seed(0)
    enc = transformer(width=32, heads=4, layers=layers, dropout=0.0).train(train)
    seq = torch.randn(3, 20, 32)
    pad = torch.zeros(3, 20, dtype=torch.bool)
    pad[0, 5:9] = True  # padding in the middle, as text padding sits between images and queries
    pad[2, 12:14] = True
    full = enc(seq, src_key_padding_mask=pad)[:, -6:]
    tail = encode_tail(enc, seq, pad, 6)
    torch.testing.assert_close(tail, full, atol=1e-5, rtol=1e-5)


def test_encode_tail_gradients_match_the_full_encoder():
    torch.manual_seed(1)
    enc = transformer(width=16, heads=2, layers=2, dropout=0.0)
    seq = torch.randn(2, 10, 16, requires_grad=True)
    pad = torch.zeros(2, 10, dtype=torch.bool)
    grads = []
    for f in (lambda: enc(seq, src_key_padding_mask=pad)[:, -4:], lambda: encode_tail(enc, seq, pad, 4)):
        enc.zero_grad()
        seq.grad = None
        f().square().sum().backward()
        grads.append([seq.grad.clone()] + [p.grad.clone() for p in enc.parameters()])
    for a, b in zip(*grads):
        torch.testing.assert_close(a, b, atol=1e-5, rtol=1e-4)


def test_encode_tail_refuses_post_norm_layers():
    enc = torch.nn.TransformerEncoder(torch.nn.TransformerEncoderLayer(16, 2, 32, 0.0, batch_first=True), 2,
                                      enable_nested_tensor=False)
    with pytest.raises(ValueError, match="norm_first"):
        encode_tail(enc, torch.randn(1, 5, 16), torch.zeros(1, 5, dtype=torch.bool), 2)
