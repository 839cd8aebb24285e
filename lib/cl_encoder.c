/* cl_encoder: embedding + recurrent stack over the model's flat parameters. */
#include "cl_encoder.h"

#include <stdlib.h>
#include <string.h>

#include "cl_error.h"

int cl_encoder_validate(const cl_encoder_config *c)
{
    if (c->vocab < 1 || c->emb < 1 || c->rnn.input != c->emb || c->vocab > (1 << 22))
        return CL_EINVAL;
    return cl_rnn_validate(&c->rnn);
}

int cl_encoder_out_dim(const cl_encoder_config *c) { return cl_rnn_out_dim(&c->rnn); }

size_t cl_encoder_state_size(const cl_encoder_config *c)
{
    return (size_t)c->rnn.layers * cl_rnn_dirs(&c->rnn) * c->rnn.hidden;
}

int cl_encoder_add_params(const cl_encoder_config *c, cl_params *p)
{
    int err = cl_encoder_validate(c);
    if (err)
        return err;
    int se[2] = {c->vocab, c->emb};
    err = cl_params_add(p, "encoder.embed", 2, se);
    if (err >= 0)
        err = cl_rnn_add_params(&c->rnn, p, "encoder.rnn");
    return err < 0 ? err : CL_OK;
}

int cl_encoder_init_params(const cl_encoder_config *c, cl_params *p, cl_rng *rng)
{
    int ie = cl_params_find(p, "encoder.embed"), ir = cl_params_find(p, "encoder.rnn.weight_ih_l0");
    if (ie < 0 || ir < 0)
        return CL_ENOTFOUND;
    float *e = cl_params_w(p, ie);
    for (size_t i = 0; i < p->t[ie].size; i++)
        e[i] = (float)cl_rng_normal(rng); /* as torch.nn.Embedding */
    return cl_rnn_init(&c->rnn, cl_params_w(p, ir), rng);
}

void cl_encoder_free(cl_encoder *e)
{
    cl_rnn_free(e->rnn);
    free(e->x), free(e->dx), free(e->ids);
    memset(e, 0, sizeof *e);
}

int cl_encoder_create(cl_encoder *e, const cl_encoder_config *c, const cl_params *p, int max_T,
                      int max_B)
{
    memset(e, 0, sizeof *e);
    e->c = *c;
    e->i_embed = cl_params_find(p, "encoder.embed");
    e->i_rnn = cl_params_find(p, "encoder.rnn.weight_ih_l0");
    if (e->i_embed < 0 || e->i_rnn < 0)
        return CL_ENOTFOUND;
    e->max_T = max_T, e->max_B = max_B;
    size_t n = (size_t)max_T * max_B;
    int err = cl_rnn_create(&e->rnn, &c->rnn, max_T, max_B);
    e->x = cl_alloc(n * c->emb * sizeof(float));
    e->dx = cl_alloc(n * c->emb * sizeof(float));
    e->ids = cl_alloc(n * sizeof(int));
    if (!err && (!e->x || !e->dx || !e->ids))
        err = CL_ENOMEM;
    if (err)
        cl_encoder_free(e);
    return err;
}

int cl_encoder_forward(cl_encoder *e, const cl_params *p, const int *ids, int T, int B,
                       const float *h0, const float *c0, float *Y, float *hT, float *cT,
                       int train, cl_rng *rng)
{
    if (T > e->max_T || B > e->max_B)
        return CL_EINVAL;
    e->T = T, e->B = B;
    memcpy(e->ids, ids, (size_t)T * B * sizeof(int));
    cl_embed_forward(e->x, ids, T * B, cl_params_w(p, e->i_embed), e->c.emb);
    return cl_rnn_forward(e->rnn, cl_params_w(p, e->i_rnn), T, B, e->x, h0, c0, Y, hT, cT, train,
                          rng);
}

int cl_encoder_backward(cl_encoder *e, cl_params *p, const float *dY, const float *dhT,
                        const float *dcT, float *dh0, float *dc0)
{
    int err = cl_rnn_backward(e->rnn, cl_params_w(p, e->i_rnn), cl_params_g(p, e->i_rnn), dY, dhT,
                              dcT, e->dx, dh0, dc0);
    if (!err)
        cl_embed_backward(cl_params_g(p, e->i_embed), e->ids, e->T * e->B, e->dx, e->c.emb);
    return err;
}
