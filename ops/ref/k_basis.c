/* k_basis.c — reference kernel of basis, N-BEATS' fixed trend and seasonality bases. */
#include <math.h>

#include "ref_kernels.h"
#include "op_attrs.h"

/*
 * Evaluated as NeuralForecast's TrendBasis and SeasonalityBasis build them in numpy (float64,
 * the same operations in the same order) and rounded to float once, so the table equals the
 * reference's float32 buffer:
 *   poly:    row p = power(arange(length) / period, p)
 *   fourier: grid = sign 2 pi * (arange(length) / period) * f, with f = 0 and then
 *            arange(harmonics, harmonics / 2 * period) / harmonics; cos rows, then sin rows.
 * The harmonics' period is NeuralForecast's forecast size for both grids, and the backcast
 * grid has sign -1.
 */
void ntg__cpu_fwd_basis(const ntg_kctx *c)
{
    float *y = c->out[0].data;
    int64_t rows = c->out[0].d.dims[0], len = c->out[0].d.dims[1];
    int64_t per = ntg__attr_i(c->attr, NTG_BASIS_PERIOD);
    double p = (double)(per ? per : len);
    if (ntg__attr_i(c->attr, NTG_BASIS_KIND) != NTG_BASIS_FOURIER) {
        for (int64_t r = 0; r < rows; r++)
            for (int64_t t = 0; t < len; t++) y[r * len + t] = (float)pow((double)t / p, (double)r);
        return;
    }
    double harm = (double)ntg__attr_i(c->attr, NTG_BASIS_HARMONICS);
    double two_pi = (double)ntg__attr_i(c->attr, NTG_BASIS_SIGN) * 2.0 * 3.14159265358979323846;
    int64_t nf = rows / 2;
    for (int64_t k = 0; k < nf; k++) {
        double f = k == 0 ? 0.0 : (harm + (double)(k - 1)) / harm;
        for (int64_t t = 0; t < len; t++) {
            double g = two_pi * ((double)t / p) * f;
            y[k * len + t] = (float)cos(g);
            y[(nf + k) * len + t] = (float)sin(g);
        }
    }
}
