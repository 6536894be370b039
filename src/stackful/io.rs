//! Blocking-style I/O for stackful tasks: [`Blocking`] turns any
//! `futures_io::AsyncRead`/`AsyncWrite` (a coframe socket, a split half, a
//! futures-util adapter) into `std::io::Read`/`Write`, so ordinary blocking
//! code and unmodified blocking libraries (`BufRead::lines`,
//! `serde_json::from_reader`, ...) run on a stackful task's stack.
//!
//! Owns: nothing but the wrapped value. Each call is one
//! [`try_wait`] on the value's `poll_*`
//! operation: the task's stack is suspended while the operation is
//! pending, and the executor's thread runs other work; it never blocks
//! the thread.
//!
//! # Invariants
//!
//! - Outside a stackful task every call panics, as
//!   [`stackful::wait`](crate::stackful::wait) does there (with its
//!   message): `Blocking` never blocks a thread.
//! - While the task is being cancelled (its stack unwound, e.g. a
//!   `BufWriter` flushing in its destructor), a call that cannot complete
//!   at once returns an error of kind `Interrupted` naming the
//!   cancellation instead of waiting.

use crate::stackful::try_wait;
use futures_io::{AsyncRead, AsyncWrite};
use std::future::poll_fn;
use std::io;
use std::pin::Pin;

/// `std::io::Read`/`Write` for an async stream, inside a stackful task.
///
/// Wrap it in `std::io::BufReader` for `BufRead` (lines, `read_until`),
/// and in `std::io::BufWriter` (flushed per reply) for formatted output:
/// each `write` is one send, and `write!`/`writeln!` write a reply in
/// pieces, which on TCP meets Nagle's algorithm and delayed
/// acknowledgements: many times slower per round trip (measured in the
/// tour: README, Design measurements).
/// The streams implement the async traits for shared references too, so
/// one connection can be read through one `Blocking` and written through
/// another:
///
/// ```
/// use coframe::net::{TcpListener, TcpStream};
/// use coframe::stackful::io::Blocking;
/// use std::io::{BufRead, BufReader, Write};
///
/// let ex = coframe::LocalExecutor::new();
/// ex.run_until(async {
///     let listener = TcpListener::bind("127.0.0.1:0").unwrap();
///     let addr = listener.local_addr().unwrap();
///     // A line-echo server: blocking-style code on its own stack.
///     let server = coframe::spawn_stackful(move || {
///         let (conn, _) = coframe::stackful::wait(listener.accept()).unwrap();
///         let mut out = Blocking::new(&conn);
///         for line in BufReader::new(Blocking::new(&conn)).lines() {
///             writeln!(out, "echo: {}", line.unwrap()).unwrap();
///         }
///     });
///     let client = TcpStream::connect(addr).await.unwrap();
///     client.write_all(b"one\ntwo\n").await.unwrap();
///     client.shutdown(std::net::Shutdown::Write).unwrap();
///     let mut got = Vec::new();
///     futures_util::AsyncReadExt::read_to_end(&mut &client, &mut got).await.unwrap();
///     assert_eq!(got, b"echo: one\necho: two\n");
///     server.await.unwrap();
/// });
/// ```
#[derive(Debug, Default, Clone)]
pub struct Blocking<T>(T);

impl<T> Blocking<T> {
    /// Wraps `io`.
    ///
    /// ```
    /// let b = coframe::stackful::io::Blocking::new(futures_util::io::empty());
    /// # drop(b);
    /// ```
    pub fn new(io: T) -> Blocking<T> {
        Blocking(io)
    }

    /// The value inside.
    ///
    /// ```
    /// let b = coframe::stackful::io::Blocking::new(5);
    /// assert_eq!(*b.get_ref(), 5);
    /// ```
    pub fn get_ref(&self) -> &T {
        &self.0
    }

    /// The value inside, mutably.
    ///
    /// ```
    /// let mut b = coframe::stackful::io::Blocking::new(5);
    /// *b.get_mut() += 1;
    /// assert_eq!(b.into_inner(), 6);
    /// ```
    pub fn get_mut(&mut self) -> &mut T {
        &mut self.0
    }

    /// Gives the value back.
    ///
    /// ```
    /// let b = coframe::stackful::io::Blocking::new(5);
    /// assert_eq!(b.into_inner(), 5);
    /// ```
    pub fn into_inner(self) -> T {
        self.0
    }
}

/// Waits for `poll` through the stackful task; cancellation becomes an
/// `Interrupted` error.
#[track_caller]
fn block<R>(
    poll: impl FnMut(&mut std::task::Context<'_>) -> std::task::Poll<io::Result<R>>,
) -> io::Result<R> {
    match try_wait(poll_fn(poll)) {
        Ok(r) => r,
        Err(c) => Err(io::Error::new(io::ErrorKind::Interrupted, c)),
    }
}

/// # Panics
/// Outside a stackful task (as `stackful::wait`).
impl<T: AsyncRead + Unpin> io::Read for Blocking<T> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        block(|cx| Pin::new(&mut self.0).poll_read(cx, buf))
    }

    fn read_vectored(&mut self, bufs: &mut [io::IoSliceMut<'_>]) -> io::Result<usize> {
        block(|cx| Pin::new(&mut self.0).poll_read_vectored(cx, bufs))
    }
}

/// # Panics
/// Outside a stackful task (as `stackful::wait`).
impl<T: AsyncWrite + Unpin> io::Write for Blocking<T> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        block(|cx| Pin::new(&mut self.0).poll_write(cx, buf))
    }

    fn write_vectored(&mut self, bufs: &[io::IoSlice<'_>]) -> io::Result<usize> {
        block(|cx| Pin::new(&mut self.0).poll_write_vectored(cx, bufs))
    }

    fn flush(&mut self) -> io::Result<()> {
        block(|cx| Pin::new(&mut self.0).poll_flush(cx))
    }
}

/// The common case in one call: a buffered blocking reader (`BufRead`:
/// `lines`, `read_line`, `serde_json::from_reader`) and a blocking writer
/// over one stream, for a stackful task serving a connection. Both borrow
/// the stream (the coframe streams implement the async traits for shared
/// references).
///
/// ```
/// use coframe::net::UnixStream;
/// use std::io::{BufRead, Write};
///
/// let ex = coframe::LocalExecutor::new();
/// let (a, b) = ex.run_until(async { UnixStream::pair().unwrap() });
/// let server = ex.spawn_stackful(move || {
///     let (reader, mut writer) = coframe::stackful::io::split(&b);
///     for line in reader.lines() {
///         writeln!(writer, "{}", line.unwrap().to_uppercase()).unwrap();
///     }
/// });
/// let got = ex.run_until(async move {
///     a.write_all(b"hello\n").await.unwrap();
///     a.shutdown(std::net::Shutdown::Write).unwrap();
///     let mut got = Vec::new();
///     futures_util::AsyncReadExt::read_to_end(&mut &a, &mut got).await.unwrap();
///     got
/// });
/// assert_eq!(got, b"HELLO\n");
/// ex.run_until(server).unwrap();
/// ```
pub fn split<'a, T>(io: &'a T) -> (io::BufReader<Blocking<&'a T>>, Blocking<&'a T>)
where
    &'a T: AsyncRead + AsyncWrite,
{
    (io::BufReader::new(Blocking::new(io)), Blocking::new(io))
}
