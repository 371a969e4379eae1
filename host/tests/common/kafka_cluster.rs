//! A three-node Apache Kafka cluster of the test's own, on loopback: each
//! node broker and controller (KRaft), its own ports and data under
//! `run/kafka-cluster-<test>/node-<id>`, one cluster id, the quorum formed
//! with `--initial-controllers` (the three voters and their directory ids).
//! Replicated as production clusters are: topics and internal topics three
//! replicas, `min.insync.replicas=2`.
//!
//! The rule that keeps its JVMs from outliving the test: every node is a
//! child of this process (`scripts/kafka.sh run` execs the JVM, so the
//! child's pid is the broker's), killed when the cluster is dropped (also
//! on a panic) and, should the test process itself be killed, by the
//! kernel (`PR_SET_PDEATHSIG`); a start first kills what an earlier run of
//! the same test left (the pids saved in its own folder, checked against
//! their command line). Nothing else is ever signalled.

use std::collections::BTreeSet;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::metadata::Metadata;

use super::{wait_until, workspace_root};

/// Each node's heap: three nodes, the pipeline and MariaDB share the machine.
const HEAP: &str = "384m";

/// The group-offsets topic's partitions (Kafka's default is 50; a handful
/// spreads coordinators over the three nodes just as well and is created
/// in a fraction of the time). The coordinator search below reads it.
const OFFSETS_PARTITIONS: u32 = 6;

/// The cluster's settings besides listeners and storage: replication as a
/// production cluster has it.
const REPLICATION: &[(&str, &str)] = &[
    ("default.replication.factor", "3"),
    ("min.insync.replicas", "2"),
    ("offsets.topic.replication.factor", "3"),
    ("transaction.state.log.replication.factor", "3"),
    ("transaction.state.log.min.isr", "2"),
    ("share.coordinator.state.topic.replication.factor", "3"),
    ("share.coordinator.state.topic.min.isr", "2"),
    ("unclean.leader.election.enable", "false"),
    // The pipeline creates its topics itself, with their partitions.
    ("auto.create.topics.enable", "false"),
    // As on the tests' single broker (scripts/kafka.sh single): the first
    // rebalance of a group does not wait 3 s for more members.
    ("group.initial.rebalance.delay.ms", "0"),
    ("num.partitions", "1"),
    ("num.recovery.threads.per.data.dir", "1"),
];

/// One node: broker and controller.
struct Node {
    id: i32,
    port: u16,
    controller_port: u16,
    directory_id: String,
    dir: PathBuf,
    child: Option<Child>,
    paused: bool,
}

/// Three running KRaft nodes; dropping it kills them.
pub struct KafkaCluster {
    root: PathBuf,
    libs: PathBuf,
    nodes: Vec<Node>,
}

/// A partition as the metadata shows it.
#[derive(Debug, Clone)]
pub struct PartitionState {
    pub topic: String,
    pub partition: i32,
    pub leader: i32,
    pub replicas: Vec<i32>,
    pub isr: Vec<i32>,
}

impl KafkaCluster {
    /// Formats and starts the three nodes with the settings above, then
    /// `overrides` (`key=value` lines of `server.properties`, e.g. to remove
    /// a mechanism in an experiment); waits until all three brokers are
    /// registered and the quorum has a leader.
    pub fn start(test: &str, overrides: &[(&str, &str)]) -> Self {
        let root = workspace_root().join(format!("run/kafka-cluster-{test}"));
        kill_leftovers(&root);
        let _ = std::fs::remove_dir_all(&root);
        std::fs::create_dir_all(&root).unwrap();
        let libs = kafka_libs();
        let mut ports = BTreeSet::new();
        while ports.len() < 6 {
            ports.insert(super::free_port());
        }
        let ports: Vec<u16> = ports.into_iter().collect();
        let nodes: Vec<Node> = (1..=3)
            .map(|id| Node {
                id,
                port: ports[2 * (id as usize - 1)],
                controller_port: ports[2 * (id as usize - 1) + 1],
                directory_id: kafka_uuid(),
                dir: root.join(format!("node-{id}")),
                child: None,
                paused: false,
            })
            .collect();
        let mut cluster = Self { root, libs, nodes };
        cluster.format(overrides);
        for id in 1..=3 {
            cluster.spawn(id);
        }
        cluster.wait_until_formed();
        cluster
    }

    /// `host:port` of every broker, for `bootstrap.servers`.
    pub fn bootstrap(&self) -> String {
        self.nodes
            .iter()
            .map(|node| format!("127.0.0.1:{}", node.port))
            .collect::<Vec<_>>()
            .join(",")
    }

    /// Writes each node's `server.properties` and formats its storage.
    fn format(&self, overrides: &[(&str, &str)]) {
        let voters: Vec<String> = self
            .nodes
            .iter()
            .map(|n| {
                format!(
                    "{}@127.0.0.1:{}:{}",
                    n.id, n.controller_port, n.directory_id
                )
            })
            .collect();
        let quorum: Vec<String> = self
            .nodes
            .iter()
            .map(|n| format!("127.0.0.1:{}", n.controller_port))
            .collect();
        let cluster_id = kafka_uuid();
        let formats: Vec<_> = self
            .nodes
            .iter()
            .map(|node| {
                std::fs::create_dir_all(&node.dir).unwrap();
                let mut properties = format!(
                    "process.roles=broker,controller\nnode.id={id}\n\
                     controller.quorum.bootstrap.servers={quorum}\n\
                     listeners=PLAINTEXT://127.0.0.1:{port},CONTROLLER://127.0.0.1:{controller}\n\
                     advertised.listeners=PLAINTEXT://127.0.0.1:{port},CONTROLLER://127.0.0.1:{controller}\n\
                     inter.broker.listener.name=PLAINTEXT\ncontroller.listener.names=CONTROLLER\n\
                     listener.security.protocol.map=CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT\n\
                     log.dirs={data}\noffsets.topic.num.partitions={OFFSETS_PARTITIONS}\n",
                    id = node.id,
                    quorum = quorum.join(","),
                    port = node.port,
                    controller = node.controller_port,
                    data = node.dir.join("data").display(),
                );
                for (key, value) in REPLICATION.iter().chain(overrides) {
                    properties.push_str(&format!("{key}={value}\n"));
                }
                std::fs::write(node.dir.join("server.properties"), properties).unwrap();
                kafka_script()
                    .args(["format", &node.dir.display().to_string(), &cluster_id])
                    .args(["--initial-controllers", &voters.join(",")])
                    .spawn()
                    .unwrap()
            })
            .collect();
        for mut format in formats {
            let status = format.wait().unwrap();
            assert!(status.success(), "formatting a node's storage failed");
        }
    }

    fn node(&self, id: i32) -> &Node {
        self.nodes
            .iter()
            .find(|node| node.id == id)
            .unwrap_or_else(|| panic!("no node {id}"))
    }

    fn node_mut(&mut self, id: i32) -> &mut Node {
        self.nodes
            .iter_mut()
            .find(|node| node.id == id)
            .unwrap_or_else(|| panic!("no node {id}"))
    }

    /// Starts node `id`'s JVM (from the test's own thread: the kernel kills
    /// the JVM when the thread that started it ends, see the module rule).
    fn spawn(&mut self, id: i32) {
        let node = self.node_mut(id);
        assert!(node.child.is_none(), "node {id} is running already");
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(node.dir.join("kafka.log"))
            .unwrap();
        let mut command = kafka_script();
        command
            .args(["run", &node.dir.display().to_string()])
            .env("KAFKA_HEAP", HEAP)
            .stdout(log.try_clone().unwrap())
            .stderr(log);
        // SAFETY: prctl only, between fork and exec.
        unsafe {
            command.pre_exec(|| {
                libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL);
                Ok(())
            });
        }
        let child = command.spawn().unwrap();
        std::fs::write(node.dir.join("pid"), child.id().to_string()).unwrap();
        node.child = Some(child);
        node.paused = false;
    }

    /// Waits until every running node serves metadata listing every running
    /// node as a broker, and the quorum has a leader.
    fn wait_until_formed(&self) {
        let running: BTreeSet<i32> = self.running().collect();
        wait_until(Duration::from_secs(120), "the cluster to form", || {
            self.metadata(None).is_some_and(|metadata| {
                let brokers: BTreeSet<i32> = metadata.brokers().iter().map(|b| b.id()).collect();
                running.is_subset(&brokers)
            })
        });
        self.active_controller();
    }

    /// The ids of nodes whose JVM runs (paused ones included).
    pub fn running(&self) -> impl Iterator<Item = i32> + '_ {
        self.nodes
            .iter()
            .filter(|node| node.child.is_some())
            .map(|node| node.id)
    }

    /// The nodes running and not paused, as `bootstrap.servers`.
    fn reachable_bootstrap(&self) -> String {
        self.nodes
            .iter()
            .filter(|node| node.child.is_some() && !node.paused)
            .map(|node| format!("127.0.0.1:{}", node.port))
            .collect::<Vec<_>>()
            .join(",")
    }

    /// Cluster metadata (of `topic`, or of all topics), from a reachable
    /// node; `None` if none answers within 10 s.
    pub fn metadata(&self, topic: Option<&str>) -> Option<Metadata> {
        let consumer: BaseConsumer = rdkafka::ClientConfig::new()
            .set("bootstrap.servers", self.reachable_bootstrap())
            .set("log_level", "3")
            .create()
            .ok()?;
        consumer.fetch_metadata(topic, Duration::from_secs(10)).ok()
    }

    /// Every partition of `topic` (all topics: `None`) with its leader,
    /// replicas and in-sync replicas.
    pub fn partitions(&self, topic: Option<&str>) -> Vec<PartitionState> {
        let metadata = self
            .metadata(topic)
            .expect("no node answered a metadata request within 10 s");
        metadata
            .topics()
            .iter()
            .flat_map(|t| {
                t.partitions().iter().map(|p| PartitionState {
                    topic: t.name().to_owned(),
                    partition: p.id(),
                    leader: p.leader(),
                    replicas: p.replicas().to_vec(),
                    isr: p.isr().to_vec(),
                })
            })
            .collect()
    }

    /// The node leading the most partitions of `topic`.
    pub fn busiest_leader(&self, topic: &str) -> i32 {
        let partitions = self.partitions(Some(topic));
        (1..=3)
            .max_by_key(|id| partitions.iter().filter(|p| p.leader == *id).count())
            .unwrap()
    }

    /// The partitions of `topic` led by `node`.
    pub fn led_by(&self, topic: &str, node: i32) -> Vec<i32> {
        self.partitions(Some(topic))
            .into_iter()
            .filter(|p| p.leader == node)
            .map(|p| p.partition)
            .collect()
    }

    /// Asserts every partition of `topic` has three replicas: the mechanism
    /// the cluster tests rely on is in place.
    pub fn assert_replicated(&self, topic: &str) {
        let partitions = self.partitions(Some(topic));
        assert!(!partitions.is_empty(), "topic {topic} not found");
        for partition in partitions {
            assert_eq!(partition.replicas.len(), 3, "{partition:?}");
        }
    }

    /// Waits until every partition of every topic has all its replicas in
    /// sync and a live leader (a restarted node has caught up).
    pub fn wait_for_full_isr(&self, within: Duration) {
        wait_until(within, "every replica back in sync", || {
            self.metadata(None).is_some_and(|metadata| {
                metadata.topics().iter().all(|t| {
                    t.partitions()
                        .iter()
                        .all(|p| p.leader() >= 0 && p.isr().len() == p.replicas().len())
                })
            })
        });
    }

    /// The active controller (the KRaft quorum's leader), as Kafka's own
    /// `kafka-metadata-quorum describe --status` reports it.
    pub fn active_controller(&self) -> i32 {
        let mut leader = -1;
        wait_until(
            Duration::from_secs(60),
            "the quorum to have a leader",
            || {
                leader = self.quorum_leader().unwrap_or(-1);
                leader > 0
            },
        );
        leader
    }

    fn quorum_leader(&self) -> Option<i32> {
        let output = self
            .java_tool("org.apache.kafka.tools.MetadataQuorumCommand")
            .args(["--bootstrap-server", &self.reachable_bootstrap()])
            .args(["describe", "--status"])
            .output()
            .ok()?;
        let text = String::from_utf8_lossy(&output.stdout);
        text.lines()
            .find_map(|line| line.strip_prefix("LeaderId:"))
            .and_then(|id| id.trim().parse().ok())
    }

    /// Waits until the active controller is another node than `old`.
    pub fn wait_for_new_controller(&self, old: i32, within: Duration) -> i32 {
        let mut leader = old;
        wait_until(within, "another node to become the controller", || {
            leader = self.quorum_leader().unwrap_or(old);
            leader > 0 && leader != old
        });
        leader
    }

    /// The node coordinating consumer group `group`: the leader of its
    /// partition of `__consumer_offsets` (Kafka picks the partition as
    /// `abs(group.hashCode()) % offsets.topic.num.partitions`).
    pub fn coordinator_of(&self, group: &str) -> i32 {
        let partition = offsets_partition(group);
        self.partitions(Some("__consumer_offsets"))
            .into_iter()
            .find(|p| p.partition == partition)
            .map_or(-1, |p| p.leader)
    }

    /// Kafka's own view of the group's coordinator (`kafka-consumer-groups
    /// --describe --state`), to check [`KafkaCluster::coordinator_of`].
    pub fn coordinator_by_kafka(&self, group: &str) -> Option<i32> {
        let output = self
            .java_tool("org.apache.kafka.tools.consumer.group.ConsumerGroupCommand")
            .args(["--bootstrap-server", &self.reachable_bootstrap()])
            .args(["--describe", "--state", "--group", group])
            .output()
            .ok()?;
        // GROUP  COORDINATOR (ID)  ASSIGNMENT-STRATEGY  STATE  #MEMBERS
        // name   127.0.0.1:port  (2)  ...
        let text = String::from_utf8_lossy(&output.stdout);
        let line = text.lines().find(|line| line.starts_with(group))?;
        let id = line.split('(').nth(1)?.split(')').next()?;
        id.trim().parse().ok()
    }

    /// A Kafka command-line tool on the installed jars.
    fn java_tool(&self, main_class: &str) -> Command {
        let mut command = Command::new("java");
        command
            .args(["-Xmx128m", "-XX:TieredStopAtLevel=1", "-cp"])
            .arg(format!("{}/*", self.libs.display()))
            .arg(format!(
                "-Dlog4j2.configurationFile={}",
                workspace_root()
                    .join("scripts/kafka/log4j2.properties")
                    .display()
            ))
            .arg(main_class)
            .stdin(Stdio::null())
            .stderr(Stdio::null());
        command
    }

    fn child_pid(&self, id: i32) -> i32 {
        let child = self.node(id).child.as_ref();
        child
            .unwrap_or_else(|| panic!("node {id} is not running"))
            .id() as i32
    }

    fn signal(&self, id: i32, signal: i32) {
        // SAFETY: a signal to a child of ours that has not been reaped.
        unsafe {
            libc::kill(self.child_pid(id), signal);
        }
    }

    /// Kills node `id` with SIGKILL (a crash: no controlled shutdown).
    pub fn kill(&mut self, id: i32) {
        self.signal(id, libc::SIGKILL);
        let node = self.node_mut(id);
        let mut child = node.child.take().unwrap();
        let _ = child.wait();
        node.paused = false;
        eprintln!("killed node {id} (SIGKILL)");
    }

    /// Stops node `id` with SIGTERM (Kafka's controlled shutdown: its
    /// partitions' leadership moves first) and waits for it to exit.
    pub fn terminate(&mut self, id: i32) {
        self.signal(id, libc::SIGTERM);
        let node = self.node_mut(id);
        let mut child = node.child.take().unwrap();
        let deadline = Instant::now() + Duration::from_secs(90);
        while child.try_wait().unwrap().is_none() {
            if Instant::now() > deadline {
                let _ = child.kill();
                let _ = child.wait();
                panic!("node {id} did not stop within 90 s of SIGTERM");
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        eprintln!("stopped node {id} (SIGTERM)");
    }

    /// Freezes node `id` (SIGSTOP): its sockets stay open, nothing answers.
    pub fn pause(&mut self, id: i32) {
        self.signal(id, libc::SIGSTOP);
        self.node_mut(id).paused = true;
        eprintln!("paused node {id} (SIGSTOP)");
    }

    /// Lets a paused node go on (SIGCONT).
    pub fn resume(&mut self, id: i32) {
        self.signal(id, libc::SIGCONT);
        self.node_mut(id).paused = false;
        eprintln!("resumed node {id} (SIGCONT)");
    }

    /// Starts a stopped node again on its own storage and waits until the
    /// cluster lists it as a broker again.
    pub fn restart(&mut self, id: i32) {
        self.spawn(id);
        let port = self.node(id).port;
        wait_until(Duration::from_secs(120), "the node to listen again", || {
            std::net::TcpStream::connect(("127.0.0.1", port)).is_ok()
        });
        self.wait_until_formed();
        eprintln!("restarted node {id}");
    }
}

impl Drop for KafkaCluster {
    fn drop(&mut self) {
        for node in &mut self.nodes {
            if let Some(mut child) = node.child.take() {
                // SIGKILL ends a stopped process too; nothing here is kept.
                let _ = child.kill();
                let _ = child.wait();
            }
        }
        if std::thread::panicking() {
            eprintln!(
                "kept the cluster's data and logs: {}/node-*/kafka.log",
                self.root.display()
            );
        } else {
            let _ = std::fs::remove_dir_all(&self.root);
        }
    }
}

/// Kills the nodes an earlier run of this test left in `root` (its test
/// process was killed before it could): only pids saved there whose command
/// line names a `server.properties` under `root`.
fn kill_leftovers(root: &Path) {
    for id in 1..=3 {
        let dir = root.join(format!("node-{id}"));
        let Some(pid) = std::fs::read_to_string(dir.join("pid"))
            .ok()
            .and_then(|pid| pid.trim().parse::<i32>().ok())
        else {
            continue;
        };
        let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
        let ours = String::from_utf8_lossy(&cmdline)
            .contains(&dir.join("server.properties").display().to_string());
        if ours {
            // SAFETY: a signal to a pid whose command line is this node's.
            unsafe {
                libc::kill(pid, libc::SIGKILL);
            }
            eprintln!("killed node {id} left by an earlier run (pid {pid})");
        }
    }
}

/// `bash scripts/kafka.sh`.
fn kafka_script() -> Command {
    let mut command = Command::new("bash");
    command
        .arg(workspace_root().join("scripts/kafka.sh"))
        .stdin(Stdio::null());
    command
}

/// The folder of Kafka's jars (`scripts/kafka.sh libs`, installing them
/// first if needed).
fn kafka_libs() -> PathBuf {
    let output = kafka_script().arg("libs").output().unwrap();
    assert!(
        output.status.success(),
        "scripts/kafka.sh libs failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    PathBuf::from(String::from_utf8_lossy(&output.stdout).trim())
}

/// A random id as Kafka writes them (16 bytes, URL-safe base64 without
/// padding; never starting with `-`, which a command line would take for
/// an option, as Kafka's own `Uuid.randomUuid` ensures).
fn kafka_uuid() -> String {
    use std::io::Read;
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    loop {
        let mut bytes = [0u8; 16];
        std::fs::File::open("/dev/urandom")
            .and_then(|mut random| random.read_exact(&mut bytes))
            .unwrap();
        let mut text = String::with_capacity(22);
        for chunk in bytes.chunks(3) {
            let bits = chunk.iter().enumerate().fold(0u32, |bits, (i, &byte)| {
                bits | u32::from(byte) << (16 - 8 * i)
            });
            // A chunk of n bytes makes n + 1 digits (no padding).
            for digit in 0..=chunk.len() {
                text.push(char::from(
                    ALPHABET[(bits >> (18 - 6 * digit) & 0x3f) as usize],
                ));
            }
        }
        if !text.starts_with('-') {
            return text;
        }
    }
}

/// The `__consumer_offsets` partition of `group`: Kafka's
/// `Utils.abs(groupId.hashCode()) % offsets.topic.num.partitions`.
fn offsets_partition(group: &str) -> i32 {
    let hash = group.encode_utf16().fold(0i32, |hash, unit| {
        hash.wrapping_mul(31).wrapping_add(i32::from(unit))
    });
    let positive = if hash == i32::MIN { 0 } else { hash.abs() };
    positive % OFFSETS_PARTITIONS as i32
}
