//! Frames are private and intact off loopback: TLS with the cluster's own
//! certificate, pinned by the workers, forced on here (loopback clusters may stay
//! plain by default). A reader in the middle sees no input or result; a tamperer's
//! flipped byte drops the connection, and the worker is counted lost and replaced
//! while the result stays right; a peer that knows the secret but shows another
//! certificate is refused.

use taskloom::cluster::{Cluster, Local, RefusalKind, Secret};
use taskloom::{Graph, Handle, Scheduler};

use crate::functions::Fns;
use crate::proxy::Proxy;
use crate::support::{self, WAIT};

pub(crate) const TESTS: &[crate::Test] = &[
    (
        "tls::a_tls_cluster_computes_and_its_file_pins_its_certificate",
        a_tls_cluster_computes_and_its_file_pins_its_certificate,
    ),
    (
        "tls::a_reading_proxy_finds_plaintext_only_without_tls",
        a_reading_proxy_finds_plaintext_only_without_tls,
    ),
    (
        "tls::a_flipped_byte_drops_the_connection_and_the_worker_is_replaced",
        a_flipped_byte_drops_the_connection_and_the_worker_is_replaced,
    ),
    (
        "tls::a_peer_with_the_secret_but_another_certificate_is_refused",
        a_peer_with_the_secret_but_another_certificate_is_refused,
    ),
    (
        "tls::a_plain_worker_is_refused_by_a_cluster_that_requires_tls",
        a_plain_worker_is_refused_by_a_cluster_that_requires_tls,
    ),
];

/// A known input: nobody on the path may read it, nor its result.
const CANARY: &str = "taskloom-canary-7f3a9c";

fn shout(f: &Fns) -> (Graph, Handle<String>) {
    let mut g = Graph::new();
    let text = g.add("text", (), || CANARY.to_owned()).unwrap();
    let loud = g.add_remote("loud", &text, &f.shout).unwrap();
    (g, loud)
}

fn contains(haystack: &[u8], needle: &str) -> bool {
    haystack
        .windows(needle.len())
        .any(|w| w == needle.as_bytes())
}

fn a_tls_cluster_computes_and_its_file_pins_its_certificate(f: &Fns) {
    let rt = support::runtime();
    let (cluster, scheduler) = support::local(&rt, 2, support::builder().require_tls());
    let fingerprint = cluster.tls_fingerprint().unwrap();
    let file = std::fs::read_to_string(cluster.secret_file()).unwrap();
    let lines: Vec<&str> = file.lines().collect();
    assert_eq!(lines.len(), 2, "{lines:?}");
    assert_eq!(lines[1], format!("tls {fingerprint}"));
    let (g, loud) = shout(f);
    assert_eq!(
        rt.block_on(scheduler.compute(&g, &loud)).unwrap(),
        CANARY.to_uppercase()
    );
    let status = cluster.status();
    assert!(status.workers.iter().all(|w| w.tls), "{status:?}");
    // A loopback cluster stays plain by default, and says so in its file.
    let plain = support::builder().workers(1).build().unwrap();
    assert_eq!(plain.tls_fingerprint(), None);
    let file = std::fs::read_to_string(plain.secret_file()).unwrap();
    assert_eq!(file.lines().nth(1), Some("plain-tcp"));
}

/// A cluster of one local worker whose connections go through `proxy`.
fn through(rt: &tokio::runtime::Runtime, proxy: &Proxy, tls: bool) -> (Cluster, Scheduler) {
    let mut builder = support::builder()
        .advertise(proxy.addr())
        .launcher(Local::new())
        .workers(1);
    if tls {
        builder = builder.require_tls();
    }
    let cluster = builder.build().unwrap();
    proxy.forward_to(cluster.addr());
    rt.block_on(cluster.wait_for_workers(1, WAIT)).unwrap();
    let scheduler = Scheduler::builder()
        .executor(cluster.clone())
        .build()
        .unwrap();
    (cluster, scheduler)
}

fn a_reading_proxy_finds_plaintext_only_without_tls(f: &Fns) {
    let rt = support::runtime();
    let (g, loud) = shout(f);
    let upper = CANARY.to_uppercase();
    // Plain TCP: the reader sees the input and the result (the test can see).
    let proxy = Proxy::new();
    let (cluster, scheduler) = through(&rt, &proxy, false);
    assert_eq!(rt.block_on(scheduler.compute(&g, &loud)).unwrap(), upper);
    let seen = proxy.seen();
    assert!(contains(&seen, CANARY) && contains(&seen, &upper));
    drop((scheduler, cluster));
    // TLS: the same computation through the same kind of proxy shows neither.
    let proxy = Proxy::new();
    let (cluster, scheduler) = through(&rt, &proxy, true);
    assert_eq!(rt.block_on(scheduler.compute(&g, &loud)).unwrap(), upper);
    let seen = proxy.seen();
    assert!(seen.len() > 1000, "the proxy saw {} bytes", seen.len());
    assert!(!contains(&seen, CANARY), "the input crossed in clear");
    assert!(!contains(&seen, &upper), "the result crossed in clear");
    assert!(cluster.status().workers.iter().all(|w| w.tls));
}

fn a_flipped_byte_drops_the_connection_and_the_worker_is_replaced(f: &Fns) {
    let rt = support::runtime();
    let proxy = Proxy::new();
    let (cluster, scheduler) = through(&rt, &proxy, true);
    let first = support::pid(cluster.status().workers[0].worker);
    // After the welcome: the next bytes from the scheduler (the batch) are altered.
    proxy.arm();
    let (g, loud) = shout(f);
    let out = rt.block_on(scheduler.compute(&g, &loud)).unwrap();
    assert_eq!(out, CANARY.to_uppercase());
    assert_eq!(proxy.flipped(), 1);
    let status = support::wait_for(&rt, &cluster, "a replacement", |s| {
        s.replacements == 1 && s.workers.len() == 1
    });
    let [loss] = &status.losses[..] else {
        panic!("one worker lost: {status:?}");
    };
    assert_eq!(support::pid(loss.worker), first);
    // The worker found the record altered and told the scheduler (a TLS alert),
    // or, had the alert been lost, closed its connection.
    assert!(
        loss.reason.contains("altered on the way") || loss.reason.contains("closed its connection"),
        "{}",
        loss.reason
    );
    assert_ne!(support::pid(status.workers[0].worker), first);
}

fn a_peer_with_the_secret_but_another_certificate_is_refused(_: &Fns) {
    let rt = support::runtime();
    let secret = Secret::generate().unwrap();
    // Two clusters with one secret: each made its own certificate.
    let ours = support::builder()
        .secret(secret.clone())
        .require_tls()
        .build()
        .unwrap();
    let other = support::builder()
        .secret(secret.clone())
        .require_tls()
        .build()
        .unwrap();
    assert_ne!(ours.tls_fingerprint(), other.tls_fingerprint());
    // Our file (secret and our certificate), the other's address: refused in TLS.
    let file = ours.secret_file().to_str().unwrap().to_owned();
    let worker = support::worker_by_hand(
        &other.addr().to_string(),
        &[("TASKLOOM_CLUSTER_SECRET_FILE", Some(&file))],
    );
    let (code, stderr) = support::exit_of(worker);
    assert_eq!(code, Some(77), "{stderr}");
    assert!(
        stderr.contains("is not the cluster's")
            && stderr.contains(&ours.tls_fingerprint().unwrap()),
        "{stderr}"
    );
    let status = support::wait_for(&rt, &other, "a refusal", |s| !s.refusals.is_empty());
    assert_eq!(status.refusals[0].kind, RefusalKind::Unauthenticated);
    assert!(status.workers.is_empty());
    // The pin is what refused it: the secret alone (no certificate named) gets in.
    let worker = support::worker_by_hand(
        &other.addr().to_string(),
        &[
            ("TASKLOOM_CLUSTER_SECRET_FILE", None),
            ("TASKLOOM_CLUSTER_SECRET", Some(&secret.to_hex())),
        ],
    );
    rt.block_on(other.wait_for_workers(1, WAIT)).unwrap();
    assert!(other.status().workers[0].tls);
    drop(other);
    assert_eq!(support::exit_of(worker).0, Some(0));
}

fn a_plain_worker_is_refused_by_a_cluster_that_requires_tls(_: &Fns) {
    let rt = support::runtime();
    let cluster = support::builder().require_tls().build().unwrap();
    let secret = std::fs::read_to_string(cluster.secret_file()).unwrap();
    let hex = secret.lines().next().unwrap();
    let worker = support::worker_by_hand(
        &cluster.addr().to_string(),
        &[
            ("TASKLOOM_CLUSTER_SECRET_FILE", None),
            (
                "TASKLOOM_CLUSTER_SECRET",
                Some(&format!("{hex}\nplain-tcp\n")),
            ),
        ],
    );
    let (code, stderr) = support::exit_of(worker);
    assert_eq!(code, Some(77), "{stderr}");
    assert!(stderr.contains("this cluster requires TLS"), "{stderr}");
    let status = support::wait_for(&rt, &cluster, "a refusal", |s| !s.refusals.is_empty());
    assert_eq!(status.refusals[0].kind, RefusalKind::Transport);
    assert_eq!(status.refused.get(&RefusalKind::Transport), Some(&1));
}
