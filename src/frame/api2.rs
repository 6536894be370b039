//! The `allocator-api2` adapter (feature `allocator-api2`): any
//! `allocator_api2::alloc::Allocator` as a [`MemoryResource`].
//!
//! Pinned to allocator-api2 0.2 (0.2.21 when written), the version bumpalo 3
//! implements (`cargo tree -i allocator-api2`): `bumpalo::Bump` plugs in
//! directly. Bumpalo implements the trait for `&Bump` only, so the adapter is
//! bound on `for<'a> &'a A: Allocator`, which also covers every
//! `A: Allocator` through allocator-api2's blanket impl for references.

use super::resource::{AllocError, MemoryResource};
use allocator_api2::alloc::Allocator;
use std::alloc::Layout;
use std::ptr::NonNull;

/// Adapts an `allocator_api2` allocator (held by value) to
/// [`MemoryResource`].
///
/// `Bump` is `Send` but not `Sync`, so it goes into a local root:
///
/// ```
/// use coframe::frame::{Allocator2, FrameBox, ResourceHandle};
/// let bump = ResourceHandle::owning_local(Allocator2(bumpalo::Bump::new()));
/// let b = FrameBox::new_in([1u32; 8], &bump);
/// assert_eq!(b[7], 1);
/// ```
#[derive(Debug, Default, Clone)]
pub struct Allocator2<A>(pub A);

impl<A> MemoryResource for Allocator2<A>
where
    for<'a> &'a A: Allocator,
{
    #[inline]
    fn allocate(&self, layout: Layout) -> Result<NonNull<u8>, AllocError> {
        (&self.0)
            .allocate(layout)
            .map(|p| p.cast::<u8>())
            .map_err(|_| AllocError)
    }

    #[inline]
    unsafe fn deallocate(&self, ptr: NonNull<u8>, layout: Layout) {
        // SAFETY: by the caller's contract `ptr` came from `allocate` on
        // this allocator with `layout` (a "currently allocated" block that
        // `layout` fits).
        unsafe { (&self.0).deallocate(ptr, layout) }
    }
}
