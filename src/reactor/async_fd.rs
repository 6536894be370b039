//! [`Async`]: any non-blocking file descriptor, registered with the current
//! event loop, with futures that wait for readiness and operations that
//! retry on `WouldBlock`.
//!
//! The descriptor is put in non-blocking mode and registered once
//! (edge-triggered, reading and writing) when the `Async` is made, and
//! deregistered when it is dropped or [`into_inner`](Async::into_inner)
//! takes it back, before the descriptor is closed. An operation runs only
//! when the source's cached readiness says it may succeed; on `WouldBlock`
//! it clears that readiness (with the tick it observed: a newer edge is
//! never lost) and waits for the next edge. So a ready source costs one
//! system call per operation and a wait costs none.
//!
//! # Invariants
//!
//! - The registration names the descriptor of the value inside; the value
//!   is dropped only after its descriptor was deregistered.
//! - Nothing here blocks the thread: a wait is a `Pending` poll with the
//!   task's waker stored, woken by the driver (rule 9).

use super::driver::Handle;
use super::registration::{Direction, ReadyEvent, Registration};
use mio::unix::SourceFd;
use std::fmt;
use std::future::poll_fn;
use std::io;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, RawFd};
use std::task::{Context, Poll};

/// A non-blocking I/O source (a socket, a pipe, any pollable file
/// descriptor) registered with the coframe event loop of the thread that
/// made it.
///
/// `Async<T>` owns the value. [`readable`](Async::readable) and
/// [`writable`](Async::writable) wait for readiness; [`read_with`](Async::read_with)
/// and [`write_with`](Async::write_with) run a non-blocking operation on
/// the value and wait and retry while it returns `WouldBlock`; the `poll_*`
/// forms are the same for hand-written futures and `AsyncRead`-style
/// traits. Use them from a future, or from a stackful task through
/// [`stackful::wait`](crate::stackful::wait).
///
/// The source stays registered with the event loop it was made on, even if
/// the `Async` moves to another thread: the task waiting on it is woken
/// wherever it lives. Several tasks may wait on one source at once; all are
/// woken by the next edge.
///
/// A descriptor closed behind the `Async`'s back (by `libc::close` on its
/// number) makes every operation fail with the system call's error
/// (`EBADF`), and dropping the `Async` then does not panic. The kernel
/// reports no event for a closed descriptor, though, so a wait that has no
/// readiness cached is not ended by the close: bound such waits with
/// [`coframe::time::timeout`](crate::time::timeout).
///
/// ```
/// use coframe::io::Async;
/// use std::io::{Read, Write};
/// use std::os::unix::net::UnixStream;
///
/// coframe::block_on(async {
///     let (a, b) = UnixStream::pair().unwrap();
///     let (a, b) = (Async::new(a).unwrap(), Async::new(b).unwrap());
///     b.write_with(|mut s| s.write(b"ping")).await.unwrap();
///     let mut buf = [0; 4];
///     let n = a.read_with(|mut s| s.read(&mut buf)).await.unwrap();
///     assert_eq!(&buf[..n], b"ping");
/// });
/// ```
pub struct Async<T: AsFd> {
    /// `None` only inside `into_inner` and `drop`.
    io: Option<T>,
    reg: Registration,
}

impl<T: AsFd> Async<T> {
    /// Puts `io`'s descriptor in non-blocking mode and registers it with
    /// this thread's event loop.
    ///
    /// # Errors
    /// The system call's error if the descriptor is not open (`EBADF`) or
    /// cannot be polled (`EPERM`, e.g. a regular file); `AlreadyExists` if
    /// another `Async` already registers the same descriptor with this
    /// event loop.
    ///
    /// # Panics
    /// If no coframe event loop runs on this thread (outside a coframe
    /// executor or `coframe::block_on`).
    ///
    /// ```
    /// let (a, _b) = std::os::unix::net::UnixStream::pair().unwrap();
    /// coframe::block_on(async move {
    ///     let a = coframe::io::Async::new(a).unwrap();
    ///     # drop(a);
    /// });
    /// ```
    #[track_caller]
    pub fn new(io: T) -> io::Result<Async<T>> {
        let handle = Handle::current();
        let fd = io.as_fd().as_raw_fd();
        set_nonblocking(fd)?;
        let reg = Registration::new(handle, &mut SourceFd(&fd)).map_err(|e| explain(e, fd))?;
        Ok(Async { io: Some(io), reg })
    }

    /// The value inside.
    ///
    /// ```
    /// # coframe::block_on(async {
    /// let (a, _b) = std::os::unix::net::UnixStream::pair().unwrap();
    /// let a = coframe::io::Async::new(a).unwrap();
    /// assert!(a.get_ref().peer_addr().is_ok());
    /// # });
    /// ```
    pub fn get_ref(&self) -> &T {
        self.io.as_ref().expect("an Async always holds its value")
    }

    /// The value inside, mutably. Replacing it (rather than using it) keeps
    /// the old descriptor's registration: the new one is never polled.
    ///
    /// ```
    /// # coframe::block_on(async {
    /// let (a, _b) = std::os::unix::net::UnixStream::pair().unwrap();
    /// let mut a = coframe::io::Async::new(a).unwrap();
    /// a.get_mut().set_read_timeout(None).unwrap();
    /// # });
    /// ```
    pub fn get_mut(&mut self) -> &mut T {
        self.io.as_mut().expect("an Async always holds its value")
    }

    /// Deregisters the descriptor and gives the value back (still in
    /// non-blocking mode).
    ///
    /// ```
    /// # coframe::block_on(async {
    /// let (a, _b) = std::os::unix::net::UnixStream::pair().unwrap();
    /// let a: std::os::unix::net::UnixStream = coframe::io::Async::new(a).unwrap().into_inner();
    /// # });
    /// ```
    pub fn into_inner(mut self) -> T {
        let io = self.io.take().expect("an Async always holds its value");
        // Only fails for a descriptor closed behind our back, which the
        // kernel has already removed from the interest list.
        let _ = self.reg.deregister(&mut SourceFd(&io.as_fd().as_raw_fd()));
        io
    }

    /// Waits until the source is readable (or read-closed, or in error):
    /// a read may then proceed. Returns at once while the cached readiness
    /// says so; only an operation that gets `WouldBlock` clears it.
    ///
    /// # Errors
    /// If the event loop has shut down.
    ///
    /// ```
    /// # coframe::block_on(async {
    /// let (a, b) = std::os::unix::net::UnixStream::pair().unwrap();
    /// let a = coframe::io::Async::new(a).unwrap();
    /// std::io::Write::write_all(&mut &b, b"x").unwrap();
    /// a.readable().await.unwrap();
    /// # });
    /// ```
    pub async fn readable(&self) -> io::Result<()> {
        poll_fn(|cx| self.poll_readable(cx)).await
    }

    /// Waits until the source is writable (or write-closed, or in error).
    ///
    /// # Errors
    /// If the event loop has shut down.
    ///
    /// ```
    /// # coframe::block_on(async {
    /// let (a, _b) = std::os::unix::net::UnixStream::pair().unwrap();
    /// let a = coframe::io::Async::new(a).unwrap();
    /// a.writable().await.unwrap();
    /// # });
    /// ```
    pub async fn writable(&self) -> io::Result<()> {
        poll_fn(|cx| self.poll_writable(cx)).await
    }

    /// Poll form of [`readable`](Async::readable): `Pending` stores the
    /// task's waker for the next read edge.
    ///
    /// ```
    /// # coframe::block_on(async {
    /// let (a, b) = std::os::unix::net::UnixStream::pair().unwrap();
    /// let a = coframe::io::Async::new(a).unwrap();
    /// std::io::Write::write_all(&mut &b, b"x").unwrap();
    /// std::future::poll_fn(|cx| a.poll_readable(cx)).await.unwrap();
    /// # });
    /// ```
    pub fn poll_readable(&self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.reg.poll_ready(cx, Direction::Read).map_ok(drop)
    }

    /// Poll form of [`writable`](Async::writable).
    ///
    /// ```
    /// # coframe::block_on(async {
    /// let (a, _b) = std::os::unix::net::UnixStream::pair().unwrap();
    /// let a = coframe::io::Async::new(a).unwrap();
    /// std::future::poll_fn(|cx| a.poll_writable(cx)).await.unwrap();
    /// # });
    /// ```
    pub fn poll_writable(&self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.reg.poll_ready(cx, Direction::Write).map_ok(drop)
    }

    /// Runs `op` (a non-blocking read-side operation on the value) when the
    /// source is readable, waiting and retrying while it returns
    /// `WouldBlock`; any other result is returned as it is.
    ///
    /// # Errors
    /// `op`'s error, or the event loop's shutdown.
    ///
    /// ```
    /// use std::io::Read;
    /// # coframe::block_on(async {
    /// let (a, b) = std::os::unix::net::UnixStream::pair().unwrap();
    /// let a = coframe::io::Async::new(a).unwrap();
    /// std::io::Write::write_all(&mut &b, b"hi").unwrap();
    /// let mut buf = [0; 8];
    /// let n = a.read_with(|mut s| s.read(&mut buf)).await.unwrap();
    /// assert_eq!(&buf[..n], b"hi");
    /// # });
    /// ```
    pub async fn read_with<R>(&self, mut op: impl FnMut(&T) -> io::Result<R>) -> io::Result<R> {
        poll_fn(|cx| self.poll_read_with(cx, &mut op)).await
    }

    /// The write-side twin of [`read_with`](Async::read_with).
    ///
    /// # Errors
    /// `op`'s error, or the event loop's shutdown.
    ///
    /// ```
    /// use std::io::Write;
    /// # coframe::block_on(async {
    /// let (a, _b) = std::os::unix::net::UnixStream::pair().unwrap();
    /// let a = coframe::io::Async::new(a).unwrap();
    /// let n = a.write_with(|mut s| s.write(b"hi")).await.unwrap();
    /// assert_eq!(n, 2);
    /// # });
    /// ```
    pub async fn write_with<R>(&self, mut op: impl FnMut(&T) -> io::Result<R>) -> io::Result<R> {
        poll_fn(|cx| self.poll_write_with(cx, &mut op)).await
    }

    /// Poll form of [`read_with`](Async::read_with): runs `op` while the
    /// source is readable; `Pending` once it returned `WouldBlock` and the
    /// task's waker is stored for the next read edge.
    ///
    /// ```
    /// use std::io::Read;
    /// # coframe::block_on(async {
    /// let (a, b) = std::os::unix::net::UnixStream::pair().unwrap();
    /// let a = coframe::io::Async::new(a).unwrap();
    /// std::io::Write::write_all(&mut &b, b"hi").unwrap();
    /// let mut buf = [0; 8];
    /// let n = std::future::poll_fn(|cx| a.poll_read_with(cx, |mut s| s.read(&mut buf)))
    ///     .await
    ///     .unwrap();
    /// assert_eq!(n, 2);
    /// # });
    /// ```
    pub fn poll_read_with<R>(
        &self,
        cx: &mut Context<'_>,
        op: impl FnMut(&T) -> io::Result<R>,
    ) -> Poll<io::Result<R>> {
        self.poll_io(cx, Direction::Read, op)
    }

    /// Poll form of [`write_with`](Async::write_with).
    ///
    /// ```
    /// use std::io::Write;
    /// # coframe::block_on(async {
    /// let (a, _b) = std::os::unix::net::UnixStream::pair().unwrap();
    /// let a = coframe::io::Async::new(a).unwrap();
    /// let n = std::future::poll_fn(|cx| a.poll_write_with(cx, |mut s| s.write(b"hi")))
    ///     .await
    ///     .unwrap();
    /// assert_eq!(n, 2);
    /// # });
    /// ```
    pub fn poll_write_with<R>(
        &self,
        cx: &mut Context<'_>,
        op: impl FnMut(&T) -> io::Result<R>,
    ) -> Poll<io::Result<R>> {
        self.poll_io(cx, Direction::Write, op)
    }

    /// Wraps `io`, whose descriptor the caller made non-blocking (a socket
    /// from `accept4(SOCK_NONBLOCK)` or a non-blocking `connect`): no
    /// `fcntl` calls. A blocking descriptor here would block the thread.
    #[track_caller]
    pub(crate) fn new_nonblocking(io: T) -> io::Result<Async<T>> {
        let handle = Handle::current();
        let fd = io.as_fd().as_raw_fd();
        debug_assert!(
            // SAFETY: reads the flags of a descriptor the caller owns.
            unsafe { libc::fcntl(fd, libc::F_GETFL) } & libc::O_NONBLOCK != 0,
            "coframe: Async::new_nonblocking on a blocking descriptor"
        );
        let reg = Registration::new(handle, &mut SourceFd(&fd)).map_err(|e| explain(e, fd))?;
        Ok(Async { io: Some(io), reg })
    }

    /// [`poll_read_with`](Async::poll_read_with) for a stream socket read
    /// into a buffer of `len` bytes: a read that fills only part of it
    /// (`0 < n < len`) drained the kernel's buffer, so the readiness it
    /// observed is cleared at once (with its tick: a newer edge survives)
    /// and the next read waits for the next edge instead of making a
    /// system call that would end in `WouldBlock`. Not for datagrams (a
    /// short datagram says nothing of the queue behind it).
    pub(crate) fn poll_read_stream(
        &self,
        cx: &mut Context<'_>,
        len: usize,
        op: impl FnMut(&T) -> io::Result<usize>,
    ) -> Poll<io::Result<usize>> {
        self.poll_io_clearing(cx, Direction::Read, op, |&n| n > 0 && n < len)
    }

    /// The write-side twin of [`poll_read_stream`](Async::poll_read_stream):
    /// a write that took only part of the buffer filled the kernel's send
    /// buffer; the writable readiness it observed is cleared.
    pub(crate) fn poll_write_stream(
        &self,
        cx: &mut Context<'_>,
        len: usize,
        op: impl FnMut(&T) -> io::Result<usize>,
    ) -> Poll<io::Result<usize>> {
        self.poll_io_clearing(cx, Direction::Write, op, |&n| n > 0 && n < len)
    }

    fn poll_io<R>(
        &self,
        cx: &mut Context<'_>,
        dir: Direction,
        op: impl FnMut(&T) -> io::Result<R>,
    ) -> Poll<io::Result<R>> {
        self.poll_io_clearing(cx, dir, op, |_| false)
    }

    /// Runs `op` while ready for `dir`; clears the observed readiness on
    /// `WouldBlock`, or on a result for which `drained` says the source
    /// has nothing more for now.
    fn poll_io_clearing<R>(
        &self,
        cx: &mut Context<'_>,
        dir: Direction,
        mut op: impl FnMut(&T) -> io::Result<R>,
        drained: impl Fn(&R) -> bool,
    ) -> Poll<io::Result<R>> {
        loop {
            let event: ReadyEvent = match self.reg.poll_ready(cx, dir) {
                Poll::Ready(Ok(ev)) => ev,
                Poll::Ready(Err(e)) => return Poll::Ready(Err(e)),
                Poll::Pending => return Poll::Pending,
            };
            match op(self.get_ref()) {
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    self.reg.clear_readiness(event);
                }
                Ok(r) => {
                    if drained(&r) {
                        self.reg.clear_readiness(event);
                    }
                    return Poll::Ready(Ok(r));
                }
                r => return Poll::Ready(r),
            }
        }
    }
}

impl<T: AsFd> Drop for Async<T> {
    fn drop(&mut self) {
        if let Some(io) = self.io.take() {
            // Deregister while the descriptor is still open, then close it
            // (dropping `io`); the registration's slot is freed after.
            let _ = self.reg.deregister(&mut SourceFd(&io.as_fd().as_raw_fd()));
        }
    }
}

impl<T: AsFd> AsFd for Async<T> {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.get_ref().as_fd()
    }
}

impl<T: AsFd> AsRawFd for Async<T> {
    fn as_raw_fd(&self) -> RawFd {
        self.get_ref().as_fd().as_raw_fd()
    }
}

impl<T: AsFd + fmt::Debug> fmt::Debug for Async<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Async").field("io", &self.io).finish()
    }
}

/// Sets `O_NONBLOCK` on `fd`.
fn set_nonblocking(fd: RawFd) -> io::Result<()> {
    // SAFETY: fcntl on a descriptor number reads or sets its flags; a
    // closed or invalid number is reported as EBADF.
    let flags = unsafe { libc::fcntl(fd, libc::F_GETFL) };
    if flags < 0 {
        return Err(io::Error::last_os_error());
    }
    if flags & libc::O_NONBLOCK == 0 {
        // SAFETY: as above.
        if unsafe { libc::fcntl(fd, libc::F_SETFL, flags | libc::O_NONBLOCK) } < 0 {
            return Err(io::Error::last_os_error());
        }
    }
    Ok(())
}

/// Names the usual registration errors, keeping their kind.
fn explain(e: io::Error, fd: RawFd) -> io::Error {
    match e.raw_os_error() {
        Some(libc::EEXIST) => io::Error::new(
            io::ErrorKind::AlreadyExists,
            format!(
                "file descriptor {fd} is already registered with this coframe event loop \
                 (by another Async: one Async per descriptor): {e}"
            ),
        ),
        Some(libc::EPERM) => io::Error::new(
            e.kind(),
            format!(
                "file descriptor {fd} cannot be polled for readiness (a regular file or a \
                 directory?): {e}"
            ),
        ),
        _ => e,
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;
    use crate::reactor::registration::Ready;
    use crate::reactor::test_util::{fd_lock, open_fds, poll_once, run, Recorder};
    use crate::reactor::{enter, Driver};
    use std::io::{Read, Write};
    use std::os::fd::{FromRawFd, OwnedFd};
    use std::os::unix::net::UnixStream;
    use std::task::Waker;
    use std::time::Duration;

    /// A descriptor number that is not closed on drop (for descriptors
    /// closed behind coframe's back).
    #[derive(Debug)]
    struct Unowned(RawFd);
    impl AsFd for Unowned {
        fn as_fd(&self) -> BorrowedFd<'_> {
            // SAFETY: the tests keep the number open while they use it as a
            // descriptor, or use it only to see the system call fail.
            unsafe { BorrowedFd::borrow_raw(self.0) }
        }
    }

    /// A duplicate of `fd` at a number of 1000 or above (the kernel hands
    /// out the lowest free numbers, so nothing else reuses it while the
    /// test runs once it is closed).
    fn dup_high(fd: BorrowedFd<'_>) -> RawFd {
        // SAFETY: F_DUPFD_CLOEXEC on an open descriptor.
        let n = unsafe { libc::fcntl(fd.as_raw_fd(), libc::F_DUPFD_CLOEXEC, 1000) };
        assert!(n >= 1000, "{}", io::Error::last_os_error());
        n
    }

    /// Registered sources of an epoll instance, from its `/proc` entry.
    fn watched(epoll: RawFd) -> usize {
        std::fs::read_to_string(format!("/proc/self/fdinfo/{epoll}"))
            .unwrap()
            .lines()
            .filter(|l| l.starts_with("tfd:"))
            .count()
    }

    #[test]
    fn a_socket_pair_exchanges_data() {
        let _fd = fd_lock();
        let mut driver = Driver::new().unwrap();
        let (a, b) = UnixStream::pair().unwrap();
        let got = run(&mut driver, async {
            let (a, b) = (Async::new(a).unwrap(), Async::new(b).unwrap());
            let mut buf = [0; 16];
            // The read waits (nothing written yet), the write then wakes it.
            let mut read = Box::pin(a.read_with(|mut s| s.read(&mut buf)));
            let rec = Recorder::new();
            assert!(poll_once(&mut read, &Waker::from(rec.clone())).is_pending());
            b.write_with(|mut s| s.write(b"ping")).await.unwrap();
            let n = read.await.unwrap();
            assert_eq!(&buf[..n], b"ping");
            // The other way, and EOF when the peer goes.
            a.write_with(|mut s| s.write(b"pong")).await.unwrap();
            let n = b.read_with(|mut s| s.read(&mut buf)).await.unwrap();
            assert_eq!(&buf[..n], b"pong");
            drop(a);
            b.read_with(|mut s| s.read(&mut buf)).await.unwrap()
        });
        assert_eq!(got, 0, "EOF after the peer closed");
    }

    /// Readiness through the driver: an edge sets it with a newer tick, an
    /// operation's `WouldBlock` clears it, and a clear with a tick older
    /// than the latest edge keeps that edge.
    #[test]
    fn readiness_follows_edges_and_ticks() {
        let _fd = fd_lock();
        let mut driver = Driver::new().unwrap();
        let handle = driver.handle().clone();
        let _e = enter(&handle);
        let (a, b) = UnixStream::pair().unwrap();
        let a = Async::new(a).unwrap();
        let io = a.reg.scheduled_io();
        driver.turn(Some(Duration::ZERO));
        assert!(!io.readiness().ready.contains(Ready::READABLE));
        (&b).write_all(b"1").unwrap();
        while !io.readiness().ready.contains(Ready::READABLE) {
            driver.turn(Some(Duration::from_secs(10)));
        }
        let seen = io.readiness();
        // A second edge while an operation "runs": a newer tick.
        (&b).write_all(b"2").unwrap();
        while io.readiness().tick == seen.tick {
            driver.turn(Some(Duration::from_secs(10)));
        }
        io.clear_readiness(seen);
        assert!(io.readiness().ready.contains(Ready::READABLE), "kept");
        // Drain: the read that gets WouldBlock clears with the current tick.
        let w = Waker::from(Recorder::new());
        let mut buf = [0; 8];
        let mut cx = Context::from_waker(&w);
        let r = a.poll_read_with(&mut cx, |mut s| s.read(&mut buf));
        assert!(matches!(r, Poll::Ready(Ok(2))));
        let r = a.poll_read_with(&mut cx, |mut s| s.read(&mut buf));
        assert!(r.is_pending(), "WouldBlock waits");
        assert!(!io.readiness().ready.contains(Ready::READABLE), "cleared");
    }

    #[test]
    fn registering_a_descriptor_twice_is_an_error() {
        let _fd = fd_lock();
        let driver = Driver::new().unwrap();
        let _e = enter(driver.handle());
        let (a, _b) = UnixStream::pair().unwrap();
        let first = Async::new(a.as_fd()).unwrap();
        let err = Async::new(a.as_fd()).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::AlreadyExists);
        assert!(err.to_string().contains("already registered"), "{err}");
        // The failed attempt left no registration behind.
        assert_eq!(watched(driver.epoll_fd()), 2, "the waker and `first`");
        drop(first);
        assert!(Async::new(a.as_fd()).is_ok(), "free again after the drop");
    }

    #[test]
    fn closed_and_unpollable_descriptors_are_errors() {
        let _fd = fd_lock();
        let mut driver = Driver::new().unwrap();
        let handle = driver.handle().clone();
        let _e = enter(&handle);
        // Not open at all.
        let (a, b) = UnixStream::pair().unwrap();
        let n = dup_high(a.as_fd());
        // SAFETY: `n` is ours (just duplicated); closing it now.
        drop(unsafe { OwnedFd::from_raw_fd(n) });
        let err = Async::new(Unowned(n)).unwrap_err();
        assert_eq!(err.raw_os_error(), Some(libc::EBADF));
        // Closed behind coframe's back after registering: the operation's
        // own error, and the drop does not panic.
        let n = dup_high(b.as_fd());
        let src = Async::new(Unowned(n)).unwrap();
        run(&mut driver, src.writable()).unwrap();
        // SAFETY: closes our duplicate `n`; `src` does not own it.
        assert_eq!(unsafe { libc::close(n) }, 0);
        let err = run(
            &mut driver,
            src.write_with(|s| {
                // SAFETY: a write from a valid buffer to a closed number.
                let r = unsafe { libc::write(s.0, b"x".as_ptr().cast(), 1) };
                if r < 0 {
                    Err(io::Error::last_os_error())
                } else {
                    Ok(r)
                }
            }),
        );
        assert_eq!(err.unwrap_err().raw_os_error(), Some(libc::EBADF));
        drop(src);
        // The kernel keeps that registration while `b` holds the file open
        // (its events name a freed slot and are ignored), and drops it with
        // the file.
        assert_eq!(watched(driver.epoll_fd()), 2);
        drop((a, b));
        // A regular file cannot be polled.
        let path = std::env::temp_dir().join(format!("coframe-epoll-{}", std::process::id()));
        let file = std::fs::File::create(&path).unwrap();
        let _ = std::fs::remove_file(&path);
        let err = Async::new(file).unwrap_err();
        assert_eq!(err.raw_os_error(), None);
        assert!(err.to_string().contains("cannot be polled"), "{err}");
        assert_eq!(watched(driver.epoll_fd()), 1, "only the waker left");
    }

    /// Dropping an `Async` (or taking its value back) deregisters the
    /// descriptor from epoll, even while another descriptor keeps the file
    /// open (the kernel would otherwise keep the registration).
    #[test]
    fn drop_and_into_inner_deregister() {
        let _fd = fd_lock();
        let driver = Driver::new().unwrap();
        let _e = enter(driver.handle());
        let ep = driver.epoll_fd();
        assert_eq!(watched(ep), 1, "the driver's waker");
        let (a, _b) = UnixStream::pair().unwrap();
        let keep = a.try_clone().unwrap();
        let src = Async::new(a).unwrap();
        assert_eq!(watched(ep), 2);
        drop(src);
        assert_eq!(watched(ep), 1, "deregistered, though `keep` holds the file");
        let src = Async::new(keep).unwrap();
        assert_eq!(watched(ep), 2);
        let keep = src.into_inner();
        assert_eq!(watched(ep), 1);
        drop(keep);
        assert_eq!(
            driver
                .handle()
                .shared()
                .sources
                .load(std::sync::atomic::Ordering::SeqCst),
            0
        );
    }

    /// Everything an event loop opened is closed when the driver, its
    /// handles and its sources are gone, also with a read still waiting.
    #[test]
    fn descriptor_count_returns_to_where_it_was() {
        let _fd = fd_lock();
        let before = open_fds();
        {
            let mut driver = Driver::new().unwrap();
            let handle = driver.handle().clone();
            let _e = enter(&handle);
            let (a, b) = UnixStream::pair().unwrap();
            let (a, b) = (Async::new(a).unwrap(), Async::new(b).unwrap());
            driver.turn(Some(Duration::ZERO));
            let mut buf = [0; 4];
            let mut read = Box::pin(a.read_with(|mut s| s.read(&mut buf)));
            let rec = Recorder::new();
            assert!(poll_once(&mut read, &Waker::from(rec.clone())).is_pending());
            assert_eq!(open_fds(), before + 3 + 2);
            drop(driver);
            assert_eq!(rec.wakes(), 1, "shutdown wakes the waiting read");
            let r = poll_once(&mut read, &Waker::from(rec.clone()));
            match r {
                Poll::Ready(Err(e)) => assert!(e.to_string().contains("shut down"), "{e}"),
                other => panic!("{other:?}"),
            }
            drop(read);
            assert!(Async::new(UnixStream::pair().unwrap().0).is_err());
            drop((a, b));
        }
        assert_eq!(open_fds(), before);
    }

    /// `Async` and `sleep` from a stackful task through `stackful::wait`
    /// and from a future, on a `LocalExecutor` (the driver is turned by a
    /// helper thread here: the executors do not drive it yet).
    #[test]
    fn a_stackful_task_and_a_future_exchange_data() {
        use std::sync::atomic::{AtomicBool, Ordering};
        use std::sync::Arc;
        let _fd = fd_lock();
        let mut driver = Driver::new().unwrap();
        let handle = driver.handle().clone();
        let stop = Arc::new(AtomicBool::new(false));
        let turner = std::thread::spawn({
            let stop = stop.clone();
            move || {
                while !stop.load(Ordering::SeqCst) {
                    driver.turn(None);
                }
            }
        });
        let _e = enter(&handle);
        let ex = crate::LocalExecutor::new();
        let (a, b) = UnixStream::pair().unwrap();
        let (a, b) = (Async::new(a).unwrap(), Async::new(b).unwrap());
        let reader = ex.spawn_stackful(move || {
            let here = std::thread::current().id();
            let mut buf = [0; 8];
            let n = crate::stackful::wait(a.read_with(|mut s| s.read(&mut buf))).unwrap();
            crate::stackful::wait(crate::time::sleep(Duration::from_millis(2)));
            a.get_ref().write_all(b"ack").unwrap();
            assert_eq!(std::thread::current().id(), here);
            buf[..n].to_vec()
        });
        let (got, ack) = ex.run_until(async move {
            crate::time::sleep(Duration::from_millis(1)).await;
            b.write_with(|mut s| s.write(b"abc")).await.unwrap();
            let got = reader.await.unwrap();
            let mut buf = [0; 8];
            let n = b.read_with(|mut s| s.read(&mut buf)).await.unwrap();
            (got, buf[..n].to_vec())
        });
        stop.store(true, Ordering::SeqCst);
        handle.unpark();
        turner.join().unwrap();
        assert_eq!(got, b"abc");
        assert_eq!(ack, b"ack");
    }

    #[test]
    #[should_panic(expected = "or coframe::block_on")]
    fn without_an_event_loop_new_panics_with_the_fix() {
        let (a, _b) = UnixStream::pair().unwrap();
        let _ = Async::new(a);
    }

    /// A stream read that fills only part of the buffer clears the
    /// readiness it saw (the next read waits for an edge instead of a
    /// system call ending in `WouldBlock`); a read that fills the buffer
    /// keeps it (more may be queued); an edge that arrives after the read
    /// is kept.
    #[test]
    fn a_short_stream_read_clears_readiness() {
        let _fd = fd_lock();
        let mut driver = Driver::new().unwrap();
        let (a, b) = UnixStream::pair().unwrap();
        let a = {
            let _e = enter(driver.handle());
            Async::new(a).unwrap()
        };
        let readable = |a: &Async<UnixStream>| {
            a.reg
                .scheduled_io()
                .readiness()
                .ready
                .contains(Ready::READABLE)
        };
        (&b).write_all(b"0123456789").unwrap();
        driver.turn(Some(Duration::from_secs(5)));
        assert!(readable(&a));
        let w = Waker::from(Recorder::new());
        let mut cx = Context::from_waker(&w);
        let mut buf = [0u8; 4];
        // Full buffer: readiness kept.
        let r = a.poll_read_stream(&mut cx, 4, |mut s| s.read(&mut buf));
        assert!(matches!(r, Poll::Ready(Ok(4))));
        assert!(readable(&a), "a full read keeps the readiness");
        // Short read (6 of 16): cleared, without a second read.
        let mut big = [0u8; 16];
        let mut calls = 0;
        let r = a.poll_read_stream(&mut cx, 16, |mut s| {
            calls += 1;
            s.read(&mut big)
        });
        assert!(matches!(r, Poll::Ready(Ok(6))));
        assert_eq!(calls, 1);
        assert!(!readable(&a), "a short read clears the readiness");
        // The next read waits without a system call.
        let r = a.poll_read_stream(&mut cx, 16, |_| -> io::Result<usize> {
            panic!("read called with no readiness")
        });
        assert!(r.is_pending());
        // A new edge sets it again.
        (&b).write_all(b"x").unwrap();
        driver.turn(Some(Duration::from_secs(5)));
        assert!(readable(&a));
        let r = a.poll_read_stream(&mut cx, 16, |mut s| s.read(&mut big));
        assert!(matches!(r, Poll::Ready(Ok(1))));
    }
}
