#include "strata_memory.h"
#include <malloc.h>

void strata_keep_freed_memory(void) {
    // Fixed values also turn off glibc's own threshold adjustment.
    mallopt(M_MMAP_THRESHOLD, 64 << 20);
    mallopt(M_TRIM_THRESHOLD, 128 << 20);
}
