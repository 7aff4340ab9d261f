//! Signals between the instances that share one PostgreSQL database (protocol.md
//! section 8), over `LISTEN/NOTIFY`: a challenge validated by one instance's bot wakes
//! the long polls waiting on every instance, and a `challenge_complete` on any instance
//! pulls the next inbox fetch of the instance that holds the bot forward.
//!
//! Events are always delivered locally at once as well; with SQLite (one instance) that
//! is all there is. A lost notification only delays: long polls still time out and ask
//! again, and the bot still polls on its schedule.

use super::app::App;
use super::log::log_event;
use sqlx::postgres::PgListener;
use std::sync::Arc;
use std::time::Duration;

/// The channel every instance listens on.
const CHANNEL: &str = "dashauth_events";
/// Pause before listening again after the listener failed.
const RETRY: Duration = Duration::from_secs(1);

/// What happened.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Event {
    /// The bot validated challenges: long polls should look again.
    Validated,
    /// A client waits on a pending challenge: the bot should read its inbox soon.
    Hint,
}

impl Event {
    fn payload(self) -> &'static str {
        match self {
            Event::Validated => "validated",
            Event::Hint => "hint",
        }
    }

    fn parse(payload: &str) -> Option<Event> {
        match payload {
            "validated" => Some(Event::Validated),
            "hint" => Some(Event::Hint),
            _ => None,
        }
    }
}

/// Delivers `event` in this process.
pub fn deliver(app: &App, event: Event) {
    match event {
        Event::Validated => app.announce_validated(),
        Event::Hint => app.bots.hint(),
    }
}

/// Delivers `event` here and, with PostgreSQL, to every other instance. A failed
/// notification is logged, not returned: the local delivery already happened, and the
/// other instances recover on their own schedule.
pub async fn publish(app: &App, event: Event) {
    deliver(app, event);
    let Some(pool) = app.store.postgres_pool() else {
        return;
    };
    let sent = sqlx::query("SELECT pg_notify($1, $2)")
        .bind(CHANNEL)
        .bind(event.payload())
        .execute(pool)
        .await;
    if let Err(e) = sent {
        log_event!("could not notify other instances of {event:?}: {e}");
    }
}

/// Listens for other instances' events until the server stops; returns at once with
/// SQLite.
pub async fn listen(app: Arc<App>) {
    let Some(pool) = app.store.postgres_pool().cloned() else {
        return;
    };
    loop {
        match PgListener::connect_with(&pool).await {
            Ok(mut listener) => match listener.listen(CHANNEL).await {
                // recv() reconnects by itself after a lost connection; an error here
                // means it could not, and the loop starts over after a pause.
                Ok(()) => loop {
                    match listener.recv().await {
                        Ok(n) => {
                            if let Some(event) = Event::parse(n.payload()) {
                                deliver(&app, event);
                            }
                        }
                        Err(e) => {
                            log_event!("event listener: {e}");
                            break;
                        }
                    }
                },
                Err(e) => log_event!("event listener: {e}"),
            },
            Err(e) => log_event!("event listener: {e}"),
        }
        tokio::time::sleep(RETRY).await;
    }
}
