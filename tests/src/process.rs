//! `herd` services run in the background of a test: started, watched through their
//! logs, SIGKILLed (or asked to stop with SIGTERM) at chosen moments, and never left
//! running after the test.

use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// A running `herd` command whose stdout and stderr go to files in the test's
/// directory (a pipe nobody reads could fill up and stall it).
pub struct Background {
    name: String,
    child: Option<Child>,
    stdout: PathBuf,
    stderr: PathBuf,
}

impl Background {
    /// Starts `command`, logging to `<dir>/<name>.stdout` and `<dir>/<name>.stderr`.
    pub fn spawn(mut command: Command, dir: &Path, name: &str) -> Background {
        let stdout = dir.join(format!("{name}.stdout"));
        let stderr = dir.join(format!("{name}.stderr"));
        let create = |path: &Path| File::create(path).expect("a log file");
        let child = command
            .stdin(Stdio::null())
            .stdout(create(&stdout))
            .stderr(create(&stderr))
            .spawn()
            .unwrap_or_else(|err| panic!("{name} does not start: {err}"));
        Background {
            name: name.to_owned(),
            child: Some(child),
            stdout,
            stderr,
        }
    }

    /// The process id, while it runs.
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    /// Its peak resident memory so far in MiB (`VmHWM` of `/proc/<pid>/status`).
    pub fn peak_rss_mb(&self) -> Option<f64> {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.pid()?)).ok()?;
        let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
        let kb: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
        Some(kb / 1024.0)
    }

    pub fn stdout(&self) -> String {
        std::fs::read_to_string(&self.stdout).unwrap_or_default()
    }

    pub fn stderr(&self) -> String {
        std::fs::read_to_string(&self.stderr).unwrap_or_default()
    }

    /// The end of stderr for a failure message, and where the whole log is kept
    /// (a debug log can run to thousands of lines).
    fn stderr_tail(&self) -> String {
        const LINES: usize = 120;
        let log = self.stderr();
        let lines: Vec<&str> = log.lines().collect();
        if lines.len() <= LINES {
            return log;
        }
        format!(
            "[{} earlier lines in {}]\n{}",
            lines.len() - LINES,
            self.stderr.display(),
            lines[lines.len() - LINES..].join("\n")
        )
    }

    /// Waits until the process has written `needle` to stderr; fails the test if it
    /// exits first or `timeout` passes.
    pub fn wait_for_log(&mut self, needle: &str, timeout: Duration) {
        let started = Instant::now();
        while !self.stderr().contains(needle) {
            if let Some(status) = self.child_mut().try_wait().expect("try_wait") {
                panic!(
                    "{} exited ({status}) before logging {needle:?}:\n{}",
                    self.name,
                    self.stderr_tail()
                );
            }
            assert!(
                started.elapsed() < timeout,
                "{} did not log {needle:?} within {timeout:?}:\n{}",
                self.name,
                self.stderr_tail()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Whether the process is still running.
    pub fn is_running(&mut self) -> bool {
        self.child_mut().try_wait().expect("try_wait").is_none()
    }

    /// SIGKILLs the process (no chance to flush or clean up) and reaps it.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Sends SIGTERM, asking the process to finish its work and stop; [`wait`]
    /// for it afterwards.
    ///
    /// [`wait`]: Background::wait
    pub fn terminate(&mut self) {
        let pid = self.child_mut().id().to_string();
        let status = Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .expect("kill runs");
        assert!(status.success(), "kill -TERM {pid} ({}) failed", self.name);
    }

    /// Waits for the process to exit by itself; kills it and fails the test after
    /// `timeout`.
    pub fn wait(&mut self, timeout: Duration) -> ExitStatus {
        let started = Instant::now();
        loop {
            if let Some(status) = self.child_mut().try_wait().expect("try_wait") {
                self.child = None;
                return status;
            }
            if started.elapsed() >= timeout {
                self.kill();
                panic!(
                    "{} did not exit within {timeout:?}:\n{}",
                    self.name,
                    self.stderr_tail()
                );
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Waits for the process to exit by itself and fails the test unless it
    /// succeeded; returns its stdout.
    pub fn wait_success(&mut self, timeout: Duration) -> String {
        let status = self.wait(timeout);
        assert!(
            status.success(),
            "{} failed ({status}):\n{}",
            self.name,
            self.stderr_tail()
        );
        self.stdout()
    }

    fn child_mut(&mut self) -> &mut Child {
        self.child
            .as_mut()
            .unwrap_or_else(|| panic!("{} is not running", self.name))
    }
}

impl Drop for Background {
    fn drop(&mut self) {
        self.kill();
    }
}

/// Pseudo-random pauses for crash tests: seeded from `HERD_TEST_SEED` when set,
/// else from the clock, and the seed is printed so that a failing run can be
/// repeated (`HERD_TEST_SEED=<seed> cargo test …`).
pub struct Jitter {
    state: u64,
}

impl Jitter {
    pub fn from_env(test: &str) -> Jitter {
        let seed = std::env::var("HERD_TEST_SEED")
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or_else(|| {
                SystemTime::now()
                    .duration_since(UNIX_EPOCH)
                    .map(|d| d.as_nanos() as u64)
                    .unwrap_or_default()
            });
        eprintln!("{test}: HERD_TEST_SEED={seed}");
        Jitter { state: seed }
    }

    /// A duration in `[low, high)`, to the millisecond.
    pub fn between(&mut self, low: Duration, high: Duration) -> Duration {
        let span = (high - low).as_millis().max(1) as u64;
        low + Duration::from_millis(self.next() % span)
    }

    // SplitMix64: tiny, and good enough to spread kill moments.
    fn next(&mut self) -> u64 {
        self.state = self.state.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.state;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
}

/// What a finished command printed, and whether it succeeded.
#[derive(Debug)]
pub struct Ran {
    pub success: bool,
    pub stdout: String,
    pub stderr: String,
}

impl Ran {
    /// Runs `command` to completion, with `stdin` (if any) piped in.
    pub fn run(command: &mut Command, stdin: Option<&[u8]>) -> Ran {
        use std::io::Write;
        let mut child = command
            .stdin(if stdin.is_some() {
                Stdio::piped()
            } else {
                Stdio::null()
            })
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("the command starts");
        if let Some(input) = stdin {
            let mut pipe = child.stdin.take().expect("a stdin pipe");
            pipe.write_all(input).expect("stdin written");
        }
        let output = child.wait_with_output().expect("the command finishes");
        Ran {
            success: output.status.success(),
            stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
        }
    }

    /// The lines of stderr that report the command's failure.
    pub fn error_lines(&self) -> Vec<&str> {
        error_lines(&self.stderr)
    }
}

/// The lines of a `herd` command's stderr that report its failure.
pub fn error_lines(stderr: &str) -> Vec<&str> {
    stderr
        .lines()
        .filter(|line| line.starts_with("error:"))
        .collect()
}
