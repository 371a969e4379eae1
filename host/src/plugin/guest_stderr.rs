//! What a plugin writes to stderr during a call, kept to explain its failure.
//!
//! A Python or JavaScript plugin that raises reaches the host as a bare
//! `unreachable` trap: the interpreter prints the exception to stderr and
//! aborts. So the host keeps the end of what each call wrote there and, when
//! the call fails, puts the exception's text in the failure's reason
//! ([`explain`]).
//!
//! The rule that bounds what this costs the host: **it keeps the last
//! [`TAIL_BYTES`] a call wrote, however much the plugin writes** (a fixed
//! few KiB per instance, well inside the [`OUTPUT_ALLOWANCE`] every call
//! may make the host hold; each write is at most one tail, and copying it
//! is charged to the call's CPU time like any host work the plugin causes).
//! Writing never waits: the stream is always ready (see `sandbox`).
//!
//! [`OUTPUT_ALLOWANCE`]: super::limits::OUTPUT_ALLOWANCE

use std::collections::VecDeque;
use std::pin::Pin;
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context, Poll};

use bytes::Bytes;
use wasmtime_wasi::cli::{IsTerminal, StdoutStream};
use wasmtime_wasi::p2::{OutputStream, Pollable, StreamResult};

/// How many of a call's last stderr bytes are kept.
pub const TAIL_BYTES: usize = 4 * 1024;

/// The stderr of one plugin instance: the tail of the running call's writes.
#[derive(Clone, Default)]
pub struct StderrTail(Arc<Mutex<Tail>>);

#[derive(Default)]
struct Tail {
    kept: VecDeque<u8>,
}

impl StderrTail {
    /// Forgets what earlier calls wrote.
    pub fn start_call(&self) {
        self.lock().kept.clear();
    }

    /// The kept tail as text (invalid UTF-8 replaced).
    pub fn text(&self) -> String {
        let tail = self.lock();
        let (front, back) = tail.kept.as_slices();
        let mut bytes = Vec::with_capacity(tail.kept.len());
        bytes.extend_from_slice(front);
        bytes.extend_from_slice(back);
        String::from_utf8_lossy(&bytes).into_owned()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Tail> {
        self.0.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Keeps the end of `bytes`, forgetting as much of the oldest as needed.
    fn append(&self, bytes: &[u8]) {
        let mut tail = self.lock();
        let kept = &bytes[bytes.len().saturating_sub(TAIL_BYTES)..];
        let overflow = (tail.kept.len() + kept.len()).saturating_sub(TAIL_BYTES);
        tail.kept.drain(..overflow);
        tail.kept.extend(kept);
    }
}

impl IsTerminal for StderrTail {
    fn is_terminal(&self) -> bool {
        false
    }
}

impl StdoutStream for StderrTail {
    fn p2_stream(&self) -> Box<dyn OutputStream> {
        Box::new(self.clone())
    }

    fn async_stream(&self) -> Box<dyn tokio::io::AsyncWrite + Send + Sync> {
        Box::new(self.clone())
    }
}

#[wasmtime_wasi::async_trait]
impl OutputStream for StderrTail {
    fn write(&mut self, bytes: Bytes) -> StreamResult<()> {
        self.append(&bytes);
        Ok(())
    }

    fn flush(&mut self) -> StreamResult<()> {
        Ok(())
    }

    fn check_write(&mut self) -> StreamResult<usize> {
        // A permit of one tail: the host never holds more of one write.
        Ok(TAIL_BYTES)
    }
}

#[wasmtime_wasi::async_trait]
impl Pollable for StderrTail {
    async fn ready(&mut self) {}
}

impl tokio::io::AsyncWrite for StderrTail {
    fn poll_write(
        self: Pin<&mut Self>,
        _: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        self.append(buf);
        Poll::Ready(Ok(buf.len()))
    }

    fn poll_flush(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Poll::Ready(Ok(()))
    }
}

/// Longest explanation taken from stderr, in bytes.
const MAX_EXPLANATION_BYTES: usize = 512;

/// What a failed call's stderr says went wrong: a Python exception with the
/// file and line it was raised at, a JavaScript error or a Rust panic.
pub fn explain(stderr: &str) -> Option<String> {
    python_exception(stderr)
        .or_else(|| javascript_error(stderr))
        .or_else(|| rust_panic(stderr))
        .map(cut)
}

/// The last few non-empty lines of `stderr`, joined by ` / `; `None` when
/// it has none.
pub fn last_lines(stderr: &str) -> Option<String> {
    let lines: Vec<&str> = stderr
        .lines()
        .map(str::trim)
        .filter(|line| !line.is_empty())
        .collect();
    let last = &lines[lines.len().saturating_sub(3)..];
    (!last.is_empty()).then(|| cut(last.join(" / ")))
}

/// `RuntimeError: price is negative (app.py line 12, in check)` from the
/// last traceback: its exception line, and the innermost frame.
fn python_exception(stderr: &str) -> Option<String> {
    let start = stderr.rfind("Traceback (most recent call last):")?;
    let mut frame = None;
    for line in stderr[start..].lines().skip(1) {
        if let Some(place) = line.trim_start().strip_prefix("File \"") {
            frame = python_frame(place);
        } else if !line.starts_with(' ') && !line.trim().is_empty() {
            return Some(match frame {
                Some(frame) => format!("{} ({frame})", line.trim()),
                None => line.trim().to_owned(),
            });
        }
    }
    None
}

/// `app.py line 12, in check` from `/app/app.py", line 12, in check`.
fn python_frame(place: &str) -> Option<String> {
    let (path, rest) = place.split_once('"')?;
    let file = path.rsplit('/').next().unwrap_or(path);
    let rest = rest.trim_start_matches(',').trim();
    Some(format!("{file} {rest}"))
}

/// StarlingMonkey's report of an uncaught error: `TypeError: price is
/// negative (index.js line 10)`, from the `Error: …` line and the first
/// frame of the stack that follows it.
fn javascript_error(stderr: &str) -> Option<String> {
    let lines: Vec<&str> = stderr.lines().collect();
    let stack = lines.iter().rposition(|line| line.trim() == "Stack:")?;
    let message = lines[..stack]
        .iter()
        .rev()
        .map(|line| line.trim())
        .find(|line| !line.is_empty())?;
    let frame = lines[stack + 1..]
        .iter()
        .map(|line| line.trim())
        .find(|line| !line.is_empty())
        .and_then(javascript_frame);
    Some(match frame {
        Some(frame) => format!("{message} ({frame})"),
        None => message.to_owned(),
    })
}

/// `index.js line 10, in check` from `check@plugins/x/index.js:10:9`.
fn javascript_frame(frame: &str) -> Option<String> {
    let (function, place) = frame.rsplit_once('@')?;
    let mut parts = place.rsplitn(3, ':');
    let _column = parts.next()?;
    let line = parts.next()?;
    let path = parts.next()?;
    let file = path.rsplit('/').next().unwrap_or(path);
    Some(if function.is_empty() {
        format!("{file} line {line}")
    } else {
        format!("{file} line {line}, in {function}")
    })
}

/// `panicked at src/lib.rs:10:5: the message` from a Rust panic's report.
fn rust_panic(stderr: &str) -> Option<String> {
    let start = stderr.rfind("panicked at ")?;
    let mut lines = stderr[start..].lines();
    let place = lines.next()?.trim().trim_end_matches(':');
    let message = lines
        .take_while(|line| !line.starts_with("note: "))
        .collect::<Vec<_>>()
        .join(" ");
    Some(format!("{place}: {}", message.trim()))
}

fn cut(mut text: String) -> String {
    if text.len() > MAX_EXPLANATION_BYTES {
        let mut end = MAX_EXPLANATION_BYTES;
        while !text.is_char_boundary(end) {
            end -= 1;
        }
        text.truncate(end);
        text.push('…');
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What componentize-py's runtime prints when `transform` raises.
    const PYTHON: &str = "Traceback (most recent call last):
  File \"/0/app.py\", line 13, in transform
  File \"/0/app.py\", line 19, in check
ValueError: id 2 is even

thread '<unnamed>' (1) panicked at runtime/src/lib.rs:1280:25:
Python function threw an unexpected exception
note: run with `RUST_BACKTRACE=1` environment variable to display a backtrace
";

    /// What componentize-js (StarlingMonkey) prints when `transform` throws.
    const JAVASCRIPT: &str = "id 4 is even
Stack:
  check@plugins/js/fixture-throws/index.js:15:11
  transform@plugins/js/fixture-throws/index.js:9:15
  fn@/tmp/67fdfb970df9/sources/initializer.js:2942:26

Redirecting call to abort() to mozalloc_abort
";

    const RUST: &str = "thread '<unnamed>' panicked at src/lib.rs:14:9:
fixture-manifest-panic: no manifest today
note: run with `RUST_BACKTRACE=1` environment variable to display a backtrace
";

    #[test]
    fn each_language_s_error_is_found_with_its_place() {
        assert_eq!(
            explain(PYTHON).as_deref(),
            Some("ValueError: id 2 is even (app.py line 19, in check)")
        );
        assert_eq!(
            explain(JAVASCRIPT).as_deref(),
            Some("id 4 is even (index.js line 15, in check)")
        );
        assert_eq!(
            explain(RUST).as_deref(),
            Some("panicked at src/lib.rs:14:9: fixture-manifest-panic: no manifest today")
        );
        assert_eq!(explain("just some output\n"), None);
        assert_eq!(last_lines("a\n\nb\nc\nd\n").as_deref(), Some("b / c / d"));
    }

    #[test]
    fn only_the_tail_is_kept_however_much_is_written() {
        let tail = StderrTail::default();
        for _ in 0..1000 {
            tail.append(&[b'x'; 1000]);
        }
        tail.append(b"the end");
        let text = tail.text();
        assert_eq!(text.len(), TAIL_BYTES);
        assert!(text.ends_with("xthe end"));
        tail.append(&vec![b'y'; 3 * TAIL_BYTES]);
        assert_eq!(tail.text(), "y".repeat(TAIL_BYTES));
        tail.start_call();
        assert_eq!(tail.text(), "");
    }
}
