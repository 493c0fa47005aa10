#!/usr/bin/env python3
"""dist_torch.py - writes dist_torch.txt, the reference values of tests/test_ops_dist.c:
the negative log-likelihood of NeuralForecast's DistributionLoss parameterisation computed
by torch.distributions (float64). Run offline with torch installed:
    python3 tests/data/dist_torch.py > tests/data/dist_torch.txt
"""
import random

import torch
import torch.nn.functional as F
from torch.distributions import Normal, StudentT

random.seed(16)
print("# kind loc raw_scale raw_df t nll   (torch %s, float64)" % torch.__version__)
for kind in ("normal", "studentt"):
    for _ in range(12):
        # float32-exact inputs: the kernel sees them as floats
        loc, rs, rd = (float(torch.tensor(random.uniform(-3, 3), dtype=torch.float32))
                       for _ in range(3))
        t = float(torch.tensor(random.uniform(-6, 6), dtype=torch.float32))
        d = torch.tensor
        scale = F.softplus(d(rs, dtype=torch.float64))
        if kind == "normal":
            nll = -Normal(d(loc, dtype=torch.float64), scale).log_prob(d(t, dtype=torch.float64))
        else:
            df = 2.0 + F.softplus(d(rd, dtype=torch.float64))
            nll = -StudentT(df, d(loc, dtype=torch.float64), scale).log_prob(
                d(t, dtype=torch.float64))
        print("%s %.9g %.9g %.9g %.9g %.17g" % (kind, loc, rs, rd, t, float(nll)))
