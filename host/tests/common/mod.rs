//! A test harness that runs the real `pipeline` binary as separate processes
//! against the real MariaDB and broker, each test isolated in its own
//! database, topic, consumer group, registry port and directory.
#![allow(dead_code)]

pub mod binlog;
pub mod broker;
pub mod kafka_cluster;
pub mod logs;
pub mod private_server;
pub mod zones;

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use mysql_async::prelude::Queryable;
use mysql_async::{Opts, Pool};
use pipeline::config::{Config, SourceMode};
use pipeline::process::{IsolatedDeployment, Processes, Stopped};

pub use broker::broker;

pub const MYSQL_SERVER: &str = "mysql://root@127.0.0.1:3306";

/// The environment variable that points every [`Harness::new`] deployment
/// at another server, e.g. `mysql://root@127.0.0.1:3307` (the private
/// MariaDB at -05:00): the fault suite runs unchanged against it.
pub const MYSQL_URL_VARIABLE: &str = "PIPELINE_TEST_MYSQL_URL";

/// The server [`Harness::new`] uses: `$PIPELINE_TEST_MYSQL_URL`, else
/// [`MYSQL_SERVER`].
pub fn mysql_server() -> String {
    std::env::var(MYSQL_URL_VARIABLE)
        .ok()
        .filter(|url| !url.trim().is_empty())
        .map_or_else(
            || MYSQL_SERVER.to_owned(),
            |url| url.trim().trim_end_matches('/').to_owned(),
        )
}

/// The environment variable that runs every [`Harness::new`] deployment in
/// binlog mode (`PIPELINE_TEST_SOURCE_MODE=binlog`, with
/// `PIPELINE_TEST_MYSQL_URL` naming a server whose binary log is on, e.g.
/// the private one on 3307): the end-to-end test and the fault suite run
/// unchanged, and their checks then demand every change of MySQL's history
/// (each intermediate state, each delete), see [`logs::assert_exactly_once`].
pub const SOURCE_MODE_VARIABLE: &str = "PIPELINE_TEST_SOURCE_MODE";

/// Whether [`Harness::new`] deployments run in binlog mode
/// (`$PIPELINE_TEST_SOURCE_MODE` is `binlog`).
pub fn binlog_mode() -> bool {
    std::env::var(SOURCE_MODE_VARIABLE).is_ok_and(|mode| mode.trim().eq_ignore_ascii_case("binlog"))
}

/// In binlog mode the updater deletes and re-inserts every Nth product it
/// changes, so the logs must show deletes too.
pub const DELETE_EVERY: u32 = 10;

/// The updater rate for round-robin updates over the 50 seed products: each
/// product changes every 2 s, far apart compared with the poll interval and
/// grace period. Polling delivers a row's latest state, so two changes of one
/// row within one poll coalesce into one (README: "Limits of polling"); the
/// tests check every change, so they must not make such pairs.
pub const SAFE_RATE: &str = "25";

fn round_robin_args(updates: u32, products: u32, seed: u32, binlog: bool) -> Vec<String> {
    let delete_every = if binlog { DELETE_EVERY } else { 0 };
    [
        "update",
        "--skip-seed",
        "--round-robin",
        "--rate",
        SAFE_RATE,
        "--count",
        &updates.to_string(),
        "--products",
        &products.to_string(),
        "--seed",
        &seed.to_string(),
        "--delete-every",
        &delete_every.to_string(),
    ]
    .map(str::to_owned)
    .to_vec()
}

/// One isolated pipeline deployment.
pub struct Harness {
    pub dir: tempfile::TempDir,
    pub name: String,
    pub database: String,
    pub topic: String,
    pub registry_port: u16,
    pub config_path: PathBuf,
    /// `mysql://user@host:port` of the server this deployment uses.
    pub mysql_server: String,
    deployment: IsolatedDeployment,
    children: Processes,
}

/// The environment variable that runs every deployment's members with
/// another consumer group protocol: `PIPELINE_TEST_GROUP_PROTOCOL=consumer`
/// is Kafka 4's (KIP-848), as `just test-faults-group-protocol` runs the
/// rebalance faults; unset, the members use the classic protocol.
pub const GROUP_PROTOCOL_VARIABLE: &str = "PIPELINE_TEST_GROUP_PROTOCOL";

/// `$PIPELINE_TEST_GROUP_PROTOCOL`, if set.
pub fn group_protocol() -> Option<String> {
    std::env::var(GROUP_PROTOCOL_VARIABLE)
        .ok()
        .map(|protocol| protocol.trim().to_owned())
        .filter(|protocol| !protocol.is_empty())
}

impl Harness {
    /// A deployment with five members and the seed plugin chain, on its own
    /// database, registry port and (through the library's
    /// `IsolatedDeployment`) topic, group and files; `extra_config` is TOML
    /// for anything else (the isolation settings win over it).
    /// The server is [`mysql_server`]'s (`$PIPELINE_TEST_MYSQL_URL`), the
    /// mode [`binlog_mode`]'s (`$PIPELINE_TEST_SOURCE_MODE`), the broker
    /// [`broker`]'s (`$PIPELINE_TEST_BROKER`).
    pub fn new(test: &str, extra_config: &str) -> Self {
        let mode = binlog_mode().then_some(SourceMode::Binlog);
        Self::build(test, &mysql_server(), mode, &broker(), extra_config)
    }

    /// The same deployment against the brokers of `bootstrap_servers` (a
    /// cluster of the test's own, `kafka_cluster`).
    pub fn on_brokers(test: &str, bootstrap_servers: &str, extra_config: &str) -> Self {
        let mode = binlog_mode().then_some(SourceMode::Binlog);
        Self::build(test, &mysql_server(), mode, bootstrap_servers, extra_config)
    }

    /// The same deployment against another MySQL server (`mysql://user@host:port`).
    pub fn on_server(test: &str, mysql_server: &str, extra_config: &str) -> Self {
        Self::build(test, mysql_server, None, &broker(), extra_config)
    }

    /// The same deployment against another server, in binlog mode.
    pub fn binlog_on_server(test: &str, mysql_server: &str, extra_config: &str) -> Self {
        Self::build(
            test,
            mysql_server,
            Some(SourceMode::Binlog),
            &broker(),
            extra_config,
        )
    }

    fn build(
        test: &str,
        mysql_server: &str,
        mode: Option<SourceMode>,
        bootstrap_servers: &str,
        extra_config: &str,
    ) -> Self {
        ensure_plugins_built();
        let unique = format!(
            "{test}_{}_{}",
            std::process::id(),
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_millis()
                % 1_000_000_000
        );
        let dir = tempfile::Builder::new()
            .prefix(&format!("pipeline-{test}-"))
            .tempdir()
            .unwrap();
        let registry_port = free_port();
        let database = format!("pt_{unique}");
        let root = workspace_root();
        let mut base = Config::from_toml(extra_config, "the test's extra config").unwrap();
        base.mysql.url = format!("{mysql_server}/{database}");
        base.source.poll_interval_ms = 50;
        // The grace period stays the default: the suite proves it safe.
        base.source.value_schema_file = Some(root.join("schemas/product_value_avro_schema.json"));
        if let Some(mode) = mode {
            base.source.mode = mode;
        }
        base.topic.partitions = 10;
        base.kafka
            .insert("bootstrap.servers".into(), bootstrap_servers.to_owned());
        if let Some(protocol) = group_protocol() {
            base.kafka.insert("group.protocol".into(), protocol);
        }
        base.schema_registry.url = format!("http://127.0.0.1:{registry_port}");
        base.consumer.members = 5;
        base.plugins = Config::seed_plugins(&root.join("plugins/wasm"));
        base.registry.listen = format!("127.0.0.1:{registry_port}");
        base.updater.seed_file = root.join("data/products.csv");
        let deployment = IsolatedDeployment::new(&base, dir.path(), &unique).unwrap();
        std::fs::create_dir_all(dir.path().join("logs")).unwrap();
        Self {
            name: test.to_owned(),
            database,
            topic: deployment.config.topic.name.clone(),
            registry_port,
            config_path: deployment.config_file.clone(),
            mysql_server: mysql_server.to_owned(),
            deployment,
            children: Processes::default(),
            dir,
        }
    }

    pub fn path(&self, relative: &str) -> PathBuf {
        self.dir.path().join(relative)
    }

    /// Whether this deployment reads the binary log.
    pub fn is_binlog(&self) -> bool {
        self.deployment.config.source.mode == SourceMode::Binlog
    }

    /// The producer's saved position, whichever the mode.
    pub fn position_file(&self) -> PathBuf {
        let source = &self.deployment.config.source;
        if self.is_binlog() {
            source.binlog_position_file.clone()
        } else {
            source.position_file.clone()
        }
    }

    /// The configuration its processes read.
    pub fn config(&self) -> &Config {
        &self.deployment.config
    }

    /// Changes the configuration file; processes started afterwards read it.
    pub fn reconfigure(&mut self, change: impl FnOnce(&mut Config)) {
        change(&mut self.deployment.config);
        self.deployment.write_config().unwrap();
    }

    /// `pipeline --config <this> <args>` as a command.
    pub fn command(&self, args: &[&str]) -> Command {
        let mut command = self
            .deployment
            .command(Path::new(env!("CARGO_BIN_EXE_pipeline")), args);
        command
            .env(
                "RUST_LOG",
                std::env::var("PIPELINE_TEST_LOG").unwrap_or_else(|_| "info,rdkafka=warn".into()),
            )
            .stdin(Stdio::null());
        command
    }

    /// Every log line as JSON, in (topic, partition, offset) order.
    pub fn raw_log_lines(&self) -> Vec<serde_json::Value> {
        let mut lines: Vec<serde_json::Value> = Vec::new();
        let Ok(entries) = std::fs::read_dir(self.path("consumer_logs")) else {
            return lines;
        };
        for entry in entries.flatten() {
            let text =
                std::fs::read_to_string(entry.path().join("consumer_log.json")).unwrap_or_default();
            lines.extend(
                text.lines()
                    .filter_map(|line| serde_json::from_str(line).ok()),
            );
        }
        lines.sort_by_key(|line| {
            (
                line["topic"].as_str().unwrap_or_default().to_owned(),
                line["partition"].as_i64(),
                line["offset"].as_i64(),
            )
        });
        lines
    }

    /// [`Harness::raw_log_lines`] once there are at least `count`; panics
    /// with the children's logs after `within`.
    pub fn wait_for_raw_log_lines(&self, count: usize, within: Duration) -> Vec<serde_json::Value> {
        let deadline = std::time::Instant::now() + within;
        loop {
            let lines = self.raw_log_lines();
            if lines.len() >= count {
                return lines;
            }
            if std::time::Instant::now() > deadline {
                self.dump_child_logs();
                panic!("waited {within:?} for {count} lines, have {}", lines.len());
            }
            std::thread::sleep(Duration::from_millis(200));
        }
    }

    /// Runs `pipeline ARGS` to its end: its exit code and everything it
    /// printed (stdout then stderr), for the start checks' messages.
    pub fn output(&self, args: &[&str]) -> (Option<i32>, String) {
        let output = self.command(args).output().unwrap();
        (
            output.status.code(),
            format!(
                "{}{}",
                String::from_utf8_lossy(&output.stdout),
                String::from_utf8_lossy(&output.stderr)
            ),
        )
    }

    /// Runs `pipeline ARGS` until it exits (killed after `bound`): its exit
    /// code (`None` if it had to be killed) and its output.
    pub fn run_bounded(&self, args: &[&str], bound: Duration) -> (Option<i32>, String) {
        let output = self.path(&format!("logs/bounded-{}.log", args.join("-")));
        let log = std::fs::File::create(&output).unwrap();
        let mut child = self
            .command(args)
            .stdout(Stdio::from(log.try_clone().unwrap()))
            .stderr(Stdio::from(log))
            .spawn()
            .unwrap();
        let deadline = Instant::now() + bound;
        let code = loop {
            if let Some(status) = child.try_wait().unwrap() {
                break status.code();
            }
            if Instant::now() >= deadline {
                let _ = child.kill();
                let _ = child.wait();
                break None;
            }
            std::thread::sleep(Duration::from_millis(100));
        };
        (code, std::fs::read_to_string(&output).unwrap_or_default())
    }

    /// Starts a long-running child; its output goes to `logs/<name>.log`.
    pub fn spawn(&mut self, name: &str, args: &[&str]) {
        let log = self.path(&format!("logs/{name}.log"));
        self.children.start(name, self.command(args), &log).unwrap();
    }

    /// Runs the updater to completion: `updates` round-robin changes over
    /// products 1..=`products` at `SAFE_RATE`, from generator seed `seed`.
    pub fn update_round_robin(&self, updates: u32, products: u32, seed: u32) {
        let args = round_robin_args(updates, products, seed, self.is_binlog());
        self.run(&args.iter().map(String::as_str).collect::<Vec<_>>());
    }

    /// Starts the same updater as `update_round_robin` as child `name`.
    pub fn spawn_round_robin(&mut self, name: &str, updates: u32, products: u32, seed: u32) {
        let args = round_robin_args(updates, products, seed, self.is_binlog());
        self.spawn(name, &args.iter().map(String::as_str).collect::<Vec<_>>());
    }

    /// Runs a command to completion and asserts it succeeded.
    pub fn run(&self, args: &[&str]) -> String {
        let output = self.command(args).output().unwrap();
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(
            output.status.success(),
            "pipeline {args:?} failed:\n{stderr}"
        );
        format!("{}{}", String::from_utf8_lossy(&output.stdout), stderr)
    }

    /// Starts the registry and waits until it listens.
    pub fn start_registry(&mut self) {
        self.spawn("registry", &["registry"]);
        wait_until(Duration::from_secs(20), "the registry listens", || {
            std::net::TcpStream::connect(("127.0.0.1", self.registry_port)).is_ok()
        });
    }

    /// Starts members 1..=n.
    pub fn start_consumers(&mut self, n: u32) {
        for member in 1..=n {
            self.spawn(
                &format!("consumer_{member}"),
                &["consume", "--member", &member.to_string()],
            );
        }
    }

    /// Sends `signal` to the named child and waits for it to exit.
    pub fn stop(&mut self, name: &str, signal: i32) {
        let child = self
            .children
            .remove(name)
            .unwrap_or_else(|| panic!("no child {name}"));
        child.signal(signal);
        if child.wait_or_kill(Duration::from_secs(30)) == Stopped::Killed {
            panic!("{name} did not exit within 30 s of signal {signal}");
        }
    }

    /// Sends `signal` to the named child; whether it exited within `bound`
    /// (killed if not, so the test goes on).
    pub fn stop_within(&mut self, name: &str, signal: i32, bound: Duration) -> bool {
        let child = self
            .children
            .remove(name)
            .unwrap_or_else(|| panic!("no child {name}"));
        child.signal(signal);
        child.wait_or_kill(bound) != Stopped::Killed
    }

    /// Waits for a child that finishes on its own (the updater) to exit.
    pub fn wait_for_child_exit(&mut self, name: &str, timeout: Duration) {
        let mut child = self
            .children
            .remove(name)
            .unwrap_or_else(|| panic!("no child {name}"));
        match child.wait_for_exit(timeout) {
            Some(status) => assert!(status.success(), "{name} failed: {status}"),
            None => {
                self.children.push(child);
                panic!("{name} still running after {timeout:?}");
            }
        }
    }

    /// Waits until every member's progress snapshot shows `per_member`
    /// partitions (the group is stable).
    pub fn wait_for_stable_group(&self, members: u32, per_member: usize) {
        wait_until(Duration::from_secs(60), "the group to balance", || {
            self.deployment.group_formed(members, per_member)
        });
    }

    pub async fn pool(&self) -> Pool {
        let url = format!("{}/{}", self.mysql_server, self.database);
        let server = Pool::new(Opts::from_url(&self.mysql_server).unwrap());
        let mut conn = server.get_conn().await.unwrap();
        conn.query_drop(format!("CREATE DATABASE IF NOT EXISTS `{}`", self.database))
            .await
            .unwrap();
        drop(conn);
        server.disconnect().await.unwrap();
        // `setup`, not `init`: the pool resets returned connections, which
        // forgets an `init` command's session settings.
        let opts = mysql_async::OptsBuilder::from_opts(Opts::from_url(&url).unwrap())
            .setup(vec!["SET time_zone = '+00:00'"]);
        Pool::new(opts)
    }

    /// Creates the product table as the pipeline does, plus a history table
    /// filled by triggers: MySQL's own record of every change, to check the
    /// logs against. In binlog mode deletes are recorded too (with the row's
    /// last state, as the delete's record carries it).
    pub async fn create_table_with_history(&self) -> Pool {
        let pool = self.pool().await;
        let mut conn = pool.get_conn().await.unwrap();
        pipeline::updater::ensure_seed_table(&mut conn, "product")
            .await
            .unwrap();
        conn.query_drop(
            "CREATE TABLE IF NOT EXISTS product_history (
                seq BIGINT AUTO_INCREMENT PRIMARY KEY, op CHAR(1) NOT NULL,
                id INT NOT NULL, name VARCHAR(255), category VARCHAR(64),
                price DECIMAL(12,2), last_updated DATETIME(6))",
        )
        .await
        .unwrap();
        let mut triggers = vec![
            ("INSERT", "history_insert", "c", "NEW"),
            ("UPDATE", "history_update", "u", "NEW"),
        ];
        if self.is_binlog() {
            triggers.push(("DELETE", "history_delete", "d", "OLD"));
        }
        for (event, name, op, row) in triggers {
            conn.query_drop(format!(
                "CREATE TRIGGER IF NOT EXISTS {name} AFTER {event} ON product FOR EACH ROW
                 INSERT INTO product_history (op, id, name, category, price, last_updated)
                 VALUES ('{op}', {row}.id, {row}.name, {row}.category, {row}.price, {row}.last_updated)"
            ))
            .await
            .unwrap();
        }
        drop(conn);
        pool
    }

    /// Waits up to `within` for a line per change in MySQL's history (which
    /// must hold `expected` changes, a delete and its re-insert counting as
    /// one), lets 3 s pass so an extra line would show, then checks that the
    /// logs hold every change exactly once.
    pub async fn check_exactly_once(&self, pool: &Pool, expected: usize, within: Duration) {
        let history = self.history(pool).await;
        assert_eq!(
            logs::writer_changes(&history),
            expected,
            "the changes made in MySQL"
        );
        self.wait_for_lines(history.len(), within);
        std::thread::sleep(Duration::from_secs(3));
        logs::assert_exactly_once(&history, &self.log_lines());
    }

    /// Every change MySQL recorded, in the order it made them:
    /// (op, id, last_updated µs, name, category, price).
    pub async fn history(&self, pool: &Pool) -> Vec<logs::Change> {
        let mut conn = pool.get_conn().await.unwrap();
        let rows: Vec<(String, i32, mysql_async::Value, String, String, String)> = conn
            .query("SELECT op, id, last_updated, name, category, CAST(price AS CHAR) FROM product_history ORDER BY seq")
            .await
            .unwrap();
        rows.into_iter()
            .map(|(op, id, stamp, name, category, price)| logs::Change {
                op,
                id: i64::from(id),
                last_updated: pipeline::timestamp::Timestamp::from_mysql(&stamp)
                    .unwrap()
                    .micros(),
                name,
                category,
                price: price.parse().unwrap(),
            })
            .collect()
    }

    /// Every line of every member's log.
    pub fn log_lines(&self) -> Vec<logs::Line> {
        logs::read_all(&self.path("consumer_logs"))
    }

    /// Loads the 50 seed products and waits until they are all logged, so
    /// no later update coalesces with its insert. In binlog mode it first
    /// waits for the producer's snapshot (its first saved position), so the
    /// inserts are read from the log: each change is then in the logs as
    /// the operation MySQL's history names.
    pub fn load_seed_and_wait(&self) {
        self.wait_for_binlog_snapshot();
        self.run(&["update", "--count", "0"]);
        self.wait_for_lines(50, Duration::from_secs(60));
    }

    /// In binlog mode: waits until the producer saved its first position
    /// (its snapshot is done; what is written from now on comes from the
    /// log). Nothing to wait for in timestamp mode.
    pub fn wait_for_binlog_snapshot(&self) {
        if self.is_binlog() {
            let position = self.position_file();
            wait_until(Duration::from_secs(60), "the snapshot's position", || {
                position.exists()
            });
        }
    }

    /// Waits until the logs hold at least `count` lines.
    pub fn wait_for_lines(&self, count: usize, timeout: Duration) -> Vec<logs::Line> {
        let mut lines = Vec::new();
        let deadline = Instant::now() + timeout;
        while Instant::now() < deadline {
            lines = self.log_lines();
            if lines.len() >= count {
                return lines;
            }
            std::thread::sleep(Duration::from_millis(200));
        }
        self.dump_child_logs();
        panic!(
            "waited {timeout:?} for {count} log lines, have {}",
            lines.len()
        );
    }

    /// Prints the children's logs (on failure).
    pub fn dump_child_logs(&self) {
        if let Ok(entries) = std::fs::read_dir(self.path("logs")) {
            for entry in entries.flatten() {
                let text = std::fs::read_to_string(entry.path()).unwrap_or_default();
                let tail: Vec<_> = text.lines().rev().take(30).collect();
                eprintln!("==== {} (last 30 lines)", entry.path().display());
                for line in tail.into_iter().rev() {
                    eprintln!("{line}");
                }
            }
        }
    }
}

impl Drop for Harness {
    fn drop(&mut self) {
        self.children.stop_all(Duration::from_secs(10));
        if std::thread::panicking() {
            self.dump_child_logs();
            eprintln!("kept the test directory: {}", self.dir.path().display());
            let _ = std::mem::replace(&mut self.dir, tempfile::tempdir().unwrap()).keep();
        } else if let Ok(runtime) = tokio::runtime::Runtime::new() {
            // Tests run inside their own runtime; drop the database from a fresh one.
            let database = self.database.clone();
            let server = self.mysql_server.clone();
            let _ = std::thread::spawn(move || {
                runtime.block_on(async {
                    let pool = Pool::new(Opts::from_url(&server).unwrap());
                    if let Ok(mut conn) = pool.get_conn().await {
                        let _ = conn
                            .query_drop(format!("DROP DATABASE IF EXISTS `{database}`"))
                            .await;
                    }
                    let _ = pool.disconnect().await;
                })
            })
            .join();
        }
    }
}

/// Polls `condition` every 100 ms until it holds or `timeout` passes.
pub fn wait_until(timeout: Duration, what: &str, mut condition: impl FnMut() -> bool) {
    let deadline = Instant::now() + timeout;
    while Instant::now() < deadline {
        if condition() {
            return;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    panic!("timed out after {timeout:?} waiting for {what}");
}

pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

pub fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_path_buf()
}

/// Builds the wasm plugins once if they are missing (a fresh checkout).
pub fn ensure_plugins_built() {
    static BUILT: std::sync::Once = std::sync::Once::new();
    BUILT.call_once(|| {
        let root = workspace_root();
        let wasm = root.join("plugins/wasm");
        let present = ["uppercase_category.wasm", "cat5_discount.wasm"]
            .iter()
            .all(|file| wasm.join(file).exists());
        if !present {
            let status = Command::new("bash")
                .arg(root.join("scripts/build-plugins.sh"))
                .status()
                .expect("run scripts/build-plugins.sh");
            assert!(status.success(), "building the plugins failed");
        }
    });
}

/// Builds the Python and JavaScript seed plugins once (`build-plugins.sh`
/// skips them when they are up to date).
pub fn ensure_polyglot_plugins_built() {
    static BUILT: std::sync::Once = std::sync::Once::new();
    BUILT.call_once(|| {
        let root = workspace_root();
        let status = Command::new("bash")
            .arg(root.join("scripts/build-plugins.sh"))
            .args(["python/uppercase-category", "python/cat5-discount"])
            .args(["js/uppercase-category", "js/cat5-discount"])
            .status()
            .expect("run scripts/build-plugins.sh");
        assert!(
            status.success(),
            "building the Python and JS plugins failed"
        );
    });
}
