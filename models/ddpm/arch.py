"""The DDPM U-Net, framework-free: blocks, layers, shapes and parameter names both frameworks build.

Ho et al. (2020), ``diffusion_tf/models/unet.py``, at ``ch = base_channels``: a sinusoidal time
embedding through an MLP (Dense 4·ch, SiLU, Dense 4·ch); ``conv_in``; per level ``num_res_blocks``
residual blocks (GroupNorm, SiLU, 3×3 conv, + Dense(SiLU(temb)), GroupNorm, SiLU, 3×3 conv, 1×1 conv
shortcut when the width changes), each followed by single-head self-attention at ``attn_resolutions``,
then a stride-2 3×3 conv down (not after the last level); a middle block (res, attention, res); on
the way up ``num_res_blocks + 1`` residual blocks per level, each on the concatenation [h, skip] of
the current activation and the matching down-path activation, then nearest ×2 + 3×3 conv up (not
after the first level); GroupNorm, SiLU, 3×3 conv out. No dropout (Ho et al. used 0.1 on CIFAR-10;
dropout masks cannot match across frameworks, see CONTRACT.md).

Canonical layer names are ``<block>_<sub>`` (``down1_res0_conv1``, ``mid_attn_q``, ``temb_dense0``,
``conv_in``): Keras layer names as they are; torch modules ``blocks.<block>.<sub>`` (``temb.<sub>``
and top-level ``<sub>`` for the blocks named "temb" and ""). Shapes are channels last.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from ..common.chain import prod, same_pads
from .spec import DDPMSpec

# Parameter names per weight-layer kind, in canonical order (all trainable: GroupNorm has no statistics).
PARAMS: dict[str, tuple[str, ...]] = {
    "conv": ("kernel", "bias"),  # kernel (kh, kw, in, out), Keras' Conv2D layout
    "nin": ("kernel", "bias"),  # a Dense over channels (Ho et al.'s "nin"): kernel (in, out)
    "dense": ("kernel", "bias"),  # on the time embedding (per example vectors): kernel (in, out)
    "gn": ("gamma", "beta"),
}
ZERO_INIT_SCALE = 1e-10  # Ho et al.'s default_init(scale=0.): variance scaling with scale 1e-10


@dataclass(frozen=True)
class Layer:
    block: str  # "" for top-level layers (conv_in, norm_out, conv_out)
    sub: str
    kind: str  # conv | nin | dense | gn
    cin: int
    cout: int
    size: int = 1  # spatial size of the output (conv, nin, gn); 1 for dense
    kernel: int = 1
    stride: int = 1
    # TensorFlow 'SAME' padding in explicit pixels (before, after), equal for height and width; for a
    # stride-2 3×3 conv on an even size TF pads (0, 1), which torch's symmetric padding= cannot say.
    pads: tuple[int, int] = (0, 0)
    init_scale: float = 1.0  # variance-scaling scale (fan_avg, uniform); ZERO_INIT_SCALE: "zero" init
    groups: int = 0  # gn

    @property
    def name(self) -> str:
        return f"{self.block}_{self.sub}" if self.block else self.sub

    @property
    def torch_path(self) -> str:
        if not self.block:
            return self.sub
        return f"temb.{self.sub}" if self.block == "temb" else f"blocks.{self.block}.{self.sub}"

    def param_shapes(self) -> dict[str, tuple[int, ...]]:
        """Canonical (Keras-layout) shapes of this layer's parameters, in canonical order."""
        if self.kind == "gn":
            return {"gamma": (self.cout,), "beta": (self.cout,)}
        if self.kind == "conv":
            kernel: tuple[int, ...] = (self.kernel, self.kernel, self.cin, self.cout)
        else:
            kernel = (self.cin, self.cout)
        return {"kernel": kernel, "bias": (self.cout,)}

    def param_count(self) -> int:
        return sum(prod(s) for s in self.param_shapes().values())


def _conv(block: str, sub: str, cin: int, cout: int, size_in: int, kernel: int = 3, stride: int = 1,
          init_scale: float = 1.0) -> Layer:
    pads = same_pads(size_in, kernel, stride)
    size = (size_in + sum(pads) - kernel) // stride + 1
    return Layer(block, sub, "conv", cin, cout, size=size, kernel=kernel, stride=stride, pads=pads,
                 init_scale=init_scale)


def _gn(block: str, sub: str, channels: int, size: int, groups: int) -> Layer:
    return Layer(block, sub, "gn", channels, channels, size=size, groups=groups)


@dataclass(frozen=True)
class ResBlock:
    name: str
    cin: int
    cout: int
    size: int
    layers: dict[str, Layer] = field(default_factory=dict)  # sub -> layer

    @property
    def shortcut(self) -> Layer | None:
        return self.layers.get("shortcut")


def res_block(name: str, cin: int, cout: int, size: int, spec: DDPMSpec) -> ResBlock:
    g = spec.groups
    layers = [
        _gn(name, "norm1", cin, size, g),
        _conv(name, "conv1", cin, cout, size),
        Layer(name, "temb", "dense", spec.temb_channels, cout),
        _gn(name, "norm2", cout, size, g),
        _conv(name, "conv2", cout, cout, size, init_scale=ZERO_INIT_SCALE),
    ]
    if cin != cout:  # Ho et al.'s nin_shortcut; a 1×1 Conv2D as Keras users write it
        layers.append(_conv(name, "shortcut", cin, cout, size, kernel=1))
    return ResBlock(name, cin, cout, size, {ly.sub: ly for ly in layers})


@dataclass(frozen=True)
class AttnBlock:
    name: str
    channels: int
    size: int
    layers: dict[str, Layer] = field(default_factory=dict)


def attn_block(name: str, channels: int, size: int, spec: DDPMSpec) -> AttnBlock:
    layers = [_gn(name, "norm", channels, size, spec.groups)]
    layers += [Layer(name, s, "nin", channels, channels, size=size) for s in ("q", "k", "v")]
    layers.append(Layer(name, "proj_out", "nin", channels, channels, size=size, init_scale=ZERO_INIT_SCALE))
    return AttnBlock(name, channels, size, {ly.sub: ly for ly in layers})


@dataclass(frozen=True)
class Level:
    blocks: list[tuple[ResBlock, AttnBlock | None]]
    resample: Layer | None  # down: stride-2 3×3 conv; up: the 3×3 conv after nearest ×2


@dataclass(frozen=True)
class UNet:
    spec: DDPMSpec
    temb: tuple[Layer, Layer]
    conv_in: Layer
    down: list[Level]
    mid: tuple[ResBlock, AttnBlock, ResBlock]
    up: list[Level]  # in the order they run (lowest resolution first)
    norm_out: Layer
    conv_out: Layer

    def blocks(self) -> list[ResBlock | AttnBlock]:
        out: list[ResBlock | AttnBlock] = []
        for level in (*self.down, None, *self.up):
            pairs = [(self.mid[0], self.mid[1]), (self.mid[2], None)] if level is None else level.blocks
            for res, attn in pairs:
                out += [res] if attn is None else [res, attn]
        return out

    def layers(self) -> list[Layer]:
        """Every weight layer, in canonical order (the order of the forward pass)."""
        out = [*self.temb, self.conv_in]
        for level in self.down:
            for res, attn in level.blocks:
                out += list(res.layers.values()) + (list(attn.layers.values()) if attn else [])
            out += [level.resample] if level.resample else []
        for blk in self.mid:
            out += list(blk.layers.values())
        for level in self.up:
            for res, attn in level.blocks:
                out += list(res.layers.values()) + (list(attn.layers.values()) if attn else [])
            out += [level.resample] if level.resample else []
        return [*out, self.norm_out, self.conv_out]

    def attention_blocks(self) -> list[AttnBlock]:
        return [b for b in self.blocks() if isinstance(b, AttnBlock)]


def unet(spec: DDPMSpec) -> UNet:
    ch, size = spec.base_channels, spec.image_shape[0]
    temb = (Layer("temb", "dense0", "dense", ch, spec.temb_channels),
            Layer("temb", "dense1", "dense", spec.temb_channels, spec.temb_channels))
    conv_in = _conv("", "conv_in", spec.image_shape[2], ch, size)
    skips = [ch]  # channels of each down-path activation the up path concatenates
    cur, down = ch, []
    last = len(spec.channel_mults) - 1
    for i, mult in enumerate(spec.channel_mults):
        blocks = []
        for j in range(spec.num_res_blocks):
            res = res_block(f"down{i}_res{j}", cur, ch * mult, size, spec)
            cur = ch * mult
            attn = attn_block(f"down{i}_attn{j}", cur, size, spec) if size in spec.attn_resolutions else None
            blocks.append((res, attn))
            skips.append(cur)
        resample = None
        if i != last:
            resample = _conv(f"down{i}", "down", cur, cur, size, stride=2)
            size = resample.size
            skips.append(cur)
        down.append(Level(blocks, resample))
    mid = (res_block("mid_res0", cur, cur, size, spec), attn_block("mid_attn", cur, size, spec),
           res_block("mid_res1", cur, cur, size, spec))
    up = []
    for i in reversed(range(len(spec.channel_mults))):
        blocks = []
        for j in range(spec.num_res_blocks + 1):
            res = res_block(f"up{i}_res{j}", cur + skips.pop(), ch * spec.channel_mults[i], size, spec)
            cur = res.cout
            attn = attn_block(f"up{i}_attn{j}", cur, size, spec) if size in spec.attn_resolutions else None
            blocks.append((res, attn))
        resample = None
        if i != 0:
            size *= 2
            resample = _conv(f"up{i}", "up", cur, cur, size)
        up.append(Level(blocks, resample))
    assert not skips and size == spec.image_shape[0], (skips, size)
    norm_out = _gn("", "norm_out", cur, size, spec.groups)
    conv_out = _conv("", "conv_out", cur, spec.image_shape[2], size, init_scale=ZERO_INIT_SCALE)
    return UNet(spec, temb, conv_in, down, mid, up, norm_out, conv_out)


def param_count(spec: DDPMSpec) -> int:
    return sum(ly.param_count() for ly in unet(spec).layers())


def program(net: UNet) -> list[tuple[str, str]]:
    """The forward pass as a flat list of (op, block name) both frameworks walk, so that they build
    the same graph: conv_in | res | attn | down | up | push (keep h as a skip) | concat (h = [h, skip
    popped]) | out (GroupNorm, SiLU, conv_out)."""
    ops: list[tuple[str, str]] = [("conv_in", ""), ("push", "")]
    for i, level in enumerate(net.down):
        for res, attn in level.blocks:
            ops.append(("res", res.name))
            ops += [("attn", attn.name)] if attn else []
            ops.append(("push", ""))
        if level.resample:
            ops += [("down", f"down{i}"), ("push", "")]
    ops += [("res", net.mid[0].name), ("attn", net.mid[1].name), ("res", net.mid[2].name)]
    for level, i in zip(net.up, reversed(range(len(net.up))), strict=True):
        for res, attn in level.blocks:
            ops += [("concat", ""), ("res", res.name)]
            ops += [("attn", attn.name)] if attn else []
        if level.resample:
            ops.append(("up", f"up{i}"))
    return [*ops, ("out", "")]
