"""Scalar math the kernels inline: a vectorisable float32 exp and tanh, and the activations with their derivatives.

`math.exp` and `math.tanh` compile to calls into libm, which stop LLVM from vectorising the loop around them;
`exp_f32` and `tanh_f32` below are straight-line arithmetic (polynomials, selects and integer bit tricks), so a
loop over them becomes AVX2/AVX-512 code. float64 inputs keep libm's correctly rounded functions: the fast path
is a float32 one. Every constant is a float32 (np.float32(...)): a Python float literal would promote the
float32 arithmetic around it to float64.
"""

from __future__ import annotations

import math

import numpy as np

from mark1.kernels.cpu._jit import RELU, SIGMOID, TANH, jit_inline, typed

LOG2E = np.float32(1.4426950408889634)
# Cody-Waite split of ln 2: LN2_HI has 9 significant bits, so n * LN2_HI is exact for |n| <= 2^15.
LN2_HI = np.float32(0.693359375)
LN2_LO = np.float32(-2.12194440e-4)
# exp(r) = 1 + r + r^2 (C2 + C3 r + C4 r^2 + C5 r^3 + C6 r^4) on |r| <= ln2/2: a least-squares fit of
# relative error made for this file (fit error 0.06 of a float32 half-ulp; the rest is float32 rounding).
C2 = np.float32(0.49999988079071045)
C3 = np.float32(0.166665181517601)
C4 = np.float32(0.041669487953186035)
C5 = np.float32(0.00836891308426857)
C6 = np.float32(0.0013753953389823437)
# Inputs are clamped to [EXP_LO, EXP_HI] before range reduction: below EXP_LO exp is 0 even as a
# subnormal, above EXP_HI it is inf; both still come out of the same arithmetic (no branch).
EXP_LO = np.float32(-104.0)
EXP_HI = np.float32(89.0)
F32_ONE = np.float32(1.0)
F32_ZERO = np.float32(0.0)
F32_HALF = np.float32(0.5)
EXPONENT_BIAS = np.int32(127)
MANTISSA_BITS = np.int32(23)


@jit_inline
def exp_f32(x):
    """e^x for float32 x, within 2 ulp of float64 exp rounded to float32 on [-88, 88] (tests sweep it).

    Range reduction x = n ln2 + r with |r| <= ln2/2 (n = round(x / ln2), Cody-Waite two-part ln2), a
    degree-6 polynomial for e^r, then a scaling by 2^n done as two exact multiplications by 2^(n//2) and
    2^(n - n//2): each factor is a normal float32, so huge n overflows to inf and very negative n rounds
    once into the subnormal range, exactly like a correct exp. exp(+inf) = inf, exp(-inf) = 0, NaN -> NaN.
    """
    xc = x if x > EXP_LO else EXP_LO  # written as selects so NaN becomes EXP_LO here (n stays finite)
    xc = xc if xc < EXP_HI else EXP_HI
    fn = np.floor(xc * LOG2E + F32_HALF)
    r = xc - fn * LN2_HI
    r = r - fn * LN2_LO
    q = C6
    q = q * r + C5
    q = q * r + C4
    q = q * r + C3
    q = q * r + C2
    p = F32_ONE + r + (r * r) * q
    n = np.int32(fn)
    n1 = n >> np.int32(1)
    n2 = n - n1
    s1 = np.int32((n1 + EXPONENT_BIAS) << MANTISSA_BITS).view(np.float32)
    s2 = np.int32((n2 + EXPONENT_BIAS) << MANTISSA_BITS).view(np.float32)
    e = (p * s1) * s2
    return e if x == x else x


# exp_nonpositive_f32 clamps x at -88: there n = round(x / ln2) = -127, whose 2^n has exponent bits 0, i.e.
# the scale factor is +0.0 and e^x comes out exactly 0 with no select; results below ~2^-126 may flush to 0.
NONPOSITIVE_EXP_LO = np.float32(-88.0)
# Adding 1.5 * 2^23 rounds a float32 of magnitude below 2^22 to an integer (to nearest) and leaves that integer
# in the low mantissa bits, where n is read from: no floor and no float-to-int conversion (which for a NaN
# would be undefined behaviour in LLVM).
ROUNDER = np.float32(12582912.0)
ROUNDER_BITS = np.int32(0x4B400000)


@jit_inline
def exp_nonpositive_f32(x):
    """e^x for float32 x <= 0 (or NaN), the cheaper exp inside sigmoid and tanh: one scaling multiply.

    Same reduction and polynomial as exp_f32, five instructions fewer: the clamp keeps NaN (it then flows
    through the arithmetic, no NaN select), n comes from the rounding constant's bits, and below -88 the scale
    2^-127 is encoded as +0.0 (e^-inf = 0, e^-1000 = 0 exactly). Results from -88 to -87.33 are subnormal
    (rounded once) or 0: an absolute error below 1.2e-38.
    """
    xc = x if not x < NONPOSITIVE_EXP_LO else NONPOSITIVE_EXP_LO
    t = xc * LOG2E + ROUNDER
    fn = t - ROUNDER
    r = xc - fn * LN2_HI
    r = r - fn * LN2_LO
    q = C6
    q = q * r + C5
    q = q * r + C4
    q = q * r + C3
    q = q * r + C2
    p = F32_ONE + r + (r * r) * q
    n = np.float32(t).view(np.int32) - ROUNDER_BITS
    return p * np.int32((n + EXPONENT_BIAS) << MANTISSA_BITS).view(np.float32)


@jit_inline
def exp_any(x):
    """exp for either float type: the polynomial for float32, libm for float64 (folded at compile time)."""
    if isinstance(x, np.float32):
        return exp_f32(x)
    return math.exp(x)


# tanh(x) = x P(x^2) / Q(x^2) on |x| <= TANH_CLAMP, P of degree 6 and Q of degree 3: a rational fit of relative
# error made for this file (fit error 0.13 of a float32 half-ulp; the rest is float32 rounding, which makes the
# bound 5 ulp). Past TANH_CLAMP tanh rounds to ±1 in float32 (it does from 9.011 on) and the fit reaches 1 there.
TANH_CLAMP = np.float32(9.1)
TANH_MINUS_CLAMP = np.float32(-9.1)
TP1 = np.float32(0.13079708814620972)
TP2 = np.float32(0.00309914443641901)
TP3 = np.float32(1.1103738870588131e-05)
TP4 = np.float32(-2.001836740816998e-08)
TP5 = np.float32(5.1773189901904715e-11)
TP6 = np.float32(-8.227552211574618e-14)
TQ1 = np.float32(0.46413034200668335)
TQ2 = np.float32(0.024476036429405212)
TQ3 = np.float32(0.00025391249801032245)
F32_MINUS_ONE = np.float32(-1.0)


@jit_inline
def tanh_f32(x):
    """tanh for float32 x, within 5 ulp of float64 tanh rounded to float32 everywhere (tests sweep it).

    One rational function x P(x^2) / Q(x^2) on x clamped to ±9.1, then the result clamped to ±1: 16 vector
    instructions and one division per lane, with no branch and no exp (the exp formula 1 - 2/(1 + e^2x) cost
    31 instructions: its polynomial and the exp were both computed per lane). Odd by construction, so
    tanh(-0) = -0; tiny x and subnormals give x exactly (P(0) = Q(0) = 1); ±inf give ±1; NaN propagates
    (every clamp is written so that a NaN comparison keeps x).
    """
    xc = TANH_CLAMP if x > TANH_CLAMP else x
    xc = TANH_MINUS_CLAMP if xc < TANH_MINUS_CLAMP else xc
    s = xc * xc
    p = TP6
    p = p * s + TP5
    p = p * s + TP4
    p = p * s + TP3
    p = p * s + TP2
    p = p * s + TP1
    p = p * s + F32_ONE
    q = TQ3
    q = q * s + TQ2
    q = q * s + TQ1
    q = q * s + F32_ONE
    t = (xc * p) / q
    t = F32_ONE if t > F32_ONE else t
    return F32_MINUS_ONE if t < F32_MINUS_ONE else t


@jit_inline
def tanh_scalar(x):
    """tanh for either float type: the vectorisable tanh_f32 for float32, libm for float64."""
    if isinstance(x, np.float32):
        return tanh_f32(x)
    return math.tanh(x)


@jit_inline
def sigmoid_scalar(x):
    """Two-branch stable sigmoid: 1/(1+e^-x) for x >= 0, e^x/(1+e^x) for x < 0.

    Only e^-|x| <= 1 is ever computed, so nothing overflows: sigmoid(1000) = 1 and sigmoid(-1000) = 0
    exactly, and NaN propagates (e^NaN is NaN). Both branches are selects, so loops still vectorise.
    float32 results below ~2^-126 (x < -87.33) may be flushed to 0.
    """
    one = typed(x, 1)
    if isinstance(x, np.float32):
        e = exp_nonpositive_f32(-abs(x))
    else:
        e = math.exp(-abs(x))
    s = one / (one + e)
    return s if x >= 0 else e * s


@jit_inline
def activate(x, code):
    """The activation `code` (IDENTITY/SIGMOID/TANH/RELU) applied to one value."""
    if code == SIGMOID:
        return sigmoid_scalar(x)
    if code == TANH:
        return tanh_scalar(x)
    if code == RELU:
        return x if not x < 0 else typed(x, 0)  # `not x < 0` keeps NaN, as np.maximum(x, 0) does
    return x


@jit_inline
def activation_slope(y, code):
    """act'(x) written in terms of the saved output y = act(x), as the backward passes use it."""
    if code == SIGMOID:
        return y * (typed(y, 1) - y)
    if code == TANH:
        return typed(y, 1) - y * y
    if code == RELU:
        return typed(y, 1) if y > 0 else typed(y, 0)
    return typed(y, 1)
