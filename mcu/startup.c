/*
 * Minimal Cortex-M startup for the MPS2 boards (mps2.ld): the vector table at address 0,
 * a reset handler that enables the FPU (M4F / M7 built with a hard-float ABI), copies .data
 * from flash, zeroes .bss, paints the stack so the driver can measure its peak, and runs
 * main; faults end the program through semihosting with a status of their own, so a crash
 * is a failed run and not a hang.
 */
#include <stdint.h>

#include "semihost.h"
#include "startup.h"

#define STACK_PAINT  0xa5a5a5a5u
#define FAULT_STATUS 99
/* Coprocessor Access Control Register: CP10 and CP11 (the FPU) full access */
#define SCB_CPACR (*(volatile uint32_t *)0xe000ed88u)

extern uint32_t _sidata[], _sdata[], _edata[], _sbss[], _ebss[], _estack[];
extern char _stack_paint_bytes[]; /* a linker symbol: its address is the size */

int main(void);
void reset_handler(void);

static void fault_handler(void) { semihost_exit(FAULT_STATUS); }

typedef void (*vector)(void);
/* The ARMv7-M exception vectors; no interrupt is enabled, so the table stops at SysTick. */
__attribute__((section(".vectors"), used)) static const vector vectors[16] = {
    (vector)(uintptr_t)_estack, /* initial stack pointer */
    reset_handler,
    fault_handler, /* NMI */
    fault_handler, /* HardFault */
    fault_handler, /* MemManage */
    fault_handler, /* BusFault */
    fault_handler, /* UsageFault */
    0,
    0,
    0,
    0,             /* reserved */
    fault_handler, /* SVCall */
    fault_handler, /* DebugMonitor */
    0,             /* reserved */
    fault_handler, /* PendSV */
    fault_handler, /* SysTick */
};

static uint32_t *stack_bottom(void)
{
    return (uint32_t *)((uintptr_t)_estack - (uintptr_t)_stack_paint_bytes);
}

/* Fills the painted region below the reset handler's own frame. */
static void paint_stack(void)
{
    uint32_t *sp;
    __asm__ volatile("mov %0, sp" : "=r"(sp));
    for (volatile uint32_t *p = stack_bottom(); p < sp - 16; p++)
        *p = STACK_PAINT;
}

size_t mcu_stack_painted_bytes(void) { return (size_t)(uintptr_t)_stack_paint_bytes; }

size_t mcu_stack_peak_bytes(void)
{
    const uint32_t *p = stack_bottom();
    while (p < _estack && *p == STACK_PAINT)
        p++;
    return (size_t)((uintptr_t)_estack - (uintptr_t)p);
}

void reset_handler(void)
{
#if defined(__ARM_FP)
    /* before anything else: hard-float code may touch the FPU registers anywhere */
    SCB_CPACR |= 0xfu << 20;
    __asm__ volatile("dsb\n\tisb" ::: "memory");
#endif
    /* volatile: keeps GCC from turning these loops into memcpy / memset calls */
    for (volatile uint32_t *src = _sidata, *dst = _sdata; dst < _edata;)
        *dst++ = *src++;
    for (volatile uint32_t *dst = _sbss; dst < _ebss;)
        *dst++ = 0;
    paint_stack();
    semihost_exit(main());
}
