//! What the test modules share; the benches include it too (`#[path]`),
//! so coframe and its peers run exactly the same futures.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

/// Pending once (waking itself), then ready: the yield point used by every
/// test and bench that needs one, the same for every executor.
pub struct YieldNow(bool);

impl Future for YieldNow {
    type Output = ();
    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        if self.0 {
            Poll::Ready(())
        } else {
            self.0 = true;
            cx.waker().wake_by_ref();
            Poll::Pending
        }
    }
}

/// A [`YieldNow`].
pub fn yield_now() -> YieldNow {
    YieldNow(false)
}

/// Runs `body` alone in a child process (this test binary filtered to
/// `test`): counts of the process's descriptors and threads, and limits
/// set on it, are exact only with no other test running beside it.
#[allow(dead_code)] // the benches include this file and run no children
pub fn alone_in_a_child(test: &str, body: impl FnOnce()) {
    const CHILD: &str = "alone";
    if std::env::var("COFRAME_CHILD_SCENARIO").as_deref() == Ok(CHILD) {
        body();
        return;
    }
    let exe = std::env::current_exe().unwrap();
    let out = std::process::Command::new(exe)
        .args([test, "--exact", "--nocapture", "--test-threads=1"])
        .env("COFRAME_CHILD_SCENARIO", CHILD)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "the child failed:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// The role a test gave this process when it started it with
/// [`helper_process`], if it did.
#[allow(dead_code)] // as above
pub fn helper_role() -> Option<String> {
    std::env::var(HELPER_ENV).ok()
}

const HELPER_ENV: &str = "COFRAME_TEST_HELPER";

/// Starts this test binary again, filtered to `test`, as a helper process
/// of the test running here: `test` finds `role` in [`helper_role`] (and
/// must look before anything else, [`alone_in_a_child`] included). Its
/// stdin and stdout are pipes to the caller (stdout also carries the test
/// harness's own lines); its stderr is the caller's.
#[allow(dead_code)] // as above
pub fn helper_process(test: &str, role: &str) -> std::process::Child {
    use std::process::Stdio;
    std::process::Command::new(std::env::current_exe().unwrap())
        .args([test, "--exact", "--nocapture", "--test-threads=1"])
        .env(HELPER_ENV, role)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start the helper process {role:?}: {e}"))
}

/// The process's open descriptors.
#[allow(dead_code)] // as above
pub fn open_fds() -> usize {
    std::fs::read_dir("/proc/self/fd").unwrap().count()
}
