"""Independent NumPy oracle, written from the textbook definitions.

Shares no code with convcore: padding by np.pad, sums over kernel taps with strided slicing and
einsum, scatter-adds for the transposed conv. Everything in float64 (inputs are upcast), so a
float32 result is compared with the exact value. Layout: (N, C, *spatial) throughout."""
from __future__ import annotations

import itertools
import math

import numpy as np

NP_PAD_MODE = {"zeros": "constant", "reflect": "reflect", "replicate": "edge",
               "circular": "wrap", "symmetric": "symmetric"}


def _tuple(v, nd):
    return tuple(v) if isinstance(v, (tuple, list)) else (v,) * nd


def same_pads(size, k, s, d):
    """TensorFlow 'same': out = ceil(in/s), total pad split with the odd one after."""
    out = -(-size // s)
    total = max((out - 1) * s + (k - 1) * d + 1 - size, 0)
    return total // 2, total - total // 2


def pads(padding, x_spatial, k, stride, dilation):
    nd = len(x_spatial)
    if padding == "valid":
        return [(0, 0)] * nd
    if padding == "same":
        return [same_pads(x_spatial[i], k[i], stride[i], dilation[i]) for i in range(nd)]
    if isinstance(padding, (tuple, list)) and padding and isinstance(padding[0], (tuple, list)):
        return [tuple(p) for p in padding]
    p = _tuple(padding, nd)
    return [(v, v) for v in p]


def conv(x, w, bias=None, stride=1, padding=0, dilation=1, groups=1, padding_mode="zeros",
         flip=False, activation=None):
    """y[n, o, p] = bias[o] + sum_{c in group(o), t} x_pad[n, c, p*stride + t*dilation] w[o, c, t]."""
    x = np.asarray(x, np.float64)
    w = np.asarray(w, np.float64)
    nd = w.ndim - 2
    k = w.shape[2:]
    stride, dilation = _tuple(stride, nd), _tuple(dilation, nd)
    pw = pads(padding, x.shape[2:], k, stride, dilation)
    if flip:
        w = w[(slice(None), slice(None)) + (slice(None, None, -1),) * nd]
    xp = np.pad(x, [(0, 0), (0, 0)] + list(pw), mode=NP_PAD_MODE[padding_mode])
    out_sp = [(xp.shape[2 + i] - (k[i] - 1) * dilation[i] - 1) // stride[i] + 1 for i in range(nd)]
    N, C = x.shape[:2]
    O = w.shape[0]
    cg, og = C // groups, O // groups
    y = np.zeros((N, O) + tuple(out_sp))
    for g in range(groups):
        xs = xp[:, g * cg:(g + 1) * cg]
        ws = w[g * og:(g + 1) * og]
        for t in itertools.product(*[range(kk) for kk in k]):
            sl = tuple(slice(t[i] * dilation[i], t[i] * dilation[i] + (out_sp[i] - 1) * stride[i] + 1,
                             stride[i]) for i in range(nd))
            patch = xs[(slice(None), slice(None)) + sl]
            y[:, g * og:(g + 1) * og] += np.einsum("nc...,oc->no...", patch, ws[(slice(None), slice(None)) + t])
    if bias is not None:
        y += np.asarray(bias, np.float64).reshape((1, -1) + (1,) * nd)
    return activate(y, activation)


def conv_transpose(x, w, bias=None, stride=1, padding=0, output_padding=0, dilation=1, groups=1,
                   activation=None):
    """Scatter definition: y[n, o, i*stride - pad + t*dilation] += x[n, c, i] w[c, o, t]."""
    x = np.asarray(x, np.float64)
    w = np.asarray(w, np.float64)
    nd = w.ndim - 2
    k = w.shape[2:]
    stride, dilation = _tuple(stride, nd), _tuple(dilation, nd)
    opad = _tuple(output_padding, nd)
    if isinstance(padding, (tuple, list)) and padding and isinstance(padding[0], (tuple, list)):
        pw = [tuple(p) for p in padding]
    else:
        pw = [(p, p) for p in _tuple(padding, nd)]
    N, C = x.shape[:2]
    og = w.shape[1]
    cg = C // groups
    O = og * groups
    full = [(x.shape[2 + i] - 1) * stride[i] + (k[i] - 1) * dilation[i] + 1 + opad[i] for i in range(nd)]
    y = np.zeros((N, O) + tuple(full))
    for g in range(groups):
        xs = x[:, g * cg:(g + 1) * cg]
        ws = w[g * cg:(g + 1) * cg]
        for t in itertools.product(*[range(kk) for kk in k]):
            sl = tuple(slice(t[i] * dilation[i], t[i] * dilation[i] + (x.shape[2 + i] - 1) * stride[i] + 1,
                             stride[i]) for i in range(nd))
            y[(slice(None), slice(g * og, (g + 1) * og)) + sl] += np.einsum(
                "nc...,co->no...", xs, ws[(slice(None), slice(None)) + t])
    crop = tuple(slice(pw[i][0], full[i] - pw[i][1]) for i in range(nd))
    y = y[(slice(None), slice(None)) + crop]
    if bias is not None:
        y = y + np.asarray(bias, np.float64).reshape((1, -1) + (1,) * nd)
    return activate(y, activation)


def activate(y, activation):
    if activation is None:
        return y
    if activation == "relu":
        return np.maximum(y, 0)
    if activation == "relu6":
        return np.clip(y, 0, 6)
    if activation == "sigmoid":
        return 1 / (1 + np.exp(-y))
    if activation == "tanh":
        return np.tanh(y)
    if activation == "gelu":
        erf = np.vectorize(math.erf)
        return 0.5 * y * (1 + erf(y / math.sqrt(2)))
    raise ValueError(activation)


def convolve(a, k, mode="full", boundary="fill", fillvalue=0.0, correlate=False):
    """Full convolution of the boundary-extended input, sliced as scipy.signal.convolve does.

    full[j] = sum_t A(j - t) k[t]; 'same' starts at (K-1)//2; 'valid' keeps the positions where
    every tap lies inside the smaller operand. correlate(a, k) = convolve(a, k reversed)."""
    a = np.asarray(a, np.float64)
    k = np.asarray(k, np.float64)
    if correlate:
        k = k[(slice(None, None, -1),) * k.ndim]
    n, K = a.shape, k.shape
    if mode == "valid":
        if all(ni >= ki for ni, ki in zip(n, K)):
            big, small = a, k
        else:
            big, small = k, a
        out = tuple(b - s + 1 for b, s in zip(big.shape, small.shape))
        y = np.zeros(out)
        for t in itertools.product(*[range(s) for s in small.shape]):
            # full[j] with j = i + (S-1): sum_t big[i + S-1 - t] small[t]
            sl = tuple(slice(small.shape[d] - 1 - t[d], small.shape[d] - 1 - t[d] + out[d])
                       for d in range(len(out)))
            y += small[t] * big[sl]
        return y
    ext = [K[d] - 1 for d in range(a.ndim)]
    if boundary == "fill":
        ap = np.pad(a, [(e, e) for e in ext], mode="constant", constant_values=fillvalue)
    else:
        ap = np.pad(a, [(e, e) for e in ext], mode={"wrap": "wrap", "symm": "symmetric"}[boundary])
    full_shape = tuple(n[d] + K[d] - 1 for d in range(a.ndim))
    full = np.zeros(full_shape)
    for t in itertools.product(*[range(kk) for kk in K]):
        # full[j] += A(j - t) k[t];  A(j - t) = ap[j - t + ext]
        sl = tuple(slice(ext[d] - t[d], ext[d] - t[d] + full_shape[d]) for d in range(a.ndim))
        full += k[t] * ap[sl]
    if mode == "full":
        return full
    start = [(K[d] - 1) // 2 for d in range(a.ndim)]
    return full[tuple(slice(start[d], start[d] + n[d]) for d in range(a.ndim))]


# ---- variants-b: channel shuffle, ACNet, SE, inception, conv matrix, transposed overlap ----

def channel_shuffle(x, groups, channels_last=False):
    """(N, C, ...) viewed as (N, groups, C/groups, ...), the two channel axes swapped."""
    x = np.asarray(x)
    if channels_last:
        x = np.moveaxis(x, -1, 1)
    N, C = x.shape[:2]
    y = x.reshape((N, groups, C // groups) + x.shape[2:]).swapaxes(1, 2).reshape(x.shape)
    return np.moveaxis(y, 1, -1) if channels_last else y


def shuffled_grouped_conv(x, w, bias=None, groups=1, **kw):
    return channel_shuffle(conv(x, w, bias, groups=groups, **kw), groups)


def asymmetric_conv2d(x, w_square, w_hor, w_ver, bias=None, stride=1, padding=0, dilation=1,
                      groups=1):
    """Sum of the three ACNet branches, each its own conv on the once-padded input: the square
    reads rows o*s + t*d, the 1 x k branch only the middle row o*s + (k//2)*d (so it is a conv
    of the input shifted by (k//2)*d rows), the k x 1 branch likewise on columns."""
    x = np.asarray(x, np.float64)
    k = w_square.shape[2]
    s, d = _tuple(stride, 2), _tuple(dilation, 2)
    pw = pads(padding, x.shape[2:], (k, k), s, d)
    xp = np.pad(x, [(0, 0), (0, 0)] + list(pw))
    y = conv(xp, w_square, bias, stride=s, dilation=d, groups=groups)
    oh, ow = y.shape[2:]
    c = k // 2
    yh = conv(xp[:, :, c * d[0]:], w_hor, stride=s, dilation=d, groups=groups)
    yv = conv(xp[:, :, :, c * d[1]:], w_ver, stride=s, dilation=d, groups=groups)
    return y + yh[:, :, :oh, :ow] + yv[:, :, :oh, :ow]


def squeeze_excitation(x, w1, b1, w2, b2):
    """SENet on (N, C, *spatial): mean, FC, ReLU, FC, sigmoid, scale."""
    x = np.asarray(x, np.float64)
    N, C = x.shape[:2]
    w1 = np.asarray(w1, np.float64).reshape(-1, C)
    w2 = np.asarray(w2, np.float64).reshape(C, -1)
    z = x.reshape(N, C, int(np.prod(x.shape[2:]))).mean(axis=2)
    h = z @ w1.T + (0 if b1 is None else np.asarray(b1, np.float64))
    h = np.maximum(h, 0)
    e = h @ w2.T + (0 if b2 is None else np.asarray(b2, np.float64))
    sc = 1 / (1 + np.exp(-e))
    return x * sc.reshape((N, C) + (1,) * (x.ndim - 2))


def inception(x, branches):
    """Each branch's layers chained with the oracle conv, outputs concatenated on channels."""
    outs = []
    for br in branches:
        h = np.asarray(x, np.float64)
        for layer in br:
            kw = {k: v for k, v in layer.items() if k not in ("w", "bias")}
            h = conv(h, layer["w"], layer.get("bias"), **kw)
        outs.append(h)
    return np.concatenate(outs, axis=1)


def conv_matrix_dense(input_shape, w, **kw):
    """Column j = conv of the j-th unit input: the definition of the matrix of a linear map."""
    n = int(np.prod(input_shape))
    batched = len(input_shape) == np.ndim(w)
    shape = tuple(input_shape) if batched else (1,) + tuple(input_shape)
    cols = []
    for j in range(n):
        e = np.zeros(n)
        e[j] = 1.0
        cols.append(conv(e.reshape(shape), w, **kw).ravel())
    return np.stack(cols, axis=1)


def transposed_overlap(k, stride, dilation=1):
    """Per phase p in [0, stride): #taps t with t*dilation = p (mod stride), by enumeration."""
    counts = np.zeros(stride, np.int64)
    for t in range(k):
        counts[(t * dilation) % stride] += 1
    return counts


def quantized_conv2d(x, x_scale, x_zp, w, w_scale, w_zp, y_scale, y_zp, bias=None, y_signed=False,
                     **kw):
    """ONNX QLinearConv from its definition: the conv of the zero-point-shifted integers (exact
    in float64), plus the int32 bias, scaled by x_scale * w_scale[o] / y_scale, rounded half to
    even (np.rint), shifted by y_zp and saturated."""
    x = np.asarray(x, np.float64) - x_zp
    O = w.shape[0]
    wz = np.broadcast_to(np.asarray(w_zp, np.float64).reshape(-1), (O,))
    ws = np.broadcast_to(np.asarray(w_scale, np.float64).reshape(-1), (O,))
    wf = np.asarray(w, np.float64) - wz.reshape(O, 1, 1, 1)
    acc = conv(x, wf, None if bias is None else np.asarray(bias, np.float64), **kw)
    m = np.array([float(x_scale) * float(ws[o]) / float(y_scale) for o in range(O)])
    y = np.rint(acc * m.reshape(1, O, 1, 1)) + y_zp
    lo, hi = (-128, 127) if y_signed else (0, 255)
    return np.clip(y, lo, hi).astype(np.int8 if y_signed else np.uint8)
# ---- deform: deformable convolution (torchvision.ops.deform_conv2d), from the definition ----
def bilinear_zero(plane, y, x):
    """Bilinear sample of a 2-D plane at float arrays (y, x), torchvision's border rule: a
    sample with y <= -1, y >= H, x <= -1 or x >= W is 0; otherwise the corners floor and
    floor + 1 get bilinear weights and corners outside the plane count as 0; a NaN coordinate
    that is not already outside gives NaN."""
    H, W = plane.shape
    y = np.asarray(y, np.float64)
    x = np.asarray(x, np.float64)
    with np.errstate(invalid="ignore"):
        outside = (y <= -1) | (y >= H) | (x <= -1) | (x >= W)
    nan = ~outside & (np.isnan(y) | np.isnan(x))
    ok = ~outside & ~nan
    ys, xs = np.where(ok, y, 0.0), np.where(ok, x, 0.0)
    y0, x0 = np.floor(ys).astype(np.int64), np.floor(xs).astype(np.int64)
    ly, lx = ys - y0, xs - x0
    out = np.zeros(y.shape)
    if H == 0 or W == 0:  # an empty plane: every sample is outside (or NaN)
        out[nan] = np.nan
        return out
    for cy, cx, wt in ((y0, x0, (1 - ly) * (1 - lx)), (y0, x0 + 1, (1 - ly) * lx),
                       (y0 + 1, x0, ly * (1 - lx)), (y0 + 1, x0 + 1, ly * lx)):
        inside = ok & (cy >= 0) & (cy < H) & (cx >= 0) & (cx < W)
        out += np.where(inside, wt * plane[np.clip(cy, 0, H - 1), np.clip(cx, 0, W - 1)], 0.0)
    out[nan] = np.nan
    return out


def deform_conv2d(x, offset, w, bias=None, stride=(1, 1), padding=(0, 0), dilation=(1, 1),
                  mask=None):
    """y[n, o, oy, ox] = bias[o] + sum_{c, i, j} w[o, c, i, j] * m * sample(x[n, g*cpg + c],
    oy*sh - ph + i*dh + dy, ox*sw - pw + j*dw + dx), (dy, dx) and m those of the channel's
    offset group and tap (i, j). All NCHW, float64."""
    x = np.asarray(x, np.float64)
    offset = np.asarray(offset, np.float64)
    w = np.asarray(w, np.float64)
    N, C, H, W = x.shape
    Co, cpg, kh, kw = w.shape
    G = C // cpg
    kk = kh * kw
    og = offset.shape[1] // (2 * kk)
    cpog = C // og
    (sh, sw), (ph, pw), (dh, dw) = stride, padding, dilation
    Ho = (H + 2 * ph - (dh * (kh - 1) + 1)) // sh + 1
    Wo = (W + 2 * pw - (dw * (kw - 1) + 1)) // sw + 1
    oy = np.arange(Ho)[:, None].astype(np.float64)
    ox = np.arange(Wo)[None, :].astype(np.float64)
    cols = np.zeros((N, C, kh, kw, Ho, Wo))
    for n in range(N):
        for c in range(C):
            g = c // cpog
            for i in range(kh):
                for j in range(kw):
                    t = i * kw + j
                    dy = offset[n, g * 2 * kk + 2 * t]
                    dx = offset[n, g * 2 * kk + 2 * t + 1]
                    v = bilinear_zero(x[n, c], oy * sh - ph + i * dh + dy,
                                      ox * sw - pw + j * dw + dx)
                    if mask is not None:
                        v = np.asarray(mask, np.float64)[n, g * kk + t] * v
                    cols[n, c, i, j] = v
    y = np.zeros((N, Co, Ho, Wo))
    opg = Co // G
    for g in range(G):
        y[:, g * opg:(g + 1) * opg] = np.einsum(
            "ocij,ncijhw->nohw", w[g * opg:(g + 1) * opg], cols[:, g * cpg:(g + 1) * cpg])
    if bias is not None:
        y += np.asarray(bias, np.float64)[None, :, None, None]
    return y


# ---- variants-a: depthwise, pointwise, separable and flattened convolutions ----

def _pad2d(x, padding, k, stride, dilation, padding_mode):
    pw = pads(padding, x.shape[2:], k, stride, dilation)
    return np.pad(x, [(0, 0), (0, 0)] + list(pw), mode=NP_PAD_MODE[padding_mode])


def depthwise_conv2d(x, w, bias=None, stride=1, padding=0, dilation=1, padding_mode="zeros",
                     activation=None):
    """y[n, c*m + j, p] = bias + sum_t x_pad[n, c, p*stride + t*dilation] w[c*m + j, 0, t]."""
    x = np.asarray(x, np.float64)
    w = np.asarray(w, np.float64)
    C = x.shape[1]
    m = w.shape[0] // C
    k = w.shape[2:]
    stride, dilation = _tuple(stride, 2), _tuple(dilation, 2)
    xp = _pad2d(x, padding, k, stride, dilation, padding_mode)
    out = [(xp.shape[2 + i] - (k[i] - 1) * dilation[i] - 1) // stride[i] + 1 for i in range(2)]
    xr = np.repeat(xp, m, axis=1)  # channel c*m + j reads input channel c
    y = np.zeros((x.shape[0], C * m, out[0], out[1]))
    for i in range(k[0]):
        for j in range(k[1]):
            patch = xr[:, :, i * dilation[0]:i * dilation[0] + (out[0] - 1) * stride[0] + 1:stride[0],
                       j * dilation[1]:j * dilation[1] + (out[1] - 1) * stride[1] + 1:stride[1]]
            y += patch * w[None, :, 0, i, j, None, None]
    if bias is not None:
        y += np.asarray(bias, np.float64)[None, :, None, None]
    return activate(y, activation)


def pointwise_conv(x, w, bias=None, groups=1, activation=None):
    """y[n, o, p] = bias[o] + sum_{c in group(o)} w[o, c] x[n, c, p], any spatial rank."""
    x = np.asarray(x, np.float64)
    w = np.asarray(w, np.float64).reshape(np.shape(w)[0], -1)
    C, O = x.shape[1], w.shape[0]
    cg, og = C // groups, O // groups
    y = np.zeros((x.shape[0], O) + x.shape[2:])
    for g in range(groups):
        y[:, g * og:(g + 1) * og] = np.einsum("nc...,oc->no...", x[:, g * cg:(g + 1) * cg],
                                              w[g * og:(g + 1) * og])
    if bias is not None:
        y += np.asarray(bias, np.float64).reshape((1, -1) + (1,) * (x.ndim - 2))
    return activate(y, activation)


def depthwise_separable_conv2d(x, wd, wp, bd=None, bp=None, stride=1, padding=0, dilation=1,
                               padding_mode="zeros", mid_activation=None, activation=None):
    mid = depthwise_conv2d(x, wd, bd, stride, padding, dilation, padding_mode, mid_activation)
    return pointwise_conv(mid, wp, bp, activation=activation)


def _split(v, axis):
    v = _tuple(v, 2)
    return (v[0], 1) if axis == 0 else (1, v[1])


def spatially_separable_conv2d(x, w_col, w_row, bias=None, stride=1, padding=0, dilation=1,
                               groups=1, padding_mode="zeros"):
    """conv(conv(x, w_col), w_row): the vertical pass takes stride/padding/dilation along H, the
    horizontal pass along W."""
    if padding == "same":
        pv = ph = "same"
    elif padding == "valid":
        pv = ph = 0
    else:
        p = padding if isinstance(padding, (tuple, list)) else (padding, padding)
        p = [tuple(v) if isinstance(v, (tuple, list)) else (v, v) for v in p]
        pv, ph = (p[0], (0, 0)), ((0, 0), p[1])
    mid = conv(x, w_col, None, _split(stride, 0), pv, _split(dilation, 0), groups, padding_mode)
    return conv(mid, w_row, bias, _split(stride, 1), ph, _split(dilation, 1), groups, padding_mode)


def flattened_weight(w_channel, w_vertical, w_horizontal):
    """W[o, c, i, j] = a[o, c] b[o, i] c[o, j] (Jin et al. 2014)."""
    return np.einsum("oc,oi,oj->ocij", np.asarray(w_channel, np.float64),
                     np.asarray(w_vertical, np.float64), np.asarray(w_horizontal, np.float64))


# ---- padfix: which paddings a padding mode can make ----
def padding_reaches(padding_mode, sizes, pads):
    """Whether padding_mode can pad an input of these spatial sizes by these (lo, hi) pads.
    PyTorch's rules (torch.nn.functional.pad): reflect pads fewer than size samples on each
    side, circular at most size (symmetric, NumPy's mode, likewise: one mirror image), and no
    mode but zeros pads an empty dimension."""
    if padding_mode == "zeros":
        return True
    for n, (lo, hi) in zip(sizes, pads):
        p = max(lo, hi)
        if p <= 0:
            continue
        if n == 0:
            return False
        if padding_mode == "reflect" and p >= n:
            return False
        if padding_mode in ("circular", "symmetric") and p > n:
            return False
    return True
