/* CI-only stand-in for the Apple SDK's stdlib.h (see .ci/platforms.sh). ring's x86_64
 * assembly helpers include <immintrin.h>, whose mm_malloc.h includes <stdlib.h> for
 * malloc and free; ring itself allocates nothing. A real build uses the SDK's header. */
#ifndef STDLIB_STUB_H
#define STDLIB_STUB_H
#include <stddef.h>
void *malloc(size_t size);
void free(void *ptr);
#endif
