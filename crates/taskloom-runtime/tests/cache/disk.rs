//! A full disk and a read-only directory: the computation goes on with caching off
//! for the entries that failed, and says so once.
//!
//! A real full filesystem: a tmpfs of 256 kB, mounted in a mount namespace of the
//! child's own (`unshare --mount`, so that nothing is left mounted whatever
//! happens). Mounting needs root, or a user namespace where this user is root
//! (`unshare --user --map-root-user`). CI runs as root: there the test never skips;
//! as another user it skips, saying why, only when the kernel refuses both.

use std::process::Command;

use crate::children::CHILD;
use crate::support::scratch;

pub(crate) const TESTS: &[crate::Test] = &[(
    "disk::a_full_disk_and_a_read_only_directory_are_survived",
    a_full_disk_and_a_read_only_directory_are_survived,
)];

fn a_full_disk_and_a_read_only_directory_are_survived(_: &()) {
    let dir = scratch("full");
    let root = rustix_is_root();
    let namespace: &[&str] = if root {
        &["--mount", "--propagation", "private"]
    } else {
        &[
            "--user",
            "--map-root-user",
            "--mount",
            "--propagation",
            "private",
        ]
    };
    let out = Command::new("unshare")
        .args(namespace)
        .arg(std::env::current_exe().unwrap())
        .env(CHILD, format!("full-disk:{}", dir.display()))
        .output();
    let out = match out {
        Ok(out) => out,
        Err(e) if !root => {
            eprintln!("skipped: unshare(1) cannot run ({e}) and this is not root");
            return;
        }
        Err(e) => panic!("unshare(1) is needed for this test: {e}"),
    };
    let stderr = String::from_utf8_lossy(&out.stderr);
    if !out.status.success() && !root && stderr.contains("unshare failed") {
        eprintln!("skipped: the kernel refuses a user namespace here: {stderr}");
        return;
    }
    assert!(
        out.status.success(),
        "the full-disk child failed:\n{stderr}"
    );
    let said = String::from_utf8_lossy(&out.stdout);
    assert!(said.contains("a read-only cache survived"), "{said}");
    let _ = std::fs::remove_dir_all(&dir);
}

fn rustix_is_root() -> bool {
    use std::os::unix::fs::MetadataExt;
    std::fs::metadata("/proc/self").is_ok_and(|m| m.uid() == 0)
}
