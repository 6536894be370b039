//! hyper 1.x on coframe (feature `hyper`): hyper's `rt::Read`/`rt::Write`
//! for [`TcpStream`](crate::net::TcpStream) and
//! [`UnixStream`](crate::net::UnixStream), an `rt::Executor` that spawns
//! on the current coframe executor ([`CoframeExecutor`]) and an
//! `rt::Timer` on [`coframe::time`](crate::time) ([`CoframeTimer`]).
//! No hyper-util is needed.
//!
//! Owns: nothing; the I/O traits read straight into hyper's (possibly
//! uninitialised) buffer with one `recv` and keep the streams' rule that a
//! short read clears the readiness it saw.
//!
//! ```
//! use coframe::compat::hyper::{CoframeExecutor, CoframeTimer};
//! use coframe::net::{TcpListener, TcpStream};
//! use hyper::body::{Bytes, Frame, Incoming};
//! use hyper::{Request, Response};
//! use std::convert::Infallible;
//! use std::pin::Pin;
//! use std::task::{Context, Poll};
//!
//! /// A whole body in one frame.
//! struct Full(Option<Bytes>);
//! impl hyper::body::Body for Full {
//!     type Data = Bytes;
//!     type Error = Infallible;
//!     fn poll_frame(
//!         mut self: Pin<&mut Self>,
//!         _: &mut Context<'_>,
//!     ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
//!         Poll::Ready(self.0.take().map(|b| Ok(Frame::data(b))))
//!     }
//! }
//!
//! let ex = coframe::LocalExecutor::new();
//! ex.run_until(async {
//!     let listener = TcpListener::bind("127.0.0.1:0").unwrap();
//!     let addr = listener.local_addr().unwrap();
//!     coframe::spawn(async move {
//!         let (conn, _) = listener.accept().await.unwrap();
//!         let service = hyper::service::service_fn(|_req: Request<Incoming>| async {
//!             Ok::<_, Infallible>(Response::new(Full(Some(Bytes::from("hello")))))
//!         });
//!         hyper::server::conn::http1::Builder::new()
//!             .timer(CoframeTimer)
//!             .serve_connection(conn, service)
//!             .await
//!             .unwrap();
//!     });
//!     let stream = TcpStream::connect(addr).await.unwrap();
//!     let (mut send, conn) = hyper::client::conn::http1::handshake(stream).await.unwrap();
//!     CoframeExecutor.spawn(conn);
//!     let res = send.send_request(Request::new(Full(None))).await.unwrap();
//!     assert_eq!(res.status(), 200);
//! });
//! ```

use crate::io::Async;
use std::future::Future;
use std::io;
use std::os::fd::{AsFd, AsRawFd};
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

/// One `recv` into hyper's buffer (uninitialised memory is fine: the
/// kernel writes it, no Rust reference to it is made before).
fn poll_read<T: AsFd>(
    io: &Async<T>,
    cx: &mut Context<'_>,
    mut buf: hyper::rt::ReadBufCursor<'_>,
) -> Poll<io::Result<()>> {
    // SAFETY: the slice is used only as a destination pointer and length
    // for recv(2), which writes at most `len` bytes into it.
    let dst = unsafe { buf.as_mut() };
    let (ptr, len) = (dst.as_mut_ptr(), dst.len());
    let n = match io.poll_read_stream(cx, len, |s| {
        // SAFETY: `ptr..ptr+len` is hyper's writable buffer, borrowed for
        // this call; recv writes at most `len` bytes there.
        let n = unsafe { libc::recv(s.as_fd().as_raw_fd(), ptr.cast(), len, 0) };
        if n < 0 {
            Err(io::Error::last_os_error())
        } else {
            Ok(n as usize)
        }
    }) {
        Poll::Ready(Ok(n)) => n,
        Poll::Ready(Err(e)) => return Poll::Ready(Err(e)),
        Poll::Pending => return Poll::Pending,
    };
    // SAFETY: recv initialised the first `n` bytes of the cursor.
    unsafe { buf.advance(n) };
    Poll::Ready(Ok(()))
}

macro_rules! impl_hyper_io {
    ($ty:ty) => {
        impl hyper::rt::Read for $ty {
            fn poll_read(
                self: Pin<&mut Self>,
                cx: &mut Context<'_>,
                buf: hyper::rt::ReadBufCursor<'_>,
            ) -> Poll<io::Result<()>> {
                poll_read(self.into_ref().get_ref().async_io(), cx, buf)
            }
        }

        impl hyper::rt::Write for $ty {
            fn poll_write(
                self: Pin<&mut Self>,
                cx: &mut Context<'_>,
                buf: &[u8],
            ) -> Poll<io::Result<usize>> {
                crate::net::poll_write(self.into_ref().get_ref().async_io(), cx, buf)
            }

            fn poll_flush(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
                Poll::Ready(Ok(()))
            }

            fn poll_shutdown(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
                Poll::Ready(
                    self.into_ref()
                        .get_ref()
                        .shutdown(std::net::Shutdown::Write),
                )
            }
        }
    };
}

impl_hyper_io!(crate::net::TcpStream);
impl_hyper_io!(crate::net::UnixStream);

/// hyper's `rt::Executor`: spawns on the coframe executor running the
/// current task (`coframe::spawn`), detached.
///
/// # Panics
/// When hyper spawns outside a coframe task (as `coframe::spawn`).
///
/// ```
/// use hyper::rt::Executor;
/// let ex = coframe::LocalExecutor::new();
/// ex.run_until(async {
///     coframe::compat::hyper::CoframeExecutor.execute(async {});
/// });
/// ```
#[derive(Clone, Copy, Debug, Default)]
pub struct CoframeExecutor;

impl CoframeExecutor {
    /// Spawns `fut` detached (its output is dropped): a hyper connection
    /// driver, say.
    ///
    /// ```
    /// let ex = coframe::LocalExecutor::new();
    /// ex.run_until(async { coframe::compat::hyper::CoframeExecutor.spawn(async { 1 }) });
    /// ```
    pub fn spawn<F>(&self, fut: F)
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        drop(crate::spawn(fut));
    }
}

impl<F> hyper::rt::Executor<F> for CoframeExecutor
where
    F: Future + Send + 'static,
    F::Output: Send + 'static,
{
    fn execute(&self, fut: F) {
        self.spawn(fut)
    }
}

/// hyper's `rt::Timer` on [`coframe::time`](crate::time): its sleeps are
/// [`coframe::time::Sleep`](crate::time::Sleep)s (reset in place).
///
/// ```
/// use hyper::rt::Timer;
/// use std::time::Duration;
/// coframe::block_on(async {
///     coframe::compat::hyper::CoframeTimer.sleep(Duration::from_millis(1)).await;
/// });
/// ```
#[derive(Clone, Copy, Debug, Default)]
pub struct CoframeTimer;

impl hyper::rt::Sleep for crate::time::Sleep {}

impl hyper::rt::Timer for CoframeTimer {
    fn sleep(&self, duration: Duration) -> Pin<Box<dyn hyper::rt::Sleep>> {
        Box::pin(crate::time::sleep(duration))
    }

    fn sleep_until(&self, deadline: Instant) -> Pin<Box<dyn hyper::rt::Sleep>> {
        Box::pin(crate::time::sleep_until(deadline))
    }

    fn reset(&self, sleep: &mut Pin<Box<dyn hyper::rt::Sleep>>, new_deadline: Instant) {
        match sleep.as_mut().downcast_mut_pin::<crate::time::Sleep>() {
            Some(s) => s.get_mut().reset(new_deadline),
            None => *sleep = self.sleep_until(new_deadline),
        }
    }
}
