//! DashAuth: proves to a third-party server which Geometry Dash account a player owns,
//! without the player's GD password (gjp2) ever reaching that server.
//!
//! The crate is three things:
//! - a safe Rust client ([`client`], [`login`], [`device`], [`credentials`]) over the
//!   shared wire formats ([`gd`], [`protocol`]);
//! - `libdashauth`, the C ABI over that client ([`ffi`], header `include/dashauth.h`);
//! - with the `server` feature, the reference server and its GD emulator ([`server`]).
#![deny(unsafe_op_in_unsafe_fn)]
#![warn(missing_docs)]
#![cfg_attr(not(test), warn(clippy::unwrap_used, clippy::expect_used))]

pub mod client;
pub mod clock;
pub mod credentials;
pub mod device;
pub mod device_store;
pub mod error;
pub mod ffi;
pub mod gd;
pub mod gd_client;
pub mod gd_diagnosis;
pub mod http;
pub mod keys;
pub mod login;
pub mod protocol;
#[cfg(feature = "server")]
pub mod server;

pub use error::{Error, Result};
