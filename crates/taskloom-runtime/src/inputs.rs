//! What a task takes as input: the tuple-input machinery behind [`Graph::add`](crate::Graph::add).
//!
//! Most programs never name these: a task's inputs are written as `()`, a handle, a
//! tuple of handles (up to twelve) or a slice of handles, and
//! [`Graph::add`](crate::Graph::add) works out the function's argument types from
//! them. [`Many`] names "a slice of inputs of one type" where a type must be written
//! out (a remote function's argument list).
//!
//! Two halves meet here: [`Inputs`] turns the handles a task is given into task ids
//! and an argument marker (`()`, `(A, B)`, [`Many<A>`], [`DynArgs`]), and [`TaskFn`] /
//! [`AsyncTaskFn`] call a function of that marker on type-erased values. The marker is
//! what makes a task that takes `&i64` accept only a producer of `i64`. Tuple impls
//! come from the crate's one tuple macro, so every arity from one to twelve is there
//! on both halves.
//!
//! ```
//! use taskloom::{Graph, Scheduler};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let mut g = Graph::new();
//! let a = g.add("a", (), || 1_i64)?;
//! let b = g.add("b", (), || "two".to_owned())?;
//! let c = g.add("c", (&a, &b), |a: &i64, b: &String| format!("{a} and {b}"))?;
//! assert_eq!(Scheduler::current_thread().compute(&g, &c).await?, "1 and two");
//! # Ok(())
//! # }
//! ```

use std::any::Any;
use std::marker::PhantomData;
use std::sync::Arc;

use taskloom_core::TaskId;

use crate::error::{TaskError, TaskErrorKind};
use crate::handle::{AnyHandle, Handle};
use crate::tuples::all_the_tuples;
use crate::value::Value;

/// What a task takes as inputs: `()`, `&Handle<A>`, tuples of handles, or slices of
/// same-typed handles. `Args` names the argument types the task function receives.
pub trait Inputs {
    /// Marker of the argument types (`()`, `(A,)`, `(A, B)`, [`Many<A>`]...).
    type Args;

    /// Appends the inputs' task ids; `Err(id)` for a handle of another graph.
    fn collect(&self, graph: u64, out: &mut Vec<TaskId>) -> Result<(), TaskId>;
}

/// Argument marker for a slice of same-typed inputs: the function takes `&[&A]`.
pub struct Many<A>(PhantomData<fn() -> A>);

fn push_checked(
    graph: u64,
    id: TaskId,
    handle_graph: u64,
    out: &mut Vec<TaskId>,
) -> Result<(), TaskId> {
    if handle_graph != graph {
        return Err(id);
    }
    out.push(id);
    Ok(())
}

impl Inputs for () {
    type Args = ();
    fn collect(&self, _: u64, _: &mut Vec<TaskId>) -> Result<(), TaskId> {
        Ok(())
    }
}

impl<A> Inputs for &Handle<A> {
    type Args = (A,);
    fn collect(&self, graph: u64, out: &mut Vec<TaskId>) -> Result<(), TaskId> {
        push_checked(graph, self.id(), self.graph_id(), out)
    }
}

impl<A> Inputs for &[Handle<A>] {
    type Args = Many<A>;
    fn collect(&self, graph: u64, out: &mut Vec<TaskId>) -> Result<(), TaskId> {
        self.iter()
            .try_for_each(|h| push_checked(graph, h.id(), h.graph_id(), out))
    }
}

impl<A> Inputs for &Vec<Handle<A>> {
    type Args = Many<A>;
    fn collect(&self, graph: u64, out: &mut Vec<TaskId>) -> Result<(), TaskId> {
        self.as_slice().collect(graph, out)
    }
}

/// Argument marker for untyped inputs (see [`Graph::add_dyn`](crate::Graph::add_dyn)).
pub struct DynArgs;

impl Inputs for &[AnyHandle] {
    type Args = DynArgs;
    fn collect(&self, graph: u64, out: &mut Vec<TaskId>) -> Result<(), TaskId> {
        self.iter()
            .try_for_each(|h| push_checked(graph, h.id(), h.graph_id(), out))
    }
}

macro_rules! tuple_inputs {
    // A single input is a handle, `&h`, with the same `(A,)` marker.
    ($name:ident $idx:tt) => {};
    ($($name:ident $idx:tt),+) => {
        impl<$($name),+> Inputs for ($(&Handle<$name>,)+) {
            type Args = ($($name,)+);
            fn collect(&self, graph: u64, out: &mut Vec<TaskId>) -> Result<(), TaskId> {
                $(push_checked(graph, self.$idx.id(), self.$idx.graph_id(), out)?;)+
                Ok(())
            }
        }
    };
}

all_the_tuples!(tuple_inputs);

/// Reads input `i` as an `A`. Typed handles guarantee the type; a mismatch can only
/// come from a foreign executor passing wrong values, and is reported, not panicked.
fn arg<'v, A: Any>(values: &[&'v Value], i: usize) -> Result<&'v A, TaskError> {
    values
        .get(i)
        .and_then(|v| v.downcast_ref::<A>())
        .ok_or_else(|| mismatch::<A>(i))
}

fn arg_arc<A: Any + Send + Sync>(values: &[Value], i: usize) -> Result<Arc<A>, TaskError> {
    values
        .get(i)
        .and_then(|v| Arc::clone(v).downcast::<A>().ok())
        .ok_or_else(|| mismatch::<A>(i))
}

fn mismatch<A>(i: usize) -> TaskError {
    TaskError::new(
        TaskErrorKind::TypeMismatch,
        format!("input {i} is not a {}", std::any::type_name::<A>()),
    )
}

/// A function usable as a blocking task taking `Args` and returning `O`.
///
/// Implemented for closures `Fn() -> O`, `Fn(&A) -> O`, `Fn(&A, &B) -> O` (up to
/// twelve inputs) and `Fn(&[&A]) -> O`; there is no need to implement it by hand.
pub trait TaskFn<Args, O>: Send + Sync + 'static {
    /// Calls the function with the values of its inputs.
    ///
    /// # Errors
    /// [`TaskErrorKind::TypeMismatch`] if an input is not of the expected type.
    fn call(&self, values: &[&Value]) -> Result<O, TaskError>;
}

impl<F, O> TaskFn<(), O> for F
where
    F: Fn() -> O + Send + Sync + 'static,
{
    fn call(&self, _: &[&Value]) -> Result<O, TaskError> {
        Ok(self())
    }
}

impl<F, A, O> TaskFn<Many<A>, O> for F
where
    F: Fn(&[&A]) -> O + Send + Sync + 'static,
    A: Any,
{
    fn call(&self, values: &[&Value]) -> Result<O, TaskError> {
        // Most fan-ins are small: their references go in an array on the stack,
        // filled by a plain loop (a collect through `Result` into a `SmallVec` cost
        // about 180 instructions per call, more than the rest of a no-op task's call).
        const ON_STACK: usize = 16;
        match values.len() {
            0 => Ok(self(&[])),
            n if n <= ON_STACK => {
                let first = arg::<A>(values, 0)?;
                let mut args = [first; ON_STACK];
                for (i, slot) in args.iter_mut().enumerate().take(n).skip(1) {
                    *slot = arg::<A>(values, i)?;
                }
                Ok(self(&args[..n]))
            }
            n => {
                let args = (0..n)
                    .map(|i| arg::<A>(values, i))
                    .collect::<Result<Vec<&A>, _>>()?;
                Ok(self(&args))
            }
        }
    }
}

macro_rules! tuple_fn {
    ($($name:ident $idx:tt),+) => {
        impl<F, O, $($name),+> TaskFn<($($name,)+), O> for F
        where
            F: Fn($(&$name),+) -> O + Send + Sync + 'static,
            $($name: Any,)+
        {
            fn call(&self, values: &[&Value]) -> Result<O, TaskError> {
                Ok(self($(arg::<$name>(values, $idx)?),+))
            }
        }
    };
}

all_the_tuples!(tuple_fn);

/// A function usable as an async task taking `Args` (as `Arc`s) and returning a
/// future `Fut`.
///
/// Implemented for closures `Fn() -> Fut`, `Fn(Arc<A>) -> Fut`, `Fn(Arc<A>, Arc<B>) ->
/// Fut` (up to twelve inputs) and `Fn(Vec<Arc<A>>) -> Fut`.
pub trait AsyncTaskFn<Args, Fut>: Send + Sync + 'static {
    /// Calls the function with the values of its inputs.
    ///
    /// # Errors
    /// [`TaskErrorKind::TypeMismatch`] if an input is not of the expected type.
    fn call(&self, values: Vec<Value>) -> Result<Fut, TaskError>;
}

impl<F, Fut> AsyncTaskFn<(), Fut> for F
where
    F: Fn() -> Fut + Send + Sync + 'static,
{
    fn call(&self, _: Vec<Value>) -> Result<Fut, TaskError> {
        Ok(self())
    }
}

impl<F, A, Fut> AsyncTaskFn<Many<A>, Fut> for F
where
    F: Fn(Vec<Arc<A>>) -> Fut + Send + Sync + 'static,
    A: Any + Send + Sync,
{
    fn call(&self, values: Vec<Value>) -> Result<Fut, TaskError> {
        let args = (0..values.len())
            .map(|i| arg_arc::<A>(&values, i))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(self(args))
    }
}

macro_rules! tuple_async_fn {
    ($($name:ident $idx:tt),+) => {
        impl<F, Fut, $($name),+> AsyncTaskFn<($($name,)+), Fut> for F
        where
            F: Fn($(Arc<$name>),+) -> Fut + Send + Sync + 'static,
            $($name: Any + Send + Sync,)+
        {
            fn call(&self, values: Vec<Value>) -> Result<Fut, TaskError> {
                Ok(self($(arg_arc::<$name>(&values, $idx)?),+))
            }
        }
    };
}

all_the_tuples!(tuple_async_fn);

#[cfg(test)]
mod tests {
    use super::*;
    use crate::value::value;

    fn sum(values: &[Value]) -> Result<u64, TaskError> {
        let refs: Vec<&Value> = values.iter().collect();
        let f = |xs: &[&u64]| xs.iter().copied().sum::<u64>();
        TaskFn::<Many<u64>, u64>::call(&f, &refs)
    }

    #[test]
    fn a_slice_of_inputs_of_any_length_reaches_the_function_in_order() {
        for n in [0_u64, 1, 2, 15, 16, 17, 40] {
            let values: Vec<Value> = (1..=n).map(value).collect();
            assert_eq!(sum(&values).unwrap(), n * (n + 1) / 2, "{n} inputs");
        }
        let seen = |xs: &[&u64]| xs.iter().map(|x| **x).collect::<Vec<_>>();
        let values: Vec<Value> = (0..17_u64).map(value).collect();
        let refs: Vec<&Value> = values.iter().collect();
        let got = TaskFn::<Many<u64>, Vec<u64>>::call(&seen, &refs).unwrap();
        assert_eq!(got, (0..17).collect::<Vec<_>>());
    }

    #[test]
    fn an_input_of_another_type_is_named_by_its_position() {
        for (n, bad) in [(1, 0), (3, 0), (3, 2), (16, 15), (30, 20)] {
            let mut values: Vec<Value> = (0..n).map(|i| value(i as u64)).collect();
            values[bad] = value("not a number");
            let err = sum(&values).unwrap_err();
            assert_eq!(err.kind(), TaskErrorKind::TypeMismatch);
            assert!(
                err.message().contains(&format!("input {bad} ")),
                "{n} inputs, {bad} wrong: {}",
                err.message()
            );
        }
    }
}
