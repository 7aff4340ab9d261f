/* TEST-ONLY stand-in for Windows' bcryptprimitives.dll, for running the MinGW build of
 * the C++ example under Wine. Never ship it with a mod.
 *
 * Rust's standard library (1.78 and later) gets its random numbers from ProcessPrng in
 * bcryptprimitives.dll, which every Windows 10 and 11 has. Debian 12's Wine 8 does not
 * provide that DLL, so std's HashMap seeding would fail to load the library at all.
 * This shim implements ProcessPrng on top of BCryptGenRandom with the system RNG, which
 * Wine does implement; .ci/platforms.sh builds it with MinGW and puts it next to the
 * example's executable, where the loader finds it first. */
#include <windows.h>
#include <bcrypt.h>

#ifndef BCRYPT_USE_SYSTEM_PREFERRED_RNG
#define BCRYPT_USE_SYSTEM_PREFERRED_RNG 0x00000002
#endif

/* Same contract as Windows: fills the buffer, always returns TRUE. BCryptGenRandom takes
 * a ULONG length, so large requests are filled in pieces. */
__declspec(dllexport) BOOL WINAPI ProcessPrng(PBYTE data, SIZE_T len) {
    while (len > 0) {
        ULONG chunk = len > 0x40000000 ? 0x40000000 : (ULONG)len;
        if (BCryptGenRandom(NULL, data, chunk, BCRYPT_USE_SYSTEM_PREFERRED_RNG) != 0)
            return FALSE;
        data += chunk;
        len -= chunk;
    }
    return TRUE;
}
