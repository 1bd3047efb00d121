//! Graphviz's `dot` as an optional renderer ([`Engine::Graphviz`](super::Engine)):
//! the DOT text in on its standard input, SVG out.
//!
//! The built-in layout is the default: it needs nothing installed, gives the same
//! picture on every machine, and draws wide graphs around a circle, where `dot`
//! makes them one very long row. `dot` draws smoother edges on small, irregular
//! graphs; it is there for those who prefer it.

use std::io::{self, Read as _, Write as _};
use std::path::PathBuf;
use std::process::{Command, Stdio};

/// Why a picture could not be made or saved.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PictureError {
    /// Graphviz's `dot` could not be run or failed.
    #[error("graphviz `dot -Tsvg` failed: {0}")]
    Graphviz(String),
    /// The picture could not be written.
    #[error("could not write {}: {source}", path.display())]
    Write {
        /// The file.
        path: PathBuf,
        /// What the OS said.
        #[source]
        source: io::Error,
    },
}

/// Runs `dot -Tsvg` on `dot`.
pub(crate) fn render(dot: &str) -> Result<String, PictureError> {
    let fail = |what: &str, e: io::Error| PictureError::Graphviz(format!("{what}: {e}"));
    let mut child = Command::new("dot")
        .arg("-Tsvg")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| fail("could not start `dot` (is graphviz installed?)", e))?;
    // Written from a thread while this one reads, so neither pipe fills up.
    let mut stdin = child
        .stdin
        .take()
        .ok_or_else(|| PictureError::Graphviz("no stdin".into()))?;
    let text = dot.to_owned();
    let writer = std::thread::spawn(move || stdin.write_all(text.as_bytes()));
    let mut svg = String::new();
    if let Some(mut stdout) = child.stdout.take() {
        stdout
            .read_to_string(&mut svg)
            .map_err(|e| fail("reading its output", e))?;
    }
    let mut errors = String::new();
    if let Some(mut stderr) = child.stderr.take() {
        let _ = stderr.read_to_string(&mut errors);
    }
    let status = child.wait().map_err(|e| fail("waiting for it", e))?;
    let written = writer
        .join()
        .map_err(|_| PictureError::Graphviz("the writer thread panicked".into()))?;
    written.map_err(|e| fail("writing its input", e))?;
    if !status.success() {
        return Err(PictureError::Graphviz(format!(
            "{status}: {}",
            errors.trim()
        )));
    }
    Ok(svg)
}
