//! A recording callback and small graphs shared by the diagnostics tests.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use taskloom::callbacks::{Callback, FinishInfo, Outcome, StartInfo, TaskFinish, TaskStart};
use taskloom::{Graph, Handle, context};

/// One call a [`Recorder`] saw, in order.
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum Event {
    Start { tasks: usize },
    TaskStart(String),
    TaskFinish { key: String, ok: bool },
    Finish(Outcome),
}

/// Records every callback of the computations it is given to.
#[derive(Default)]
pub(crate) struct Recorder {
    events: Mutex<Vec<Event>>,
}

impl Recorder {
    pub(crate) fn new() -> Arc<Self> {
        Arc::new(Self::default())
    }

    pub(crate) fn events(&self) -> Vec<Event> {
        self.events.lock().unwrap().clone()
    }

    /// The outcomes `on_finish` was called with.
    pub(crate) fn finishes(&self) -> Vec<Outcome> {
        self.events()
            .into_iter()
            .filter_map(|e| match e {
                Event::Finish(o) => Some(o),
                _ => None,
            })
            .collect()
    }

    /// Keys of finished tasks, sorted.
    pub(crate) fn finished_keys(&self) -> Vec<String> {
        let mut keys: Vec<String> = self
            .events()
            .into_iter()
            .filter_map(|e| match e {
                Event::TaskFinish { key, .. } => Some(key),
                _ => None,
            })
            .collect();
        keys.sort();
        keys
    }

    /// Keys of started tasks, sorted.
    pub(crate) fn started_keys(&self) -> Vec<String> {
        let mut keys: Vec<String> = self
            .events()
            .into_iter()
            .filter_map(|e| match e {
                Event::TaskStart(key) => Some(key),
                _ => None,
            })
            .collect();
        keys.sort();
        keys
    }

    fn push(&self, event: Event) {
        self.events.lock().unwrap().push(event);
    }
}

impl Callback for Recorder {
    fn on_start(&self, info: &StartInfo) {
        self.push(Event::Start { tasks: info.tasks });
    }

    fn on_task_start(&self, event: &TaskStart<'_>) {
        self.push(Event::TaskStart(event.key.to_string()));
    }

    fn on_task_finish(&self, event: &TaskFinish<'_>) {
        self.push(Event::TaskFinish {
            key: event.key.to_string(),
            ok: event.is_ok(),
        });
    }

    fn on_finish(&self, info: &FinishInfo) {
        self.push(Event::Finish(info.outcome.clone()));
    }
}

/// Which hook a [`Panicker`] panics in.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Hook {
    Start,
    TaskStart,
    TaskFinish,
}

/// A callback that panics in one hook.
pub(crate) struct Panicker(pub(crate) Hook);

impl Callback for Panicker {
    fn name(&self) -> &str {
        "panicker"
    }

    fn on_start(&self, _: &StartInfo) {
        if matches!(self.0, Hook::Start) {
            panic!("boom in on_start");
        }
    }

    fn on_task_start(&self, _: &TaskStart<'_>) {
        if matches!(self.0, Hook::TaskStart) {
            panic!("boom in on_task_start");
        }
    }

    fn on_task_finish(&self, _: &TaskFinish<'_>) {
        if matches!(self.0, Hook::TaskFinish) {
            panic!("boom in on_task_finish");
        }
    }
}

/// A tree sum over `leaves` ones, keys prefixed with `prefix`: `leaves` leaves, then
/// sums of 4 until one is left. Returns the graph and its root.
pub(crate) fn tree(prefix: &str, leaves: usize) -> (Graph, Handle<u64>) {
    let mut g = Graph::new();
    let mut level: Vec<Handle<u64>> = (0..leaves)
        .map(|i| {
            g.add(key(prefix, "leaf", 0, i), (), || 1_u64)
                .expect("fresh key")
        })
        .collect();
    let mut depth = 1;
    while level.len() > 1 {
        level = level
            .chunks(4)
            .enumerate()
            .map(|(i, group)| {
                g.add(key(prefix, "sum", depth, i), group, |xs: &[&u64]| {
                    xs.iter().copied().sum::<u64>()
                })
                .expect("fresh key")
            })
            .collect();
        depth += 1;
    }
    let root = level[0];
    (g, root)
}

/// Builds `('prefix-name', depth, i)`.
fn key(prefix: &str, name: &str, depth: i64, i: usize) -> taskloom::Key {
    taskloom::Key::tuple(format!("{prefix}-{name}"), [depth, i as i64])
}

/// The longest a test waits for an event (a task started, a cancellation seen):
/// reached only when the event never comes, however loaded the machine.
pub(crate) const LIMIT: Duration = Duration::from_secs(60);

/// For blocking task bodies: waits until `done` holds, for at most [`LIMIT`];
/// whether it did.
pub(crate) fn block_until(mut done: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + LIMIT;
    while Instant::now() < deadline {
        if done() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(1));
    }
    false
}

/// Blocks until the running task's computation is cancelled, for at most [`LIMIT`];
/// returns whether it saw the cancellation.
pub(crate) fn wait_for_cancel() -> bool {
    block_until(context::cancelled)
}
