#ifndef STRATA_MEMORY_H
#define STRATA_MEMORY_H

/// Keeps freed blocks up to 64 MB (image and frame buffers of hundreds of KB) in the heap for reuse, instead
/// of mapping each new one from the kernel and unmapping it when freed: every fresh mapping page-faults its
/// memory in again, which cost a server answering frame requests a fifth of its throughput.
/// Call once at the start of a long-running process.
void strata_keep_freed_memory(void);

#endif
