//! The guide's chapters (`docs/guide/src`), one module each, so that every Rust sample
//! in them is compiled and run as a doc test of this crate: `cargo test --doc -p
//! taskloom`. Compiled only when rustdoc collects doc tests (`cfg(doctest)`); nothing
//! of it is in the library.
//!
//! Samples that start a process pool or a cluster are marked `standalone_crate`: their
//! workers re-execute the test program, so it must be a program of its own whose `main`
//! is the sample's. Samples that need a Slurm cluster or a Kubernetes secret are
//! `no_run`: compiled, not run.

macro_rules! chapters {
    ($($module:ident => $file:literal,)+) => {
        $(
            #[doc = include_str!(concat!("../docs/guide/src/", $file))]
            mod $module {}
        )+
    };
}

chapters! {
    introduction => "introduction.md",
    getting_started => "getting-started.md",
    graphs => "graphs.md",
    executors => "executors.md",
    process_pool => "process-pool.md",
    cluster => "cluster.md",
    resident => "resident.md",
    diagnostics => "diagnostics.md",
    pictures => "pictures.md",
    memory => "memory.md",
    policies => "policies.md",
    cache => "cache.md",
    web => "web.md",
    python => "python.md",
    ordering => "ordering.md",
    benchmarks => "benchmarks.md",
    design => "design.md",
    glossary => "glossary.md",
}
