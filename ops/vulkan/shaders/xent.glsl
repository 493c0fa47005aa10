// xent.glsl — one element (o, i) of loss_xent (ops/ref/k_loss.c's xent_elem): the loss
// logsumexp_k y[o, k, i] - y[o, t, i] (max-shifted), NaN for a t that is not an integer class
// in [0, C); with want_p, the softmax of the C logits into xe_p.  exp and log in float (GLSL has
// no double ones), the sum over the classes in REAL.
float xe_p[NTG_VK_XENT_MAX_CLASSES];

float xe_elem(Ref y, uint nc, uint inner, uint o, uint i, float tv, bool want_p)
{
    uint base = o * nc * inner + i;
    float mx = ld(y, base);
    for (uint k = 1u; k < nc; k++) mx = max(mx, ld(y, base + k * inner));
    precise REAL s = REAL(0);
    for (uint k = 0u; k < nc; k++) {
        float e = exp(ld(y, base + k * inner) - mx);
        if (want_p) xe_p[k] = e;
        s = s + REAL(e);
    }
    if (want_p)
        for (uint k = 0u; k < nc; k++) xe_p[k] = float(REAL(xe_p[k]) / s);
    if (!(tv >= 0.0 && tv < float(nc)) || tv != floor(tv)) return uintBitsToFloat(0x7fc00000u);
    return float(REAL(mx) + REAL(log(float(s))) - REAL(ld(y, base + uint(tv) * inner)));
}
