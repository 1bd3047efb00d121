//! [`Graph::add_remote`](crate::Graph::add_remote): a registered function as a task.
//!
//! Here, beside the registry, rather than with the graph API: the graph knows nothing
//! of registries or [`Remote`] handles, and a build without remote functions drops
//! this method with the rest of the module.

use std::any::Any;
use std::sync::Arc;

use taskloom_core::{GraphError, Key};

use super::registry::Remote;
use crate::body::{BlockingFnBox, TaskBody};
use crate::graph::Graph;
use crate::handle::Handle;
use crate::inputs::Inputs;

impl Graph {
    /// Adds a task that calls the registered function `remote` on its inputs'
    /// results: in a worker process under a
    /// [`ProcessPool`](crate::process::ProcessPool), in-process (no serialization) under any
    /// other executor. Typed like [`Graph::add`]: the inputs must match the
    /// function's parameters.
    ///
    /// ```
    /// use taskloom::{Graph, Scheduler};
    /// use taskloom::remote::Registry;
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let mut registry = Registry::new();
    /// let square = registry.register("square", |x: &i64| x * x)?;
    /// // In a real program: `taskloom::remote::init(&registry);` here.
    /// let mut g = Graph::new();
    /// let x = g.add("x", (), || 7_i64)?;
    /// let y = g.add_remote("y", &x, &square)?;
    /// assert_eq!(Scheduler::current_thread().compute(&g, &y).await?, 49);
    /// # Ok(())
    /// # }
    /// ```
    ///
    /// # Errors
    /// As [`Graph::add`].
    pub fn add_remote<I, O>(
        &mut self,
        key: impl Into<Key>,
        inputs: I,
        remote: &Remote<I::Args, O>,
    ) -> Result<Handle<O>, GraphError>
    where
        I: Inputs,
        O: Any + Send + Sync,
    {
        let body = TaskBody::Blocking(BlockingFnBox {
            func: Arc::clone(&remote.local),
            remote: Some(Arc::clone(&remote.spec)),
        });
        self.push_typed(key.into(), &inputs, body)
    }
}
