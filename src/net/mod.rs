//! Networking on coframe's event loop: TCP ([`TcpListener`],
//! [`TcpStream`] and its owned halves), UDP ([`UdpSocket`]) and Unix
//! domain sockets ([`UnixListener`], [`UnixStream`], [`UnixDatagram`]).
//!
//! Every socket here is a non-blocking descriptor inside one
//! [`Async`]: registered once with the event loop of the
//! thread that made it (edge-triggered, both directions) when the socket is
//! made, deregistered before it is closed. A wait never re-registers. The
//! streams implement `futures_io::AsyncRead`/`AsyncWrite` (so the
//! `futures-util`/`futures-lite` helpers work on them) and, with the
//! feature `tokio-io`, tokio's `AsyncRead`/`AsyncWrite`; inside a stackful
//! task, [`stackful::io::Blocking`](crate::stackful::io::Blocking) turns
//! them into `std::io::Read`/`Write`.
//!
//! | file       | owns                                                              |
//! |------------|-------------------------------------------------------------------|
//! | `mod.rs`   | what the streams share: the read/write steps, the trait impls     |
//! | `tcp.rs`   | `TcpListener`, `Incoming`, `TcpStream`, its owned halves           |
//! | `udp.rs`   | `UdpSocket`                                                       |
//! | `unix.rs`  | `UnixListener`, `UnixIncoming`, `UnixStream`, `UnixDatagram`      |
//!
//! # Invariants
//!
//! - One registration per socket, made once, dropped with the socket (the
//!   halves of a split stream share their stream's).
//! - A stream read that fills only part of the caller's buffer drained the
//!   kernel's receive buffer: its readiness is cleared at once (with the
//!   tick it observed, so an edge that arrived meanwhile is kept), and the
//!   next read waits for the next edge instead of making a system call
//!   that would end in `WouldBlock`. A request–response exchange thus
//!   costs one `recv` and one `send`. Writes do the same with a partial
//!   write. Datagram sockets clear only on `WouldBlock` (a short datagram
//!   says nothing of the queue behind it).
//! - Nothing here blocks the thread, except name resolution in `bind` and
//!   `connect` when given a host name (as `std::net` does): pass a
//!   `SocketAddr` to avoid it.
//!
//! Making a socket where no coframe event loop runs (outside a coframe
//! executor or `coframe::block_on`) panics with a message saying so.

mod tcp;
mod udp;
mod unix;

pub use tcp::{Incoming, OwnedReadHalf, OwnedWriteHalf, TcpListener, TcpStream};
pub use udp::UdpSocket;
pub use unix::{UnixDatagram, UnixIncoming, UnixListener, UnixStream};

use crate::io::Async;
use std::io::{self, Read, Write};
use std::net::{SocketAddr, ToSocketAddrs};
use std::os::fd::AsFd;
use std::task::{Context, Poll};

/// One stream read into `buf` (see the module's invariants: a short read
/// clears the readiness it saw).
pub(crate) fn poll_read<T>(
    io: &Async<T>,
    cx: &mut Context<'_>,
    buf: &mut [u8],
) -> Poll<io::Result<usize>>
where
    T: AsFd,
    for<'a> &'a T: Read,
{
    let len = buf.len();
    io.poll_read_stream(cx, len, |mut s| s.read(buf))
}

/// One stream write from `buf` (a partial write clears the writable
/// readiness it saw).
pub(crate) fn poll_write<T>(
    io: &Async<T>,
    cx: &mut Context<'_>,
    buf: &[u8],
) -> Poll<io::Result<usize>>
where
    T: AsFd,
    for<'a> &'a T: Write,
{
    io.poll_write_stream(cx, buf.len(), |mut s| s.write(buf))
}

/// Writes all of `buf`, waiting as needed.
pub(crate) async fn write_all<T>(io: &Async<T>, mut buf: &[u8]) -> io::Result<()>
where
    T: AsFd,
    for<'a> &'a T: Write,
{
    while !buf.is_empty() {
        let n = std::future::poll_fn(|cx| poll_write(io, cx, buf)).await?;
        if n == 0 {
            return Err(io::ErrorKind::WriteZero.into());
        }
        buf = &buf[n..];
    }
    Ok(())
}

/// The listen backlog of coframe's listeners (as tokio's): bursts of
/// connections beyond it see their SYNs dropped and retried a second later.
pub(crate) const BACKLOG: libc::c_int = 1024;

/// Sets a listening socket's backlog to [`BACKLOG`] (mio listens with
/// 128; `listen` again on a listening socket only changes the backlog).
pub(crate) fn set_backlog(fd: &impl std::os::fd::AsRawFd) -> io::Result<()> {
    // SAFETY: listen on a socket the caller owns.
    if unsafe { libc::listen(fd.as_raw_fd(), BACKLOG) } < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// Resolves `addr` (a host name resolves blocking, as in `std::net`).
pub(crate) fn resolve(addr: impl ToSocketAddrs) -> io::Result<Vec<SocketAddr>> {
    let addrs: Vec<SocketAddr> = addr.to_socket_addrs()?.collect();
    if addrs.is_empty() {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "the address resolved to no socket address",
        ));
    }
    Ok(addrs)
}

/// Tries `f` on each address in turn: the first success, else the last
/// error.
pub(crate) fn each_addr<R>(
    addr: impl ToSocketAddrs,
    mut f: impl FnMut(SocketAddr) -> io::Result<R>,
) -> io::Result<R> {
    let mut last = None;
    for a in resolve(addr)? {
        match f(a) {
            Ok(r) => return Ok(r),
            Err(e) => last = Some(e),
        }
    }
    Err(last.expect("resolve returns at least one address"))
}

/// `futures_io::AsyncRead` (and tokio's with the feature `tokio-io`) for a
/// type whose stream is `$io` given `$s: &Self`.
macro_rules! impl_async_read {
    ([$($gen:tt)*] $ty:ty, |$s:ident| $io:expr) => {
        impl<$($gen)*> futures_io::AsyncRead for $ty {
            fn poll_read(
                self: std::pin::Pin<&mut Self>,
                cx: &mut std::task::Context<'_>,
                buf: &mut [u8],
            ) -> std::task::Poll<std::io::Result<usize>> {
                let $s = &*self;
                crate::net::poll_read($io, cx, buf)
            }
        }

        #[cfg(feature = "tokio-io")]
        impl<$($gen)*> tokio::io::AsyncRead for $ty {
            fn poll_read(
                self: std::pin::Pin<&mut Self>,
                cx: &mut std::task::Context<'_>,
                buf: &mut tokio::io::ReadBuf<'_>,
            ) -> std::task::Poll<std::io::Result<()>> {
                let $s = &*self;
                let n = match crate::net::poll_read($io, cx, buf.initialize_unfilled()) {
                    std::task::Poll::Ready(Ok(n)) => n,
                    std::task::Poll::Ready(Err(e)) => return std::task::Poll::Ready(Err(e)),
                    std::task::Poll::Pending => return std::task::Poll::Pending,
                };
                buf.advance(n);
                std::task::Poll::Ready(Ok(()))
            }
        }
    };
}

/// `futures_io::AsyncWrite` (and tokio's with the feature `tokio-io`):
/// flushing does nothing (nothing is buffered), closing shuts the write
/// side down.
macro_rules! impl_async_write {
    ([$($gen:tt)*] $ty:ty, |$s:ident| $io:expr) => {
        impl<$($gen)*> futures_io::AsyncWrite for $ty {
            fn poll_write(
                self: std::pin::Pin<&mut Self>,
                cx: &mut std::task::Context<'_>,
                buf: &[u8],
            ) -> std::task::Poll<std::io::Result<usize>> {
                let $s = &*self;
                crate::net::poll_write($io, cx, buf)
            }

            fn poll_flush(
                self: std::pin::Pin<&mut Self>,
                _: &mut std::task::Context<'_>,
            ) -> std::task::Poll<std::io::Result<()>> {
                std::task::Poll::Ready(Ok(()))
            }

            fn poll_close(
                self: std::pin::Pin<&mut Self>,
                _: &mut std::task::Context<'_>,
            ) -> std::task::Poll<std::io::Result<()>> {
                let $s = &*self;
                std::task::Poll::Ready($io.get_ref().shutdown(std::net::Shutdown::Write))
            }
        }

        #[cfg(feature = "tokio-io")]
        impl<$($gen)*> tokio::io::AsyncWrite for $ty {
            fn poll_write(
                self: std::pin::Pin<&mut Self>,
                cx: &mut std::task::Context<'_>,
                buf: &[u8],
            ) -> std::task::Poll<std::io::Result<usize>> {
                let $s = &*self;
                crate::net::poll_write($io, cx, buf)
            }

            fn poll_flush(
                self: std::pin::Pin<&mut Self>,
                _: &mut std::task::Context<'_>,
            ) -> std::task::Poll<std::io::Result<()>> {
                std::task::Poll::Ready(Ok(()))
            }

            fn poll_shutdown(
                self: std::pin::Pin<&mut Self>,
                _: &mut std::task::Context<'_>,
            ) -> std::task::Poll<std::io::Result<()>> {
                let $s = &*self;
                std::task::Poll::Ready($io.get_ref().shutdown(std::net::Shutdown::Write))
            }
        }
    };
}

pub(crate) use {impl_async_read, impl_async_write};
