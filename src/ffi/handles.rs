//! Typed handle pointers, after rustls-ffi's `Castable`: each opaque C type names the
//! Rust type behind it, so a pointer can only be read as, and freed as, what it is.
//! Every handle is a `Box` made by [`to_boxed_mut_ptr`] and released by [`free_box`].

use super::status::Failure;

/// An opaque C type whose pointers are `Box<Self::RustType>`.
pub(crate) trait BoxCastable {
    /// What the pointer really points to.
    type RustType;
}

/// Moves `value` to the heap and hands it to C.
pub(crate) fn to_boxed_mut_ptr<C: BoxCastable>(value: C::RustType) -> *mut C {
    Box::into_raw(Box::new(value)).cast()
}

/// Borrows the value behind a handle.
///
/// # Safety
/// `ptr` is NULL or a live pointer from [`to_boxed_mut_ptr`] for `C`, not mutated
/// elsewhere during `'a`.
pub(crate) unsafe fn try_ref<'a, C: BoxCastable>(
    ptr: *const C,
    name: &'static str,
) -> Result<&'a C::RustType, Failure> {
    // SAFETY: by the contract, a non-NULL ptr is a live Box<C::RustType>.
    unsafe { ptr.cast::<C::RustType>().as_ref() }.ok_or(Failure::NullArgument(name))
}

/// Borrows the value behind a handle mutably.
///
/// # Safety
/// As [`try_ref`], and no other reference to it exists during `'a`.
pub(crate) unsafe fn try_mut<'a, C: BoxCastable>(
    ptr: *mut C,
    name: &'static str,
) -> Result<&'a mut C::RustType, Failure> {
    // SAFETY: by the contract, a non-NULL ptr is a live, unaliased Box<C::RustType>.
    unsafe { ptr.cast::<C::RustType>().as_mut() }.ok_or(Failure::NullArgument(name))
}

/// Drops the value behind a handle; NULL is a no-op.
///
/// # Safety
/// `ptr` is NULL or a live pointer from [`to_boxed_mut_ptr`] for `C`, not used again.
pub(crate) unsafe fn free_box<C: BoxCastable>(ptr: *mut C) {
    if !ptr.is_null() {
        // SAFETY: by the contract, it is a Box<C::RustType> that nobody uses any more.
        drop(unsafe { Box::from_raw(ptr.cast::<C::RustType>()) });
    }
}
