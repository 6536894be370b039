//! Unix domain sockets: [`UnixListener`] (and its [`UnixIncoming`]),
//! [`UnixStream`] and [`UnixDatagram`].
//!
//! Owns: one `Async` per socket. The listener does not remove its socket
//! file when dropped (as `std`); the caller owns the path.

use super::{impl_async_read, impl_async_write, poll_read, poll_write, write_all};
use crate::io::Async;
use futures_core::Stream;
use std::fmt;
use std::future::poll_fn;
use std::io;
use std::net::Shutdown;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, IntoRawFd, RawFd};
use std::os::unix::net::SocketAddr;
use std::path::Path;
use std::pin::Pin;
use std::task::{Context, Poll};

/// A Unix domain socket listening for connections.
///
/// Accept errors and running out of descriptors: as
/// [`TcpListener`](super::TcpListener).
///
/// ```
/// use coframe::net::{UnixListener, UnixStream};
///
/// let dir = std::env::temp_dir().join(format!("coframe-doc-ul-{}", std::process::id()));
/// let _ = std::fs::remove_file(&dir);
/// coframe::block_on(async {
///     let l = UnixListener::bind(&dir).unwrap();
///     let c = UnixStream::connect(&dir).await.unwrap();
///     let (s, _) = l.accept().await.unwrap();
///     c.write_all(b"hi").await.unwrap();
///     let mut buf = [0; 2];
///     s.read(&mut buf).await.unwrap();
///     assert_eq!(&buf, b"hi");
/// });
/// std::fs::remove_file(&dir).unwrap();
/// ```
pub struct UnixListener {
    io: Async<mio::net::UnixListener>,
}

impl UnixListener {
    /// Binds a listener to the socket file `path` (which must not exist),
    /// with a backlog of 1024.
    ///
    /// # Errors
    /// The system call's error (`AddrInUse` if the file exists, ...).
    ///
    /// # Panics
    /// Where no coframe event loop runs.
    ///
    /// ```
    /// let p = std::env::temp_dir().join(format!("coframe-doc-ub-{}", std::process::id()));
    /// # let _ = std::fs::remove_file(&p);
    /// coframe::block_on(async {
    ///     let l = coframe::net::UnixListener::bind(&p).unwrap();
    ///     assert_eq!(l.local_addr().unwrap().as_pathname(), Some(p.as_path()));
    /// });
    /// std::fs::remove_file(&p).unwrap();
    /// ```
    #[track_caller]
    pub fn bind(path: impl AsRef<Path>) -> io::Result<UnixListener> {
        let l = mio::net::UnixListener::bind(path)?;
        super::set_backlog(&l)?;
        Ok(UnixListener {
            io: Async::new_nonblocking(l)?,
        })
    }

    /// Accepts a connection.
    ///
    /// # Errors
    /// The system call's error.
    ///
    /// ```
    /// # let p = std::env::temp_dir().join(format!("coframe-doc-ua-{}", std::process::id()));
    /// # let _ = std::fs::remove_file(&p);
    /// coframe::block_on(async {
    ///     let l = coframe::net::UnixListener::bind(&p).unwrap();
    ///     let _c = coframe::net::UnixStream::connect(&p).await.unwrap();
    ///     let (_s, _addr) = l.accept().await.unwrap();
    /// });
    /// # std::fs::remove_file(&p).unwrap();
    /// ```
    pub async fn accept(&self) -> io::Result<(UnixStream, SocketAddr)> {
        poll_fn(|cx| self.poll_accept(cx)).await
    }

    /// Poll form of [`accept`](UnixListener::accept).
    ///
    /// ```
    /// # let p = std::env::temp_dir().join(format!("coframe-doc-upa-{}", std::process::id()));
    /// # let _ = std::fs::remove_file(&p);
    /// coframe::block_on(async {
    ///     let l = coframe::net::UnixListener::bind(&p).unwrap();
    ///     let _c = coframe::net::UnixStream::connect(&p).await.unwrap();
    ///     let _ = std::future::poll_fn(|cx| l.poll_accept(cx)).await.unwrap();
    /// });
    /// # std::fs::remove_file(&p).unwrap();
    /// ```
    pub fn poll_accept(&self, cx: &mut Context<'_>) -> Poll<io::Result<(UnixStream, SocketAddr)>> {
        let (s, addr) = match self.io.poll_read_with(cx, |l| l.accept()) {
            Poll::Ready(Ok(r)) => r,
            Poll::Ready(Err(e)) => return Poll::Ready(Err(e)),
            Poll::Pending => return Poll::Pending,
        };
        // SAFETY: the descriptor comes from the mio stream, which gives up
        // its ownership; accept4(SOCK_NONBLOCK) made it non-blocking.
        let s = unsafe { std::os::unix::net::UnixStream::from_raw_fd(s.into_raw_fd()) };
        Poll::Ready(Async::new_nonblocking(s).map(|io| (UnixStream { io }, addr)))
    }

    /// The connections, as a `futures_core::Stream` that never ends.
    ///
    /// ```
    /// use futures_util::StreamExt;
    /// # let p = std::env::temp_dir().join(format!("coframe-doc-ui-{}", std::process::id()));
    /// # let _ = std::fs::remove_file(&p);
    /// coframe::block_on(async {
    ///     let l = coframe::net::UnixListener::bind(&p).unwrap();
    ///     let _c = coframe::net::UnixStream::connect(&p).await.unwrap();
    ///     let _s = l.incoming().next().await.unwrap().unwrap();
    /// });
    /// # std::fs::remove_file(&p).unwrap();
    /// ```
    pub fn incoming(&self) -> UnixIncoming<'_> {
        UnixIncoming { listener: self }
    }

    /// The address the listener is bound to.
    ///
    /// # Errors
    /// The system call's error.
    ///
    /// ```
    /// # let p = std::env::temp_dir().join(format!("coframe-doc-ula-{}", std::process::id()));
    /// # let _ = std::fs::remove_file(&p);
    /// coframe::block_on(async {
    ///     let l = coframe::net::UnixListener::bind(&p).unwrap();
    ///     assert!(l.local_addr().unwrap().as_pathname().is_some());
    /// });
    /// # std::fs::remove_file(&p).unwrap();
    /// ```
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.io.get_ref().local_addr()
    }
}

impl AsFd for UnixListener {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.io.as_fd()
    }
}

impl AsRawFd for UnixListener {
    fn as_raw_fd(&self) -> RawFd {
        self.io.as_raw_fd()
    }
}

impl fmt::Debug for UnixListener {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("UnixListener")
            .field("fd", &self.as_raw_fd())
            .finish()
    }
}

/// The connections of a [`UnixListener`]: see [`UnixListener::incoming`].
#[derive(Debug)]
#[must_use = "streams do nothing unless polled"]
pub struct UnixIncoming<'a> {
    listener: &'a UnixListener,
}

impl Stream for UnixIncoming<'_> {
    type Item = io::Result<UnixStream>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        self.listener
            .poll_accept(cx)
            .map(|r| Some(r.map(|(s, _)| s)))
    }
}

/// A Unix domain stream socket. Like [`TcpStream`](super::TcpStream): its
/// methods take `&self`, it implements `futures_io::AsyncRead`/`AsyncWrite`
/// (also for `&UnixStream`) and tokio's with the feature `tokio-io`.
///
/// ```
/// use futures_util::{AsyncReadExt, AsyncWriteExt};
/// coframe::block_on(async {
///     let (mut a, mut b) = coframe::net::UnixStream::pair().unwrap();
///     a.write_all(b"ping").await.unwrap();
///     a.close().await.unwrap();
///     let mut got = String::new();
///     b.read_to_string(&mut got).await.unwrap();
///     assert_eq!(got, "ping");
/// });
/// ```
pub struct UnixStream {
    io: Async<std::os::unix::net::UnixStream>,
}

impl UnixStream {
    /// Connects to the socket file `path` without blocking the thread.
    ///
    /// # Errors
    /// The system call's error (`NotFound`, `ConnectionRefused`, ...).
    ///
    /// # Panics
    /// Where no coframe event loop runs.
    ///
    /// ```
    /// coframe::block_on(async {
    ///     let e = coframe::net::UnixStream::connect("/nonexistent/socket").await.unwrap_err();
    ///     assert_eq!(e.kind(), std::io::ErrorKind::NotFound);
    /// });
    /// ```
    pub async fn connect(path: impl AsRef<Path>) -> io::Result<UnixStream> {
        let s = mio::net::UnixStream::connect(path)?;
        // SAFETY: the descriptor comes from the mio stream, which gives up
        // its ownership; mio made it non-blocking.
        let s = unsafe { std::os::unix::net::UnixStream::from_raw_fd(s.into_raw_fd()) };
        let io = Async::new_nonblocking(s)?;
        io.writable().await?;
        if let Some(e) = io.get_ref().take_error()? {
            return Err(e);
        }
        Ok(UnixStream { io })
    }

    /// A connected pair of streams.
    ///
    /// # Errors
    /// The system call's error (`EMFILE`, ...).
    ///
    /// ```
    /// # coframe::block_on(async {
    /// let (a, b) = coframe::net::UnixStream::pair().unwrap();
    /// a.write_all(b"x").await.unwrap();
    /// assert_eq!(b.read(&mut [0; 4]).await.unwrap(), 1);
    /// # });
    /// ```
    #[track_caller]
    pub fn pair() -> io::Result<(UnixStream, UnixStream)> {
        let (a, b) = std::os::unix::net::UnixStream::pair()?;
        Ok((UnixStream::from_std(a)?, UnixStream::from_std(b)?))
    }

    /// Takes a connected `std` stream (made non-blocking here).
    ///
    /// # Errors
    /// As [`Async::new`].
    ///
    /// ```
    /// # coframe::block_on(async {
    /// let (a, _b) = std::os::unix::net::UnixStream::pair().unwrap();
    /// let a = coframe::net::UnixStream::from_std(a).unwrap();
    /// # });
    /// ```
    #[track_caller]
    pub fn from_std(stream: std::os::unix::net::UnixStream) -> io::Result<UnixStream> {
        Ok(UnixStream {
            io: Async::new(stream)?,
        })
    }

    /// Deregisters the stream and gives the `std` stream back (still
    /// non-blocking).
    ///
    /// ```
    /// # coframe::block_on(async {
    /// let (a, _b) = coframe::net::UnixStream::pair().unwrap();
    /// let a: std::os::unix::net::UnixStream = a.into_std();
    /// # });
    /// ```
    pub fn into_std(self) -> std::os::unix::net::UnixStream {
        self.io.into_inner()
    }

    /// Reads into `buf`: the number of bytes read, 0 at the end.
    ///
    /// # Errors
    /// The system call's error.
    ///
    /// ```
    /// # coframe::block_on(async {
    /// let (a, b) = coframe::net::UnixStream::pair().unwrap();
    /// drop(a);
    /// assert_eq!(b.read(&mut [0; 4]).await.unwrap(), 0);
    /// # });
    /// ```
    pub async fn read(&self, buf: &mut [u8]) -> io::Result<usize> {
        poll_fn(|cx| poll_read(&self.io, cx, buf)).await
    }

    /// Writes some of `buf`.
    ///
    /// # Errors
    /// The system call's error (`BrokenPipe`, ...).
    ///
    /// ```
    /// # coframe::block_on(async {
    /// let (a, _b) = coframe::net::UnixStream::pair().unwrap();
    /// assert_eq!(a.write(b"abc").await.unwrap(), 3);
    /// # });
    /// ```
    pub async fn write(&self, buf: &[u8]) -> io::Result<usize> {
        poll_fn(|cx| poll_write(&self.io, cx, buf)).await
    }

    /// Writes all of `buf`.
    ///
    /// # Errors
    /// The system call's error; `WriteZero` if the socket took nothing.
    ///
    /// ```
    /// # coframe::block_on(async {
    /// let (a, _b) = coframe::net::UnixStream::pair().unwrap();
    /// a.write_all(b"abc").await.unwrap();
    /// # });
    /// ```
    pub async fn write_all(&self, buf: &[u8]) -> io::Result<()> {
        write_all(&self.io, buf).await
    }

    /// Shuts down the read side, the write side or both.
    ///
    /// # Errors
    /// The system call's error.
    ///
    /// ```
    /// # coframe::block_on(async {
    /// let (a, b) = coframe::net::UnixStream::pair().unwrap();
    /// a.shutdown(std::net::Shutdown::Write).unwrap();
    /// assert_eq!(b.read(&mut [0; 4]).await.unwrap(), 0);
    /// # });
    /// ```
    pub fn shutdown(&self, how: Shutdown) -> io::Result<()> {
        self.io.get_ref().shutdown(how)
    }

    /// This end's address.
    ///
    /// # Errors
    /// The system call's error.
    ///
    /// ```
    /// # coframe::block_on(async {
    /// let (a, _b) = coframe::net::UnixStream::pair().unwrap();
    /// assert!(a.local_addr().unwrap().is_unnamed());
    /// # });
    /// ```
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.io.get_ref().local_addr()
    }

    /// The peer's address.
    ///
    /// # Errors
    /// The system call's error.
    ///
    /// ```
    /// # coframe::block_on(async {
    /// let (a, _b) = coframe::net::UnixStream::pair().unwrap();
    /// assert!(a.peer_addr().unwrap().is_unnamed());
    /// # });
    /// ```
    pub fn peer_addr(&self) -> io::Result<SocketAddr> {
        self.io.get_ref().peer_addr()
    }
}

impl UnixStream {
    /// The registered socket (the crate's adapters).
    #[cfg_attr(not(feature = "hyper"), allow(dead_code))]
    pub(crate) fn async_io(&self) -> &Async<std::os::unix::net::UnixStream> {
        &self.io
    }
}

impl AsFd for UnixStream {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.io.as_fd()
    }
}

impl AsRawFd for UnixStream {
    fn as_raw_fd(&self) -> RawFd {
        self.io.as_raw_fd()
    }
}

impl fmt::Debug for UnixStream {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("UnixStream")
            .field("fd", &self.as_raw_fd())
            .finish()
    }
}

impl_async_read!([] UnixStream, |s| &s.io);
impl_async_write!([] UnixStream, |s| &s.io);
impl_async_read!(['a] &'a UnixStream, |s| &s.io);
impl_async_write!(['a] &'a UnixStream, |s| &s.io);

/// A Unix domain datagram socket.
///
/// ```
/// coframe::block_on(async {
///     let (a, b) = coframe::net::UnixDatagram::pair().unwrap();
///     a.send(b"one").await.unwrap();
///     let mut buf = [0; 8];
///     assert_eq!(b.recv(&mut buf).await.unwrap(), 3);
/// });
/// ```
pub struct UnixDatagram {
    io: Async<std::os::unix::net::UnixDatagram>,
}

impl UnixDatagram {
    /// Binds a socket to the socket file `path`.
    ///
    /// # Errors
    /// The system call's error.
    ///
    /// # Panics
    /// Where no coframe event loop runs.
    ///
    /// ```
    /// # let p = std::env::temp_dir().join(format!("coframe-doc-udb-{}", std::process::id()));
    /// # let _ = std::fs::remove_file(&p);
    /// coframe::block_on(async {
    ///     let a = coframe::net::UnixDatagram::bind(&p).unwrap();
    ///     let b = coframe::net::UnixDatagram::unbound().unwrap();
    ///     b.send_to(b"hi", &p).await.unwrap();
    ///     let mut buf = [0; 4];
    ///     assert_eq!(a.recv_from(&mut buf).await.unwrap().0, 2);
    /// });
    /// # std::fs::remove_file(&p).unwrap();
    /// ```
    #[track_caller]
    pub fn bind(path: impl AsRef<Path>) -> io::Result<UnixDatagram> {
        UnixDatagram::from_std(std::os::unix::net::UnixDatagram::bind(path)?)
    }

    /// A socket bound to no address.
    ///
    /// # Errors
    /// The system call's error.
    ///
    /// ```
    /// # coframe::block_on(async {
    /// let s = coframe::net::UnixDatagram::unbound().unwrap();
    /// assert!(s.local_addr().unwrap().is_unnamed());
    /// # });
    /// ```
    #[track_caller]
    pub fn unbound() -> io::Result<UnixDatagram> {
        UnixDatagram::from_std(std::os::unix::net::UnixDatagram::unbound()?)
    }

    /// A connected pair of sockets.
    ///
    /// # Errors
    /// The system call's error.
    ///
    /// ```
    /// # coframe::block_on(async {
    /// let (a, b) = coframe::net::UnixDatagram::pair().unwrap();
    /// # });
    /// ```
    #[track_caller]
    pub fn pair() -> io::Result<(UnixDatagram, UnixDatagram)> {
        let (a, b) = std::os::unix::net::UnixDatagram::pair()?;
        Ok((UnixDatagram::from_std(a)?, UnixDatagram::from_std(b)?))
    }

    /// Takes a `std` socket (made non-blocking here).
    ///
    /// # Errors
    /// As [`Async::new`].
    ///
    /// ```
    /// # coframe::block_on(async {
    /// let std = std::os::unix::net::UnixDatagram::unbound().unwrap();
    /// let s = coframe::net::UnixDatagram::from_std(std).unwrap();
    /// # });
    /// ```
    #[track_caller]
    pub fn from_std(socket: std::os::unix::net::UnixDatagram) -> io::Result<UnixDatagram> {
        Ok(UnixDatagram {
            io: Async::new(socket)?,
        })
    }

    /// Sets the peer [`send`](UnixDatagram::send) sends to (does not wait).
    ///
    /// # Errors
    /// The system call's error.
    ///
    /// ```
    /// # let p = std::env::temp_dir().join(format!("coframe-doc-udc-{}", std::process::id()));
    /// # let _ = std::fs::remove_file(&p);
    /// coframe::block_on(async {
    ///     let a = coframe::net::UnixDatagram::bind(&p).unwrap();
    ///     let b = coframe::net::UnixDatagram::unbound().unwrap();
    ///     b.connect(&p).unwrap();
    ///     b.send(b"hi").await.unwrap();
    ///     assert_eq!(a.recv(&mut [0; 4]).await.unwrap(), 2);
    /// });
    /// # std::fs::remove_file(&p).unwrap();
    /// ```
    pub fn connect(&self, path: impl AsRef<Path>) -> io::Result<()> {
        self.io.get_ref().connect(path)
    }

    /// Sends `buf` as one datagram to the connected peer.
    ///
    /// # Errors
    /// The system call's error.
    ///
    /// ```
    /// # coframe::block_on(async {
    /// let (a, _b) = coframe::net::UnixDatagram::pair().unwrap();
    /// assert_eq!(a.send(b"hi").await.unwrap(), 2);
    /// # });
    /// ```
    pub async fn send(&self, buf: &[u8]) -> io::Result<usize> {
        self.io.write_with(|s| s.send(buf)).await
    }

    /// Receives one datagram from the connected peer.
    ///
    /// # Errors
    /// The system call's error.
    ///
    /// ```
    /// # coframe::block_on(async {
    /// let (a, b) = coframe::net::UnixDatagram::pair().unwrap();
    /// a.send(b"hi").await.unwrap();
    /// assert_eq!(b.recv(&mut [0; 4]).await.unwrap(), 2);
    /// # });
    /// ```
    pub async fn recv(&self, buf: &mut [u8]) -> io::Result<usize> {
        self.io.read_with(|s| s.recv(buf)).await
    }

    /// Sends `buf` as one datagram to the socket file `path`.
    ///
    /// # Errors
    /// The system call's error.
    ///
    /// ```
    /// # coframe::block_on(async {
    /// let s = coframe::net::UnixDatagram::unbound().unwrap();
    /// assert!(s.send_to(b"hi", "/nonexistent/socket").await.is_err());
    /// # });
    /// ```
    pub async fn send_to(&self, buf: &[u8], path: impl AsRef<Path>) -> io::Result<usize> {
        let path = path.as_ref();
        self.io.write_with(|s| s.send_to(buf, path)).await
    }

    /// Receives one datagram: its length and its sender.
    ///
    /// # Errors
    /// The system call's error.
    ///
    /// ```
    /// # coframe::block_on(async {
    /// let (a, b) = coframe::net::UnixDatagram::pair().unwrap();
    /// a.send(b"hi").await.unwrap();
    /// assert_eq!(b.recv_from(&mut [0; 4]).await.unwrap().0, 2);
    /// # });
    /// ```
    pub async fn recv_from(&self, buf: &mut [u8]) -> io::Result<(usize, SocketAddr)> {
        self.io.read_with(|s| s.recv_from(buf)).await
    }

    /// This socket's address.
    ///
    /// # Errors
    /// The system call's error.
    ///
    /// ```
    /// # coframe::block_on(async {
    /// let (a, _b) = coframe::net::UnixDatagram::pair().unwrap();
    /// assert!(a.local_addr().unwrap().is_unnamed());
    /// # });
    /// ```
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.io.get_ref().local_addr()
    }
}

impl AsFd for UnixDatagram {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.io.as_fd()
    }
}

impl AsRawFd for UnixDatagram {
    fn as_raw_fd(&self) -> RawFd {
        self.io.as_raw_fd()
    }
}

impl fmt::Debug for UnixDatagram {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("UnixDatagram")
            .field("fd", &self.as_raw_fd())
            .finish()
    }
}
