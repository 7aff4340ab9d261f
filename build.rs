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
    let bindings = cbindgen::Builder::new()
        .with_crate(&crate_dir)
        .with_config(config)
        .with_after_include(format!("{version}{VISIBILITY}"))
        .generate();
    let bindings = match bindings {
        Ok(b) => b,
        Err(e) => panic!("cbindgen could not read src/ffi: {e}"),
    };
    // write_to_file leaves the file alone when the content is unchanged, so a build
    // does not dirty the tree or trigger rebuilds of C++ code that includes it.
    bindings.write_to_file(crate_dir.join("include/dashauth.h"));
}
