//! Nothing reaches the scheduling loop before mutual authentication: wrong secret,
//! no secret, garbage, an oversized first frame, another build, a handshake that
//! never ends. None of them stalls a good worker.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use taskloom::Scheduler;
use taskloom::cluster::{Cluster, Secret};

use crate::functions::{Fns, OTHER_BUILD_VAR};
use crate::local::spread;
use crate::support::{self, WAIT};

pub(crate) const TESTS: &[crate::Test] = &[
    (
        "security::a_wrong_secret_is_refused_on_both_sides",
        a_wrong_secret_is_refused_on_both_sides,
    ),
    (
        "security::a_worker_without_a_secret_never_connects",
        a_worker_without_a_secret_never_connects,
    ),
    (
        "security::garbage_before_the_handshake_is_refused",
        garbage_before_the_handshake_is_refused,
    ),
    (
        "security::an_oversized_first_frame_is_refused_unread",
        an_oversized_first_frame_is_refused_unread,
    ),
    (
        "security::another_build_is_refused_on_both_sides",
        another_build_is_refused_on_both_sides,
    ),
    (
        "security::stalled_handshakes_stall_nobody_and_time_out",
        stalled_handshakes_stall_nobody_and_time_out,
    ),
];

/// A cluster without a launcher: workers come by hand.
fn open_cluster() -> Cluster {
    support::builder().workers(1).build().unwrap()
}

fn secret_file(cluster: &Cluster) -> String {
    cluster.secret_file().to_str().unwrap().to_owned()
}

/// Whether the scheduler closed `stream` (a read returns end of file or an error).
fn closed_by_scheduler(stream: &mut TcpStream) -> bool {
    stream.set_read_timeout(Some(WAIT)).unwrap();
    let mut rest = Vec::new();
    match stream.read_to_end(&mut rest) {
        Ok(_) => true,
        Err(e) => {
            e.kind() != std::io::ErrorKind::WouldBlock && e.kind() != std::io::ErrorKind::TimedOut
        }
    }
}

fn a_wrong_secret_is_refused_on_both_sides(_: &Fns) {
    let rt = support::runtime();
    let cluster = open_cluster();
    let wrong = Secret::generate().unwrap().to_hex();
    let worker = support::worker_by_hand(
        cluster.advertised(),
        &[
            ("TASKLOOM_CLUSTER_SECRET", Some(&wrong)),
            ("TASKLOOM_CLUSTER_SECRET_FILE", None),
        ],
    );
    let status = support::wait_for(&rt, &cluster, "a refusal", |s| !s.refusals.is_empty());
    // The worker checks the scheduler's proof first, finds it wrong, and says so.
    let reason = &status.refusals[0].reason;
    assert!(reason.starts_with("refused the scheduler"), "{reason}");
    assert!(status.workers.is_empty());
    let (code, stderr) = support::exit_of(worker);
    assert_eq!(code, Some(77), "{stderr}");
    assert!(
        stderr.contains("did not prove it knows the cluster's secret"),
        "{stderr}"
    );
}

fn a_worker_without_a_secret_never_connects(_: &Fns) {
    let cluster = open_cluster();
    let worker = support::worker_by_hand(
        cluster.advertised(),
        &[
            ("TASKLOOM_CLUSTER_SECRET", None),
            ("TASKLOOM_CLUSTER_SECRET_FILE", None),
        ],
    );
    let (code, stderr) = support::exit_of(worker);
    assert_eq!(code, Some(78), "{stderr}");
    assert!(
        stderr.contains("no cluster secret: set TASKLOOM_CLUSTER_SECRET_FILE"),
        "{stderr}"
    );
    let status = cluster.status();
    assert!(
        status.workers.is_empty() && status.refusals.is_empty(),
        "{status:?}"
    );
    // A secret file others can read is refused too, as ssh refuses such keys.
    let exposed = cluster.secret_file().with_file_name("exposed");
    std::fs::copy(cluster.secret_file(), &exposed).unwrap();
    let readable: std::fs::Permissions = std::os::unix::fs::PermissionsExt::from_mode(0o644);
    std::fs::set_permissions(&exposed, readable).unwrap();
    let worker = support::worker_by_hand(
        cluster.advertised(),
        &[(
            "TASKLOOM_CLUSTER_SECRET_FILE",
            Some(exposed.to_str().unwrap()),
        )],
    );
    let (code, stderr) = support::exit_of(worker);
    assert_eq!(code, Some(78), "{stderr}");
    assert!(stderr.contains("chmod 600"), "{stderr}");
}

fn garbage_before_the_handshake_is_refused(_: &Fns) {
    let rt = support::runtime();
    let cluster = open_cluster();
    // An HTTP client: its first four bytes read as a length of 1.2 GB.
    let mut http = TcpStream::connect(cluster.addr()).unwrap();
    http.write_all(b"GET / HTTP/1.1\r\nHost: taskloom\r\n\r\n")
        .unwrap();
    let status = support::wait_for(&rt, &cluster, "a refusal", |s| !s.refusals.is_empty());
    let reason = &status.refusals[0].reason;
    assert!(reason.contains("1195725856 bytes"), "{reason}");
    assert!(closed_by_scheduler(&mut http));
    // A well-formed frame that is not a hello.
    let mut noise = TcpStream::connect(cluster.addr()).unwrap();
    noise.write_all(b"\x00\x00\x00\x05hello").unwrap();
    let status = support::wait_for(&rt, &cluster, "two refusals", |s| s.refusals.len() == 2);
    let reason = &status.refusals[1].reason;
    assert!(
        reason.starts_with("sent garbage before the handshake"),
        "{reason}"
    );
    assert!(closed_by_scheduler(&mut noise));
    assert!(status.workers.is_empty());
}

fn an_oversized_first_frame_is_refused_unread(_: &Fns) {
    let rt = support::runtime();
    let cluster = open_cluster();
    let mut big = TcpStream::connect(cluster.addr()).unwrap();
    // Announce 16 MiB and send none of it: the refusal must not wait for the body.
    big.write_all(&(16_u32 << 20).to_be_bytes()).unwrap();
    let status = support::wait_for(&rt, &cluster, "a refusal", |s| !s.refusals.is_empty());
    let reason = &status.refusals[0].reason;
    assert!(
        reason.contains("announced a handshake frame of 16777216 bytes (at most 1024)"),
        "{reason}"
    );
    assert!(closed_by_scheduler(&mut big));
}

fn another_build_is_refused_on_both_sides(_: &Fns) {
    let rt = support::runtime();
    let cluster = open_cluster();
    let secret = secret_file(&cluster);
    let worker = support::worker_by_hand(
        cluster.advertised(),
        &[
            ("TASKLOOM_CLUSTER_SECRET_FILE", Some(&secret)),
            (OTHER_BUILD_VAR, Some("1")),
        ],
    );
    let status = support::wait_for(&rt, &cluster, "a refusal", |s| !s.refusals.is_empty());
    let reason = &status.refusals[0].reason;
    assert!(
        reason.contains("this worker's build") && reason.contains(cluster.build_id()),
        "{reason}"
    );
    let (code, stderr) = support::exit_of(worker);
    assert_eq!(code, Some(77), "{stderr}");
    assert!(
        stderr.contains("the scheduler runs another build") && stderr.contains(cluster.build_id()),
        "{stderr}"
    );
}

fn stalled_handshakes_stall_nobody_and_time_out(f: &Fns) {
    let rt = support::runtime();
    // A long handshake timeout: the stalled peers are still pending while a good
    // worker joins and computes.
    let cluster = support::builder()
        .workers(1)
        .handshake_timeout(Duration::from_secs(600))
        .build()
        .unwrap();
    let mut stalled: Vec<TcpStream> = (0..3)
        .map(|_| TcpStream::connect(cluster.addr()).unwrap())
        .collect();
    // One sends half a frame's length, another a length and half its body.
    stalled[1].write_all(&[0, 0]).unwrap();
    stalled[2].write_all(&[0, 0, 0, 100, 1, 2, 3]).unwrap();
    let secret = secret_file(&cluster);
    let worker = support::worker_by_hand(
        cluster.advertised(),
        &[("TASKLOOM_CLUSTER_SECRET_FILE", Some(&secret))],
    );
    rt.block_on(cluster.wait_for_workers(1, WAIT)).unwrap();
    let scheduler = Scheduler::builder()
        .executor(cluster.clone())
        .build()
        .unwrap();
    let (g, wheres) = spread(f, 4, 0);
    let out = rt.block_on(scheduler.compute(&g, &wheres[..])).unwrap();
    assert!(out.iter().all(|(_, pid)| *pid == worker.id()));
    assert!(
        cluster.status().refusals.is_empty(),
        "the stalled peers are still pending"
    );
    drop(stalled);
    drop(scheduler);
    drop(cluster);
    assert_eq!(support::exit_of(worker).0, Some(0));

    // With a short timeout, a stalled peer is refused and closed.
    let cluster = support::builder()
        .workers(1)
        .handshake_timeout(Duration::from_millis(300))
        .build()
        .unwrap();
    let mut silent = TcpStream::connect(cluster.addr()).unwrap();
    let status = support::wait_for(&rt, &cluster, "a refusal", |s| !s.refusals.is_empty());
    assert_eq!(
        status.refusals[0].reason,
        "did not finish the handshake within 0.3 s"
    );
    assert!(closed_by_scheduler(&mut silent));
}
