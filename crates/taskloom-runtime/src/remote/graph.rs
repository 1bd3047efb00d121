//! [`Graph::add_remote`](crate::Graph::add_remote): a registered function as a task.
//!
//! Here, beside the registry, rather than with the graph API: the graph knows nothing
//! of registries or [`Remote`] handles, and a build without remote functions drops
//! this method with the rest of the module.

use std::any::Any;
use std::sync::Arc;

use taskloom_core::{GraphError, Key};

use super::registry::{DynRemote, Remote};
use crate::body::{BlockingFn, BlockingFnBox, TaskBody};
use crate::graph::Graph;
use crate::handle::{AnyHandle, Handle};
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
            func: remote.local.clone(),
            remote: Some(Arc::clone(&remote.spec)),
        });
        self.push_typed(key.into(), &inputs, body)
    }

    /// Adds an untyped task that calls the untyped function `remote` (see
    /// [`Registry::register_dyn`](crate::remote::Registry::register_dyn)) with
    /// `payload` and its inputs' values, in order: in a worker process under a
    /// [`ProcessPool`](crate::process::ProcessPool) or a
    /// [`Cluster`](crate::cluster::Cluster), in-process under any other executor.
    ///
    /// ```
    /// use std::sync::Arc;
    /// use taskloom::remote::{Codec, Registry};
    /// use taskloom::{Graph, Scheduler, TaskError, TaskErrorKind, Value};
    ///
    /// # fn encode(v: &Value, out: &mut Vec<u8>) -> Result<(), TaskError> {
    /// #     let n = v.downcast_ref::<u64>().ok_or_else(|| TaskError::new(TaskErrorKind::TypeMismatch, "not a u64"))?;
    /// #     out.extend_from_slice(&n.to_le_bytes());
    /// #     Ok(())
    /// # }
    /// # fn decode(b: &[u8]) -> Result<Value, TaskError> {
    /// #     let bytes = b.try_into().map_err(|_| TaskError::new(TaskErrorKind::Serialization, "not 8 bytes"))?;
    /// #     Ok(Arc::new(u64::from_le_bytes(bytes)))
    /// # }
    /// # fn size_of(_: &Value) -> Result<u64, TaskError> { Ok(8) }
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let mut registry = Registry::new();
    /// let codec = Codec { encode, decode, size_of };
    /// let add = registry.register_dyn("add", codec, |payload: &[u8], inputs: &[&Value]| {
    ///     let extra = u64::from(payload.first().copied().unwrap_or(0));
    ///     let sum: u64 = inputs.iter().filter_map(|v| v.downcast_ref::<u64>()).sum();
    ///     Ok(Arc::new(sum + extra) as Value)
    /// })?;
    /// let mut g = Graph::new();
    /// let x = g.add("x", (), || 40_u64)?.erase();
    /// let _y = g.add_dyn_remote("y", &[x], &add, vec![2])?;
    /// let out = Scheduler::current_thread().get(&g, "y").await?;
    /// assert_eq!(out.downcast_ref::<u64>(), Some(&42));
    /// # Ok(())
    /// # }
    /// ```
    ///
    /// # Errors
    /// As [`Graph::add`].
    pub fn add_dyn_remote(
        &mut self,
        key: impl Into<Key>,
        inputs: &[AnyHandle],
        remote: &DynRemote,
        payload: impl Into<Arc<[u8]>>,
    ) -> Result<AnyHandle, GraphError> {
        let payload: Arc<[u8]> = payload.into();
        let spec = Arc::new(remote.spec.with_payload(Arc::clone(&payload)));
        let f = Arc::clone(&remote.f);
        let body = TaskBody::Blocking(BlockingFnBox {
            func: BlockingFn::new(move |values: &[&crate::value::Value]| f(&payload, values)),
            remote: Some(spec),
        });
        self.add_body(key, inputs, body)
    }
}
