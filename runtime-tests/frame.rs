//! Frame allocators (issue 3): the current slot, Recycling, owner roots,
//! Counting, FrameBox, failure paths.

use coframe::frame::{
    current, safe_resume, safe_resume_with, set_current, Counting, MemoryResource, Recycling,
    ResourceHandle, SyncResourceHandle, System,
};
use std::alloc::Layout;
use std::sync::Arc;

#[test]
fn slot_defaults_and_nests() {
    assert!(current().is_default());
    let a = SyncResourceHandle::owning(System);
    let b = ResourceHandle::owning_local(System);
    safe_resume_with(&a, || {
        assert!(current().same_resource(&a));
        {
            let _g = set_current(&b);
            assert!(current().same_resource(&b));
        }
        assert!(current().same_resource(&a));
    });
    assert!(current().is_default());
}

#[test]
fn owner_root_counts_frames() {
    let counting = Arc::new(Counting::new(Recycling));
    let h = SyncResourceHandle::owning(counting.clone());
    let l = Layout::from_size_align(300, 16).unwrap();
    let p = h.allocate(l).unwrap();
    assert_eq!(counting.live_frames(), 1);
    // SAFETY: allocated above with `l`.
    unsafe { h.deallocate(p, l) };
    assert_eq!(counting.live_frames(), 0);
    drop(h);
    assert_eq!(Arc::strong_count(&counting), 1);
    let _ = safe_resume(current);
}
