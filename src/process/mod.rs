//! Child processes, waited for on the loop: asyncio's `create_subprocess_exec`.
//!
//! [`Command`] mirrors [`std::process::Command`] (it wraps one, so fork, exec and
//! close-on-exec are std's), and [`Child`] mirrors [`std::process::Child`], except that
//! waiting and piping never block the loop: [`Child::wait`], [`Command::status`] and
//! [`Command::output`] are futures, and the pipes implement futures' `AsyncRead` and
//! `AsyncWrite`.
//!
//! **One change to the whole process:** the first spawn with a piped stdin
//! ([`Stdio::piped`] for [`Command::stdin`]) installs a do-nothing `SIGPIPE` action, for
//! good. From then on a write to any pipe or socket whose reader has gone fails with
//! `EPIPE` anywhere in the process, where a host that had `SIGPIPE` at its default (as CLI
//! tools do, to end quietly in `tool | head`) would have been ended by the signal; a
//! `println!` then panics instead. See [Broken pipes](#broken-pipes).
//!
//! ```
//! use looplet::process::Command;
//!
//! looplet::block_on(async {
//!     let output = Command::new("echo").arg("hello").output().await?;
//!     assert_eq!(output.stdout, b"hello\n");
//!     assert!(output.status.success());
//!     std::io::Result::Ok(())
//! })?;
//! # std::io::Result::Ok(())
//! ```
//!
//! # How an exit is noticed
//!
//! With no thread and no polling. On Linux 5.3 and later each child gets a pidfd, which
//! the loop's reactor watches like a socket: it becomes readable when the child exits, and
//! the waiting task then reaps it with `waitpid`. Where `pidfd_open` is missing (`ENOSYS` on
//! older kernels, `EPERM` under some seccomp filters) looplet falls back to `SIGCHLD`: one
//! [`signal`](crate::signal) listener per thread, shared by every child waiting on that
//! thread, and on each `SIGCHLD` every waiting child tries `waitpid` (tokio's approach).
//! Setting `LOOPLET_NO_PIDFD=1` in the environment (read once, at the first spawn) forces
//! the fallback, for testing it; `Child`'s `Debug` output says which one a child uses.
//!
//! The fallback installs a `SIGCHLD` handler for good (see the signal module's
//! [What stays behind](crate::signal#what-stays-behind)). `SIGCHLD`'s default action is to
//! do nothing, so for most programs that changes nothing. But a host that set `SIGCHLD` to
//! `SIG_IGN`, so that the kernel reaps its children as they exit, loses that: from the
//! fallback's first wait on, the host's own children (std's too) stay zombies until
//! something waits for them. With pidfds no handler is installed, and a `SIG_IGN` host
//! keeps its auto-reaping (what a wait returns then is under [Zombies](self#zombies)).
//!
//! # Zombies
//!
//! No `Child` leaves a zombie behind, whether it was waited on or dropped. A child dropped
//! while it runs goes on running (as in std and tokio), unless it was spawned with
//! [`Command::kill_on_drop`]`(true)`, which kills it first. Then:
//!
//! - if a loop is running on this thread, a detached task on it waits for the exit and
//!   reaps the child: one pidfd, no thread;
//! - if no loop is running, or that loop is dropped before the child exits, the child goes on
//!   a process-wide orphan list, reaped (with a non-blocking `waitpid`) at every later
//!   [`Command::spawn`], every exit looplet observes, and every `SIGCHLD` the fallback sees.
//!
//! What is left: an orphan whose process never spawns or waits for another child stays a
//! zombie until this process exits (tokio has the same caveat). A dropped child's reaper task
//! on an [`Executor`](crate::Executor) that is kept but never run again waits until that
//! executor runs or is dropped.
//!
//! Something else in the process that reaps children behind looplet's back (a
//! `waitpid(-1)`, or `SIGCHLD` set to `SIG_IGN`, under which the kernel reaps every child
//! as it exits) makes [`Child::wait`] and [`Child::try_wait`] fail with `ECHILD`, as std's
//! do: the exit status is gone. A child reaped so before its pidfd could be opened
//! (`pidfd_open` fails with `ESRCH`) is not watched at all: waiting asks `waitpid` at once
//! and gets the same `ECHILD`, and no `SIGCHLD` handler is installed for it; its `Debug`
//! says `"reaped elsewhere"`. (On the fallback, a `SIG_IGN` host's auto-reaping ends with
//! the handler's install, as said above; a child that exited before that is still
//! `ECHILD`.)
//!
//! # Broken pipes
//!
//! A write to a child's stdin after the child closed it (or exited) fails with `BrokenPipe`.
//! The kernel would also send `SIGPIPE`, whose default action kills the writer; Rust
//! programs ignore it from the start, C programs usually do not, and pipes (unlike sockets)
//! have no `MSG_NOSIGNAL`. So the first spawn with a piped stdin installs a do-nothing
//! `SIGPIPE` action through signal-hook-registry, for the rest of the process: a host's own
//! `SIGPIPE` handler still runs (it is chained), but the default "terminate" no longer
//! happens anywhere in the process. Children start with `SIGPIPE` at its default, as every
//! Rust program's children do (exec resets a handled signal to its default; a host that had
//! set `SIG_IGN` would otherwise have passed that on).
//!
//! # Defaults
//!
//! As std and tokio: [`Command::spawn`] and [`Command::status`] inherit stdin, stdout and
//! stderr unless told otherwise; [`Command::output`] captures stdout and stderr and gives the
//! child an empty stdin, for the streams the caller did not set. The process starts when
//! `spawn`, `status` or `output` is called, not when the future is first polled. Cancelling
//! `status()` or `output()` drops the child, with the usual [`kill_on_drop`](Command::kill_on_drop)
//! rule.
//!
//! # Errors
//!
//! Every failure is an `io::Error` and leaks nothing: a program that does not exist is
//! `NotFound` (std reports the failed `exec`, and closes the pipes it made); a child spawned
//! but not wrapped (a pipe that cannot be made non-blocking) is killed and reaped.

mod child;
mod exit;

use std::ffi::OsStr;
use std::fmt;
use std::future::Future;
use std::io;
use std::path::Path;

pub use child::{Child, ChildStderr, ChildStdin, ChildStdout};
pub use std::process::{ExitStatus, Output, Stdio};

use exit::{Exit, reap_orphans};

/// Which standard stream, as an index into [`Command::stdio_set`].
const STDIN: usize = 0;
const STDOUT: usize = 1;
const STDERR: usize = 2;

/// A builder for a child process: [`std::process::Command`], with futures for the waiting.
///
/// # Examples
///
/// ```
/// use looplet::process::Command;
///
/// looplet::block_on(async {
///     let status = Command::new("sh")
///         .arg("-c")
///         .arg("test \"$GREETING\" = hello")
///         .env("GREETING", "hello")
///         .status()
///         .await?;
///     assert!(status.success());
///     std::io::Result::Ok(())
/// })?;
/// # std::io::Result::Ok(())
/// ```
pub struct Command {
    inner: std::process::Command,
    /// Whether the caller chose stdin, stdout, stderr: `output` gives the others its defaults.
    stdio_set: [bool; 3],
    kill_on_drop: bool,
}

impl Command {
    /// A command that runs `program`, found on `PATH` if it has no `/`; with no arguments,
    /// this process's environment and working directory, and inherited stdio.
    ///
    /// # Examples
    ///
    /// ```
    /// let command = looplet::process::Command::new("ls");
    /// # drop(command);
    /// ```
    pub fn new(program: impl AsRef<OsStr>) -> Command {
        Command::from(std::process::Command::new(program))
    }

    /// Adds an argument.
    ///
    /// # Examples
    ///
    /// ```
    /// looplet::process::Command::new("ls").arg("-l").arg("/tmp");
    /// ```
    pub fn arg(&mut self, arg: impl AsRef<OsStr>) -> &mut Command {
        self.inner.arg(arg);
        self
    }

    /// Adds arguments.
    ///
    /// # Examples
    ///
    /// ```
    /// looplet::process::Command::new("ls").args(["-l", "/tmp"]);
    /// ```
    pub fn args<I, S>(&mut self, args: I) -> &mut Command
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        self.inner.args(args);
        self
    }

    /// Sets an environment variable for the child.
    ///
    /// # Examples
    ///
    /// ```
    /// looplet::process::Command::new("env").env("RUST_LOG", "debug");
    /// ```
    pub fn env(&mut self, key: impl AsRef<OsStr>, value: impl AsRef<OsStr>) -> &mut Command {
        self.inner.env(key, value);
        self
    }

    /// Sets environment variables for the child.
    ///
    /// # Examples
    ///
    /// ```
    /// looplet::process::Command::new("env").envs([("A", "1"), ("B", "2")]);
    /// ```
    pub fn envs<I, K, V>(&mut self, vars: I) -> &mut Command
    where
        I: IntoIterator<Item = (K, V)>,
        K: AsRef<OsStr>,
        V: AsRef<OsStr>,
    {
        self.inner.envs(vars);
        self
    }

    /// Removes an environment variable from the child's environment.
    ///
    /// # Examples
    ///
    /// ```
    /// looplet::process::Command::new("env").env_remove("HOME");
    /// ```
    pub fn env_remove(&mut self, key: impl AsRef<OsStr>) -> &mut Command {
        self.inner.env_remove(key);
        self
    }

    /// Gives the child an empty environment (plus what [`Command::env`] adds after this).
    ///
    /// # Examples
    ///
    /// ```
    /// looplet::block_on(async {
    ///     let output = looplet::process::Command::new("/usr/bin/env").env_clear().output().await?;
    ///     assert!(output.stdout.is_empty());
    ///     std::io::Result::Ok(())
    /// })?;
    /// # std::io::Result::Ok(())
    /// ```
    pub fn env_clear(&mut self) -> &mut Command {
        self.inner.env_clear();
        self
    }

    /// Sets the child's working directory.
    ///
    /// # Examples
    ///
    /// ```
    /// looplet::block_on(async {
    ///     let output = looplet::process::Command::new("pwd").current_dir("/").output().await?;
    ///     assert_eq!(output.stdout, b"/\n");
    ///     std::io::Result::Ok(())
    /// })?;
    /// # std::io::Result::Ok(())
    /// ```
    pub fn current_dir(&mut self, dir: impl AsRef<Path>) -> &mut Command {
        self.inner.current_dir(dir);
        self
    }

    /// Sets the child's stdin: [`Stdio::piped`] gives [`Child::stdin`], or inherit, null, a
    /// file, another child's stdout.
    ///
    /// # Examples
    ///
    /// ```
    /// use looplet::process::{Command, Stdio};
    ///
    /// Command::new("cat").stdin(Stdio::piped());
    /// ```
    pub fn stdin(&mut self, cfg: impl Into<Stdio>) -> &mut Command {
        self.inner.stdin(cfg);
        self.stdio_set[STDIN] = true;
        self
    }

    /// Sets the child's stdout; see [`Command::stdin`].
    ///
    /// # Examples
    ///
    /// ```
    /// use looplet::process::{Command, Stdio};
    ///
    /// Command::new("ls").stdout(Stdio::null());
    /// ```
    pub fn stdout(&mut self, cfg: impl Into<Stdio>) -> &mut Command {
        self.inner.stdout(cfg);
        self.stdio_set[STDOUT] = true;
        self
    }

    /// Sets the child's stderr; see [`Command::stdin`].
    ///
    /// # Examples
    ///
    /// ```
    /// use looplet::process::{Command, Stdio};
    ///
    /// Command::new("ls").stderr(Stdio::piped());
    /// ```
    pub fn stderr(&mut self, cfg: impl Into<Stdio>) -> &mut Command {
        self.inner.stderr(cfg);
        self.stdio_set[STDERR] = true;
        self
    }

    /// Whether a [`Child`] dropped before it exits is killed (`SIGKILL`) first. Off by
    /// default, as in std and tokio; either way the child is reaped (see
    /// [Zombies](self#zombies)).
    ///
    /// # Examples
    ///
    /// ```
    /// looplet::block_on(async {
    ///     let child = looplet::process::Command::new("sleep").arg("30").kill_on_drop(true).spawn()?;
    ///     drop(child); // killed now, reaped by a task on this loop
    ///     std::io::Result::Ok(())
    /// })?;
    /// # std::io::Result::Ok(())
    /// ```
    pub fn kill_on_drop(&mut self, kill_on_drop: bool) -> &mut Command {
        self.kill_on_drop = kill_on_drop;
        self
    }

    /// The std command inside, for what this type does not forward (for example
    /// `std::os::unix::process::CommandExt`'s `uid`, `process_group`, `exec`).
    ///
    /// # Examples
    ///
    /// ```
    /// let command = looplet::process::Command::new("ls");
    /// assert_eq!(command.as_std().get_program(), "ls");
    /// ```
    pub fn as_std(&self) -> &std::process::Command {
        &self.inner
    }

    /// The std command inside, to change. Stdio set through it is not known to
    /// [`Command::output`], which then still captures stdout and stderr and nulls stdin,
    /// and afterwards sets those streams to inherit: set stdio through [`Command::stdin`],
    /// [`Command::stdout`] and [`Command::stderr`] to keep it across `output`.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::os::unix::process::CommandExt;
    ///
    /// let mut command = looplet::process::Command::new("sleep");
    /// command.arg("1").as_std_mut().process_group(0); // its own process group
    /// ```
    pub fn as_std_mut(&mut self) -> &mut std::process::Command {
        &mut self.inner
    }

    /// Starts the process and returns its [`Child`] at once; needs no loop.
    ///
    /// Also reaps any dropped children that have exited since (see [Zombies](self#zombies)).
    ///
    /// The first spawn with a piped stdin installs a do-nothing `SIGPIPE` action for the
    /// rest of the process, so that writing to a child that has gone fails with
    /// `BrokenPipe` instead of killing this process: from then on no write anywhere in the
    /// process is ended by `SIGPIPE`'s default action (see [Broken pipes](self#broken-pipes)).
    ///
    /// # Errors
    ///
    /// std's spawn errors: `NotFound` for a program that does not exist, `PermissionDenied`
    /// for one that is not executable, `InvalidInput` for an argument with a NUL byte, and
    /// the like; also a pipe that cannot be made non-blocking, in which case the child is
    /// killed and reaped. Nothing leaks on an error.
    ///
    /// # Examples
    ///
    /// ```
    /// use looplet::process::Command;
    ///
    /// let err = Command::new("/no/such/program").spawn().unwrap_err();
    /// assert_eq!(err.kind(), std::io::ErrorKind::NotFound);
    /// ```
    pub fn spawn(&mut self) -> io::Result<Child> {
        reap_orphans();
        let mut child = self.inner.spawn()?;
        let (stdin, stdout, stderr) =
            (child.stdin.take(), child.stdout.take(), child.stderr.take());
        if stdin.is_some() {
            // Before anything can write to it (see Broken pipes above).
            crate::signal::no_sigpipe();
        }
        // From here an error drops `exit`, which kills and reaps the child.
        let mut exit = Exit::new(child, true);
        let stdin = stdin.map(ChildStdin::new).transpose()?;
        let stdout = stdout.map(ChildStdout::new).transpose()?;
        let stderr = stderr.map(ChildStderr::new).transpose()?;
        exit.set_kill_on_drop(self.kill_on_drop);
        Ok(Child::new(stdin, stdout, stderr, exit))
    }

    /// Starts the process, with inherited stdio by default, and waits for its exit.
    ///
    /// Pipes set with [`Stdio::piped`] are closed at once (this returns no `Child` to read
    /// them), so a child writing to one gets `EPIPE`.
    ///
    /// # Errors
    ///
    /// Those of [`Command::spawn`], returned when the future is awaited, and of
    /// [`Child::wait`].
    ///
    /// # Examples
    ///
    /// ```
    /// looplet::block_on(async {
    ///     let status = looplet::process::Command::new("false").status().await?;
    ///     assert_eq!(status.code(), Some(1));
    ///     std::io::Result::Ok(())
    /// })?;
    /// # std::io::Result::Ok(())
    /// ```
    pub fn status(&mut self) -> impl Future<Output = io::Result<ExitStatus>> + use<> {
        let child = self.spawn();
        async move {
            let mut child = child?;
            // Nobody reads or writes these: holding them could only deadlock the child.
            drop((child.stdin.take(), child.stdout.take(), child.stderr.take()));
            child.wait().await
        }
    }

    /// Starts the process and collects its exit status, stdout and stderr.
    ///
    /// Unless set otherwise, stdout and stderr are captured and stdin is empty (`/dev/null`),
    /// as in std. Both pipes are read concurrently (see [`Child::wait_with_output`]).
    ///
    /// Streams set with [`Command::stdin`], [`Command::stdout`] or [`Command::stderr`] are
    /// used and kept. The others are given the defaults above for this child and then set
    /// to inherit, `spawn`'s default, so that a later `spawn` or `status` inherits them:
    /// stdio set on a std command before [`From`] made it a `Command`, or through
    /// [`Command::as_std_mut`], is not kept (a std command's stdio cannot be read back).
    ///
    /// # Errors
    ///
    /// Those of [`Command::spawn`], returned when the future is awaited, and of
    /// [`Child::wait_with_output`].
    ///
    /// # Examples
    ///
    /// ```
    /// looplet::block_on(async {
    ///     let output = looplet::process::Command::new("sh")
    ///         .args(["-c", "echo to stdout; echo to stderr >&2; exit 2"])
    ///         .output()
    ///         .await?;
    ///     assert_eq!(output.stdout, b"to stdout\n");
    ///     assert_eq!(output.stderr, b"to stderr\n");
    ///     assert_eq!(output.status.code(), Some(2));
    ///     std::io::Result::Ok(())
    /// })?;
    /// # std::io::Result::Ok(())
    /// ```
    pub fn output(&mut self) -> impl Future<Output = io::Result<Output>> + use<> {
        let defaults = [Stdio::null, Stdio::piped, Stdio::piped];
        self.apply_unset(defaults);
        let child = self.spawn();
        // Back to spawn's defaults for the streams the caller did not set here (stdio set on
        // the std command cannot be read back, so it is lost: see the docs).
        self.apply_unset([Stdio::inherit, Stdio::inherit, Stdio::inherit]);
        async move { child?.wait_with_output().await }
    }

    /// Sets each standard stream the caller did not set.
    fn apply_unset(&mut self, stdio: [fn() -> Stdio; 3]) {
        let [stdin, stdout, stderr] = stdio;
        if !self.stdio_set[STDIN] {
            self.inner.stdin(stdin());
        }
        if !self.stdio_set[STDOUT] {
            self.inner.stdout(stdout());
        }
        if !self.stdio_set[STDERR] {
            self.inner.stderr(stderr());
        }
    }
}

/// Wraps a std command, with its program, arguments, environment and directory. Its stdio
/// settings stay in effect for `spawn` and `status` until the first [`Command::output`],
/// which treats them as unset: it gives that child its own defaults (captured stdout and
/// stderr, null stdin) and then sets the three streams to inherit, for good. Set stdio
/// through [`Command::stdin`] and friends instead to keep it across `output`.
///
/// # Examples
///
/// ```
/// let mut std_command = std::process::Command::new("true");
/// std_command.current_dir("/");
/// let command = looplet::process::Command::from(std_command);
/// # drop(command);
/// ```
impl From<std::process::Command> for Command {
    fn from(inner: std::process::Command) -> Command {
        Command {
            inner,
            stdio_set: [false; 3],
            kill_on_drop: false,
        }
    }
}

impl fmt::Debug for Command {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Command")
            .field("command", &self.inner)
            .field("kill_on_drop", &self.kill_on_drop)
            .finish()
    }
}
