//! The calling thread's last error message (`dashauth_last_error_message`).
//!
//! Clearing writes a NUL in place instead of freeing, and a replaced buffer is kept for
//! one more failure, so a pointer a caller still holds keeps pointing at valid memory
//! even when it uses it one call too late.

use std::cell::RefCell;
use std::ffi::c_char;

struct LastError {
    /// Always NUL-terminated, never empty.
    current: Vec<u8>,
    retired: Vec<u8>,
}

thread_local! {
    static LAST_ERROR: RefCell<LastError> = RefCell::new(LastError {
        current: vec![0],
        retired: Vec::new(),
    });
}

/// Empties the message (after a successful call).
pub(crate) fn clear_last_error() {
    // try_with: during thread teardown the slot may be gone; nothing to clear then.
    let _ = LAST_ERROR.try_with(|slot| {
        let mut slot = slot.borrow_mut();
        slot.current.clear();
        slot.current.push(0);
    });
}

/// Records the message of a failed call. NUL bytes inside become spaces.
pub(crate) fn set_last_error(message: &str) {
    let mut bytes: Vec<u8> = message
        .bytes()
        .map(|b| if b == 0 { b' ' } else { b })
        .collect();
    bytes.push(0);
    let _ = LAST_ERROR.try_with(|slot| {
        let mut slot = slot.borrow_mut();
        let old = std::mem::replace(&mut slot.current, bytes);
        slot.retired = old;
    });
}

/// The message as a C string owned by this thread's slot.
pub(crate) fn last_error_ptr() -> *const c_char {
    LAST_ERROR
        .try_with(|slot| slot.borrow().current.as_ptr().cast::<c_char>())
        .unwrap_or(c"".as_ptr())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::ffi::CStr;

    fn read() -> String {
        // SAFETY: the slot is NUL-terminated and not modified while we read.
        unsafe { CStr::from_ptr(last_error_ptr()) }
            .to_string_lossy()
            .into_owned()
    }

    #[test]
    fn set_then_clear() {
        set_last_error("boom\0x");
        assert_eq!(read(), "boom x");
        let held = last_error_ptr();
        clear_last_error();
        assert_eq!(read(), "");
        // The pointer taken before clearing now reads as empty, not freed memory.
        assert_eq!(held, last_error_ptr());
    }
}
