//! Raising the descriptor soft limit to the hard limit: every connection is a
//! descriptor, and distributions often start services with a soft limit of 1024 (or
//! 256) under a hard limit far above it.

/// Raises `RLIMIT_NOFILE`'s soft limit to its hard limit; returns the limit now in
/// force, or `None` where it cannot be read (not Unix, or the call failed).
pub fn raise_fd_limit() -> Option<u64> {
    imp::raise()
}

#[cfg(unix)]
mod imp {
    pub fn raise() -> Option<u64> {
        let mut limit = libc::rlimit {
            rlim_cur: 0,
            rlim_max: 0,
        };
        // SAFETY: getrlimit writes one rlimit through a valid pointer to a local.
        if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) } != 0 {
            return None;
        }
        if limit.rlim_cur < limit.rlim_max {
            let raised = libc::rlimit {
                rlim_cur: limit.rlim_max,
                rlim_max: limit.rlim_max,
            };
            // SAFETY: setrlimit reads one rlimit through a valid pointer to a local.
            if unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &raised) } == 0 {
                limit = raised;
            }
        }
        #[allow(clippy::useless_conversion)] // rlim_t is u64 on Linux, not everywhere
        Some(u64::from(limit.rlim_cur))
    }
}

#[cfg(not(unix))]
mod imp {
    pub fn raise() -> Option<u64> {
        None
    }
}

#[cfg(all(test, unix))]
mod tests {
    #[test]
    fn soft_limit_ends_at_the_hard_limit() {
        let now = super::raise_fd_limit();
        let mut limit = libc::rlimit {
            rlim_cur: 0,
            rlim_max: 0,
        };
        // SAFETY: as above.
        assert_eq!(
            unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) },
            0
        );
        assert_eq!(limit.rlim_cur, limit.rlim_max);
        assert_eq!(now, Some(limit.rlim_cur));
    }
}
