"""Hypothesis strategies drawing call descriptions (see fuzz_ops) for every public op.

Each op's builder draws a VALID call (expect "ok"), then, half the time, one mutation: a
keyword outside its range or of the wrong type, an array of a wrong dtype / rank / size, or a
layout (Fortran, negative strides, broadcast view, pickled, frombuffer, big-endian) that must
give the same answer. Every description names what is expected of it."""
from __future__ import annotations

import math

from hypothesis import strategies as st

import reference as ref
from fuzz_ops import A, T

HUGE = [2 ** 31, 2 ** 32 + 1, 2 ** 62, 2 ** 63 - 1]
TOO_BIG = [2 ** 63, 2 ** 64, 2 ** 100, -2 ** 63 - 1]
WRONG_TYPE = [1.5, 2.0, "1", None, True, float("nan"), float("inf"), {"__complex__": [1, 1]}]
LAYOUTS = ["c", "c", "c", "f", "neg", "step", "bcast", "pickle", "buf"]
OK_DTYPES = {"f4": ["f4", ">f4", "=f4"], "f8": ["f8", ">f8"]}
BAD_DTYPES = ["i4", "i8", "u1", "?", "c8", "c16", "f2"]


class Ctx:
    def __init__(self, draw):
        self.draw = draw
        self.seed = draw(st.integers(0, 2 ** 20))

    def arr(self, shape, dt, fill="n", layout=True):
        self.seed += 1
        lay = self.draw(st.sampled_from(LAYOUTS)) if layout else "c"
        return A(shape, dt, self.seed, lay, fill)


def desc(op, args, kwargs, expect="ok", names=()):
    return {"op": op, "args": args, "kwargs": kwargs, "expect": expect, "names": list(names)}


# ------------------------------------------------------------------------ mutations

def int_mutation(draw, value_min):
    """A value for an int parameter whose valid range starts at value_min: (value, expect)."""
    kind = draw(st.sampled_from(["low", "huge", "toobig", "type", "type", "seq"]))
    if kind == "low":
        return draw(st.sampled_from([value_min - 1, -1, -2 ** 31, -2 ** 63])), "error"
    if kind == "huge":
        return draw(st.sampled_from(HUGE)), "any"
    if kind == "toobig":
        return draw(st.sampled_from(TOO_BIG)), "error"
    if kind == "seq":
        return T(*[1] * draw(st.sampled_from([0, 5]))), "error"
    return draw(st.sampled_from(WRONG_TYPE)), "error"


OPTIONAL = ("bias", "mask", "b1", "b2", "b_depthwise", "b_pointwise")
ARRAY_NAMES = ["x", "w", "bias", "offset", "mask", "b1", "b2", "w1", "w2", "b_depthwise",
               "b_pointwise", "a", "k"]


def mutate(draw, d, ints=None, strs=None, arrays=None, also=(), flex_ndim=()):
    """Apply one mutation to description d. ints: {kwarg: min valid}; strs: kwargs taking a
    string; arrays: {position or kwarg: name} of float arrays."""
    choices = []
    if ints:
        choices.append("int")
    if strs:
        choices.append("str")
    if arrays:
        choices += ["dtype", "ndim", "none", "endian"]
        if len(arrays) > 1:  # mixing float dtypes needs two float arrays (conv_matrix has one)
            choices.append("mixed")
    choices.append("unknown_kw")
    kind = draw(st.sampled_from(choices))
    related = list(also)
    if kind == "int":
        key = draw(st.sampled_from(sorted(ints)))
        v, expect = int_mutation(draw, ints[key])
        d["kwargs"][key] = v
        d["expect"], d["names"] = expect, [key] + (related if expect == "any" else [])
    elif kind == "str":
        key = draw(st.sampled_from(sorted(strs)))
        d["kwargs"][key] = draw(st.sampled_from(["bogus", "", "ZEROS", 1, b"zeros"]))
        d["expect"], d["names"] = "error", [key]
    elif kind == "unknown_kw":
        d["kwargs"]["bogus_kw"] = 1
        d["expect"], d["names"] = "error", ["bogus_kw"]
    else:
        where = draw(st.sampled_from(sorted(arrays, key=str)))
        name = arrays[where]
        holder, key = (d["args"], where) if isinstance(where, int) else (d["kwargs"], where)
        cur = holder.get(key) if isinstance(where, str) else \
            holder[key] if where < len(holder) else None
        if cur is None or not isinstance(cur, dict) or "__array__" not in cur:
            kind = "none"
        if kind == "none":
            if isinstance(where, int) and where < len(holder):
                holder[key] = None
                if name in OPTIONAL:
                    d["expect"], d["names"] = "ok", []
                    return d
            elif isinstance(where, str):
                holder[key] = None
                if name in ("bias", "mask", "b1", "b2", "b_depthwise", "b_pointwise"):
                    d["expect"], d["names"] = "ok", []  # None is the default there
                    return d
            else:
                return d
            d["expect"], d["names"] = "error", [name]
            return d
        spec = dict(cur["__array__"])
        if kind == "dtype":
            spec["dt"] = draw(st.sampled_from(BAD_DTYPES))
            d["expect"], d["names"] = "error", [name] + related
        elif kind == "endian":
            base = "f4" if "4" in spec["dt"] else "f8"
            spec["dt"] = ">" + base
            d["expect"], d["names"] = d["expect"], d["names"]  # still valid
        elif kind == "mixed":
            spec["dt"] = "f8" if "4" in spec["dt"] else "f4"
            d["expect"], d["names"] = "error", [name] + related + list(arrays.values()) + \
                ARRAY_NAMES
        elif kind == "ndim":
            extra = draw(st.sampled_from([-1, 1]))
            s = list(spec["s"])
            spec["s"] = s + [1] if extra > 0 else s[:-1]
            d["expect"] = "any" if name in flex_ndim else "error"
            d["names"] = [name] + related + ["stride", "dilation", "padding"] + \
                list(arrays.values())
        holder[key] = {"__array__": spec}
    return d


# ------------------------------------------------------------------------ conv geometry

def geometry(draw, nd, allow_same=True, modes=("zeros", "zeros", "reflect", "replicate",
                                                  "circular")):
    k = [draw(st.integers(1, 4)) for _ in range(nd)]
    s = [draw(st.integers(1, 3)) for _ in range(nd)]
    dl = [draw(st.integers(1, 3)) for _ in range(nd)]
    kinds = ["int", "tuple", "pairs", "valid"] + (["same"] if allow_same else [])
    pk = draw(st.sampled_from(kinds))
    if pk == "int":
        v = draw(st.integers(0, 3))
        padding, pads = v, [(v, v)] * nd
    elif pk == "tuple":
        v = [draw(st.integers(0, 3)) for _ in range(nd)]
        padding, pads = T(*v), [(p, p) for p in v]
    elif pk == "pairs":
        pads = [(draw(st.integers(0, 3)), draw(st.integers(0, 3))) for _ in range(nd)]
        padding = T(*[T(*p) for p in pads])
    else:
        padding, pads = pk, None
    sizes = []
    for i in range(nd):
        n = draw(st.integers(0, 9 if nd < 3 else 5))
        eff = (k[i] - 1) * dl[i] + 1
        if pk == "same":
            n = max(n, 1)
        elif n + sum(pads[i] if pads else (0, 0)) < eff:
            n = eff - sum(pads[i] if pads else (0, 0))
        sizes.append(max(n, 0))
    if pk == "same":
        pads = [ref.same_pads(sizes[i], k[i], s[i], dl[i]) for i in range(nd)]
    elif pk == "valid":
        pads = [(0, 0)] * nd
    mode = draw(st.sampled_from(modes))
    if not ref.padding_reaches(mode, sizes, pads):
        mode = "zeros"
    def unwrap(v):
        return tuple(unwrap(x) for x in v["__tuple__"]) if isinstance(v, dict) else v
    return dict(k=k, stride=T(*s) if draw(st.booleans()) else s[0] if len(set(s)) == 1 else T(*s),
                dilation=dl[0] if len(set(dl)) == 1 else T(*dl), padding=padding, sizes=sizes,
                mode=mode, pads=pads)


ACTS = [None, None, "relu", "relu6", "sigmoid", "tanh", "gelu"]


@st.composite
def conv_call(draw, op="conv", allow_cl=True):
    c = Ctx(draw)
    nd = {"conv1d": 1, "conv2d": 2, "conv3d": 3}.get(op) or draw(st.integers(1, 3))
    if nd == 1 and draw(st.integers(0, 9)) == 0:  # a long 1-D signal
        g = dict(k=[draw(st.integers(1, 40))], stride=1, dilation=1, padding=0, mode="zeros",
                 sizes=[draw(st.integers(40, 3000))])
    else:
        g = geometry(draw, nd)
    groups = draw(st.integers(1, 3))
    cin, cout = groups * draw(st.integers(1, 2)), groups * draw(st.integers(1, 2))
    n = draw(st.integers(0, 2))
    dt = draw(st.sampled_from(["f4", "f8"]))
    cl = draw(st.booleans()) and allow_cl
    xs = [n, cin, *g["sizes"]]
    if cl:
        xs = [n, *g["sizes"], cin]
    args = [c.arr(xs, dt), c.arr([cout, cin // groups, *g["k"]], dt)]
    if draw(st.booleans()):
        args.append(c.arr([cout], dt))
    kw = dict(stride=g["stride"], padding=g["padding"], dilation=g["dilation"])
    if groups > 1 or draw(st.booleans()):
        kw["groups"] = groups
    if g["mode"] != "zeros" or draw(st.booleans()):
        kw["padding_mode"] = g["mode"]
    for key, val in (("flip", draw(st.booleans())), ("channels_last", cl),
                     ("activation", draw(st.sampled_from(ACTS)))):
        if val:
            kw[key] = val
    expect, names = "ok", []
    if draw(st.integers(0, 5)) == 0:
        kw["algorithm"] = draw(st.sampled_from(["im2col", "gemm", "winograd", "direct",
                                                "grouped", "reference"]))
        expect, names = "any", ["algorithm"]
    d = desc(op, args, kw, expect, names)
    if draw(st.booleans()):
        return d
    return mutate(draw, d, ints={"stride": 1, "dilation": 1, "padding": 0, "groups": 1},
                  strs={"padding_mode": 1, "activation": 1, "algorithm": 1},
                  arrays={0: "x", 1: "w", 2: "bias"},
                  also=["x", "w", "kernel", "input", "output", "padding", "dilation", "stride"])


@st.composite
def transpose_call(draw, op="conv_transpose"):
    c = Ctx(draw)
    nd = {"conv_transpose1d": 1, "conv_transpose2d": 2, "conv_transpose3d": 3}.get(op) or \
        draw(st.integers(1, 3))
    k = [draw(st.integers(1, 4)) for _ in range(nd)]
    s = [draw(st.integers(1, 3)) for _ in range(nd)]
    dl = [draw(st.integers(1, 2)) for _ in range(nd)]
    op_ = [draw(st.integers(0, max(si, di) - 1)) for si, di in zip(s, dl)]
    sizes = [draw(st.integers(1, 6 if nd < 3 else 4)) for _ in range(nd)]
    full = [(sizes[i] - 1) * s[i] + dl[i] * (k[i] - 1) + 1 + op_[i] for i in range(nd)]
    pads = []
    for i in range(nd):
        a = draw(st.integers(0, 3))
        b = draw(st.integers(0, 3))
        while a + b >= full[i]:
            a, b = a // 2, b // 2
            if a + b >= full[i]:
                a = b = 0
        pads.append((a, b))
    if all(a == b for a, b in pads) and draw(st.booleans()):
        padding = pads[0][0] if len({a for a, _ in pads}) == 1 else T(*[a for a, _ in pads])
    else:
        padding = T(*[T(*p) for p in pads])
    groups = draw(st.integers(1, 3))
    cin, cout = groups * draw(st.integers(1, 2)), groups * draw(st.integers(1, 2))
    n = draw(st.integers(0, 2))
    dt = draw(st.sampled_from(["f4", "f8"]))
    cl = draw(st.booleans())
    xs = [n, *sizes, cin] if cl else [n, cin, *sizes]
    args = [c.arr(xs, dt), c.arr([cin, cout // groups, *k], dt)]
    if draw(st.booleans()):
        args.append(c.arr([cout], dt))
    kw = dict(stride=T(*s), padding=padding, dilation=T(*dl), output_padding=T(*op_))
    if groups > 1:
        kw["groups"] = groups
    if cl:
        kw["channels_last"] = True
    a = draw(st.sampled_from(ACTS))
    if a:
        kw["activation"] = a
    expect, names = "ok", []
    if draw(st.integers(0, 5)) == 0:
        kw["algorithm"] = draw(st.sampled_from(["im2col", "winograd", "direct", "reference"]))
        expect, names = "any", ["algorithm"]
    d = desc(op, args, kw, expect, names)
    if draw(st.booleans()):
        return d
    return mutate(draw, d, ints={"stride": 1, "dilation": 1, "padding": 0, "groups": 1,
                                 "output_padding": 0},
                  strs={"activation": 1, "algorithm": 1}, arrays={0: "x", 1: "w", 2: "bias"},
                  also=["x", "w", "output_padding", "padding", "output", "stride", "dilation"])


@st.composite
def filter_call(draw, op="convolve"):
    c = Ctx(draw)
    nd = draw(st.integers(1, 3))
    mode = draw(st.sampled_from(["full", "same", "valid"]))
    boundary = draw(st.sampled_from(["fill", "wrap", "symm"]))
    if nd == 1 and draw(st.booleans()):
        na, nk = [draw(st.integers(1, 5000))], [draw(st.integers(1, 64))]
    else:
        na = [draw(st.integers(1, 8 if nd < 3 else 5)) for _ in range(nd)]
        nk = [draw(st.integers(1, 6 if nd < 3 else 3)) for _ in range(nd)]
    if draw(st.booleans()):
        na, nk = nk, na  # kernel larger than the input
    if mode == "valid" and not (all(a >= k for a, k in zip(na, nk)) or
                                all(a <= k for a, k in zip(na, nk))):
        nk = [min(a, k) for a, k in zip(na, nk)]
    dt = draw(st.sampled_from(["f4", "f8"]))
    args = [c.arr(na, dt, fill=draw(st.sampled_from(["n", "n", "n", "x"]))), c.arr(nk, dt)]
    if draw(st.integers(0, 8)) == 0:
        args = [c.arr(na, dt, layout=False), c.arr(nk, dt, layout=False)]
        args[0]["__array__"]["lay"] = "list"
        args[1]["__array__"]["dt"] = "f8"
        args[0]["__array__"]["dt"] = "f8"
    kw = {"mode": mode, "boundary": boundary}
    if boundary == "fill" and draw(st.booleans()):
        kw["fillvalue"] = draw(st.sampled_from([0.0, 1.5, -2, 3, float("nan"), float("inf")]))
    d = desc(op, args, kw)
    if draw(st.booleans()):
        return d
    which = draw(st.sampled_from(["fillvalue", "mode", "boundary", "arrays", "empty", "rank"]))
    if which == "fillvalue":
        d["kwargs"]["boundary"] = "fill"
        d["kwargs"]["fillvalue"] = draw(st.sampled_from(["1", None, {"__complex__": [1, 2]},
                                                         [1.0], b"1"]))
        d["expect"], d["names"] = "error", ["fillvalue"]
    elif which in ("mode", "boundary"):
        d["kwargs"][which] = draw(st.sampled_from(["bogus", "", 1, None, "FULL"]))
        d["expect"], d["names"] = "error", [which]
    elif which == "empty":
        pos = draw(st.integers(0, 1))
        s = list(d["args"][pos]["__array__"]["s"])
        s[draw(st.integers(0, len(s) - 1))] = 0
        d["args"][pos]["__array__"]["s"] = s
        if d["args"][pos]["__array__"]["lay"] == "list":  # [] would be 1-D whatever the shape
            d["args"][pos]["__array__"]["lay"] = "c"
        if pos == 0 and d["kwargs"]["mode"] == "same" and 0 not in d["args"][1]["__array__"]["s"]:
            d["expect"], d["names"] = "ok", []  # SciPy: an empty result of a's shape
        else:
            d["expect"], d["names"] = "error", ["ak"[pos]]
    elif which == "rank":
        d["args"][1]["__array__"]["s"] = [2] * draw(st.sampled_from([0, 4]))
        d["expect"], d["names"] = "error", ["k"]
    else:
        before = [x["__array__"]["dt"] for x in d["args"]]
        d = mutate(draw, d, arrays={0: "a", 1: "k"})
        after = [x["__array__"]["dt"] if isinstance(x, dict) else None for x in d["args"]]
        if None not in after and any(b != t and not t.startswith(">")
                                     for b, t in zip(before, after)):
            # every numeric dtype and mix is valid (SciPy's result_type); the fill value must
            # then be one the result dtype holds (NaN is no integer)
            d["expect"], d["names"] = "ok", []
            d["kwargs"].pop("fillvalue", None)
    return d


@st.composite
def channel_shuffle_call(draw):
    c = Ctx(draw)
    groups = draw(st.integers(1, 4))
    C = groups * draw(st.integers(0, 3))
    sp = [draw(st.integers(0, 4)) for _ in range(draw(st.integers(0, 3)))]
    cl = draw(st.booleans())
    xs = [draw(st.integers(0, 2)), *sp, C] if cl else [draw(st.integers(0, 2)), C, *sp]
    d = desc("channel_shuffle", [c.arr(xs, draw(st.sampled_from(["f4", "f8"]))), groups],
             {"channels_last": True} if cl else {})
    if draw(st.booleans()):
        return d
    which = draw(st.sampled_from(["groups", "groups", "x"]))
    if which == "groups":
        v = draw(st.sampled_from([0, -1, C + 1 if C + 1 > 1 and (C % (C + 1)) else 7, 2 ** 63,
                                  2 ** 64, 1.5, "2", None, True]))
        if isinstance(v, int) and not isinstance(v, bool) and v >= 1 and C % v == 0:
            return d
        d["args"][1] = v
        d["expect"], d["names"] = "error", ["groups"]
        return d
    # (another rank moves the channel axis under channels_last: groups may no longer divide it)
    return mutate(draw, d, arrays={0: "x"}, also=["groups"], flex_ndim=("x",))


@st.composite
def shuffled_grouped_conv_call(draw):
    d = draw(conv_call("conv", allow_cl=False))
    d["op"] = "shuffled_grouped_conv"
    kw = d["kwargs"]
    kw.pop("flip", None)
    if "groups" not in kw and d["expect"] == "ok":
        kw["groups"] = 1
    elif "groups" not in kw:
        kw["groups"] = 1
    return d


@st.composite
def asymmetric_call(draw):
    c = Ctx(draw)
    k = draw(st.sampled_from([1, 3, 5]))
    g = geometry(draw, 2)
    g["k"] = [k, k]
    sizes = [max(n, (k - 1) * 3 + 1) for n in g["sizes"]]
    pads = ref.pads(g["padding"] if isinstance(g["padding"], (str, int)) else
                    _unwrap(g["padding"]), sizes, (k, k), _pair(g["stride"]), _pair(g["dilation"]))
    mode = g["mode"] if ref.padding_reaches(g["mode"], sizes, pads) else "zeros"
    groups = draw(st.integers(1, 2))
    cin, cout = groups * draw(st.integers(1, 2)), groups * draw(st.integers(1, 2))
    dt = draw(st.sampled_from(["f4", "f8"]))
    cl = draw(st.booleans())
    n = draw(st.integers(0, 2))
    xs = [n, *sizes, cin] if cl else [n, cin, *sizes]
    args = [c.arr(xs, dt), c.arr([cout, cin // groups, k, k], dt),
            c.arr([cout, cin // groups, 1, k], dt), c.arr([cout, cin // groups, k, 1], dt)]
    if draw(st.booleans()):
        args.append(c.arr([cout], dt))
    kw = dict(stride=g["stride"], padding=g["padding"], dilation=g["dilation"], groups=groups,
              padding_mode=mode, channels_last=cl, activation=draw(st.sampled_from(ACTS)))
    d = desc("asymmetric_conv2d", args, kw)
    if draw(st.booleans()):
        return d
    if draw(st.integers(0, 3)) == 0:  # even kernel or mismatched branch shapes
        d["args"][2]["__array__"]["s"][3] += 1
        d["expect"], d["names"] = "error", ["w_hor", "w_square"]
        return d
    return mutate(draw, d, ints={"stride": 1, "dilation": 1, "padding": 0, "groups": 1},
                  strs={"padding_mode": 1, "activation": 1},
                  arrays={0: "x", 1: "w_square", 2: "w_hor", 3: "w_ver", 4: "bias"},
                  also=["x", "w_square", "kernel", "input", "output", "padding"])


def _unwrap(v):
    return tuple(_unwrap(x) for x in v["__tuple__"]) if isinstance(v, dict) else v


def _pair(v):
    v = _unwrap(v)
    return tuple(v) if isinstance(v, tuple) else (v, v)


@st.composite
def fuse_asymmetric_call(draw):
    c = Ctx(draw)
    k = draw(st.sampled_from([1, 3, 5]))
    o, i = draw(st.integers(1, 3)), draw(st.integers(1, 3))
    dt = draw(st.sampled_from(["f4", "f8"]))
    d = desc("fuse_asymmetric", [c.arr([o, i, k, k], dt), c.arr([o, i, 1, k], dt),
                                 c.arr([o, i, k, 1], dt)], {})
    if draw(st.booleans()):
        return d
    return mutate(draw, d, arrays={0: "w_square", 1: "w_hor", 2: "w_ver"})


@st.composite
def se_call(draw):
    c = Ctx(draw)
    C, R = draw(st.integers(1, 6)), draw(st.integers(1, 4))
    sp = [draw(st.integers(1, 5)) for _ in range(draw(st.integers(1, 3)))]
    cl = draw(st.booleans())
    n = draw(st.integers(0, 2))
    dt = draw(st.sampled_from(["f4", "f8"]))
    xs = [n, *sp, C] if cl else [n, C, *sp]
    conv_w = draw(st.booleans())
    w1 = c.arr([R, C, 1, 1] if conv_w else [R, C], dt)
    w2 = c.arr([C, R, 1, 1] if conv_w else [C, R], dt)
    b1 = c.arr([R], dt) if draw(st.booleans()) else None
    b2 = c.arr([C], dt) if draw(st.booleans()) else None
    d = desc("squeeze_excitation", [c.arr(xs, dt), w1, b1, w2, b2],
             {"channels_last": True} if cl else {})
    if draw(st.booleans()):
        return d
    if draw(st.integers(0, 2)) == 0:
        d["args"][3]["__array__"]["s"][1] += 1
        d["expect"], d["names"] = "error", ["w2", "w1"]
        return d
    # (w1 and w2 may carry trailing 1s: a 1x1 conv's weight)
    return mutate(draw, d, arrays={0: "x", 1: "w1", 3: "w2"}, flex_ndim=("x", "w1", "w2"))


@st.composite
def inception_call(draw):
    c = Ctx(draw)
    nd = draw(st.integers(1, 2))
    C = draw(st.integers(1, 3))
    n = draw(st.integers(0, 2))
    sp = [draw(st.integers(1, 6)) for _ in range(nd)]
    dt = draw(st.sampled_from(["f4", "f8"]))
    branches = []
    for _ in range(draw(st.integers(1, 3))):
        br, cin = [], C
        for _ in range(draw(st.integers(0, 2))):
            k = draw(st.sampled_from([1, 3]))
            cout = draw(st.integers(1, 3))
            layer = {"w": c.arr([cout, cin, *[k] * nd], dt, layout=False)}
            if k == 3:
                dl = draw(st.integers(1, 2))
                layer.update(padding=dl, dilation=dl)
                mode = draw(st.sampled_from(["zeros", "replicate", "circular"]))
                if mode != "zeros" and all(s >= dl for s in sp):
                    layer["padding_mode"] = mode
            if draw(st.booleans()):
                layer["bias"] = c.arr([cout], dt, layout=False)
            if draw(st.booleans()):
                layer["activation"] = draw(st.sampled_from(ACTS[2:]))
            br.append(layer)
            cin = cout
        branches.append(br)
    d = desc("inception", [c.arr([n, C, *sp], dt), branches], {})
    if draw(st.booleans()):
        return d
    which = draw(st.sampled_from(["size", "key", "now", "type", "empty"]))
    if which == "empty":
        d["args"][1] = []
    elif which == "type":
        d["args"][1] = draw(st.sampled_from(["abc", 3, None, {"w": 1}]))
    else:
        layer = {"w": c.arr([2, C, *[3] * nd], dt, layout=False)}
        if which == "key":
            layer["strides"] = 2
        elif which == "now":
            layer = {"bias": c.arr([2], dt)}
        d["args"][1] = branches + [[layer]] if which != "size" else [[layer]] + branches
        if which == "size" and any(len(b) == 0 for b in branches) is False and not branches:
            pass
        if which == "size":
            d["args"][1] = [[{"w": c.arr([2, C, *[1] * nd], dt, layout=False)}], [layer]]
    d["expect"], d["names"] = "error", ["branches", "x"]
    return d


@st.composite
def conv_matrix_call(draw):
    c = Ctx(draw)
    nd = draw(st.integers(1, 2))
    g = geometry(draw, nd, modes=("zeros",))
    groups = draw(st.integers(1, 2))
    cin, cout = groups * draw(st.integers(1, 2)), groups * draw(st.integers(1, 2))
    sizes = [max(1, s) if all(p == (0, 0) for p in g["pads"]) else s for s in g["sizes"]]
    sizes = [min(s, 7) for s in sizes]
    k = [min(kk, (s + sum(p) - 1) // max(1, _pair_i(g["dilation"], i)) + 1)
         for i, (kk, s, p) in enumerate(zip(g["k"], sizes, g["pads"]))]
    batched = draw(st.booleans())
    shape = ([draw(st.integers(1, 2))] if batched else []) + [cin, *sizes]
    if math.prod(shape) == 0 or math.prod(shape) > 300:
        shape = ([1] if batched else []) + [cin] + [3] * nd
        k = [1] * nd
    dt = draw(st.sampled_from(["f4", "f8"]))
    kw = dict(stride=g["stride"], padding=g["padding"], dilation=g["dilation"], groups=groups)
    d = desc("conv_matrix", [T(*shape), c.arr([cout, cin // groups, *k], dt)], kw)
    if draw(st.booleans()):
        return d
    return mutate(draw, d, ints={"stride": 1, "dilation": 1, "padding": 0, "groups": 1},
                  arrays={1: "w"}, also=["input_shape", "w", "kernel", "output", "padding"],
                  flex_ndim=("w",))


def _pair_i(v, i):
    v = _unwrap(v)
    return v[i] if isinstance(v, tuple) else v


@st.composite
def quantized_call(draw):
    c = Ctx(draw)
    g = geometry(draw, 2, modes=("zeros",))
    groups = draw(st.integers(1, 2))
    cin, cout = groups * draw(st.integers(1, 2)), groups * draw(st.integers(1, 2))
    n = draw(st.integers(0, 2))
    xdt, wdt = draw(st.sampled_from(["u1", "i1"])), draw(st.sampled_from(["u1", "i1"]))
    cl = draw(st.booleans())
    xs = [n, *g["sizes"], cin] if cl else [n, cin, *g["sizes"]]
    per_ch = draw(st.booleans())
    ws = [float(draw(st.sampled_from([0.01, 0.05, 0.5, 1.0])))] * (cout if per_ch else 1)
    wz = [int(draw(st.integers(-3, 3))) if wdt == "i1" else int(draw(st.integers(0, 200)))] * \
        (cout if per_ch else 1)
    yz = draw(st.integers(0, 255))
    ydt = draw(st.sampled_from([None, "u1", "i1"]))
    if ydt == "i1" or (ydt is None and xdt == "i1"):
        yz = yz - 128
    args = [c.arr(xs, xdt, fill="i"), draw(st.sampled_from([0.02, 0.5, 1.0])),
            int(draw(st.integers(0, 255)) if xdt == "u1" else draw(st.integers(-128, 127))),
            c.arr([cout, cin // groups, *g["k"]], wdt, fill="i"),
            ws if per_ch else ws[0], wz if per_ch else wz[0],
            draw(st.sampled_from([0.05, 0.1, 1.0, 3.0])), yz]
    if ydt is None and draw(st.booleans()):
        args[7] = {"__scalar__": ["u1" if yz >= 0 and xdt == "u1" else "i1", yz]}
    if draw(st.booleans()):
        args.append(c.arr([cout], "i4", fill="i"))
    kw = dict(stride=g["stride"], padding=g["padding"], dilation=g["dilation"], groups=groups,
              channels_last=cl)
    if ydt:
        kw["y_dtype"] = ydt
    d = desc("quantized_conv2d", args, kw)
    if draw(st.booleans()):
        return d
    which = draw(st.sampled_from(["scale", "zp", "geo", "geo", "dtype"]))
    if which == "scale":
        pos = draw(st.sampled_from([1, 6]))
        d["args"][pos] = draw(st.sampled_from([0.0, -1.0, float("nan"), float("inf"), "1",
                                               None, [], [1.0, 2.0]]))
        d["expect"], d["names"] = "error", [["x_scale", "y_scale"][pos == 6]]
    elif which == "zp":
        pos = draw(st.sampled_from([2, 7]))
        d["args"][pos] = draw(st.sampled_from([256, -129, 2 ** 63, 1.5, "0", None]))
        d["expect"], d["names"] = "error", [["x_zero_point", "y_zero_point"][pos == 7]]
    elif which == "dtype":
        d["args"][0]["__array__"]["dt"] = draw(st.sampled_from(["f4", "i4", "u2", "?"]))
        d["expect"], d["names"] = "error", ["x"]
    else:
        return mutate(draw, d, ints={"stride": 1, "dilation": 1, "padding": 0, "groups": 1},
                      also=["x", "w", "kernel", "input", "output", "padding"])
    return d


@st.composite
def deform_call(draw):
    c = Ctx(draw)
    kh, kw_ = draw(st.integers(1, 3)), draw(st.integers(1, 3))
    s = (draw(st.integers(1, 2)), draw(st.integers(1, 2)))
    p = (draw(st.integers(0, 2)), draw(st.integers(0, 2)))
    dl = (draw(st.integers(1, 2)), draw(st.integers(1, 2)))
    H = max(draw(st.integers(0, 6)), (kh - 1) * dl[0] + 1 - 2 * p[0])
    W = max(draw(st.integers(0, 6)), (kw_ - 1) * dl[1] + 1 - 2 * p[1])
    Ho = (H + 2 * p[0] - (dl[0] * (kh - 1) + 1)) // s[0] + 1
    Wo = (W + 2 * p[1] - (dl[1] * (kw_ - 1) + 1)) // s[1] + 1
    groups, og = draw(st.integers(1, 2)), draw(st.integers(1, 2))
    cin = groups * og * draw(st.integers(1, 2))
    cout = groups * draw(st.integers(1, 2))
    n = draw(st.integers(0, 2))
    dt = draw(st.sampled_from(["f4", "f8"]))
    cl = draw(st.booleans())

    def shp(C, h, w):
        return [n, h, w, C] if cl else [n, C, h, w]
    args = [c.arr(shp(cin, H, W), dt), c.arr(shp(2 * og * kh * kw_, Ho, Wo), dt,
                                               fill=draw(st.sampled_from(["o", "o", "x"]))),
            c.arr([cout, cin // groups, kh, kw_], dt)]
    kw = dict(stride=T(*s) if s[0] != s[1] else s[0], padding=T(*p), dilation=T(*dl))
    if draw(st.booleans()):
        args.append(c.arr([cout], dt))
    if draw(st.booleans()):
        kw["mask"] = c.arr(shp(og * kh * kw_, Ho, Wo), dt)
    if cl:
        kw["channels_last"] = True
    if draw(st.integers(0, 4)) == 0:
        kw["algorithm"] = "reference"
    d = desc("deform_conv2d", args, kw)
    if draw(st.booleans()):
        return d
    return mutate(draw, d, ints={"stride": 1, "dilation": 1, "padding": 0},
                  strs={"algorithm": 1}, arrays={0: "x", 1: "offset", 2: "w", "mask": "mask"},
                  also=["x", "offset", "w", "kernel", "input", "output", "mask", "padding"])


def _dw_geometry(draw, c):
    g = geometry(draw, 2, modes=("zeros", "zeros", "reflect", "replicate", "circular"))
    C, m = draw(st.integers(1, 5)), draw(st.integers(1, 2))
    n = draw(st.integers(0, 2))
    dt = draw(st.sampled_from(["f4", "f8"]))
    cl = draw(st.booleans())
    xs = [n, *g["sizes"], C] if cl else [n, C, *g["sizes"]]
    return g, C, m, dt, cl, xs


@st.composite
def depthwise_call(draw):
    c = Ctx(draw)
    g, C, m, dt, cl, xs = _dw_geometry(draw, c)
    args = [c.arr(xs, dt), c.arr([C * m, 1, *g["k"]], dt)]
    if draw(st.booleans()):
        args.append(c.arr([C * m], dt))
    kw = dict(stride=g["stride"], padding=g["padding"], dilation=g["dilation"],
              padding_mode=g["mode"], channels_last=cl, activation=draw(st.sampled_from(ACTS)))
    d = desc("depthwise_conv2d", args, kw)
    if draw(st.booleans()):
        return d
    return mutate(draw, d, ints={"stride": 1, "dilation": 1, "padding": 0},
                  strs={"padding_mode": 1, "activation": 1}, arrays={0: "x", 1: "w", 2: "bias"},
                  also=["x", "w", "kernel", "input", "output", "padding"])


@st.composite
def pointwise_call(draw):
    c = Ctx(draw)
    groups = draw(st.integers(1, 3))
    cin, cout = groups * draw(st.integers(1, 3)), groups * draw(st.integers(1, 3))
    sp = [draw(st.integers(0, 5)) for _ in range(draw(st.integers(0, 3)))]
    n = draw(st.integers(0, 2))
    dt = draw(st.sampled_from(["f4", "f8"]))
    cl = draw(st.booleans())
    xs = [n, *sp, cin] if cl else [n, cin, *sp]
    ws = [cout, cin // groups] + ([1] * len(sp) if draw(st.booleans()) else [])
    args = [c.arr(xs, dt), c.arr(ws, dt)]
    if draw(st.booleans()):
        args.append(c.arr([cout], dt))
    kw = dict(groups=groups, channels_last=cl, activation=draw(st.sampled_from(ACTS)))
    d = desc("pointwise_conv", args, kw)
    if draw(st.booleans()):
        return d
    if draw(st.integers(0, 3)) == 0:
        d["args"][1]["__array__"]["s"] = ws[:2] + [3, 1]
        d["expect"], d["names"] = "error", ["w"]
        return d
    return mutate(draw, d, ints={"groups": 1}, strs={"activation": 1},
                  arrays={0: "x", 1: "w", 2: "bias"}, also=["x", "w"], flex_ndim=("x", "w"))


@st.composite
def dw_separable_call(draw):
    c = Ctx(draw)
    g, C, m, dt, cl, xs = _dw_geometry(draw, c)
    cout = draw(st.integers(1, 4))
    args = [c.arr(xs, dt), c.arr([C * m, 1, *g["k"]], dt),
            c.arr([cout, C * m] + ([1, 1] if draw(st.booleans()) else []), dt)]
    if draw(st.booleans()):
        args += [c.arr([C * m], dt), c.arr([cout], dt) if draw(st.booleans()) else None]
    kw = dict(stride=g["stride"], padding=g["padding"], dilation=g["dilation"],
              padding_mode=g["mode"], channels_last=cl,
              mid_activation=draw(st.sampled_from(ACTS)), activation=draw(st.sampled_from(ACTS)))
    d = desc("depthwise_separable_conv2d", args, kw)
    if draw(st.booleans()):
        return d
    return mutate(draw, d, ints={"stride": 1, "dilation": 1, "padding": 0},
                  strs={"padding_mode": 1, "activation": 1, "mid_activation": 1},
                  arrays={0: "x", 1: "w_depthwise", 2: "w_pointwise"},
                  also=["x", "w_depthwise", "kernel", "input", "output", "padding"])


@st.composite
def spatially_separable_call(draw):
    c = Ctx(draw)
    g = geometry(draw, 2, modes=("zeros",))
    groups = draw(st.integers(1, 2))
    cin, cmid, cout = (groups * draw(st.integers(1, 2)) for _ in range(3))
    n = draw(st.integers(0, 2))
    dt = draw(st.sampled_from(["f4", "f8"]))
    cl = draw(st.booleans())
    xs = [n, *g["sizes"], cin] if cl else [n, cin, *g["sizes"]]
    args = [c.arr(xs, dt), c.arr([cmid, cin // groups, g["k"][0], 1], dt),
            c.arr([cout, cmid // groups, 1, g["k"][1]], dt)]
    if draw(st.booleans()):
        args.append(c.arr([cout], dt))
    mode = draw(st.sampled_from(["zeros", "reflect", "replicate", "circular"]))
    if not ref.padding_reaches(mode, g["sizes"], g["pads"]):
        mode = "zeros"
    kw = dict(stride=g["stride"], padding=g["padding"], dilation=g["dilation"], groups=groups,
              padding_mode=mode, channels_last=cl)
    d = desc("spatially_separable_conv2d", args, kw)
    if draw(st.booleans()):
        return d
    return mutate(draw, d, ints={"stride": 1, "dilation": 1, "padding": 0, "groups": 1},
                  strs={"padding_mode": 1}, arrays={0: "x", 1: "w_col", 2: "w_row", 3: "bias"},
                  also=["x", "w_col", "w_row", "kernel", "input", "output", "padding"])


@st.composite
def flattened_call(draw):
    c = Ctx(draw)
    g = geometry(draw, 2)
    cin, cout = draw(st.integers(1, 3)), draw(st.integers(1, 3))
    n = draw(st.integers(0, 2))
    dt = draw(st.sampled_from(["f4", "f8"]))
    args = [c.arr([n, cin, *g["sizes"]], dt), c.arr([cout, cin], dt),
            c.arr([cout, g["k"][0]], dt), c.arr([cout, g["k"][1]], dt)]
    if draw(st.booleans()):
        args.append(c.arr([cout], dt))
    kw = dict(stride=g["stride"], padding=g["padding"], dilation=g["dilation"],
              padding_mode=g["mode"])
    d = desc("flattened_conv2d", args, kw)
    if draw(st.booleans()):
        return d
    return mutate(draw, d, ints={"stride": 1, "dilation": 1, "padding": 0},
                  strs={"padding_mode": 1},
                  arrays={0: "x", 1: "w_channel", 2: "w_vertical", 3: "w_horizontal"},
                  also=["x", "w_channel", "w_vertical", "w_horizontal", "kernel", "input",
                        "output", "padding"])


@st.composite
def separate_kernel_call(draw):
    c = Ctx(draw)
    shape = [draw(st.integers(1, 6)), draw(st.integers(1, 6))]
    dt = draw(st.sampled_from(["f4", "f8", "i8", "u1"]))
    args = [c.arr(shape, dt, fill="i" if dt[0] in "iu" else "n")]
    kw = {}
    if draw(st.booleans()):
        kw["rank"] = draw(st.integers(1, min(shape)))
    if draw(st.booleans()):
        kw["tol"] = draw(st.sampled_from([0, 1e-12, 1e-6, 0.1, 1]))
    d = desc("separate_kernel", args, kw)
    if draw(st.booleans()):
        return d
    which = draw(st.sampled_from(["rank", "tol", "k", "big"]))
    if which == "rank":
        v, _ = int_mutation(draw, 1)
        if v is None:  # the documented default: every pair above tol
            d["kwargs"]["rank"] = None
            return d
        d["kwargs"]["rank"] = v if v != 1 else 0
        d["expect"], d["names"] = "error", ["rank"]
    elif which == "tol":
        d["kwargs"]["tol"] = draw(st.sampled_from([-1.0, float("nan"), "0.1", None, -1e-300]))
        d["expect"], d["names"] = "error", ["tol"]
    elif which == "big":  # finite but huge values: overflow in the SVD
        d["args"][0] = [[1e308, 1e308], [1e308, -1e308]] if draw(st.booleans()) else \
            [[1e308, 1.0]]
        d["kwargs"] = {}
        d["expect"], d["names"] = "any", ["k"]
    else:
        d["args"][0]["__array__"]["dt"] = draw(st.sampled_from(["c16", "?"]))
        d["expect"], d["names"] = "error", ["k"]
    return d


@st.composite
def output_shape_call(draw, op="output_shape"):
    """output_shape / cost of conv and conv_transpose, sizes and parameters up to int64 and
    beyond: the result must equal exact integer arithmetic or be refused."""
    transposed = draw(st.booleans())
    nd = draw(st.integers(1, 3))
    big = st.sampled_from([1, 2, 3, 7, 2 ** 31, 2 ** 40, 2 ** 62, 2 ** 63 - 1, 2 ** 63])
    small = st.integers(1, 5)
    def val():
        return draw(big) if draw(st.integers(0, 3)) == 0 else draw(small)
    xs = [val() if draw(st.integers(0, 4)) == 0 else draw(small) for _ in range(nd + 2)]
    ws = [draw(small) for _ in range(nd + 2)]
    if draw(st.integers(0, 3)) == 0:
        ws[2 + draw(st.integers(0, nd - 1))] = draw(big)
    groups = 1
    if transposed:
        ws[0] = xs[1]
    else:
        ws[1] = xs[1]
    kw = {"stride": val(), "dilation": val(), "padding": val() - 1}
    if transposed:
        kw["output_padding"] = min(draw(st.integers(0, 2)), max(kw["stride"], kw["dilation"]) - 1)
    name = "conv_transpose" if transposed else "conv"
    if draw(st.booleans()):
        name += f"{nd}d"
    kw["groups"] = groups
    return desc(op, [name, T(*xs), T(*ws)], kw, "any",
                ["x", "w", "stride", "dilation", "padding", "output_padding", "kernel", "input",
                 "output", "groups"])


@st.composite
def receptive_field_call(draw):
    layers = []
    val = st.one_of(st.integers(1, 5), st.sampled_from([2 ** 31, 2 ** 62, 2 ** 63 - 1]))
    nd = draw(st.sampled_from([None, 2]))
    for _ in range(draw(st.integers(1, 4))):
        n = draw(st.integers(1, 4))
        layer = [draw(val) for _ in range(n)]
        if n == 4:
            layer[3] = draw(st.integers(0, 3))
        if nd and draw(st.booleans()):
            layer[0] = T(layer[0], draw(st.integers(1, 5)))
        layers.append(T(*layer))
    def ints(v):  # every int of a layer, per-dim tuples included
        return [x for t in v["__tuple__"] for x in ints(t)] if isinstance(v, dict) else [v]

    big = any(isinstance(v, int) and v > 5 for L in layers for v in ints(L))
    d = desc("receptive_field", [layers], {}, "any" if big else "ok", ["layers"])
    if draw(st.integers(0, 3)) == 0:
        d["args"][0] = draw(st.sampled_from([[], [T()], [T(0, 1, 1)], [T(3, 1, 1, -1)],
                                             [T(3, -1)], [T(3, 1, 1, 0, 5)], [T("3",)],
                                             [T(2 ** 64,)], [T(3.0,)], [None]]))
        d["expect"], d["names"] = "error", ["layers"]
    return d


@st.composite
def transposed_overlap_call(draw):
    v = st.integers(1, 9)
    if draw(st.booleans()):
        args = [draw(v), draw(v)] + ([draw(v)] if draw(st.booleans()) else [])
    else:
        nd = draw(st.integers(1, 3))
        args = [T(*[draw(v) for _ in range(nd)]), draw(v), T(*[draw(v) for _ in range(nd)])]
    d = desc("transposed_overlap", args, {})
    if draw(st.booleans()):
        return d
    pos = draw(st.integers(0, len(args) - 1))
    val, expect = int_mutation(draw, 1)
    if isinstance(d["args"][pos], dict):
        d["args"] = [draw(v), draw(v), draw(v)]
    d["args"][pos] = val
    d["expect"] = "any" if isinstance(val, dict) else expect
    d["names"] = [("kernel_size", "stride", "dilation")[pos]]
    return d


@st.composite
def kernel_call(draw, name):
    if name in ("blur", "sharpen", "emboss", "outline", "laplacian"):
        d = desc("kernels." + name, [], {})
        if draw(st.booleans()):
            d["args"] = [3]
            d["expect"] = "error"
            d["names"] = []
        return d
    if name in ("sobel", "scharr", "prewitt"):
        if draw(st.booleans()):
            return desc("kernels." + name, [draw(st.sampled_from([0, 1, -1, -2]))], {})
        return desc("kernels." + name, [draw(st.sampled_from([2, -3, 2 ** 63, 0.0, "0", None,
                                                              True]))], {}, "error", ["axis"])
    if name in ("identity", "box"):
        if draw(st.booleans()):
            return desc("kernels." + name, [draw(st.integers(1, 9))], {})
        v, expect = int_mutation(draw, 1)
        return desc("kernels." + name, [v], {}, expect, ["size"])
    # gaussian
    sigma = draw(st.sampled_from([0.3, 0.5, 1.0, 1.7, 2.5, 0.01, 0.1]))
    size = draw(st.sampled_from([None, None, 1, 2, 3, 5, 8]))
    d = desc("kernels.gaussian", [sigma] + ([size] if size is not None else []), {})
    if draw(st.booleans()):
        return d
    if draw(st.booleans()):
        d["args"] = [draw(st.sampled_from([0, -1.0, float("nan"), float("inf"), 1e300, "1",
                                           None, True, 2 ** 63]))]
        d["expect"], d["names"] = ("any" if d["args"][0] in (1e300, 2 ** 63) else "error"), \
            ["sigma"]
    else:
        v, expect = int_mutation(draw, 1)
        d["args"] = [1.0, v]
        # None is the default size (2 * round(4 sigma) + 1)
        d["expect"], d["names"] = ("ok", []) if v is None else (expect, ["size"])
    return d


@st.composite
def threads_call(draw):
    ncpu = 2
    v = draw(st.sampled_from([0, 1, 2, "ncpu", -1, 1000, 10 ** 6, 2 ** 31, 2 ** 63, 2 ** 64,
                              1.0, "2", None, True]))
    if v == "ncpu":
        v = ncpu
    if isinstance(v, int) and not isinstance(v, bool) and 0 <= v <= ncpu:
        return desc("set_num_threads", [v], {})
    return desc("set_num_threads", [v], {}, "error", ["n"])


STRATEGIES = {
    "conv": conv_call("conv"), "conv1d": conv_call("conv1d"), "conv2d": conv_call("conv2d"),
    "conv3d": conv_call("conv3d"),
    "conv_transpose": transpose_call("conv_transpose"),
    "conv_transpose1d": transpose_call("conv_transpose1d"),
    "conv_transpose2d": transpose_call("conv_transpose2d"),
    "conv_transpose3d": transpose_call("conv_transpose3d"),
    "convolve": filter_call("convolve"), "correlate": filter_call("correlate"),
    "channel_shuffle": channel_shuffle_call(), "shuffled_grouped_conv": shuffled_grouped_conv_call(),
    "asymmetric_conv2d": asymmetric_call(), "fuse_asymmetric": fuse_asymmetric_call(),
    "squeeze_excitation": se_call(), "inception": inception_call(),
    "conv_matrix": conv_matrix_call(), "quantized_conv2d": quantized_call(),
    "deform_conv2d": deform_call(), "depthwise_conv2d": depthwise_call(),
    "pointwise_conv": pointwise_call(), "depthwise_separable_conv2d": dw_separable_call(),
    "spatially_separable_conv2d": spatially_separable_call(),
    "flattened_conv2d": flattened_call(), "separate_kernel": separate_kernel_call(),
    "output_shape": output_shape_call("output_shape"), "cost": output_shape_call("cost"),
    "receptive_field": receptive_field_call(), "transposed_overlap": transposed_overlap_call(),
    "set_num_threads": threads_call(),
}
for _n in ("identity", "box", "blur", "gaussian", "sharpen", "emboss", "outline", "laplacian",
           "sobel", "scharr", "prewitt"):
    STRATEGIES["kernels." + _n] = kernel_call(_n)
