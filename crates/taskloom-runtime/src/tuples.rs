//! The one macro behind every impl for tuples: [`all_the_tuples!`] calls a given
//! macro once per arity, from 1 to 12 elements.
//!
//! Tuples appear wherever a task or a computation takes several typed things at once:
//! a task's inputs ([`Inputs`](crate::inputs::Inputs), [`TaskFn`](crate::inputs::TaskFn),
//! [`AsyncTaskFn`](crate::inputs::AsyncTaskFn)), a remote function's arguments
//! ([`RemoteArgs`](crate::remote::RemoteArgs)), a computation's targets
//! ([`Targets`](crate::Targets)) and a result's size ([`ResultSize`](crate::ResultSize)).
//! Each site writes its impl once, as a macro taking `T1 0, T2 1, ...` (a type
//! parameter and its index per element), and hands it to this one, so every site
//! supports the same arities (as axum's `all_the_tuples!`). A site that has no
//! meaning for one element (a single input is written `&h`, not `(&h,)`) matches
//! that arity with an empty rule.

/// Calls `$site!` with `T1 0`, then `T1 0, T2 1`, ... up to twelve elements.
macro_rules! all_the_tuples {
    ($site:ident) => {
        $site!(T1 0);
        $site!(T1 0, T2 1);
        $site!(T1 0, T2 1, T3 2);
        $site!(T1 0, T2 1, T3 2, T4 3);
        $site!(T1 0, T2 1, T3 2, T4 3, T5 4);
        $site!(T1 0, T2 1, T3 2, T4 3, T5 4, T6 5);
        $site!(T1 0, T2 1, T3 2, T4 3, T5 4, T6 5, T7 6);
        $site!(T1 0, T2 1, T3 2, T4 3, T5 4, T6 5, T7 6, T8 7);
        $site!(T1 0, T2 1, T3 2, T4 3, T5 4, T6 5, T7 6, T8 7, T9 8);
        $site!(T1 0, T2 1, T3 2, T4 3, T5 4, T6 5, T7 6, T8 7, T9 8, T10 9);
        $site!(T1 0, T2 1, T3 2, T4 3, T5 4, T6 5, T7 6, T8 7, T9 8, T10 9, T11 10);
        $site!(T1 0, T2 1, T3 2, T4 3, T5 4, T6 5, T7 6, T8 7, T9 8, T10 9, T11 10, T12 11);
    };
}

pub(crate) use all_the_tuples;
