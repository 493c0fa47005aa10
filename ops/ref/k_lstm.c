/* k_lstm.c — reference kernels of lstm: torch.nn.LSTM(batch_first=True) and its exact BPTT. */
#include <math.h>
#include <string.h>

#include "ref_kernels.h"
#include "ref_span.h"
#include "op_attrs.h"

/* The blocks of one workspace step, each `hidden` wide (ref_span.h, op_attrs.h). */
_Static_assert(NTG_WS_STEP == NTG_LSTM_WS_PER_STEP, "workspace blocks: i, f, g, o, c, h");

ntg_lstm_dims ntg__ref_lstm_dims(const ntg_attr *attr, const ntg_tdesc *x)
{
    ntg_lstm_dims d = {x->dims[0], x->dims[1], x->dims[2], ntg__attr_i(attr, NTG_LSTM_HIDDEN),
                       ntg__attr_i(attr, NTG_LSTM_LAYERS)};
    return d;
}

/* Columns of the bias gradient summed per pass, in double, on the stack. */
enum { DB_CHUNK = 256 };

static double sigm(double z)
{
    return 1.0 / (1.0 + exp(-z));
}

/*
 * in = [x, (W_ih, W_hh, b_ih, b_hh) per layer], out = [y, (ws)].  Per layer, as torch's
 * LSTMCell: gates = x_t W_ih^T + b_ih + h_{t-1} W_hh^T + b_hh; i, f, o = sigmoid, g = tanh;
 * c_t = f c_{t-1} + i g; h_t = o tanh(c_t); h_{-1} = c_{-1} = 0.
 *
 * Scratch (ntg__cpu_scratch_bytes): P [B, T, 4H], the gates of the whole layer, and the cell
 * [B, H].  The input projection of every step is one GEMM into P; each step then adds
 * h_{t-1} W_hh^T with a [B, H] x [H, 4H] GEMM into its rows of P.  Every layer keeps its h
 * sequence in y: the layer above reads it whole (its projection) before overwriting it step
 * by step, so the top layer's is what remains.  With and without the workspace the same
 * GEMMs run on the same operands, so y is bitwise the same either way; the workspace only
 * receives copies.  Activations and the cell update are evaluated in double and rounded
 * once, as dense's activations.
 */
void ntg__cpu_fwd_lstm(const ntg_kctx *c)
{
    ntg_lstm_dims d = ntg__ref_lstm_dims(c->attr, &c->in[0].d);
    const float *x = c->in[0].data;
    float *y = c->out[0].data;
    float *ws = c->n_out > 1 ? c->out[1].data : NULL;
    int64_t nb = d.b, nt = d.t, h = d.h, g4 = 4 * h, rows = nb * nt;
    float *p = c->scratch, *cell = p + rows * g4;

    for (int64_t k = 0; k < d.layers; k++) {
        const float *wih = c->in[1 + 4 * k].data, *whh = c->in[2 + 4 * k].data;
        const float *bih = c->in[3 + 4 * k].data, *bhh = c->in[4 + 4 * k].data;
        int64_t in = k == 0 ? d.in : h;
        ntg__cpu_gemm(0, 1, rows, g4, in, 1.0f, k == 0 ? x : y, in, wih, in, 0.0f, p, g4);
        for (int64_t t = 0; t < nt; t++) {
            if (t > 0)
                ntg__cpu_gemm(0, 1, nb, g4, h, 1.0f, y + (t - 1) * h, nt * h, whh, h, 1.0f,
                              p + t * g4, nt * g4);
            for (int64_t b = 0; b < nb; b++) {
                float *g = p + (b * nt + t) * g4, *cb = cell + b * h, *hb = y + (b * nt + t) * h;
                for (int64_t j = 0; j < g4; j++) {
                    double z = (double)g[j] + (double)bih[j] + (double)bhh[j];
                    g[j] = (float)(j / h == NTG_WS_G ? tanh(z) : sigm(z));
                }
                for (int64_t j = 0; j < h; j++) {
                    double i = g[NTG_WS_I * h + j], f = g[NTG_WS_F * h + j];
                    double gg = g[NTG_WS_G * h + j], o = g[NTG_WS_O * h + j];
                    double cprev = t > 0 ? (double)cb[j] : 0.0;
                    cb[j] = (float)(f * cprev + i * gg);
                    hb[j] = (float)(o * tanh((double)cb[j]));
                }
                if (ws) {
                    float *st = ws + ntg__ref_lstm_ws_off(&d, b, k, t);
                    memcpy(st, g, (size_t)g4 * sizeof *st);
                    memcpy(st + NTG_WS_C * h, cb, (size_t)h * sizeof *st);
                    memcpy(st + NTG_WS_H * h, hb, (size_t)h * sizeof *st);
                }
            }
        }
    }
}

/* db[j] = sum_r dz[r, j] in row order with double accumulators (deterministic); written to
 * each of db1, db2 that is wanted (torch's two biases get the same gradient). */
static void column_sums(const float *dz, int64_t rows, int64_t cols, float *db1, float *db2)
{
    double acc[DB_CHUNK];
    for (int64_t j0 = 0; j0 < cols; j0 += DB_CHUNK) {
        int64_t nj = cols - j0 < DB_CHUNK ? cols - j0 : DB_CHUNK;
        for (int64_t j = 0; j < nj; j++) acc[j] = 0.0;
        for (int64_t r = 0; r < rows; r++) {
            const float *zr = dz + r * cols + j0;
            for (int64_t j = 0; j < nj; j++) acc[j] += (double)zr[j];
        }
        for (int64_t j = 0; j < nj; j++) {
            if (db1) db1[j0 + j] = (float)acc[j];
            if (db2) db2[j0 + j] = (float)acc[j];
        }
    }
}

/* The h sequence of layer k from the workspace into a contiguous [B, T, H] buffer, `shift`
 * steps later (rows before the shift are zero): one GEMM over all B*T rows can then read it. */
void ntg__ref_lstm_gather_h(const ntg_lstm_dims *d, const float *ws, int64_t k, int64_t shift,
                            float *dst)
{
    size_t bytes = (size_t)d->h * sizeof *dst;
    for (int64_t b = 0; b < d->b; b++)
        for (int64_t t = 0; t < d->t; t++) {
            float *row = dst + (b * d->t + t) * d->h;
            if (t < shift)
                memset(row, 0, bytes);
            else
                memcpy(row, ws + ntg__ref_lstm_ws_off(d, b, k, t - shift) + NTG_WS_H * d->h, bytes);
        }
}

static void fill_wanted(const ntg_kctx *c, float v)
{
    for (int i = 0; i < c->n_out; i++) {
        float *o = c->out[i].data;
        if (!o) continue;
        int64_t n = ntg__tdesc_numel(&c->out[i].d);
        for (int64_t e = 0; e < n; e++) o[e] = v;
    }
}

/* One layer's dgates, from the top step down: dh_t = dh_in_t + dgates_{t+1} W_hh (the
 * recurrent path), dc_t = dh_t o (1 - tanh^2 c_t) + dc_{t+1} f_{t+1}, then (torch's LSTMCell
 * derivatives) di = dc g i(1-i), df = dc c_{t-1} f(1-f), dg = dc i (1-g^2),
 * do = dh tanh(c_t) o(1-o).  Elementwise in double from the saved float gates. */
static void layer_dgates(const ntg_lstm_dims *d, const float *ws, int64_t k, const float *whh,
                         const float *dh_in, float *dg, double *carry, float *dhr)
{
    int64_t nb = d->b, nt = d->t, h = d->h, g4 = 4 * h;
    for (int64_t t = nt - 1; t >= 0; t--) {
        int top = t == nt - 1;
        for (int64_t b = 0; b < nb; b++) {
            const float *st = ws + ntg__ref_lstm_ws_off(d, b, k, t);
            const float *cprev =
                t > 0 ? ws + ntg__ref_lstm_ws_off(d, b, k, t - 1) + NTG_WS_C * h : NULL;
            const float *dhb = dh_in + (b * nt + t) * h;
            float *dgb = dg + (b * nt + t) * g4;
            double *cr = carry + b * h;
            const float *rb = dhr + b * h;
            for (int64_t j = 0; j < h; j++) {
                double i = st[NTG_WS_I * h + j], f = st[NTG_WS_F * h + j], g = st[NTG_WS_G * h + j];
                double o = st[NTG_WS_O * h + j], tc = tanh((double)st[NTG_WS_C * h + j]);
                double dh = (double)dhb[j] + (top ? 0.0 : (double)rb[j]);
                double dc = dh * o * (1.0 - tc * tc) + (top ? 0.0 : cr[j]);
                double cp = cprev ? (double)cprev[j] : 0.0;
                dgb[NTG_WS_I * h + j] = (float)(dc * g * i * (1.0 - i));
                dgb[NTG_WS_F * h + j] = (float)(dc * cp * f * (1.0 - f));
                dgb[NTG_WS_G * h + j] = (float)(dc * i * (1.0 - g * g));
                dgb[NTG_WS_O * h + j] = (float)(dh * tc * o * (1.0 - o));
                cr[j] = dc * f;
            }
        }
        if (t > 0) ntg__cpu_gemm(0, 0, nb, h, g4, 1.0f, dg + t * g4, nt * g4, whh, h, 0.0f, dhr, h);
    }
}

/*
 * in = [x, params..., y, ws, dy, dws], out = [dx, (dW_ih, dW_hh, db_ih, db_hh) per layer].
 * Reads x, the weights and ws (lstm_saves); y and the biases arrive without data.  dws is
 * ignored: the workspace is state for this kernel, never a value a loss depends on.
 *
 * Layers from the top: dh_in is dy for the top layer and the input gradient of the layer
 * above otherwise; the whole sequence's dgates D [B, T, 4H] go to scratch, then
 * dW_ih = D^T in, dW_hh = D^T h_{t-1} (the inputs gathered contiguous, so each is one GEMM
 * over all B*T steps), db_ih = db_hh = sum of D, and the input gradient D W_ih.  Layers below
 * the lowest one with a wanted gradient (and dx) are not visited.
 *
 * Scratch: the dc carry [B, H] (double), D [B, T, 4H], S [B, T, H] (dh_in, then the gathered
 * GEMM operands, then the next dh_in), the recurrent dh [B, H].
 */
void ntg__cpu_bwd_lstm(const ntg_kctx *c)
{
    int nfi = c->n_out, nfo = (c->n_in - c->n_out) / 2;
    ntg_lstm_dims d = ntg__ref_lstm_dims(c->attr, &c->in[0].d);
    const float *x = c->in[0].data;
    const float *ws = nfo > 1 ? c->in[nfi + 1].data : NULL;
    const float *dy = c->in[nfi + nfo].data;
    float *dx = c->out[0].data;
    int64_t nb = d.b, nt = d.t, h = d.h, g4 = 4 * h, rows = nb * nt;

    int64_t lowest = dx ? 0 : d.layers;
    for (int64_t k = 0; k < lowest; k++)
        for (int j = 0; j < 4; j++)
            if (c->out[1 + 4 * k + j].data) lowest = k;
    if (lowest == d.layers) return;
    if (!dy) {
        fill_wanted(c, 0.0f);
        return;
    }
    /* The saves mask has 16 input bits, so weights past operand 15 (layers 4+) arrive
     * without data; say so with NaN rather than read NULL. */
    int missing = !ws || !x;
    for (int64_t k = lowest; k < d.layers; k++)
        missing |= !c->in[1 + 4 * k].data || !c->in[2 + 4 * k].data;
    if (missing) {
        fill_wanted(c, NAN);
        return;
    }

    double *carry = c->scratch;
    float *dg = (float *)(carry + nb * h), *s = dg + rows * g4, *dhr = s + rows * h;
    for (int64_t k = d.layers - 1; k >= lowest; k--) {
        const float *wih = c->in[1 + 4 * k].data, *whh = c->in[2 + 4 * k].data;
        float *dwih = c->out[1 + 4 * k].data, *dwhh = c->out[2 + 4 * k].data;
        float *dbih = c->out[3 + 4 * k].data, *dbhh = c->out[4 + 4 * k].data;
        int64_t in = k == 0 ? d.in : h;

        layer_dgates(&d, ws, k, whh, k == d.layers - 1 ? dy : s, dg, carry, dhr);
        if (dwhh) {
            ntg__ref_lstm_gather_h(&d, ws, k, 1, s);
            ntg__cpu_gemm(1, 0, g4, h, rows, 1.0f, dg, g4, s, h, 0.0f, dwhh, h);
        }
        if (dwih) {
            if (k > 0) ntg__ref_lstm_gather_h(&d, ws, k - 1, 0, s);
            ntg__cpu_gemm(1, 0, g4, in, rows, 1.0f, dg, g4, k > 0 ? s : x, in, 0.0f, dwih, in);
        }
        if (dbih || dbhh) column_sums(dg, rows, g4, dbih, dbhh);
        if (k > lowest)
            ntg__cpu_gemm(0, 0, rows, h, g4, 1.0f, dg, g4, wih, h, 0.0f, s, h);
        else if (k == 0 && dx)
            ntg__cpu_gemm(0, 0, rows, in, g4, 1.0f, dg, g4, wih, in, 0.0f, dx, in);
    }
}
