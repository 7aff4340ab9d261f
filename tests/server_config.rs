//! `Config::validate`: what the server refuses to start with. Zero durations would spin
//! or expire at once; huge ones would overflow the clock arithmetic that adds them.

use dashauth::server::{Config, MAX_POLL_INTERVAL, MAX_TTL};
use std::time::Duration;

#[track_caller]
fn refused(tweak: impl FnOnce(&mut Config), why: &str) {
    let mut config = Config::default();
    tweak(&mut config);
    let error = config.validate().err();
    assert!(
        error.as_ref().is_some_and(|e| e.to_string().contains(why)),
        "expected a refusal mentioning {why:?}, got {error:?}"
    );
}

#[test]
fn defaults_and_the_largest_allowed_values_are_accepted() {
    assert!(Config::default().validate().is_ok());
    let config = Config {
        challenge_ttl: MAX_TTL,
        token_ttl: MAX_TTL,
        session_ttl: MAX_TTL,
        certificate_validity: MAX_TTL,
        poll_interval: MAX_POLL_INTERVAL,
        gd_latency: Duration::from_secs(60),
        gd_fault_rate: 1.0,
        clock_offset_ms: -(MAX_TTL.as_millis() as i64),
        ..Config::default()
    };
    assert!(config.validate().is_ok(), "{:?}", config.validate());
}

#[test]
fn durations_beyond_their_caps_are_refused() {
    let too_long = MAX_TTL + Duration::from_secs(1);
    refused(|c| c.challenge_ttl = too_long, "challenge TTL");
    refused(|c| c.token_ttl = Duration::MAX, "token TTL");
    refused(|c| c.session_ttl = too_long, "session TTL");
    refused(
        |c| c.certificate_validity = too_long,
        "certificate validity",
    );
    refused(
        |c| c.poll_interval = Duration::from_secs(3601),
        "poll interval",
    );
    refused(|c| c.gd_latency = Duration::from_secs(61), "latency");
    refused(|c| c.gd_timeout = Duration::MAX, "GD timeout");
    refused(|c| c.clock_offset_ms = i64::MIN, "clock offset");
}

#[test]
fn zero_durations_bad_rates_and_zero_caps_are_refused() {
    refused(|c| c.poll_interval = Duration::ZERO, "poll interval");
    refused(|c| c.token_ttl = Duration::ZERO, "token TTL");
    refused(|c| c.gd_fault_rate = 1.5, "fault rate");
    refused(|c| c.gd_fault_rate = f64::NAN, "fault rate");
    refused(|c| c.gd_fault_rate = -0.1, "fault rate");
    refused(|c| c.limits.devices_per_account = 0, "devices per account");
    refused(
        |c| c.header_read_timeout = Duration::ZERO,
        "header-read timeout",
    );
    refused(|c| c.idle_timeout = Duration::ZERO, "idle timeout");
    refused(
        |c| c.idle_timeout = Duration::from_secs(3601),
        "idle timeout",
    );
}

#[test]
fn the_default_config_keeps_its_state_in_memory() {
    let config = Config::default();
    assert_eq!(config.data_dir, None);
    assert_eq!(config.database_url, None);
}

#[test]
fn only_postgres_database_urls_are_accepted_and_never_quoted_back() {
    for url in [
        "postgres://db/dashauth",
        "postgresql://dashauth:pw@db:5432/dashauth",
    ] {
        let config = Config {
            database_url: Some(url.into()),
            ..Config::default()
        };
        assert!(config.validate().is_ok(), "{url}: {:?}", config.validate());
    }
    let config = Config {
        database_url: Some("mysql://dashauth:hunter2@db/dashauth".into()),
        ..Config::default()
    };
    let error = config.validate().err().map(|e| e.to_string());
    assert!(
        error
            .as_ref()
            .is_some_and(|e| e.contains("postgres://") && !e.contains("hunter2")),
        "{error:?}"
    );
}

#[test]
fn access_token_settings_are_checked() {
    refused(
        |c| c.access_token_ttl = Duration::from_secs(86_401),
        "access token TTL",
    );
    refused(
        |c| c.access_token_ttl = Duration::from_millis(500),
        "access token TTL",
    );
    refused(
        |c| c.signing_key_rotate = Duration::ZERO,
        "signing key rotation",
    );
    refused(
        |c| c.public_url = Some("auth.example.com".into()),
        "public URL",
    );
    refused(|c| c.public_url = Some("https://a b".into()), "public URL");
    let config = Config {
        access_token_ttl: Duration::from_secs(86_400),
        public_url: Some("https://auth.example.com/api/v1".into()),
        ..Config::default()
    };
    assert!(config.validate().is_ok(), "{:?}", config.validate());
}
