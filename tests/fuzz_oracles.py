"""The fuzzer's oracles: for each op, a function (args, kwargs, result) that compares a
returned result with tests/reference.py (or exact integer arithmetic for the shape helpers) and
raises AssertionError (fuzz_ops.Mismatch) on a difference. Exceptions of any other kind mean
the oracle finds the call impossible."""
from __future__ import annotations

import inspect
import math

import numpy as np

import convcore as cc
import reference as ref
from fuzz_ops import Mismatch, close, resolve

_DEFAULT_THREADS = cc.get_num_threads()
_activate = ref.activate


def _activate_empty_ok(y, activation):  # np.vectorize (gelu) refuses size-0 inputs
    return y if np.size(y) == 0 else _activate(y, activation)


ref.activate = _activate_empty_ok


def restore_threads():
    cc.set_num_threads(_DEFAULT_THREADS)


def bound(op, args, kwargs):
    b = inspect.signature(resolve(op)).bind(*args, **kwargs)
    b.apply_defaults()
    d = dict(b.arguments)
    d.update(d.pop("kwargs", {}) or {})
    return d


def arr(a):
    return None if a is None else np.asarray(a)


def real_dtype(*arrays):
    for a in arrays:
        if a is not None and np.asarray(a).dtype.kind == "f":
            return np.dtype(np.asarray(a).dtype.str.replace(">", "<"))
    return np.dtype(np.float64)


def to_first(a, cl):
    return np.moveaxis(np.asarray(a), -1, 1) if cl else np.asarray(a)


def to_last(a, cl):
    return np.moveaxis(a, 1, -1) if cl else a


def want_array(result, dtype):
    if not isinstance(result, np.ndarray):
        raise Mismatch(f"returned {type(result).__name__}, not an ndarray")
    if result.dtype != dtype:
        raise Mismatch(f"result dtype {result.dtype}, expected {dtype}")


# ---------------------------------------------------------------- conv family

def _conv(op):
    def oracle(args, kwargs, y):
        p = bound(op, args, kwargs)
        x, w, b = arr(p["x"]), arr(p["w"]), arr(p.get("bias"))
        cl = p.get("channels_last", False)
        kw = {k: p[k] for k in ("stride", "padding", "dilation", "groups", "padding_mode", "flip",
                                "activation") if k in p}
        exp = ref.conv(to_first(x, cl), w, b, **kw)
        dt = real_dtype(x)
        want_array(y, dt)
        if p.get("out") is not None and y is not p["out"]:
            raise Mismatch("out= given but a different array returned")
        close(y, to_last(exp, cl), int(np.prod(w.shape[1:])) * 4, dt)

    return oracle


def _transpose(op):
    def oracle(args, kwargs, y):
        p = bound(op, args, kwargs)
        x, w, b = arr(p["x"]), arr(p["w"]), arr(p.get("bias"))
        cl = p.get("channels_last", False)
        kw = {k: p[k] for k in ("stride", "padding", "output_padding", "dilation", "groups",
                                "activation") if k in p}
        exp = ref.conv_transpose(to_first(x, cl), w, b, **kw)
        dt = real_dtype(x)
        want_array(y, dt)
        close(y, to_last(exp, cl), int(np.prod(w.shape[1:])) * 4, dt)

    return oracle


def _filter(correlate):
    """SciPy's dtype contract: result dtype np.result_type(a, k); integers wrap in it (the
    fuzzed values are small, so the float64 oracle is exact before the wrap); complex as
    four real convolutions; "same" with an empty a is an empty result."""
    def oracle(args, kwargs, y):
        p = bound("correlate" if correlate else "convolve", args, kwargs)
        a, k = arr(p["a"]), arr(p["k"])
        rt = np.result_type(a.dtype.newbyteorder("="), k.dtype.newbyteorder("="))
        want_array(y, rt)
        if a.size == 0:
            if y.shape != a.shape:
                raise Mismatch(f"empty a: shape {y.shape}, expected {a.shape}")
            return
        mode, boundary = p["mode"], p["boundary"]
        fill = np.array(p["fillvalue"], rt)[()]

        def conv(x, kk, f):
            return ref.convolve(np.asarray(x, np.float64), np.asarray(kk, np.float64), mode,
                                boundary, float(f), correlate)

        kc = np.conj(k) if correlate else k
        if rt.kind == "c":
            ar, ai, kr, ki = a.real, np.imag(a), kc.real, np.imag(kc)
            fr, fi = float(np.real(fill)), float(np.imag(fill))
            dt = np.dtype(np.float32 if rt == np.complex64 else np.float64)
            # a real operand has no imaginary part to multiply (docs/variants.md): skipping it
            # keeps inf * 0 from making NaN where a real kernel meets an infinite value
            ca, ck = a.dtype.kind == "c", k.dtype.kind == "c"
            rr = conv(ar, kr, fr)
            zero = np.zeros_like(rr)
            ii = conv(ai, ki, fi) if ca and ck else zero
            ri = conv(ar, ki, fr) if ck else zero
            ir = conv(ai, kr, fi) if ca else zero
            close(y.real, rr - ii, int(k.size) * 4, dt)
            close(y.imag, ri + ir, int(k.size) * 4, dt)
            return
        exp = conv(a, k, int(fill) if rt.kind in "biu" else fill)
        if rt.kind in "biu":
            e64 = np.rint(exp).astype(np.int64)
            want = e64 != 0 if rt.kind == "b" else e64.astype(rt)
            if not np.array_equal(y, want):
                raise Mismatch(f"integer result differs from the oracle in {rt}")
            return
        close(y, exp, int(k.size) * 4, rt)

    return oracle


def channel_shuffle(args, kwargs, y):
    p = bound("channel_shuffle", args, kwargs)
    x = arr(p["x"])
    exp = ref.channel_shuffle(x, int(p["groups"]), p["channels_last"])
    want_array(y, real_dtype(x))
    if not np.array_equal(y, exp, equal_nan=True):
        raise Mismatch("channel_shuffle differs from the oracle")


def shuffled_grouped_conv(args, kwargs, y):
    p = bound("shuffled_grouped_conv", args, kwargs)
    x, w, b = arr(p["x"]), arr(p["w"]), arr(p.get("bias"))
    kw = {k: p[k] for k in ("stride", "padding", "dilation", "padding_mode", "activation")}
    exp = ref.shuffled_grouped_conv(x, w, b, groups=p["groups"], **kw)
    want_array(y, real_dtype(x))
    close(y, exp, int(np.prod(w.shape[1:])) * 4, real_dtype(x))


def _fused(sq, hor, ver):
    W = np.array(sq, np.float64)
    k = W.shape[2]
    W[:, :, k // 2, :] += np.asarray(hor, np.float64)[:, :, 0, :]
    W[:, :, :, k // 2] += np.asarray(ver, np.float64)[:, :, :, 0]
    return W


def fuse_asymmetric(args, kwargs, y):
    p = bound("fuse_asymmetric", args, kwargs)
    want_array(y, real_dtype(arr(p["w_square"])))
    close(y, _fused(p["w_square"], p["w_hor"], p["w_ver"]), 3)


def asymmetric_conv2d(args, kwargs, y):
    p = bound("asymmetric_conv2d", args, kwargs)
    x, sq, hor, ver, b = (arr(p[k]) for k in ("x", "w_square", "w_hor", "w_ver", "bias"))
    cl = p["channels_last"]
    xf = to_first(x, cl)
    geo = {k: p[k] for k in ("stride", "padding", "dilation", "groups")}
    if p["padding_mode"] == "zeros":
        exp = ref.activate(ref.asymmetric_conv2d(xf, sq, hor, ver, b, **geo), p["activation"])
    else:
        exp = ref.conv(xf, _fused(sq, hor, ver), b, padding_mode=p["padding_mode"],
                       activation=p["activation"], **geo)
    want_array(y, real_dtype(x))
    close(y, to_last(exp, cl), int(np.prod(sq.shape[1:])) * 8, real_dtype(x))


def squeeze_excitation(args, kwargs, y):
    p = bound("squeeze_excitation", args, kwargs)
    x = arr(p["x"])
    cl = p["channels_last"]
    exp = ref.squeeze_excitation(to_first(x, cl), arr(p["w1"]), arr(p["b1"]), arr(p["w2"]),
                                 arr(p["b2"]))
    want_array(y, real_dtype(x))
    close(y, to_last(exp, cl), int(np.prod(x.shape)) + 16, real_dtype(x))


def inception(args, kwargs, y):
    p = bound("inception", args, kwargs)
    x = arr(p["x"])
    exp = ref.inception(x, p["branches"])
    want_array(y, real_dtype(x))
    red = 1
    for br in p["branches"]:
        for layer in (br if isinstance(br, list) else [br]):
            red *= int(np.prod(np.shape(layer["w"])[1:]))
    close(y, exp, red * 4, real_dtype(x))


def conv_matrix(args, kwargs, C):
    p = bound("conv_matrix", args, kwargs)
    w = arr(p["w"])
    kw = {k: p[k] for k in ("stride", "padding", "dilation", "groups")}
    exp = ref.conv_matrix_dense(tuple(p["input_shape"]), w, **kw)
    dense = C.toarray()
    if dense.dtype != real_dtype(w):
        raise Mismatch(f"matrix dtype {dense.dtype}, w's is {w.dtype}")
    close(dense, exp, 1, real_dtype(w))
    if C.nnz > np.count_nonzero(exp) + np.count_nonzero(exp == 0) and False:
        pass


def quantized_conv2d(args, kwargs, y):
    p = bound("quantized_conv2d", args, kwargs)
    x, w, b = arr(p["x"]), arr(p["w"]), arr(p.get("bias"))
    cl = p["channels_last"]
    yd = p.get("y_dtype")
    yzp = p["y_zero_point"]
    if yd is None:
        zd = getattr(yzp, "dtype", None)
        signed = (np.dtype(zd) == np.int8) if zd is not None and np.dtype(zd) in (
            np.dtype(np.int8), np.dtype(np.uint8)) else x.dtype == np.int8
    else:
        signed = np.dtype(yd) == np.int8
    kw = {k: p[k] for k in ("stride", "padding", "dilation", "groups")}
    exp = ref.quantized_conv2d(to_first(x, cl), float(np.asarray(p["x_scale"]).reshape(())),
                               int(np.asarray(p["x_zero_point"]).reshape(())), w,
                               np.asarray(p["w_scale"], np.float64),
                               np.asarray(p["w_zero_point"], np.int64),
                               float(np.asarray(p["y_scale"]).reshape(())),
                               int(np.asarray(yzp).reshape(())), b, y_signed=signed, **kw)
    want_array(y, exp.dtype)
    exp = to_last(exp, cl)
    if y.shape != exp.shape:
        raise Mismatch(f"shape {y.shape}, oracle {exp.shape}")
    d = np.abs(y.astype(np.int64) - exp.astype(np.int64))
    if d.size and d.max() > 0:
        raise Mismatch(f"quantized result differs from the oracle by up to {d.max()} "
                       f"at {tuple(np.argwhere(d)[0])}")


def deform_conv2d(args, kwargs, y):
    p = bound("deform_conv2d", args, kwargs)
    cl = p["channels_last"]
    x, off, w, b, m = (arr(p[k]) for k in ("x", "offset", "w", "bias", "mask"))
    t2 = lambda v: tuple(v) if isinstance(v, (tuple, list)) else (v, v)  # noqa: E731
    exp = ref.deform_conv2d(to_first(x, cl), to_first(off, cl), w, b, t2(p["stride"]),
                            t2(p["padding"]), t2(p["dilation"]),
                            None if m is None else to_first(m, cl))
    want_array(y, real_dtype(x))
    close(y, to_last(exp, cl), int(np.prod(w.shape[1:])) * 16, real_dtype(x))


def depthwise_conv2d(args, kwargs, y):
    p = bound("depthwise_conv2d", args, kwargs)
    x, w, b = arr(p["x"]), arr(p["w"]), arr(p.get("bias"))
    cl = p["channels_last"]
    exp = ref.depthwise_conv2d(to_first(x, cl), w, b, p["stride"], p["padding"], p["dilation"],
                               p["padding_mode"], p["activation"])
    want_array(y, real_dtype(x))
    close(y, to_last(exp, cl), int(np.prod(w.shape[1:])) * 4, real_dtype(x))


def pointwise_conv(args, kwargs, y):
    p = bound("pointwise_conv", args, kwargs)
    x, w, b = arr(p["x"]), arr(p["w"]), arr(p.get("bias"))
    cl = p["channels_last"]
    exp = ref.pointwise_conv(to_first(x, cl), w, b, p["groups"], p["activation"])
    want_array(y, real_dtype(x))
    close(y, to_last(exp, cl), int(np.prod(w.shape[1:])) * 4, real_dtype(x))


def depthwise_separable_conv2d(args, kwargs, y):
    p = bound("depthwise_separable_conv2d", args, kwargs)
    x, wd, wp, bd, bp = (arr(p[k]) for k in ("x", "w_depthwise", "w_pointwise", "b_depthwise",
                                               "b_pointwise"))
    cl = p["channels_last"]
    exp = ref.depthwise_separable_conv2d(to_first(x, cl), wd, wp, bd, bp, p["stride"],
                                         p["padding"], p["dilation"], p["padding_mode"],
                                         p["mid_activation"], p["activation"])
    want_array(y, real_dtype(x))
    close(y, to_last(exp, cl), int(np.prod(wd.shape[1:])) * int(np.prod(wp.shape[1:])) * 4,
          real_dtype(x))


def spatially_separable_conv2d(args, kwargs, y):
    p = bound("spatially_separable_conv2d", args, kwargs)
    x, wc, wr, b = (arr(p[k]) for k in ("x", "w_col", "w_row", "bias"))
    cl = p["channels_last"]
    exp = ref.spatially_separable_conv2d(to_first(x, cl), wc, wr, b, p["stride"], p["padding"],
                                         p["dilation"], p["groups"], p["padding_mode"])
    want_array(y, real_dtype(x))
    close(y, to_last(exp, cl), int(np.prod(wc.shape[1:])) * int(np.prod(wr.shape[1:])) * 4,
          real_dtype(x))


def flattened_conv2d(args, kwargs, y):
    p = bound("flattened_conv2d", args, kwargs)
    x, wc, wv, wh, b = (arr(p[k]) for k in ("x", "w_channel", "w_vertical", "w_horizontal",
                                              "bias"))
    W = ref.flattened_weight(wc, wv, wh)
    exp = ref.conv(x, W, b, stride=p["stride"], padding=p["padding"], dilation=p["dilation"],
                   padding_mode=p["padding_mode"])
    want_array(y, real_dtype(x))
    close(y, exp, int(np.prod(W.shape[1:])) * 8, real_dtype(x))


def separate_kernel(args, kwargs, f):
    p = bound("separate_kernel", args, kwargs)
    k = np.asarray(p["k"], np.float64)
    s = np.linalg.svd(k, compute_uv=False)
    if not isinstance(f, list) or len(f) < 1 or len(f) > min(k.shape):
        raise Mismatch(f"returned {len(f)} pairs for a {k.shape} kernel")
    for c, r in f:
        if not (np.isfinite(c).all() and np.isfinite(r).all()):
            raise Mismatch("non-finite factors")
    # k - sum of outer products in units of max|k|: near the float64 limit the difference of
    # two finite values overflows (1e308 - (-1.4e308)) though the residual itself is finite
    m = float(np.max(np.abs(k))) if k.size else 0.0
    m = m if m > 0 and math.isfinite(m) else 1.0
    sc = math.sqrt(m)
    approx = sum(np.outer(np.asarray(c, np.float64) / sc, np.asarray(r, np.float64) / sc)
                 for c, r in f)
    res = float(np.linalg.norm(k / m - approx)) * m
    if not math.isfinite(f.residual) or abs(f.residual - res) > 1e-6 * max(1.0, s[0]):
        raise Mismatch(f"residual {f.residual} but |k - sum of outer products| = {res}")
    if p["rank"] is None:
        tol = float(p["tol"])
        # the factors are in k's float dtype: their rounding bounds the residual from below
        fdt = np.asarray(f[0][0]).dtype if len(f) else np.dtype(np.float64)
        eps = float(np.finfo(fdt if fdt.kind == "f" else np.float64).eps)
        if res > tol * s[0] * math.sqrt(len(s)) + 8 * eps * k.size * max(1.0, s[0]):
            raise Mismatch(f"residual {res} above tol {tol} * s0 {s[0]}")
    elif len(f) != p["rank"]:
        raise Mismatch(f"rank {p['rank']} asked, {len(f)} pairs returned")


# ---------------------------------------------------------------- arithmetic helpers (exact ints)

def _tup(v, nd):
    return list(v) if isinstance(v, (tuple, list)) else [v] * nd


def exact_conv_shape(xs, ws, stride=1, padding=0, dilation=1, groups=1, transposed=False,
                     output_padding=0, **_):
    nd = len(ws) - 2
    s, d = _tup(stride, nd), _tup(dilation, nd)
    if isinstance(padding, str):
        if transposed:
            raise ValueError("string padding in a transposed conv")
        pp = [(0, 0)] * nd if padding == "valid" else \
            [ref.same_pads(xs[2 + i], ws[2 + i], s[i], d[i]) for i in range(nd)]
    elif isinstance(padding, (tuple, list)) and padding and isinstance(padding[0], (tuple, list)):
        pp = [tuple(v) for v in padding]
    else:
        pp = [(v, v) for v in _tup(padding, nd)]
    out = []
    for i in range(nd):
        n, k = xs[2 + i], ws[2 + i]
        if transposed:
            o = (n - 1) * s[i] - pp[i][0] - pp[i][1] + d[i] * (k - 1) + _tup(output_padding, nd)[i] + 1
        else:
            o = (n + pp[i][0] + pp[i][1] - d[i] * (k - 1) - 1) // s[i] + 1
        if o < 1:
            raise ValueError("empty output")
        out.append(o)
    co = ws[1] * groups if transposed else ws[0]
    return (xs[0], co, *out)


def output_shape(args, kwargs, shape):
    op, xs, ws = args[0], list(args[1]), list(args[2])
    exp = exact_conv_shape(xs, ws, transposed=op.startswith("conv_transpose"), **kwargs)
    if any(v >= 2 ** 63 for v in exp) or math.prod(exp) >= 2 ** 63:
        raise ValueError("does not fit in int64: should have been refused")
    if tuple(shape) != tuple(exp):
        raise Mismatch(f"output_shape {tuple(shape)}, exact arithmetic gives {exp}")


def cost(args, kwargs, c):
    op, xs, ws = args[0], list(args[1]), list(args[2])
    exp = exact_conv_shape(xs, ws, transposed=op.startswith("conv_transpose"), **kwargs)
    if any(v >= 2 ** 63 for v in exp) or math.prod(exp) >= 2 ** 63:
        raise ValueError("does not fit in int64: should have been refused")
    groups = kwargs.get("groups", 1)
    if op.startswith("conv_transpose"):
        macs = xs[0] * ws[0] * math.prod(xs[2:]) * ws[1] * math.prod(ws[2:])
    else:
        macs = math.prod(exp) * (ws[1]) * math.prod(ws[2:])
    if tuple(c.output_shape) != tuple(exp):
        raise Mismatch(f"cost().output_shape {c.output_shape}, exact {exp}")
    if c.macs != macs:
        raise Mismatch(f"cost().macs {c.macs}, exact {macs} (groups {groups})")


def receptive_field(args, kwargs, rf):
    layers = args[0]
    nd = max([len(v) for L in layers for v in L if isinstance(v, (tuple, list))] + [1])
    scalar = not any(isinstance(v, (tuple, list)) for L in layers for v in L)
    size, jump, start = [1] * nd, [1] * nd, [0] * nd
    for L in layers:
        k, s, d, pad = (list(L) + [1, 1, 0][len(L) - 1:])[:4]
        k, s, d, pad = (_tup(v, nd) for v in (k, s, d, pad))
        for i in range(nd):
            size[i] += (k[i] - 1) * d[i] * jump[i]
            start[i] -= pad[i] * jump[i]
            jump[i] *= s[i]
    for v in size + jump + start:
        if not -2 ** 63 <= v < 2 ** 63:
            raise ValueError("overflows int64: should have been refused")
    exp = (size[0], jump[0], start[0]) if scalar else (tuple(size), tuple(jump), tuple(start))
    got = (rf.size, rf.jump, rf.start)
    if got != exp:
        raise Mismatch(f"receptive_field {got}, exact {exp}")


def transposed_overlap(args, kwargs, r):
    p = bound("transposed_overlap", args, kwargs)
    k, s, d = p["kernel_size"], p["stride"], p["dilation"]
    if any(isinstance(v, (tuple, list)) for v in (k, s, d)):
        nd = max(len(v) for v in (k, s, d) if isinstance(v, (tuple, list)))
        exp = np.ones((), np.int64)
        for kk, ss, dd in zip(_tup(k, nd), _tup(s, nd), _tup(d, nd)):
            exp = np.multiply.outer(exp, ref.transposed_overlap(kk, ss, dd))
    else:
        if k > 10 ** 6:  # invariant instead of enumeration: the phases count every tap
            if r.shape != (s,) or int(r.sum()) != k:
                raise Mismatch(f"shape {r.shape} / sum {r.sum()} for k={k}, stride={s}")
            return
        exp = ref.transposed_overlap(k, s, d)
    if r.shape != exp.shape or not np.array_equal(r, exp):
        raise Mismatch(f"transposed_overlap {r.tolist()}, enumeration gives {exp.tolist()}")


def _kernel(name):
    def oracle(args, kwargs, k):
        p = bound("kernels." + name, args, kwargs)
        if not isinstance(k, np.ndarray) or k.dtype != np.float64 or k.ndim != 2:
            raise Mismatch(f"kernels.{name} returned {type(k).__name__} {getattr(k, 'dtype', '')}")
        if not np.isfinite(k).all():
            raise Mismatch(f"kernels.{name} has non-finite values")
        if name == "identity":
            n = p["size"]
            e = np.zeros((n, n))
            e[(n - 1) // 2, (n - 1) // 2] = 1
            close(k, e)
        elif name == "box":
            close(k, np.full((p["size"],) * 2, 1.0 / p["size"] ** 2))
        elif name == "gaussian":
            n = p["size"] if p["size"] is not None else 2 * int(4.0 * p["sigma"] + 0.5) + 1
            if k.shape != (n, n) or abs(k.sum() - 1) > 1e-9 or (k < 0).any() or \
                    not np.allclose(k, k.T) or not np.allclose(k, k[::-1, ::-1]):
                raise Mismatch(f"gaussian({p['sigma']}, {p['size']}) not a normalised symmetric "
                               f"{n}x{n} kernel: sum {k.sum()}")
        elif name in ("sobel", "scharr", "prewitt"):
            sm = {"sobel": [1, 2, 1], "scharr": [3, 10, 3], "prewitt": [1, 1, 1]}[name]
            e = np.outer([-1, 0, 1], sm) if p["axis"] % 2 == 0 else np.outer(sm, [-1, 0, 1])
            close(k, e)

    return oracle


def set_num_threads(args, kwargs, r):
    if r is not None:
        raise Mismatch(f"returned {r!r}")


def get_num_threads(args, kwargs, r):
    if not isinstance(r, int) or r < 1:
        raise Mismatch(f"get_num_threads() returned {r!r}")


ORACLES = {
    "conv": _conv("conv"), "conv1d": _conv("conv1d"), "conv2d": _conv("conv2d"),
    "conv3d": _conv("conv3d"),
    "conv_transpose": _transpose("conv_transpose"),
    "conv_transpose1d": _transpose("conv_transpose1d"),
    "conv_transpose2d": _transpose("conv_transpose2d"),
    "conv_transpose3d": _transpose("conv_transpose3d"),
    "convolve": _filter(False), "correlate": _filter(True),
    "channel_shuffle": channel_shuffle, "shuffled_grouped_conv": shuffled_grouped_conv,
    "asymmetric_conv2d": asymmetric_conv2d, "fuse_asymmetric": fuse_asymmetric,
    "squeeze_excitation": squeeze_excitation, "inception": inception,
    "conv_matrix": conv_matrix, "quantized_conv2d": quantized_conv2d,
    "deform_conv2d": deform_conv2d, "depthwise_conv2d": depthwise_conv2d,
    "pointwise_conv": pointwise_conv, "depthwise_separable_conv2d": depthwise_separable_conv2d,
    "spatially_separable_conv2d": spatially_separable_conv2d,
    "flattened_conv2d": flattened_conv2d, "separate_kernel": separate_kernel,
    "output_shape": output_shape, "cost": cost, "receptive_field": receptive_field,
    "transposed_overlap": transposed_overlap,
    "set_num_threads": set_num_threads, "get_num_threads": get_num_threads,
}
for _n in ("identity", "box", "blur", "gaussian", "sharpen", "emboss", "outline", "laplacian",
           "sobel", "scharr", "prewitt"):
    ORACLES["kernels." + _n] = _kernel(_n)
