/* dist.h — the Normal and Student-t distributions of the distribution heads: CDFs, inverse CDFs
 * (quantiles), densities and the closed-form CRPS of the Normal. Double precision throughout. */
#ifndef NTG_DIST_H
#define NTG_DIST_H

/* Standard Normal CDF and its inverse (p in (0, 1); +-inf at 0 and 1, NaN outside). */
double ntg__norm_cdf(double x);
double ntg__norm_ppf(double p);

/* Student-t with df > 0 degrees of freedom, standard (loc 0, scale 1): CDF and its inverse
 * (p in (0, 1); +-inf at 0 and 1, NaN outside or for df <= 0). */
double ntg__t_cdf(double x, double df);
double ntg__t_ppf(double p, double df);

/* CRPS of N(mu, sigma^2) at y (Gneiting & Raftery 2007, closed form). */
double ntg__crps_normal(double mu, double sigma, double y);

/* softplus as the distribution losses apply it to raw parameters (torch's threshold 20). */
double ntg__softplus(double x);

#endif /* NTG_DIST_H */
