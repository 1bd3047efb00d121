//! What goes wrong in a computation of the soak, chosen at random.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use crate::graph::Rng;

/// A fault injected at one task (carried to the task in its spec value).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub(crate) enum Fault {
    None = 0,
    /// The task returns `Err`.
    Err = 1,
    /// The task's body panics.
    Panic = 2,
    /// The task's result panics when dropped.
    DropPanic = 3,
    /// The task's result panics when serialized (only a process pool serializes).
    SerializePanic = 4,
    /// The task takes 20–100 ms, stopping early if its computation is cancelled.
    Slow = 5,
    /// The worker process running the task aborts (process pool only).
    Crash = 6,
}

impl Fault {
    pub(crate) fn from_u8(b: u8) -> Fault {
        match b {
            1 => Fault::Err,
            2 => Fault::Panic,
            3 => Fault::DropPanic,
            4 => Fault::SerializePanic,
            5 => Fault::Slow,
            6 => Fault::Crash,
            _ => Fault::None,
        }
    }

    /// Whether the computation may fail because of it.
    pub(crate) fn may_fail(self) -> bool {
        !matches!(self, Fault::None | Fault::Slow)
    }
}

/// The faults of one computation: at which tasks (by position in the graph, as a
/// fraction, so any graph size fits), and what happens around it.
#[derive(Clone, Debug, Default)]
pub(crate) struct Plan {
    /// Faults at tasks; positions are resolved to task ids when the graph is built.
    pub(crate) injected: Vec<(f64, Fault)>,
    /// SIGKILL one worker of the process pool after this long (busy or idle).
    pub(crate) kill_after: Option<Duration>,
    /// Cancel the computation's token after this long.
    pub(crate) token_after: Option<Duration>,
    /// Drop the computation's future after this long.
    pub(crate) drop_after: Option<Duration>,
}

impl Plan {
    pub(crate) fn none() -> Plan {
        Plan::default()
    }

    pub(crate) fn random(rng: &mut Rng, executor: &str) -> Plan {
        // Workers in other processes: crashes, serde panics and kills apply.
        let processes = matches!(executor, "processes" | "cluster");
        let mut kinds = vec![Fault::Err, Fault::Panic, Fault::DropPanic, Fault::Slow];
        if processes {
            kinds.extend([Fault::SerializePanic, Fault::Crash]);
        }
        let mut plan = Plan::default();
        // Most computations have one fault or two; some none.
        for _ in 0..rng.below(3) {
            let kind = kinds[rng.below(kinds.len() as u64) as usize];
            plan.injected.push((rng.unit(), kind));
        }
        let ms = |rng: &mut Rng| Duration::from_millis(rng.below(40));
        match rng.below(8) {
            0 => plan.token_after = Some(ms(rng)),
            1 => plan.drop_after = Some(ms(rng)),
            2 | 3 if processes => plan.kill_after = Some(ms(rng)),
            _ => {}
        }
        plan
    }

    pub(crate) fn cancels(&self) -> bool {
        self.token_after.is_some() || self.drop_after.is_some()
    }

    /// The kinds of what this plan injects, for the tally.
    pub(crate) fn faults(&self) -> Vec<&'static str> {
        let mut out: Vec<&'static str> = self.injected.iter().map(|(_, f)| f.name()).collect();
        if self.kill_after.is_some() {
            out.push("sigkill");
        }
        if self.token_after.is_some() {
            out.push("cancel-token");
        }
        if self.drop_after.is_some() {
            out.push("cancel-drop");
        }
        out
    }
}

/// Slow tasks running in this process now.
pub(crate) static SLOW_RUNNING: AtomicUsize = AtomicUsize::new(0);

/// The body of a slow task: 20–100 ms, or until its computation is cancelled.
pub(crate) fn slow(id: u64) {
    SLOW_RUNNING.fetch_add(1, Ordering::SeqCst);
    let deadline = Instant::now() + Duration::from_millis(20 + id % 80);
    while Instant::now() < deadline && !taskloom::context::cancelled() {
        std::thread::sleep(Duration::from_millis(1));
    }
    SLOW_RUNNING.fetch_sub(1, Ordering::SeqCst);
}

/// Waits until no slow task of a finished computation still runs here.
pub(crate) async fn settle() {
    let deadline = Instant::now() + Duration::from_secs(30);
    while SLOW_RUNNING.load(Ordering::SeqCst) > 0 && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
}

/// Sends SIGKILL to one live worker process (as the OOM killer would).
pub(crate) fn kill_a_worker(pids: &[u32]) {
    if let Some(pid) = pids.first() {
        let _ = std::process::Command::new("kill")
            .args(["-9", &pid.to_string()])
            .status();
    }
}
