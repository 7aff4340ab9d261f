//! The library's login against a GD that fails 30 % of requests: transient failures of
//! the player's message upload are retried inside the login's deadline, and GD's `-1`
//! (a refusal that repeating cannot fix) is not: it is diagnosed and reported.

use dashauth::client::{Client, Gjp2};
use dashauth::error::Error;
use dashauth::login::{Login, Progress};
use dashauth::protocol::AccountId;
use dashauth::server::{Config, GdFault, ServerHandle};
use std::time::{Duration, Instant};

const LOGINS: u32 = 40;
/// Logins at once; the rest wait their turn, so the test does not measure contention.
const BATCH: u32 = 10;

fn server() -> ServerHandle {
    ServerHandle::start(Config {
        poll_interval: Duration::from_millis(50),
        gd_fault_rate: 0.3,
        ..Config::default()
    })
    .unwrap_or_else(|e| panic!("{e}"))
}

/// Runs [`LOGINS`] logins of fresh accounts from `first` and returns their outcomes.
fn logins(server: &ServerHandle, first: u32) -> Vec<Result<(), Error>> {
    let client = Client::new(&server.base_url())
        .and_then(|c| c.with_gd_url(&server.gd_url()))
        .unwrap_or_else(|e| panic!("{e}"));
    let mut outcomes = Vec::new();
    for batch in (0..LOGINS).step_by(BATCH as usize) {
        let running: Vec<Login> = (batch..batch + BATCH)
            .map(|i| {
                let account = first + i;
                let id = AccountId::new(account).unwrap_or_else(|e| panic!("{e}"));
                let gjp2 =
                    Gjp2::parse(&format!("{account:040x}")).unwrap_or_else(|e| panic!("{e}"));
                Login::start(client.clone(), id, gjp2).unwrap_or_else(|e| panic!("{e}"))
            })
            .collect();
        for login in &running {
            outcomes.push(wait(login));
        }
    }
    outcomes
}

fn wait(login: &Login) -> Result<(), Error> {
    // The login's own deadline (60 s) ends it; this only guards against a hang.
    let guard = Instant::now() + Duration::from_secs(120);
    loop {
        match login.poll() {
            Progress::Running(_) if Instant::now() < guard => {
                std::thread::sleep(Duration::from_millis(10))
            }
            Progress::Running(stage) => panic!("login stuck at {stage:?}"),
            Progress::Done(_) => return Ok(()),
            Progress::Failed(e) => return Err(e),
        }
    }
}

#[test]
fn logins_finish_despite_30_percent_transient_gd_faults() {
    let server = server();
    server.set_gd_fault_kinds(&[GdFault::ServerError, GdFault::HtmlPage, GdFault::Garbage]);
    let outcomes = logins(&server, 8100);
    let failures: Vec<_> = outcomes.iter().filter_map(|o| o.as_ref().err()).collect();
    assert!(
        failures.len() <= 1,
        "{} of {LOGINS} failed: {failures:?}",
        failures.len()
    );
    assert!(
        server.metrics().emulator_faults >= 3,
        "faults were injected: {:?}",
        server.metrics()
    );
}

#[test]
fn only_gd_refusals_end_a_login_under_faults() {
    // With `-1` among the faults, a login whose upload draws it is not retried: it is
    // diagnosed and fails. The diagnosis' own requests draw faults too: a `-1` to the
    // outbox reads as bad credentials, one to the bot's profile (of a fresh player with
    // an empty outbox) as the bot refusing messages, and any other fault leaves the
    // refusal unexplained. Every other fault of the upload is retried, so nothing else
    // fails.
    let server = server();
    let outcomes = logins(&server, 8200);
    for outcome in &outcomes {
        assert!(
            matches!(
                outcome,
                Ok(())
                    | Err(Error::GdRejected(_)
                        | Error::GdBadCredentials(_)
                        | Error::GdMessagesRefused(_))
            ),
            "{outcome:?}"
        );
    }
    let done = outcomes.iter().filter(|o| o.is_ok()).count();
    assert!(done >= 20, "only {done} of {LOGINS} finished: {outcomes:?}");
}
