/* OpenSSL's side of the key benchmark (benches/dashauth/keys.rs): P-256 and Ed25519 key
 * generation and nonce signing through libcrypto's EVP API, in one process, so that
 * the figures are not process start-ups (as `openssl genpkey` in a loop would be).
 * `openssl speed` has no key generation for these curves in OpenSSL 3.0.
 *
 * Prints one line per figure: "<curve> <operation> <ns per op> <ops>". Signing is what
 * `dashauth_sign_nonce` does: the ASCII decimal timestamp, SHA-256 + ECDSA (DER) or
 * Ed25519. Built and run by the benchmark with `cc -O2 ... -lcrypto`. */
#include <openssl/evp.h>
#include <openssl/x509.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static double now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

static void fail(const char *what) {
    fprintf(stderr, "openssl_keys: %s failed\n", what);
    exit(1);
}

/* One context, set up once, for every key: the fastest way through EVP (a context per
 * key, as EVP_PKEY_Q_keygen makes, costs about as much again). */
static EVP_PKEY_CTX *keygen_ctx(int ed25519) {
    EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new_from_name(NULL, ed25519 ? "ED25519" : "EC", NULL);
    if (ctx == NULL || EVP_PKEY_keygen_init(ctx) != 1) fail("keygen init");
    if (!ed25519 && EVP_PKEY_CTX_set_group_name(ctx, "P-256") != 1) fail("P-256");
    return ctx;
}

static EVP_PKEY *generate(EVP_PKEY_CTX *ctx) {
    EVP_PKEY *key = NULL;
    if (EVP_PKEY_keygen(ctx, &key) != 1) fail("keygen");
    return key;
}

/* Key generation, then the PKCS#8 DER of the key (what our keygen also produces). */
static void keygen(const char *name, int ed25519, double budget_ns) {
    EVP_PKEY_CTX *ctx = keygen_ctx(ed25519);
    long n = 0;
    double start = now_ns(), elapsed;
    do {
        EVP_PKEY_free(generate(ctx));
        n++;
    } while ((elapsed = now_ns() - start) < budget_ns);
    printf("%s keygen %.1f %ld\n", name, elapsed / (double)n, n);

    n = 0;
    start = now_ns();
    do {
        EVP_PKEY *key = generate(ctx);
        PKCS8_PRIV_KEY_INFO *p8 = EVP_PKEY2PKCS8(key);
        unsigned char *der = NULL;
        if (p8 == NULL || i2d_PKCS8_PRIV_KEY_INFO(p8, &der) <= 0) fail("PKCS#8");
        OPENSSL_free(der);
        PKCS8_PRIV_KEY_INFO_free(p8);
        EVP_PKEY_free(key);
        n++;
    } while ((elapsed = now_ns() - start) < budget_ns);
    printf("%s keygen+pkcs8 %.1f %ld\n", name, elapsed / (double)n, n);
    EVP_PKEY_CTX_free(ctx);
}

static void sign(const char *name, int ed25519, double budget_ns) {
    EVP_PKEY_CTX *gen = keygen_ctx(ed25519);
    EVP_PKEY *key = generate(gen);
    EVP_PKEY_CTX_free(gen);
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    unsigned char sig[128];
    char message[32];
    long long ts = 1764540000000LL;
    long n = 0;
    double start = now_ns(), elapsed;
    do {
        size_t sig_len = sizeof sig;
        int len = snprintf(message, sizeof message, "%lld", ts + n);
        if (EVP_DigestSignInit(ctx, NULL, ed25519 ? NULL : EVP_sha256(), NULL, key) != 1 ||
            EVP_DigestSign(ctx, sig, &sig_len, (const unsigned char *)message, (size_t)len) != 1)
            fail("sign");
        EVP_MD_CTX_reset(ctx);
        n++;
    } while ((elapsed = now_ns() - start) < budget_ns);
    printf("%s sign %.1f %ld\n", name, elapsed / (double)n, n);
    EVP_MD_CTX_free(ctx);
    EVP_PKEY_free(key);
}

int main(int argc, char **argv) {
    double budget_ns = (argc > 1 ? atof(argv[1]) : 2.0) * 1e9;
    keygen("p256", 0, budget_ns);
    sign("p256", 0, budget_ns);
    keygen("ed25519", 1, budget_ns);
    sign("ed25519", 1, budget_ns);
    return 0;
}
