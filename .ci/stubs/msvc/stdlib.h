/* CI-only stand-in for the Windows SDK's stdlib.h (see .ci/platforms.sh). ring's C,
 * compiled by clang-cl without the SDK, includes <stdlib.h> only for _byteswap_ulong,
 * which clang-cl provides as a builtin. A real build uses the SDK's header. */
