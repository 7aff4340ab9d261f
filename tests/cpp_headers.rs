//! The headers compile cleanly wherever a mod includes them: dashauth.h as C99, C11 and
//! C++11/17/20, dashauth.hpp as C++17 and C++20, each included twice in one translation
//! unit, with -Wall -Wextra -Wpedantic -Werror. The translation units use the API, so
//! the wrapper's templates are instantiated and checked, not just parsed.

mod cpp_support;

use std::process::Command;

const STRICT: &[&str] = &["-Wall", "-Wextra", "-Wpedantic", "-Werror"];

/// Warnings mods commonly turn on beyond `STRICT`; the C++ wrapper stays clean of them.
const STRICTER_CXX: &[&str] = &[
    "-Wshadow",
    "-Wconversion",
    "-Wsign-conversion",
    "-Wold-style-cast",
    "-Wnon-virtual-dtor",
];

/// Uses the C API the way the contract's example does; valid C and C++. The version
/// macros must match Cargo.toml.
fn c_source() -> String {
    format!(
        r#"#include "dashauth.h"
#include "dashauth.h"

#if DASHAUTH_VERSION_MAJOR != {major} || DASHAUTH_VERSION_MINOR != {minor} || DASHAUTH_VERSION_PATCH != {patch}
#error "DASHAUTH_VERSION_* do not match Cargo.toml"
#endif

int main(void) {{
    dashauth_client *client = NULL;
    dashauth_login *login = NULL;
    dashauth_login_stage stage = DASHAUTH_LOGIN_STAGE_REQUESTING_CHALLENGE;
    char *token = NULL;
    dashauth_status status = dashauth_client_new("http://127.0.0.1:1", &client);
    if (status == DASHAUTH_STATUS_OK) status = dashauth_login_start(client, 1234, "gjp2", &login);
    if (status == DASHAUTH_STATUS_OK) status = dashauth_login_poll(login, &stage, &token);
    if (status != DASHAUTH_STATUS_PENDING && status != DASHAUTH_STATUS_OK) {{
        const char *message = dashauth_last_error_message();
        (void)message;
    }}
    dashauth_string_free(token);
    dashauth_login_free(login);
    dashauth_client_free(client);
    return stage == DASHAUTH_LOGIN_STAGE_DONE ? 0 : 1;
}}
"#,
        major = env!("CARGO_PKG_VERSION_MAJOR"),
        minor = env!("CARGO_PKG_VERSION_MINOR"),
        patch = env!("CARGO_PKG_VERSION_PATCH"),
    )
}

/// Touches every class and function of the wrapper.
const CPP_SOURCE: &str = r#"#include "dashauth.hpp"
#include "dashauth.hpp"

#include <string>

int exercise(const std::string &url);
int exercise(const std::string &url) {
    auto client = dashauth::Client::create(url);
    if (!client.ok()) return static_cast<int>(client.status());
    if (!client->set_gd_url(url + "/database")) return 1;
    if (!client->set_timeout_ms(1000).ok()) return 1;
    if (!client->set_login_deadline_ms(1000).ok()) return 1;

    auto login = client->login(1234, "gjp2");
    dashauth::LoginUpdate update = login->poll();
    login->cancel();
    if (update.failed()) return static_cast<int>(update.status) + update.message.empty();
    std::string token = update.done() ? update.token : dashauth::stage_name(update.stage);

    dashauth::Result<dashauth::TokenInfo> who = client->whoami(token);
    std::uint32_t account = who.ok() ? who->account_id : 0;
    int64_t expires = who.value().expires_at;
    if (!client->revoke_token(token).ok()) return 1;

    dashauth::Result<dashauth::Challenge> challenge = client->request_challenge(account);
    std::string text = challenge->text() + challenge->id();
    if (!client->send_gd_message(challenge.value(), account, "gjp2")) return 1;
    std::string polled = client->poll_completion(challenge.value()).value_or("pending");

    dashauth::Result<dashauth::DeviceKey> key = dashauth::DeviceKey::generate();
    dashauth::Result<dashauth::DeviceKey> again = dashauth::DeviceKey::from_pem(key->to_pem().value());
    std::string pem = again->public_pem().value() + key->sign_nonce(dashauth::now_ms()).value() +
                      key->nonce_header("id").message();

    dashauth::Result<dashauth::DeviceKey> p256 = dashauth::DeviceKey::generate(DASHAUTH_KEY_TYPE_P256);
    bool is_p256 = p256->type().value_or(DASHAUTH_KEY_TYPE_RSA) == DASHAUTH_KEY_TYPE_P256;
    if (!is_p256) return 1;
    auto device = dashauth::Device::enroll(client.value(), challenge.value(), key.value(), "n", "p");
    dashauth::Device moved = std::move(device).value();
    std::string info = moved.id() + moved.certificate_pem() + moved.ca_certificate_pem();
    bool rotate = moved.needs_rotation().value_or(false);
    if (rotate && !moved.rotate(client.value())) return 1;
    dashauth::Result<dashauth::Session> session = moved.session(client.value());
    dashauth::Result<dashauth::Session> access = moved.access_token(client.value(), "me.mymod");
    dashauth::Result<dashauth::Session> exchanged = client->exchange_token(token, "me.mymod");
    std::uint32_t me = moved.me(client.value()).value_or(0);
    std::string header = moved.nonce_header().value();
    dashauth::Result<void> saved = moved.save("/nonexistent/device.json");
    auto restored = dashauth::Device::restore("/nonexistent/device.json");
    auto parsed = dashauth::Device::from_json(moved.to_json().value());
    if (!client->revoke_device(token, parsed->id())) return 1;

    dashauth_client *raw = client->get();
    const bool matches = dashauth::library_matches_header() && raw != nullptr;
    return static_cast<int>(text.size() + polled.size() + pem.size() + info.size() +
                            header.size() + session->token.size() + dashauth::version().size() +
                            dashauth::status_name(saved.status()).size() +
                            restored.message().size()) +
           static_cast<int>(me + static_cast<std::uint32_t>(expires) + saved.error().message.size()) +
           matches + moved.valid() + static_cast<int>(moved.expires_at());
}
"#;

/// Compiles `source` as `language` (`c` or `c++`) with `-std=std` and `STRICT` plus
/// `extra`, syntax only; the file name carries the case so parallel tests do not clash.
fn compiles(mut compiler: Command, language: &str, std: &str, source: &str, extra: &[&str]) {
    let extension = if language == "c" { "c" } else { "cpp" };
    let path = cpp_support::scratch_dir("cpp_headers").join(format!(
        "{std}{}.{extension}",
        extra.concat().replace(['-', '='], "_")
    ));
    if let Err(e) = std::fs::write(&path, source) {
        panic!("cannot write {}: {e}", path.display());
    }
    cpp_support::run(
        compiler
            .args(["-x", language, &format!("-std={std}")])
            .args(STRICT)
            .args(extra)
            .arg("-I")
            .arg(cpp_support::include_dir())
            .arg("-fsyntax-only")
            .arg(&path),
    );
}

#[test]
fn c_header_compiles_as_c99() {
    compiles(cpp_support::c_compiler(), "c", "c99", &c_source(), &[]);
}

#[test]
fn c_header_compiles_as_c11() {
    compiles(cpp_support::c_compiler(), "c", "c11", &c_source(), &[]);
}

#[test]
fn c_header_compiles_as_cxx11() {
    compiles(
        cpp_support::cxx_compiler(),
        "c++",
        "c++11",
        &c_source(),
        &[],
    );
}

#[test]
fn c_header_compiles_as_cxx17() {
    compiles(
        cpp_support::cxx_compiler(),
        "c++",
        "c++17",
        &c_source(),
        &[],
    );
}

#[test]
fn c_header_compiles_as_cxx20() {
    compiles(
        cpp_support::cxx_compiler(),
        "c++",
        "c++20",
        &c_source(),
        &[],
    );
}

#[test]
fn cpp_wrapper_compiles_as_cxx17_with_strict_warnings() {
    compiles(
        cpp_support::cxx_compiler(),
        "c++",
        "c++17",
        CPP_SOURCE,
        STRICTER_CXX,
    );
}

#[test]
fn cpp_wrapper_compiles_as_cxx20_with_strict_warnings() {
    compiles(
        cpp_support::cxx_compiler(),
        "c++",
        "c++20",
        CPP_SOURCE,
        STRICTER_CXX,
    );
}

#[test]
fn cpp_wrapper_compiles_without_exceptions() {
    // Some mods build with -fno-exceptions; the wrapper never throws or catches.
    compiles(
        cpp_support::cxx_compiler(),
        "c++",
        "c++17",
        CPP_SOURCE,
        &["-fno-exceptions"],
    );
}
