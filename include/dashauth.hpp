/*
 * dashauth.hpp: header-only C++17 wrapper over the DashAuth C API (dashauth.h).
 *
 * What it adds to the C API, and nothing more:
 *   - RAII: every handle is a std::unique_ptr whose deleter is the matching
 *     dashauth_*_free, so nothing leaks and nothing is freed twice;
 *   - std::string in and out: owned `char *` results are copied and released with
 *     dashauth_string_free at once (never free(): the library may use another heap);
 *   - no exceptions: every fallible call returns dashauth::Result<T>, which carries the
 *     status and the message of dashauth_last_error_message() taken right after the
 *     call, while it is still valid;
 *   - a Login object to poll once per frame;
 *   - std::filesystem::path wherever a file is named, so Windows profile paths outside
 *     the ANSI code page work (they cross to the library as UTF-8).
 *
 * Same rules as the C API: a Client is immutable once configured and may be shared
 * between threads; a Login may be polled from any thread, one at a time; Device and
 * DeviceKey belong to one thread at a time. Every call that talks to a server blocks
 * (up to the client's timeout), except Login::poll, which never blocks: call the
 * blocking ones off the game's main thread.
 *
 * Needs C++17 and the standard library only. Link libdashauth as for the C API.
 */
#ifndef DASHAUTH_HPP
#define DASHAUTH_HPP

#if defined(_MSVC_LANG)
#  define DASHAUTH_HPP_CPLUSPLUS _MSVC_LANG
#else
#  define DASHAUTH_HPP_CPLUSPLUS __cplusplus
#endif
#if DASHAUTH_HPP_CPLUSPLUS < 201703L
#  error "dashauth.hpp needs C++17 or later; dashauth.h alone works from C++11"
#endif

#include "dashauth.h"

#include <cstdint>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <memory>
#include <string>
#include <utility>

#ifndef _WIN32
#  include <cerrno>
#  include <fcntl.h>
#  include <sys/stat.h>
#  include <sys/types.h>
#  include <unistd.h>
#endif

namespace dashauth {

/// A status code of the C API (DASHAUTH_STATUS_*).
using Status = dashauth_status;
/// A stage of the background login (DASHAUTH_LOGIN_STAGE_*).
using Stage = dashauth_login_stage;

/// The library's version at run time, e.g. "0.1.0".
inline std::string version() { return dashauth_version(); }

/// True when the library loaded at run time is the version this header came with. A mod
/// that ships the DLL beside itself can check this once at start-up.
inline bool library_matches_header() noexcept {
    return std::strcmp(dashauth_version(), DASHAUTH_VERSION_STRING) == 0;
}

/// A short name for a status, e.g. "DASHAUTH_STATUS_NOT_FOUND"; never empty.
inline std::string status_name(Status status) { return dashauth_status_str(status); }

/// UNIX time in milliseconds, the clock the library signs nonces with.
inline std::int64_t now_ms() noexcept { return dashauth_now_ms(); }

/// A short English name for a login stage, for progress text.
inline const char *stage_name(Stage stage) noexcept {
    switch (stage) {
    case DASHAUTH_LOGIN_STAGE_REQUESTING_CHALLENGE: return "requesting a challenge";
    case DASHAUTH_LOGIN_STAGE_SENDING_MESSAGE: return "sending the GD message";
    case DASHAUTH_LOGIN_STAGE_WAITING_FOR_BOT: return "waiting for the bot";
    case DASHAUTH_LOGIN_STAGE_CLEANING_UP: return "cleaning up";
    case DASHAUTH_LOGIN_STAGE_DONE: return "done";
    case DASHAUTH_LOGIN_STAGE_FAILED: return "failed";
    case DASHAUTH_LOGIN_STAGE_SIGNING_IN_WITH_DEVICE: return "signing in with this device";
    case DASHAUTH_LOGIN_STAGE_ENROLLING_DEVICE: return "registering this device";
    default: return "unknown stage";
    }
}

/// Why a call failed: its status and the library's message for it.
struct Error {
    Status status = DASHAUTH_STATUS_OK;
    std::string message;
};

namespace detail {

/// The deleter of every handle: one overload per handle type, so a handle cannot be
/// freed with the wrong function.
struct Free {
    void operator()(dashauth_client *p) const noexcept { dashauth_client_free(p); }
    void operator()(dashauth_challenge *p) const noexcept { dashauth_challenge_free(p); }
    void operator()(dashauth_login *p) const noexcept { dashauth_login_free(p); }
    void operator()(dashauth_device_key *p) const noexcept { dashauth_device_key_free(p); }
    void operator()(dashauth_device *p) const noexcept { dashauth_device_free(p); }
    void operator()(char *p) const noexcept { dashauth_string_free(p); }
};

template <typename T>
using Handle = std::unique_ptr<T, Free>;

/// Reads the thread's last error now: it is valid only until the next dashauth_ call.
inline Error last_error(Status status) {
    const char *message = dashauth_last_error_message();
    if (message == nullptr || *message == '\0') message = dashauth_status_str(status);
    return Error{status, message};
}

/// Copies an owned string from the library and releases it.
inline std::string take(char *owned) {
    Handle<char> guard(owned);
    return owned != nullptr ? std::string(owned) : std::string();
}

/// Copies a borrowed string (the C accessors give "" for an empty handle).
inline std::string copy(const char *borrowed) {
    return borrowed != nullptr ? std::string(borrowed) : std::string();
}

} // namespace detail

/// The outcome of a call: a value, or the status and message of the failure.
///
/// On failure value() is T's empty state (an empty handle, "", 0), never garbage: calls
/// on an empty handle fail with DASHAUTH_STATUS_NULL_ARGUMENT instead of crashing.
template <typename T>
class [[nodiscard]] Result {
public:
    /// A success holding `value`.
    Result(T value) : value_(std::move(value)) {}
    /// A failure.
    Result(Error error) : error_(std::move(error)) {}

    bool ok() const noexcept { return error_.status == DASHAUTH_STATUS_OK; }
    explicit operator bool() const noexcept { return ok(); }
    /// DASHAUTH_STATUS_OK on success.
    Status status() const noexcept { return error_.status; }
    /// The library's message on failure; "" on success.
    const std::string &message() const noexcept { return error_.message; }
    const Error &error() const noexcept { return error_; }

    T &value() & noexcept { return value_; }
    const T &value() const & noexcept { return value_; }
    T &&value() && noexcept { return std::move(value_); }
    T *operator->() noexcept { return &value_; }
    const T *operator->() const noexcept { return &value_; }

    /// The value on success, `fallback` on failure.
    T value_or(T fallback) const & { return ok() ? value_ : std::move(fallback); }
    T value_or(T fallback) && { return ok() ? std::move(value_) : std::move(fallback); }

private:
    T value_{};
    Error error_{};
};

/// The outcome of a call that returns nothing.
template <>
class [[nodiscard]] Result<void> {
public:
    Result() = default;
    Result(Error error) : error_(std::move(error)) {}

    bool ok() const noexcept { return error_.status == DASHAUTH_STATUS_OK; }
    explicit operator bool() const noexcept { return ok(); }
    Status status() const noexcept { return error_.status; }
    const std::string &message() const noexcept { return error_.message; }
    const Error &error() const noexcept { return error_; }

private:
    Error error_{};
};

namespace detail {

/// A path as UTF-8, what the C API takes: never the ANSI code page on Windows.
inline std::string utf8(const std::filesystem::path &path) {
#if defined(__cpp_char8_t)
    const std::u8string text = path.u8string();
    return std::string(text.begin(), text.end());
#else
    return path.u8string();
#endif
}

/// Writes `text` to `path`, replacing it. On POSIX the file gets mode 0600 before any
/// byte is written: created that way, and narrowed with fchmod when it already existed
/// (open() does not change the mode of an existing file). Windows keeps the default
/// ACL of the directory, which for a mod's save directory is the player's.
inline bool write_private_file(const std::filesystem::path &path, const std::string &text) {
#ifndef _WIN32
    const mode_t owner_only = static_cast<mode_t>(S_IRUSR | S_IWUSR);
    const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, owner_only);
    if (fd < 0) return false;
    bool ok = ::fchmod(fd, owner_only) == 0;
    std::size_t done = 0;
    while (ok && done < text.size()) {
        const ssize_t n = ::write(fd, text.data() + done, text.size() - done);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) ok = false;
        else done += static_cast<std::size_t>(n);
    }
    return ::close(fd) == 0 && ok;
#else
    std::ofstream out(path, std::ios::binary | std::ios::trunc);
    out << text;
    out.close();
    return static_cast<bool>(out);
#endif
}

/// Turns a status into Result<void>, reading the message at once.
inline Result<void> check(Status status) {
    if (status != DASHAUTH_STATUS_OK) return last_error(status);
    return {};
}

/// Turns a status and what the call wrote into Result<T>. Call the C function in a
/// statement of its own first: as two arguments of one call, its output could be read
/// before the function writes it.
template <typename T>
Result<T> result(Status status, T value) {
    if (status != DASHAUTH_STATUS_OK) return last_error(status);
    return Result<T>(std::move(value));
}

/// Likewise for an owned string, which is copied and released.
inline Result<std::string> result(Status status, char *owned) {
    return result(status, take(owned));
}

} // namespace detail

/// What whoami says about a token.
struct TokenInfo {
    std::uint32_t account_id = 0;
    /// UNIX ms.
    std::int64_t expires_at = 0;
};

/// A token with its expiry: a device session, or an access token for a third party.
struct Session {
    std::string token;
    /// UNIX ms.
    std::int64_t expires_at = 0;
};

/// One frame's look at a running login: still pending (with its stage), done (with the
/// token) or failed (with status and message).
struct LoginUpdate {
    Stage stage = DASHAUTH_LOGIN_STAGE_REQUESTING_CHALLENGE;
    /// DASHAUTH_STATUS_PENDING, DASHAUTH_STATUS_OK, or the failure's status.
    Status status = DASHAUTH_STATUS_PENDING;
    /// The token, once done.
    std::string token;
    /// Why it failed, once failed.
    std::string message;

    bool pending() const noexcept { return status == DASHAUTH_STATUS_PENDING; }
    bool done() const noexcept { return status == DASHAUTH_STATUS_OK; }
    bool failed() const noexcept { return !pending() && !done(); }
};

/// The non-blocking login, running on the library's worker thread. Destroying it
/// cancels it (and returns at once).
class Login {
public:
    Login() = default;
    explicit Login(dashauth_login *raw) noexcept : handle_(raw) {}

    /// Never blocks: call it every frame. dashauth_login_poll.
    LoginUpdate poll() {
        LoginUpdate update;
        char *token = nullptr;
        update.status = dashauth_login_poll(handle_.get(), &update.stage, &token);
        if (update.done()) {
            update.stage = DASHAUTH_LOGIN_STAGE_DONE;
            update.token = detail::take(token);
        } else if (update.failed()) {
            update.stage = DASHAUTH_LOGIN_STAGE_FAILED;
            update.message = detail::last_error(update.status).message;
        }
        return update;
    }

    /// While waiting for the bot: ms until it next reads its inbox, when the server
    /// said; -1 otherwise. Never blocks.
    std::int64_t eta_ms() const noexcept {
        std::int64_t eta = -1;
        if (dashauth_login_eta_ms(handle_.get(), &eta) != DASHAUTH_STATUS_OK) return -1;
        return eta;
    }

    /// Asks the login to stop; returns at once. Later polls report CANCELLED.
    void cancel() noexcept { dashauth_login_cancel(handle_.get()); }

    bool valid() const noexcept { return handle_ != nullptr; }
    dashauth_login *get() const noexcept { return handle_.get(); }

private:
    detail::Handle<dashauth_login> handle_;
};

/// A challenge of the three-step flow (tools and tests; a game uses Login).
class Challenge {
public:
    Challenge() = default;
    explicit Challenge(dashauth_challenge *raw) noexcept : handle_(raw) {}

    /// The GD account the message goes to.
    std::uint32_t bot_account_id() const noexcept {
        return dashauth_challenge_bot_account_id(handle_.get());
    }
    /// The challenge text; the message subject is "auth-" followed by it.
    std::string text() const { return detail::copy(dashauth_challenge_text(handle_.get())); }
    /// The challenge id the server knows it by.
    std::string id() const { return detail::copy(dashauth_challenge_id(handle_.get())); }

    bool valid() const noexcept { return handle_ != nullptr; }
    const dashauth_challenge *get() const noexcept { return handle_.get(); }

private:
    detail::Handle<dashauth_challenge> handle_;
};

/// A client of one DashAuth server and the GD server it checks against. Configure it,
/// then share it: const methods may run on many threads at once.
class Client {
public:
    Client() = default;
    explicit Client(dashauth_client *raw) noexcept : handle_(raw) {}

    /// dashauth_client_new. `base_url` is the server's API root, e.g.
    /// "https://auth.example.com/api/v1".
    static Result<Client> create(const std::string &base_url) {
        dashauth_client *raw = nullptr;
        const Status status = dashauth_client_new(base_url.c_str(), &raw);
        return detail::result(status, Client(raw));
    }

    /// The GD database URL; default "https://www.boomlings.com/database".
    Result<void> set_gd_url(const std::string &gd_database_url) {
        return detail::check(
            dashauth_client_set_gd_url(handle_.get(), gd_database_url.c_str()));
    }
    /// Limit of each HTTP request; default 10000 ms.
    Result<void> set_timeout_ms(std::uint32_t timeout_ms) {
        return detail::check(dashauth_client_set_timeout_ms(handle_.get(), timeout_ms));
    }
    /// Limit of a whole login; default 60000 ms.
    Result<void> set_login_deadline_ms(std::uint32_t deadline_ms) {
        return detail::check(dashauth_client_set_login_deadline_ms(handle_.get(), deadline_ms));
    }

    /// Keeps the devices authenticate() enrols in the credential store file at `path`,
    /// shared by every mod and process that names it (dashauth_client_set_credential_store).
    /// Give every DashAuth mod the same file, e.g.
    /// `geode::dirs::getSaveDir() / "dashauth" / "credentials.json"`.
    Result<void> set_credential_store(const std::filesystem::path &path) {
        const std::string utf8 = detail::utf8(path);
        return detail::check(dashauth_client_set_credential_store(handle_.get(), utf8.c_str()));
    }

    /// The one call a mod makes: signs the player in and hands out an access token (a
    /// JWT for `audience`) through Login::poll. With the stored device: one request, no
    /// GD message. Without: one GD message (sent with `gjp2`, to GD only) and a new
    /// device, stored for next time. Returns at once (dashauth_auth_start).
    Result<Login> authenticate(std::uint32_t account_id, const std::string &gjp2,
                               const std::string &audience) const {
        dashauth_login *raw = nullptr;
        const Status status = dashauth_auth_start(handle_.get(), account_id, gjp2.c_str(),
                                                  audience.c_str(), &raw);
        return detail::result(status, Login(raw));
    }

    /// The server's clock minus this device's, in ms, as learned from its answers (0
    /// until learned). Never blocks.
    Result<std::int64_t> clock_offset_ms() const {
        std::int64_t offset = 0;
        const Status status = dashauth_client_clock_offset_ms(handle_.get(), &offset);
        return detail::result(status, offset);
    }

    /// Starts the 0.1 background login (a GD message every time, ends with a login
    /// token); returns at once. `gjp2` goes to GD only. Prefer authenticate().
    Result<Login> login(std::uint32_t account_id, const std::string &gjp2) const {
        dashauth_login *raw = nullptr;
        const Status status =
            dashauth_login_start(handle_.get(), account_id, gjp2.c_str(), &raw);
        return detail::result(status, Login(raw));
    }

    /// Blocking: who owns `token`, and until when (what a third-party server checks).
    Result<TokenInfo> whoami(const std::string &token) const {
        TokenInfo info;
        const Status status = dashauth_client_whoami(handle_.get(), token.c_str(),
                                                     &info.account_id, &info.expires_at);
        return detail::result(status, info);
    }

    /// Blocking: trades a login or session token for an access token (a JWT) for
    /// `audience`, which your mod's backend verifies offline against the server's JWKS.
    /// Hand your backend this, never the login token.
    Result<Session> exchange_token(const std::string &token, const std::string &audience) const {
        char *jwt = nullptr;
        Session access;
        const Status status = dashauth_client_exchange_token(
            handle_.get(), token.c_str(), audience.c_str(), &jwt, &access.expires_at);
        access.token = detail::take(jwt);
        return detail::result(status, std::move(access));
    }

    /// Blocking: makes `token` unusable.
    Result<void> revoke_token(const std::string &token) const {
        return detail::check(dashauth_client_revoke_token(handle_.get(), token.c_str()));
    }

    /// Blocking: revokes a device of the account that owns `token`.
    Result<void> revoke_device(const std::string &token, const std::string &device_id) const {
        return detail::check(
            dashauth_device_revoke(handle_.get(), token.c_str(), device_id.c_str()));
    }

    /// Blocking, step 1 of the three-step flow.
    Result<Challenge> request_challenge(std::uint32_t account_id) const {
        dashauth_challenge *raw = nullptr;
        const Status status = dashauth_request_challenge(handle_.get(), account_id, &raw);
        return detail::result(status, Challenge(raw));
    }
    /// Blocking, step 2: the GD message from `account_id` to the bot.
    Result<void> send_gd_message(const Challenge &challenge, std::uint32_t account_id,
                                 const std::string &gjp2) const {
        return detail::check(
            dashauth_send_gd_message(handle_.get(), challenge.get(), account_id, gjp2.c_str()));
    }
    /// Blocking, step 3: the token, or DASHAUTH_STATUS_PENDING while the bot has not
    /// seen the message yet.
    Result<std::string> poll_completion(const Challenge &challenge) const {
        char *token = nullptr;
        const Status status = dashauth_poll_completion(handle_.get(), challenge.get(), &token);
        return detail::result(status, token);
    }

    bool valid() const noexcept { return handle_ != nullptr; }
    /// For calling the C API directly.
    dashauth_client *get() const noexcept { return handle_.get(); }

private:
    detail::Handle<dashauth_client> handle_;
};

/// A device's private key (RSA, P-256 or Ed25519). It never leaves the device: keep it
/// with to_pem() or, once enrolled, with Device::to_json().
class DeviceKey {
public:
    DeviceKey() = default;
    explicit DeviceKey(dashauth_device_key *raw) noexcept : handle_(raw) {}

    /// A new RSA-2048 key; takes a moment (tens to hundreds of ms).
    static Result<DeviceKey> generate() {
        dashauth_device_key *raw = nullptr;
        const Status status = dashauth_device_key_generate(&raw);
        return detail::result(status, DeviceKey(raw));
    }
    /// A new key of `type`: DASHAUTH_KEY_TYPE_P256 for new devices (under a millisecond,
    /// what hardware key stores hold), DASHAUTH_KEY_TYPE_ED25519, or RSA.
    static Result<DeviceKey> generate(dashauth_key_type type) {
        dashauth_device_key *raw = nullptr;
        const Status status =
            dashauth_device_key_generate_type(static_cast<std::int32_t>(type), &raw);
        return detail::result(status, DeviceKey(raw));
    }
    /// The key's type.
    Result<dashauth_key_type> type() const {
        dashauth_key_type type = DASHAUTH_KEY_TYPE_RSA;
        const Status status = dashauth_device_key_type(handle_.get(), &type);
        return detail::result(status, type);
    }
    /// From PKCS#8 PEM.
    static Result<DeviceKey> from_pem(const std::string &pkcs8_pem) {
        dashauth_device_key *raw = nullptr;
        const Status status = dashauth_device_key_from_pem(pkcs8_pem.c_str(), &raw);
        return detail::result(status, DeviceKey(raw));
    }

    /// The private key as PKCS#8 PEM: a secret.
    Result<std::string> to_pem() const {
        char *pem = nullptr;
        const Status status = dashauth_device_key_to_pem(handle_.get(), &pem);
        return detail::result(status, pem);
    }
    /// The public key as SPKI PEM.
    Result<std::string> public_pem() const {
        char *pem = nullptr;
        const Status status = dashauth_device_key_public_pem(handle_.get(), &pem);
        return detail::result(status, pem);
    }
    /// Base64 signature of the decimal timestamp.
    Result<std::string> sign_nonce(std::int64_t timestamp_ms) const {
        char *signature = nullptr;
        const Status status = dashauth_sign_nonce(handle_.get(), timestamp_ms, &signature);
        return detail::result(status, signature);
    }
    /// A fresh "Nonce <device_id> <now_ms> <signature>" Authorization value.
    Result<std::string> nonce_header(const std::string &device_id) const {
        char *header = nullptr;
        const Status status = dashauth_nonce_header(handle_.get(), device_id.c_str(), &header);
        return detail::result(status, header);
    }

    bool valid() const noexcept { return handle_ != nullptr; }
    const dashauth_device_key *get() const noexcept { return handle_.get(); }

private:
    detail::Handle<dashauth_device_key> handle_;
};

/// A registered device: its id, certificate and its own copy of the private key.
class Device {
public:
    Device() = default;
    explicit Device(dashauth_device *raw) noexcept : handle_(raw) {}

    /// Blocking, after Client::send_gd_message: enrols `key` as a device of the account
    /// that sent the challenge's GD message (the handshake, by GD proof). Fails with
    /// DASHAUTH_STATUS_PENDING while the bot has not seen the message yet (call again),
    /// DASHAUTH_STATUS_NOT_FOUND once the challenge is gone. The device keeps its own copy
    /// of the key.
    static Result<Device> enroll(const Client &client, const Challenge &challenge,
                                 const DeviceKey &key, const std::string &name,
                                 const std::string &platform) {
        dashauth_device *raw = nullptr;
        const Status status = dashauth_device_enroll(client.get(), challenge.get(), key.get(),
                                                     name.c_str(), platform.c_str(), &raw);
        return detail::result(status, Device(raw));
    }

    /// A device saved with to_json().
    static Result<Device> from_json(const std::string &json) {
        dashauth_device *raw = nullptr;
        const Status status = dashauth_device_from_json(json.c_str(), &raw);
        return detail::result(status, Device(raw));
    }

    /// Reads a file written by save(). A failure to read it reports
    /// DASHAUTH_STATUS_INVALID_ARGUMENT.
    static Result<Device> restore(const std::filesystem::path &path) {
        std::ifstream in(path, std::ios::binary);
        if (!in) return Error{DASHAUTH_STATUS_INVALID_ARGUMENT, "cannot open " + detail::utf8(path)};
        std::string json((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
        if (in.bad()) return Error{DASHAUTH_STATUS_INVALID_ARGUMENT, "cannot read " + detail::utf8(path)};
        return from_json(json);
    }

    /// The device id, a lowercase UUID ("" for an empty device).
    std::string id() const { return detail::copy(dashauth_device_id(handle_.get())); }
    /// The device certificate (X.509 PEM), signed by the server's CA.
    std::string certificate_pem() const {
        return detail::copy(dashauth_device_certificate_pem(handle_.get()));
    }
    /// The server's CA certificate (PEM).
    std::string ca_certificate_pem() const {
        return detail::copy(dashauth_device_ca_certificate_pem(handle_.get()));
    }
    /// The certificate's expiry, UNIX ms; 0 for an empty device.
    std::int64_t expires_at() const noexcept {
        return dashauth_device_expires_at(handle_.get());
    }

    /// True when the certificate is close enough to expiry to rotate.
    Result<bool> needs_rotation() const {
        bool needs = false;
        const Status status = dashauth_device_needs_rotation(handle_.get(), &needs);
        return detail::result(status, needs);
    }
    /// Blocking: new key and certificate for the same device id. Save the device again
    /// afterwards: the old key stops working. Save it after a NETWORK or PROTOCOL
    /// failure too: the device then holds the new key as pending, in case the server
    /// rotated and only its reply was lost (see dashauth_device_rotate).
    Result<void> rotate(const Client &client) {
        return detail::check(dashauth_device_rotate(client.get(), handle_.get()));
    }
    /// Blocking: trades a nonce for a day-long session token.
    Result<Session> session(const Client &client) const {
        char *token = nullptr;
        Session session;
        const Status status =
            dashauth_device_session(client.get(), handle_.get(), &token, &session.expires_at);
        session.token = detail::take(token);
        return detail::result(status, std::move(session));
    }
    /// Blocking: an access token (a JWT) for `audience`, minted with a fresh nonce.
    Result<Session> access_token(const Client &client, const std::string &audience) {
        char *jwt = nullptr;
        Session access;
        const Status status = dashauth_device_access_token(
            client.get(), handle_.get(), audience.c_str(), &jwt, &access.expires_at);
        access.token = detail::take(jwt);
        return detail::result(status, std::move(access));
    }
    /// Blocking: the account id, authenticated with a fresh nonce (GET client/me).
    Result<std::uint32_t> me(const Client &client) const {
        std::uint32_t account_id = 0;
        const Status status = dashauth_device_me(client.get(), handle_.get(), &account_id);
        return detail::result(status, account_id);
    }
    /// A fresh single-use "Nonce ..." Authorization value for your own requests.
    Result<std::string> nonce_header() const {
        char *header = nullptr;
        const Status status = dashauth_device_nonce_header(handle_.get(), &header);
        return detail::result(status, header);
    }

    /// The whole device as JSON, private key included: store it like a password.
    Result<std::string> to_json() const {
        char *json = nullptr;
        const Status status = dashauth_device_to_json(handle_.get(), &json);
        return detail::result(status, json);
    }
    /// Writes to_json() to `path` (replacing it). The file holds the private key: put it
    /// in the mod's save directory, not somewhere shared. On POSIX systems the file is
    /// readable and writable by its owner only (mode 0600), also when it existed before.
    /// A failure to write reports DASHAUTH_STATUS_INVALID_ARGUMENT.
    Result<void> save(const std::filesystem::path &path) const {
        Result<std::string> json = to_json();
        if (!json) return json.error();
        if (!detail::write_private_file(path, json.value()))
            return Error{DASHAUTH_STATUS_INVALID_ARGUMENT, "cannot write " + detail::utf8(path)};
        return {};
    }

    bool valid() const noexcept { return handle_ != nullptr; }
    dashauth_device *get() const noexcept { return handle_.get(); }

private:
    detail::Handle<dashauth_device> handle_;
};

} // namespace dashauth

#endif // DASHAUTH_HPP
