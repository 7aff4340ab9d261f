//! `dashauth-server`: the reference DashAuth server. Turns flags (each also readable from
//! a `DASHAUTH_…` environment variable) into a [`Config`] and runs it until SIGINT or
//! SIGTERM. All behaviour lives in `dashauth::server`; this file only parses.

use dashauth::server::{self, BotAccount, Config, GdFault, bots};
use std::collections::HashMap;
use std::net::SocketAddr;
use std::process::ExitCode;
use std::str::FromStr;
use std::time::Duration;

const HELP: &str = "\
dashauth-server: the reference DashAuth server, with an embedded Geometry Dash emulator.

USAGE:
    dashauth-server [OPTIONS]

Without --gd-url the server runs offline: it answers GD requests itself at
http://ADDR/database/*.php and its bot reads that inbox, so the whole login flow works
out of the box. With --gd-url it reads the inbox of a real GD bot account.

Every option can also be set with the environment variable shown; the flag wins.

OPTIONS:
    --listen ADDR                 Address to listen on [default: 127.0.0.1:8787]; with
                                  the emulator only a loopback address, unless
                                  --allow-public-emulator (DASHAUTH_LISTEN)
    --allow-public-emulator       Let the emulator listen on a non-loopback address.
                                  Its GD accepts any account id with any gjp2, so
                                  anyone who reaches it gets a token for any account:
                                  for tests on a trusted network only
                                  (DASHAUTH_ALLOW_PUBLIC_EMULATOR=1)
    --gd-url URL                  GD database URL, e.g. https://www.boomlings.com/database;
                                  requires --bot-account-id and --bot-gjp2
                                  (DASHAUTH_GD_URL)
    --bot-account-id N            The bot's GD account id [default with the emulator:
                                  a built-in bot] (DASHAUTH_BOT_ACCOUNT_ID)
    --bot-gjp2 HEX                The bot's gjp2; prefer the variable, flags show in `ps`
                                  (DASHAUTH_BOT_GJP2)
    --bot ID                      A bot account, repeatable (or IDs separated by commas);
                                  its gjp2 in DASHAUTH_BOT_GJP2_<ID>. New challenges go
                                  to the healthy bot with the fewest pending (DASHAUTH_BOT)
    --bots-file PATH              Bot accounts, lines `ID GJP2`; refused unless only its
                                  owner can read it (chmod 600) (DASHAUTH_BOTS_FILE)
    --gd-delete-batch N           Message ids per delete request [default: a whole page,
                                  as real GD allows; 10 for GMDprivateServer]
                                  (DASHAUTH_GD_DELETE_BATCH)
    --gd-requests-per-second F    Each bot's budget of GD requests, within which a pass
                                  reads a backlog's further pages [default: 1 with GD,
                                  50 with the emulator] (DASHAUTH_GD_REQUESTS_PER_SECOND)
    --poll-interval-ms N          At most one inbox fetch per N ms [default: 2000 with
                                  GD, 100 with the emulator] (DASHAUTH_POLL_INTERVAL_MS)
    --challenge-ttl-s N           Lifetime of a challenge [default: 300]
                                  (DASHAUTH_CHALLENGE_TTL_S)
    --token-ttl-s N               Lifetime of a login token [default: 2592000, 30 days]
                                  (DASHAUTH_TOKEN_TTL_S)
    --session-ttl-s N             Lifetime of a device session token [default: 86400]
                                  (DASHAUTH_SESSION_TTL_S)
    --complete-wait-ms N          Default long-poll wait of challenge_complete, at most
                                  10000 [default: 10000 with GD, 5000 with the emulator]
                                  (DASHAUTH_COMPLETE_WAIT_MS)
    --rate-limit-per-minute N     Requests per minute per IP (an IPv6 /64), a third of
                                  it per account and address; 0 turns limits off
                                  [default: 30 with GD, 0 with the emulator]
                                  (DASHAUTH_RATE_LIMIT_PER_MINUTE)
    --max-pending-challenges N    Challenges held at once; beyond it request_challenge
                                  answers 503 [default: 100000]
                                  (DASHAUTH_MAX_PENDING_CHALLENGES)
    --trust-forwarded-for         Take the client IP from X-Forwarded-For; only behind
                                  a reverse proxy you run (DASHAUTH_TRUST_FORWARDED_FOR=1)
    --data-dir PATH               Where the CA key and certificate persist [default:
                                  none, a new CA each start] (DASHAUTH_DATA_DIR)
    --gd-fault-rate F             Emulator only: share of GD requests that fail with -1,
                                  HTTP 500, an HTML page or garbage, 0..1 [default: 0]
                                  (DASHAUTH_GD_FAULT_RATE)
    --gd-fault-kinds LIST         Emulator only: which failures, of rejected,
                                  server_error, html_page, garbage, cdn_blocked (error
                                  code: 1005), cdn_rate_limited (error code: 1015),
                                  robtop_no [default: the first four]
                                  (DASHAUTH_GD_FAULT_KINDS)
    --gd-latency-ms N             Emulator only: delay added to every GD request
                                  [default: 0] (DASHAUTH_GD_LATENCY_MS)
    --emulator-outbox-limit N     Emulator only: GD's sent-message limit; over it an
                                  upload answers -1 [default: none]
                                  (DASHAUTH_EMULATOR_OUTBOX_LIMIT)
    --clock-offset-ms N           Testing: pretend the server clock is N ms ahead (or
                                  behind, if negative) (DASHAUTH_CLOCK_OFFSET_MS)
    -h, --help                    Print this help
";

/// Flags that take a value.
const VALUE_FLAGS: [&str; 21] = [
    "listen",
    "gd-url",
    "bot-account-id",
    "bot-gjp2",
    "poll-interval-ms",
    "challenge-ttl-s",
    "token-ttl-s",
    "session-ttl-s",
    "complete-wait-ms",
    "rate-limit-per-minute",
    "max-pending-challenges",
    "data-dir",
    "gd-fault-rate",
    "gd-latency-ms",
    "clock-offset-ms",
    "bot",
    "bots-file",
    "gd-delete-batch",
    "gd-requests-per-second",
    "gd-fault-kinds",
    "emulator-outbox-limit",
];
/// Value flags that may be repeated; their values are kept comma-separated.
const REPEATABLE: [&str; 1] = ["bot"];
/// Flags that are on or off.
const SWITCHES: [&str; 2] = ["trust-forwarded-for", "allow-public-emulator"];
const DEFAULT_LISTEN: &str = "127.0.0.1:8787";

enum Command {
    Help,
    Run(Box<Config>, Vec<String>),
}

fn env_name(flag: &str) -> String {
    format!("DASHAUTH_{}", flag.to_ascii_uppercase().replace('-', "_"))
}

/// Flag values: from the environment first, then the command line over them.
fn collect(
    args: &[String],
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<Option<HashMap<&'static str, String>>, String> {
    let mut values = HashMap::new();
    for flag in VALUE_FLAGS.iter().chain(&SWITCHES) {
        if let Some(v) = env(&env_name(flag)).filter(|v| !v.is_empty()) {
            values.insert(*flag, v);
        }
    }
    let mut from_args = std::collections::HashSet::new();
    let mut args = args.iter();
    while let Some(arg) = args.next() {
        if arg == "-h" || arg == "--help" {
            return Ok(None);
        }
        let body = arg
            .strip_prefix("--")
            .ok_or_else(|| format!("unexpected argument {arg:?}"))?;
        let (name, inline) = match body.split_once('=') {
            Some((n, v)) => (n, Some(v.to_string())),
            None => (body, None),
        };
        if let Some(flag) = SWITCHES.iter().find(|f| **f == name) {
            values.insert(*flag, inline.unwrap_or_else(|| "1".into()));
        } else if let Some(flag) = VALUE_FLAGS.iter().find(|f| **f == name) {
            let value = match inline {
                Some(v) => v,
                None => args
                    .next()
                    .cloned()
                    .ok_or_else(|| format!("--{name} needs a value"))?,
            };
            match values.get_mut(flag) {
                Some(earlier) if REPEATABLE.contains(flag) && from_args.contains(flag) => {
                    earlier.push(',');
                    earlier.push_str(&value);
                }
                _ => {
                    values.insert(*flag, value);
                }
            }
            from_args.insert(*flag);
        } else {
            return Err(format!("unknown option --{name} (see --help)"));
        }
    }
    Ok(Some(values))
}

fn parse_value<T: FromStr>(values: &HashMap<&str, String>, flag: &str) -> Result<Option<T>, String>
where
    T::Err: std::fmt::Display,
{
    values
        .get(flag)
        .map(|v| v.trim().parse().map_err(|e| format!("--{flag} {v:?}: {e}")))
        .transpose()
}

fn parse_switch(values: &HashMap<&str, String>, flag: &str) -> Result<bool, String> {
    match values
        .get(flag)
        .map(|v| v.trim().to_ascii_lowercase())
        .as_deref()
    {
        None | Some("0" | "false" | "no" | "off") => Ok(false),
        Some("1" | "true" | "yes" | "on") => Ok(true),
        Some(other) => Err(format!("--{flag}: {other:?} is not a yes/no value")),
    }
}

/// The bots of `--bot` and `--bots-file`.
fn listed_bots(
    values: &HashMap<&str, String>,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<Vec<BotAccount>, String> {
    let mut bots = Vec::new();
    if let Some(ids) = values.get("bot") {
        bots.extend(bots::config::from_ids(std::slice::from_ref(ids), env)?);
    }
    if let Some(path) = values.get("bots-file") {
        bots.extend(bots::config::from_file(std::path::Path::new(path))?);
    }
    Ok(bots)
}

fn base_config(
    values: &HashMap<&str, String>,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<Config, String> {
    let id: Option<u32> = parse_value(values, "bot-account-id")?;
    let gjp2 = values.get("bot-gjp2");
    let mut bots = listed_bots(values, env)?;
    match values.get("gd-url") {
        Some(url) => {
            match (id, gjp2) {
                (Some(id), Some(gjp2)) => bots.insert(0, BotAccount::new(id, gjp2)?),
                (None, None) => {}
                _ => return Err("--bot-account-id and --bot-gjp2 go together".into()),
            }
            Config::for_gd_bots(url, &bots).map_err(|_| {
                "--gd-url needs a bot: --bot-account-id and --bot-gjp2, --bot or --bots-file"
                    .to_string()
            })
        }
        None => {
            // The emulator's own bot, adjusted by whichever of the two flags is given.
            let mut config = Config::default();
            if let Some(id) = id {
                config.bot_account_id = id;
            }
            if let Some(gjp2) = gjp2 {
                config.bot_gjp2 = gjp2.clone();
            }
            config.extra_bots = std::mem::take(&mut bots);
            Ok(config)
        }
    }
}

fn build(
    values: &HashMap<&str, String>,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<(Config, Vec<String>), String> {
    let mut config = base_config(values, env)?;
    let ms = |flag| parse_value::<u64>(values, flag).map(|v| v.map(Duration::from_millis));
    let secs = |flag| parse_value::<u64>(values, flag).map(|v| v.map(Duration::from_secs));
    let listen = values.get("listen").map_or(DEFAULT_LISTEN, String::as_str);
    config.listen =
        SocketAddr::from_str(listen.trim()).map_err(|e| format!("--listen {listen:?}: {e}"))?;
    config.poll_interval = ms("poll-interval-ms")?.unwrap_or(config.poll_interval);
    config.complete_wait = ms("complete-wait-ms")?.unwrap_or(config.complete_wait);
    config.gd_latency = ms("gd-latency-ms")?.unwrap_or(config.gd_latency);
    config.challenge_ttl = secs("challenge-ttl-s")?.unwrap_or(config.challenge_ttl);
    config.token_ttl = secs("token-ttl-s")?.unwrap_or(config.token_ttl);
    config.session_ttl = secs("session-ttl-s")?.unwrap_or(config.session_ttl);
    config.gd_fault_rate = parse_value(values, "gd-fault-rate")?.unwrap_or(0.0);
    config.clock_offset_ms = parse_value(values, "clock-offset-ms")?.unwrap_or(0);
    config.data_dir = values.get("data-dir").map(Into::into);
    config.trust_forwarded_for = parse_switch(values, "trust-forwarded-for")?;
    if let Some(n) = parse_value(values, "rate-limit-per-minute")? {
        config.rate_limit_per_minute = n;
    }
    if let Some(n) = parse_value(values, "max-pending-challenges")? {
        config.limits.challenges = n;
    }
    config.gd_delete_batch = parse_value(values, "gd-delete-batch")?;
    if let Some(rate) = parse_value(values, "gd-requests-per-second")? {
        config.gd_requests_per_second = rate;
    }
    if let Some(kinds) = values.get("gd-fault-kinds") {
        config.gd_fault_kinds =
            GdFault::parse_list(kinds).map_err(|e| format!("--gd-fault-kinds: {e}"))?;
    }
    config.emulator_outbox_limit = parse_value(values, "emulator-outbox-limit")?;
    config.validate().map_err(|e| e.to_string())?;
    check_emulator_exposure(&config, parse_switch(values, "allow-public-emulator")?)?;
    let mut notes = Vec::new();
    if config.gd_url.is_some()
        && (values.contains_key("gd-fault-rate") || values.contains_key("gd-latency-ms"))
    {
        notes.push("--gd-fault-rate and --gd-latency-ms only affect the emulator".into());
    }
    Ok((config, notes))
}

/// Refuses the emulator on a non-loopback address unless the operator insists: its GD
/// creates any account on first sight, so its tokens prove nothing to the world.
fn check_emulator_exposure(config: &Config, allowed: bool) -> Result<(), String> {
    if config.gd_url.is_some() || allowed || config.listen.ip().to_canonical().is_loopback() {
        return Ok(());
    }
    Err(format!(
        "refusing to run the embedded GD emulator on {}: it accepts any account id with \
         any gjp2, so anyone who can reach it could get a token for any account. Listen on \
         a loopback address (127.0.0.1, [::1]), use --gd-url for real GD, or pass \
         --allow-public-emulator if this is a trusted test network",
        config.listen
    ))
}

fn parse(args: &[String], env: &dyn Fn(&str) -> Option<String>) -> Result<Command, String> {
    match collect(args, env)? {
        None => Ok(Command::Help),
        Some(values) => {
            build(&values, env).map(|(config, notes)| Command::Run(Box::new(config), notes))
        }
    }
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match parse(&args, &|name| std::env::var(name).ok()) {
        Ok(Command::Help) => {
            print!("{HELP}");
            ExitCode::SUCCESS
        }
        Ok(Command::Run(config, notes)) => {
            for note in notes {
                eprintln!("note: {note}");
            }
            match server::run(*config) {
                Ok(()) => ExitCode::SUCCESS,
                Err(e) => {
                    eprintln!("dashauth-server: {e}");
                    ExitCode::FAILURE
                }
            }
        }
        Err(e) => {
            eprintln!("dashauth-server: {e}");
            ExitCode::from(2)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run_config(args: &[&str], env: &[(&str, &str)]) -> Result<Config, String> {
        let args: Vec<String> = args.iter().map(|a| a.to_string()).collect();
        let env: HashMap<String, String> = env
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        match parse(&args, &|name| env.get(name).cloned())? {
            Command::Run(config, _) => Ok(*config),
            Command::Help => Err("help".into()),
        }
    }

    #[test]
    fn defaults_to_the_emulator_on_port_8787() {
        let config = run_config(&[], &[]).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(config.listen.to_string(), "127.0.0.1:8787");
        assert_eq!(config.gd_url, None);
        assert_eq!(config.rate_limit_per_minute, 0);
        assert_eq!(config.bot_account_id, server::EMULATOR_BOT_ACCOUNT_ID);
    }

    #[test]
    fn gd_url_brings_real_gd_defaults_and_needs_credentials() {
        let env = [
            ("DASHAUTH_GD_URL", "https://gd.example/database"),
            ("DASHAUTH_BOT_ACCOUNT_ID", "123"),
            ("DASHAUTH_BOT_GJP2", "abc"),
        ];
        let config = run_config(&[], &env).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(config.poll_interval, Duration::from_millis(2000));
        assert_eq!(config.rate_limit_per_minute, 30);
        assert_eq!(config.bot_account_id, 123);
        assert!(run_config(&["--gd-url", "https://gd.example/database"], &[]).is_err());
    }

    #[test]
    fn flags_override_environment() {
        let config = run_config(
            &["--poll-interval-ms=250", "--listen", "127.0.0.1:0"],
            &[
                ("DASHAUTH_POLL_INTERVAL_MS", "900"),
                ("DASHAUTH_CHALLENGE_TTL_S", "7"),
                ("DASHAUTH_MAX_PENDING_CHALLENGES", "500000"),
            ],
        )
        .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(config.poll_interval, Duration::from_millis(250));
        assert_eq!(config.challenge_ttl, Duration::from_secs(7));
        assert_eq!(config.limits.challenges, 500_000);
        assert_eq!(config.listen.port(), 0);
    }

    #[test]
    fn emulator_on_a_public_address_needs_an_explicit_allowance() {
        let refused = run_config(&["--listen", "0.0.0.0:8787"], &[]);
        assert!(
            refused
                .as_ref()
                .is_err_and(|e| e.contains("--allow-public-emulator")),
            "{:?}",
            refused.map(|c| c.listen)
        );
        assert!(run_config(&["--listen", "[::ffff:10.0.0.1]:1"], &[]).is_err());
        for loopback in ["127.0.0.1:1", "[::1]:1", "[::ffff:127.0.0.1]:1"] {
            assert!(
                run_config(&["--listen", loopback], &[]).is_ok(),
                "{loopback}"
            );
        }
        let allowed = ["--listen", "0.0.0.0:1", "--allow-public-emulator"];
        assert!(run_config(&allowed, &[]).is_ok());
        let env = [("DASHAUTH_ALLOW_PUBLIC_EMULATOR", "1")];
        assert!(run_config(&["--listen", "0.0.0.0:1"], &env).is_ok());
        let gd = [
            ("DASHAUTH_GD_URL", "https://gd.example/database"),
            ("DASHAUTH_BOT_ACCOUNT_ID", "123"),
            ("DASHAUTH_BOT_GJP2", "abc"),
        ];
        assert!(
            run_config(&["--listen", "0.0.0.0:1"], &gd).is_ok(),
            "real GD"
        );
    }

    #[test]
    fn several_bots_take_their_gjp2_from_the_environment() {
        let env = [
            ("DASHAUTH_GD_URL", "https://gd.example/database"),
            ("DASHAUTH_BOT_GJP2_11", "eleven"),
            ("DASHAUTH_BOT_GJP2_12", "twelve"),
        ];
        let config = run_config(
            &["--bot", "11", "--bot=12", "--gd-delete-batch", "10"],
            &env,
        )
        .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(config.bot_account_id, 11);
        assert_eq!(config.bot_gjp2, "eleven");
        assert_eq!(config.extra_bots.len(), 1);
        assert_eq!(config.extra_bots[0].account_id, 12);
        assert_eq!(config.gd_delete_batch, Some(10));
        assert_eq!(config.complete_wait, Duration::from_secs(10));
        assert_eq!(config.gd_requests_per_second, 1.0);
        assert!(
            run_config(&["--bot", "13"], &env).is_err(),
            "no gjp2 for 13"
        );
        assert!(run_config(&["--bot", "11", "--bot", "11"], &env).is_err());
    }

    #[test]
    fn emulator_fault_kinds_and_outbox_limit_are_parsed() {
        let config = run_config(
            &[
                "--gd-fault-kinds",
                "cdn_blocked,robtop_no",
                "--emulator-outbox-limit=3",
            ],
            &[],
        )
        .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            config.gd_fault_kinds,
            vec![GdFault::CdnBlocked, GdFault::RobtopNo]
        );
        assert_eq!(config.emulator_outbox_limit, Some(3));
        assert!(run_config(&["--gd-fault-kinds", "teapot"], &[]).is_err());
        assert!(run_config(&["--gd-requests-per-second", "0"], &[]).is_err());
    }

    #[test]
    fn bad_values_are_refused() {
        assert!(run_config(&["--poll-interval-ms", "soon"], &[]).is_err());
        assert!(run_config(&["--gd-fault-rate", "2"], &[]).is_err());
        assert!(run_config(&["--token-ttl-s", "18446744073709551615"], &[]).is_err());
        assert!(run_config(&["--poll-interval-ms", "3600001"], &[]).is_err());
        assert!(run_config(&["--frobnicate"], &[]).is_err());
        assert!(run_config(&["--listen"], &[]).is_err());
        assert!(run_config(&["--trust-forwarded-for=maybe"], &[]).is_err());
        assert!(run_config(&["--max-pending-challenges", "0"], &[]).is_err());
        assert_eq!(run_config(&["--help"], &[]).err().as_deref(), Some("help"));
    }
}
