/*
 * frost: small, fast, quantization-friendly mobile CNNs in C.
 *
 * Umbrella header: version, status codes and error reporting. Every library
 * function that can fail returns a frost_status; the human-readable reason
 * (naming the file, field or argument at fault) is kept per thread and read
 * with frost_last_error(). The library never calls exit() or prints errors
 * itself: the caller decides.
 *
 * More generally the library never prints and never ends the process: nothing in
 * libfrost.a writes to stdout or stderr or calls exit, abort or assert. Reports come
 * back as text or data for the caller to show (frost_model_info_text,
 * frost_int8_memory_text, frost_profile_get), progress through caller-supplied
 * callbacks (frost_train's progress, frost_nas_search_config.progress); the only
 * files it writes are the ones it is asked to (checkpoints, logs, search results).
 * The check_silent_lib test enforces this on the built library with nm.
 */
#ifndef FROST_FROST_H
#define FROST_FROST_H

#include <stddef.h>
#include <stdint.h>

#include "frost/version.h"

#include "frost/cell.h"
#include "frost/comm.h"
#include "frost/compress.h"
#include "frost/cpu.h"
#include "frost/data.h"
#include "frost/huffman.h"
#include "frost/infer.h"
#include "frost/int8.h"
#include "frost/io.h"
#include "frost/model.h"
#include "frost/nas.h"
#include "frost/optim.h"
#include "frost/qat.h"
#include "frost/quant.h"
#include "frost/status.h"
#include "frost/tensor.h"
#include "frost/train.h"

#endif
