// win.glsl — window geometry of avgpool1d, conv1d and unfold (ops/op_attrs.h's ntg__win_taps).
//
// REAL is float, or double in the _f64 builds (the reference sums in double and rounds once).
#ifdef NTG_F64
#define REAL double
#else
#define REAL float
#endif

// floor(a / b) for b > 0 (GLSL's % is undefined for negative operands: not used)
int win_floordiv(int a, int b)
{
    int q = a / b;
    return (q * b != a && (a < 0) != (b < 0)) ? q - 1 : q;
}

// x[p] of a row starting at xr of len, p a position of the padded axis (zero or replicate).
REAL win_padded(Ref x, uint xr, int len, int p, bool rep)
{
    if (p < 0) return rep ? REAL(ld(x, xr)) : REAL(0);
    if (p >= len) return rep ? REAL(ld(x, xr + uint(len - 1))) : REAL(0);
    return REAL(ld(x, xr + uint(p)));
}

// The windows o in [lo, hi] of nout whose tap at offset `tap` reads input element i.
ivec2 win_taps(int i, int len, int tap, int stride, int pad, bool rep, int nout)
{
    int far = nout * stride + tap + pad + len + 1;
    int plo = rep && i == 0 ? -far : i;
    int phi = rep && i == len - 1 ? far : i;
    int a = plo + pad - tap, b = phi + pad - tap;
    int l = -win_floordiv(-a, stride), h = win_floordiv(b, stride);
    return ivec2(max(l, 0), min(h, nout - 1));
}
