//! Durable state with SQLite (protocol.md section 8): what a server answered holds after
//! `kill -9` and a restart on the same data directory; the data directory's files are
//! private; a database this server cannot use stops the start with its reason.
//!
//! The GD emulator runs in this test process (a [`ServerHandle`]), so messages sent to
//! the bot survive the server process being killed, as they would on GD.

mod server_support;

use dashauth::http::{Http, Method};
use dashauth::server::{Config, ServerHandle};
use server_support::process::{Options, Remote, ServerProcess, run_to_exit};
use server_support::*;
use std::path::{Path, PathBuf};
use std::time::Duration;

const BOT: (u32, &str) = (2_000_000_001, "b07b07b07b07b07b07b07b07b07b07b07b07b07b");

/// A directory under the target dir, fresh for each test.
fn scratch(name: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR"))
        .join("server_durable")
        .join(name);
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(dir.parent().unwrap_or(&dir)).unwrap_or_else(|e| panic!("{e}"));
    dir
}

/// An emulated GD that outlives the server processes, with the bot's account created.
fn gd() -> ServerHandle {
    let gd = start_server(|_| {});
    Player::with_gjp2(&gd, BOT.0, BOT.1).create_gd_account();
    gd
}

fn start(gd: &ServerHandle, data_dir: &Path) -> ServerProcess {
    ServerProcess::start(&Options {
        data_dir: Some(data_dir),
        database_url: None,
        gd_url: &gd.gd_url(),
        bot: BOT,
        poll_interval_ms: 50,
    })
}

#[test]
fn kill_9_and_a_restart_lose_nothing_the_server_answered() {
    let gd = gd();
    let dir = scratch("kill9");
    let server = start(&gd, &dir);
    let api = Remote::of(&server, BOT.0);

    let token = api.login(&gd, 3001);
    let revoked_token = api.login(&gd, 3002);
    assert_eq!(
        api.status(Method::Post, "token/revoke", &bearer(&revoked_token)),
        200
    );
    let key = device_key();
    let (status, json) = api.enroll(&gd, 3001, &key);
    assert_eq!(status, 200, "{json}");
    let device = json["data"]["device_id"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    let used_nonce = nonce(&device, &key, key.next_nonce_timestamp());
    let (status, session) = api.call(Method::Post, "client/auth/session", Some(&used_nonce), None);
    assert_eq!(status, 200, "{session}");
    let session = session["data"]["session_token"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    let other_key = device_key();
    let (_, other) = api.enroll(&gd, 3001, &other_key);
    let other = other["data"]["device_id"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    assert_eq!(
        api.status(
            Method::Delete,
            &format!("client/devices/{other}"),
            &bearer(&token)
        ),
        200
    );
    let (pending_id, pending_code) = api.challenge(3003);

    server.kill();
    let server = start(&gd, &dir);
    let api = Remote::of(&server, BOT.0);

    assert_eq!(
        api.status(Method::Get, "whoami", &bearer(&token)),
        200,
        "login token"
    );
    assert_eq!(
        api.status(Method::Get, "whoami", &bearer(&session)),
        200,
        "session token"
    );
    assert_eq!(
        api.status(Method::Get, "whoami", &bearer(&revoked_token)),
        401,
        "revoked stays revoked"
    );
    let fresh = nonce(&device, &key, key.next_nonce_timestamp());
    assert_eq!(
        api.status(Method::Get, "client/me", &fresh),
        200,
        "the device still signs in"
    );
    let (status, replay) = api.call(Method::Get, "client/me", Some(&used_nonce), None);
    assert_eq!(status, 401);
    assert!(
        replay["message"]
            .as_str()
            .unwrap_or_default()
            .starts_with("replayed_nonce"),
        "{replay}"
    );
    let revoked = nonce(&other, &other_key, other_key.next_nonce_timestamp());
    let (status, refused) = api.call(Method::Get, "client/me", Some(&revoked), None);
    assert_eq!(status, 401);
    assert!(
        refused["message"]
            .as_str()
            .unwrap_or_default()
            .starts_with("revoked_device"),
        "{refused}"
    );
    // The login that was waiting for its GD message when the server died completes.
    Player::new(&gd, 3003).send_until_accepted(BOT.0, &format!("auth-{pending_code}"));
    let late = api.wait_for_token(&pending_id);
    assert_eq!(api.status(Method::Get, "whoami", &bearer(&late)), 200);
}

#[cfg(unix)]
#[test]
fn the_data_dir_is_private_whatever_the_umask() {
    use std::os::unix::fs::PermissionsExt;
    let dir = scratch("private");
    let server = start_server(|c| c.data_dir = Some(dir.clone()));
    let mode = |p: &Path| {
        std::fs::metadata(p)
            .map(|m| m.permissions().mode() & 0o777)
            .unwrap_or(0)
    };
    assert_eq!(mode(&dir), 0o700);
    let db = dir.join("dashauth.sqlite3");
    assert_eq!(mode(&db), 0o600);
    // Let the first write create the WAL file, then check it too.
    let api = Api::new(&server);
    api.challenge(4001);
    assert_eq!(mode(&dir.join("dashauth.sqlite3-wal")), 0o600);
    server.shutdown();

    std::fs::set_permissions(&db, std::fs::Permissions::from_mode(0o644))
        .unwrap_or_else(|e| panic!("{e}"));
    let refused = ServerHandle::start(Config {
        data_dir: Some(dir.clone()),
        ..Config::default()
    });
    let message = refused
        .map(|_| ())
        .err()
        .map(|e| e.to_string())
        .unwrap_or_default();
    assert!(message.contains("chmod 600"), "{message}");
}

#[test]
fn a_second_server_on_the_same_data_dir_is_refused() {
    let dir = scratch("locked");
    let _first = start_server(|c| c.data_dir = Some(dir.clone()));
    let second = ServerHandle::start(Config {
        data_dir: Some(dir.clone()),
        ..Config::default()
    });
    let message = second
        .map(|_| ())
        .err()
        .map(|e| e.to_string())
        .unwrap_or_default();
    assert!(message.contains("in use by another"), "{message}");
}

#[test]
fn a_corrupt_database_stops_the_start_with_its_reason_and_is_left_alone() {
    let dir = scratch("corrupt");
    std::fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("{e}"));
    let db = dir.join("dashauth.sqlite3");
    let garbage = b"this is not an SQLite database, just bytes".repeat(200);
    std::fs::write(&db, &garbage).unwrap_or_else(|e| panic!("{e}"));
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let private = std::fs::Permissions::from_mode(0o600);
        std::fs::set_permissions(&db, private).unwrap_or_else(|e| panic!("{e}"));
    }
    let dir_arg = dir.display().to_string();
    let (code, stderr) = run_to_exit(&["--listen", "127.0.0.1:0", "--data-dir", &dir_arg]);
    assert_eq!(code, Some(1), "{stderr}");
    assert!(
        stderr.contains("corrupt") && stderr.contains("dashauth.sqlite3"),
        "{stderr}"
    );
    assert_eq!(
        std::fs::read(&db).unwrap_or_default(),
        garbage,
        "nothing was overwritten"
    );
}

#[test]
fn a_database_from_a_newer_server_is_refused_untouched() {
    let dir = scratch("newer");
    start_server(|c| c.data_dir = Some(dir.clone())).shutdown();
    // What a newer server would have left: a migration this one does not know.
    let db = dir.join("dashauth.sqlite3");
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap_or_else(|e| panic!("{e}"));
    runtime.block_on(async {
        use sqlx::Connection;
        let mut conn = sqlx::SqliteConnection::connect(&format!("sqlite://{}", db.display()))
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        sqlx::query(
            "INSERT INTO _sqlx_migrations (version, description, success, checksum, \
             execution_time) VALUES (999, 'from the future', 1, x'00', 0)",
        )
        .execute(&mut conn)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    });
    let refused = ServerHandle::start(Config {
        data_dir: Some(dir.clone()),
        ..Config::default()
    });
    let message = refused
        .map(|_| ())
        .err()
        .map(|e| e.to_string())
        .unwrap_or_default();
    assert!(
        message.contains("newer") && message.contains("999"),
        "{message}"
    );
}

#[test]
fn an_unreachable_postgres_at_start_is_a_clear_error() {
    let (code, stderr) = run_to_exit(&[
        "--listen",
        "127.0.0.1:0",
        "--database-url",
        "postgres://dashauth@127.0.0.1:1/dashauth",
    ]);
    assert_eq!(code, Some(1), "{stderr}");
    assert!(
        stderr.contains("cannot connect to the PostgreSQL database"),
        "{stderr}"
    );
}

#[test]
fn health_and_readiness_answer_bare() {
    let server = start_server(|_| {});
    let http = Http::new(Duration::from_secs(5));
    for (route, body) in [("healthz", "ok"), ("readyz", "ready")] {
        let reply = http
            .send(
                Method::Get,
                &format!("{}/{route}", server.base_url()),
                None,
                None,
            )
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!((reply.status, reply.body.as_str()), (200, body));
    }
}
