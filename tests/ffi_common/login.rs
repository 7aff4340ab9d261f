//! `dashauth_login` through the C API: started, polled every few ms like a game's
//! frames, cancelled, freed.

use super::*;
use dashauth::ffi::login::*;
use std::ptr;
use std::time::{Duration, Instant};

/// An owned `dashauth_login *`.
pub struct Login(pub *mut dashauth_login);

impl Login {
    /// dashauth_login_start, which must return OK.
    pub fn start(client: &Client, account_id: u32, gjp2: &str) -> Login {
        let mut login = ptr::null_mut();
        // SAFETY: valid pointers.
        let status = unsafe {
            dashauth_login_start(client.ptr(), account_id, cs(gjp2).as_ptr(), &mut login)
        };
        expect(status, S::Ok);
        assert!(!login.is_null());
        Login(login)
    }

    /// dashauth_auth_start, which must return OK.
    pub fn authenticate(client: &Client, account_id: u32, gjp2: &str, audience: &str) -> Login {
        let mut login = ptr::null_mut();
        // SAFETY: valid pointers.
        let status = unsafe {
            dashauth_auth_start(
                client.ptr(),
                account_id,
                cs(gjp2).as_ptr(),
                cs(audience).as_ptr(),
                &mut login,
            )
        };
        expect(status, S::Ok);
        assert!(!login.is_null());
        Login(login)
    }

    /// dashauth_login_eta_ms.
    pub fn eta_ms(&self) -> i64 {
        let mut eta = I64_SENTINEL;
        // SAFETY: valid pointers.
        expect(unsafe { dashauth_login_eta_ms(self.0, &mut eta) }, S::Ok);
        eta
    }

    /// One poll: (status, stage, token if OK, how long the call took).
    pub fn poll(
        &self,
    ) -> (
        dashauth_status,
        dashauth_login_stage,
        Option<String>,
        Duration,
    ) {
        let mut stage = dashauth_login_stage::Failed;
        let mut token = ptr::null_mut();
        let started = Instant::now();
        // SAFETY: valid pointers.
        let status = unsafe { dashauth_login_poll(self.0, &mut stage, &mut token) };
        let took = started.elapsed();
        let token = (status == S::Ok).then(|| take(token));
        (status, stage, token, took)
    }

    /// Polls every 5 ms until the login ends: (status, stages seen, token, slowest poll).
    pub fn finish(
        &self,
        limit: Duration,
    ) -> (
        dashauth_status,
        Vec<dashauth_login_stage>,
        Option<String>,
        Duration,
    ) {
        let until = Instant::now() + limit;
        let mut stages = Vec::new();
        let mut slowest = Duration::ZERO;
        loop {
            let (status, stage, token, took) = self.poll();
            slowest = slowest.max(took);
            if stages.last() != Some(&stage) {
                stages.push(stage);
            }
            if status != S::Pending {
                return (status, stages, token, slowest);
            }
            assert!(
                Instant::now() < until,
                "login still running; stages {stages:?}"
            );
            std::thread::sleep(Duration::from_millis(5));
        }
    }

    pub fn cancel(&self) {
        // SAFETY: a live login.
        unsafe { dashauth_login_cancel(self.0) }
    }
}

impl Drop for Login {
    fn drop(&mut self) {
        // SAFETY: owned, freed once.
        unsafe { dashauth_login_free(self.0) }
    }
}
