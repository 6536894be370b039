use coframe::{stackful::wait, LocalExecutor};
struct Y(bool);
impl std::future::Future for Y { type Output=(); fn poll(mut self: std::pin::Pin<&mut Self>, cx:&mut std::task::Context<'_>)->std::task::Poll<()>{ if self.0 {std::task::Poll::Ready(())} else {self.0=true; cx.waker().wake_by_ref(); std::task::Poll::Pending}}}
fn main() {
    let ex = LocalExecutor::new();
    let n: usize = std::env::args().nth(1).map(|s| s.parse().unwrap()).unwrap_or(200);
    let t = std::time::Instant::now();
    for _ in 0..n {
        let hs: Vec<_> = (0..1000).map(|_| ex.spawn_stackful(|| wait(Y(false)))).collect();
        ex.run_until(async { for h in hs { h.await.unwrap(); } });
    }
    eprintln!("{:?} per 1000", t.elapsed() / n as u32);
}
