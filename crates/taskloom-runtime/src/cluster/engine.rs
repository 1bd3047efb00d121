//! The cluster's launcher thread: every call to the launcher (`sbatch`, `squeue`,
//! `scancel`, a child's `try_wait`) runs there, one at a time, in the order asked.
//!
//! Launcher calls block (they run commands), so they stay off the cluster's event
//! loop. One thread of the cluster's own, rather than Tokio's blocking pool, keeps
//! the cluster's threads a fixed count (a pool grows threads that a poll every
//! 200 ms keeps alive) and its calls in order: a lost worker's job is stopped before
//! its replacement is submitted. A call that hangs (an `squeue` waiting on a dead
//! controller) delays the ones behind it, not the scheduling: every caller bounds its
//! wait or only logs what it learns.
//!
//! Dropping the engine ends the thread after the call it runs, then drops the
//! launcher (whose `Drop` may stop what it started: [`Local`](super::Local) kills
//! its children).

use std::sync::Arc;
use std::sync::mpsc;

use super::launcher::Launcher;

/// A call waiting for the launcher thread.
type Call = Box<dyn FnOnce(&dyn Launcher) + Send>;

/// The launcher and the thread its calls run on.
pub(super) struct Engine {
    launcher: Arc<dyn Launcher>,
    calls: Option<mpsc::Sender<Call>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl std::fmt::Debug for Engine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("Engine").field(&self.launcher).finish()
    }
}

impl Engine {
    /// Starts the launcher thread.
    pub(super) fn start(launcher: Arc<dyn Launcher>) -> std::io::Result<Engine> {
        let (calls, queue) = mpsc::channel::<Call>();
        let served = Arc::clone(&launcher);
        let thread = std::thread::Builder::new()
            .name("taskloom-launcher".into())
            .spawn(move || {
                for call in queue {
                    call(&*served);
                }
            })?;
        Ok(Engine {
            launcher,
            calls: Some(calls),
            thread: Some(thread),
        })
    }

    /// The launcher, for what does not block (`name`, `describe`) and for the
    /// launches of the cluster's start, on the caller's thread.
    pub(super) fn launcher(&self) -> &dyn Launcher {
        &*self.launcher
    }

    /// Runs `f` on the launcher thread; `None` if the engine stopped (or `f`
    /// panicked).
    pub(super) async fn call<T: Send + 'static>(
        &self,
        f: impl FnOnce(&dyn Launcher) -> T + Send + 'static,
    ) -> Option<T> {
        let (tx, rx) = tokio::sync::oneshot::channel();
        let call: Call = Box::new(move |launcher| {
            let _ = tx.send(f(launcher));
        });
        self.calls.as_ref()?.send(call).ok()?;
        rx.await.ok()
    }
}

impl Drop for Engine {
    fn drop(&mut self) {
        drop(self.calls.take());
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}
