// reduce.glsl — workgroup sums and maxima in three builds: subgroup, shared memory, serial.
//
// workgroup sums and maxima: subgroup arithmetic when built with NTG_SUBGROUP, a shared-memory tree
// otherwise, and no reduction at all when built with NTG_SERIAL. Every invocation of the workgroup
// must call wg_sum / wg_max (they contain barriers); all of them get the result. The shared array
// holds one value per subgroup, or one per invocation in the fallback tree, so the workgroup size
// must not exceed NTG_RED_MAX. Line shaders (one line reduced per workgroup) iterate lines from
// LINE0 by LINE_STEP and a line's elements from LANE by LANES. NTG_SERIAL (CPU devices, where a
// barrier costs more than the work it shares) gives each invocation whole lines: LANE 0 of LANES 1,
// no barrier.
#define NTG_RED_MAX 256

#ifdef NTG_SERIAL
#define LINE0 gl_GlobalInvocationID.x
#define LINE_STEP (gl_NumWorkGroups.x * gl_WorkGroupSize.x)
#define LANE 0u
#define LANES 1u

float wg_sum(float x)
{
    return x;
}

float wg_max(float x)
{
    return x;
}
#else
#define LINE0 gl_WorkGroupID.x
#define LINE_STEP gl_NumWorkGroups.x
#define LANE gl_LocalInvocationIndex
#define LANES gl_WorkGroupSize.x

#ifdef NTG_SUBGROUP
#extension GL_KHR_shader_subgroup_basic : require
#extension GL_KHR_shader_subgroup_arithmetic : require
#endif

shared float red_buf[NTG_RED_MAX];

#ifdef NTG_SUBGROUP
float wg_sum(float x)
{
    float s = subgroupAdd(x);
    barrier();
    if (subgroupElect()) red_buf[gl_SubgroupID] = s;
    barrier();
    float t = 0.0;
    // every invocation sums the per-subgroup values in the same order: a fixed result
    for (uint i = 0u; i < gl_NumSubgroups; i++) t += red_buf[i];
    return t;
}

float wg_max(float x)
{
    float s = subgroupMax(x);
    barrier();
    if (subgroupElect()) red_buf[gl_SubgroupID] = s;
    barrier();
    float t = red_buf[0];
    for (uint i = 1u; i < gl_NumSubgroups; i++) t = max(t, red_buf[i]);
    return t;
}
#else
float wg_reduce(float x, bool is_max)
{
    uint l = gl_LocalInvocationIndex, n = gl_WorkGroupSize.x;
    barrier();
    red_buf[l] = x;
    barrier();
    for (uint h = n / 2u; h > 0u; h /= 2u) {
        if (l < h) red_buf[l] = is_max ? max(red_buf[l], red_buf[l + h]) : red_buf[l] + red_buf[l + h];
        barrier();
    }
    return red_buf[0];
}

float wg_sum(float x)
{
    return wg_reduce(x, false);
}

float wg_max(float x)
{
    return wg_reduce(x, true);
}
#endif
#endif
