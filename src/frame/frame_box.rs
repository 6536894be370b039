//! [`FrameBox`]: a box whose memory comes from the current frame resource
//! and which remembers that resource (rule 1).
//!
//! The box keeps a counted handle of the `Frame` kind, so it frees into the resource it came
//! from whatever the slot holds when it is dropped and on whichever thread:
//! for a local root, a free on a foreign thread is queued on the root (see
//! `handle.rs`). While a box lives, its resource's root lives (rule 2).
//!
//! Unsizing coercions (`FrameBox<F>` to `FrameBox<dyn Future>`) need the
//! unstable `CoerceUnsized`, so the `dyn` forms are built directly by
//! [`FrameBox::pin`] and [`FrameBox::pin_send`] (the raw pointer is coerced
//! inside, which is stable). Zero-sized values allocate nothing.
//!
//! Failure: the `try_` constructors return [`AllocError`] (the value is
//! dropped); the others panic with a message naming the resource failure.

use super::handle::{Direct, Handle, Kind, RawHandle, ResourceHandle, SyncResourceHandle};
use super::resource::{dangling, AllocError};
use std::alloc::Layout;
use std::fmt;
use std::future::Future;
use std::marker::PhantomData;
use std::mem::ManuallyDrop;
use std::ops::{Deref, DerefMut};
use std::pin::Pin;
use std::ptr::{self, NonNull};
use std::task::{Context, Poll};

/// A box allocated from a frame resource (by default the current one) that
/// frees itself back into that resource.
///
/// ```
/// use coframe::frame::FrameBox;
/// let b = FrameBox::new([7u64; 16]);
/// assert_eq!(b[3], 7);
/// ```
///
/// Recursive async functions:
///
/// ```
/// use coframe::frame::FrameBox;
/// use std::future::Future;
/// use std::pin::Pin;
///
/// fn sum(n: u64) -> Pin<FrameBox<dyn Future<Output = u64>>> {
///     FrameBox::pin(async move { if n == 0 { 0 } else { n + sum(n - 1).await } })
/// }
/// # let waker = std::task::Waker::noop();
/// # let mut cx = std::task::Context::from_waker(&waker);
/// let mut f = sum(10);
/// assert_eq!(f.as_mut().poll(&mut cx), std::task::Poll::Ready(55));
/// ```
pub struct FrameBox<T: ?Sized> {
    ptr: NonNull<T>,
    handle: RawHandle,
    _owns: PhantomData<T>,
}

// SAFETY: the box owns a `T`; its handle frees from any thread (foreign
// frees into a local root are queued), so sending the box is sending a `T`.
unsafe impl<T: ?Sized + Send> Send for FrameBox<T> {}
// SAFETY: `&FrameBox<T>` only gives `&T`.
unsafe impl<T: ?Sized + Sync> Sync for FrameBox<T> {}

impl<T: ?Sized> Unpin for FrameBox<T> {}

#[cold]
#[track_caller]
fn refused(layout: Layout) -> ! {
    panic!(
        "coframe: frame memory resource refused the allocation (FrameBox of {} bytes, align {})",
        layout.size(),
        layout.align()
    )
}

/// Allocates and writes `value` through `handle` (given up into the box).
fn alloc_value<T, K: Direct>(value: T, handle: Handle<K>) -> Result<FrameBox<T>, AllocError> {
    let layout = Layout::new::<T>();
    let ptr = if layout.size() == 0 {
        dangling(layout)
    } else {
        handle.allocate(layout)?
    };
    let ptr = ptr.cast::<T>();
    // SAFETY: fresh block for `T` (or dangling aligned for a ZST).
    unsafe { ptr.as_ptr().write(value) };
    Ok(FrameBox {
        ptr,
        handle: handle.into_raw(),
        _owns: PhantomData,
    })
}

impl<T> FrameBox<T> {
    /// Allocates `value` from the current resource.
    ///
    /// # Panics
    ///
    /// If the resource refuses: "coframe: frame memory resource refused the
    /// allocation (...)".
    ///
    /// ```
    /// use coframe::frame::FrameBox;
    /// let b = FrameBox::new(String::from("frame"));
    /// assert_eq!(&*b, "frame");
    /// ```
    #[track_caller]
    pub fn new(value: T) -> Self {
        Self::try_new(value).unwrap_or_else(|_| refused(Layout::new::<T>()))
    }

    /// Allocates `value` from the current resource, or returns the
    /// resource's refusal (dropping `value`).
    ///
    /// ```
    /// use coframe::frame::FrameBox;
    /// let b = FrameBox::try_new(5u32).unwrap();
    /// assert_eq!(*b, 5);
    /// ```
    pub fn try_new(value: T) -> Result<Self, AllocError> {
        Self::try_new_in(value, &ResourceHandle::current())
    }

    /// Allocates `value` from `resource` (ignoring the slot).
    ///
    /// # Panics
    ///
    /// If the resource refuses.
    ///
    /// ```
    /// use coframe::frame::{FrameBox, ResourceHandle, System};
    /// let r = ResourceHandle::owning_local(System);
    /// let b = FrameBox::new_in(1u8, &r);
    /// assert_eq!(*b, 1);
    /// ```
    #[track_caller]
    pub fn new_in<K: Direct>(value: T, resource: &Handle<K>) -> Self {
        Self::try_new_in(value, resource).unwrap_or_else(|_| refused(Layout::new::<T>()))
    }

    /// Allocates `value` from `resource`, or returns its refusal.
    ///
    /// ```
    /// use coframe::frame::{FrameBox, ResourceHandle};
    /// let b = FrameBox::try_new_in(2u16, &ResourceHandle::default()).unwrap();
    /// assert_eq!(*b, 2);
    /// ```
    pub fn try_new_in<K: Direct>(value: T, resource: &Handle<K>) -> Result<Self, AllocError> {
        alloc_value(value, resource.clone())
    }

    /// Pins the box (the value never moves: it lives in the frame block).
    ///
    /// ```
    /// use coframe::frame::FrameBox;
    /// let p = FrameBox::into_pin(FrameBox::new(3));
    /// assert_eq!(*p, 3);
    /// ```
    pub fn into_pin(this: Self) -> Pin<Self> {
        // SAFETY: the value is heap-allocated and never moved by FrameBox.
        unsafe { Pin::new_unchecked(this) }
    }

    /// Moves the value out and frees the block.
    ///
    /// ```
    /// use coframe::frame::FrameBox;
    /// assert_eq!(FrameBox::into_inner(FrameBox::new(vec![1, 2])), vec![1, 2]);
    /// ```
    pub fn into_inner(this: Self) -> T {
        let this = ManuallyDrop::new(this);
        // SAFETY: we own the value and never touch it again.
        let value = unsafe { ptr::read(this.ptr.as_ptr()) };
        // SAFETY: read once; `this` is never dropped.
        let handle = unsafe { ptr::read(&this.handle) };
        let layout = Layout::new::<T>();
        if layout.size() != 0 {
            // SAFETY: the block came from this handle's resource with `layout`.
            unsafe { handle.deallocate(this.ptr.cast(), layout) };
        }
        value
    }

    /// Converts the box, keeping its block and handle, to an unsized form.
    fn coerce<U: ?Sized>(self, f: impl FnOnce(NonNull<T>) -> NonNull<U>) -> FrameBox<U> {
        let this = ManuallyDrop::new(self);
        FrameBox {
            ptr: f(this.ptr),
            // SAFETY: moved out once; `this` is never dropped.
            handle: unsafe { ptr::read(&this.handle) },
            _owns: PhantomData,
        }
    }
}

impl<'a, T> FrameBox<dyn Future<Output = T> + 'a> {
    /// Boxes `future` in the current resource as a pinned `dyn Future`: the
    /// way to write recursive async functions and type-erased futures.
    ///
    /// # Panics
    ///
    /// If the resource refuses.
    ///
    /// ```
    /// use coframe::frame::FrameBox;
    /// use std::future::Future;
    /// use std::pin::Pin;
    /// let futs: Vec<Pin<FrameBox<dyn Future<Output = u8>>>> =
    ///     vec![FrameBox::pin(async { 1 }), FrameBox::pin(async { 2 })];
    /// assert_eq!(futs.len(), 2);
    /// ```
    #[track_caller]
    pub fn pin<F: Future<Output = T> + 'a>(future: F) -> Pin<Self> {
        Self::try_pin(future).unwrap_or_else(|_| refused(Layout::new::<F>()))
    }

    /// [`pin`](Self::pin), returning the resource's refusal as an error.
    ///
    /// ```
    /// use coframe::frame::FrameBox;
    /// assert!(FrameBox::try_pin(async { 1 }).is_ok());
    /// ```
    pub fn try_pin<F: Future<Output = T> + 'a>(future: F) -> Result<Pin<Self>, AllocError> {
        Self::try_pin_in(future, &ResourceHandle::current())
    }

    /// [`try_pin`](Self::try_pin) from an explicit resource.
    ///
    /// ```
    /// use coframe::frame::{FrameBox, ResourceHandle, System};
    /// let r = ResourceHandle::owning_local(System);
    /// assert!(FrameBox::try_pin_in(async { 1 }, &r).is_ok());
    /// ```
    pub fn try_pin_in<F: Future<Output = T> + 'a, K: Direct>(
        future: F,
        resource: &Handle<K>,
    ) -> Result<Pin<Self>, AllocError> {
        let b = FrameBox::try_new_in(future, resource)?;
        let b = b.coerce(|p| -> NonNull<dyn Future<Output = T> + 'a> { p });
        // SAFETY: heap value, never moved.
        Ok(unsafe { Pin::new_unchecked(b) })
    }
}

impl<'a, T> FrameBox<dyn Future<Output = T> + Send + 'a> {
    /// Boxes a `Send` future as a pinned `dyn Future + Send`, allocated from
    /// the current resource if it is thread-safe, else from the default
    /// [`Recycling`](super::Recycling) (rule 4).
    ///
    /// # Panics
    ///
    /// If the resource refuses.
    ///
    /// ```
    /// use coframe::frame::FrameBox;
    /// let f = FrameBox::pin_send(async { 7 });
    /// std::thread::spawn(move || drop(f)).join().unwrap();
    /// ```
    #[track_caller]
    pub fn pin_send<F: Future<Output = T> + Send + 'a>(future: F) -> Pin<Self> {
        Self::try_pin_send(future).unwrap_or_else(|_| refused(Layout::new::<F>()))
    }

    /// [`pin_send`](Self::pin_send), returning the refusal as an error.
    ///
    /// ```
    /// use coframe::frame::FrameBox;
    /// assert!(FrameBox::try_pin_send(async { 7 }).is_ok());
    /// ```
    pub fn try_pin_send<F: Future<Output = T> + Send + 'a>(
        future: F,
    ) -> Result<Pin<Self>, AllocError> {
        let b = alloc_value(future, SyncResourceHandle::current())?;
        let b = b.coerce(|p| -> NonNull<dyn Future<Output = T> + Send + 'a> { p });
        // SAFETY: heap value, never moved.
        Ok(unsafe { Pin::new_unchecked(b) })
    }
}

impl<T: ?Sized> FrameBox<T> {
    /// Whether the box's memory came from `resource`.
    ///
    /// ```
    /// use coframe::frame::{FrameBox, ResourceHandle};
    /// let b = FrameBox::new(1);
    /// assert!(FrameBox::came_from(&b, &ResourceHandle::default()));
    /// ```
    pub fn came_from<K: Kind>(this: &Self, resource: &Handle<K>) -> bool {
        this.handle.same_resource(resource)
    }
}

impl<T: ?Sized> Drop for FrameBox<T> {
    fn drop(&mut self) {
        // SAFETY: the value is alive until `drop_in_place` below.
        let layout = Layout::for_value(unsafe { self.ptr.as_ref() });
        /// Frees the block even if the value's destructor panics.
        struct Free<'a>(&'a RawHandle, NonNull<u8>, Layout);
        impl Drop for Free<'_> {
            fn drop(&mut self) {
                if self.2.size() != 0 {
                    // SAFETY: the block came from this handle's resource with
                    // this layout; the value has been dropped.
                    unsafe { self.0.deallocate(self.1, self.2) };
                }
            }
        }
        let _free = Free(&self.handle, self.ptr.cast(), layout);
        // SAFETY: we own the value; it is dropped exactly once.
        unsafe { ptr::drop_in_place(self.ptr.as_ptr()) };
    }
}

impl<T: ?Sized> Deref for FrameBox<T> {
    type Target = T;
    #[inline]
    fn deref(&self) -> &T {
        // SAFETY: the box owns a live value.
        unsafe { self.ptr.as_ref() }
    }
}

impl<T: ?Sized> DerefMut for FrameBox<T> {
    #[inline]
    fn deref_mut(&mut self) -> &mut T {
        // SAFETY: the box owns a live value, borrowed uniquely via `&mut self`.
        unsafe { self.ptr.as_mut() }
    }
}

impl<F: ?Sized + Future + Unpin> Future for FrameBox<F> {
    type Output = F::Output;
    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        F::poll(Pin::new(&mut **self), cx)
    }
}

impl<T: ?Sized + fmt::Debug> fmt::Debug for FrameBox<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&**self, f)
    }
}

impl<T: ?Sized + fmt::Display> fmt::Display for FrameBox<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&**self, f)
    }
}
