"""Small random-weight stand-ins for the model families users bring to Miru's explain tools (see make_reference.py).

Each is a few hundred kB of ONNX at 64x64 px, but keeps the operator patterns of the real family's PyTorch export:

- SwinMini (SwinV2, Liu et al. 2022): 4x4 patch embedding + LayerNorm; window attention with cosine similarity
  (F.normalize on q and k) times a clamped, exponentiated learnt logit scale; a continuous relative position bias
  (a small MLP over log-spaced relative coordinates, looked up with an index Gather, 16 * sigmoid); shifted windows
  with torch.roll and the shifted-window attention mask; res-post-norm blocks (x + norm(f(x))); patch merging
  (2x2 neighbours concatenated, Linear 4C -> 2C, LayerNorm); final LayerNorm, mean over tokens, Linear head.
  Tokens stay N,L,C between blocks (older timm layout), so the saliency layer is a token grid with no prefix.
- EvaMini (EVA-02, Fang et al. 2023): patch-embedding conv, CLS + 4 register tokens, learnt absolute position
  embedding on the patch tokens, 2D rotary position embedding applied to the patch tokens of q and k only
  (rotate-half: slicing, negation, concat; the prefix tokens are sliced off and concatenated back), q/v biases
  (no k bias), SwiGLU MLP (SiLU gate times a linear branch, sub-LayerNorm, projection), pre-norm blocks, final
  LayerNorm, head on the CLS token.
- CAFormerMini (MetaFormer baselines, Yu et al. 2023): stem conv + LayerNorm, ConvFormer stages whose token mixer
  is SepConv (pointwise Linear, StarReLU s * relu(x)^2 + b, depthwise 7x7 conv, pointwise Linear) and whose MLP
  uses StarReLU, then an attention stage on flattened tokens with residual scaling; LayerNorms without bias
  (F.layer_norm with weight only); downsampling = LayerNorm + 3x3 stride-2 conv; global mean -> LayerNorm ->
  MLP head (Linear, squared ReLU, LayerNorm, Linear). Blocks run channels-last (N,H,W,C) like the reference code;
  each stage takes and returns N,C,H,W (timm's MetaFormerStage).

Every forward(image) returns (logits, taps): `taps` maps names to the intermediate tensors make_reference.py
explains, so the same tensors can be returned from an export wrapper (to name them in the ONNX graph) and hooked
for autograd.
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn


# ------------------------------------------------------------------------------------------------------- SwinV2

def window_partition(x: torch.Tensor, window: int) -> torch.Tensor:
    """N,H,W,C -> N*nW, window*window, C."""
    b, h, w, c = x.shape
    x = x.view(b, h // window, window, w // window, window, c)
    return x.permute(0, 1, 3, 2, 4, 5).reshape(-1, window * window, c)


def window_reverse(windows: torch.Tensor, window: int, h: int, w: int) -> torch.Tensor:
    """N*nW, window*window, C -> N,H,W,C."""
    c = windows.shape[-1]
    x = windows.view(-1, h // window, w // window, window, window, c)
    return x.permute(0, 1, 3, 2, 4, 5).reshape(-1, h, w, c)


class WindowAttentionV2(nn.Module):
    def __init__(self, dim: int, window: int, heads: int) -> None:
        super().__init__()
        self.dim, self.window, self.heads = dim, window, heads
        self.logit_scale = nn.Parameter(torch.log(10 * torch.ones(heads, 1, 1)))
        self.cpb_mlp = nn.Sequential(nn.Linear(2, 64), nn.ReLU(inplace=True), nn.Linear(64, heads, bias=False))
        # Log-spaced relative coordinates in [-8, 8] (SwinV2's continuous position bias input).
        r = torch.arange(-(window - 1), window, dtype=torch.float32)
        table = torch.stack(torch.meshgrid(r, r, indexing='ij')).permute(1, 2, 0).contiguous().unsqueeze(0)
        table = table / (window - 1) * 8
        table = torch.sign(table) * torch.log2(torch.abs(table) + 1.0) / math.log2(8)
        self.register_buffer('relative_coords_table', table, persistent=False)
        coords = torch.stack(torch.meshgrid(torch.arange(window), torch.arange(window), indexing='ij')).flatten(1)
        rel = (coords[:, :, None] - coords[:, None, :]).permute(1, 2, 0).contiguous() + (window - 1)
        index = rel[:, :, 0] * (2 * window - 1) + rel[:, :, 1]
        self.register_buffer('relative_position_index', index, persistent=False)
        self.qkv = nn.Linear(dim, 3 * dim, bias=False)
        self.q_bias = nn.Parameter(torch.zeros(dim))
        self.v_bias = nn.Parameter(torch.zeros(dim))
        self.proj = nn.Linear(dim, dim)

    def forward(self, x: torch.Tensor, mask: torch.Tensor | None) -> torch.Tensor:
        b_, n, c = x.shape
        qkv_bias = torch.cat((self.q_bias, torch.zeros_like(self.v_bias), self.v_bias))
        qkv = F.linear(x, self.qkv.weight, qkv_bias)
        qkv = qkv.reshape(b_, n, 3, self.heads, -1).permute(2, 0, 3, 1, 4)
        q, k, v = qkv[0], qkv[1], qkv[2]
        attn = F.normalize(q, dim=-1) @ F.normalize(k, dim=-1).transpose(-2, -1)
        logit_scale = torch.clamp(self.logit_scale, max=math.log(1.0 / 0.01)).exp()
        attn = attn * logit_scale
        table = self.cpb_mlp(self.relative_coords_table).view(-1, self.heads)
        bias = table[self.relative_position_index.view(-1)].view(n, n, -1).permute(2, 0, 1).contiguous()
        attn = attn + 16 * torch.sigmoid(bias).unsqueeze(0)
        if mask is not None:
            nw = mask.shape[0]
            attn = attn.view(-1, nw, self.heads, n, n) + mask.unsqueeze(1).unsqueeze(0)
            attn = attn.view(-1, self.heads, n, n)
        attn = attn.softmax(dim=-1)
        x = (attn @ v).transpose(1, 2).reshape(b_, n, c)
        return self.proj(x)


class SwinBlockV2(nn.Module):
    def __init__(self, dim: int, grid: int, heads: int, window: int, shift: int) -> None:
        super().__init__()
        self.grid, self.window, self.shift = grid, window, shift
        self.attn = WindowAttentionV2(dim, window, heads)
        self.norm1 = nn.LayerNorm(dim)
        self.mlp = nn.Sequential(nn.Linear(dim, 2 * dim), nn.GELU(), nn.Linear(2 * dim, dim))
        self.norm2 = nn.LayerNorm(dim)
        if shift:
            img = torch.zeros(1, grid, grid, 1)
            cnt = 0
            for hs in (slice(0, -window), slice(-window, -shift), slice(-shift, None)):
                for ws in (slice(0, -window), slice(-window, -shift), slice(-shift, None)):
                    img[:, hs, ws, :] = cnt
                    cnt += 1
            mw = window_partition(img, window).squeeze(-1)
            mask = mw.unsqueeze(1) - mw.unsqueeze(2)
            mask = mask.masked_fill(mask != 0, -100.0).masked_fill(mask == 0, 0.0)
        else:
            mask = None
        self.register_buffer('attn_mask', mask, persistent=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, length, c = x.shape
        g = self.grid
        h = x.view(b, g, g, c)
        if self.shift:
            h = torch.roll(h, shifts=(-self.shift, -self.shift), dims=(1, 2))
        windows = self.attn(window_partition(h, self.window), self.attn_mask)
        h = window_reverse(windows, self.window, g, g)
        if self.shift:
            h = torch.roll(h, shifts=(self.shift, self.shift), dims=(1, 2))
        x = x + self.norm1(h.reshape(b, length, c))  # res-post-norm (SwinV2)
        return x + self.norm2(self.mlp(x))


class PatchMergingV2(nn.Module):
    def __init__(self, dim: int, grid: int) -> None:
        super().__init__()
        self.grid = grid
        self.reduction = nn.Linear(4 * dim, 2 * dim, bias=False)
        self.norm = nn.LayerNorm(2 * dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, _, c = x.shape
        g = self.grid
        x = x.view(b, g, g, c)
        x = torch.cat([x[:, 0::2, 0::2], x[:, 1::2, 0::2], x[:, 0::2, 1::2], x[:, 1::2, 1::2]], -1)
        x = x.view(b, (g // 2) * (g // 2), 4 * c)
        return self.norm(self.reduction(x))


class SwinMini(nn.Module):
    """64 px -> 16x16 tokens of 32 -> 2 blocks -> merge -> 8x8 tokens of 64 -> 2 blocks -> pool -> head."""

    image_size = 64

    def __init__(self, classes: int = 5, dim: int = 32, window: int = 4) -> None:
        super().__init__()
        self.patch_embed = nn.Conv2d(3, dim, kernel_size=4, stride=4)
        self.patch_norm = nn.LayerNorm(dim)
        g = self.image_size // 4
        self.stage1 = nn.Sequential(SwinBlockV2(dim, g, 2, window, 0), SwinBlockV2(dim, g, 2, window, window // 2))
        self.merge = PatchMergingV2(dim, g)
        self.stage2 = nn.Sequential(SwinBlockV2(2 * dim, g // 2, 4, window, 0),
                                    SwinBlockV2(2 * dim, g // 2, 4, window, window // 2))
        self.norm = nn.LayerNorm(2 * dim)
        self.head = nn.Linear(2 * dim, classes)
        self.grid = g // 2

    def forward(self, image: torch.Tensor):
        x = self.patch_norm(self.patch_embed(image).flatten(2).transpose(1, 2))
        x = self.stage1(x)
        merged = self.merge(x)  # stage 2 input, N,64,64
        tokens = self.stage2(merged)  # stage 2 output, N,64,64 (the saliency layer)
        logits = self.head(self.norm(tokens).mean(dim=1))
        return logits, {'tokens': tokens, 'stage2_input': merged}


# --------------------------------------------------------------------------------------------------------- EVA02

def rotate_half(x: torch.Tensor) -> torch.Tensor:
    half = x.shape[-1] // 2
    return torch.cat([-x[..., half:], x[..., :half]], dim=-1)


def rope_2d(grid: int, head_dim: int, theta: float = 100.0) -> tuple[torch.Tensor, torch.Tensor]:
    """cos/sin tables L,head_dim for a grid x grid patch sequence in row-major order: the first half of each
    rotate-half pair rotates with the row, the second with the column (rotate_half pairs i with i + head_dim/2)."""
    quarter = head_dim // 4
    freqs = 1.0 / (theta ** (torch.arange(quarter, dtype=torch.float32) / quarter))
    ys, xs = torch.meshgrid(torch.arange(grid, dtype=torch.float32), torch.arange(grid, dtype=torch.float32),
                            indexing='ij')
    angles = torch.cat([ys.reshape(-1, 1) * freqs, xs.reshape(-1, 1) * freqs], dim=1)  # L, head_dim/2
    angles = torch.cat([angles, angles], dim=1)
    return angles.cos(), angles.sin()


class EvaAttention(nn.Module):
    def __init__(self, dim: int, heads: int, prefix: int, grid: int) -> None:
        super().__init__()
        self.heads, self.head_dim, self.prefix = heads, dim // heads, prefix
        self.qkv = nn.Linear(dim, 3 * dim, bias=False)
        self.q_bias = nn.Parameter(torch.zeros(dim))
        self.v_bias = nn.Parameter(torch.zeros(dim))
        self.proj = nn.Linear(dim, dim)
        cos, sin = rope_2d(grid, self.head_dim)
        self.register_buffer('rope_cos', cos, persistent=False)
        self.register_buffer('rope_sin', sin, persistent=False)

    def rope(self, t: torch.Tensor) -> torch.Tensor:
        p = self.prefix
        patches = t[:, :, p:]
        patches = patches * self.rope_cos + rotate_half(patches) * self.rope_sin
        return torch.cat([t[:, :, :p], patches], dim=2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, n, c = x.shape
        bias = torch.cat((self.q_bias, torch.zeros_like(self.v_bias), self.v_bias))
        qkv = F.linear(x, self.qkv.weight, bias).reshape(b, n, 3, self.heads, -1).permute(2, 0, 3, 1, 4)
        q, k, v = qkv.unbind(0)
        q, k = self.rope(q), self.rope(k)
        attn = (q * self.head_dim ** -0.5) @ k.transpose(-2, -1)
        x = (attn.softmax(dim=-1) @ v).transpose(1, 2).reshape(b, n, c)
        return self.proj(x)


class SwiGLU(nn.Module):
    def __init__(self, dim: int, hidden: int) -> None:
        super().__init__()
        self.fc1_g = nn.Linear(dim, hidden)
        self.fc1_x = nn.Linear(dim, hidden)
        self.act = nn.SiLU()
        self.norm = nn.LayerNorm(hidden)
        self.fc2 = nn.Linear(hidden, dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc2(self.norm(self.act(self.fc1_g(x)) * self.fc1_x(x)))


class EvaBlock(nn.Module):
    def __init__(self, dim: int, heads: int, prefix: int, grid: int) -> None:
        super().__init__()
        self.norm1 = nn.LayerNorm(dim)
        self.attn = EvaAttention(dim, heads, prefix, grid)
        self.norm2 = nn.LayerNorm(dim)
        self.mlp = SwiGLU(dim, dim * 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + self.attn(self.norm1(x))
        return x + self.mlp(self.norm2(x))


class EvaMini(nn.Module):
    """64 px, 8x8 patches -> CLS + 4 registers + 64 patch tokens of 64 -> 3 blocks -> norm -> head on CLS."""

    image_size = 64
    registers = 4

    def __init__(self, classes: int = 5, dim: int = 64, depth: int = 3, heads: int = 2, patch: int = 8) -> None:
        super().__init__()
        self.grid = self.image_size // patch
        self.prefix = 1 + self.registers
        self.patch_embed = nn.Conv2d(3, dim, kernel_size=patch, stride=patch)
        self.cls_token = nn.Parameter(torch.zeros(1, 1, dim))
        self.reg_token = nn.Parameter(torch.zeros(1, self.registers, dim))
        self.pos_embed = nn.Parameter(torch.zeros(1, self.grid * self.grid, dim))
        self.blocks = nn.ModuleList([EvaBlock(dim, heads, self.prefix, self.grid) for _ in range(depth)])
        self.norm = nn.LayerNorm(dim)
        self.head = nn.Linear(dim, classes)

    def forward(self, image: torch.Tensor):
        x = self.patch_embed(image).flatten(2).transpose(1, 2) + self.pos_embed
        b = x.shape[0]
        x = torch.cat([self.cls_token.expand(b, -1, -1), self.reg_token.expand(b, -1, -1), x], dim=1)
        taps = {}
        for i, block in enumerate(self.blocks):
            if i == 1:
                taps['block1_input'] = x
            if i == len(self.blocks) - 1:
                taps['tokens'] = x  # input of the last block (the saliency layer, as for miru-vit-s)
            x = block(x)
        logits = self.head(self.norm(x)[:, 0])
        return logits, taps


# ------------------------------------------------------------------------------------------------------- CAFormer

class StarReLU(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.scale = nn.Parameter(torch.ones(1))
        self.bias = nn.Parameter(torch.zeros(1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.scale * F.relu(x) ** 2 + self.bias


class LayerNormNoBias(nn.Module):
    """MetaFormer's LayerNormWithoutBias over the last axis (F.layer_norm with a weight and no bias)."""

    def __init__(self, dim: int, eps: float = 1e-6) -> None:
        super().__init__()
        self.dim, self.eps = dim, eps
        self.weight = nn.Parameter(torch.ones(dim))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.layer_norm(x, (self.dim,), self.weight, None, self.eps)


class SepConv(nn.Module):
    def __init__(self, dim: int) -> None:
        super().__init__()
        mid = 2 * dim
        self.pwconv1 = nn.Linear(dim, mid, bias=False)
        self.act1 = StarReLU()
        self.dwconv = nn.Conv2d(mid, mid, kernel_size=7, padding=3, groups=mid, bias=False)
        self.pwconv2 = nn.Linear(mid, dim, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # N,H,W,C
        x = self.act1(self.pwconv1(x)).permute(0, 3, 1, 2)
        return self.pwconv2(self.dwconv(x).permute(0, 2, 3, 1))


class TokenAttention(nn.Module):
    def __init__(self, dim: int, head_dim: int = 32) -> None:
        super().__init__()
        self.heads, self.head_dim = dim // head_dim, head_dim
        self.qkv = nn.Linear(dim, 3 * dim, bias=False)
        self.proj = nn.Linear(dim, dim, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # N,H,W,C
        b, h, w, c = x.shape
        n = h * w
        qkv = self.qkv(x.reshape(b, n, c)).reshape(b, n, 3, self.heads, self.head_dim).permute(2, 0, 3, 1, 4)
        q, k, v = qkv.unbind(0)
        attn = (q @ k.transpose(-2, -1)) * self.head_dim ** -0.5
        x = (attn.softmax(dim=-1) @ v).transpose(1, 2).reshape(b, h, w, c)
        return self.proj(x)


class MetaFormerBlock(nn.Module):
    def __init__(self, dim: int, mixer: str) -> None:
        super().__init__()
        self.norm1 = LayerNormNoBias(dim)
        self.mixer = SepConv(dim) if mixer == 'conv' else TokenAttention(dim)
        self.norm2 = LayerNormNoBias(dim)
        self.fc1 = nn.Linear(dim, 4 * dim, bias=False)
        self.act = StarReLU()
        self.fc2 = nn.Linear(4 * dim, dim, bias=False)
        # CAFormer scales the residual (res_scale_init_values 1.0) in its attention stages.
        self.res_scale = nn.Parameter(torch.ones(dim)) if mixer == 'attn' else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # N,H,W,C
        if self.res_scale is not None:
            x = x * self.res_scale + self.mixer(self.norm1(x))
            return x * self.res_scale + self.fc2(self.act(self.fc1(self.norm2(x))))
        x = x + self.mixer(self.norm1(x))
        return x + self.fc2(self.act(self.fc1(self.norm2(x))))


class Downsample(nn.Module):
    """Pre-norm (LayerNorm over channels, channels-last) + 3x3 stride-2 conv; N,C,H,W -> N,C',H/2,W/2."""

    def __init__(self, dim_in: int, dim_out: int) -> None:
        super().__init__()
        self.norm = nn.LayerNorm(dim_in, eps=1e-6)
        self.conv = nn.Conv2d(dim_in, dim_out, kernel_size=3, stride=2, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv(self.norm(x.permute(0, 2, 3, 1)).permute(0, 3, 1, 2))


class CAFormerMini(nn.Module):
    """64 px: stem 7x7/2 -> 32x32x16 ConvFormer -> 16x16x32 ConvFormer -> 8x8x64 attention x2 -> head."""

    image_size = 64

    def __init__(self, classes: int = 5, dims: tuple = (16, 32, 64)) -> None:
        super().__init__()
        self.stem = nn.Conv2d(3, dims[0], kernel_size=7, stride=2, padding=3)
        self.stem_norm = nn.LayerNorm(dims[0], eps=1e-6)
        self.stage1 = nn.Sequential(MetaFormerBlock(dims[0], 'conv'))
        self.down2 = Downsample(dims[0], dims[1])
        self.stage2 = nn.Sequential(MetaFormerBlock(dims[1], 'conv'), MetaFormerBlock(dims[1], 'conv'))
        self.down3 = Downsample(dims[1], dims[2])
        self.stage3 = nn.Sequential(MetaFormerBlock(dims[2], 'attn'), MetaFormerBlock(dims[2], 'attn'))
        self.norm = nn.LayerNorm(dims[2], eps=1e-6)
        self.head_fc1 = nn.Linear(dims[2], 4 * dims[2])
        self.head_norm = nn.LayerNorm(4 * dims[2], eps=1e-6)
        self.head_fc2 = nn.Linear(4 * dims[2], classes)

    def forward(self, image: torch.Tensor):
        x = self.stem_norm(self.stem(image).permute(0, 2, 3, 1))  # N,H,W,C
        x = self.stage1(x).permute(0, 3, 1, 2)
        x = self.down2(x)
        x = self.stage2(x.permute(0, 2, 3, 1)).permute(0, 3, 1, 2)
        stage3_input = self.down3(x)  # N,C,8,8: input of the first attention block
        feature_map = self.stage3(stage3_input.permute(0, 2, 3, 1)).permute(0, 3, 1, 2)
        pooled = self.norm(feature_map.mean(dim=(2, 3)))
        logits = self.head_fc2(self.head_norm(F.relu(self.head_fc1(pooled)) ** 2))
        return logits, {'feature_map': feature_map, 'stage3_input': stage3_input}


# ------------------------------------------------------------------------------------------------- random weights

NORM_TYPES = (nn.LayerNorm, LayerNormNoBias)


@torch.no_grad()
def randomize(model: nn.Module, seed: int) -> nn.Module:
    """Seeded random weights at scales that keep activations O(1) and the logits spread (std ~1), so gradients and
    saliency maps are far from degenerate: matrices N(0, 1/fan_in); biases N(0, 0.05); norm weights 1 + N(0, 0.1);
    layer scales 0.5 + N(0, 0.1), residual scales 1 + N(0, 0.1); StarReLU scale 0.8 + N(0, 0.05), bias
    -0.1 + N(0, 0.02) (distinct values: the exporter turns identical initializers into Identity nodes); SwinV2
    logit scale log(10) + N(0, 0.2) (below the clamp at log(100)); tokens and position embeddings N(0, 0.5)."""
    g = torch.Generator().manual_seed(seed)

    def normal(shape, std):
        return torch.randn(shape, generator=g) * std

    norm_params = {id(p) for m in model.modules() if isinstance(m, NORM_TYPES) for p in m.parameters()}
    for name, p in model.named_parameters():
        leaf = name.rsplit('.', 1)[-1]
        if id(p) in norm_params:
            p.copy_(1 + normal(p.shape, 0.1) if leaf == 'weight' else normal(p.shape, 0.05))
        elif leaf == 'logit_scale':
            p.copy_(math.log(10) + normal(p.shape, 0.2))
        elif leaf in ('gamma', 'res_scale'):
            p.copy_(0.5 + normal(p.shape, 0.1) if leaf == 'gamma' else 1 + normal(p.shape, 0.1))
        elif leaf == 'scale':  # StarReLU
            p.copy_(0.8 + normal(p.shape, 0.05))
        elif leaf == 'bias' and p.numel() == 1 and 'act' in name:  # StarReLU
            p.copy_(-0.1 + normal(p.shape, 0.02))
        elif leaf in ('cls_token', 'reg_token', 'pos_embed'):
            p.copy_(normal(p.shape, 0.5))
        elif p.ndim >= 2:
            fan_in = p[0].numel()
            p.copy_(normal(p.shape, 1 / math.sqrt(fan_in)))
        else:
            p.copy_(normal(p.shape, 0.05))
    return model
