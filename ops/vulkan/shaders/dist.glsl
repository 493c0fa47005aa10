// dist.glsl — the per-element negative log-likelihood of loss_normal / loss_studentt and its
// gradient with respect to the raw parameters (ops/ref/k_loss.c's dist_elem), in float: GLSL
// has no double exp or log.  sigma = softplus(raw scale), df = 2 + softplus(raw df).

#define DS_HALF_LOG_2PI 0.91893853320467274178
#define DS_HALF_LOG_PI 0.57236494292470008707

// log(1 + x) for x >= 0, exact where 1 + x rounds (Goldberg)
float ds_log1p(float x)
{
    float u = 1.0 + x;
    return u == 1.0 ? x : log(u) * (x / (u - 1.0));
}

// log Gamma(x) for x > 0: the recurrence up to 8, then Stirling's series
float ds_lgamma(float x)
{
    float shift = 0.0;
    while (x < 8.0) {
        shift += log(x);
        x += 1.0;
    }
    float f = 1.0 / (x * x);
    float series = (1.0 / 12.0 - f * (1.0 / 360.0 - f * (1.0 / 1260.0 - f / 1680.0))) / x;
    return (x - 0.5) * log(x) - x + DS_HALF_LOG_2PI + series - shift;
}

// psi(x) for x > 0: the recurrence up to 6, then the asymptotic series (the reference's)
float ds_digamma(float x)
{
    float r = 0.0;
    while (x < 6.0) {
        r -= 1.0 / x;
        x += 1.0;
    }
    float f = 1.0 / (x * x);
    return r + log(x) - 0.5 / x -
           f * (1.0 / 12.0 - f * (1.0 / 120.0 - f * (1.0 / 252.0 - f * (1.0 / 240.0 - f / 132.0))));
}

// Element (o, i) of y [outer, np, inner] against target tv: its NLL, and the gradient by raw
// parameter into g (when want_g).
float ds_elem(Ref y, uint np, uint inner, uint o, uint i, float tv, bool want_g, out vec3 g)
{
    uint at = o * np * inner + i;
    float mu = ld(y, at), rs = ld(y, at + inner), s = ntg_softplus(rs);
    float z = (tv - mu) / s;
    g = vec3(0.0);
    if (np == 2u) {
        if (want_g) {
            g.x = -z / s;
            g.y = (1.0 - z * z) / s * ntg_sigmoid(rs);
        }
        return log(s) + float(DS_HALF_LOG_2PI) + 0.5 * z * z;
    }
    float rn = ld(y, at + 2u * inner), nu = 2.0 + ntg_softplus(rn);
    float a = 1.0 + z * z / nu, la = ds_log1p(z * z / nu);
    if (want_g) {
        float k = (nu + 1.0) * z / (nu * a);
        g.x = -k / s;
        g.y = (1.0 - k * z) / s * ntg_sigmoid(rs);
        float dnu = -0.5 * ds_digamma(0.5 * (nu + 1.0)) + 0.5 * ds_digamma(0.5 * nu) + 0.5 / nu +
                    0.5 * la - 0.5 * (nu + 1.0) * z * z / (nu * nu * a);
        g.z = dnu * ntg_sigmoid(rn);
    }
    return -ds_lgamma(0.5 * (nu + 1.0)) + ds_lgamma(0.5 * nu) + 0.5 * log(nu) +
           float(DS_HALF_LOG_PI) + log(s) + 0.5 * (nu + 1.0) * la;
}
