// clip.glsl — which input a chunk of clip_grad_norm's inputs belongs to.
//
// which input a chunk of clip_grad_norm's concatenated inputs belongs to.

// Input entry of chunk g (entries are in input order with increasing first chunks).
uint clip_entry(uint g)
{
    uint nin = P(CL_NIN), lo = 0u, hi = nin - 1u;
    while (lo < hi) {
        uint mid = (lo + hi + 1u) / 2u;
        if (P(CL_TAB + mid * CL_TAB_WORDS + CL_TAB_FIRST) <= g)
            lo = mid;
        else
            hi = mid - 1u;
    }
    return CL_TAB + lo * CL_TAB_WORDS;
}
