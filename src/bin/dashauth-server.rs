//! `dashauth-server`: the reference DashAuth server, or with `emulator` its GD emulator
//! alone. Turns flags (each also readable from a `DASHAUTH_…` environment variable) into
//! a [`Config`], sets up logging and runs until SIGINT or SIGTERM. All behaviour lives
//! in `dashauth::server`; this file only parses.

use clap::error::ErrorKind;
use clap::{ArgAction, Args, CommandFactory, FromArgMatches, Parser, Subcommand, ValueEnum};
use dashauth::server::{self, BotAccount, Config, EmulatorConfig, GdFault, bots};
use std::ffi::{OsStr, OsString};
use std::fmt::Display;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::str::FromStr;
use std::time::Duration;
use tracing_subscriber::EnvFilter;

const ABOUT: &str = "The reference DashAuth server, with an embedded Geometry Dash emulator.";

const LONG_ABOUT: &str = "\
The reference DashAuth server, with an embedded Geometry Dash emulator.

Without --gd-url the server runs offline: it answers GD requests itself at
http://ADDR/database/*.php and its bot reads that inbox, so the whole login flow works
out of the box. With --gd-url it reads the inbox of a real GD bot account, or of a
shared emulator started with `dashauth-server emulator`.

Every option can also be set with the environment variable shown; the flag wins.
Switches take 1/true/yes/on or 0/false/no/off from the environment.";

const EMULATOR_ABOUT: &str =
    "Run only the GD emulator (protocol.md section 7), for servers to share";

const EMULATOR_LONG_ABOUT: &str = "\
Run only the GD emulator (protocol.md section 7): the GD message endpoints at
http://ADDR/database/*.php, without DashAuth routes or a bot, until SIGINT or SIGTERM.
Several servers can then share one emulated GD:

    dashauth-server --gd-url http://ADDR/database --bot-account-id N --bot-gjp2 X

The emulator creates a GD account on first sight of each (account id, gjp2) pair, so
any bot credentials work. Its GD accepts any account id with any gjp2: for tests and
demos only.";

#[derive(Debug, Parser)]
#[command(
    name = "dashauth-server",
    version,
    about = ABOUT,
    long_about = LONG_ABOUT,
    args_conflicts_with_subcommands = true,
    disable_help_subcommand = true,
    max_term_width = 100
)]
struct Cli {
    #[command(subcommand)]
    mode: Option<Mode>,
    #[command(flatten)]
    server: ServerArgs,
    #[command(flatten)]
    log: LogArgs,
}

#[derive(Debug, Subcommand)]
enum Mode {
    #[command(about = EMULATOR_ABOUT, long_about = EMULATOR_LONG_ABOUT)]
    Emulator(EmulatorArgs),
}

#[derive(Debug, Args)]
struct ServerArgs {
    /// Address to listen on; with the emulator only a loopback address, unless
    /// --allow-public-emulator
    #[arg(long, env = "DASHAUTH_LISTEN", value_name = "ADDR", default_value = "127.0.0.1:8787", value_parser = trimmed::<SocketAddr>)]
    listen: SocketAddr,

    #[command(flatten)]
    exposure: Exposure,

    /// GD database URL, e.g. https://www.boomlings.com/database; requires a bot:
    /// --bot-account-id and --bot-gjp2, --bot or --bots-file
    #[arg(long, env = "DASHAUTH_GD_URL", value_name = "URL")]
    gd_url: Option<String>,

    /// The bot's GD account id [default with the emulator: a built-in bot]
    #[arg(long, env = "DASHAUTH_BOT_ACCOUNT_ID", value_name = "N", value_parser = trimmed::<u32>)]
    bot_account_id: Option<u32>,

    /// The bot's gjp2; prefer the variable, flags show in `ps`
    #[arg(long, env = "DASHAUTH_BOT_GJP2", value_name = "HEX")]
    bot_gjp2: Option<String>,

    /// A bot account, repeatable (or ids separated by commas), its gjp2 in the variable
    /// DASHAUTH_BOT_GJP2_<ID>. New challenges go to the healthy bot with the fewest
    /// pending
    #[arg(long = "bot", env = "DASHAUTH_BOT", value_name = "ID", action = ArgAction::Append)]
    bots: Vec<String>,

    /// Bot accounts, lines `ID GJP2`; refused unless only its owner can read it
    /// (chmod 600)
    #[arg(long, env = "DASHAUTH_BOTS_FILE", value_name = "PATH")]
    bots_file: Option<PathBuf>,

    /// Message ids per delete request [default: a whole pass, as real GD allows; 10 for
    /// GMDprivateServer]
    #[arg(long, env = "DASHAUTH_GD_DELETE_BATCH", value_name = "N", value_parser = trimmed::<usize>)]
    gd_delete_batch: Option<usize>,

    /// Each bot's budget of GD requests, within which a pass reads a backlog's further
    /// pages [default: 1 with GD, 50 with the emulator]
    #[arg(long, env = "DASHAUTH_GD_REQUESTS_PER_SECOND", value_name = "F", value_parser = trimmed::<f64>)]
    gd_requests_per_second: Option<f64>,

    /// At most one inbox fetch per N ms [default: 2000 with GD, 100 with the emulator]
    #[arg(long, env = "DASHAUTH_POLL_INTERVAL_MS", value_name = "N", value_parser = trimmed::<u64>)]
    poll_interval_ms: Option<u64>,

    /// Lifetime of a challenge [default: 300]
    #[arg(long, env = "DASHAUTH_CHALLENGE_TTL_S", value_name = "N", value_parser = trimmed::<u64>)]
    challenge_ttl_s: Option<u64>,

    /// Lifetime of a login token [default: 2592000, 30 days]
    #[arg(long, env = "DASHAUTH_TOKEN_TTL_S", value_name = "N", value_parser = trimmed::<u64>)]
    token_ttl_s: Option<u64>,

    /// Lifetime of a device session token [default: 86400]
    #[arg(long, env = "DASHAUTH_SESSION_TTL_S", value_name = "N", value_parser = trimmed::<u64>)]
    session_ttl_s: Option<u64>,

    /// The server's public base URL, the `iss` of access tokens that mods' backends check
    /// (e.g. https://auth.example.com/api/v1) [default: http://LISTEN]
    #[arg(long, env = "DASHAUTH_PUBLIC_URL", value_name = "URL")]
    public_url: Option<String>,

    /// Lifetime of an access token (JWT) for third-party servers, at most 86400
    /// [default: 3600]
    #[arg(long, env = "DASHAUTH_ACCESS_TOKEN_TTL_S", value_name = "N", value_parser = trimmed::<u64>)]
    access_token_ttl_s: Option<u64>,

    /// Age in days at which the access-token signing key is replaced; retired keys stay
    /// published until their tokens expire [default: 30]
    #[arg(long, env = "DASHAUTH_SIGNING_KEY_ROTATE_DAYS", value_name = "N", value_parser = trimmed::<u64>)]
    signing_key_rotate_days: Option<u64>,

    /// A request's header must arrive within N s, or the connection is closed
    /// [default: 10]
    #[arg(long, env = "DASHAUTH_HEADER_READ_TIMEOUT_S", value_name = "N", value_parser = trimmed::<u64>)]
    header_read_timeout_s: Option<u64>,

    /// A keep-alive connection with no request in flight is closed after N s
    /// [default: 30]
    #[arg(long, env = "DASHAUTH_IDLE_TIMEOUT_S", value_name = "N", value_parser = trimmed::<u64>)]
    idle_timeout_s: Option<u64>,

    /// Connections one address (an IPv6 /64) may hold at once; 0 turns the cap off
    /// (behind a proxy every connection comes from the proxy) [default: 256]
    #[arg(long, env = "DASHAUTH_MAX_CONNECTIONS_PER_ADDRESS", value_name = "N", value_parser = trimmed::<usize>)]
    max_connections_per_address: Option<usize>,

    /// Default long-poll wait of challenge_complete, at most 10000 [default: 10000 with
    /// GD, 5000 with the emulator]
    #[arg(long, env = "DASHAUTH_COMPLETE_WAIT_MS", value_name = "N", value_parser = trimmed::<u64>)]
    complete_wait_ms: Option<u64>,

    /// Requests per minute per IP (an IPv6 /64), a third of it per account and address;
    /// 0 turns limits off [default: 30 with GD, 0 with the emulator]
    #[arg(long, env = "DASHAUTH_RATE_LIMIT_PER_MINUTE", value_name = "N", value_parser = trimmed::<u32>)]
    rate_limit_per_minute: Option<u32>,

    /// Challenges held at once; beyond it request_challenge answers 503 [default: 100000]
    #[arg(long, env = "DASHAUTH_MAX_PENDING_CHALLENGES", value_name = "N", value_parser = trimmed::<usize>)]
    max_pending_challenges: Option<usize>,

    /// Take the client IP from X-Forwarded-For; only behind a reverse proxy you run
    #[arg(long, env = "DASHAUTH_TRUST_FORWARDED_FOR", action = ArgAction::SetTrue, value_parser = switch)]
    trust_forwarded_for: bool,

    /// Directory of the server's durable state: the CA key and certificate, and the
    /// SQLite store unless --database-url
    #[arg(
        long,
        env = "DASHAUTH_DATA_DIR",
        value_name = "PATH",
        default_value = "./dashauth-data"
    )]
    data_dir: PathBuf,

    /// PostgreSQL store instead of SQLite in --data-dir, e.g.
    /// postgres://dashauth:PASSWORD@db/dashauth; prefer the variable, flags show in `ps`
    #[arg(long, env = "DASHAUTH_DATABASE_URL", value_name = "URL")]
    database_url: Option<String>,

    #[command(flatten)]
    faults: FaultArgs,

    /// Emulator only: which failures, of rejected, server_error, html_page, garbage,
    /// cdn_blocked (error code: 1005), cdn_rate_limited (error code: 1015), robtop_no
    /// [default: the first four]
    #[arg(long, env = "DASHAUTH_GD_FAULT_KINDS", value_name = "LIST", value_parser = fault_kinds)]
    gd_fault_kinds: Option<FaultKinds>,

    /// Emulator only: GD's sent-message limit; over it an upload answers -1
    /// [default: none]
    #[arg(long, env = "DASHAUTH_EMULATOR_OUTBOX_LIMIT", value_name = "N", value_parser = trimmed::<usize>)]
    emulator_outbox_limit: Option<usize>,

    /// Testing: pretend the server clock is N ms ahead (or behind, if negative)
    #[arg(long, env = "DASHAUTH_CLOCK_OFFSET_MS", value_name = "N", allow_negative_numbers = true, value_parser = trimmed::<i64>)]
    clock_offset_ms: Option<i64>,
}

#[derive(Debug, Args)]
struct EmulatorArgs {
    /// Address to listen on; only a loopback address, unless --allow-public-emulator
    #[arg(long, env = "DASHAUTH_LISTEN", value_name = "ADDR", default_value = "127.0.0.1:8788", value_parser = trimmed::<SocketAddr>)]
    listen: SocketAddr,

    #[command(flatten)]
    exposure: Exposure,

    #[command(flatten)]
    faults: FaultArgs,

    #[command(flatten)]
    log: LogArgs,
}

#[derive(Debug, Args)]
struct Exposure {
    /// Let the emulator listen on a non-loopback address. Its GD accepts any account id
    /// with any gjp2, so anyone who reaches it gets a token for any account: for tests
    /// on a trusted network only
    #[arg(long, env = "DASHAUTH_ALLOW_PUBLIC_EMULATOR", action = ArgAction::SetTrue, value_parser = switch)]
    allow_public_emulator: bool,
}

#[derive(Debug, Args)]
struct FaultArgs {
    /// Emulator only: share of GD requests that fail with -1, HTTP 500, an HTML page or
    /// garbage, 0..1 [default: 0]
    #[arg(long, env = "DASHAUTH_GD_FAULT_RATE", value_name = "F", value_parser = trimmed::<f64>)]
    gd_fault_rate: Option<f64>,

    /// Emulator only: delay added to every GD request [default: 0]
    #[arg(long, env = "DASHAUTH_GD_LATENCY_MS", value_name = "N", value_parser = trimmed::<u64>)]
    gd_latency_ms: Option<u64>,
}

impl FaultArgs {
    fn given(&self) -> bool {
        self.gd_fault_rate.is_some() || self.gd_latency_ms.is_some()
    }

    fn rate(&self) -> f64 {
        self.gd_fault_rate.unwrap_or(0.0)
    }

    fn latency(&self) -> Duration {
        Duration::from_millis(self.gd_latency_ms.unwrap_or(0))
    }
}

#[derive(Debug, Clone, Args)]
struct LogArgs {
    /// Log lines on stderr: human (time, level, message) or json (one object per line,
    /// for log shippers)
    #[arg(long, env = "DASHAUTH_LOG_FORMAT", value_name = "FORMAT", value_enum, ignore_case = true, default_value_t = LogFormat::Human)]
    log_format: LogFormat,

    /// Which events to log: a level (error, warn, info, debug) or tracing directives such
    /// as dashauth::server::bot=info [default: RUST_LOG if set, else info]
    #[arg(long, env = "DASHAUTH_LOG_LEVEL", value_name = "FILTER", value_parser = log_filter)]
    log_level: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum LogFormat {
    /// One line per event: time, level, message
    Human,
    /// One JSON object per event: timestamp, level, message, target
    Json,
}

/// A number or address with surrounding blanks forgiven (they creep into env files).
fn trimmed<T: FromStr>(value: &str) -> Result<T, String>
where
    T::Err: Display,
{
    value.trim().parse().map_err(|e| format!("{e}"))
}

/// The yes/no words the old hand-written parser took, and no others.
fn switch(value: &str) -> Result<bool, String> {
    match value.trim().to_ascii_lowercase().as_str() {
        "1" | "true" | "yes" | "on" => Ok(true),
        "0" | "false" | "no" | "off" => Ok(false),
        other => Err(format!(
            "{other:?} is not a yes/no value (1/true/yes/on or 0/false/no/off)"
        )),
    }
}

/// A filter is checked while parsing, so a typo is a usage error, not a silent log.
fn log_filter(value: &str) -> Result<String, String> {
    EnvFilter::builder()
        .parse(value)
        .map(|_| value.to_string())
        .map_err(|e| e.to_string())
}

/// What the command line asks for.
#[derive(Debug)]
enum Invocation {
    /// A DashAuth server, and notes to log once logging is set up.
    Server(Box<Config>, Vec<String>),
    /// The GD emulator alone.
    Emulator(EmulatorConfig),
}

/// The clap command, keeping an argument's environment variable only where `keep_env`
/// says so. An empty variable counts as unset, as with the old parser; env values never
/// show in `--help` (one of them is the bot's gjp2).
fn command(keep_env: &dyn Fn(&OsStr) -> bool) -> clap::Command {
    let filter = |arg: clap::Arg| {
        let arg = arg.hide_env_values(true);
        match arg.get_env() {
            Some(name) if !keep_env(name) => arg.env(None),
            _ => arg,
        }
    };
    Cli::command()
        .mut_args(filter)
        .mut_subcommand("emulator", |emulator| emulator.mut_args(filter))
}

fn parse(
    args: impl IntoIterator<Item = OsString>,
    keep_env: &dyn Fn(&OsStr) -> bool,
) -> Result<(Invocation, LogArgs), clap::Error> {
    let mut command = command(keep_env);
    let cli = command
        .try_get_matches_from_mut(args)
        .and_then(|matches| Cli::from_arg_matches(&matches))?;
    // Refusals after parsing still read like clap's, with the usage of the mode at fault.
    let usage = |command: &mut clap::Command, message: String| {
        command.error(ErrorKind::ValueValidation, message)
    };
    match cli.mode {
        Some(Mode::Emulator(args)) => {
            let config = emulator_config(&args).map_err(|message| {
                match command.find_subcommand_mut("emulator") {
                    Some(emulator) => usage(emulator, message),
                    None => usage(&mut command, message),
                }
            })?;
            Ok((Invocation::Emulator(config), args.log))
        }
        None => {
            let (config, notes) =
                server_config(cli.server).map_err(|message| usage(&mut command, message))?;
            Ok((Invocation::Server(Box::new(config), notes), cli.log))
        }
    }
}

/// The value of `--gd-fault-kinds`: one list (clap would take a bare `Vec` for a
/// repeatable flag).
#[derive(Debug, Clone)]
struct FaultKinds(Vec<GdFault>);

/// `--gd-fault-kinds`: a comma-separated list.
fn fault_kinds(value: &str) -> Result<FaultKinds, String> {
    GdFault::parse_list(value).map(FaultKinds)
}

/// The bots of `--bot` (gjp2s from `DASHAUTH_BOT_GJP2_<ID>`) and `--bots-file`.
fn listed_bots(args: &ServerArgs) -> Result<Vec<BotAccount>, String> {
    let mut bots = bots::config::from_ids(&args.bots, &|name| std::env::var(name).ok())?;
    if let Some(path) = &args.bots_file {
        bots.extend(bots::config::from_file(path)?);
    }
    Ok(bots)
}

/// The starting point: real-GD defaults with `--gd-url`, the emulator's otherwise.
fn base_config(args: &ServerArgs) -> Result<Config, String> {
    let mut bots = listed_bots(args)?;
    match (&args.gd_url, args.bot_account_id, &args.bot_gjp2) {
        (Some(url), id, gjp2) => {
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
        (None, id, gjp2) => {
            // The emulator's own bot, adjusted by whichever of the two flags is given.
            let mut config = Config::default();
            config.bot_account_id = id.unwrap_or(config.bot_account_id);
            if let Some(gjp2) = gjp2 {
                config.bot_gjp2.clone_from(gjp2);
            }
            config.extra_bots = bots;
            Ok(config)
        }
    }
}

fn server_config(args: ServerArgs) -> Result<(Config, Vec<String>), String> {
    let mut config = base_config(&args)?;
    let ms = |v: Option<u64>, default| v.map_or(default, Duration::from_millis);
    let secs = |v: Option<u64>, default| v.map_or(default, Duration::from_secs);
    config.listen = args.listen;
    config.poll_interval = ms(args.poll_interval_ms, config.poll_interval);
    config.complete_wait = ms(args.complete_wait_ms, config.complete_wait);
    config.challenge_ttl = secs(args.challenge_ttl_s, config.challenge_ttl);
    config.token_ttl = secs(args.token_ttl_s, config.token_ttl);
    config.session_ttl = secs(args.session_ttl_s, config.session_ttl);
    config.public_url = args.public_url;
    config.header_read_timeout = secs(args.header_read_timeout_s, config.header_read_timeout);
    config.idle_timeout = secs(args.idle_timeout_s, config.idle_timeout);
    config.max_connections_per_address = args
        .max_connections_per_address
        .unwrap_or(config.max_connections_per_address);
    config.access_token_ttl = secs(args.access_token_ttl_s, config.access_token_ttl);
    config.signing_key_rotate = args
        .signing_key_rotate_days
        .map_or(config.signing_key_rotate, |days| {
            Duration::from_secs(days.saturating_mul(24 * 3600))
        });
    config.gd_fault_rate = args.faults.rate();
    config.gd_latency = args.faults.latency();
    config.clock_offset_ms = args.clock_offset_ms.unwrap_or(0);
    config.data_dir = Some(args.data_dir);
    config.database_url = args.database_url;
    config.trust_forwarded_for = args.trust_forwarded_for;
    config.rate_limit_per_minute = args
        .rate_limit_per_minute
        .unwrap_or(config.rate_limit_per_minute);
    config.limits.challenges = args
        .max_pending_challenges
        .unwrap_or(config.limits.challenges);
    config.gd_delete_batch = args.gd_delete_batch;
    config.gd_requests_per_second = args
        .gd_requests_per_second
        .unwrap_or(config.gd_requests_per_second);
    if let Some(FaultKinds(kinds)) = args.gd_fault_kinds {
        config.gd_fault_kinds = kinds;
    }
    config.emulator_outbox_limit = args.emulator_outbox_limit;
    config.validate().map_err(|e| e.to_string())?;
    if config.gd_url.is_none() {
        check_emulator_exposure(config.listen, args.exposure.allow_public_emulator, true)?;
    }
    let mut notes = Vec::new();
    if config.gd_url.is_some() && args.faults.given() {
        notes.push("--gd-fault-rate and --gd-latency-ms only affect the emulator".into());
    }
    Ok((config, notes))
}

fn emulator_config(args: &EmulatorArgs) -> Result<EmulatorConfig, String> {
    let config = EmulatorConfig {
        listen: args.listen,
        gd_fault_rate: args.faults.rate(),
        gd_latency: args.faults.latency(),
        ..EmulatorConfig::default()
    };
    config.validate().map_err(|e| e.to_string())?;
    check_emulator_exposure(config.listen, args.exposure.allow_public_emulator, false)?;
    Ok(config)
}

/// Refuses the emulator on a non-loopback address unless the operator insists: its GD
/// creates any account on first sight, so its tokens prove nothing to the world.
/// `real_gd` tells the server's refusal from the emulator's: only the server can be
/// pointed at real GD instead.
fn check_emulator_exposure(listen: SocketAddr, allowed: bool, real_gd: bool) -> Result<(), String> {
    if allowed || listen.ip().to_canonical().is_loopback() {
        return Ok(());
    }
    let gd_url = if real_gd {
        "use --gd-url for real GD, "
    } else {
        ""
    };
    Err(format!(
        "refusing to run the GD emulator on {listen}: it accepts any account id with any \
         gjp2, so anyone who can reach it could get a token for any account. Listen on a \
         loopback address (127.0.0.1, [::1]), {gd_url}or pass --allow-public-emulator if \
         this is a trusted test network"
    ))
}

/// Installs the process-wide subscriber: the binary's job, never the library's.
/// Writes that fail (stderr closed) are dropped silently: reporting them would mean
/// writing to stderr again, and a log line must never stop the server.
fn init_logging(args: &LogArgs) {
    let rust_log = std::env::var("RUST_LOG")
        .ok()
        .filter(|v| !v.trim().is_empty());
    // --log-level was checked while parsing; RUST_LOG was not, so a bad one falls back.
    let directives = args.log_level.clone().or(rust_log).unwrap_or("info".into());
    let (filter, bad_filter) = match EnvFilter::builder().parse(&directives) {
        Ok(filter) => (filter, None),
        Err(e) => (EnvFilter::new("info"), Some(e)),
    };
    let builder = tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_env_filter(filter)
        .log_internal_errors(false);
    let installed = match args.log_format {
        LogFormat::Human => builder.with_target(false).try_init(),
        LogFormat::Json => builder
            .json()
            .flatten_event(true)
            .with_current_span(false)
            .with_span_list(false)
            .try_init(),
    };
    if let Err(e) = installed {
        eprintln!("dashauth-server: logging is off: {e}");
    }
    if let Some(e) = bad_filter {
        tracing::warn!("RUST_LOG {directives:?} is not a log filter ({e}); logging at info");
    }
}

fn main() -> ExitCode {
    // An empty variable is as good as unset; a set one is kept, and one that is not
    // set still shows its name in --help.
    let keep_env = |name: &OsStr| std::env::var_os(name).is_none_or(|v| !v.is_empty());
    let (invocation, log) = match parse(std::env::args_os(), &keep_env) {
        Ok(parsed) => parsed,
        // Help and version exit 0, usage errors 2, each with clap's own message.
        Err(e) => e.exit(),
    };
    init_logging(&log);
    let result = match invocation {
        Invocation::Server(config, notes) => {
            for note in notes {
                tracing::warn!("note: {note}");
            }
            server::run(*config)
        }
        Invocation::Emulator(config) => server::run_emulator(config),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!("dashauth-server: {e}");
            ExitCode::FAILURE
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Parses `args` as the command line, with no environment at all: the environment
    /// is tested on the real binary (tests/server_cli.rs).
    fn parse_args(args: &[&str]) -> Result<Invocation, clap::Error> {
        let argv = std::iter::once("dashauth-server")
            .chain(args.iter().copied())
            .map(OsString::from);
        parse(argv, &|_| false).map(|(invocation, _)| invocation)
    }

    fn run_config(args: &[&str]) -> Result<Config, String> {
        match parse_args(args).map_err(|e| e.to_string())? {
            Invocation::Server(config, _) => Ok(*config),
            Invocation::Emulator(_) => Err("emulator".into()),
        }
    }

    fn emulator(args: &[&str]) -> Result<EmulatorConfig, String> {
        let args: Vec<&str> = std::iter::once("emulator")
            .chain(args.iter().copied())
            .collect();
        match parse_args(&args).map_err(|e| e.to_string())? {
            Invocation::Emulator(config) => Ok(config),
            Invocation::Server(..) => Err("server".into()),
        }
    }

    #[test]
    fn defaults_to_the_emulator_on_port_8787_with_data_in_dashauth_data() {
        let config = run_config(&[]).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(config.listen.to_string(), "127.0.0.1:8787");
        assert_eq!(config.gd_url, None);
        assert_eq!(config.rate_limit_per_minute, 0);
        assert_eq!(config.bot_account_id, server::EMULATOR_BOT_ACCOUNT_ID);
        assert_eq!(config.data_dir, Some(PathBuf::from("./dashauth-data")));
        assert_eq!(config.database_url, None);
    }

    #[test]
    fn gd_url_brings_real_gd_defaults_and_needs_credentials() {
        let gd = [
            "--gd-url",
            "https://gd.example/database",
            "--bot-account-id",
            " 123 ",
            "--bot-gjp2",
            "abc",
        ];
        let config = run_config(&gd).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(config.poll_interval, Duration::from_millis(2000));
        assert_eq!(config.rate_limit_per_minute, 30);
        assert_eq!(config.bot_account_id, 123);
        let missing = run_config(&gd[..4]);
        assert!(
            missing.as_ref().is_err_and(|e| e.contains("--bot-gjp2")),
            "{missing:?}"
        );
    }

    #[test]
    fn every_setting_reaches_the_config() {
        let config = run_config(&[
            "--poll-interval-ms=250",
            "--listen",
            "127.0.0.1:0",
            "--challenge-ttl-s",
            "7",
            "--token-ttl-s",
            "8",
            "--session-ttl-s",
            "9",
            "--complete-wait-ms",
            "1500",
            "--max-pending-challenges",
            "500000",
            "--rate-limit-per-minute",
            "12",
            "--trust-forwarded-for",
            "--data-dir",
            "/var/lib/dashauth",
            "--database-url",
            "postgres://dashauth@db/dashauth",
            "--gd-fault-rate",
            "0.25",
            "--gd-latency-ms",
            "40",
            "--clock-offset-ms",
            "-5000",
            "--public-url",
            "https://auth.example.com/api",
            "--access-token-ttl-s",
            "600",
            "--signing-key-rotate-days",
            "7",
        ])
        .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            config.public_url.as_deref(),
            Some("https://auth.example.com/api")
        );
        assert_eq!(config.access_token_ttl, Duration::from_secs(600));
        assert_eq!(
            config.signing_key_rotate,
            Duration::from_secs(7 * 24 * 3600)
        );
        assert_eq!(config.poll_interval, Duration::from_millis(250));
        assert_eq!(config.listen.port(), 0);
        assert_eq!(config.challenge_ttl, Duration::from_secs(7));
        assert_eq!(config.token_ttl, Duration::from_secs(8));
        assert_eq!(config.session_ttl, Duration::from_secs(9));
        assert_eq!(config.complete_wait, Duration::from_millis(1500));
        assert_eq!(config.limits.challenges, 500_000);
        assert_eq!(config.rate_limit_per_minute, 12);
        assert!(config.trust_forwarded_for);
        assert_eq!(config.data_dir, Some(PathBuf::from("/var/lib/dashauth")));
        assert_eq!(
            config.database_url.as_deref(),
            Some("postgres://dashauth@db/dashauth")
        );
        assert_eq!(config.gd_fault_rate, 0.25);
        assert_eq!(config.gd_latency, Duration::from_millis(40));
        assert_eq!(config.clock_offset_ms, -5000);
    }

    #[test]
    fn emulator_on_a_public_address_needs_an_explicit_allowance() {
        let refused = run_config(&["--listen", "0.0.0.0:8787"]);
        assert!(
            refused
                .as_ref()
                .is_err_and(|e| e.contains("--allow-public-emulator")),
            "{:?}",
            refused.map(|c| c.listen)
        );
        assert!(run_config(&["--listen", "[::ffff:10.0.0.1]:1"]).is_err());
        for loopback in ["127.0.0.1:1", "[::1]:1", "[::ffff:127.0.0.1]:1"] {
            assert!(run_config(&["--listen", loopback]).is_ok(), "{loopback}");
        }
        let allowed = ["--listen", "0.0.0.0:1", "--allow-public-emulator"];
        assert!(run_config(&allowed).is_ok());
        let gd = [
            "--listen",
            "0.0.0.0:1",
            "--gd-url",
            "https://gd.example/database",
            "--bot-account-id",
            "123",
            "--bot-gjp2",
            "abc",
        ];
        assert!(run_config(&gd).is_ok(), "real GD");
    }

    #[test]
    fn the_emulator_alone_has_its_own_port_and_the_same_exposure_rule() {
        let config = emulator(&[]).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(config.listen.to_string(), "127.0.0.1:8788");
        let config = emulator(&["--listen", "127.0.0.1:0", "--gd-fault-rate", "0.5"])
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!((config.listen.port(), config.gd_fault_rate), (0, 0.5));
        let refused = emulator(&["--listen", "0.0.0.0:1"]);
        assert!(
            refused
                .as_ref()
                .is_err_and(|e| e.contains("--allow-public-emulator")),
            "{refused:?}"
        );
        assert!(emulator(&["--listen", "0.0.0.0:1", "--allow-public-emulator"]).is_ok());
        assert!(emulator(&["--gd-latency-ms", "60001"]).is_err());
        assert!(emulator(&["--gd-url", "https://gd.example/database"]).is_err());
        // Server flags belong before no subcommand: mixing them is a usage error.
        assert!(run_config(&["--poll-interval-ms", "5", "emulator"]).is_err());
    }

    #[test]
    fn bad_values_are_refused() {
        assert!(run_config(&["--poll-interval-ms", "soon"]).is_err());
        assert!(run_config(&["--gd-fault-rate", "2"]).is_err());
        assert!(run_config(&["--token-ttl-s", "18446744073709551615"]).is_err());
        assert!(run_config(&["--poll-interval-ms", "3600001"]).is_err());
        assert!(run_config(&["--frobnicate"]).is_err());
        assert!(run_config(&["--listen"]).is_err());
        assert!(run_config(&["--trust-forwarded-for=maybe"]).is_err());
        assert!(run_config(&["--max-pending-challenges", "0"]).is_err());
        assert!(run_config(&["--database-url", "mysql://db/dashauth"]).is_err());
        assert!(run_config(&["--log-format", "xml"]).is_err());
        assert!(run_config(&["--log-level", "info,=[["]).is_err());
        let help = parse_args(&["--help"]).map(|_| ()).map_err(|e| e.kind());
        assert_eq!(help, Err(ErrorKind::DisplayHelp));
    }

    #[test]
    fn switches_take_the_yes_no_words() {
        for yes in ["1", "true", "YES", " on "] {
            assert_eq!(switch(yes), Ok(true), "{yes}");
        }
        for no in ["0", "False", "no", "off"] {
            assert_eq!(switch(no), Ok(false), "{no}");
        }
        assert!(switch("maybe").is_err());
    }

    #[test]
    fn log_flags_belong_to_the_server_or_follow_the_emulator_subcommand() {
        let (_, log) = parse(
            [
                "dashauth-server",
                "--log-format",
                "JSON",
                "--log-level",
                "debug",
            ]
            .map(OsString::from),
            &|_| false,
        )
        .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(log.log_format, LogFormat::Json);
        assert_eq!(log.log_level.as_deref(), Some("debug"));
        let (invocation, log) = parse(
            ["dashauth-server", "emulator", "--log-format", "json"].map(OsString::from),
            &|_| false,
        )
        .unwrap_or_else(|e| panic!("{e}"));
        assert!(matches!(invocation, Invocation::Emulator(_)));
        assert_eq!(log.log_format, LogFormat::Json);
        let before = ["dashauth-server", "--log-format", "json", "emulator"].map(OsString::from);
        assert!(parse(before, &|_| false).is_err());
    }

    #[cfg(unix)]
    #[test]
    fn several_bots_come_from_a_private_bots_file() {
        use std::os::unix::fs::PermissionsExt;
        let path = std::env::temp_dir().join(format!("dashauth-bots-{}", std::process::id()));
        std::fs::write(&path, "11 eleven\n12 twelve\n").unwrap_or_else(|e| panic!("{e}"));
        let set_mode = |mode| {
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode))
                .unwrap_or_else(|e| panic!("{e}"))
        };
        set_mode(0o600);
        let file = path.display().to_string();
        let args = [
            "--gd-url",
            "https://gd.example/database",
            "--bots-file",
            &file,
            "--gd-delete-batch",
            "10",
        ];
        let config = run_config(&args).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            (config.bot_account_id, config.bot_gjp2.as_str()),
            (11, "eleven")
        );
        assert_eq!(config.extra_bots.len(), 1);
        assert_eq!(config.extra_bots[0].account_id, 12);
        assert_eq!(config.gd_delete_batch, Some(10));
        assert_eq!(config.complete_wait, Duration::from_secs(10));
        set_mode(0o644);
        let refused = run_config(&args).err().unwrap_or_default();
        assert!(refused.contains("chmod 600"), "{refused}");
        let _ = std::fs::remove_file(&path);
        assert!(run_config(&["--gd-url", "https://gd.example/database"]).is_err());
    }

    #[test]
    fn emulator_fault_kinds_and_outbox_limit_are_parsed() {
        let config = run_config(&[
            "--gd-fault-kinds",
            "cdn_blocked,robtop_no",
            "--emulator-outbox-limit=3",
        ])
        .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            config.gd_fault_kinds,
            vec![GdFault::CdnBlocked, GdFault::RobtopNo]
        );
        assert_eq!(config.emulator_outbox_limit, Some(3));
        assert!(run_config(&["--gd-fault-kinds", "teapot"]).is_err());
        assert!(run_config(&["--gd-requests-per-second", "0"]).is_err());
    }
}
