"""Model definitions shared by train_bundled_models.py and make_convnext_tiny.py (issue 3).

Both families follow their reference designs closely enough that what Miru does with them (splitting the graph at
a layer, Grad-CAM on a spatial map or on a token grid) carries over to the real models users bring:

- ConvNeXt (Liu et al. 2022): 4x4 stride-4 "patchify" stem, stages of blocks with a depthwise 7x7 conv,
  LayerNorm, an inverted-bottleneck MLP (pointwise 4x, GELU, pointwise), layer scale and a residual; LayerNorm +
  2x2 stride-2 conv between stages; global average pool -> LayerNorm -> heads.
- ViT (Dosovitskiy et al. 2021): patch embedding, CLS token, learned positional embeddings, pre-norm blocks
  (multi-head self-attention written out with matmul/softmax so the ONNX graph is plain MatMul/Softmax, then an
  MLP with GELU), final LayerNorm, heads on the CLS token. The patch embedding is either the original single
  patch x patch conv or a convolutional stem (Xiao et al. 2021, "Early convolutions help transformers see
  better"): stride-2 3x3 convs with BatchNorm and ReLU, then a 1x1 conv to the token width. Both give one token
  per patch x patch cell; the stem trains faster and more stably on small data, and sees fine texture (noise)
  that a single linear patch projection averages away.

Every model returns (logits, score, embedding) -- or (logits, embedding) without a scalar head -- and names are
given to the tensors Miru's saliency uses after export (see train_bundled_models.py).
"""
from __future__ import annotations

from typing import Sequence

import torch
from torch import nn


class LayerNorm2d(nn.Module):
    """LayerNorm over the channel axis of an N,C,H,W map (via channels-last permute, as torchvision does)."""

    def __init__(self, channels: int, eps: float = 1e-6) -> None:
        super().__init__()
        self.norm = nn.LayerNorm(channels, eps=eps)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.norm(x.permute(0, 2, 3, 1)).permute(0, 3, 1, 2)


class ConvNeXtBlock(nn.Module):
    def __init__(self, dim: int, layer_scale: float = 1e-6) -> None:
        super().__init__()
        self.dwconv = nn.Conv2d(dim, dim, kernel_size=7, padding=3, groups=dim)
        self.norm = nn.LayerNorm(dim, eps=1e-6)
        self.pwconv1 = nn.Linear(dim, 4 * dim)
        self.act = nn.GELU()
        self.pwconv2 = nn.Linear(4 * dim, dim)
        self.gamma = nn.Parameter(torch.full((dim,), layer_scale))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.dwconv(x).permute(0, 2, 3, 1)  # N,H,W,C: LayerNorm and the pointwise MLP act on channels
        y = self.pwconv2(self.act(self.pwconv1(self.norm(y))))
        y = (self.gamma * y).permute(0, 3, 1, 2)
        return x + y


class ConvNeXt(nn.Module):
    def __init__(self, depths: Sequence[int], dims: Sequence[int], classes: int, scalar_head: bool,
                 layer_scale: float = 1e-6, aux_outputs: int = 0, stem_norm: bool = True) -> None:
        super().__init__()
        # stem_norm=False drops the LayerNorm after the patchify conv: normalising each 4x4 patch's response vector
        # throws away its amplitude, which is where local contrast, noise and blur show up.
        stem = [nn.Conv2d(3, dims[0], kernel_size=4, stride=4)] + ([LayerNorm2d(dims[0])] if stem_norm else [])
        self.stem = nn.Sequential(*stem)
        self.downsample = nn.ModuleList()
        self.stages = nn.ModuleList()
        for i, (depth, dim) in enumerate(zip(depths, dims)):
            if i > 0:
                self.downsample.append(nn.Sequential(LayerNorm2d(dims[i - 1]),
                                                     nn.Conv2d(dims[i - 1], dim, kernel_size=2, stride=2)))
            self.stages.append(nn.Sequential(*[ConvNeXtBlock(dim, layer_scale) for _ in range(depth)]))
        self.norm = nn.LayerNorm(dims[-1], eps=1e-6)
        self.head = nn.Linear(dims[-1], classes)
        self.score_head = nn.Linear(dims[-1], 1) if scalar_head else None
        # Training-only head (e.g. the synthetic attributes); forward() never calls it, so it is not exported.
        self.aux_head = nn.Linear(dims[-1], aux_outputs) if aux_outputs else None
        self.apply(_init_weights)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """The last spatial feature map, N,C,h,w (the saliency layer)."""
        x = self.stem(x)
        for i, stage in enumerate(self.stages):
            if i > 0:
                x = self.downsample[i - 1](x)
            x = stage(x)
        return x

    def forward(self, x: torch.Tensor):
        embedding = self.norm(self.features(x).mean(dim=(2, 3)))
        logits = self.head(embedding)
        if self.score_head is None:
            return logits, embedding
        return logits, self.score_head(embedding), embedding


class Attention(nn.Module):
    def __init__(self, dim: int, heads: int, length: int) -> None:
        super().__init__()
        self.dim = dim
        self.heads = heads
        self.head_dim = dim // heads
        self.length = length
        self.qkv = nn.Linear(dim, 3 * dim)
        self.proj = nn.Linear(dim, dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # Reshapes use -1 for the batch and Python ints for the rest, so the exported Reshapes get constant shapes
        # instead of Shape/Gather/Concat subgraphs.
        qkv = self.qkv(x).reshape(-1, self.length, 3, self.heads, self.head_dim).permute(2, 0, 3, 1, 4)
        q, k, v = qkv[0], qkv[1], qkv[2]  # N,heads,L,head_dim
        attn = torch.softmax(torch.matmul(q, k.transpose(-2, -1)) * (self.head_dim ** -0.5), dim=-1)
        y = torch.matmul(attn, v).transpose(1, 2).reshape(-1, self.length, self.dim)
        return self.proj(y)


class ViTBlock(nn.Module):
    def __init__(self, dim: int, heads: int, mlp_ratio: float, length: int) -> None:
        super().__init__()
        self.norm1 = nn.LayerNorm(dim, eps=1e-6)
        self.attn = Attention(dim, heads, length)
        self.norm2 = nn.LayerNorm(dim, eps=1e-6)
        hidden = int(dim * mlp_ratio)
        self.mlp = nn.Sequential(nn.Linear(dim, hidden), nn.GELU(), nn.Linear(hidden, dim))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + self.attn(self.norm1(x))
        return x + self.mlp(self.norm2(x))


def conv_stem(patch: int, widths: Sequence[int], dim: int) -> nn.Module:
    """Xiao et al.'s stem: one stride-2 3x3 conv + BatchNorm + ReLU per width (their product of strides is the
    patch size), then a 1x1 conv to the token width. In eval mode the export folds each BatchNorm into its conv."""
    if 2 ** len(widths) != patch:
        raise ValueError(f'a conv stem of {len(widths)} stride-2 convs makes {2 ** len(widths)}-px patches, not {patch}')
    layers: list[nn.Module] = []
    channels = 3
    for width in widths:
        layers += [nn.Conv2d(channels, width, kernel_size=3, stride=2, padding=1, bias=False),
                   nn.BatchNorm2d(width), nn.ReLU(inplace=True)]
        channels = width
    layers.append(nn.Conv2d(channels, dim, kernel_size=1))
    return nn.Sequential(*layers)


class ViT(nn.Module):
    def __init__(self, image_size: int, patch: int, dim: int, depth: int, heads: int, mlp_ratio: float,
                 classes: int, scalar_head: bool, aux_outputs: int = 0,
                 stem_widths: Sequence[int] | None = None) -> None:
        super().__init__()
        self.grid = image_size // patch
        self.patch_embed = (conv_stem(patch, stem_widths, dim) if stem_widths
                            else nn.Conv2d(3, dim, kernel_size=patch, stride=patch))
        self.cls_token = nn.Parameter(torch.zeros(1, 1, dim))
        self.pos_embed = nn.Parameter(torch.zeros(1, 1 + self.grid * self.grid, dim))
        length = 1 + self.grid * self.grid
        self.blocks = nn.ModuleList([ViTBlock(dim, heads, mlp_ratio, length) for _ in range(depth)])
        self.norm = nn.LayerNorm(dim, eps=1e-6)
        self.head = nn.Linear(dim, classes)
        self.score_head = nn.Linear(dim, 1) if scalar_head else None
        self.aux_head = nn.Linear(dim, aux_outputs) if aux_outputs else None  # training only, as in ConvNeXt
        nn.init.trunc_normal_(self.pos_embed, std=0.02)
        nn.init.trunc_normal_(self.cls_token, std=0.02)
        self.apply(_init_weights)

    def tokens(self, x: torch.Tensor) -> torch.Tensor:
        """Token sequence N,1+h*w,C at the input of the last block (the saliency layer, see the card notes)."""
        x = self.patch_embed(x).flatten(2).transpose(1, 2)  # N,h*w,C in row-major grid order
        x = torch.cat([self.cls_token.expand(x.shape[0], -1, -1), x], dim=1) + self.pos_embed
        for block in self.blocks[:-1]:
            x = block(x)
        return x

    def forward(self, x: torch.Tensor):
        x = self.norm(self.blocks[-1](self.tokens(x)))
        embedding = x[:, 0]
        logits = self.head(embedding)
        if self.score_head is None:
            return logits, embedding
        return logits, self.score_head(embedding), embedding


def _init_weights(m: nn.Module) -> None:
    if isinstance(m, (nn.Conv2d, nn.Linear)):
        nn.init.trunc_normal_(m.weight, std=0.02)
        if m.bias is not None:
            nn.init.zeros_(m.bias)
    elif isinstance(m, nn.LayerNorm):
        nn.init.ones_(m.weight)
        nn.init.zeros_(m.bias)


def parameter_count(model: nn.Module) -> int:
    """Parameters that forward() uses, i.e. what the exported model holds (training-only heads excluded)."""
    return sum(p.numel() for n, p in model.named_parameters() if not n.startswith('aux_head.'))
