"""Property tests over random shapes and parameters in 1-D, 2-D and 3-D (hypothesis)."""
import numpy as np
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

import convcore as cc
import reference as ref
from conftest import assert_close

SETTINGS = settings(max_examples=60, deadline=None,
                    suppress_health_check=[HealthCheck.too_slow])


@st.composite
def conv_case(draw):
    nd = draw(st.integers(1, 3))
    groups = draw(st.integers(1, 3))
    cin = groups * draw(st.integers(1, 2))
    cout = groups * draw(st.integers(1, 2))
    k = [draw(st.integers(1, 4)) for _ in range(nd)]
    stride = [draw(st.integers(1, 3)) for _ in range(nd)]
    dil = [draw(st.integers(1, 3)) for _ in range(nd)]
    pad_kind = draw(st.sampled_from(["int", "pairs", "same", "valid"]))
    sizes = [draw(st.integers(1, 9 if nd < 3 else 6)) for _ in range(nd)]
    if pad_kind == "int":
        padding = [draw(st.integers(0, 3)) for _ in range(nd)]
        pads = [(p, p) for p in padding]
        padding = tuple(padding)
    elif pad_kind == "pairs":
        pads = [(draw(st.integers(0, 3)), draw(st.integers(0, 3))) for _ in range(nd)]
        padding = tuple(pads)
    else:
        padding = pad_kind
        pads = ([ref.same_pads(sizes[i], k[i], stride[i], dil[i]) for i in range(nd)]
                if pad_kind == "same" else [(0, 0)] * nd)
    # make the padded input at least one dilated kernel long
    for i in range(nd):
        need = (k[i] - 1) * dil[i] + 1 - pads[i][0] - pads[i][1]
        if sizes[i] < need:
            sizes[i] = need
            if pad_kind == "same":
                pads[i] = ref.same_pads(sizes[i], k[i], stride[i], dil[i])
    mode = draw(st.sampled_from(["zeros", "zeros", "reflect", "replicate", "circular"]))
    n = draw(st.integers(0, 2))
    return dict(nd=nd, groups=groups, cin=cin, cout=cout, k=k, stride=tuple(stride),
                dil=tuple(dil), padding=padding, sizes=sizes, mode=mode, n=n,
                bias=draw(st.booleans()), flip=draw(st.booleans()),
                dtype=draw(st.sampled_from([np.float32, np.float64])),
                channels_last=draw(st.booleans()), seed=draw(st.integers(0, 2**31)))


@SETTINGS
@given(conv_case())
def test_conv_random(c):
    rng = np.random.default_rng(c["seed"])
    x = rng.standard_normal((c["n"], c["cin"], *c["sizes"])).astype(c["dtype"])
    w = rng.standard_normal((c["cout"], c["cin"] // c["groups"], *c["k"])).astype(c["dtype"])
    b = rng.standard_normal(c["cout"]).astype(c["dtype"]) if c["bias"] else None
    kw = dict(stride=c["stride"], padding=c["padding"], dilation=c["dil"], groups=c["groups"],
              padding_mode=c["mode"], flip=c["flip"])
    xin = np.moveaxis(x, 1, -1) if c["channels_last"] else x
    pads = ref.pads(c["padding"], c["sizes"], c["k"], c["stride"], c["dil"])
    if not ref.padding_reaches(c["mode"], c["sizes"], pads):
        with pytest.raises(ValueError, match="padding_mode"):
            cc.conv(xin, w, b, channels_last=c["channels_last"], **kw)
        return
    y = cc.conv(xin, w, b, channels_last=c["channels_last"], **kw)
    if c["channels_last"]:
        y = np.moveaxis(y, -1, 1)
    expected = ref.conv(x, w, b, c["stride"], c["padding"], c["dil"], c["groups"], c["mode"],
                        c["flip"])
    assert_close(y, expected, int(np.prod(w.shape[1:])))
    assert cc.output_shape("conv", xin.shape, w.shape, **kw,
                           channels_last=c["channels_last"]) == (np.moveaxis(y, 1, -1).shape
                                                                 if c["channels_last"] else y.shape)


@SETTINGS
@given(conv_case())
def test_adjoint_random(c):
    """<conv(x), u> == <x, conv_transpose(u)> with the matching output_padding."""
    assume(not isinstance(c["padding"], str))  # conv_transpose takes explicit padding only
    rng = np.random.default_rng(c["seed"])
    x = rng.standard_normal((max(c["n"], 1), c["cin"], *c["sizes"]))
    w = rng.standard_normal((c["cout"], c["cin"] // c["groups"], *c["k"]))
    kw = dict(stride=c["stride"], padding=c["padding"], dilation=c["dil"], groups=c["groups"])
    y = cc.conv(x, w, **kw)
    u = rng.standard_normal(y.shape)
    pads = c["padding"] if isinstance(c["padding"][0], tuple) else [(p, p) for p in c["padding"]]
    # a transposed conv whose padding crops everything is refused (as PyTorch does)
    assume(all((y.shape[2 + i] - 1) * c["stride"][i] + (c["k"][i] - 1) * c["dil"][i] + 1
               > sum(pads[i]) for i in range(c["nd"])))
    back = cc.conv_transpose(u, w, **kw)
    op = tuple(x.shape[2 + i] - back.shape[2 + i] for i in range(c["nd"]))
    if any(op):
        # the trailing rows the forward conv never read: restore them with output_padding when
        # the rule allows it, else compare on the rows that exist
        if all(o < max(s, d) for o, s, d in zip(op, c["stride"], c["dil"])):
            back = cc.conv_transpose(u, w, output_padding=op, **kw)
        else:
            x = x[(slice(None), slice(None)) + tuple(slice(0, b) for b in back.shape[2:])]
    assert_close(back, ref.conv_transpose(u, w, None, c["stride"], c["padding"],
                                          op if back.shape == x.shape and any(op) else 0,
                                          c["dil"], c["groups"]),
                 int(np.prod(w.shape[1:])) * c["cout"])
    lhs, rhs = float(np.vdot(y, u)), float(np.vdot(x, back))
    scale = float(np.abs(y).sum() * np.abs(u).max()) + 1.0
    assert abs(lhs - rhs) <= 1e-10 * scale


@SETTINGS
@given(st.integers(1, 3), st.data())
def test_filter_random(nd, data):
    a_shape = tuple(data.draw(st.integers(1, 9)) for _ in range(nd))
    k_shape = tuple(data.draw(st.integers(1, 5)) for _ in range(nd))
    mode = data.draw(st.sampled_from(["full", "same", "valid"]))
    boundary = data.draw(st.sampled_from(["fill", "wrap", "symm"]))
    corr = data.draw(st.booleans())
    if mode == "valid" and not (all(a >= k for a, k in zip(a_shape, k_shape))
                                or all(k >= a for a, k in zip(a_shape, k_shape))):
        k_shape = tuple(min(a, k) for a, k in zip(a_shape, k_shape))
    rng = np.random.default_rng(data.draw(st.integers(0, 2**31)))
    a = rng.standard_normal(a_shape)
    k = rng.standard_normal(k_shape)
    fn = cc.correlate if corr else cc.convolve
    y = fn(a, k, mode, boundary, fillvalue=0.25)
    assert_close(y, ref.convolve(a, k, mode, boundary, 0.25, correlate=corr), k.size)
    assert cc.output_shape("correlate" if corr else "convolve", a_shape, k_shape, mode=mode) == y.shape
