//! The whole login on a worker thread, so the game's frame loop never waits for the
//! network: either the 0.1 login (request a challenge, send the GD message, wait for the
//! bot, clean up) that ends with a login token, or the one-call sign-in ([`auth`]) that
//! uses the stored device, or verifies once by GD message and enrols one, and ends with
//! an access token.
//!
//! The caller's side ([`Login::poll`], [`Login::cancel`], drop) only ever takes a mutex
//! that the worker holds for a few instructions, never across a request: it returns in
//! microseconds even while a request is in flight. Cancel and the deadline take effect on
//! the caller's side at once; the detached worker notices between steps (long polls are
//! at most [`MAX_LONG_POLL`]) and ends, so no thread outlives its login by more than one
//! request.

mod auth;

use crate::client::{Challenge, Client, Gjp2, Polled, Token};
use crate::error::{Error, Result};
use crate::gd::GdError;
use crate::gd_diagnosis::Bounds;
use crate::protocol::AccountId;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};

/// Longest a single `challenge_complete` long poll waits, so that the worker sees a
/// cancel or the deadline within a few seconds.
pub const MAX_LONG_POLL: Duration = Duration::from_secs(2);
/// Shortest interval between two polls, for servers that answer at once.
pub const MIN_POLL_INTERVAL: Duration = Duration::from_secs(1);
/// Transient failures (network errors, HTTP 502/503/504) tolerated in a row while
/// waiting, before the login fails.
pub const NETWORK_RETRIES: u32 = 2;
/// Pause after a network failure while waiting.
const RETRY_PAUSE: Duration = Duration::from_millis(500);
/// First pause before sending the GD message again after a transient failure; each
/// further one doubles, up to [`MAX_UPLOAD_RETRY_PAUSE`]. GD's CDN sheds load in bursts
/// of a few hundred milliseconds.
const UPLOAD_RETRY_PAUSE: Duration = Duration::from_millis(250);
/// Longest pause between two sends of the GD message.
const MAX_UPLOAD_RETRY_PAUSE: Duration = Duration::from_secs(4);
/// How long before the deadline the diagnosis of a GD `-1` gives up, so that the login
/// reports the refusal it has rather than running out of time.
const DIAGNOSIS_MARGIN: Duration = Duration::from_millis(500);

/// Where a login is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stage {
    /// Asking the DashAuth server for a challenge.
    RequestingChallenge,
    /// Sending the GD message.
    SendingMessage,
    /// Waiting for the server's bot to see the message.
    WaitingForBot,
    /// Token obtained; deleting the message from the player's outbox.
    CleaningUp,
    /// Finished with a token.
    Done,
    /// Finished with an error (including cancel and deadline).
    Failed,
    /// Signing in with the stored device: one nonce-signed request, no GD message.
    SigningInWithDevice,
    /// The bot saw the message: registering the new device, storing it, and getting
    /// the access token with it.
    EnrollingDevice,
}

/// What [`Login::poll`] reports.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Progress {
    /// Still running, at this stage.
    Running(Stage),
    /// Finished with this token.
    Done(Token),
    /// Finished with this error.
    Failed(Error),
}

#[derive(Debug)]
struct State {
    stage: Stage,
    /// Set once the bot validated; kept while cleaning up.
    token: Option<Token>,
    outcome: Option<Result<Token>>,
    /// While waiting for the bot: when the server said the bot reads its inbox next
    /// (the moment of the answer, and the milliseconds from it).
    next_check: Option<(Instant, u64)>,
}

#[derive(Debug)]
struct Shared {
    state: Mutex<State>,
    /// Wakes the worker from its pauses when the login is stopped.
    wake: Condvar,
    stopped: AtomicBool,
    deadline: Instant,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, State> {
        // A panic elsewhere cannot leave State inconsistent (every update is one
        // assignment), so a poisoned lock is still usable.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Ends the login with `outcome` unless it already ended; wakes the worker.
    fn finish(&self, state: &mut State, outcome: Result<Token>) {
        if state.outcome.is_none() {
            state.stage = if outcome.is_ok() {
                Stage::Done
            } else {
                Stage::Failed
            };
            state.outcome = Some(outcome);
        }
        self.stopped.store(true, Ordering::SeqCst);
        self.wake.notify_all();
    }

    /// Ends the login if its deadline passed. A token already obtained wins over the
    /// deadline: only the clean-up is abandoned.
    fn check_deadline(&self, state: &mut State) {
        if state.outcome.is_none() && Instant::now() >= self.deadline {
            let outcome = match state.token.clone() {
                Some(token) => Ok(token),
                None => Err(Error::TimedOut(
                    "the server's bot did not see the verification message in time; check that \
                     Geometry Dash is reachable and try again"
                        .into(),
                )),
            };
            self.finish(state, outcome);
        }
    }

    fn is_stopped(&self) -> bool {
        self.stopped.load(Ordering::SeqCst)
    }

    /// Moves to `stage`; false when the login already ended (the worker then stops).
    fn enter(&self, stage: Stage) -> bool {
        let mut state = self.lock();
        self.check_deadline(&mut state);
        if state.outcome.is_some() {
            return false;
        }
        state.stage = stage;
        state.next_check = None;
        true
    }

    /// Sleeps up to `d` (never past the deadline); false when the login ended meanwhile.
    fn pause(&self, d: Duration) -> bool {
        // `d` may come from a server's Retry-After: never overflow the clock.
        let until = Instant::now()
            .checked_add(d)
            .map_or(self.deadline, |t| t.min(self.deadline));
        let mut state = self.lock();
        loop {
            self.check_deadline(&mut state);
            let now = Instant::now();
            if state.outcome.is_some() || now >= until {
                return state.outcome.is_none();
            }
            state = match self.wake.wait_timeout(state, until - now) {
                Ok((guard, _)) => guard,
                Err(e) => e.into_inner().0,
            };
        }
    }

    fn remaining(&self) -> Duration {
        self.deadline.saturating_duration_since(Instant::now())
    }
}

/// A running or finished login. Dropping it cancels a running login and returns at once.
#[derive(Debug)]
pub struct Login {
    shared: Arc<Shared>,
}

impl Login {
    /// Starts a login on a new thread with a snapshot of `client`'s settings (including
    /// its login deadline). Returns at once.
    pub fn start(client: Client, account_id: AccountId, gjp2: Gjp2) -> Result<Login> {
        Self::spawn(Worker::new(client, account_id, gjp2, Flow::LoginToken))
    }

    /// Starts the one-call sign-in for an access token bound to `audience` (see
    /// [`auth`]), on a new thread with a snapshot of `client`'s settings. Returns at once.
    pub fn authenticate(
        client: Client,
        account_id: AccountId,
        gjp2: Gjp2,
        audience: &str,
    ) -> Result<Login> {
        crate::client::check_audience(audience)?;
        let flow = Flow::AccessToken {
            audience: audience.to_string(),
        };
        Self::spawn(Worker::new(client, account_id, gjp2, flow))
    }

    fn spawn(worker: Worker) -> Result<Login> {
        let shared = Arc::clone(&worker.shared);
        std::thread::Builder::new()
            .name("dashauth-login".into())
            .spawn(move || worker.run())
            .map_err(|e| Error::Network(format!("could not start the login thread: {e}")))?;
        Ok(Login { shared })
    }

    /// Where the login is. Never blocks on the network.
    pub fn poll(&self) -> Progress {
        let mut state = self.shared.lock();
        self.shared.check_deadline(&mut state);
        match &state.outcome {
            None => Progress::Running(state.stage),
            Some(Ok(token)) => Progress::Done(token.clone()),
            Some(Err(e)) => Progress::Failed(e.clone()),
        }
    }

    /// While waiting for the bot: milliseconds until it next reads its inbox, when the
    /// server said (0 once that moment has passed); `None` otherwise.
    pub fn eta_ms(&self) -> Option<u64> {
        let state = self.shared.lock();
        if state.outcome.is_some() || state.stage != Stage::WaitingForBot {
            return None;
        }
        let (said_at, ms) = state.next_check?;
        let elapsed = u64::try_from(said_at.elapsed().as_millis()).unwrap_or(u64::MAX);
        Some(ms.saturating_sub(elapsed))
    }

    /// Stops a running login: it fails with [`Error::Cancelled`] at once. No effect on a
    /// finished one.
    pub fn cancel(&self) {
        let mut state = self.shared.lock();
        self.shared.finish(&mut state, Err(Error::Cancelled));
    }
}

impl Drop for Login {
    fn drop(&mut self) {
        self.cancel();
    }
}

/// What a login ends with.
#[derive(Debug, Clone)]
enum Flow {
    /// A login token, through a GD message every time (0.1).
    LoginToken,
    /// An access token for this audience, with the stored device when there is one.
    AccessToken {
        /// The third-party service the token is for.
        audience: String,
    },
}

struct Worker {
    shared: Arc<Shared>,
    client: Client,
    account_id: AccountId,
    gjp2: Gjp2,
    flow: Flow,
    /// Test seam: the stage whose entry panics, to check that a bug in a step still ends
    /// the login.
    #[cfg(test)]
    panic_at: Option<Stage>,
}

impl Worker {
    fn new(client: Client, account_id: AccountId, gjp2: Gjp2, flow: Flow) -> Worker {
        let first = match flow {
            Flow::LoginToken => Stage::RequestingChallenge,
            Flow::AccessToken { .. } => Stage::SigningInWithDevice,
        };
        let shared = Arc::new(Shared {
            state: Mutex::new(State {
                stage: first,
                token: None,
                outcome: None,
                next_check: None,
            }),
            wake: Condvar::new(),
            stopped: AtomicBool::new(false),
            deadline: Instant::now() + client.login_deadline(),
        });
        Worker {
            shared,
            client,
            account_id,
            gjp2,
            flow,
            #[cfg(test)]
            panic_at: None,
        }
    }

    fn run(self) {
        // A panic would otherwise end the thread without an outcome, leaving the login
        // Running until its deadline and then reporting TimedOut, which hides the bug.
        let outcome = catch_unwind(AssertUnwindSafe(|| self.steps()));
        let mut state = self.shared.lock();
        let outcome = outcome.unwrap_or_else(|payload| match state.token.clone() {
            // As with the deadline, a token already obtained wins: only the clean-up
            // was lost.
            Some(token) => Ok(token),
            None => Err(Error::from_panic(payload.as_ref())),
        });
        self.shared.finish(&mut state, outcome);
    }

    fn steps(&self) -> Result<Token> {
        match &self.flow {
            Flow::LoginToken => self.login_token_steps(),
            Flow::AccessToken { audience } => self.access_token_steps(audience),
        }
    }

    fn login_token_steps(&self) -> Result<Token> {
        let challenge = self.challenge_and_message()?;
        self.step(Stage::WaitingForBot)?;
        let token =
            self.wait_for_bot(|wait_ms| self.client.poll_completion(&challenge.id, Some(wait_ms)))?;
        self.obtained(&token);
        self.clean_up(&challenge);
        Ok(token)
    }

    /// Requests a challenge and sends its GD message.
    fn challenge_and_message(&self) -> Result<Challenge> {
        self.step(Stage::RequestingChallenge)?;
        let challenge = self.client.request_challenge(self.account_id)?;
        self.step(Stage::SendingMessage)?;
        self.send_message(&challenge)?;
        Ok(challenge)
    }

    /// Keeps the token: from now on the deadline or a panic cannot take it away.
    fn obtained(&self, token: &Token) {
        self.shared.lock().token = Some(token.clone());
    }

    /// Deletes the verification message from the player's outbox. Best effort: a
    /// message left there is harmless.
    fn clean_up(&self, challenge: &Challenge) {
        if self.step(Stage::CleaningUp).is_ok() {
            let _ = self
                .client
                .delete_sent_message(challenge, self.account_id, &self.gjp2);
        }
    }

    /// Enters `stage`, or stops the worker (the outcome is already set; `Cancelled` here
    /// is never reported).
    fn step(&self, stage: Stage) -> Result<()> {
        #[cfg(test)]
        if self.panic_at == Some(stage) {
            panic!("injected fault at {stage:?}");
        }
        if self.shared.enter(stage) {
            Ok(())
        } else {
            Err(Error::Cancelled)
        }
    }

    /// Sends the GD message, again after each transient failure (backing off) while the
    /// deadline leaves room for the pause; a refusal or a ban is reported at once, since
    /// repeating it cannot help and could prolong a ban (a refusal after asking GD what
    /// it meant, [`crate::gd_diagnosis`]).
    fn send_message(&self, challenge: &Challenge) -> Result<()> {
        let mut pause = UPLOAD_RETRY_PAUSE;
        loop {
            let failure =
                match self
                    .client
                    .upload_gd_message(challenge, self.account_id, &self.gjp2)
                {
                    Ok(()) => return Ok(()),
                    Err(e) => e,
                };
            if !upload_failure_is_transient(&failure) || self.shared.remaining() <= pause {
                // A -1 is diagnosed before the login fails, early enough that the
                // refusal, not TIMED_OUT, is what the caller sees.
                let until = self.shared.deadline.checked_sub(DIAGNOSIS_MARGIN);
                let bounds = Bounds {
                    timeout: self.client.timeout(),
                    until: Some(until.unwrap_or_else(Instant::now)),
                    stopped: &|| self.shared.is_stopped(),
                };
                let (account, gjp2) = (self.account_id, &self.gjp2);
                return Err(self
                    .client
                    .upload_error(failure, challenge, account, gjp2, &bounds));
            }
            if !self.shared.pause(pause) {
                return Err(Error::Cancelled);
            }
            pause = (pause * 2).min(MAX_UPLOAD_RETRY_PAUSE);
        }
    }

    /// Long-polls with `poll(wait_ms)` until the bot has seen the message, keeping the
    /// server's estimate of its next inbox read for [`Login::eta_ms`].
    fn wait_for_bot<T>(&self, poll: impl Fn(u64) -> Result<Polled<T>>) -> Result<T> {
        let mut network_failures = 0;
        loop {
            if self.shared.is_stopped() {
                return Err(Error::Cancelled);
            }
            let wait = self
                .shared
                .remaining()
                .min(MAX_LONG_POLL)
                .min(Duration::from_millis(self.client.default_long_poll_ms()));
            let started = Instant::now();
            let wait_ms = u64::try_from(wait.as_millis()).unwrap_or(u64::MAX);
            let pause = match poll(wait_ms) {
                Ok(Polled::Ready(done)) => return Ok(done),
                Ok(Polled::Pending { next_check_ms }) => {
                    network_failures = 0;
                    self.shared.lock().next_check = next_check_ms.map(|ms| (Instant::now(), ms));
                    MIN_POLL_INTERVAL.saturating_sub(started.elapsed())
                }
                Err(e) if is_transient(&e) && network_failures < NETWORK_RETRIES => {
                    network_failures += 1;
                    RETRY_PAUSE
                }
                Err(Error::RateLimited { retry_after_s, .. }) => {
                    Duration::from_secs(retry_after_s.unwrap_or(1).max(1))
                }
                Err(e) => return Err(e),
            };
            if !self.shared.pause(pause) {
                return Err(Error::Cancelled);
            }
        }
    }
}

/// Whether a failed poll is worth repeating: the server or the way to it failed for the
/// moment. A server shutting down answers its held long polls 503 before it stops
/// listening; retrying turns that into the NETWORK failure it is (or a success when it
/// was only restarting).
fn is_transient(e: &Error) -> bool {
    matches!(
        e,
        Error::Network(_)
            | Error::Http {
                status: 502..=504,
                ..
            }
    )
}

/// Whether sending the GD message again may succeed: a 5xx, an HTML error page, text in
/// no GD format, or no answer at all. Not `-1` (GD refused this player: wrong
/// credentials, messages closed, bot blocked), not the CDN's rate-limit or ban answers
/// (`error code: 1005`, `1015`, HTTP 429), and not RobTop's `no`: repeating those only
/// makes them last.
fn upload_failure_is_transient(e: &GdError) -> bool {
    match e {
        GdError::Network(_)
        | GdError::Unavailable(_)
        | GdError::HtmlPage(_)
        | GdError::Malformed(_) => true,
        GdError::Rejected
        | GdError::CdnBlocked(_)
        | GdError::RateLimited(_)
        | GdError::Blacklisted => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn unreachable_client(deadline_ms: u64) -> Client {
        // Port 9 on loopback: nothing listens, connections are refused at once.
        Client::new("http://127.0.0.1:9")
            .and_then(|c| c.with_login_deadline(Duration::from_millis(deadline_ms)))
            .unwrap_or_else(|e| panic!("{e}"))
    }

    fn start(client: Client) -> Login {
        let id = AccountId::new(42).unwrap_or_else(|e| panic!("{e}"));
        let gjp2 = Gjp2::parse("x").unwrap_or_else(|e| panic!("{e}"));
        Login::start(client, id, gjp2).unwrap_or_else(|e| panic!("{e}"))
    }

    fn wait_end(login: &Login) -> Progress {
        let until = Instant::now() + Duration::from_secs(10);
        loop {
            match login.poll() {
                Progress::Running(_) if Instant::now() < until => {
                    std::thread::sleep(Duration::from_millis(5))
                }
                other => return other,
            }
        }
    }

    #[test]
    fn unreachable_server_fails_with_network() {
        let login = start(unreachable_client(60_000));
        assert!(matches!(
            wait_end(&login),
            Progress::Failed(Error::Network(_))
        ));
    }

    #[test]
    fn cancel_is_reported_at_once_and_sticks() {
        let login = start(unreachable_client(60_000));
        login.cancel();
        assert_eq!(login.poll(), Progress::Failed(Error::Cancelled));
        login.cancel();
        assert_eq!(login.poll(), Progress::Failed(Error::Cancelled));
    }

    #[cfg(feature = "server")]
    #[test]
    fn passed_deadline_is_timed_out() {
        use crate::server::{Config, ServerHandle};
        // The GD message goes to another server's emulator, so the bot of the server
        // asked never validates it and the login can only wait: nothing can end it
        // before the deadline, and the outcome must be TimedOut, nothing else.
        let start_server =
            || ServerHandle::start(Config::default()).unwrap_or_else(|e| panic!("{e}"));
        let (asked, elsewhere) = (start_server(), start_server());
        let client = Client::new(&asked.base_url())
            .and_then(|c| c.with_gd_url(&elsewhere.gd_url()))
            .and_then(|c| c.with_login_deadline(Duration::from_millis(500)))
            .unwrap_or_else(|e| panic!("{e}"));
        let login = start(client);
        let progress = wait_end(&login);
        assert!(
            matches!(progress, Progress::Failed(Error::TimedOut(_))),
            "{progress:?}"
        );
    }

    #[test]
    fn gateway_and_unavailable_answers_are_retried_like_network_errors() {
        let http = |status| Error::Http {
            status,
            message: String::new(),
        };
        assert!(is_transient(&Error::Network("refused".into())));
        assert!(is_transient(&http(503)));
        assert!(is_transient(&http(502)));
        assert!(!is_transient(&http(500)));
        assert!(!is_transient(&Error::NotFound("gone".into())));
    }

    #[test]
    fn upload_failures_are_retried_only_when_transient() {
        let answer = |status, body: &str| {
            let checked = crate::gd::check_response(status, body).map(str::to_string);
            checked.and_then(|text| {
                if text == "1" {
                    Ok(())
                } else {
                    Err(GdError::Malformed(format!("expected 1, got {text:?}")))
                }
            })
        };
        let transient = |status, body: &str| match answer(status, body) {
            Ok(()) => panic!("{status} {body:?} is not a failure"),
            Err(e) => upload_failure_is_transient(&e),
        };
        assert!(transient(500, "Internal Server Error"));
        assert!(transient(502, ""));
        assert!(transient(403, "<!DOCTYPE html><html>Access denied</html>"));
        assert!(transient(200, "1:::~garbage~:|#x:y"));
        assert!(upload_failure_is_transient(&GdError::Network(
            "timed out".into()
        )));
        assert!(!transient(200, "-1"));
        assert!(!transient(200, "error code: 1005"));
        assert!(!transient(403, "error code: 1020"));
        assert!(!transient(429, "error code: 1015"));
        assert!(!transient(200, "no"));
    }

    #[test]
    fn a_panicking_step_ends_the_login_at_once_with_an_internal_error() {
        let id = AccountId::new(42).unwrap_or_else(|e| panic!("{e}"));
        let gjp2 = Gjp2::parse("x").unwrap_or_else(|e| panic!("{e}"));
        let mut worker = Worker::new(unreachable_client(60_000), id, gjp2, Flow::LoginToken);
        worker.panic_at = Some(Stage::RequestingChallenge);
        let started = Instant::now();
        let login = Login::spawn(worker).unwrap_or_else(|e| panic!("{e}"));
        let progress = wait_end(&login);
        assert!(
            matches!(&progress, Progress::Failed(Error::Internal(m)) if m.contains("injected fault")),
            "{progress:?}"
        );
        assert!(
            started.elapsed() < Duration::from_secs(2),
            "{:?}",
            started.elapsed()
        );
    }
}
