//! The API a tokio or smol user expects: errors that `?` into
//! `Box<dyn Error + Send + Sync>`, one name for one thing, and the
//! conveniences (`yield_now`, `JoinSet`, `try_spawn`, the `LocalExecutor`
//! builder).

use coframe::{JoinError, LocalExecutor, ThreadPool};
use std::error::Error;

fn assert_send_sync_error<E: Error + Send + Sync + 'static>() {}

#[test]
fn join_error_is_send_sync_and_questions_into_a_boxed_error() {
    assert_send_sync_error::<JoinError>();
    fn run(ex: &LocalExecutor, panics: bool) -> Result<u32, Box<dyn Error + Send + Sync>> {
        let h = ex.spawn(async move {
            if panics {
                panic!("the task failed");
            }
            5
        });
        Ok(ex.run_until(h)?)
    }
    let ex = LocalExecutor::new();
    assert_eq!(run(&ex, false).unwrap(), 5);
    let err = run(&ex, true).unwrap_err();
    assert_eq!(err.to_string(), "task panicked: the task failed");
    let join: Box<JoinError> = err.downcast().unwrap();
    assert!(join.is_panic() && !join.is_cancelled());
    let payload = join.try_into_panic().unwrap();
    assert_eq!(*payload.downcast::<&str>().unwrap(), "the task failed");
}

#[test]
fn a_join_error_crosses_threads_by_reference() {
    let pool = ThreadPool::builder().worker_threads(1).build().unwrap();
    let h = pool.spawn(std::future::pending::<()>());
    h.abort();
    let err = pool.block_on(h).unwrap_err();
    // `&JoinError` is Send (JoinError is Sync): read it from another thread.
    let shown = std::thread::scope(|s| s.spawn(|| err.to_string()).join().unwrap());
    assert_eq!(shown, "task was cancelled");
    assert!(err.is_cancelled());
    assert!(err.try_into_panic().unwrap_err().is_cancelled());
}
