//! The GD emulator on its own (`EmulatorHandle`, what `dashauth-server emulator` runs):
//! several servers read one emulated GD through their GD URL, as they would read GD.

mod server_support;

use dashauth::server::{Config, EmulatorConfig, EmulatorHandle, Limits};
use server_support::{Api, Player, login};
use std::time::Duration;

fn start_emulator(config: EmulatorConfig) -> EmulatorHandle {
    EmulatorHandle::start(config).unwrap_or_else(|e| panic!("emulator did not start: {e}"))
}

#[test]
fn two_servers_log_players_in_through_one_standalone_emulator() {
    let emulator = start_emulator(EmulatorConfig::default());
    assert_eq!(
        emulator.gd_url(),
        format!("http://{}/database", emulator.addr())
    );
    let servers: Vec<_> = [9601, 9602]
        .into_iter()
        .map(|bot| {
            server_support::start_server(|c| {
                *c = Config {
                    poll_interval: Duration::from_millis(50),
                    ..Config::for_gd(&emulator.gd_url(), bot, &format!("bot-{bot}"))
                };
            })
        })
        .collect();
    for (n, server) in servers.iter().enumerate() {
        assert_eq!(server.gd_url(), emulator.gd_url());
        let player = Player::new(server, 9700 + n as u32);
        let token = login(&Api::new(server), server, &player);
        let whoami = Api::new(server)
            .get("whoami", Some(&server_support::bearer(&token)))
            .expect(200);
        assert_eq!(whoami.data["account_id"], 9700 + n as u64);
        // The server itself answers no GD request: the emulator counted them all.
        assert_eq!(server.emulator_request_count(), 0);
    }
    assert!(
        emulator.request_count() >= 4,
        "{}",
        emulator.request_count()
    );
    drop(servers);
    emulator.shutdown();
}

#[test]
fn a_standalone_emulator_refuses_settings_it_cannot_run_with() {
    let refused = |config: EmulatorConfig, why: &str| {
        let error = EmulatorHandle::start(config).err();
        assert!(
            error.as_ref().is_some_and(|e| e.to_string().contains(why)),
            "expected a refusal mentioning {why:?}, got {error:?}"
        );
    };
    refused(
        EmulatorConfig {
            gd_fault_rate: 1.5,
            ..EmulatorConfig::default()
        },
        "fault rate",
    );
    refused(
        EmulatorConfig {
            gd_latency: Duration::from_secs(61),
            ..EmulatorConfig::default()
        },
        "latency",
    );
    refused(
        EmulatorConfig {
            limits: Limits {
                emulator_accounts: 0,
                ..Limits::default()
            },
            ..EmulatorConfig::default()
        },
        "emulator accounts",
    );
}
