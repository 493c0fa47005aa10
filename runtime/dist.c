/* dist.c — Normal and Student-t CDFs and quantiles for the distribution heads (docs/training.md).
 *
 * The Normal quantile starts from a rational approximation and is polished with Halley steps on
 * erfc, so it is exact to a few ulps.  The Student-t CDF is the regularized incomplete beta
 * function I_x(df/2, 1/2) (continued fraction, modified Lentz); its quantile is a safeguarded
 * Newton iteration on that CDF, inside a bracket that bisection keeps valid. */
#include "dist.h"

#include <float.h>
#include <math.h>

#define SQRT1_2 0.70710678118654752440
#define SQRT_2PI 2.50662827463100050242

double ntg__softplus(double x)
{
    return x > 20.0 ? x : log1p(exp(x));
}

double ntg__norm_cdf(double x)
{
    return 0.5 * erfc(-x * SQRT1_2);
}

static double norm_pdf(double x)
{
    return exp(-0.5 * x * x) / SQRT_2PI;
}

/* Acklam's rational approximation (relative error < 1.2e-9) as the start. */
static double norm_ppf_start(double p)
{
    static const double a[] = {-3.969683028665376e+01, 2.209460984245205e+02,
                               -2.759285104469687e+02, 1.383577518672690e+02,
                               -3.066479806614716e+01, 2.506628277459239e+00};
    static const double b[] = {-5.447609879822406e+01, 1.615858368580409e+02,
                               -1.556989798598866e+02, 6.680131188771972e+01,
                               -1.328068155288572e+01};
    static const double c[] = {-7.784894002430293e-03, -3.223964580411365e-01,
                               -2.400758277161838e+00, -2.549732539343734e+00,
                               4.374664141464968e+00,  2.938163982698783e+00};
    static const double d[] = {7.784695709041462e-03, 3.224671290700398e-01, 2.445134137142996e+00,
                               3.754408661907416e+00};
    double q, r;
    if (p < 0.02425) {
        q = sqrt(-2 * log(p));
        return (((((c[0] * q + c[1]) * q + c[2]) * q + c[3]) * q + c[4]) * q + c[5]) /
               ((((d[0] * q + d[1]) * q + d[2]) * q + d[3]) * q + 1);
    }
    if (p > 1 - 0.02425) {
        q = sqrt(-2 * log1p(-p));
        return -(((((c[0] * q + c[1]) * q + c[2]) * q + c[3]) * q + c[4]) * q + c[5]) /
               ((((d[0] * q + d[1]) * q + d[2]) * q + d[3]) * q + 1);
    }
    q = p - 0.5;
    r = q * q;
    return (((((a[0] * r + a[1]) * r + a[2]) * r + a[3]) * r + a[4]) * r + a[5]) * q /
           (((((b[0] * r + b[1]) * r + b[2]) * r + b[3]) * r + b[4]) * r + 1);
}

double ntg__norm_ppf(double p)
{
    if (!(p >= 0 && p <= 1)) return NAN;
    if (p == 0) return -INFINITY;
    if (p == 1) return INFINITY;
    if (p == 0.5) return 0.0;
    /* solve in the tail nearer to p, where erfc keeps relative precision */
    double pt = p < 0.5 ? p : 1.0 - p;
    double x = norm_ppf_start(pt); /* x < 0 */
    for (int i = 0; i < 3; i++) {
        double e = 0.5 * erfc(-x * SQRT1_2) - pt;
        double u = e / norm_pdf(x);
        x -= u / (1 + 0.5 * x * u); /* Halley */
    }
    return p < 0.5 ? x : -x;
}

/* Continued fraction of the incomplete beta (valid for x < (a + 1) / (a + b + 2)). */
static double beta_cf(double a, double b, double x)
{
    const double tiny = 1e-300;
    double qab = a + b, qap = a + 1, qam = a - 1;
    double c = 1, d = 1 - qab * x / qap;
    if (fabs(d) < tiny) d = tiny;
    d = 1 / d;
    double h = d;
    for (int m = 1; m <= 300; m++) {
        double m2 = 2.0 * m, aa = m * (b - m) * x / ((qam + m2) * (a + m2));
        d = 1 + aa * d;
        if (fabs(d) < tiny) d = tiny;
        c = 1 + aa / c;
        if (fabs(c) < tiny) c = tiny;
        d = 1 / d;
        h *= d * c;
        aa = -(a + m) * (qab + m) * x / ((a + m2) * (qap + m2));
        d = 1 + aa * d;
        if (fabs(d) < tiny) d = tiny;
        c = 1 + aa / c;
        if (fabs(c) < tiny) c = tiny;
        d = 1 / d;
        double del = d * c;
        h *= del;
        if (fabs(del - 1) < 1e-16) break;
    }
    return h;
}

/* Regularized incomplete beta I_x(a, b), 0 <= x <= 1. */
static double betainc(double a, double b, double x)
{
    if (x <= 0) return 0;
    if (x >= 1) return 1;
    double lbt = lgamma(a + b) - lgamma(a) - lgamma(b) + a * log(x) + b * log1p(-x);
    if (x < (a + 1) / (a + b + 2)) return exp(lbt) * beta_cf(a, b, x) / a;
    return 1 - exp(lbt) * beta_cf(b, a, 1 - x) / b;
}

/* P(T > |x|) for x >= 0: half of I_{df/(df+x^2)}(df/2, 1/2). */
static double t_tail(double x, double df)
{
    return 0.5 * betainc(0.5 * df, 0.5, df / (df + x * x));
}

double ntg__t_cdf(double x, double df)
{
    if (!(df > 0) || isnan(x)) return NAN;
    if (isinf(x)) return x > 0 ? 1.0 : 0.0;
    double tail = t_tail(fabs(x), df);
    return x > 0 ? 1 - tail : tail;
}

static double t_pdf(double x, double df)
{
    return exp(lgamma(0.5 * (df + 1)) - lgamma(0.5 * df) - 0.5 * log(df * 3.14159265358979323846) -
               0.5 * (df + 1) * log1p(x * x / df));
}

double ntg__t_ppf(double p, double df)
{
    if (!(p >= 0 && p <= 1) || !(df > 0)) return NAN;
    if (p == 0) return -INFINITY;
    if (p == 1) return INFINITY;
    if (p == 0.5) return 0.0;
    /* by symmetry solve tail(x) = min(p, 1 - p) for x > 0 */
    double pt = p < 0.5 ? p : 1 - p;
    double lo = 0, hi = 1;
    while (t_tail(hi, df) > pt && hi < 1e300) hi *= 4;
    double x = -ntg__norm_ppf(pt); /* the Normal's quantile as the start */
    if (!(x > lo && x < hi)) x = 0.5 * (lo + hi);
    for (int i = 0; i < 200; i++) {
        double f = t_tail(x, df) - pt; /* decreasing in x */
        if (f > 0)
            lo = x;
        else
            hi = x;
        double nx = x + f / t_pdf(x, df); /* Newton: d tail / dx = -pdf */
        if (!(nx > lo && nx < hi)) nx = 0.5 * (lo + hi);
        if (fabs(nx - x) <= 1e-15 * fabs(x) || hi - lo <= 1e-15 * hi) {
            x = nx;
            break;
        }
        x = nx;
    }
    return p < 0.5 ? -x : x;
}

double ntg__crps_normal(double mu, double sigma, double y)
{
    double z = (y - mu) / sigma;
    return sigma *
           (z * (2 * ntg__norm_cdf(z) - 1) + 2 * norm_pdf(z) - 1 / sqrt(3.14159265358979323846));
}
