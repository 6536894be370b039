//! UDP: [`UdpSocket`].
//!
//! Owns: one `Async` per socket. Datagram reads clear readiness only on
//! `WouldBlock` (a short datagram says nothing of the queue behind it).

use super::each_addr;
use crate::io::Async;
use std::fmt;
use std::io;
use std::net::{SocketAddr, ToSocketAddrs};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, RawFd};
use std::task::{Context, Poll};

/// A UDP socket registered with the current coframe event loop. Its
/// methods take `&self`: several tasks may send and receive at once.
///
/// ```
/// use coframe::net::UdpSocket;
///
/// coframe::block_on(async {
///     let a = UdpSocket::bind("127.0.0.1:0").unwrap();
///     let b = UdpSocket::bind("127.0.0.1:0").unwrap();
///     a.send_to(b"ping", b.local_addr().unwrap()).await.unwrap();
///     let mut buf = [0; 16];
///     let (n, from) = b.recv_from(&mut buf).await.unwrap();
///     assert_eq!((&buf[..n], from), (&b"ping"[..], a.local_addr().unwrap()));
/// });
/// ```
pub struct UdpSocket {
    io: Async<std::net::UdpSocket>,
}

impl UdpSocket {
    /// Binds a socket to `addr` (the first of its addresses that binds).
    ///
    /// # Errors
    /// The system call's error, or `InvalidInput` if `addr` resolves to
    /// nothing.
    ///
    /// # Panics
    /// Where no coframe event loop runs.
    ///
    /// ```
    /// # coframe::block_on(async {
    /// let s = coframe::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    /// assert_ne!(s.local_addr().unwrap().port(), 0);
    /// # });
    /// ```
    #[track_caller]
    pub fn bind(addr: impl ToSocketAddrs) -> io::Result<UdpSocket> {
        let s = each_addr(addr, std::net::UdpSocket::bind)?;
        UdpSocket::from_std(s)
    }

    /// Takes a bound `std` socket (made non-blocking here).
    ///
    /// # Errors
    /// As [`Async::new`].
    ///
    /// ```
    /// # coframe::block_on(async {
    /// let std = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    /// let s = coframe::net::UdpSocket::from_std(std).unwrap();
    /// # drop(s);
    /// # });
    /// ```
    #[track_caller]
    pub fn from_std(socket: std::net::UdpSocket) -> io::Result<UdpSocket> {
        Ok(UdpSocket {
            io: Async::new(socket)?,
        })
    }

    /// Deregisters the socket and gives the `std` socket back (still
    /// non-blocking).
    ///
    /// ```
    /// # coframe::block_on(async {
    /// let s = coframe::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    /// let std: std::net::UdpSocket = s.into_std();
    /// # });
    /// ```
    pub fn into_std(self) -> std::net::UdpSocket {
        self.io.into_inner()
    }

    /// Sets the peer that [`send`](UdpSocket::send) sends to and the only
    /// one [`recv`](UdpSocket::recv) receives from (no packet is sent: it
    /// does not wait).
    ///
    /// # Errors
    /// The system call's error, or `InvalidInput` if `addr` resolves to
    /// nothing.
    ///
    /// ```
    /// # coframe::block_on(async {
    /// let a = coframe::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    /// let b = coframe::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    /// a.connect(b.local_addr().unwrap()).unwrap();
    /// assert_eq!(a.peer_addr().unwrap(), b.local_addr().unwrap());
    /// # });
    /// ```
    pub fn connect(&self, addr: impl ToSocketAddrs) -> io::Result<()> {
        each_addr(addr, |a| self.io.get_ref().connect(a))
    }

    /// Sends `buf` as one datagram to the connected peer.
    ///
    /// # Errors
    /// The system call's error (`NotConnected`, `ConnectionRefused` after
    /// an ICMP port unreachable, ...).
    ///
    /// ```
    /// # coframe::block_on(async {
    /// let a = coframe::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    /// let b = coframe::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    /// a.connect(b.local_addr().unwrap()).unwrap();
    /// b.connect(a.local_addr().unwrap()).unwrap();
    /// a.send(b"hi").await.unwrap();
    /// let mut buf = [0; 8];
    /// assert_eq!(b.recv(&mut buf).await.unwrap(), 2);
    /// # });
    /// ```
    pub async fn send(&self, buf: &[u8]) -> io::Result<usize> {
        self.io.write_with(|s| s.send(buf)).await
    }

    /// Receives one datagram from the connected peer into `buf` (the
    /// excess of a longer one is discarded).
    ///
    /// # Errors
    /// The system call's error.
    ///
    /// ```
    /// # coframe::block_on(async {
    /// let a = coframe::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    /// let b = coframe::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    /// b.connect(a.local_addr().unwrap()).unwrap();
    /// a.send_to(b"hi", b.local_addr().unwrap()).await.unwrap();
    /// let mut buf = [0; 8];
    /// assert_eq!(b.recv(&mut buf).await.unwrap(), 2);
    /// # });
    /// ```
    pub async fn recv(&self, buf: &mut [u8]) -> io::Result<usize> {
        self.io.read_with(|s| s.recv(buf)).await
    }

    /// Sends `buf` as one datagram to `target`.
    ///
    /// # Errors
    /// The system call's error, or `InvalidInput` if `target` resolves to
    /// nothing.
    ///
    /// ```
    /// # coframe::block_on(async {
    /// let a = coframe::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    /// assert_eq!(a.send_to(b"hi", a.local_addr().unwrap()).await.unwrap(), 2);
    /// # });
    /// ```
    pub async fn send_to(&self, buf: &[u8], target: impl ToSocketAddrs) -> io::Result<usize> {
        // No allocation for a `SocketAddr` (the common case per datagram).
        let target = target.to_socket_addrs()?.next().ok_or_else(|| {
            io::Error::new(
                io::ErrorKind::InvalidInput,
                "the address resolved to no socket address",
            )
        })?;
        self.io.write_with(|s| s.send_to(buf, target)).await
    }

    /// Receives one datagram into `buf`: its length (at most `buf.len()`)
    /// and its sender.
    ///
    /// # Errors
    /// The system call's error.
    ///
    /// ```
    /// # coframe::block_on(async {
    /// let a = coframe::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    /// a.send_to(b"hi", a.local_addr().unwrap()).await.unwrap();
    /// let mut buf = [0; 8];
    /// let (n, from) = a.recv_from(&mut buf).await.unwrap();
    /// assert_eq!((n, from), (2, a.local_addr().unwrap()));
    /// # });
    /// ```
    pub async fn recv_from(&self, buf: &mut [u8]) -> io::Result<(usize, SocketAddr)> {
        self.io.read_with(|s| s.recv_from(buf)).await
    }

    /// Poll form of [`recv_from`](UdpSocket::recv_from).
    ///
    /// ```
    /// # coframe::block_on(async {
    /// let a = coframe::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    /// a.send_to(b"hi", a.local_addr().unwrap()).await.unwrap();
    /// let mut buf = [0; 8];
    /// let (n, _) = std::future::poll_fn(|cx| a.poll_recv_from(cx, &mut buf)).await.unwrap();
    /// assert_eq!(n, 2);
    /// # });
    /// ```
    pub fn poll_recv_from(
        &self,
        cx: &mut Context<'_>,
        buf: &mut [u8],
    ) -> Poll<io::Result<(usize, SocketAddr)>> {
        self.io.poll_read_with(cx, |s| s.recv_from(buf))
    }

    /// Poll form of [`send_to`](UdpSocket::send_to), to a resolved address.
    ///
    /// ```
    /// # coframe::block_on(async {
    /// let a = coframe::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    /// let to = a.local_addr().unwrap();
    /// let n = std::future::poll_fn(|cx| a.poll_send_to(cx, b"hi", to)).await.unwrap();
    /// assert_eq!(n, 2);
    /// # });
    /// ```
    pub fn poll_send_to(
        &self,
        cx: &mut Context<'_>,
        buf: &[u8],
        target: SocketAddr,
    ) -> Poll<io::Result<usize>> {
        self.io.poll_write_with(cx, |s| s.send_to(buf, target))
    }

    /// Receives one datagram into `buf` without taking it off the queue.
    ///
    /// # Errors
    /// The system call's error.
    ///
    /// ```
    /// # coframe::block_on(async {
    /// let a = coframe::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    /// a.send_to(b"hi", a.local_addr().unwrap()).await.unwrap();
    /// let mut buf = [0; 8];
    /// assert_eq!(a.peek_from(&mut buf).await.unwrap().0, 2);
    /// assert_eq!(a.recv_from(&mut buf).await.unwrap().0, 2);
    /// # });
    /// ```
    pub async fn peek_from(&self, buf: &mut [u8]) -> io::Result<(usize, SocketAddr)> {
        self.io.read_with(|s| s.peek_from(buf)).await
    }

    /// This socket's address.
    ///
    /// # Errors
    /// The system call's error.
    ///
    /// ```
    /// # coframe::block_on(async {
    /// let a = coframe::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    /// assert!(a.local_addr().unwrap().ip().is_loopback());
    /// # });
    /// ```
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.io.get_ref().local_addr()
    }

    /// The connected peer's address.
    ///
    /// # Errors
    /// `NotConnected` if [`connect`](UdpSocket::connect) was not called.
    ///
    /// ```
    /// # coframe::block_on(async {
    /// let a = coframe::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    /// assert!(a.peer_addr().is_err());
    /// # });
    /// ```
    pub fn peer_addr(&self) -> io::Result<SocketAddr> {
        self.io.get_ref().peer_addr()
    }
}

impl AsFd for UdpSocket {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.io.as_fd()
    }
}

impl AsRawFd for UdpSocket {
    fn as_raw_fd(&self) -> RawFd {
        self.io.as_raw_fd()
    }
}

impl fmt::Debug for UdpSocket {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("UdpSocket")
            .field("local", &self.local_addr().ok())
            .field("fd", &self.as_raw_fd())
            .finish()
    }
}
