/*
 * model.h: the detection model that tools/langid-train generates
 * (model-data.c). Private to langid/.
 */
#ifndef LANGID_MODEL_H
#define LANGID_MODEL_H

#include <stdint.h>

/* Space-separated codes of the model's classes, in column order. */
extern const char *const langid_model_classes;
/* Number of hash buckets (a power of two). */
extern const uint32_t langid_model_nbuckets;
/* A bucket's int8 weight times this is a logit (calibrated). */
extern const float langid_model_scale;
/* nbuckets rows of one int8 weight per class. */
extern const int8_t langid_model_weights[];

/* Feature extraction constants; tools/langid-train uses the same. */
#define LANGID_MODEL_MAXWORD 64
#define LANGID_MODEL_MAXWORDFEAT 24
#define LANGID_MODEL_WORD_SEED 0x57u
#define LANGID_MODEL_MAXCLASSES 16

#endif
