// What a Geometry Dash mod does with DashAuth, as a plain C++17 program:
//
//   1. create a client for the DashAuth server and name the credential store file that
//      every DashAuth mod of the player shares;
//   2. sign in with one call, polled once per frame: the first time, the library sends a
//      GD message to the server's bot and enrols this device (a P-256 key it keeps);
//   3. sign in again: the stored device signs one request, no GD message, milliseconds;
//   4. another mod (another client, even another process) naming the same file signs in
//      the same way, without a GD message of its own;
//   5. hand the access token to the mod's backend, which verifies it offline.
//
// It uses dashauth.hpp, the header-only C++17 wrapper; each step names the C calls
// underneath, for mods that use dashauth.h directly. The wrapper adds RAII (every handle
// is freed with its dashauth_*_free), std::string results (owned strings are released
// with dashauth_string_free, never free()) and dashauth::Result, which carries the
// status and the text of dashauth_last_error_message() read right after the call.
// The building blocks underneath (challenges, device keys, nonces, sessions) are in the
// README, for tools and unusual mods.
//
// Usage: dashauth-example [SERVER_URL [GD_DATABASE_URL [ACCOUNT_ID [GJP2]]]]
//   or the environment: DASHAUTH_SERVER_URL, DASHAUTH_GD_URL, DASHAUTH_ACCOUNT_ID,
//   DASHAUTH_GJP2, and DASHAUTH_STORE (the credential store file; default a new file in
//   a temporary directory, so the first sign-in goes through GD). In a mod the account
//   id and gjp2 come from GJAccountManager; here they default to an account of the
//   reference server's GD emulator, which creates an account for the first (account id,
//   gjp2) pair it sees.
// Exit status: 0 when every step succeeded, 1 when one failed, 2 on bad usage.

#include "dashauth.hpp"

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <iostream>
#include <optional>
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

void step(int number, const char *what) { std::cout << "\n[" << number << "/5] " << what << "\n"; }

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

// A path from UTF-8 text (std::filesystem::u8path is deprecated from C++20 on).
std::filesystem::path path_from_utf8(const std::string &text) {
#if defined(__cpp_char8_t)
    return std::filesystem::path(std::u8string(text.begin(), text.end()));
#else
    return std::filesystem::u8path(text);
#endif
}

// The audience of the access tokens: the mod's id.
constexpr const char *kAudience = "dashauth.cpp-example";

// dashauth_client_new, dashauth_client_set_gd_url, dashauth_client_set_credential_store.
dashauth::Result<dashauth::Client> make_client(const std::string &server_url,
                                               const std::string &gd_url,
                                               const std::filesystem::path &store) {
    auto client = dashauth::Client::create(server_url);
    if (!client) return client;
    if (!gd_url.empty()) {
        if (auto set = client->set_gd_url(gd_url); !set) return set.error();
    }
    if (auto set = client->set_login_deadline_ms(30000); !set) return set.error();
    if (auto set = client->set_credential_store(store); !set) return set.error();
    return client;
}

// What one sign-in took, whether it sent a GD message, and the token it ended with.
struct SignIn {
    std::string token;
    long long ms = 0;
    bool sent_gd_message = false;
};

// One sign-in, polled once per "frame" (~60 fps) as a mod's update(float dt) would, and
// timed to show that polling never holds up a frame.
std::optional<SignIn> sign_in(const dashauth::Client &client, std::uint32_t account_id,
                              const std::string &gjp2) {
    using Clock = std::chrono::steady_clock;
    const auto started = Clock::now();
    auto login = client.authenticate(account_id, gjp2, kAudience);
    if (failed(login, "dashauth_auth_start")) return std::nullopt;
    SignIn result;
    Clock::duration slowest_poll{};
    dashauth::Stage shown = DASHAUTH_LOGIN_STAGE_FAILED;
    dashauth::LoginUpdate update;
    for (;;) {
        const auto before = Clock::now();
        update = login->poll();
        slowest_poll = std::max(slowest_poll, Clock::now() - before);
        if (!update.pending()) break;
        if (update.stage != shown) {
            shown = update.stage;
            // Every stage but SIGNING_IN_WITH_DEVICE belongs to a verification by GD message.
            if (shown != DASHAUTH_LOGIN_STAGE_SIGNING_IN_WITH_DEVICE) result.sent_gd_message = true;
            std::string line = std::string("... ") + dashauth::stage_name(shown);
            if (const std::int64_t eta = login->eta_ms(); eta >= 0)
                line += " (the bot reads its inbox in " + std::to_string(eta) + " ms)";
            detail(line);
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
    if (update.failed()) {
        std::cerr << "\nFAILED: sign-in: " << dashauth::status_name(update.status) << ": "
                  << update.message << "\n";
        return std::nullopt;
    }
    using std::chrono::duration_cast;
    result.ms = duration_cast<std::chrono::milliseconds>(Clock::now() - started).count();
    result.token = update.token;
    detail("slowest poll: " +
           std::to_string(duration_cast<std::chrono::microseconds>(slowest_poll).count()) + " us");
    return result;
}

// The middle part of a JWT, base64url-decoded: its claims as JSON text. (Reading is not
// verifying: the backend checks the signature.)
std::string jwt_claims(const std::string &jwt) {
    const auto first = jwt.find('.');
    const auto second = jwt.find('.', first == std::string::npos ? 0 : first + 1);
    if (first == std::string::npos || second == std::string::npos) return "";
    const std::string part = jwt.substr(first + 1, second - first - 1);
    std::string out;
    unsigned buffer = 0;
    int bits = 0;
    for (const char c : part) {
        int value;
        if (c >= 'A' && c <= 'Z') value = c - 'A';
        else if (c >= 'a' && c <= 'z') value = c - 'a' + 26;
        else if (c >= '0' && c <= '9') value = c - '0' + 52;
        else if (c == '-') value = 62;
        else if (c == '_') value = 63;
        else break;
        buffer = (buffer << 6) | static_cast<unsigned>(value);
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            out.push_back(static_cast<char>((buffer >> bits) & 0xFF));
        }
    }
    return out;
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

    // The credential store: one file for every DashAuth mod of the player. A Geode mod
    // uses a directory all mods share, e.g. geode::dirs::getSaveDir() / "dashauth". Here a
    // fresh temporary directory (its name is not ASCII, as Windows profile paths often
    // are not), unless DASHAUTH_STORE names a file.
    std::error_code io_error;
    const char *store_env = std::getenv("DASHAUTH_STORE");
    std::filesystem::path store =
        store_env != nullptr ? path_from_utf8(store_env) : std::filesystem::path();
    std::filesystem::path scratch;
    if (store.empty()) {
        scratch = std::filesystem::temp_directory_path(io_error) /
                  path_from_utf8("dashauth-example-\xc3\xa9l\xc3\xa8ve-" +
                                 std::to_string(dashauth::now_ms()));
        std::filesystem::create_directories(scratch, io_error);
        if (io_error) {
            std::cerr << "\nFAILED: creating a temporary directory: " << io_error.message() << "\n";
            return 1;
        }
        store = scratch / "credentials.json";
    }
    // Removes the temporary directory whatever happens below.
    struct Cleanup {
        std::filesystem::path dir;
        ~Cleanup() {
            std::error_code ignored;
            if (!dir.empty()) std::filesystem::remove_all(dir, ignored);
        }
    } cleanup{scratch};

    // ---------------------------------------------------------------------------------
    step(1, "Creating the client and naming the shared credential store");
    // C: dashauth_client_new(url, &client); dashauth_client_set_gd_url(client, gd_url);
    //    dashauth_client_set_credential_store(client, "<UTF-8 path>");
    //    ... dashauth_client_free(client)
    // A client is immutable once configured: create it once, share it between threads.
    auto client = make_client(server_url, gd_url, store);
    if (failed(client, "creating the client")) return 1;
    detail("credential store: " + dashauth::detail::utf8(store));

    // ---------------------------------------------------------------------------------
    step(2, "Signing in: no device stored yet, so one GD message to the server's bot");
    // C: dashauth_auth_start(client, account_id, gjp2, "my.mod.id", &login) returns at
    //    once; then, every frame, dashauth_login_poll(login, &stage, &token) never blocks:
    //      DASHAUTH_STATUS_PENDING -> show `stage` (and dashauth_login_eta_ms while
    //                                 WAITING_FOR_BOT);
    //      DASHAUTH_STATUS_OK      -> `token` is the access token; dashauth_string_free;
    //      anything else           -> show dashauth_last_error_message(): it tells the
    //                                 player what to do (see the README's troubleshooting).
    //    dashauth_login_free(login) at the end (it cancels a sign-in still running).
    // The gjp2 goes to GD only, never to the DashAuth server, and is never stored.
    auto first = sign_in(client.value(), account_id, gjp2);
    if (!first) return 1;
    detail("signed in after " + std::to_string(first->ms) + " ms, with a GD message and a new device");

    // ---------------------------------------------------------------------------------
    step(3, "Signing in again, as at the next launch: the stored device, no GD message");
    auto second = sign_in(client.value(), account_id, gjp2);
    if (!second) return 1;
    detail("signed in after " + std::to_string(second->ms) + " ms, without a GD message");
    if (second->sent_gd_message) {
        std::cerr << "\nFAILED: the second sign-in sent a GD message\n";
        return 1;
    }

    // ---------------------------------------------------------------------------------
    step(4, "Another mod naming the same store file signs in without a GD message");
    auto other_mod = make_client(server_url, gd_url, store);
    if (failed(other_mod, "creating the other mod's client")) return 1;
    auto third = sign_in(other_mod.value(), account_id, gjp2);
    if (!third) return 1;
    detail("signed in after " + std::to_string(third->ms) + " ms, without a GD message");
    if (third->sent_gd_message) {
        std::cerr << "\nFAILED: the other mod sent a GD message\n";
        return 1;
    }
    auto offset = client->clock_offset_ms();
    if (failed(offset, "dashauth_client_clock_offset_ms")) return 1;
    // Nonces are signed with the server's time, so a wrong device clock does not matter.
    detail("the server's clock minus this device's, as learned: " +
           std::to_string(offset.value()) + " ms");

    // ---------------------------------------------------------------------------------
    step(5, "What the mod's backend receives: the access token, a JWT for this mod only");
    // The mod sends it as "Authorization: Bearer <jwt>". The backend verifies it offline
    // with any JWT library against {server}/.well-known/jwks.json (EdDSA), checking iss,
    // aud (its own mod id) and exp; `sub` is the GD account id. Here we only read it.
    const std::string claims = jwt_claims(third->token);
    detail("access token: " + third->token.substr(0, 40) + "...");
    detail("claims: " + claims);
    if (claims.find("\"sub\":\"" + std::to_string(account_id) + "\"") == std::string::npos ||
        claims.find(std::string("\"aud\":\"") + kAudience + "\"") == std::string::npos) {
        std::cerr << "\nFAILED: the access token is not for account " << account_id << " and "
                  << kAudience << "\n";
        return 1;
    }

    std::cout << "\nAll 5 steps succeeded.\n";
    return 0;
}
