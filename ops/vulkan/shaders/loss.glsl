// loss.glsl — the element losses and their derivatives (ops/ref/k_loss.c's rules).
//
// the element loss rho_k(e), e = y - t, and its derivative (ops/ref/k_loss.c's rules).

float quantile(uint k)
{
    return PF(LS_Q + k);
}

float elem_loss(uint kind, uint k, float e)
{
    float a = abs(e), delta = PF(LS_DELTA);
    if (kind == LS_MSE) return e * e;
    if (kind == LS_MAE) return a;
    if (kind == LS_HUBER) return a < delta ? 0.5 * e * e : delta * (a - 0.5 * delta);
    float q = quantile(k);
    return e < 0.0 ? -q * e : (1.0 - q) * e;
}

// torch's conventions at the kinks: sign(0) = 0; Huber linear from |e| == delta; the
// pinball tie rule of torch.maximum (0.5 - q at y == t)
float elem_grad(uint kind, uint k, float e)
{
    float delta = PF(LS_DELTA);
    if (kind == LS_MSE) return 2.0 * e;
    if (kind == LS_MAE) return e > 0.0 ? 1.0 : e < 0.0 ? -1.0 : 0.0;
    if (kind == LS_HUBER) return abs(e) < delta ? e : e > 0.0 ? delta : -delta;
    float q = quantile(k);
    return e < 0.0 ? -q : e > 0.0 ? 1.0 - q : 0.5 - q;
}

// l_i of element it = o * inner + i of t: the sum over quantiles, in quantile order
float elem_sum(Ref y, Ref t, uint kind, uint it)
{
    uint nq = P(LS_NQ), inner = P(LS_INNER), o = it / inner, i = it % inner;
    float tv = ld(t, it), s = 0.0;
    for (uint k = 0u; k < nq; k++) s += elem_loss(kind, k, ld(y, (o * nq + k) * inner + i) - tv);
    return s;
}
