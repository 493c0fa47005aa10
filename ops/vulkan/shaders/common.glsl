// common.glsl — bindings, parameter words and operand access of every ntgraph shader.
//
// bindings, parameter words and operand access shared by every ntgraph shader.
#include "vk_abi.h"

// The storages' windows (descriptor slots; SHADERS.md §1): a storage within the device's
// maxStorageBufferRange is one slot, its ntg_storage index (0 is the backend's scratch).
layout(set = 0, binding = 0) buffer Store
{
    float v[];
}
st[NTG_VK_SLOTS];

// Parameter words of every dispatch; this dispatch's start at pc.base.
layout(set = 0, binding = 1) readonly buffer Params
{
    uint prm[];
};

layout(push_constant) uniform PC
{
    uint base;
}
pc;

uint P(uint k)
{
    return prm[pc.base + k];
}

int PI(uint k)
{
    return int(prm[pc.base + k]);
}

float PF(uint k)
{
    return uintBitsToFloat(prm[pc.base + k]);
}

#ifdef NTG_F64
// A double from two words (low, high): the _f64 builds, for devices with shaderFloat64.
double PD(uint k)
{
    return packDouble2x32(uvec2(P(k), P(k + 1u)));
}
#endif

// An operand: its storage (dynamically uniform) and its first element.
struct Ref {
    uint sto;
    uint off;
};

Ref R(uint k)
{
    return Ref(P(k + REF_STO), P(k + REF_OFF));
}

float ld(Ref r, uint i)
{
    return st[r.sto].v[r.off + i];
}

void sv(Ref r, uint i, float x)
{
    st[r.sto].v[r.off + i] = x;
}

// Grid-stride loops of the 1-D shaders: first invocation and stride.  gl_WorkGroupSize is a
// constant only after the shader's local_size declaration: shaders declare it before this file.
uint gid1()
{
    return gl_GlobalInvocationID.x;
}

uint gstride()
{
    return gl_NumWorkGroups.x * gl_WorkGroupSize.x;
}

// erf to float accuracy (|error| < 1.2e-7, Numerical Recipes' erfc Chebyshev fit): GLSL has
// none, and GELU needs the exact form.
float ntg_erf(float x)
{
    float z = abs(x);
    float t = 1.0 / (1.0 + 0.5 * z);
    float r = t * exp(-z * z - 1.26551223 +
                      t * (1.00002368 +
                           t * (0.37409196 +
                                t * (0.09678418 +
                                     t * (-0.18628806 +
                                          t * (0.27886807 +
                                               t * (-1.13520398 +
                                                    t * (1.48851587 +
                                                         t * (-0.82215223 + t * 0.17087277)))))))));
    return x >= 0.0 ? 1.0 - r : r - 1.0;
}

// tanh without the inf/inf of the textbook formula at large |x|.
float ntg_tanh(float x)
{
    float e = exp(-2.0 * abs(x));
    float t = (1.0 - e) / (1.0 + e);
    return x < 0.0 ? -t : t;
}

float ntg_sigmoid(float x)
{
    return 1.0 / (1.0 + exp(-x));
}

// log(1 + e^x) as torch.nn.Softplus() (threshold 20): x itself above 20, else
// max(x, 0) + log1p(e^-|x|), with log1p(t) = log(u) t / (u - 1), u = 1 + t (Goldberg), which
// stays exact where 1 + t rounds (GLSL has no log1p).
float ntg_softplus(float x)
{
    if (x > 20.0) return x;
    float t = exp(-abs(x)), u = 1.0 + t;
    float l = u == 1.0 ? t : log(u) * (t / (u - 1.0));
    return max(x, 0.0) + l;
}

float ntg_gelu(float x)
{
    return 0.5 * x * (1.0 + ntg_erf(x * 0.70710678118654752));
}

// d/dx x Phi(x) = Phi(x) + x phi(x)
float ntg_gelu_grad(float x)
{
    float cdf = 0.5 * (1.0 + ntg_erf(x * 0.70710678118654752));
    float pdf = exp(-0.5 * x * x) * 0.39894228040143267794;
    return cdf + x * pdf;
}

// Activations of ops.h's ntg_act (dense's fused epilogue).
float ntg_act(uint act, float z)
{
    if (act == 1u) return z < 0.0 ? 0.0 : z;
    if (act == 2u) return ntg_gelu(z);
    if (act == 3u) return ntg_tanh(z);
    if (act == 4u) return ntg_sigmoid(z);
    return z;
}
