/* Accuracy of an int8 model on a data set (one image at a time, as the runtime runs). */
#include <stdlib.h>

#include "core/util.h"
#include "int8/i8model.h"

frost_status frost_int8_evaluate(frost_int8_model *m, const frost_dataset *d,
                                 const frost_augment *norm, float *acc)
{
    if (!m || !d || !acc)
        return frost_fail(FROST_ERR_ARG, "int8 evaluate: NULL argument");
    if (d->h != m->in_h || d->w != m->in_w || d->c != m->in_c)
        return frost_fail(FROST_ERR_SHAPE,
                          "int8 evaluate: images are %dx%dx%d, the model "
                          "takes %dx%dx%d",
                          d->h, d->w, d->c, m->in_h, m->in_w, m->in_c);
    if (d->classes > m->classes)
        return frost_fail(FROST_ERR_SHAPE,
                          "int8 evaluate: labels go up to %d, the model has %d "
                          "classes",
                          d->classes - 1, m->classes);
    /* the normalization only: no crop, no flip */
    frost_augment plain = norm ? *norm : (frost_augment){.mean = 0.0f, .std = 1.0f};
    plain.crop_pad = 0;
    plain.hflip = false;
    frost_loader *l;
    FROST_TRY(frost_loader_create(d, 1, false, &plain, 0, &l));
    float *x = malloc((size_t)d->h * d->w * d->c * sizeof(float));
    if (!x) {
        frost_loader_free(l);
        return frost_fail(FROST_ERR_NOMEM, "int8 evaluate: out of memory");
    }
    frost_loader_start_epoch(l, 0);
    int64_t correct = 0, seen = 0;
    uint8_t label;
    while (frost_loader_next(l, x, &label) > 0) {
        frost_int8_run(m, x, (int64_t)d->h * d->w * d->c, NULL);
        int best = 0;
        for (int c = 1; c < m->classes; c++)
            best = m->out[c] > m->out[best] ? c : best;
        correct += best == label;
        seen++;
    }
    free(x);
    frost_loader_free(l);
    *acc = seen ? (float)correct / (float)seen : 0.0f;
    return FROST_OK;
}
