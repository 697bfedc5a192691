//! looplet's main demo: the scenarios of the seed articles, end to end, in one process.
//!
//! `cargo run --release --example demo` runs each one, checks what it printed or did, and
//! reports how long it took. It needs no arguments and no setup (the echo server listens on
//! a free port of 127.0.0.1), finishes in a few seconds, and exits non-zero if a check fails.
//!
//! Each scenario is the code of its own example (`hello`, `producer_consumer`, `switch`,
//! `sleep`, `echo_server` + `echo_client`, `call_later`, `subprocess`, `thread_pool`,
//! `graceful_shutdown`), included here as a module; the demo hands it a recorder instead of
//! `println!` to check the output line by line.

#[path = "call_later.rs"]
mod call_later;
#[path = "echo_client.rs"]
mod echo_client;
#[path = "echo_server.rs"]
mod echo_server;
#[allow(dead_code)]
#[path = "graceful_shutdown.rs"]
mod graceful_shutdown;
#[path = "hello.rs"]
mod hello;
#[path = "producer_consumer.rs"]
mod producer_consumer;
#[path = "sleep.rs"]
mod sleep;
#[allow(dead_code)]
#[path = "subprocess.rs"]
mod subprocess;
#[path = "switch.rs"]
mod switch;
#[allow(dead_code)]
#[path = "thread_pool.rs"]
mod thread_pool;

use std::cell::RefCell;
use std::rc::Rc;
use std::time::{Duration, Instant};

/// Records printed lines, echoing them indented.
#[derive(Clone, Default)]
struct Recorder(Rc<RefCell<Vec<String>>>);

impl Recorder {
    fn print(&self) -> Rc<dyn Fn(&str)> {
        let lines = self.0.clone();
        Rc::new(move |line: &str| {
            println!("    {line}");
            lines.borrow_mut().push(line.to_string());
        })
    }

    fn lines(&self) -> Vec<String> {
        self.0.borrow().clone()
    }
}

/// One line of the final report.
struct Outcome {
    name: &'static str,
    took: Duration,
    result: Result<String, String>,
}

fn check(ok: bool, what: impl Into<String>) -> Result<(), String> {
    if ok { Ok(()) } else { Err(what.into()) }
}

fn hello() -> Result<String, String> {
    let rec = Recorder::default();
    let print = rec.print();
    looplet::block_on(hello::cor1(|line| print(line)));
    check(
        rec.lines() == ["cor1 start", "cor2", "cor1 end"],
        format!("printed {:?}", rec.lines()),
    )?;
    Ok("cor1 awaited cor2 in order".into())
}

fn producer_consumer() -> Result<String, String> {
    let rec = Recorder::default();
    looplet::block_on(producer_consumer::producer(rec.print()));
    let expected: Vec<String> = (1..=10)
        .flat_map(|n| {
            [
                format!("[producer]-->{n}"),
                format!("[consumer]<--{n}"),
                "[producer] consumer return:ok".to_string(),
            ]
        })
        .collect();
    check(rec.lines() == expected, "the lines differ from the seed's")?;
    Ok("10 numbers handed over and answered, exactly the seed's 30 lines".into())
}

fn switch() -> Result<String, String> {
    let rec = Recorder::default();
    looplet::block_on(switch::switch(rec.print()));
    check(
        rec.lines() == ["12", "34", "56", "78"],
        format!("printed {:?}", rec.lines()),
    )?;
    Ok("two tasks alternated: 12 34 56 78".into())
}

fn gevent_sleep() -> Result<String, String> {
    let d = Duration::from_millis(300);
    println!("    -- looplet::sleep (the loop switches while a task sleeps)");
    let overlapped = sleep::run(d, false, Recorder::default().print());
    println!("    -- std::thread::sleep (the whole loop blocks)");
    let blocked = sleep::run(d, true, Recorder::default().print());
    check(overlapped >= d, "a sleep ended early")?;
    check(
        overlapped < d * 2,
        format!("two {d:?} sleeps took {overlapped:?}: they did not overlap"),
    )?;
    check(blocked >= d * 2, "blocking sleeps overlapped?")?;
    Ok(format!(
        "2 x {} ms sleeps: {:.0} ms on the loop, {:.0} ms blocking",
        d.as_millis(),
        overlapped.as_secs_f64() * 1e3,
        blocked.as_secs_f64() * 1e3
    ))
}

fn echo() -> Result<String, String> {
    const CLIENTS: usize = 500;
    const MESSAGES: usize = 20;
    looplet::block_on(async {
        let listener =
            looplet::net::TcpListener::bind("127.0.0.1:0").map_err(|e| format!("bind: {e}"))?;
        let addr = listener.local_addr().map_err(|e| e.to_string())?;
        let connected = Rc::new(RefCell::new(0usize));
        let counter = connected.clone();
        let server = looplet::spawn(echo_server::serve(listener, move |_peer| {
            *counter.borrow_mut() += 1;
        }));
        println!("    echo server on {addr}; {CLIENTS} clients x {MESSAGES} messages each");
        let report = echo_client::run(addr, CLIENTS, MESSAGES, Duration::from_secs(60))
            .await
            .map_err(|e| format!("clients failed: {e}"))?;
        drop(server); // cancels the accept loop
        check(
            *connected.borrow() == CLIENTS,
            "not every client was accepted",
        )?;
        check(report.messages == CLIENTS * MESSAGES, "messages were lost")?;
        Ok(format!(
            "{} clients, {} messages, {} bytes echoed upper-cased and checked ({:.0} msg/s)",
            CLIENTS,
            report.messages,
            report.bytes,
            report.messages as f64 / report.elapsed.as_secs_f64()
        ))
    })
}

fn delayed_calls() -> Result<String, String> {
    let rec = Recorder::default();
    looplet::block_on(call_later::delayed_calls(
        Duration::from_millis(50),
        rec.print(),
    ));
    let lines = rec.lines();
    let fired: Vec<&str> = lines
        .iter()
        .filter_map(|l| l.split(" at ").next().filter(|_| l.contains(" at +")))
        .collect();
    check(fired == ["first", "third"], format!("fired {fired:?}"))?;
    check(
        lines.contains(&"cancelled second before it fired: true".to_string()),
        "the cancel did not report success",
    )?;
    Ok("first and third ran in order; the cancelled second never did".into())
}

fn subprocesses() -> Result<String, String> {
    let rec = Recorder::default();
    let print = rec.print();
    let report = looplet::block_on(subprocess::run(move |line| print(line)))
        .map_err(|e| format!("the children failed: {e}"))?;
    let codes: Vec<Option<i32>> = report.children.iter().map(|(_, code)| *code).collect();
    check(
        codes == [Some(0), Some(3), Some(0)],
        format!("exit codes {codes:?}"),
    )?;
    check(
        report.ticks >= 2,
        format!(
            "the loop ticked {} times while the children ran",
            report.ticks
        ),
    )?;
    Ok(format!(
        "3 children (exit codes 0, 3, 0) while the loop ticked {} times",
        report.ticks
    ))
}

fn thread_pool() -> Result<String, String> {
    let rec = Recorder::default();
    let report = looplet::block_on(thread_pool::run_in_executor(
        2_000_000,
        Duration::from_millis(5),
        rec.print(),
    ));
    check(
        report.primes == 148_933,
        format!("counted {} primes below 2,000,000", report.primes),
    )?;
    check(
        report.ticks > 0,
        "the loop did not tick while the pool counted",
    )?;
    check(
        report.thread.starts_with("blocking-"),
        format!("counted on thread {:?}, not the pool", report.thread),
    )?;
    Ok(format!(
        "148,933 primes counted on {} while the loop ticked {} times",
        report.thread, report.ticks
    ))
}

fn shutdown() -> Result<String, String> {
    let rec = Recorder::default();
    let print = rec.print();
    let test = looplet::block_on(graceful_shutdown::self_test(
        20,
        rustix::process::Signal::TERM,
        move |line| print(line),
    ))
    .map_err(|e| format!("the self-test failed: {e}"))?;
    check(test.passed(), format!("{test:?}"))?;
    Ok(format!(
        "SIGTERM mid-traffic: {} in-flight connections all finished, new ones refused",
        test.served.completed
    ))
}

/// A scenario: its name, what it shows, and the check that runs it.
type Scenario = (&'static str, &'static str, fn() -> Result<String, String>);

fn main() {
    let scenarios: [Scenario; 9] = [
        ("hello", "asyncio: cor1 awaits cor2", hello),
        (
            "producer/consumer",
            "generator send, as two tasks and channels",
            producer_consumer,
        ),
        ("switch", "greenlet switch, as yield_now", switch),
        (
            "gevent sleep",
            "two sleeping tasks overlap; blocking ones do not",
            gevent_sleep,
        ),
        (
            "echo server",
            "gevent's patched sockets: 500 concurrent clients",
            echo,
        ),
        (
            "call_later",
            "asyncio delayed calls, one cancelled",
            delayed_calls,
        ),
        (
            "subprocess",
            "asyncio create_subprocess_exec, the loop running meanwhile",
            subprocesses,
        ),
        (
            "thread pool",
            "asyncio run_in_executor: a blocking count on the pool",
            thread_pool,
        ),
        // Last: it leaves SIGTERM and SIGINT handlers installed for the rest of the process.
        (
            "graceful shutdown",
            "a signal stops the echo server after in-flight clients finish",
            shutdown,
        ),
    ];
    let mut outcomes = Vec::new();
    for (name, what, run) in scenarios {
        println!("== {name}: {what}");
        let start = Instant::now();
        let result = run();
        outcomes.push(Outcome {
            name,
            took: start.elapsed(),
            result,
        });
    }
    println!("\n== report");
    let mut failed = 0;
    for o in &outcomes {
        let (mark, text) = match &o.result {
            Ok(text) => ("ok  ", text.as_str()),
            Err(text) => {
                failed += 1;
                ("FAIL", text.as_str())
            }
        };
        println!(
            "{mark} {:<18} {:>8.1} ms  {text}",
            o.name,
            o.took.as_secs_f64() * 1e3
        );
    }
    if failed > 0 {
        println!("{failed} of {} checks failed", outcomes.len());
        std::process::exit(1);
    }
    println!("all {} checks passed", outcomes.len());
}
