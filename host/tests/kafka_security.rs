//! Security as it is deployed: a Kafka listener with SASL_SSL
//! (SCRAM-SHA-512 over TLS), its CA and certificate made by the test, and
//! the pipeline connected to it with the README's Confluent-Cloud-style
//! `[kafka]` settings, end to end. Wrong credentials or an untrusted
//! certificate stop a process at start with a configuration error naming
//! the setting (exit code 2), instead of retrying forever.
//!
//! The broker is Apache Kafka of the test's own (`scripts/kafka.sh`, on
//! free loopback ports, data in a temporary directory): its SASL_SSL
//! listener serves the clients, a plain listener the broker itself.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use common::{Harness, free_port, wait_until, workspace_root};

const USER: &str = "pipeline";
const PASSWORD: &str = "pipeline-secret";

/// Runs `openssl ARGS` in `dir`, panicking with its output on failure.
fn openssl(dir: &Path, args: &[&str]) {
    let output = Command::new("openssl")
        .args(args)
        .current_dir(dir)
        .output()
        .expect("openssl (Debian's openssl package)");
    assert!(
        output.status.success(),
        "openssl {args:?}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
}

/// A certificate authority (`<name>-ca.pem`, `<name>-ca.key`) in `dir`.
fn make_ca(dir: &Path, name: &str) -> PathBuf {
    let key = format!("{name}-ca.key");
    let cert = format!("{name}-ca.pem");
    openssl(dir, &["genpkey", "-algorithm", "RSA", "-out", &key]);
    openssl(
        dir,
        &[
            "req",
            "-x509",
            "-new",
            "-key",
            &key,
            "-days",
            "2",
            "-subj",
            &format!("/CN={name} test CA"),
            "-out",
            &cert,
        ],
    );
    dir.join(cert)
}

/// The broker's key and certificate for 127.0.0.1, signed by the `trusted`
/// CA, as one PEM file (Kafka's `ssl.keystore.type=PEM`).
fn make_broker_keystore(dir: &Path) -> PathBuf {
    openssl(dir, &["genpkey", "-algorithm", "RSA", "-out", "broker.key"]);
    openssl(
        dir,
        &[
            "req",
            "-new",
            "-key",
            "broker.key",
            "-subj",
            "/CN=127.0.0.1",
            "-out",
            "broker.csr",
        ],
    );
    std::fs::write(
        dir.join("san.ext"),
        "subjectAltName = IP:127.0.0.1, DNS:localhost\n",
    )
    .unwrap();
    openssl(
        dir,
        &[
            "x509",
            "-req",
            "-in",
            "broker.csr",
            "-CA",
            "trusted-ca.pem",
            "-CAkey",
            "trusted-ca.key",
            "-CAcreateserial",
            "-days",
            "2",
            "-extfile",
            "san.ext",
            "-out",
            "broker.pem",
        ],
    );
    let keystore = dir.join("broker-keystore.pem");
    let key = std::fs::read_to_string(dir.join("broker.key")).unwrap();
    let cert = std::fs::read_to_string(dir.join("broker.pem")).unwrap();
    std::fs::write(&keystore, format!("{key}{cert}")).unwrap();
    keystore
}

/// A single Kafka node whose clients' listener is SASL_SSL; killed on drop.
struct SecureKafka {
    port: u16,
    child: Child,
    dir: PathBuf,
}

impl SecureKafka {
    fn start(dir: &Path, keystore: &Path) -> Self {
        let (port, internal, controller) = (free_port(), free_port(), free_port());
        let node = dir.join("kafka");
        std::fs::create_dir_all(&node).unwrap();
        let properties = format!(
            "process.roles=broker,controller
node.id=1
controller.quorum.bootstrap.servers=127.0.0.1:{controller}
listeners=SASL_SSL://127.0.0.1:{port},INTERNAL://127.0.0.1:{internal},CONTROLLER://127.0.0.1:{controller}
advertised.listeners=SASL_SSL://127.0.0.1:{port},INTERNAL://127.0.0.1:{internal},CONTROLLER://127.0.0.1:{controller}
inter.broker.listener.name=INTERNAL
controller.listener.names=CONTROLLER
listener.security.protocol.map=CONTROLLER:PLAINTEXT,INTERNAL:PLAINTEXT,SASL_SSL:SASL_SSL
sasl.enabled.mechanisms=SCRAM-SHA-512
listener.name.sasl_ssl.scram-sha-512.sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required;
ssl.keystore.type=PEM
ssl.keystore.location={keystore}
log.dirs={data}
offsets.topic.replication.factor=1
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
share.coordinator.state.topic.replication.factor=1
share.coordinator.state.topic.min.isr=1
auto.create.topics.enable=false
group.initial.rebalance.delay.ms=0
",
            keystore = keystore.display(),
            data = node.join("data").display(),
        );
        std::fs::write(node.join("server.properties"), properties).unwrap();
        let script = workspace_root().join("scripts/kafka.sh");
        let cluster_id = Command::new("bash")
            .arg(&script)
            .arg("uuid")
            .output()
            .unwrap();
        let cluster_id = String::from_utf8_lossy(&cluster_id.stdout)
            .trim()
            .to_owned();
        assert!(!cluster_id.is_empty(), "scripts/kafka.sh uuid gave no id");
        let scram = format!("SCRAM-SHA-512=[name={USER},password={PASSWORD}]");
        let formatted = Command::new("bash")
            .arg(&script)
            .args([
                "format",
                node.to_str().unwrap(),
                &cluster_id,
                "--standalone",
            ])
            .args(["--add-scram", &scram])
            .status()
            .unwrap();
        assert!(formatted.success(), "formatting the secure Kafka node");
        let log = std::fs::File::create(dir.join("kafka.log")).unwrap();
        let child = Command::new("bash")
            .arg(&script)
            .args(["run", node.to_str().unwrap()])
            .env("KAFKA_HEAP", "384m")
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .unwrap();
        let kafka = Self {
            port,
            child,
            dir: dir.to_owned(),
        };
        wait_until(
            Duration::from_secs(90),
            "the SASL_SSL Kafka to listen",
            || std::net::TcpStream::connect(("127.0.0.1", port)).is_ok(),
        );
        kafka
    }

    fn log(&self) -> String {
        std::fs::read_to_string(self.dir.join("kafka.log")).unwrap_or_default()
    }
}

impl Drop for SecureKafka {
    fn drop(&mut self) {
        // `scripts/kafka.sh run` execs the JVM: the child is the broker.
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The README's Confluent-Cloud-style settings, for this broker.
fn secure_settings(harness: &mut Harness, kafka: &SecureKafka, password: &str, ca: &Path) {
    let port = kafka.port;
    let ca = ca.display().to_string();
    let password = password.to_owned();
    harness.reconfigure(|config| {
        for (key, value) in [
            ("bootstrap.servers", format!("127.0.0.1:{port}")),
            ("security.protocol", "SASL_SSL".into()),
            ("sasl.mechanisms", "SCRAM-SHA-512".into()),
            ("sasl.username", USER.into()),
            ("sasl.password", password),
            ("ssl.ca.location", ca),
        ] {
            config.kafka.insert(key.into(), value);
        }
    });
}

#[tokio::test(flavor = "multi_thread")]
async fn the_pipeline_runs_over_sasl_ssl_and_refuses_bad_credentials_and_certificates() {
    let certificates = tempfile::tempdir().unwrap();
    let trusted = make_ca(certificates.path(), "trusted");
    let untrusted = make_ca(certificates.path(), "untrusted");
    let keystore = make_broker_keystore(certificates.path());
    let kafka = SecureKafka::start(certificates.path(), &keystore);

    let mut harness = Harness::new("sasl_ssl", "");
    secure_settings(&mut harness, &kafka, PASSWORD, &trusted);
    let pool = harness.create_table_with_history().await;
    harness.start_registry();
    harness.start_consumers(5);
    harness.wait_for_stable_group(5, 2);
    harness.spawn("producer", &["produce"]);
    harness.load_seed_and_wait();
    harness.update_round_robin(100, 50, 3);
    harness
        .check_exactly_once(&pool, 150, Duration::from_secs(120))
        .await;
    harness.stop("producer", libc::SIGTERM);
    for member in 1..=5 {
        harness.stop(&format!("consumer_{member}"), libc::SIGTERM);
    }

    // A wrong password: refused at start, naming the settings; no retry.
    secure_settings(&mut harness, &kafka, "not-the-password", &trusted);
    for args in [&["produce"][..], &["consume", "--member", "1"][..]] {
        let (code, output) = harness.run_bounded(args, Duration::from_secs(60));
        assert_eq!(code, Some(2), "{args:?} with a wrong password: {output}");
        assert!(
            output.contains("sasl.password") && output.contains("refused"),
            "{args:?} names the setting: {output}"
        );
    }

    // A certificate signed by a CA the client does not trust.
    secure_settings(&mut harness, &kafka, PASSWORD, &untrusted);
    let (code, output) = harness.run_bounded(&["produce"], Duration::from_secs(60));
    assert_eq!(code, Some(2), "an untrusted certificate: {output}");
    assert!(
        output.contains("ssl.ca.location"),
        "names the setting: {output}"
    );
    assert!(
        kafka.log().contains("SASL_SSL"),
        "the broker served SASL_SSL: {}",
        kafka.log()
    );
    pool.disconnect().await.unwrap();
}
