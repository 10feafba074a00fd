"""Which tiny backbone trains fastest on this CPU: the toy Idefics3 (transformers) or plain PyTorch layers.

    python benchmarks/tiny_backbone.py [--threads N] [--steps S]

Both have the same sizes (64 px images, 8 px patches, 2x2 pixel shuffle -> 16 image tokens,
vision width 96 x 2 layers, text width 128 x 2 layers, byte-level text) and run the same work:
encode [image | instruction | 8 query tokens], a loss on the query states, backward, AdamW step.
Prints training samples/s side by side.
"""

from __future__ import annotations

import argparse
import time

import torch
from torch import nn

from egovla.model.backbone import Backbone, BackboneConfig
from egovla.model.backbones.idefics3 import build_tiny
from egovla.model.tokenizer import ByteTokenizer


class PlainBackbone(Backbone):
    """The alternative: a hand-written ViT + pixel shuffle + causal pre-norm transformer."""

    def __init__(self, cfg: BackboneConfig):
        super().__init__()
        self.image_size, self.hidden_size, self.max_text_len = cfg.image_size, cfg.text_hidden, cfg.max_text_len
        self.tokenizer, self.scale = ByteTokenizer(), cfg.scale_factor
        grid = cfg.image_size // cfg.patch_size
        self.patch = nn.Conv2d(3, cfg.vision_hidden, cfg.patch_size, cfg.patch_size)
        self.pos = nn.Parameter(torch.zeros(grid * grid, cfg.vision_hidden))
        layer = dict(nhead=cfg.vision_heads, batch_first=True, norm_first=True, dropout=0.0)
        self.vit = nn.TransformerEncoder(nn.TransformerEncoderLayer(cfg.vision_hidden, dim_feedforward=4 * cfg.vision_hidden, **layer), cfg.vision_layers)
        self.proj = nn.Linear(cfg.vision_hidden * cfg.scale_factor**2, cfg.text_hidden)
        self.embed = nn.Embedding(ByteTokenizer.vocab_size, cfg.text_hidden)
        self.text_pos = nn.Embedding(2048, cfg.text_hidden)
        layer["nhead"] = cfg.text_heads
        self.lm = nn.TransformerEncoder(nn.TransformerEncoderLayer(cfg.text_hidden, dim_feedforward=3 * cfg.text_hidden, **layer), cfg.text_layers)

    def embed_images(self, pixels):
        x = self.patch(pixels).flatten(2).transpose(1, 2) + self.pos
        x = self.vit(x)
        n, s, d = x.shape
        g, k = int(s**0.5), self.scale
        x = x.view(n, g // k, k, g // k, k, d).permute(0, 1, 3, 2, 4, 5).reshape(n, (g // k) ** 2, k * k * d)
        return self.proj(x)

    def embed_text(self, ids):
        return self.embed(ids)

    def run(self, embeds, mask, position_ids):
        causal = nn.Transformer.generate_square_subsequent_mask(embeds.shape[1])
        return self.lm(embeds + self.text_pos(position_ids), mask=causal, src_key_padding_mask=~mask, is_causal=True)


def samples_per_s(backbone: Backbone, batch: int, steps: int) -> float:
    opt = torch.optim.AdamW(backbone.parameters(), lr=1e-4)
    queries = nn.Parameter(torch.randn(8, backbone.hidden_size) * 0.02)
    images = torch.randint(0, 255, (batch, 1, 1, 3, 64, 64), dtype=torch.uint8)
    mask = torch.ones(batch, 1, 1, dtype=torch.bool)
    words = [f"grasp the {c} block with your left hand" for c in ("red", "green", "blue", "yellow")]
    text = [words[i % 4] for i in range(batch)]

    def step():
        _, _, q = backbone.encode(images, mask, text, queries.expand(batch, -1, -1))
        loss = q.square().mean()
        opt.zero_grad()
        loss.backward()
        opt.step()

    step()
    t0 = time.perf_counter()
    for _ in range(steps):
        step()
    return steps * batch / (time.perf_counter() - t0)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--threads", type=int, default=torch.get_num_threads())
    ap.add_argument("--steps", type=int, default=20)
    ap.add_argument("--batch", type=int, default=32)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    cfg = BackboneConfig()
    print(f"threads={args.threads}, batch {args.batch}, {args.steps} steps")
    print(f"{'backbone':<32} {'params':>10} {'train samples/s':>16}")
    for name, build in (("tiny Idefics3 (transformers)", build_tiny), ("plain PyTorch ViT + LM", PlainBackbone)):
        torch.manual_seed(0)
        bb = build(cfg)
        print(f"{name:<32} {sum(p.numel() for p in bb.parameters()):>10,} {samples_per_s(bb, args.batch, args.steps):>16.1f}")


if __name__ == "__main__":
    main()
