//! Values that flow between tasks.
//!
//! Inside the scheduler every result is a [`Value`]: a reference-counted, type-erased
//! `Arc<dyn Any + Send + Sync>`. Handing a result to several dependents is a reference
//! count increment, and dropping the scheduler's reference when core releases the
//! result frees it as soon as the last running dependent is done with it. The typed
//! graph API ([`Handle<T>`](crate::Handle)) makes the erasure invisible: a task that
//! takes `&i64` can only be wired to a producer of `i64`.

use std::any::Any;
use std::sync::Arc;

/// A task's result, type-erased.
pub type Value = Arc<dyn Any + Send + Sync>;

/// Wraps a result as a [`Value`].
#[inline]
pub fn value<T: Any + Send + Sync>(v: T) -> Value {
    Arc::new(v)
}
