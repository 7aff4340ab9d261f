// What a Geometry Dash mod does with DashAuth, as a plain C++17 program:
//
//   1. create a client for the DashAuth server (and the GD server it checks against);
//   2. log in without freezing the game: start the login, poll it once per frame;
//   3. check the token the way a third-party server would (whoami);
//   4. generate a device key and register it with the token (the handshake);
//   5. authenticate a request with a signed single-use nonce (GET client/me);
//   6. trade a nonce for a day-long session token;
//   7. save the device to a file and restore it, as a mod does across game restarts.
//
// It uses dashauth.hpp, the header-only C++17 wrapper; each step names the C calls
// underneath, for mods that use dashauth.h directly. The wrapper adds RAII (every handle
// is freed with its dashauth_*_free), std::string results (owned strings are released
// with dashauth_string_free, never free()) and dashauth::Result, which carries the
// status and the text of dashauth_last_error_message() read right after the call.
//
// Usage: dashauth-example [SERVER_URL [GD_DATABASE_URL [ACCOUNT_ID [GJP2]]]]
//   or the environment: DASHAUTH_SERVER_URL, DASHAUTH_GD_URL, DASHAUTH_ACCOUNT_ID,
//   DASHAUTH_GJP2. In a mod the account id and gjp2 come from GJAccountManager; here
//   they default to an account of the reference server's GD emulator, which creates an
//   account for the first (account id, gjp2) pair it sees.
// Exit status: 0 when every step succeeded, 1 when one failed, 2 on bad usage.

#include "dashauth.hpp"

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <iostream>
#include <string>
#include <system_error>
#include <thread>

namespace {

// Where the example reads a setting: the command line first, then the environment.
std::string setting(int argc, char **argv, int index, const char *env, const char *fallback) {
    if (argc > index) return argv[index];
    if (const char *value = std::getenv(env); value != nullptr && *value != '\0') return value;
    return fallback;
}

void step(int number, const char *what) { std::cout << "\n[" << number << "/7] " << what << "\n"; }

void detail(const std::string &line) { std::cout << "      " << line << "\n"; }

// Every failure is reported the same way: what we were doing, the status name and the
// library's message (what dashauth_last_error_message() said right after the call).
template <typename R>
bool failed(const R &result, const char *what) {
    if (result.ok()) return false;
    std::cerr << "\nFAILED: " << what << ": " << dashauth::status_name(result.status()) << ": "
              << result.message() << "\n";
    return true;
}

// Rounded to the nearest day, so a 30-day token reads "30 days", not "29 days".
std::string days_from_now(std::int64_t unix_ms) {
    const std::int64_t day_ms = 24 * 60 * 60 * 1000;
    return std::to_string((unix_ms - dashauth::now_ms() + day_ms / 2) / day_ms) + " days";
}

const char *platform_name() {
#if defined(_WIN32)
    return "windows";
#elif defined(__APPLE__)
    return "macos";
#elif defined(__ANDROID__)
    return "android";
#elif defined(__linux__)
    return "linux";
#else
    return "other";
#endif
}

} // namespace

int main(int argc, char **argv) {
    const std::string server_url = setting(argc, argv, 1, "DASHAUTH_SERVER_URL", "");
    const std::string gd_url = setting(argc, argv, 2, "DASHAUTH_GD_URL", "");
    const std::string account = setting(argc, argv, 3, "DASHAUTH_ACCOUNT_ID", "1234");
    const std::string gjp2 = setting(argc, argv, 4, "DASHAUTH_GJP2",
                                     "0123456789abcdef0123456789abcdef01234567");
    if (server_url.empty()) {
        std::cerr << "usage: " << argv[0] << " SERVER_URL [GD_DATABASE_URL [ACCOUNT_ID [GJP2]]]\n"
                  << "   or: DASHAUTH_SERVER_URL=... [DASHAUTH_GD_URL=...] " << argv[0] << "\n";
        return 2;
    }
    const auto account_id = static_cast<std::uint32_t>(std::strtoul(account.c_str(), nullptr, 10));

    std::cout << "DashAuth C++ example, libdashauth " << dashauth::version() << "\n";
    detail("server:  " + server_url);
    detail("GD:      " + (gd_url.empty() ? std::string("boomlings.com (the default)") : gd_url));
    detail("account: " + std::to_string(account_id));
    // A mod that ships the DLL beside itself checks once that it loaded the right one.
    if (!dashauth::library_matches_header()) {
        std::cerr << "FAILED: header " DASHAUTH_VERSION_STRING " does not match the library\n";
        return 1;
    }

    // ---------------------------------------------------------------------------------
    step(1, "Creating the client");
    // C: dashauth_client_new(url, &client); dashauth_client_set_gd_url(client, gd_url);
    //    dashauth_client_set_login_deadline_ms(client, 30000); ... dashauth_client_free(client)
    // A client is immutable once configured: create it once, share it between threads.
    auto client = dashauth::Client::create(server_url);
    if (failed(client, "dashauth_client_new")) return 1;
    if (!gd_url.empty() && failed(client->set_gd_url(gd_url), "dashauth_client_set_gd_url")) {
        return 1;
    }
    if (failed(client->set_login_deadline_ms(30000), "dashauth_client_set_login_deadline_ms")) {
        return 1;
    }
    detail("ok");

    // ---------------------------------------------------------------------------------
    step(2, "Logging in: the library sends a GD message to the server's bot, on its own thread");
    // C: dashauth_login_start(client, account_id, gjp2, &login) returns at once; then,
    //    every frame, dashauth_login_poll(login, &stage, &token) never blocks:
    //      DASHAUTH_STATUS_PENDING -> show `stage`;
    //      DASHAUTH_STATUS_OK      -> use `token`, dashauth_string_free(token);
    //      anything else           -> show dashauth_last_error_message().
    //    dashauth_login_free(login) at the end (it cancels a login still running).
    // The gjp2 goes to GD only, never to the DashAuth server.
    auto login = client->login(account_id, gjp2);
    if (failed(login, "dashauth_login_start")) return 1;

    // One frame of the game: poll once, show the stage when it changes. The loop below
    // stands in for the game's frames (~60 fps); in a mod, frame() is the body of a
    // scheduled update(float dt). We time each poll to show it never holds up a frame.
    using Clock = std::chrono::steady_clock;
    const auto started = Clock::now();
    int frames = 0;
    Clock::duration slowest_poll{};
    dashauth::Stage shown = DASHAUTH_LOGIN_STAGE_FAILED;
    auto frame = [&]() {
        const auto before = Clock::now();
        dashauth::LoginUpdate update = login->poll();
        slowest_poll = std::max(slowest_poll, Clock::now() - before);
        ++frames;
        if (update.pending() && update.stage != shown) {
            shown = update.stage;
            detail(std::string("... ") + dashauth::stage_name(shown));
        }
        return update;
    };
    dashauth::LoginUpdate update = frame();
    while (update.pending()) {
        std::this_thread::sleep_for(std::chrono::milliseconds(16));
        update = frame();
    }
    if (update.failed()) {
        std::cerr << "\nFAILED: login: " << dashauth::status_name(update.status) << ": "
                  << update.message << "\n";
        return 1;
    }
    using std::chrono::duration_cast;
    using std::chrono::microseconds;
    using std::chrono::milliseconds;
    const std::string token = update.token;
    detail("logged in after " +
           std::to_string(duration_cast<milliseconds>(Clock::now() - started).count()) +
           " ms over " + std::to_string(frames) + " frame(s); the slowest poll took " +
           std::to_string(duration_cast<microseconds>(slowest_poll).count()) + " us");
    detail("token: " + token);
    // A mod sends it to its own server as "Authorization: Bearer <token>".

    // ---------------------------------------------------------------------------------
    step(3, "Checking the token as a third-party server would (GET whoami)");
    // C: dashauth_client_whoami(client, token, &account_id, &expires_at). Blocking, like
    //    every call below: a mod runs these off the main thread.
    auto who = client->whoami(token);
    if (failed(who, "dashauth_client_whoami")) return 1;
    detail("account " + std::to_string(who->account_id) + ", token expires in " +
           days_from_now(who->expires_at));
    if (who->account_id != account_id) {
        std::cerr << "\nFAILED: whoami names account " << who->account_id << "\n";
        return 1;
    }

    // ---------------------------------------------------------------------------------
    step(4, "Enrolling this device: a P-256 key, proven by a fresh GD message");
    // C: dashauth_device_key_generate_type(DASHAUTH_KEY_TYPE_P256, &key);
    //    dashauth_request_challenge(client, account_id, &challenge);
    //    dashauth_send_gd_message(client, challenge, account_id, gjp2);
    //    dashauth_device_enroll(client, challenge, key, "name", "platform", &device)
    //      (PENDING until the server's bot has seen the message: call again);
    //    dashauth_device_id(device) (borrowed, lives as long as the device);
    //    dashauth_device_key_free(key); dashauth_challenge_free(challenge);
    //    dashauth_device_free(device).
    // Enrolment needs its own GD message, never a token: a token is what you hand to your
    // mod's server, and whoever holds it must not be able to add a device. The private
    // key is generated here and never leaves the device; it signs a proof of possession
    // and the server certifies its public half.
    auto key = dashauth::DeviceKey::generate(DASHAUTH_KEY_TYPE_P256);
    if (failed(key, "dashauth_device_key_generate_type")) return 1;
    auto challenge = client->request_challenge(account_id);
    if (failed(challenge, "dashauth_request_challenge")) return 1;
    auto sent = client->send_gd_message(challenge.value(), account_id, gjp2);
    if (failed(sent, "dashauth_send_gd_message")) return 1;
    auto device = dashauth::Device::enroll(client.value(), challenge.value(), key.value(),
                                           "DashAuth C++ example", platform_name());
    for (int polls = 0; polls < 10 && device.status() == DASHAUTH_STATUS_PENDING; ++polls) {
        device = dashauth::Device::enroll(client.value(), challenge.value(), key.value(),
                                          "DashAuth C++ example", platform_name());
    }
    if (failed(device, "dashauth_device_enroll")) return 1;
    detail("device id: " + device->id());
    detail("certificate expires in " + days_from_now(device->expires_at()));
    auto needs_rotation = device->needs_rotation();
    if (failed(needs_rotation, "dashauth_device_needs_rotation")) return 1;
    // When this says yes, dashauth_device_rotate(client, device) gets a new key and
    // certificate; save the device again afterwards.
    detail(std::string("needs rotation: ") + (needs_rotation.value() ? "yes" : "no"));

    // ---------------------------------------------------------------------------------
    step(5, "Calling GET client/me with a signed single-use nonce");
    // C: dashauth_device_nonce_header(device, &header) gives the Authorization value for
    //    your own requests: "Nonce <device_id> <timestamp_ms> <signature>", usable once,
    //    within 30 s. dashauth_device_me(client, device, &account_id) makes a fresh one.
    auto nonce = device->nonce_header();
    if (failed(nonce, "dashauth_device_nonce_header")) return 1;
    detail("Authorization: " + nonce->substr(0, 72) + "...");
    auto me = device->me(client.value());
    if (failed(me, "dashauth_device_me")) return 1;
    detail("client/me says account " + std::to_string(me.value()));

    // ---------------------------------------------------------------------------------
    step(6, "Trading a nonce for a session token and an access token for the mod's backend");
    // C: dashauth_device_session(client, device, &session_token, &expires_at);
    //    dashauth_string_free(session_token).
    auto session = device->session(client.value());
    if (failed(session, "dashauth_device_session")) return 1;
    detail("session token: " + session->token);
    detail("valid for " + std::to_string((session->expires_at - dashauth::now_ms()) / 60000) +
           " minutes");
    auto session_who = client->whoami(session->token);
    if (failed(session_who, "dashauth_client_whoami (session token)")) return 1;
    detail("whoami with the session token: account " + std::to_string(session_who->account_id));
    // What a mod hands its own backend: an access token for the mod's audience (a JWT the
    // backend verifies offline against {server}/.well-known/jwks.json), never a login or
    // session token.
    // C: dashauth_device_access_token(client, device, "my.mod.id", &jwt, &expires_at);
    //    dashauth_string_free(jwt).
    auto access = device->access_token(client.value(), "dashauth.cpp-example");
    if (failed(access, "dashauth_device_access_token")) return 1;
    detail("access token for dashauth.cpp-example: " + access->token.substr(0, 40) + "...");

    // ---------------------------------------------------------------------------------
    step(7, "Saving the device and restoring it, as after a game restart");
    // C: dashauth_device_to_json(device, &json) -> write the file (it holds the private
    //    key: keep it in the mod's save directory); dashauth_device_from_json(json, &device).
    std::error_code io_error;
    const auto dir = std::filesystem::temp_directory_path(io_error) /
                     ("dashauth-example-" + std::to_string(dashauth::now_ms()));
    std::filesystem::create_directories(dir, io_error);
    if (io_error) {
        std::cerr << "\nFAILED: creating " << dir.string() << ": " << io_error.message() << "\n";
        return 1;
    }
    const std::string path = (dir / "device.json").string();
    if (failed(device->save(path), "dashauth_device_to_json + write")) return 1;
    detail("saved to " + path);
    auto restored = dashauth::Device::restore(path);
    std::filesystem::remove_all(dir, io_error);
    if (failed(restored, "read + dashauth_device_from_json")) return 1;
    detail("restored device " + restored->id());
    // The restored device signs with the saved key: the server accepts it as the same one.
    auto restored_me = restored->me(client.value());
    if (failed(restored_me, "dashauth_device_me (restored device)")) return 1;
    detail("client/me with the restored key says account " + std::to_string(restored_me.value()));
    if (restored->id() != device->id() || restored_me.value() != account_id) {
        std::cerr << "\nFAILED: the restored device is not the registered one\n";
        return 1;
    }

    std::cout << "\nAll 7 steps succeeded.\n";
    return 0;
}
