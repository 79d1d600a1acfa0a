"""The benchmark's cases: layer shapes of real networks, float32.

Each case is a ``Case(family, name, op, x, w, params, source)``:
- op ``"conv"`` / ``"conv_transpose"``: x ``(N, C, *spatial)``, w in PyTorch's layout, params the
  keyword arguments of ``convcore.conv`` / ``conv_transpose`` (same names as torch's);
- op ``"filter2d"``: a single-channel image x ``(H, W)`` and kernel w ``(kh, kw)``, correlated
  with mode="same", zero boundary (cv2.BORDER_CONSTANT, ndimage mode="constant");
- op ``"sepfilter2d"``: as filter2d with a rank-1 kernel; params carry the 1-D factors.

Sources: most shapes are copied from oneDNN's benchdnn problem lists in ``../shared/benchdnn``
(the list's file name and the layer name are in ``source``); the rest name the network they
come from. benchdnn's batch (mb50, mb128...) is replaced by N=1 and N=8: the batches an
inference service on a small machine runs.
"""
from __future__ import annotations

from typing import Any, Dict, List, NamedTuple, Tuple


class Case(NamedTuple):
    family: str
    name: str
    op: str
    x: Tuple[int, ...]
    w: Tuple[int, ...]
    params: Dict[str, Any]
    source: str


def _resnet() -> List[Case]:
    out: List[Case] = []
    src = "benchdnn shapes_resnet_50"
    three = [(64, 56, "res2a_branch2b"), (128, 28, "res3a_branch2b"), (256, 14, "res4a_branch2b"),
             (512, 7, "res5a_branch2b")]
    one = [(256, 64, 56, "res2b_branch2a"), (64, 256, 56, "res2a_branch1"),
           (512, 128, 28, "res3b_branch2a"), (1024, 256, 14, "res4b_branch2a"),
           (256, 1024, 14, "res4a_branch2c"), (2048, 512, 7, "res5b_branch2a")]
    for n in (1, 8):
        for c, hw, layer in three:
            out.append(Case("resnet50 3x3", f"{layer} {c}@{hw} N={n}", "conv", (n, c, hw, hw),
                            (c, c, 3, 3), dict(padding=1), f"{src}: resnet_50:{layer}"))
        for ci, co, hw, layer in one:
            out.append(Case("resnet50 1x1", f"{layer} {ci}->{co}@{hw} N={n}", "conv",
                            (n, ci, hw, hw), (co, ci, 1, 1), {}, f"{src}: resnet_50:{layer}"))
    for n in (1, 8):
        out.append(Case("resnet50 stem", f"conv1 7x7/2 3->64@224 N={n}", "conv", (n, 3, 224, 224),
                        (64, 3, 7, 7), dict(stride=2, padding=3), f"{src}: resnet_50:conv1"))
    return out


def _mobilenet() -> List[Case]:
    # MobileNetV2's depthwise 3x3 layers (torchvision mobilenet_v2: expanded channels at each
    # resolution), N=1; benchdnn's shapes_mobilenet_dw holds MobileNet v1's, and
    # shapes_efficientdet has the same g144 3x3 layer at 128x128.
    src = "MobileNetV2 (Sandler et al. 2018, Table 2 / torchvision)"
    layers = [(32, 112, 1), (96, 112, 2), (144, 56, 1), (144, 56, 2), (192, 28, 1), (192, 28, 2),
              (384, 14, 1), (576, 14, 1), (576, 14, 2), (960, 7, 1)]
    out = []
    for c, hw, s in layers:
        out.append(Case("mobilenetv2 dw", f"dw3x3 {c}@{hw}" + (" s2" if s == 2 else ""), "conv",
                        (1, c, hw, hw), (c, 1, 3, 3), dict(stride=s, padding=1, groups=c), src))
    return out


def _resnext() -> List[Case]:
    src = "benchdnn shapes_resnext_101"
    # 16, 32, 64 and 128 channels per group; benchdnn lists them at mb128, here N=1 and 8
    layers = [(512, 56, 1, "conv3"), (1024, 28, 1, "conv12"), (2048, 14, 1, "conv18"),
              (4096, 7, 1, "conv24"), (1024, 56, 2, "conv8")]
    return [Case("resnext g=32", f"{layer} {c}@{hw}" + (" s2" if s == 2 else "") + f" N={n}",
                 "conv", (n, c, hw, hw), (c, c // 32, 3, 3), dict(stride=s, padding=1, groups=32),
                 f"{src}: resnext_101:{layer}")
            for n in (1, 8) for c, hw, s, layer in layers]


def _dilated() -> List[Case]:
    # DeepLabv3 (ResNet-50 backbone, output stride 8): layer3 runs its 3x3s at dilation 2 on
    # 65x65 (513 input), layer4 at dilation 4; benchdnn shapes_dilated_rfcn is the same kind of
    # layer (512@38x57, dilation 3).
    src = "DeepLabv3 (Chen et al. 2017), output stride 8, 513x513 input"
    return [
        Case("deeplab dilated", "3x3 d2 256@65 N=1", "conv", (1, 256, 65, 65), (256, 256, 3, 3),
             dict(padding=2, dilation=2), src),
        Case("deeplab dilated", "3x3 d4 512@65 N=1", "conv", (1, 512, 65, 65), (512, 512, 3, 3),
             dict(padding=4, dilation=4), src),
        Case("deeplab dilated", "3x3 d2 512@38x57 N=1 (rfcn d3 shape)", "conv", (1, 512, 38, 57),
             (512, 512, 3, 3), dict(padding=2, dilation=2), "benchdnn shapes_dilated_rfcn"),
    ]


def _transposed() -> List[Case]:
    # DCGAN generator (Radford et al. 2016, 64x64 output) and the pix2pix U-Net decoder: 4x4
    # stride-2 transposed convs, padding 1, doubling the resolution. w is (C_in, C_out, 4, 4).
    dc = "DCGAN generator (Radford et al. 2016)"
    un = "pix2pix U-Net decoder (Isola et al. 2017)"
    out = []
    for n in (1, 8):
        for ci, co, hw in ((512, 256, 8), (256, 128, 16), (128, 64, 32)):
            out.append(Case("transposed 4x4/2", f"dcgan {ci}->{co} {hw}->{2 * hw} N={n}",
                            "conv_transpose", (n, ci, hw, hw), (ci, co, 4, 4),
                            dict(stride=2, padding=1), dc))
    out.append(Case("transposed 4x4/2", "unet 1024->256 32->64 N=1", "conv_transpose",
                    (1, 1024, 32, 32), (1024, 256, 4, 4), dict(stride=2, padding=1), un))
    return out


def _conv3d() -> List[Case]:
    src = "benchdnn shapes_3d_unet"
    return [
        Case("3d unet", "conv_7 256->256 12x13x13 N=1", "conv", (1, 256, 12, 13, 13),
             (256, 256, 3, 3, 3), {}, f"{src}: 3d_unet:conv_7"),
        Case("3d unet", "conv_8 256->512 10x11x11 N=1", "conv", (1, 256, 10, 11, 11),
             (512, 256, 3, 3, 3), {}, f"{src}: 3d_unet:conv_8"),
        # 3d_unet:conv_3's channels on a 8x28x28 crop with padding 1 (the full 56x64x64 is
        # 23 GMAC: too long a call for a 2-core machine's benchmark).
        Case("3d unet", "64->64 8x28x28 pad 1 N=1", "conv", (1, 64, 8, 28, 28), (64, 64, 3, 3, 3),
             dict(padding=1), f"{src}: 3d_unet:conv_3 (cropped)"),
    ]


def _wavenet() -> List[Case]:
    src = "benchdnn shapes_1d_wavenet"
    return [
        Case("wavenet 1d", "conv1d_1 k2 32->32 L=84350 N=1", "conv", (1, 32, 84350), (32, 32, 2),
             {}, f"{src}: wavenet:conv1d_1"),
        Case("wavenet 1d", "conv1d_4 k2 32->32 L=10543 N=8", "conv", (8, 32, 10543), (32, 32, 2),
             {}, f"{src}: wavenet:conv1d_4"),
        Case("wavenet 1d", "k2 d256 32->32 L=16384 N=1 (dilated stack)", "conv", (1, 32, 16384),
             (32, 32, 2), dict(dilation=256), f"{src} channels, WaveNet dilation 256"),
        Case("wavenet 1d", "1x1 32->32 L=842 N=1", "conv", (1, 32, 842), (32, 32, 1), {},
             f"{src}: wavenet:conv1d_1x1_1"),
    ]


def gaussian_1d(size: int, sigma: float) -> List[float]:
    import math

    r = (size - 1) / 2
    g = [math.exp(-((i - r) ** 2) / (2 * sigma * sigma)) for i in range(size)]
    s = sum(g)
    return [v / s for v in g]


def _images() -> List[Case]:
    src = "2048x2048 single-channel image (issue 3)"
    out = [Case("image filter", f"{k}x{k} 2048x2048", "filter2d", (2048, 2048), (k, k), {}, src)
           for k in (3, 5, 11)]
    out.append(Case("image separable", "gaussian 7x7 sigma=1.5 2048x2048", "sepfilter2d",
                    (2048, 2048), (7, 7), dict(sigma=1.5), src))
    return out


def all_cases() -> List[Case]:
    return (_resnet() + _mobilenet() + _resnext() + _dilated() + _transposed() + _conv3d()
            + _wavenet() + _images())


# One or two cases per family: the CI smoke run and ``convcore bench``.
QUICK = {
    "res3a_branch2b 128@28 N=1", "res4b_branch2a 1024->256@14 N=1", "conv1 7x7/2 3->64@224 N=1",
    "dw3x3 144@56", "conv18 2048@14 N=1", "3x3 d2 256@65 N=1", "dcgan 256->128 16->32 N=1",
    "64->64 8x28x28 pad 1 N=1", "conv1d_1 k2 32->32 L=84350 N=1", "3x3 2048x2048",
    "gaussian 7x7 sigma=1.5 2048x2048",
}


def quick_cases() -> List[Case]:
    return [c for c in all_cases() if c.name in QUICK]


def families() -> List[str]:
    seen: List[str] = []
    for c in all_cases():
        if c.family not in seen:
            seen.append(c.family)
    return seen


def shrink(case: Case) -> Case:
    """A tiny version of a case (same op and parameters), for the smoke test: channels and
    spatial sizes cut so that every call takes well under a millisecond."""
    def small(v: int, cap: int) -> int:
        return max(1, min(v, cap))

    if case.op in ("filter2d", "sepfilter2d"):
        return case._replace(x=(40, 48))
    g = case.params.get("groups", 1)
    if case.op == "conv":
        n, c = case.x[0], case.x[1]
        co = case.w[0]
        cg = small(c // g, 4)
        cog = small(co // g, 4)
        gg = small(g, 4)
        sp = tuple(small(s, 12) for s in case.x[2:])
        dil = case.params.get("dilation", 1)
        if isinstance(dil, int) and dil > 1:
            sp = tuple(max(s, 2 * dil * (k - 1)) for s, k in zip(sp, case.w[2:]))
        params = dict(case.params)
        if g > 1:
            params["groups"] = gg
        return case._replace(x=(small(n, 2), cg * gg) + sp, w=(cog * gg, cg) + case.w[2:],
                             params=params)
    # conv_transpose: w (C_in, C_out/g, *k)
    ci, co = case.w[0], case.w[1]
    sp = tuple(small(s, 6) for s in case.x[2:])
    return case._replace(x=(small(case.x[0], 2), small(ci, 4)) + sp,
                         w=(small(ci, 4), small(co, 4)) + case.w[2:])
