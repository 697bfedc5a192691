//! The seed's event loop also "creates subprocesses to talk to other programs"
//! (创建和别的程序通信的子进程): asyncio's `create_subprocess_exec`.
//!
//! ```python
//! async def main():
//!     proc = await asyncio.create_subprocess_exec(
//!         "sh", "-c", "sleep 0.5; echo done", stdout=asyncio.subprocess.PIPE)
//!     out, _ = await proc.communicate()
//!     print(out.decode(), proc.returncode)
//! ```
//!
//! Here three children run at once while a task on the same loop ticks every 100 ms: the
//! ticks go on while the children sleep, because waiting for a child costs the loop nothing
//! (a pidfd on its reactor, no thread). Then each child's output and exit status.
//!
//! Run with `cargo run --example subprocess`.

use std::cell::Cell;
use std::io;
use std::rc::Rc;
use std::time::{Duration, Instant};

use futures_util::AsyncWriteExt;
use looplet::process::{Command, Stdio};

/// What the children did, for the demo's check.
pub struct Report {
    /// How often the ticker ran while the children ran.
    pub ticks: u32,
    /// Each child's stdout and exit code, in the order they were started.
    pub children: Vec<(String, Option<i32>)>,
    pub elapsed: Duration,
}

/// Runs the children and the ticker; `print` sees every line.
pub async fn run(print: impl Fn(&str) + 'static) -> io::Result<Report> {
    let start = Instant::now();
    let print = Rc::new(print);
    let ticks = Rc::new(Cell::new(0));
    let ticker = {
        let (ticks, print) = (ticks.clone(), print.clone());
        looplet::spawn(async move {
            loop {
                looplet::sleep(Duration::from_millis(100)).await;
                ticks.set(ticks.get() + 1);
                print(&format!("tick {}: the loop is running", ticks.get()));
            }
        })
    };

    // asyncio's create_subprocess_exec + communicate(), three times over, concurrently.
    let slow = Command::new("sh")
        .args(["-c", "sleep 0.5; echo done"])
        .output();
    let failing = Command::new("sh")
        .args(["-c", "sleep 0.3; echo 'failing on purpose'; exit 3"])
        .output();
    // One fed through its stdin while it runs.
    let mut upper = Command::new("tr")
        .args(["a-z", "A-Z"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()?;
    let mut stdin = upper.stdin.take().expect("stdin was piped");
    let feed = async move {
        stdin.write_all(b"written to a child's stdin\n").await?;
        drop(stdin); // the child's end of input
        io::Result::Ok(())
    };
    let (slow, failing, fed, upper) =
        futures_util::join!(slow, failing, feed, upper.wait_with_output());
    fed?;
    drop(ticker);

    let mut children = Vec::new();
    for output in [slow?, failing?, upper?] {
        let stdout = String::from_utf8_lossy(&output.stdout)
            .trim_end()
            .to_string();
        print(&format!("child said {stdout:?}, {}", output.status));
        children.push((stdout, output.status.code()));
    }
    Ok(Report {
        ticks: ticks.get(),
        children,
        elapsed: start.elapsed(),
    })
}

#[allow(dead_code)] // the demo includes this file for `run`
fn main() -> io::Result<()> {
    let report = looplet::block_on(run(|line| println!("{line}")))?;
    println!(
        "{} ticks while the children ran, {:.2?} in all",
        report.ticks, report.elapsed
    );
    Ok(())
}
