/*
 * Deterministic batch loader.
 *
 * Reproducibility is the point: an epoch's sample order comes from
 * (seed, epoch) alone, and each sample's augmentation from its own stream
 * forked from (seed, epoch, position in the epoch). Nothing depends on the
 * previous epoch, on which thread fills which sample, or on how many threads
 * there are, so a resumed run sees exactly the batches an uninterrupted one
 * would.
 *
 * The loader borrows the dataset: it must outlive the loader.
 */
#include "data/data_internal.h"

#include "core/rng.h"
#include "core/util.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* Stream labels, so shuffling and augmentation never share random numbers. */
#define LOADER_STREAM_SHUFFLE 0x5348554646ULL /* "SHUFF" */
#define LOADER_STREAM_AUGMENT 0x4155474dULL   /* "AUGM" */

/* Below this many pixels per batch, starting threads costs more than it saves. */
#define LOADER_PARALLEL_MIN_PIXELS 16384

struct frost_loader {
    const frost_dataset *d; /* borrowed */
    int batch;
    bool shuffle;
    bool augment; /* aug was given (crop/flip may still be off) */
    frost_augment aug;
    frost_rng base;      /* seeded from the loader's seed, never advanced */
    frost_rng epoch_aug; /* augmentation root of the current epoch */
    float luts[3][256];  /* byte -> normalised float, per channel */
    int *order;          /* the current epoch's sample order */
    int pos;             /* next position in order */
};

static frost_status loader_check_args(const frost_dataset *d, int batch, const frost_augment *aug)
{
    if (!d || !d->images || !d->labels || d->n <= 0 || d->h <= 0 || d->w <= 0 || d->c <= 0)
        return frost_fail(FROST_ERR_ARG, "frost_loader_create: the dataset is empty or not loaded");
    if (batch <= 0)
        return frost_fail(FROST_ERR_ARG, "frost_loader_create: batch must be positive, got %d",
                          batch);
    if (!aug)
        return FROST_OK;
    for (int k = 0; k < (aug->per_channel ? 3 : 1); k++) {
        float mean = aug->per_channel ? aug->ch_mean[k] : aug->mean;
        float std = aug->per_channel ? aug->ch_std[k] : aug->std;
        if (!isfinite(mean))
            return frost_fail(FROST_ERR_ARG, "frost_loader_create: aug.mean is not finite");
        if (!isfinite(std) || std <= 0.0f)
            return frost_fail(FROST_ERR_ARG,
                              "frost_loader_create: aug.std must be positive, got %g", (double)std);
    }
    if (aug->crop_pad < 0 || aug->crop_pad > d->h || aug->crop_pad > d->w)
        return frost_fail(FROST_ERR_ARG,
                          "frost_loader_create: aug.crop_pad %d is outside [0, %d] for %dx%d "
                          "images",
                          aug->crop_pad, FROST_MIN(d->h, d->w), d->h, d->w);
    return FROST_OK;
}

frost_status frost_loader_create(const frost_dataset *d, int batch, bool shuffle,
                                 const frost_augment *aug, uint64_t seed, frost_loader **out)
{
    if (!out)
        return frost_fail(FROST_ERR_ARG, "frost_loader_create: out is NULL");
    *out = NULL;
    FROST_TRY(loader_check_args(d, batch, aug));
    frost_loader *l = calloc(1, sizeof *l);
    if (!l)
        return frost_fail(FROST_ERR_NOMEM, "frost_loader_create: cannot allocate the loader");
    l->order = malloc((size_t)d->n * sizeof *l->order);
    if (!l->order) {
        free(l);
        return frost_fail(FROST_ERR_NOMEM, "frost_loader_create: cannot allocate %d indices", d->n);
    }
    l->d = d;
    l->batch = batch;
    l->shuffle = shuffle;
    l->augment = aug != NULL;
    if (aug)
        l->aug = *aug;
    frost_rng_seed(&l->base, seed);
    frost_augment_make_luts(aug, l->luts);
    frost_loader_start_epoch(l, 0);
    *out = l;
    return FROST_OK;
}

void frost_loader_start_epoch(frost_loader *l, int epoch)
{
    if (!l)
        return;
    int n = l->d->n;
    for (int i = 0; i < n; i++)
        l->order[i] = i;
    if (l->shuffle) {
        /* Fisher-Yates from a fresh (seed, epoch) stream: epoch k's order does
         * not depend on whether epochs 0..k-1 were ever run. */
        frost_rng root = frost_rng_fork(&l->base, LOADER_STREAM_SHUFFLE);
        frost_rng rng = frost_rng_fork(&root, (uint64_t)(uint32_t)epoch);
        for (int i = n - 1; i > 0; i--) {
            int j = (int)frost_rng_below(&rng, (uint32_t)i + 1);
            int t = l->order[i];
            l->order[i] = l->order[j];
            l->order[j] = t;
        }
    }
    frost_rng aug_root = frost_rng_fork(&l->base, LOADER_STREAM_AUGMENT);
    l->epoch_aug = frost_rng_fork(&aug_root, (uint64_t)(uint32_t)epoch);
    l->pos = 0;
}

/* Fills one sample: its augmentation stream is a function of its position in
 * the epoch only, which is what makes the parallel fill deterministic. */
static void loader_fill_sample(const frost_loader *l, int position, float *image, uint8_t *label)
{
    const frost_dataset *d = l->d;
    int sample = l->order[position];
    size_t pixels = (size_t)d->h * (size_t)d->w * (size_t)d->c;
    frost_rng rng = frost_rng_fork(&l->epoch_aug, (uint64_t)position);
    frost_augment_choice choice = frost_augment_choose(&rng, l->augment ? &l->aug : NULL);
    frost_augment_image_luts(d->images + (size_t)sample * pixels, d->h, d->w, d->c,
                             (const float(*)[256])l->luts, 3, choice, image);
    *label = d->labels[sample];
}

int frost_loader_next_part(frost_loader *l, int part, int parts, float *images, uint8_t *labels,
                           int *first, int *count)
{
    *first = *count = 0;
    if (!l || !images || !labels || parts < 1 || part < 0 || part >= parts)
        return 0;
    int total = FROST_MIN(l->batch, l->d->n - l->pos);
    if (total <= 0)
        return 0;
    int begin = (int)((int64_t)total * part / parts),
        end = (int)((int64_t)total * (part + 1) / parts);
    size_t pixels = (size_t)l->d->h * (size_t)l->d->w * (size_t)l->d->c;
    bool parallel = (size_t)(end - begin) * pixels >= LOADER_PARALLEL_MIN_PIXELS && end - begin > 1;
#pragma omp parallel for schedule(static) if (parallel)
    for (int i = begin; i < end; i++)
        loader_fill_sample(l, l->pos + i, images + (size_t)(i - begin) * pixels,
                           labels + (i - begin));
    l->pos += total;
    *first = begin;
    *count = end - begin;
    return total;
}

int frost_loader_next(frost_loader *l, float *images, uint8_t *labels)
{
    int first, count;
    frost_loader_next_part(l, 0, 1, images, labels, &first, &count);
    return count;
}

int frost_loader_batches(const frost_loader *l)
{
    if (!l)
        return 0;
    /* Written without n + batch - 1, which could overflow for huge n. */
    return l->d->n / l->batch + (l->d->n % l->batch != 0);
}

void frost_loader_seek(frost_loader *l, int batches)
{
    if (!l || batches <= 0)
        return;
    /* the samples and their augmentation depend on the position only */
    l->pos = batches >= frost_loader_batches(l) ? l->d->n : batches * l->batch;
}

void frost_loader_free(frost_loader *l)
{
    if (!l)
        return;
    free(l->order);
    free(l);
}
