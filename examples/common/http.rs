//! The HTTP/1.1 "Hello, World!" handler shared by `examples/http_hello.rs`,
//! the tokio peer under `benches/http/` and the tests: [`answer`] (pure:
//! parse every complete request in a buffer, append a response for each)
//! and the connection loops around it, async and blocking-style.
//!
//! Keep-alive by default (HTTP/1.1), `Connection: close` honoured,
//! HTTP/1.0 closes unless it asks for keep-alive; pipelined requests are
//! answered in order, with one write for all the requests one read
//! brought in. Requests with a `Content-Length` body have it skipped;
//! chunked bodies and malformed requests get a 400 and the connection
//! closes.

#![allow(dead_code)] // each includer uses its part

use std::io;

/// The response to every good request.
pub const HELLO: &[u8] =
    b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 13\r\n\r\nHello, World!";
/// The same, announcing the close.
pub const HELLO_CLOSE: &[u8] = b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 13\r\nConnection: close\r\n\r\nHello, World!";
/// The response to a request that cannot be served.
pub const BAD_REQUEST: &[u8] =
    b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\nConnection: close\r\n\r\n";

/// The largest request head (and buffered input) a connection accepts.
pub const MAX_BUFFER: usize = 64 * 1024;

/// What [`answer`] did with a buffer.
#[derive(Debug, PartialEq, Eq)]
pub struct Answered {
    /// Bytes of complete requests taken from the front of the buffer.
    pub consumed: usize,
    /// Requests answered.
    pub requests: usize,
    /// The connection must close after the responses are written.
    pub close: bool,
}

/// Answers every complete request at the front of `input`, appending the
/// responses to `out`. Stops at the first incomplete request (left for the
/// next read) or after a request that closes the connection.
pub fn answer(input: &[u8], out: &mut Vec<u8>) -> Answered {
    let mut done = Answered {
        consumed: 0,
        requests: 0,
        close: false,
    };
    loop {
        let rest = &input[done.consumed..];
        if rest.is_empty() {
            return done;
        }
        let mut headers = [httparse::EMPTY_HEADER; 32];
        let mut req = httparse::Request::new(&mut headers);
        let head = match req.parse(rest) {
            Ok(httparse::Status::Complete(n)) => n,
            Ok(httparse::Status::Partial) => return done,
            Err(_) => {
                out.extend_from_slice(BAD_REQUEST);
                done.close = true;
                return done;
            }
        };
        let mut body = 0usize;
        let mut close = req.version == Some(0);
        for h in req.headers.iter() {
            if h.name.eq_ignore_ascii_case("content-length") {
                match std::str::from_utf8(h.value)
                    .ok()
                    .and_then(|v| v.trim().parse().ok())
                {
                    Some(n) => body = n,
                    None => {
                        out.extend_from_slice(BAD_REQUEST);
                        done.close = true;
                        return done;
                    }
                }
            } else if h.name.eq_ignore_ascii_case("transfer-encoding") {
                out.extend_from_slice(BAD_REQUEST);
                done.close = true;
                return done;
            } else if h.name.eq_ignore_ascii_case("connection") {
                let v = h.value;
                if v.eq_ignore_ascii_case(b"close") {
                    close = true;
                } else if v.eq_ignore_ascii_case(b"keep-alive") {
                    close = false;
                }
            }
        }
        if rest.len() < head + body {
            return done; // the body is still coming
        }
        done.consumed += head + body;
        done.requests += 1;
        if close {
            out.extend_from_slice(HELLO_CLOSE);
            done.close = true;
            return done;
        }
        out.extend_from_slice(HELLO);
    }
}

/// A connection's input buffer and output buffer, and the step both loops
/// share: after `n` more bytes were read, answer what is complete.
pub struct Conn {
    pub buf: Vec<u8>,
    pub len: usize,
    pub out: Vec<u8>,
    pub served: u64,
}

/// What the loop does next.
pub enum Next {
    /// Write `out`, then read again.
    WriteAndRead,
    /// Write `out`, then close.
    WriteAndClose,
}

impl Conn {
    pub fn new() -> Conn {
        // Small to start (a request from a load generator is ~40 bytes;
        // an idle keep-alive connection holds this): grown on demand.
        Conn {
            buf: vec![0; 2048],
            len: 0,
            out: Vec::new(),
            served: 0,
        }
    }

    /// The free part of the input buffer, grown (up to [`MAX_BUFFER`]) when
    /// a request does not fit.
    pub fn spare(&mut self) -> io::Result<&mut [u8]> {
        if self.len == self.buf.len() {
            if self.buf.len() >= MAX_BUFFER {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidData,
                    "request too large",
                ));
            }
            self.buf.resize(self.buf.len() * 2, 0);
        }
        Ok(&mut self.buf[self.len..])
    }

    /// `n` bytes were read into [`spare`](Conn::spare).
    pub fn filled(&mut self, n: usize) -> Next {
        self.len += n;
        self.out.clear();
        let a = answer(&self.buf[..self.len], &mut self.out);
        self.buf.copy_within(a.consumed..self.len, 0);
        self.len -= a.consumed;
        self.served += a.requests as u64;
        if a.close {
            Next::WriteAndClose
        } else {
            Next::WriteAndRead
        }
    }
}

/// Serves one connection with coframe's async API until the peer closes
/// it (or asks to): the number of requests answered.
pub async fn serve_async(s: &coframe::net::TcpStream) -> io::Result<u64> {
    let mut c = Conn::new();
    loop {
        let n = s.read(c.spare()?).await?;
        if n == 0 {
            return Ok(c.served);
        }
        let next = c.filled(n);
        if !c.out.is_empty() {
            s.write_all(&c.out).await?;
        }
        if let Next::WriteAndClose = next {
            let _ = s.shutdown(std::net::Shutdown::Write);
            return Ok(c.served);
        }
    }
}

/// Serves one connection with blocking-style `std::io` (a stackful task
/// over `coframe::stackful::io::Blocking`): the same loop.
pub fn serve_blocking(mut r: impl io::Read, mut w: impl io::Write) -> io::Result<u64> {
    let mut c = Conn::new();
    loop {
        let n = r.read(c.spare()?)?;
        if n == 0 {
            return Ok(c.served);
        }
        let next = c.filled(n);
        if !c.out.is_empty() {
            w.write_all(&c.out)?;
        }
        if let Next::WriteAndClose = next {
            return Ok(c.served);
        }
    }
}
