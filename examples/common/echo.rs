//! The echo handler shared by `examples/echo.rs` and the tests: every
//! byte read is written back, until the peer closes its write side.

#![allow(dead_code)] // each includer uses its part

use std::io;

/// Echoes with coframe's async API: the number of bytes echoed.
pub async fn serve_async(s: &coframe::net::TcpStream) -> io::Result<u64> {
    let mut buf = vec![0u8; 16 * 1024];
    let mut total = 0;
    loop {
        let n = s.read(&mut buf).await?;
        if n == 0 {
            let _ = s.shutdown(std::net::Shutdown::Write);
            return Ok(total);
        }
        s.write_all(&buf[..n]).await?;
        total += n as u64;
    }
}

/// Echoes with blocking-style `std::io` (a stackful task over
/// `coframe::stackful::io::Blocking`): the number of bytes echoed.
pub fn serve_blocking(mut r: impl io::Read, mut w: impl io::Write) -> io::Result<u64> {
    let mut buf = vec![0u8; 16 * 1024];
    let mut total = 0;
    loop {
        let n = r.read(&mut buf)?;
        if n == 0 {
            return Ok(total);
        }
        w.write_all(&buf[..n])?;
        total += n as u64;
    }
}
