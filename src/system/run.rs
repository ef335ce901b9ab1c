//! The one way the crate runs a program and waits for it: standard input
//! written from a thread (a child that answers before reading it all must
//! not deadlock us on a full pipe), standard output and error read from
//! threads (bounded, so a chatty child cannot fill our memory nor stall on
//! a full pipe), an optional deadline after which the child is killed and
//! reaped, and a typed error that names the command.
//!
//! Two modes: [`Run::output`] starts the program and waits for it;
//! [`Run::start`] returns a [`Running`] at once, so the caller works while
//! the program runs and collects its [`Output`] with [`Running::wait`].

use std::io::{Read, Write};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc::{Receiver, RecvTimeoutError, Sender};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// A program to run: what [`Run::output`] starts and waits for.
pub(crate) struct Run<'a> {
    cmd: Command,
    input: Option<&'a [u8]>,
    deadline: Option<Duration>,
    /// At most this much standard output is kept; `None`: it is discarded.
    max_stdout: Option<u64>,
    max_stderr: u64,
    /// Whether standard error past `max_stderr` is read away (else the
    /// pipe is closed there).
    drain_stderr: bool,
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
pub(crate) enum Failure {
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
    pub(crate) fn new<P, S>(program: P, args: &[S]) -> Run<'a>
    where
        P: AsRef<std::ffi::OsStr>,
        S: AsRef<std::ffi::OsStr>,
    {
        let mut cmd = Command::new(program);
        cmd.args(args);
        Run {
            cmd,
            input: None,
            deadline: None,
            max_stdout: Some(u64::MAX),
            max_stderr: STDERR_KEPT,
            drain_stderr: false,
        }
    }

    /// Writes `input` to the program's standard input (else it reads none).
    pub(crate) fn input(mut self, input: &'a [u8]) -> Self {
        self.input = Some(input);
        self
    }

    /// Sets `key` to `value` in the program's environment.
    pub(crate) fn env(mut self, key: &str, value: impl AsRef<std::ffi::OsStr>) -> Self {
        self.cmd.env(key, value);
        self
    }

    /// Runs the program in `dir` (else in our current directory).
    pub(crate) fn current_dir(mut self, dir: impl AsRef<std::path::Path>) -> Self {
        self.cmd.current_dir(dir);
        self
    }

    /// Takes `key` out of the program's environment.
    pub(crate) fn env_remove(mut self, key: &str) -> Self {
        self.cmd.env_remove(key);
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
        self.max_stdout = Some(max);
        self
    }

    /// Gives the program no standard output to write to (`/dev/null`).
    pub(crate) fn discard_stdout(mut self) -> Self {
        self.max_stdout = None;
        self
    }

    /// Keeps at most `max` bytes of standard error and reads the rest
    /// away, so that a long error neither stops the program nor is taken
    /// for a hang (by default the pipe is closed after 1 MiB).
    pub(crate) fn drain_stderr(mut self, max: u64) -> Self {
        self.max_stderr = max;
        self.drain_stderr = true;
        self
    }

    /// The program and its arguments as `Command`'s debug form without
    /// its quotes (`systemctl show -p X prosody.service`).
    pub(crate) fn shown(&self) -> String {
        format!("{:?}", self.cmd).replace('"', "")
    }

    /// Runs it and waits (until the deadline, if one is set).
    pub(crate) fn output(self) -> Result<Output, RunError> {
        self.start()?.wait()
    }

    /// Starts it and returns at once; its deadline counts from now.
    pub(crate) fn start(mut self) -> Result<Running, RunError> {
        let command = self.shown();
        let stdin = match self.input {
            Some(_) => Stdio::piped(),
            None => Stdio::null(),
        };
        let stdout = match self.max_stdout {
            Some(_) => Stdio::piped(),
            None => Stdio::null(),
        };
        let spawned = self
            .cmd
            .stdin(stdin)
            .stdout(stdout)
            .stderr(Stdio::piped())
            .spawn();
        let mut child = match spawned {
            Ok(child) => child,
            Err(e) => {
                return Err(RunError {
                    command,
                    failure: Failure::Spawn(e),
                })
            }
        };
        let writer = self.input.map(|input| {
            let mut pipe = child.stdin.take().expect("piped");
            let input = input.to_vec();
            std::thread::spawn(move || {
                let _ = pipe.write_all(&input);
            })
        });
        let stdout = (child.stdout.take())
            .zip(self.max_stdout)
            .map(|(pipe, max)| read_bounded(pipe, max, false, None));
        let (ended, eof) = std::sync::mpsc::channel();
        let pipe = child.stderr.take().expect("piped");
        let stderr = read_bounded(pipe, self.max_stderr, self.drain_stderr, Some(ended));
        Ok(Running {
            command,
            child,
            writer,
            stdout,
            stderr: Some(stderr),
            eof,
            deadline: self.deadline.map(|after| (after, Instant::now() + after)),
        })
    }
}

/// A started program (see [`Run::start`]). Dropping it before
/// [`Running::wait`] kills and reaps the program.
#[derive(Debug)]
pub(crate) struct Running {
    command: String,
    child: Child,
    writer: Option<JoinHandle<()>>,
    stdout: Option<JoinHandle<Vec<u8>>>,
    stderr: Option<JoinHandle<Vec<u8>>>,
    /// Hears when standard error reached its end (or was closed).
    eof: Receiver<()>,
    /// The deadline as given, and when it passes.
    deadline: Option<(Duration, Instant)>,
}

impl Running {
    /// Waits for the program to finish (until the deadline, if one is
    /// set: then it is killed and reaped) and returns what it left.
    pub(crate) fn wait(mut self) -> Result<Output, RunError> {
        let status = match self.deadline {
            None => self.child.wait().map(Some),
            Some((_, end)) => self.wait_until(end),
        };
        let status = match status {
            Ok(Some(status)) => status,
            Ok(None) => {
                let after = self.deadline.map(|(after, _)| after).unwrap_or_default();
                return Err(self.failed(Failure::Timeout(after)));
            }
            Err(e) => return Err(self.failed(Failure::Wait(e))),
        };
        if let Some(w) = self.writer.take() {
            let _ = w.join();
        }
        let joined =
            |h: Option<JoinHandle<Vec<u8>>>| h.and_then(|h| h.join().ok()).unwrap_or_default();
        Ok(Output {
            status,
            stdout: joined(self.stdout.take()),
            stderr: joined(self.stderr.take()),
        })
    }

    /// The exit status, or `None` once `end` has passed. Standard error
    /// closes when the program exits: that is waited for, then the
    /// program is reaped (the status is set a moment after the pipe
    /// closes; a program that closed its standard error itself is polled).
    fn wait_until(&mut self, end: Instant) -> std::io::Result<Option<ExitStatus>> {
        let left = end.saturating_duration_since(Instant::now());
        if let Err(RecvTimeoutError::Timeout) = self.eof.recv_timeout(left) {
            return Ok(None);
        }
        let mut pause = Duration::from_micros(50);
        loop {
            if let Some(s) = self.child.try_wait()? {
                return Ok(Some(s));
            }
            if Instant::now() > end {
                return Ok(None);
            }
            std::thread::sleep(pause);
            pause = (pause * 2).min(Duration::from_millis(20));
        }
    }

    /// Kills and reaps the program (see [`Drop`]) and names it in the error.
    fn failed(mut self, failure: Failure) -> RunError {
        self.stop();
        RunError {
            command: std::mem::take(&mut self.command),
            failure,
        }
    }

    /// Kills and reaps the program. The threads reading its output end
    /// with the pipes (unless a process it started keeps them open: then
    /// they are left to end on their own rather than waited for).
    fn stop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        self.stdout.take();
        self.stderr.take();
        self.writer.take();
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        if matches!(self.child.try_wait(), Ok(None)) {
            self.stop();
        }
    }
}

/// How much of a program's standard error is kept for messages.
const STDERR_KEPT: u64 = 1 << 20;

/// Reads at most `max` bytes of `pipe` on a thread; then reads the rest
/// away when `drain`, and drops the pipe. `ended` hears when it is done.
fn read_bounded(
    mut pipe: impl Read + Send + 'static,
    max: u64,
    drain: bool,
    ended: Option<Sender<()>>,
) -> JoinHandle<Vec<u8>> {
    std::thread::spawn(move || {
        let mut v = Vec::new();
        let _ = (&mut pipe).take(max).read_to_end(&mut v);
        if drain {
            let _ = std::io::copy(&mut pipe, &mut std::io::sink());
        }
        drop(pipe);
        if let Some(ended) = ended {
            let _ = ended.send(());
        }
        v
    })
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

    #[test]
    fn started_then_waited() {
        let running = Run::new("sh", &["-c", "echo out; echo err >&2"])
            .deadline(Duration::from_secs(10))
            .start()
            .unwrap();
        let o = running.wait().unwrap();
        assert_eq!(o.stdout_text(), "out");
        assert_eq!(o.stderr_text(), "err");
        assert!(o.status.success());
    }

    #[test]
    fn long_stderr_is_drained_and_kept_bounded() {
        let o = Run::new("sh", &["-c", "head -c 300000 /dev/zero >&2; exit 2"])
            .drain_stderr(10)
            .discard_stdout()
            .deadline(Duration::from_secs(10))
            .output()
            .unwrap();
        assert_eq!(o.stderr.len(), 10);
        assert!(o.stdout.is_empty());
        assert_eq!(o.status.code(), Some(2));
    }

    #[test]
    fn dropping_a_running_program_stops_it() {
        let running = Run::new("sleep", &["30"]).start().unwrap();
        let started = Instant::now();
        drop(running);
        assert!(started.elapsed() < Duration::from_secs(5));
    }
}
