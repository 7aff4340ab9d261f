//! No thread exists while no login runs: the worker ends with its login. Alone in its
//! own test binary, so no other test's login can be running meanwhile.

mod ffi_common;

use dashauth::ffi::login::*;
use ffi_common::*;
use std::ptr;
use std::time::{Duration, Instant};

#[cfg(target_os = "linux")]
fn login_threads() -> usize {
    std::fs::read_dir("/proc/self/task")
        .expect("tasks")
        .filter_map(|t| std::fs::read_to_string(t.ok()?.path().join("comm")).ok())
        .filter(|name| name.trim() == "dashauth-login")
        .count()
}

#[cfg(target_os = "linux")]
#[test]
fn worker_thread_exists_only_while_a_login_runs() {
    // GD latency keeps the login running long enough to see its thread.
    let server = server_with(dashauth::server::Config {
        gd_latency: Duration::from_millis(200),
        ..Default::default()
    });
    let client = Client::for_server(&server);
    assert_eq!(login_threads(), 0);
    let mut login = ptr::null_mut();
    // SAFETY: valid pointers.
    expect(
        unsafe {
            dashauth_login_start(client.ptr(), 4001, cs(&gjp2_of(4001)).as_ptr(), &mut login)
        },
        S::Ok,
    );
    // The new thread names itself as it starts: give it a moment.
    let until = Instant::now() + Duration::from_secs(2);
    while login_threads() == 0 && Instant::now() < until {
        std::thread::sleep(Duration::from_millis(1));
    }
    // At least the worker (ureq's short-lived DNS threads inherit its name).
    assert!(login_threads() >= 1);
    let until = Instant::now() + Duration::from_secs(30);
    loop {
        let mut stage = dashauth_login_stage::Failed;
        let mut token = ptr::null_mut();
        // SAFETY: valid pointers.
        match unsafe { dashauth_login_poll(login, &mut stage, &mut token) } {
            S::Pending => assert!(Instant::now() < until),
            S::Ok => {
                take(token);
                break;
            }
            other => panic!("{other:?}: {}", last_error()),
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    // The worker reports the end just before it returns; give it a moment to exit.
    let until = Instant::now() + Duration::from_secs(2);
    while login_threads() > 0 && Instant::now() < until {
        std::thread::sleep(Duration::from_millis(5));
    }
    assert_eq!(login_threads(), 0);
    // SAFETY: owned, freed once.
    unsafe { dashauth_login_free(login) };

    // A cancelled login's worker ends soon after, even mid long poll.
    let mut login = ptr::null_mut();
    // SAFETY: valid pointers.
    expect(
        unsafe { dashauth_login_start(client.ptr(), 4001, cs("wrong").as_ptr(), &mut login) },
        S::Ok,
    );
    // SAFETY: owned, freed once (cancels).
    unsafe { dashauth_login_free(login) };
    let until = Instant::now() + Duration::from_secs(5);
    while login_threads() > 0 && Instant::now() < until {
        std::thread::sleep(Duration::from_millis(10));
    }
    assert_eq!(login_threads(), 0);
}
