//! The one way the crate runs a program and waits for it: standard input
//! written from a thread (a child that answers before reading it all must
//! not deadlock us on a full pipe), standard output and error read from
//! threads (bounded, so a chatty child cannot fill our memory nor stall on
//! a full pipe), an optional deadline after which the child is killed and
//! reaped, and a typed error that names the command.

use std::io::{Read, Write};
use std::process::{Command, ExitStatus, Stdio};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// A program to run: what [`Run::output`] starts and waits for.
pub(crate) struct Run<'a> {
    cmd: Command,
    input: Option<&'a [u8]>,
    deadline: Option<Duration>,
    max_stdout: u64,
}

/// What a finished program left: its exit status and (bounded) output.
#[derive(Debug)]
pub(crate) struct Output {
    pub(crate) status: ExitStatus,
    pub(crate) stdout: Vec<u8>,
    pub(crate) stderr: Vec<u8>,
}

impl Output {
    /// Standard output as text, lossily, trimmed.
    pub(crate) fn stdout_text(&self) -> String {
        String::from_utf8_lossy(&self.stdout).trim().to_string()
    }

    /// Standard error as text, lossily, trimmed.
    pub(crate) fn stderr_text(&self) -> String {
        String::from_utf8_lossy(&self.stderr).trim().to_string()
    }
}

/// Why a program gave no [`Output`]: the command, and what went wrong.
#[derive(Debug)]
pub struct RunError {
    /// The program and its arguments, as messages show them.
    pub(crate) command: String,
    pub(crate) failure: Failure,
}

#[derive(Debug)]
pub enum Failure {
    /// It could not be started (not installed, not executable, …).
    Spawn(std::io::Error),
    /// Waiting for it failed.
    Wait(std::io::Error),
    /// It did not finish within the deadline; it was killed.
    Timeout(Duration),
}

impl std::fmt::Display for RunError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let command = &self.command;
        match &self.failure {
            Failure::Spawn(e) => write!(f, "cannot run {command}: {}", crate::text::plain_io(e)),
            Failure::Wait(e) => write!(f, "{command}: {}", crate::text::plain_io(e)),
            Failure::Timeout(d) => {
                write!(f, "{command} did not finish within {} s", d.as_secs())
            }
        }
    }
}

impl std::error::Error for RunError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match &self.failure {
            Failure::Spawn(e) | Failure::Wait(e) => Some(e),
            Failure::Timeout(_) => None,
        }
    }
}

impl<'a> Run<'a> {
    /// `program` with `args`; no input, no deadline, output unbounded.
    pub(crate) fn new<S: AsRef<std::ffi::OsStr>>(program: &str, args: &[S]) -> Run<'a> {
        let mut cmd = Command::new(program);
        cmd.args(args);
        Run {
            cmd,
            input: None,
            deadline: None,
            max_stdout: u64::MAX,
        }
    }

    /// Writes `input` to the program's standard input (else it reads none).
    pub(crate) fn input(mut self, input: &'a [u8]) -> Self {
        self.input = Some(input);
        self
    }

    /// Kills the program when it has not finished within `after`.
    pub(crate) fn deadline(mut self, after: Duration) -> Self {
        self.deadline = Some(after);
        self
    }

    /// Keeps at most `max` bytes of standard output; past them the pipe is
    /// closed (the program then gets EPIPE or SIGPIPE).
    pub(crate) fn max_stdout(mut self, max: u64) -> Self {
        self.max_stdout = max;
        self
    }

    /// The program and its arguments as `Command`'s debug form without
    /// its quotes (`systemctl show -p X prosody.service`).
    pub(crate) fn shown(&self) -> String {
        format!("{:?}", self.cmd).replace('"', "")
    }

    /// Runs it and waits (until the deadline, if one is set).
    pub(crate) fn output(mut self) -> Result<Output, RunError> {
        let command = self.shown();
        let err = |failure| RunError {
            command: command.clone(),
            failure,
        };
        let stdin = match self.input {
            Some(_) => Stdio::piped(),
            None => Stdio::null(),
        };
        let mut child = self
            .cmd
            .stdin(stdin)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|e| err(Failure::Spawn(e)))?;
        let writer = self.input.map(|input| {
            let mut pipe = child.stdin.take().expect("piped");
            let input = input.to_vec();
            std::thread::spawn(move || {
                let _ = pipe.write_all(&input);
            })
        });
        let stdout = read_bounded(child.stdout.take().expect("piped"), self.max_stdout);
        let stderr = read_bounded(child.stderr.take().expect("piped"), STDERR_KEPT);
        let status = match self.deadline {
            None => child.wait().map_err(|e| err(Failure::Wait(e)))?,
            Some(after) => match wait_until(&mut child, Instant::now() + after) {
                Some(status) => status,
                None => {
                    let _ = child.kill();
                    let _ = child.wait();
                    return Err(err(Failure::Timeout(after)));
                }
            },
        };
        if let Some(w) = writer {
            let _ = w.join();
        }
        Ok(Output {
            status,
            stdout: stdout.join().unwrap_or_default(),
            stderr: stderr.join().unwrap_or_default(),
        })
    }
}

/// How much of a program's standard error is kept for messages.
const STDERR_KEPT: u64 = 1 << 20;

/// Reads at most `max` bytes of `pipe` on a thread, then drops it.
fn read_bounded(pipe: impl Read + Send + 'static, max: u64) -> JoinHandle<Vec<u8>> {
    std::thread::spawn(move || {
        let mut v = Vec::new();
        let _ = pipe.take(max).read_to_end(&mut v);
        v
    })
}

/// The child's exit status, or `None` once `end` has passed (or waiting
/// failed).
fn wait_until(child: &mut std::process::Child, end: Instant) -> Option<ExitStatus> {
    loop {
        match child.try_wait() {
            Ok(Some(s)) => return Some(s),
            Ok(None) if Instant::now() < end => std::thread::sleep(Duration::from_millis(20)),
            _ => return None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn output_input_and_status() {
        let o = Run::new("sh", &["-c", "cat; echo err >&2; exit 3"])
            .input(b"in")
            .output()
            .unwrap();
        assert_eq!(o.stdout, b"in");
        assert_eq!(o.stderr_text(), "err");
        assert_eq!(o.status.code(), Some(3));
    }

    #[test]
    fn the_error_names_the_command() {
        let e = Run::new("/nonexistent/prog", &["a"]).output().unwrap_err();
        assert!(matches!(e.failure, Failure::Spawn(_)));
        assert!(std::error::Error::source(&e).is_some());
        assert!(
            e.to_string()
                .starts_with("cannot run /nonexistent/prog a: "),
            "{e}"
        );
        let e = Run::new("sleep", &["5"])
            .deadline(Duration::from_millis(100))
            .output()
            .unwrap_err();
        assert!(matches!(e.failure, Failure::Timeout(_)));
        assert_eq!(e.to_string(), "sleep 5 did not finish within 0 s");
    }

    #[test]
    fn output_is_bounded() {
        let o = Run::new("sh", &["-c", "yes | head -c 100000"])
            .max_stdout(10)
            .output()
            .unwrap();
        assert_eq!(o.stdout.len(), 10);
    }
}
