/* What the startup code (startup.c) offers the driver. */
#ifndef FROST_MCU_STARTUP_H
#define FROST_MCU_STARTUP_H

#include <stddef.h>

/* The peak stack use so far, in bytes (the painted region's high-water mark; the whole
 * painted size when the stack went past it). */
size_t mcu_stack_peak_bytes(void);
/* The size of the painted region (the largest value mcu_stack_peak_bytes can measure). */
size_t mcu_stack_painted_bytes(void);

#endif
