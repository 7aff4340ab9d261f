//! Writes `include/dashauth.h` from the doc-commented exports in `src/ffi` with cbindgen.
//! The header is committed; CI regenerates it and fails when the committed copy differs.

use std::path::PathBuf;

const VISIBILITY: &str = r#"
/* DASHAUTH_API marks every exported function. Define DASHAUTH_STATIC when linking the
   static library on Windows; the DLL build of the library defines DASHAUTH_BUILDING. */
#ifndef DASHAUTH_API
#  if defined(_WIN32) && !defined(DASHAUTH_STATIC)
#    if defined(DASHAUTH_BUILDING)
#      define DASHAUTH_API __declspec(dllexport)
#    else
#      define DASHAUTH_API __declspec(dllimport)
#    endif
#  elif defined(__GNUC__) || defined(__clang__)
#    define DASHAUTH_API __attribute__((visibility("default")))
#  else
#    define DASHAUTH_API
#  endif
#endif
"#;

fn main() {
    println!("cargo:rerun-if-changed=src/ffi");
    println!("cargo:rerun-if-changed=cbindgen.toml");
    println!("cargo:rerun-if-changed=build.rs");

    let crate_dir = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let config = match cbindgen::Config::from_file(crate_dir.join("cbindgen.toml")) {
        Ok(config) => config,
        Err(e) => panic!("cbindgen.toml: {e}"),
    };
    let version = format!(
        "\n#define DASHAUTH_VERSION_MAJOR {}\n#define DASHAUTH_VERSION_MINOR {}\n#define DASHAUTH_VERSION_PATCH {}\n#define DASHAUTH_VERSION_STRING \"{}\"\n",
        env!("CARGO_PKG_VERSION_MAJOR"),
        env!("CARGO_PKG_VERSION_MINOR"),
        env!("CARGO_PKG_VERSION_PATCH"),
        env!("CARGO_PKG_VERSION"),
    );
    // Only src/ffi (and the modules it declares): the header is the C API and nothing
    // else, whatever public types the Rust core has.
    let bindings = cbindgen::Builder::new()
        .with_src(crate_dir.join("src/ffi/mod.rs"))
        .with_config(config)
        .with_after_include(format!("{version}{VISIBILITY}"))
        .generate();
    let bindings = match bindings {
        Ok(b) => b,
        Err(e) => panic!("cbindgen could not read src/ffi: {e}"),
    };
    let mut text = Vec::new();
    bindings.write(&mut text);
    let text = match String::from_utf8(text) {
        Ok(t) => name_enum_tags(&t),
        Err(e) => panic!("cbindgen wrote invalid UTF-8: {e}"),
    };
    if !text.is_ascii() {
        // MSVC reads headers in the local code page; non-ASCII doc text can break /WX.
        panic!("include/dashauth.h must be ASCII: fix the doc comments in src/ffi");
    }
    // Leave the file alone when the content is unchanged, so a build does not dirty the
    // tree or trigger rebuilds of C++ code that includes it.
    let path = crate_dir.join("include/dashauth.h");
    if std::fs::read_to_string(&path).ok().as_deref() != Some(text.as_str())
        && let Err(e) = std::fs::write(&path, text)
    {
        panic!("{}: {e}", path.display());
    }
}

/// cbindgen's `style = "type"` (which keeps `struct` out of function signatures) writes
/// `typedef enum { ... } name;`; c-api.md also gives the enum its tag,
/// `typedef enum name { ... } name;`, so C code may write `enum name` too.
fn name_enum_tags(header: &str) -> String {
    const OPEN: &str = "typedef enum {";
    let mut out = String::with_capacity(header.len() + 64);
    let mut rest = header;
    while let Some(start) = rest.find(OPEN) {
        let after = &rest[start + OPEN.len()..];
        let name = after.find("\n} ").and_then(|close| {
            let tail = &after[close + 3..];
            tail.find(';').map(|end| &tail[..end])
        });
        out.push_str(&rest[..start]);
        match name {
            Some(name) if name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_') => {
                out.push_str(&format!("typedef enum {name} {{"));
            }
            _ => out.push_str(OPEN),
        }
        rest = after;
    }
    out.push_str(rest);
    out
}
