/* Boundary harness for include/dashauth.h (issue 12): calls every export with NULL,
 * invalid UTF-8, empty and 1 MiB strings, runs the whole flow against a real server,
 * and exercises the double-use patterns the header documents as allowed (free(NULL),
 * cancel twice, poll after the end, collect twice, revoke twice). Run by
 * .ci/sanitizers.sh under valgrind and built with -fsanitize=address,undefined;
 * tests/c/check_coverage.sh checks that every function the header declares is called.
 *
 * Usage: harness BASE_URL   (a dashauth-server with its embedded GD emulator) */
#include "dashauth.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static int failures = 0;

#define CHECK(cond)                                                          \
  do {                                                                       \
    if (!(cond)) {                                                           \
      fprintf(stderr, "harness.c:%d: check failed: %s (last error: %s)\n",   \
              __LINE__, #cond, dashauth_last_error_message());               \
      failures++;                                                            \
    }                                                                        \
  } while (0)

#define BAD(expr) CHECK((expr) < 0)

static void sleep_ms(long ms) {
  struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
  nanosleep(&ts, NULL);
}

/* The hostile strings: NULL, invalid UTF-8, empty, 1 MiB. */
enum { N_BAD = 4 };
static const char *bad[N_BAD];

static void make_bad_strings(void) {
  static const char invalid_utf8[] = "\xff\xfe\xc3\x28 not utf-8";
  size_t mib = 1u << 20;
  char *big = malloc(mib + 1);
  if (!big) exit(2);
  memset(big, 'a', mib);
  big[mib] = '\0';
  bad[0] = NULL;
  bad[1] = invalid_utf8;
  bad[2] = "";
  bad[3] = big;
}

static void status_and_library_calls(void) {
  CHECK(dashauth_version() != NULL && strlen(dashauth_version()) > 0);
  CHECK(dashauth_now_ms() > 1600000000000LL);
  for (int s = -120; s <= 20; s++) CHECK(dashauth_status_str((dashauth_status)s) != NULL);
  CHECK(dashauth_last_error_message() != NULL);
  dashauth_string_free(NULL);
}

static void hostile_strings_without_server(void) {
  for (int i = 0; i < N_BAD; i++) {
    dashauth_client *client = (dashauth_client *)0x1;
    BAD(dashauth_client_new(bad[i], &client));
    CHECK(client == NULL || client == (dashauth_client *)0x1);
    dashauth_device *device = NULL;
    BAD(dashauth_device_from_json(bad[i], &device));
    CHECK(device == NULL);
    dashauth_device_key *key = NULL;
    BAD(dashauth_device_key_from_pem(bad[i], &key));
    CHECK(key == NULL);
    CHECK(dashauth_last_error_message() != NULL);
  }
  /* NULL out-parameters and handles. */
  BAD(dashauth_client_new("http://127.0.0.1:9", NULL));
  BAD(dashauth_device_key_generate(NULL));
  BAD(dashauth_device_key_to_pem(NULL, NULL));
  BAD(dashauth_device_key_public_pem(NULL, NULL));
  BAD(dashauth_sign_nonce(NULL, 0, NULL));
  BAD(dashauth_nonce_header(NULL, NULL, NULL));
  BAD(dashauth_request_challenge(NULL, 1, NULL));
  BAD(dashauth_send_gd_message(NULL, NULL, 1, NULL));
  BAD(dashauth_poll_completion(NULL, NULL, NULL));
  BAD(dashauth_client_set_gd_url(NULL, NULL));
  BAD(dashauth_client_set_timeout_ms(NULL, 1000));
  BAD(dashauth_client_set_login_deadline_ms(NULL, 1000));
  BAD(dashauth_client_whoami(NULL, NULL, NULL, NULL));
  BAD(dashauth_client_revoke_token(NULL, NULL));
  BAD(dashauth_device_enroll(NULL, NULL, NULL, NULL, NULL, NULL));
  BAD(dashauth_client_exchange_token(NULL, NULL, NULL, NULL, NULL));
  BAD(dashauth_device_access_token(NULL, NULL, NULL, NULL, NULL));
  BAD(dashauth_device_key_generate_type(DASHAUTH_KEY_TYPE_P256, NULL));
  BAD(dashauth_device_key_type(NULL, NULL));
  {
    /* A key type that is not one of the enum's values is refused, not undefined. */
    dashauth_device_key *odd = NULL;
    BAD(dashauth_device_key_generate_type(99, &odd));
    BAD(dashauth_device_key_generate_type(-1, &odd));
    CHECK(odd == NULL);
  }
  BAD(dashauth_device_needs_rotation(NULL, NULL));
  BAD(dashauth_device_rotate(NULL, NULL));
  BAD(dashauth_device_session(NULL, NULL, NULL, NULL));
  BAD(dashauth_device_me(NULL, NULL, NULL));
  BAD(dashauth_device_nonce_header(NULL, NULL));
  BAD(dashauth_device_to_json(NULL, NULL));
  BAD(dashauth_device_revoke(NULL, NULL, NULL));
  BAD(dashauth_login_start(NULL, 1, NULL, NULL));
  BAD(dashauth_login_poll(NULL, NULL, NULL));
  BAD(dashauth_auth_start(NULL, 1, NULL, NULL, NULL));
  BAD(dashauth_login_eta_ms(NULL, NULL));
  BAD(dashauth_client_set_credential_store(NULL, NULL));
  BAD(dashauth_client_clock_offset_ms(NULL, NULL));
  CHECK(dashauth_challenge_bot_account_id(NULL) == 0);
  CHECK(strcmp(dashauth_challenge_text(NULL), "") == 0); /* documented: "" for NULL */
  CHECK(strcmp(dashauth_challenge_id(NULL), "") == 0); /* documented: "" for NULL */
  CHECK(strcmp(dashauth_device_id(NULL), "") == 0); /* documented: "" for NULL */
  CHECK(strcmp(dashauth_device_certificate_pem(NULL), "") == 0); /* documented: "" for NULL */
  CHECK(strcmp(dashauth_device_ca_certificate_pem(NULL), "") == 0); /* documented: "" for NULL */
  CHECK(dashauth_device_expires_at(NULL) == 0);
  /* Documented as fine: NULL to every free and to cancel. */
  dashauth_challenge_free(NULL);
  dashauth_client_free(NULL);
  dashauth_device_free(NULL);
  dashauth_device_key_free(NULL);
  dashauth_login_cancel(NULL);
  dashauth_login_free(NULL);
}

static void hostile_strings_with_client(dashauth_client *client, dashauth_device_key *key,
                                        const char *token) {
  dashauth_challenge *challenge = NULL;
  CHECK(dashauth_request_challenge(client, 7005, &challenge) == DASHAUTH_STATUS_OK);
  for (int i = 0; i < N_BAD; i++) {
    BAD(dashauth_client_set_gd_url(client, bad[i]));
    uint32_t account = 0;
    int64_t expires = 0;
    BAD(dashauth_client_whoami(client, bad[i], &account, &expires));
    BAD(dashauth_client_revoke_token(client, bad[i]));
    dashauth_device *device = NULL;
    BAD(dashauth_device_enroll(client, challenge, key, bad[i], "linux", &device));
    BAD(dashauth_device_enroll(client, challenge, key, "harness", bad[i], &device));
    CHECK(device == NULL);
    char *access = NULL;
    int64_t access_expires = 0;
    BAD(dashauth_client_exchange_token(client, bad[i], "me.harness", &access, &access_expires));
    BAD(dashauth_client_exchange_token(client, token, bad[i], &access, &access_expires));
    CHECK(access == NULL);
    BAD(dashauth_device_revoke(client, bad[i], "00000000-0000-4000-8000-000000000000"));
    BAD(dashauth_device_revoke(client, token, bad[i]));
    char *header = NULL;
    BAD(dashauth_nonce_header(key, bad[i], &header));
    CHECK(header == NULL);
    dashauth_login *login = NULL;
    BAD(dashauth_login_start(client, 7001, bad[i], &login));
    BAD(dashauth_auth_start(client, 7001, bad[i], "me.harness", &login));
    BAD(dashauth_auth_start(client, 7001, "gjp2", bad[i], &login));
    CHECK(login == NULL);
    BAD(dashauth_client_set_credential_store(client, bad[i]));
  }
  BAD(dashauth_client_set_timeout_ms(client, 0));
  BAD(dashauth_login_start(client, 0, "gjp2", NULL));
  dashauth_challenge_free(challenge);
}

/* The challenge flow by hand; returns a login token (free with dashauth_string_free). */
static char *challenge_flow(dashauth_client *client, uint32_t account, const char *gjp2) {
  dashauth_challenge *challenge = NULL;
  CHECK(dashauth_request_challenge(client, account, &challenge) == DASHAUTH_STATUS_OK);
  if (!challenge) return NULL;
  CHECK(dashauth_challenge_bot_account_id(challenge) > 0);
  CHECK(strlen(dashauth_challenge_text(challenge)) > 0);
  CHECK(strlen(dashauth_challenge_id(challenge)) == 36);
  for (int i = 0; i < N_BAD; i++) BAD(dashauth_send_gd_message(client, challenge, account, bad[i]));
  CHECK(dashauth_send_gd_message(client, challenge, account, gjp2) == DASHAUTH_STATUS_OK);
  char *token = NULL;
  dashauth_status s = DASHAUTH_STATUS_PENDING;
  for (int tries = 0; tries < 60 && s == DASHAUTH_STATUS_PENDING; tries++) {
    s = dashauth_poll_completion(client, challenge, &token);
  }
  CHECK(s == DASHAUTH_STATUS_OK && token != NULL);
  /* Collecting twice is documented: the second time the challenge is used up. */
  char *again = NULL;
  CHECK(dashauth_poll_completion(client, challenge, &again) == DASHAUTH_STATUS_NOT_FOUND);
  CHECK(again == NULL);
  dashauth_challenge_free(challenge);
  return token;
}

/* Enrolment by GD proof: a challenge, the GD message, then the handshake, which
 * answers PENDING until the bot has seen the message. */
static dashauth_device *enroll(dashauth_client *client, uint32_t account, const char *gjp2,
                               dashauth_device_key *key) {
  dashauth_challenge *challenge = NULL;
  CHECK(dashauth_request_challenge(client, account, &challenge) == DASHAUTH_STATUS_OK);
  if (!challenge) return NULL;
  CHECK(dashauth_send_gd_message(client, challenge, account, gjp2) == DASHAUTH_STATUS_OK);
  dashauth_device *device = NULL;
  dashauth_status s = DASHAUTH_STATUS_PENDING;
  for (int tries = 0; tries < 60 && s == DASHAUTH_STATUS_PENDING; tries++) {
    s = dashauth_device_enroll(client, challenge, key, "harness", "linux", &device);
  }
  CHECK(s == DASHAUTH_STATUS_OK && device != NULL);
  /* The challenge is used up: enrolling with it again is refused. */
  dashauth_device *again = NULL;
  BAD(dashauth_device_enroll(client, challenge, key, "harness", "linux", &again));
  CHECK(again == NULL);
  dashauth_challenge_free(challenge);
  return device;
}

static void device_flow(dashauth_client *client, const char *token, dashauth_device_key *key) {
  dashauth_device *device = enroll(client, 7000, "harness-gjp2-7000", key);
  if (!device) return;
  char *access = NULL;
  int64_t access_expires = 0;
  CHECK(dashauth_device_access_token(client, device, "me.harness", &access, &access_expires) ==
        DASHAUTH_STATUS_OK);
  CHECK(access != NULL && access_expires > dashauth_now_ms());
  dashauth_string_free(access);
  access = NULL;
  CHECK(dashauth_client_exchange_token(client, token, "me.harness", &access, &access_expires) ==
        DASHAUTH_STATUS_OK);
  dashauth_string_free(access);
  CHECK(strlen(dashauth_device_id(device)) == 36);
  CHECK(strstr(dashauth_device_certificate_pem(device), "CERTIFICATE") != NULL);
  CHECK(strstr(dashauth_device_ca_certificate_pem(device), "CERTIFICATE") != NULL);
  CHECK(dashauth_device_expires_at(device) > dashauth_now_ms());
  bool needs = true;
  CHECK(dashauth_device_needs_rotation(device, &needs) == DASHAUTH_STATUS_OK);
  char *header = NULL;
  CHECK(dashauth_device_nonce_header(device, &header) == DASHAUTH_STATUS_OK);
  dashauth_string_free(header);
  char *session = NULL;
  int64_t expires = 0;
  CHECK(dashauth_device_session(client, device, &session, &expires) == DASHAUTH_STATUS_OK);
  dashauth_string_free(session);
  uint32_t account = 0;
  CHECK(dashauth_device_me(client, device, &account) == DASHAUTH_STATUS_OK);
  CHECK(dashauth_device_rotate(client, device) == DASHAUTH_STATUS_OK);
  CHECK(dashauth_device_me(client, device, &account) == DASHAUTH_STATUS_OK);
  char *json = NULL;
  CHECK(dashauth_device_to_json(device, &json) == DASHAUTH_STATUS_OK);
  dashauth_device *loaded = NULL;
  CHECK(dashauth_device_from_json(json, &loaded) == DASHAUTH_STATUS_OK);
  if (json) {
    /* A save file cut short is refused (a copy: returned strings are read-only). */
    char *cut_json = strdup(json);
    if (cut_json) {
      cut_json[strlen(cut_json) / 2] = '\0';
      dashauth_device *cut = NULL;
      BAD(dashauth_device_from_json(cut_json, &cut));
      CHECK(cut == NULL);
      free(cut_json);
    }
  }
  dashauth_string_free(json);
  CHECK(dashauth_device_revoke(client, token, dashauth_device_id(device)) == DASHAUTH_STATUS_OK);
  /* Revoked: the saved copy no longer works. */
  BAD(dashauth_device_me(client, loaded, &account));
  dashauth_device_free(loaded);
  dashauth_device_free(device);
}

static void key_calls(dashauth_device_key *key) {
  dashauth_key_type type = DASHAUTH_KEY_TYPE_ED25519;
  CHECK(dashauth_device_key_type(key, &type) == DASHAUTH_STATUS_OK && type == DASHAUTH_KEY_TYPE_RSA);
  const int32_t kinds[] = {DASHAUTH_KEY_TYPE_P256, DASHAUTH_KEY_TYPE_ED25519};
  for (int k = 0; k < 2; k++) {
    dashauth_device_key *other = NULL;
    CHECK(dashauth_device_key_generate_type(kinds[k], &other) == DASHAUTH_STATUS_OK);
    CHECK(dashauth_device_key_type(other, &type) == DASHAUTH_STATUS_OK && (int32_t)type == kinds[k]);
    char *signature = NULL;
    CHECK(dashauth_sign_nonce(other, dashauth_now_ms(), &signature) == DASHAUTH_STATUS_OK);
    dashauth_string_free(signature);
    dashauth_device_key_free(other);
  }
  char *pem = NULL, *public_pem = NULL, *signature = NULL, *header = NULL;
  CHECK(dashauth_device_key_to_pem(key, &pem) == DASHAUTH_STATUS_OK);
  CHECK(dashauth_device_key_public_pem(key, &public_pem) == DASHAUTH_STATUS_OK);
  CHECK(dashauth_sign_nonce(key, dashauth_now_ms(), &signature) == DASHAUTH_STATUS_OK);
  CHECK(dashauth_nonce_header(key, "0b5f4c5e-7a55-4a8e-9d7b-3c2a1f0e9d8c", &header) ==
        DASHAUTH_STATUS_OK);
  dashauth_device_key *again = NULL;
  CHECK(dashauth_device_key_from_pem(pem, &again) == DASHAUTH_STATUS_OK);
  dashauth_device_key *from_public = NULL;
  BAD(dashauth_device_key_from_pem(public_pem, &from_public)); /* not a private key */
  CHECK(from_public == NULL);
  dashauth_device_key_free(again);
  dashauth_string_free(pem);
  dashauth_string_free(public_pem);
  dashauth_string_free(signature);
  dashauth_string_free(header);
}

/* The one-call sign-in twice: through GD and a new device, then with the stored one. */
static void auth_flow(dashauth_client *client) {
  const char *tmp = getenv("TMPDIR");
  char store[512], lock[530];
  snprintf(store, sizeof store, "%s/dashauth-harness-%ld.json", tmp && *tmp ? tmp : "/tmp",
           (long)time(NULL));
  snprintf(lock, sizeof lock, "%s.lock", store);
  CHECK(dashauth_client_set_credential_store(client, store) == DASHAUTH_STATUS_OK);
  for (int round = 0; round < 2; round++) {
    dashauth_login *login = NULL;
    CHECK(dashauth_auth_start(client, 7006, "harness-gjp2-7006", "me.harness", &login) ==
          DASHAUTH_STATUS_OK);
    dashauth_login_stage stage = DASHAUTH_LOGIN_STAGE_FAILED;
    char *token = NULL;
    dashauth_status s = DASHAUTH_STATUS_PENDING;
    int64_t eta = 0;
    for (int i = 0; i < 3000 && s == DASHAUTH_STATUS_PENDING; i++) {
      CHECK(dashauth_login_eta_ms(login, &eta) == DASHAUTH_STATUS_OK);
      s = dashauth_login_poll(login, &stage, &token);
      if (s == DASHAUTH_STATUS_PENDING) sleep_ms(10);
    }
    CHECK(s == DASHAUTH_STATUS_OK && token != NULL && strchr(token, '.') != NULL);
    CHECK(dashauth_login_eta_ms(login, &eta) == DASHAUTH_STATUS_OK && eta == -1);
    BAD(dashauth_login_eta_ms(login, NULL));
    dashauth_string_free(token);
    dashauth_login_free(login);
  }
  remove(store);
  remove(lock);
  int64_t offset = 1;
  CHECK(dashauth_client_clock_offset_ms(client, &offset) == DASHAUTH_STATUS_OK);
  CHECK(offset == 0); /* the harness and the server share one clock */
  BAD(dashauth_client_clock_offset_ms(client, NULL));
}

static void login_flow(dashauth_client *client) {
  dashauth_login *login = NULL;
  CHECK(dashauth_login_start(client, 7002, "harness-gjp2-7002", &login) == DASHAUTH_STATUS_OK);
  dashauth_login_stage stage = DASHAUTH_LOGIN_STAGE_FAILED;
  char *token = NULL;
  dashauth_status s = DASHAUTH_STATUS_PENDING;
  for (int i = 0; i < 3000 && s == DASHAUTH_STATUS_PENDING; i++) {
    s = dashauth_login_poll(login, &stage, &token);
    if (s == DASHAUTH_STATUS_PENDING) sleep_ms(10);
  }
  CHECK(s == DASHAUTH_STATUS_OK && token != NULL && stage == DASHAUTH_LOGIN_STAGE_DONE);
  uint32_t account = 0;
  int64_t expires = 0;
  CHECK(dashauth_client_whoami(client, token, &account, &expires) == DASHAUTH_STATUS_OK);
  CHECK(account == 7002);
  /* Polling a finished login again, and cancelling it, are documented as fine. */
  char *again = NULL;
  CHECK(dashauth_login_poll(login, &stage, &again) == DASHAUTH_STATUS_OK);
  dashauth_string_free(again);
  dashauth_login_cancel(login);
  dashauth_login_cancel(login);
  dashauth_login_free(login);
  /* Revoking twice: the second is refused, nothing breaks. */
  CHECK(dashauth_client_revoke_token(client, token) == DASHAUTH_STATUS_OK);
  BAD(dashauth_client_revoke_token(client, token));
  dashauth_string_free(token);
  token = NULL;

  /* A login cancelled while it runs, then freed, and one freed while running. */
  CHECK(dashauth_login_start(client, 7003, "harness-gjp2-7003", &login) == DASHAUTH_STATUS_OK);
  dashauth_login_cancel(login);
  CHECK(dashauth_login_poll(login, &stage, &token) == DASHAUTH_STATUS_CANCELLED);
  CHECK(dashauth_login_poll(login, &stage, &token) == DASHAUTH_STATUS_CANCELLED);
  CHECK(token == NULL && stage == DASHAUTH_LOGIN_STAGE_FAILED);
  /* NULL out-parameters are refused, not written through. */
  CHECK(dashauth_login_poll(login, &stage, NULL) == DASHAUTH_STATUS_NULL_ARGUMENT);
  CHECK(dashauth_login_poll(login, NULL, &token) == DASHAUTH_STATUS_NULL_ARGUMENT);
  dashauth_login_free(login);
  CHECK(dashauth_login_start(client, 7004, "harness-gjp2-7004", &login) == DASHAUTH_STATUS_OK);
  dashauth_login_free(login);
}

int main(int argc, char **argv) {
  if (argc != 2) {
    fprintf(stderr, "usage: %s BASE_URL\n", argv[0]);
    return 2;
  }
  make_bad_strings();
  status_and_library_calls();
  hostile_strings_without_server();

  char gd_url[512];
  snprintf(gd_url, sizeof gd_url, "%s/database", argv[1]);
  dashauth_client *client = NULL;
  CHECK(dashauth_client_new(argv[1], &client) == DASHAUTH_STATUS_OK);
  if (!client) return 1;
  CHECK(dashauth_client_set_gd_url(client, gd_url) == DASHAUTH_STATUS_OK);
  CHECK(dashauth_client_set_timeout_ms(client, 10000) == DASHAUTH_STATUS_OK);
  CHECK(dashauth_client_set_login_deadline_ms(client, 60000) == DASHAUTH_STATUS_OK);

  dashauth_device_key *key = NULL;
  CHECK(dashauth_device_key_generate(&key) == DASHAUTH_STATUS_OK);
  char *token = challenge_flow(client, 7000, "harness-gjp2-7000");
  hostile_strings_with_client(client, key, token ? token : "x");
  if (token) device_flow(client, token, key);
  key_calls(key);
  login_flow(client);
  auth_flow(client);

  dashauth_string_free(token);
  dashauth_device_key_free(key);
  dashauth_client_free(client);
  free((void *)bad[3]);
  if (failures) {
    fprintf(stderr, "%d check(s) failed\n", failures);
    return 1;
  }
  printf("harness: every export called, all checks passed\n");
  return 0;
}
