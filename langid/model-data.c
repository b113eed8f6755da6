/* Placeholder until tools/langid-train writes the real table. */
#include "model.h"

const char *const langid_model_classes = "en es de fr pt it id vi pl tr nl zh ja";
const uint32_t langid_model_nbuckets = 1;
const float langid_model_scale = 1.0f;
const int8_t langid_model_weights[13] = { 0 };
