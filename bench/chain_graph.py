#!/usr/bin/env python3
"""chain_graph.py — write a graph of N ops in one chain (x -> a1 -> a2 -> ... -> y).

For the compiler's complexity benchmark (docs/benchmarks.md): every op depends on
the one before, the shape that makes a quadratic pass show.  The first op is a
`dense` so a training plan has a parameter; the rest alternate `relu` and `tanh`.

    bench/chain_graph.py 100000 > /tmp/chain100k.yaml
    /usr/bin/time -v build/cli/ntgraph compile /tmp/chain100k.yaml -o /tmp/c.plan --infer-only
"""
import sys


def main():
    if len(sys.argv) != 2 or not sys.argv[1].isdigit() or int(sys.argv[1]) < 1:
        sys.stderr.write("usage: chain_graph.py N   (N >= 1 ops)\n")
        return 2
    n = int(sys.argv[1])
    out = sys.stdout
    out.write("ntgraph: 1\nname: chain%d\ninputs:\n  x: [batch, 8]\noutputs:\n  y: ~\nnodes:\n" % n)
    prev = "x"
    for i in range(n):
        name = "y" if i == n - 1 else "a%d" % i
        if i == 0:
            out.write("  - {op: dense, in: %s, out: %s, units: 8}\n" % (prev, name))
        else:
            out.write("  - {op: %s, in: %s, out: %s}\n" % ("relu" if i % 2 else "tanh", prev, name))
        prev = name
    return 0


if __name__ == "__main__":
    sys.exit(main())
