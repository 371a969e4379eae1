//! The test harness's broker restart (`common::broker`): it finds the
//! process by the port it listens on and restarts exactly that one, as it
//! was started. Checked on nisshi instances of this test's own
//! (`memory://`, free ports), never on the shared broker.

mod common;

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use common::broker::{Launch, listener_pid, listening_inodes, restart_broker_on};

/// A `/proc/net/tcp` table: a listener on 0x4A4C (19020) on every
/// address, one on 0x2384 (9092) on loopback, a connection from 0x2384
/// (established, `01`), and a socket in TIME_WAIT (no inode).
const TABLE: &str = "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode
   0: 00000000:4A4C 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 31337 1 0000000000000000 100 0 0 10 0
   1: 0100007F:2384 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 4242 1 0000000000000000 100 0 0 10 0
   2: 0100007F:2384 0100007F:C350 01 00000000:00000000 00:00000000 00000000     0        0 5151 1 0000000000000000 20 4 30 10 -1
   3: 0100007F:2384 0100007F:C351 06 00000000:00000000 03:00001234 00000000     0        0 0 3 0000000000000000
";

#[test]
fn only_the_listening_socket_on_the_port_is_picked() {
    assert_eq!(listening_inodes(TABLE, 9092), vec![4242]);
    assert_eq!(listening_inodes(TABLE, 19020), vec![31337]);
    assert_eq!(listening_inodes(TABLE, 50000), Vec::<u64>::new());
    assert_eq!(listening_inodes("", 9092), Vec::<u64>::new());
}

#[test]
fn the_listener_on_a_port_is_found_by_its_socket() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    assert_eq!(listener_pid(port), Some(std::process::id()));
    drop(listener);
    assert_eq!(listener_pid(port), None);
}

/// Whether nisshi is on PATH: scripts/install.sh installs it from the
/// project's prebuilt cache, or builds it where it is the broker. Without it
/// the restart test has no second broker to start and says so.
fn nisshi_installed() -> bool {
    let found = Command::new("nisshi")
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|status| status.success());
    if !found {
        eprintln!(
            "skipped: nisshi is not installed (PIPELINE_BROKER=nisshi scripts/install.sh installs it)"
        );
    }
    found
}

/// A nisshi of this test's own on `port`; killed on drop, whatever pid it
/// has by then (the restart gives it a new one).
struct OwnNisshi {
    port: u16,
}

impl OwnNisshi {
    fn start(port: u16, output: &Path) -> Self {
        let listener = format!("tcp://127.0.0.1:{port}");
        let log = std::fs::File::create(output).unwrap();
        // setsid -f, as the services start it: not this test's child.
        let status = Command::new("setsid")
            .args([
                "-f",
                "nisshi",
                "broker",
                "--storage-engine",
                "memory://nisshi/",
            ])
            .args(["--listener-url", &listener])
            .args(["--advertised-listener-url", &listener])
            .env("PIPELINE_HARNESS_MARKER", port.to_string())
            .env("RUST_LOG", "warn")
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .status()
            .expect("setsid nisshi (scripts/install.sh installs nisshi)");
        assert!(status.success());
        let own = Self { port };
        common::wait_until(Duration::from_secs(30), "the nisshi to listen", || {
            std::net::TcpStream::connect(("127.0.0.1", port)).is_ok()
        });
        own
    }

    fn pid(&self) -> u32 {
        listener_pid(self.port).expect("the nisshi's pid")
    }
}

impl Drop for OwnNisshi {
    fn drop(&mut self) {
        if let Some(pid) = listener_pid(self.port)
            && Launch::of(pid).is_ok_and(|launch| {
                launch.name() == "nisshi"
                    && launch
                        .args
                        .contains(&format!("tcp://127.0.0.1:{}", self.port))
            })
        {
            // SAFETY: a signal to the nisshi this test started on its port.
            unsafe {
                libc::kill(pid as i32, libc::SIGKILL);
            }
        }
    }
}

/// Two brokers: the one on the given port is restarted as it was (its
/// command line, environment and output file), the other keeps running
/// untouched.
#[test]
fn a_restart_stops_and_restarts_only_the_broker_on_its_port() {
    if !nisshi_installed() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let (port, other_port) = (common::free_port(), common::free_port());
    assert_ne!(port, other_port);
    let target = OwnNisshi::start(port, &dir.path().join("target.log"));
    let other = OwnNisshi::start(other_port, &dir.path().join("other.log"));
    let (old_pid, other_pid) = (target.pid(), other.pid());
    let before = Launch::of(old_pid).unwrap();

    let new_pid = restart_broker_on(port);

    assert_ne!(new_pid, old_pid, "a new process");
    assert_eq!(target.pid(), new_pid);
    assert!(
        !Path::new(&format!("/proc/{old_pid}")).exists()
            || std::fs::read_to_string(format!("/proc/{old_pid}/stat"))
                .is_ok_and(|stat| stat.contains(") Z ")),
        "the old broker is gone"
    );
    let after = Launch::of(new_pid).unwrap();
    assert_eq!(after.args[1..], before.args[1..], "the same command line");
    assert_eq!(after.name(), "nisshi");
    assert_eq!(after.cwd, before.cwd, "the same working directory");
    assert!(
        after
            .env
            .contains(&("PIPELINE_HARNESS_MARKER".into(), port.to_string())),
        "the same environment"
    );
    assert_eq!(
        after.output.as_deref(),
        Some(dir.path().join("target.log").as_path()),
        "the same output file"
    );
    assert_eq!(other.pid(), other_pid, "the other broker was not touched");
}

#[test]
#[should_panic(expected = "is neither Kafka nor nisshi")]
fn a_port_held_by_anything_but_nisshi_is_not_restarted() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    restart_broker_on(listener.local_addr().unwrap().port());
}
