"""Prefix caching for the flow head: the memory's cross-attention keys and values, computed once.

`nn.TransformerDecoder` projects the memory (backbone states, proprio, queries) to keys and values
in every cross-attention, at every call; the flow head calls it once per Euler step, so the same
projections are recomputed `flow_steps` times per chunk. `precompute` does them once per chunk;
`decode` is then the decoder's forward with those cached keys/values. It repeats the operations of
`nn.TransformerDecoderLayer` (norm_first=True, batch_first=True, eval mode) and of
`F.multi_head_attention_forward` in the same order and memory layout, so its output is identical.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

Cache = list[tuple[torch.Tensor, torch.Tensor, torch.Tensor]]  # per layer: k, v (B, heads, S, hd), mask


def check_decoder(decoder: nn.TransformerDecoder) -> None:
    for layer in decoder.layers:
        attn = layer.multihead_attn
        if not (layer.norm_first and attn.batch_first and attn._qkv_same_embed_dim and attn.bias_k is None
                and not attn.add_zero_attn):
            raise ValueError("prefix caching needs pre-norm, batch-first decoder layers with packed q/k/v projections")


def precompute(decoder: nn.TransformerDecoder, memory: torch.Tensor, pad: torch.Tensor) -> Cache:
    """Keys, values and additive mask of every layer's cross-attention over `memory` (B, S, E)."""
    mem = memory.transpose(1, 0)  # batch_first MultiheadAttention works on (S, B, E)
    src_len, bsz, e = mem.shape
    cache = []
    for layer in decoder.layers:
        attn = layer.multihead_attn
        heads, hd = attn.num_heads, e // attn.num_heads
        _, w_kv = attn.in_proj_weight.split([e, e * 2])
        b_kv = None if attn.in_proj_bias is None else attn.in_proj_bias.split([e, e * 2])[1]
        kv = F.linear(mem, w_kv, b_kv).unflatten(-1, (2, e)).unsqueeze(0).transpose(0, -2).squeeze(-2).contiguous()
        k = kv[0].view(src_len, bsz * heads, hd).transpose(0, 1).view(bsz, heads, src_len, hd)
        v = kv[1].view(src_len, bsz * heads, hd).transpose(0, 1).view(bsz, heads, src_len, hd)
        mask = F._canonical_mask(mask=pad, mask_name="key_padding_mask", other_type=None, other_name="attn_mask",
                                 target_type=memory.dtype)
        mask = mask.view(bsz, 1, 1, src_len).expand(-1, heads, -1, -1).reshape(bsz * heads, 1, src_len)
        cache.append((k, v, mask.view(bsz, heads, -1, src_len)))
    return cache


def _cross_attention(attn: nn.MultiheadAttention, x: torch.Tensor, k: torch.Tensor, v: torch.Tensor,
                     mask: torch.Tensor) -> torch.Tensor:
    query = x.transpose(1, 0)
    tgt_len, bsz, e = query.shape
    heads, hd = attn.num_heads, e // attn.num_heads
    w_q, _ = attn.in_proj_weight.split([e, e * 2])
    b_q = None if attn.in_proj_bias is None else attn.in_proj_bias.split([e, e * 2])[0]
    q = F.linear(query, w_q, b_q)
    q = q.view(tgt_len, bsz * heads, hd).transpose(0, 1).view(bsz, heads, tgt_len, hd)
    out = F.scaled_dot_product_attention(q, k.to(q.dtype), v.to(q.dtype), mask.to(q.dtype), 0.0, False)
    out = out.permute(2, 0, 1, 3).reshape(bsz * tgt_len, e)
    out = F.linear(out, attn.out_proj.weight, attn.out_proj.bias).view(tgt_len, bsz, out.size(1))
    return out.transpose(1, 0)


def decode(decoder: nn.TransformerDecoder, tgt: torch.Tensor, cache: Cache) -> torch.Tensor:
    """`decoder(tgt, memory, memory_key_padding_mask=pad)` with the memory's keys/values from `cache`."""
    x = tgt
    for layer, (k, v, mask) in zip(decoder.layers, cache):
        x = x + layer._sa_block(layer.norm1(x), None, None, False)
        x = x + layer.dropout2(_cross_attention(layer.multihead_attn, layer.norm2(x), k, v, mask))
        x = x + layer._ff_block(layer.norm3(x))
    return x if decoder.norm is None else decoder.norm(x)
