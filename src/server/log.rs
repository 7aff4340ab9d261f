//! One line per notable event, through `tracing` at level INFO with the calling module
//! as target (so `RUST_LOG=dashauth::server::bot=info` picks one part). Callers never
//! pass a token, a gjp2, a key or a collectable challenge id here: only ids that prove
//! nothing, account numbers and reasons.
//!
//! The library never installs a subscriber: the `dashauth-server` binary does (human
//! lines or JSON on stderr), and a program that embeds the server chooses its own, or
//! none, in which case events cost next to nothing and go nowhere.

/// `log_event!("challenge {id} validated")`: one INFO event with the formatted message.
macro_rules! log_event {
    ($($arg:tt)*) => {
        ::tracing::info!("{}", format_args!($($arg)*))
    };
}
pub(crate) use log_event;
