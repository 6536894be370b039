//! TCP: [`TcpListener`] (and its [`Incoming`] stream of connections),
//! [`TcpStream`], and the owned halves a stream splits into.
//!
//! Owns: one `Async` per socket (the listener's, the stream's); the halves
//! share their stream through an `Arc`, so its registration and descriptor
//! live until the last half is dropped.

use super::{each_addr, impl_async_read, impl_async_write, poll_read, poll_write, write_all};
use crate::io::Async;
use futures_core::Stream;
use std::fmt;
use std::future::poll_fn;
use std::io;
use std::net::{Shutdown, SocketAddr, ToSocketAddrs};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, IntoRawFd, RawFd};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

/// A TCP socket listening for connections, registered with the current
/// coframe event loop.
///
/// ```
/// use coframe::net::{TcpListener, TcpStream};
///
/// coframe::block_on(async {
///     let listener = TcpListener::bind("127.0.0.1:0").unwrap();
///     let addr = listener.local_addr().unwrap();
///     let client = TcpStream::connect(addr).await.unwrap();
///     let (server, peer) = listener.accept().await.unwrap();
///     assert_eq!(peer, client.local_addr().unwrap());
///     client.write_all(b"hello").await.unwrap();
///     let mut buf = [0; 5];
///     let n = server.read(&mut buf).await.unwrap();
///     assert_eq!(&buf[..n], b"hello");
/// });
/// ```
///
/// # Running out of descriptors
///
/// `accept` returns the system call's error as it is; a listener that got
/// one (`EMFILE`, `ENFILE`, `ENOBUFS`) is still good. The pending
/// connection stays queued, so an accept loop that retries at once spins:
/// back off (e.g. with [`coframe::time::sleep`](crate::time::sleep)) and
/// accept again once descriptors are free.
pub struct TcpListener {
    io: Async<mio::net::TcpListener>,
}

impl TcpListener {
    /// Binds a listener to `addr` (the first of its addresses that binds),
    /// with `SO_REUSEADDR` and a backlog of 1024. Port 0 picks a free port
    /// ([`local_addr`](TcpListener::local_addr) tells which).
    ///
    /// # Errors
    /// The system call's error (`EADDRINUSE`, ...), or `InvalidInput` if
    /// `addr` resolves to nothing.
    ///
    /// # Panics
    /// Where no coframe event loop runs.
    ///
    /// ```
    /// coframe::block_on(async {
    ///     let l = coframe::net::TcpListener::bind("127.0.0.1:0").unwrap();
    ///     assert_ne!(l.local_addr().unwrap().port(), 0);
    /// });
    /// ```
    #[track_caller]
    pub fn bind(addr: impl ToSocketAddrs) -> io::Result<TcpListener> {
        let l = each_addr(addr, mio::net::TcpListener::bind)?;
        super::set_backlog(&l)?;
        Ok(TcpListener {
            io: Async::new_nonblocking(l)?,
        })
    }

    /// Takes a bound, listening `std` listener (made non-blocking here).
    ///
    /// # Errors
    /// As [`Async::new`].
    ///
    /// ```
    /// coframe::block_on(async {
    ///     let std = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    ///     let l = coframe::net::TcpListener::from_std(std).unwrap();
    ///     # drop(l);
    /// });
    /// ```
    #[track_caller]
    pub fn from_std(listener: std::net::TcpListener) -> io::Result<TcpListener> {
        listener.set_nonblocking(true)?;
        Ok(TcpListener {
            io: Async::new_nonblocking(mio::net::TcpListener::from_std(listener))?,
        })
    }

    /// Accepts a connection: the stream (non-blocking, close-on-exec,
    /// registered with the current event loop) and the peer's address.
    ///
    /// # Errors
    /// The system call's error (see the type's docs for `EMFILE`).
    ///
    /// ```
    /// # coframe::block_on(async {
    /// let l = coframe::net::TcpListener::bind("127.0.0.1:0").unwrap();
    /// let c = coframe::net::TcpStream::connect(l.local_addr().unwrap()).await.unwrap();
    /// let (s, peer) = l.accept().await.unwrap();
    /// assert_eq!(s.peer_addr().unwrap(), peer);
    /// # });
    /// ```
    pub async fn accept(&self) -> io::Result<(TcpStream, SocketAddr)> {
        poll_fn(|cx| self.poll_accept(cx)).await
    }

    /// Poll form of [`accept`](TcpListener::accept).
    ///
    /// ```
    /// # coframe::block_on(async {
    /// let l = coframe::net::TcpListener::bind("127.0.0.1:0").unwrap();
    /// let _c = coframe::net::TcpStream::connect(l.local_addr().unwrap()).await.unwrap();
    /// let (_s, _peer) = std::future::poll_fn(|cx| l.poll_accept(cx)).await.unwrap();
    /// # });
    /// ```
    pub fn poll_accept(&self, cx: &mut Context<'_>) -> Poll<io::Result<(TcpStream, SocketAddr)>> {
        let (s, addr) = match self.io.poll_read_with(cx, |l| l.accept()) {
            Poll::Ready(Ok(r)) => r,
            Poll::Ready(Err(e)) => return Poll::Ready(Err(e)),
            Poll::Pending => return Poll::Pending,
        };
        // SAFETY: the descriptor comes from the mio stream, which gives up
        // its ownership; accept4(SOCK_NONBLOCK) made it non-blocking.
        let s = unsafe { std::net::TcpStream::from_raw_fd(s.into_raw_fd()) };
        Poll::Ready(Async::new_nonblocking(s).map(|io| (TcpStream { io }, addr)))
    }

    /// The connections, as a `futures_core::Stream` that never ends (an
    /// accept error is an item; the stream goes on after it).
    ///
    /// ```
    /// use futures_util::StreamExt;
    /// # coframe::block_on(async {
    /// let l = coframe::net::TcpListener::bind("127.0.0.1:0").unwrap();
    /// let _c = coframe::net::TcpStream::connect(l.local_addr().unwrap()).await.unwrap();
    /// let mut incoming = l.incoming();
    /// let s = incoming.next().await.unwrap().unwrap();
    /// # drop(s);
    /// # });
    /// ```
    pub fn incoming(&self) -> Incoming<'_> {
        Incoming { listener: self }
    }

    /// The address the listener is bound to.
    ///
    /// # Errors
    /// The system call's error.
    ///
    /// ```
    /// # coframe::block_on(async {
    /// let l = coframe::net::TcpListener::bind("127.0.0.1:0").unwrap();
    /// assert!(l.local_addr().unwrap().ip().is_loopback());
    /// # });
    /// ```
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.io.get_ref().local_addr()
    }
}

impl AsFd for TcpListener {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.io.as_fd()
    }
}

impl AsRawFd for TcpListener {
    fn as_raw_fd(&self) -> RawFd {
        self.io.as_raw_fd()
    }
}

impl fmt::Debug for TcpListener {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TcpListener")
            .field("addr", &self.local_addr().ok())
            .field("fd", &self.as_raw_fd())
            .finish()
    }
}

/// The connections of a [`TcpListener`]: see [`TcpListener::incoming`].
#[derive(Debug)]
#[must_use = "streams do nothing unless polled"]
pub struct Incoming<'a> {
    listener: &'a TcpListener,
}

impl Stream for Incoming<'_> {
    type Item = io::Result<TcpStream>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        self.listener
            .poll_accept(cx)
            .map(|r| Some(r.map(|(s, _)| s)))
    }
}

/// A TCP connection, registered with the current coframe event loop.
///
/// Its methods take `&self`: one task may read while another writes
/// (through an `Arc`, or [`into_split`](TcpStream::into_split)). It
/// implements `futures_io::AsyncRead`/`AsyncWrite` (also for
/// `&TcpStream`), and tokio's with the feature `tokio-io`; closing it that
/// way shuts its write side down. Dropping it closes the socket.
///
/// ```
/// use coframe::net::{TcpListener, TcpStream};
/// use futures_util::{AsyncReadExt, AsyncWriteExt};
///
/// coframe::block_on(async {
///     let l = TcpListener::bind("127.0.0.1:0").unwrap();
///     let mut c = TcpStream::connect(l.local_addr().unwrap()).await.unwrap();
///     let (mut s, _) = l.accept().await.unwrap();
///     c.write_all(b"ping").await.unwrap();
///     c.close().await.unwrap(); // shutdown(Write): the server sees EOF
///     let mut got = Vec::new();
///     s.read_to_end(&mut got).await.unwrap();
///     assert_eq!(got, b"ping");
/// });
/// ```
pub struct TcpStream {
    io: Async<std::net::TcpStream>,
}

impl TcpStream {
    /// Connects to `addr` (each of its addresses in turn) without blocking
    /// the thread.
    ///
    /// # Errors
    /// The last address's error (`ConnectionRefused`, ...), or
    /// `InvalidInput` if `addr` resolves to nothing.
    ///
    /// # Panics
    /// Where no coframe event loop runs.
    ///
    /// ```
    /// # coframe::block_on(async {
    /// let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    /// let addr = l.local_addr().unwrap();
    /// drop(l);
    /// let e = coframe::net::TcpStream::connect(addr).await.unwrap_err();
    /// assert_eq!(e.kind(), std::io::ErrorKind::ConnectionRefused);
    /// # });
    /// ```
    pub async fn connect(addr: impl ToSocketAddrs) -> io::Result<TcpStream> {
        let mut last = None;
        for a in super::resolve(addr)? {
            match Self::connect_one(a).await {
                Ok(s) => return Ok(s),
                Err(e) => last = Some(e),
            }
        }
        Err(last.expect("resolve returns at least one address"))
    }

    async fn connect_one(addr: SocketAddr) -> io::Result<TcpStream> {
        let s = mio::net::TcpStream::connect(addr)?;
        // SAFETY: the descriptor comes from the mio stream, which gives up
        // its ownership; mio made it non-blocking.
        let s = unsafe { std::net::TcpStream::from_raw_fd(s.into_raw_fd()) };
        let io = Async::new_nonblocking(s)?;
        // Connected (or failed) once writable.
        io.writable().await?;
        if let Some(e) = io.get_ref().take_error()? {
            return Err(e);
        }
        // A connection reset before it was ever used reports no SO_ERROR:
        // ask for the peer.
        io.get_ref().peer_addr()?;
        Ok(TcpStream { io })
    }

    /// Takes a connected `std` stream (made non-blocking here).
    ///
    /// # Errors
    /// As [`Async::new`].
    ///
    /// ```
    /// # coframe::block_on(async {
    /// let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    /// let std = std::net::TcpStream::connect(l.local_addr().unwrap()).unwrap();
    /// let s = coframe::net::TcpStream::from_std(std).unwrap();
    /// # drop(s);
    /// # });
    /// ```
    #[track_caller]
    pub fn from_std(stream: std::net::TcpStream) -> io::Result<TcpStream> {
        Ok(TcpStream {
            io: Async::new(stream)?,
        })
    }

    /// Deregisters the stream and gives the `std` stream back (still
    /// non-blocking).
    ///
    /// ```
    /// # coframe::block_on(async {
    /// # let l = coframe::net::TcpListener::bind("127.0.0.1:0").unwrap();
    /// # let s = coframe::net::TcpStream::connect(l.local_addr().unwrap()).await.unwrap();
    /// let std: std::net::TcpStream = s.into_std();
    /// # });
    /// ```
    pub fn into_std(self) -> std::net::TcpStream {
        self.io.into_inner()
    }

    /// Reads into `buf`: the number of bytes read, 0 at the end of the
    /// stream (or for an empty `buf`).
    ///
    /// # Errors
    /// The system call's error (`ConnectionReset`, ...).
    ///
    /// ```
    /// # coframe::block_on(async {
    /// # let l = coframe::net::TcpListener::bind("127.0.0.1:0").unwrap();
    /// # let c = coframe::net::TcpStream::connect(l.local_addr().unwrap()).await.unwrap();
    /// # let (s, _) = l.accept().await.unwrap();
    /// c.write_all(b"abc").await.unwrap();
    /// let mut buf = [0; 8];
    /// assert_eq!(s.read(&mut buf).await.unwrap(), 3);
    /// # });
    /// ```
    pub async fn read(&self, buf: &mut [u8]) -> io::Result<usize> {
        poll_fn(|cx| poll_read(&self.io, cx, buf)).await
    }

    /// Poll form of [`read`](TcpStream::read).
    ///
    /// ```
    /// # coframe::block_on(async {
    /// # let l = coframe::net::TcpListener::bind("127.0.0.1:0").unwrap();
    /// # let c = coframe::net::TcpStream::connect(l.local_addr().unwrap()).await.unwrap();
    /// # let (s, _) = l.accept().await.unwrap();
    /// c.write_all(b"abc").await.unwrap();
    /// let mut buf = [0; 8];
    /// let n = std::future::poll_fn(|cx| s.poll_read(cx, &mut buf)).await.unwrap();
    /// assert_eq!(n, 3);
    /// # });
    /// ```
    pub fn poll_read(&self, cx: &mut Context<'_>, buf: &mut [u8]) -> Poll<io::Result<usize>> {
        poll_read(&self.io, cx, buf)
    }

    /// Reads into `buf` without taking the data out of the stream.
    ///
    /// # Errors
    /// The system call's error.
    ///
    /// ```
    /// # coframe::block_on(async {
    /// # let l = coframe::net::TcpListener::bind("127.0.0.1:0").unwrap();
    /// # let c = coframe::net::TcpStream::connect(l.local_addr().unwrap()).await.unwrap();
    /// # let (s, _) = l.accept().await.unwrap();
    /// c.write_all(b"abc").await.unwrap();
    /// let mut buf = [0; 8];
    /// assert_eq!(s.peek(&mut buf).await.unwrap(), 3);
    /// assert_eq!(s.read(&mut buf).await.unwrap(), 3); // still there
    /// # });
    /// ```
    pub async fn peek(&self, buf: &mut [u8]) -> io::Result<usize> {
        self.io.read_with(|s| s.peek(buf)).await
    }

    /// Writes some of `buf`: the number of bytes written.
    ///
    /// # Errors
    /// The system call's error (`BrokenPipe`, `ConnectionReset`, ...).
    ///
    /// ```
    /// # coframe::block_on(async {
    /// # let l = coframe::net::TcpListener::bind("127.0.0.1:0").unwrap();
    /// # let c = coframe::net::TcpStream::connect(l.local_addr().unwrap()).await.unwrap();
    /// assert_eq!(c.write(b"abc").await.unwrap(), 3);
    /// # });
    /// ```
    pub async fn write(&self, buf: &[u8]) -> io::Result<usize> {
        poll_fn(|cx| poll_write(&self.io, cx, buf)).await
    }

    /// Poll form of [`write`](TcpStream::write).
    ///
    /// ```
    /// # coframe::block_on(async {
    /// # let l = coframe::net::TcpListener::bind("127.0.0.1:0").unwrap();
    /// # let c = coframe::net::TcpStream::connect(l.local_addr().unwrap()).await.unwrap();
    /// let n = std::future::poll_fn(|cx| c.poll_write(cx, b"abc")).await.unwrap();
    /// assert_eq!(n, 3);
    /// # });
    /// ```
    pub fn poll_write(&self, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        poll_write(&self.io, cx, buf)
    }

    /// Writes all of `buf`.
    ///
    /// # Errors
    /// The system call's error; `WriteZero` if the socket took nothing.
    ///
    /// ```
    /// # coframe::block_on(async {
    /// # let l = coframe::net::TcpListener::bind("127.0.0.1:0").unwrap();
    /// # let c = coframe::net::TcpStream::connect(l.local_addr().unwrap()).await.unwrap();
    /// c.write_all(b"hello").await.unwrap();
    /// # });
    /// ```
    pub async fn write_all(&self, buf: &[u8]) -> io::Result<()> {
        write_all(&self.io, buf).await
    }

    /// Waits until the stream is readable (see [`Async::readable`]).
    ///
    /// # Errors
    /// If the event loop has shut down.
    ///
    /// ```
    /// # coframe::block_on(async {
    /// # let l = coframe::net::TcpListener::bind("127.0.0.1:0").unwrap();
    /// # let c = coframe::net::TcpStream::connect(l.local_addr().unwrap()).await.unwrap();
    /// # let (s, _) = l.accept().await.unwrap();
    /// c.write_all(b"x").await.unwrap();
    /// s.readable().await.unwrap();
    /// # });
    /// ```
    pub async fn readable(&self) -> io::Result<()> {
        self.io.readable().await
    }

    /// Waits until the stream is writable (see [`Async::writable`]).
    ///
    /// # Errors
    /// If the event loop has shut down.
    ///
    /// ```
    /// # coframe::block_on(async {
    /// # let l = coframe::net::TcpListener::bind("127.0.0.1:0").unwrap();
    /// # let c = coframe::net::TcpStream::connect(l.local_addr().unwrap()).await.unwrap();
    /// c.writable().await.unwrap();
    /// # });
    /// ```
    pub async fn writable(&self) -> io::Result<()> {
        self.io.writable().await
    }

    /// Shuts down the read side, the write side or both (the peer reads
    /// EOF after a write shutdown).
    ///
    /// # Errors
    /// The system call's error (`NotConnected`, ...).
    ///
    /// ```
    /// # coframe::block_on(async {
    /// # let l = coframe::net::TcpListener::bind("127.0.0.1:0").unwrap();
    /// # let c = coframe::net::TcpStream::connect(l.local_addr().unwrap()).await.unwrap();
    /// # let (s, _) = l.accept().await.unwrap();
    /// c.shutdown(std::net::Shutdown::Write).unwrap();
    /// assert_eq!(s.read(&mut [0; 4]).await.unwrap(), 0);
    /// # });
    /// ```
    pub fn shutdown(&self, how: Shutdown) -> io::Result<()> {
        self.io.get_ref().shutdown(how)
    }

    /// Sets `TCP_NODELAY` (no Nagle delay for small writes).
    ///
    /// # Errors
    /// The system call's error.
    ///
    /// ```
    /// # coframe::block_on(async {
    /// # let l = coframe::net::TcpListener::bind("127.0.0.1:0").unwrap();
    /// # let c = coframe::net::TcpStream::connect(l.local_addr().unwrap()).await.unwrap();
    /// c.set_nodelay(true).unwrap();
    /// assert!(c.nodelay().unwrap());
    /// # });
    /// ```
    pub fn set_nodelay(&self, nodelay: bool) -> io::Result<()> {
        self.io.get_ref().set_nodelay(nodelay)
    }

    /// Whether `TCP_NODELAY` is set.
    ///
    /// # Errors
    /// The system call's error.
    ///
    /// ```
    /// # coframe::block_on(async {
    /// # let l = coframe::net::TcpListener::bind("127.0.0.1:0").unwrap();
    /// # let c = coframe::net::TcpStream::connect(l.local_addr().unwrap()).await.unwrap();
    /// assert!(!c.nodelay().unwrap());
    /// # });
    /// ```
    pub fn nodelay(&self) -> io::Result<bool> {
        self.io.get_ref().nodelay()
    }

    /// This end's address.
    ///
    /// # Errors
    /// The system call's error.
    ///
    /// ```
    /// # coframe::block_on(async {
    /// # let l = coframe::net::TcpListener::bind("127.0.0.1:0").unwrap();
    /// # let c = coframe::net::TcpStream::connect(l.local_addr().unwrap()).await.unwrap();
    /// assert!(c.local_addr().unwrap().ip().is_loopback());
    /// # });
    /// ```
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.io.get_ref().local_addr()
    }

    /// The peer's address.
    ///
    /// # Errors
    /// The system call's error (`NotConnected`).
    ///
    /// ```
    /// # coframe::block_on(async {
    /// # let l = coframe::net::TcpListener::bind("127.0.0.1:0").unwrap();
    /// # let c = coframe::net::TcpStream::connect(l.local_addr().unwrap()).await.unwrap();
    /// assert_eq!(c.peer_addr().unwrap(), l.local_addr().unwrap());
    /// # });
    /// ```
    pub fn peer_addr(&self) -> io::Result<SocketAddr> {
        self.io.get_ref().peer_addr()
    }

    /// Splits the stream into a read half and a write half that tasks may
    /// own separately (both share the one registration). Dropping the
    /// write half shuts the write side down, as closing it does; the
    /// socket is closed when both are dropped.
    ///
    /// ```
    /// # coframe::block_on(async {
    /// # let l = coframe::net::TcpListener::bind("127.0.0.1:0").unwrap();
    /// # let c = coframe::net::TcpStream::connect(l.local_addr().unwrap()).await.unwrap();
    /// # let (s, _) = l.accept().await.unwrap();
    /// let (r, w) = s.into_split();
    /// c.write_all(b"hi").await.unwrap();
    /// let mut buf = [0; 2];
    /// r.read(&mut buf).await.unwrap();
    /// w.write_all(&buf).await.unwrap();
    /// # });
    /// ```
    pub fn into_split(self) -> (OwnedReadHalf, OwnedWriteHalf) {
        let s = Arc::new(self);
        (
            OwnedReadHalf { stream: s.clone() },
            OwnedWriteHalf { stream: s },
        )
    }
}

impl TcpStream {
    /// The registered socket (the crate's adapters).
    #[cfg_attr(not(feature = "hyper"), allow(dead_code))]
    pub(crate) fn async_io(&self) -> &Async<std::net::TcpStream> {
        &self.io
    }
}

impl AsFd for TcpStream {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.io.as_fd()
    }
}

impl AsRawFd for TcpStream {
    fn as_raw_fd(&self) -> RawFd {
        self.io.as_raw_fd()
    }
}

impl fmt::Debug for TcpStream {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TcpStream")
            .field("local", &self.local_addr().ok())
            .field("peer", &self.peer_addr().ok())
            .field("fd", &self.as_raw_fd())
            .finish()
    }
}

impl_async_read!([] TcpStream, |s| &s.io);
impl_async_write!([] TcpStream, |s| &s.io);
impl_async_read!(['a] &'a TcpStream, |s| &s.io);
impl_async_write!(['a] &'a TcpStream, |s| &s.io);

/// The read half of a [`TcpStream`] ([`TcpStream::into_split`]).
#[derive(Debug)]
pub struct OwnedReadHalf {
    stream: Arc<TcpStream>,
}

impl OwnedReadHalf {
    /// As [`TcpStream::read`].
    ///
    /// # Errors
    /// As [`TcpStream::read`].
    ///
    /// ```
    /// # coframe::block_on(async {
    /// # let l = coframe::net::TcpListener::bind("127.0.0.1:0").unwrap();
    /// # let c = coframe::net::TcpStream::connect(l.local_addr().unwrap()).await.unwrap();
    /// let (r, w) = c.into_split();
    /// drop(w); // the write side shuts down
    /// # let (s, _) = l.accept().await.unwrap();
    /// assert_eq!(s.read(&mut [0; 4]).await.unwrap(), 0);
    /// # drop(r);
    /// # });
    /// ```
    pub async fn read(&self, buf: &mut [u8]) -> io::Result<usize> {
        self.stream.read(buf).await
    }

    /// As [`TcpStream::peek`].
    ///
    /// # Errors
    /// As [`TcpStream::peek`].
    ///
    /// ```
    /// # coframe::block_on(async {
    /// # let l = coframe::net::TcpListener::bind("127.0.0.1:0").unwrap();
    /// # let c = coframe::net::TcpStream::connect(l.local_addr().unwrap()).await.unwrap();
    /// # let (s, _) = l.accept().await.unwrap();
    /// let (r, _w) = s.into_split();
    /// c.write_all(b"x").await.unwrap();
    /// assert_eq!(r.peek(&mut [0; 4]).await.unwrap(), 1);
    /// # });
    /// ```
    pub async fn peek(&self, buf: &mut [u8]) -> io::Result<usize> {
        self.stream.peek(buf).await
    }
}

/// The write half of a [`TcpStream`] ([`TcpStream::into_split`]).
/// Dropping it shuts the stream's write side down.
#[derive(Debug)]
pub struct OwnedWriteHalf {
    stream: Arc<TcpStream>,
}

impl OwnedWriteHalf {
    /// As [`TcpStream::write`].
    ///
    /// # Errors
    /// As [`TcpStream::write`].
    ///
    /// ```
    /// # coframe::block_on(async {
    /// # let l = coframe::net::TcpListener::bind("127.0.0.1:0").unwrap();
    /// # let c = coframe::net::TcpStream::connect(l.local_addr().unwrap()).await.unwrap();
    /// let (_r, w) = c.into_split();
    /// assert_eq!(w.write(b"abc").await.unwrap(), 3);
    /// # });
    /// ```
    pub async fn write(&self, buf: &[u8]) -> io::Result<usize> {
        self.stream.write(buf).await
    }

    /// As [`TcpStream::write_all`].
    ///
    /// # Errors
    /// As [`TcpStream::write_all`].
    ///
    /// ```
    /// # coframe::block_on(async {
    /// # let l = coframe::net::TcpListener::bind("127.0.0.1:0").unwrap();
    /// # let c = coframe::net::TcpStream::connect(l.local_addr().unwrap()).await.unwrap();
    /// let (_r, w) = c.into_split();
    /// w.write_all(b"abc").await.unwrap();
    /// # });
    /// ```
    pub async fn write_all(&self, buf: &[u8]) -> io::Result<()> {
        self.stream.write_all(buf).await
    }
}

/// The stream both halves share.
///
/// ```
/// # coframe::block_on(async {
/// # let l = coframe::net::TcpListener::bind("127.0.0.1:0").unwrap();
/// # let c = coframe::net::TcpStream::connect(l.local_addr().unwrap()).await.unwrap();
/// let (r, _w) = c.into_split();
/// let s: &coframe::net::TcpStream = r.as_ref();
/// assert_eq!(s.peer_addr().unwrap(), l.local_addr().unwrap());
/// # });
/// ```
impl AsRef<TcpStream> for OwnedReadHalf {
    fn as_ref(&self) -> &TcpStream {
        &self.stream
    }
}

/// The stream both halves share.
///
/// ```
/// # coframe::block_on(async {
/// # let l = coframe::net::TcpListener::bind("127.0.0.1:0").unwrap();
/// # let c = coframe::net::TcpStream::connect(l.local_addr().unwrap()).await.unwrap();
/// let (_r, w) = c.into_split();
/// let s: &coframe::net::TcpStream = w.as_ref();
/// s.set_nodelay(true).unwrap();
/// # });
/// ```
impl AsRef<TcpStream> for OwnedWriteHalf {
    fn as_ref(&self) -> &TcpStream {
        &self.stream
    }
}

impl Drop for OwnedWriteHalf {
    fn drop(&mut self) {
        // The peer may be gone already: nothing to report.
        let _ = self.stream.shutdown(Shutdown::Write);
    }
}

impl_async_read!([] OwnedReadHalf, |s| &s.stream.io);
impl_async_write!([] OwnedWriteHalf, |s| &s.stream.io);
