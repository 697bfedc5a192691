//! Sockets: the seeds' echo server under 500 clients, partial reads and writes, faults that
//! must come back as `io::Error`s with the loop still running, and readiness for many waiters.

#[allow(dead_code)]
#[path = "../examples/echo_client.rs"]
mod echo_client;
#[allow(dead_code)]
#[path = "../examples/echo_server.rs"]
mod echo_server;

use std::cell::Cell;
use std::io::{self, ErrorKind, IoSlice, IoSliceMut, Read, Write};
use std::net::{Shutdown, SocketAddr};
use std::os::fd::AsFd;
use std::os::unix::net::UnixStream as StdUnixStream;
use std::pin::Pin;
use std::rc::Rc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;

use futures_util::{AsyncReadExt, AsyncWriteExt};
use looplet::net::{TcpListener, TcpStream, UdpSocket, UnixListener, UnixStream};
use looplet::{Async, Executor};

/// Starts the seeds' echo server on a free port; returns its address.
async fn start_echo_server() -> io::Result<SocketAddr> {
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    looplet::spawn(async move { echo_server::serve(listener, |_| {}).await.ok() }).detach();
    Ok(addr)
}

/// A plain echo of everything received, until the client closes.
async fn start_plain_echo() -> io::Result<SocketAddr> {
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    looplet::spawn(async move {
        while let Ok((conn, _)) = listener.accept().await {
            looplet::spawn(async move {
                let _ = futures_util::io::copy(&conn, &mut &conn).await;
            })
            .detach();
        }
    })
    .detach();
    Ok(addr)
}

fn reset_on_close(stream: &TcpStream) -> io::Result<()> {
    rustix::net::sockopt::set_socket_linger(stream, Some(Duration::ZERO))?;
    Ok(())
}

#[test]
fn five_hundred_concurrent_clients_every_byte_checked() -> io::Result<()> {
    looplet::block_on(async {
        let addr = start_echo_server().await?;
        let report = echo_client::run(addr, 500, 20, Duration::from_secs(120)).await?;
        assert_eq!(report.messages, 10_000);
        let per_client: usize = (0..500)
            .map(|id| format!("{id} say hello").len() * 20)
            .sum();
        assert_eq!(report.bytes, per_client, "every byte came back");
        Ok(())
    })
}

/// 1 byte to 1 MiB through one connection: writes and reads come back short and are resumed.
#[test]
fn messages_from_one_byte_to_one_mebibyte() -> io::Result<()> {
    looplet::block_on(async {
        let addr = start_plain_echo().await?;
        let stream = Rc::new(TcpStream::connect(addr).await?);
        let mut sizes: Vec<usize> = (0..=20).map(|p| 1usize << p).collect();
        sizes.extend([3, 1000, 65_537, 1_048_575]);
        for size in sizes {
            let message: Vec<u8> = (0..size).map(|i| (i * 7 + size) as u8).collect();
            // Write and read at once: the echo would fill both buffers otherwise.
            let writer = {
                let (stream, message) = (stream.clone(), message.clone());
                looplet::spawn(async move { (&*stream).write_all(&message).await })
            };
            let mut echoed = vec![0u8; size];
            (&*stream).read_exact(&mut echoed).await?;
            writer.await?;
            assert!(echoed == message, "a {size}-byte message came back intact");
        }
        Ok(())
    })
}

#[test]
fn half_close_lets_the_other_side_read_to_the_end_and_answer() -> io::Result<()> {
    looplet::block_on(async {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let mut client = TcpStream::connect(listener.local_addr()?).await?;
        let (mut server, _) = listener.accept().await?;
        client.write_all(b"question").await?;
        client.shutdown(Shutdown::Write)?;
        let mut got = Vec::new();
        server.read_to_end(&mut got).await?; // ends: the client half-closed
        assert_eq!(got, b"question");
        server.write_all(b"answer").await?; // the other half still works
        server.close().await?;
        let mut answer = String::new();
        client.read_to_string(&mut answer).await?;
        assert_eq!(answer, "answer");
        // Writing on the half-closed side is an error, not a crash.
        assert_eq!(
            client.write_all(b"more").await.unwrap_err().kind(),
            ErrorKind::BrokenPipe
        );
        Ok(())
    })
}

/// Data and the peer's FIN queued together: the reader gets the data, then the end of the
/// stream. (A short read must not be taken to mean "drained": the FIN's edge is already spent.)
#[test]
fn data_and_fin_that_arrive_together_are_both_seen() -> io::Result<()> {
    looplet::block_on(async {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let mut client = TcpStream::connect(listener.local_addr()?).await?;
        let (mut server, _) = listener.accept().await?;
        for round in 0..3 {
            // The reader parks first, so the event that wakes it covers both data and FIN.
            let reader = looplet::spawn(async move {
                let mut buf = [0u8; 4096];
                let mut got = Vec::new();
                loop {
                    let n = client.read(&mut buf).await?;
                    if n == 0 {
                        return io::Result::Ok((client, got));
                    }
                    got.extend_from_slice(&buf[..n]);
                }
            });
            looplet::yield_now().await;
            server.write_all(b"last words").await?;
            server.shutdown(Shutdown::Write)?;
            // Let both arrive before the reader runs again.
            looplet::sleep(Duration::from_millis(5)).await;
            let (c, got) = looplet::timeout(Duration::from_secs(30), reader).await??;
            assert_eq!(got, b"last words", "round {round}");
            // Next round on a fresh pair.
            client = TcpStream::connect(listener.local_addr()?).await?;
            server = listener.accept().await?.0;
            drop(c);
        }
        Ok(())
    })
}

/// A peer that resets while a task is parked in `read` wakes it with an error.
#[test]
fn reset_by_peer_mid_read_is_an_error_and_the_loop_goes_on() -> io::Result<()> {
    looplet::block_on(async {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let mut client = TcpStream::connect(listener.local_addr()?).await?;
        let (server, _) = listener.accept().await?;
        let reader = looplet::spawn(async move {
            let mut buf = [0u8; 16];
            client.read(&mut buf).await
        });
        looplet::yield_now().await; // the reader parks
        reset_on_close(&server)?;
        drop(server); // RST
        let err = reader.await.unwrap_err();
        assert_eq!(err.kind(), ErrorKind::ConnectionReset);
        // The loop is fine: other sockets keep working.
        let again = TcpStream::connect(listener.local_addr()?).await?;
        let (_conn, peer) = listener.accept().await?;
        assert_eq!(peer, again.local_addr()?);
        Ok(())
    })
}

/// Closing (`AsyncWriteExt::close`) a stream whose peer reset it succeeds: `shutdown(2)`
/// says `NotConnected`, and there is nothing left to shut down (tokio's rule). A graceful
/// close after the peer left (hyper's HTTP/2 one) used to end in that error.
#[test]
fn closing_a_stream_the_peer_already_reset_succeeds() -> io::Result<()> {
    looplet::block_on(async {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let mut client = TcpStream::connect(listener.local_addr()?).await?;
        let (server, _) = listener.accept().await?;
        reset_on_close(&server)?;
        drop(server); // RST
        let mut buf = [0u8; 16];
        let err = client.read(&mut buf).await.unwrap_err();
        assert_eq!(err.kind(), ErrorKind::ConnectionReset);
        // The kernel's answer, which the close must not pass on.
        let raw = client.shutdown(Shutdown::Write).unwrap_err();
        assert_eq!(raw.kind(), ErrorKind::NotConnected, "{raw}");
        client.close().await?;
        Ok(())
    })
}

/// Writing to a peer that is gone gives `BrokenPipe` or `ConnectionReset`, never SIGPIPE.
#[test]
fn writing_after_the_peer_closed_is_an_error_not_a_signal() -> io::Result<()> {
    looplet::block_on(async {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let mut client = TcpStream::connect(listener.local_addr()?).await?;
        let (server, _) = listener.accept().await?;
        drop(server);
        // The first writes may be buffered before the peer's RST arrives; a bounded number
        // of them must end in an error.
        let mut error = None;
        for _ in 0..1000 {
            if let Err(err) = client.write_all(&[0u8; 1024]).await {
                error = Some(err);
                break;
            }
            looplet::sleep(Duration::from_millis(1)).await;
        }
        let kind = error.expect("a write to a closed peer fails").kind();
        assert!(
            matches!(kind, ErrorKind::BrokenPipe | ErrorKind::ConnectionReset),
            "{kind:?}"
        );
        // Same for Unix sockets, written with MSG_NOSIGNAL.
        let (mut a, b) = UnixStream::pair()?;
        drop(b);
        assert_eq!(
            a.write_all(b"x").await.unwrap_err().kind(),
            ErrorKind::BrokenPipe
        );
        Ok(())
    })
}

#[test]
fn connection_refused() {
    looplet::block_on(async {
        let addr = {
            let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
            listener.local_addr().unwrap()
        };
        let err = TcpStream::connect(addr).await.unwrap_err();
        assert_eq!(err.kind(), ErrorKind::ConnectionRefused);
        // An address that resolves to nothing.
        let none: &[SocketAddr] = &[];
        assert_eq!(
            TcpStream::connect(none).await.unwrap_err().kind(),
            ErrorKind::InvalidInput
        );
    });
}

#[test]
fn binding_a_used_address_is_an_error() -> io::Result<()> {
    looplet::block_on(async {
        let first = TcpListener::bind("127.0.0.1:0").await?;
        let err = TcpListener::bind(first.local_addr()?).await.unwrap_err();
        assert_eq!(err.kind(), ErrorKind::AddrInUse);
        Ok(())
    })
}

#[test]
fn udp_round_trip() -> io::Result<()> {
    looplet::block_on(async {
        let server = UdpSocket::bind("127.0.0.1:0").await?;
        let client = UdpSocket::bind("127.0.0.1:0").await?;
        let server_addr = server.local_addr()?;
        let echo = looplet::spawn(async move {
            let mut buf = [0u8; 64];
            for _ in 0..3 {
                let (n, from) = server.recv_from(&mut buf).await?;
                buf[..n].make_ascii_uppercase();
                server.send_to(&buf[..n], from).await?;
            }
            io::Result::Ok(())
        });
        client.connect(server_addr).await?;
        for word in ["one", "two", "three"] {
            client.send(word.as_bytes()).await?;
            let mut buf = [0u8; 64];
            let n = client.recv(&mut buf).await?;
            assert_eq!(&buf[..n], word.to_uppercase().as_bytes());
        }
        echo.await
    })
}

#[test]
fn unix_sockets_pair_and_listener() -> io::Result<()> {
    let dir = std::env::temp_dir().join(format!("looplet-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    let path = dir.join("echo.sock");
    let _ = std::fs::remove_file(&path);
    looplet::block_on(async {
        let (mut a, mut b) = UnixStream::pair()?;
        a.write_all(b"through a pair").await?;
        let mut buf = [0u8; 14];
        b.read_exact(&mut buf).await?;
        assert_eq!(&buf, b"through a pair");

        let listener = UnixListener::bind(&path)?;
        let server = looplet::spawn(async move {
            let (conn, _) = listener.accept().await?;
            futures_util::io::copy(&conn, &mut &conn).await
        });
        let mut client = UnixStream::connect(&path).await?;
        client.write_all(b"and a listener").await?;
        client.shutdown(Shutdown::Write)?;
        let mut back = String::new();
        client.read_to_string(&mut back).await?;
        assert_eq!(back, "and a listener");
        assert_eq!(server.await?, 14);
        // Connecting to nothing is an error.
        let missing = dir.join("missing.sock");
        assert_eq!(
            UnixStream::connect(&missing).await.unwrap_err().kind(),
            ErrorKind::NotFound
        );
        io::Result::Ok(())
    })?;
    std::fs::remove_dir_all(&dir)
}

/// Every task waiting on the same direction is woken when it becomes ready.
#[test]
fn readable_and_writable_wake_several_tasks_at_once() -> io::Result<()> {
    looplet::block_on(async {
        let (a, b) = StdUnixStream::pair()?;
        let (a, b) = (Rc::new(Async::new(a)?), Async::new(b)?);
        // A read that finds nothing clears the optimistic readiness: waiters must wait.
        let mut buf = [0u8; 64];
        let read = a.read_with(|s| std::io::Read::read(&mut &*s, &mut buf));
        assert!(
            looplet::timeout(Duration::from_millis(5), read)
                .await
                .is_err()
        );
        let readers: Vec<_> = (0..3)
            .map(|_| {
                let a = a.clone();
                looplet::spawn(async move { a.readable().await })
            })
            .collect();
        looplet::yield_now().await;
        assert!(
            readers.iter().all(|t| !t.is_finished()),
            "nothing to read yet"
        );
        b.write_with(|s| std::io::Write::write(&mut &*s, b"wake everyone"))
            .await?;
        for t in readers {
            t.await?;
        }

        // Fill the send buffer until a write would block, then park three writers.
        let chunk = [0u8; 65536];
        let fill = async {
            loop {
                a.write_with(|s| std::io::Write::write(&mut &*s, &chunk))
                    .await?;
            }
            #[allow(unreachable_code)]
            io::Result::Ok(())
        };
        assert!(
            looplet::timeout(Duration::from_millis(20), fill)
                .await
                .is_err()
        );
        let writers: Vec<_> = (0..3)
            .map(|_| {
                let a = a.clone();
                looplet::spawn(async move { a.writable().await })
            })
            .collect();
        looplet::yield_now().await;
        assert!(
            writers.iter().all(|t| !t.is_finished()),
            "the buffer is full"
        );
        // Drain the other end: room appears and every writer wakes.
        let mut sink = vec![0u8; 1 << 20];
        while let Ok(n) = std::io::Read::read(&mut b.get_ref(), &mut sink) {
            if n == 0 {
                break;
            }
        }
        for t in writers {
            t.await?;
        }
        Ok(())
    })
}

#[test]
fn a_read_with_a_timeout_that_fires_and_one_that_does_not() -> io::Result<()> {
    looplet::block_on(async {
        let (mut a, mut b) = UnixStream::pair()?;
        let mut buf = [0u8; 8];
        let timed_out = looplet::timeout(Duration::from_millis(20), b.read(&mut buf)).await;
        assert!(timed_out.is_err(), "nothing was sent");
        // The timed-out read lost nothing: data sent now is all there.
        a.write_all(b"late").await?;
        let n = looplet::timeout(Duration::from_secs(30), b.read(&mut buf)).await??;
        assert_eq!(&buf[..n], b"late");
        Ok(())
    })
}

/// A task parked on a socket is cancelled, dropping the socket; the loop and the peer cope.
#[test]
fn dropping_a_stream_while_a_task_waits_on_it() -> io::Result<()> {
    looplet::block_on(async {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let mut peer = TcpStream::connect(addr).await?;
        let (conn, _) = listener.accept().await?;
        let waiting = looplet::spawn(async move {
            let mut conn = conn;
            let mut buf = [0u8; 1];
            conn.read(&mut buf).await
        });
        looplet::yield_now().await; // parked in read, registered with the reactor
        drop(waiting); // cancels the task; its stream is dropped and deregistered
        looplet::yield_now().await;
        // The peer sees the close.
        let mut rest = Vec::new();
        assert_eq!(peer.read_to_end(&mut rest).await?, 0);
        // Events for the dropped stream's old key are ignored; new connections work.
        let mut again = TcpStream::connect(addr).await?;
        let (mut conn, _) = listener.accept().await?;
        again.write_all(b"ok").await?;
        let mut buf = [0u8; 2];
        conn.read_exact(&mut buf).await?;
        assert_eq!(&buf, b"ok");
        Ok(())
    })
}

/// A socket made on one loop and used on another moves there and works.
#[test]
fn a_socket_moves_to_the_loop_that_uses_it() -> io::Result<()> {
    // Binding a literal address needs no loop: the future is ready at once.
    let listener = looplet::block_on(TcpListener::bind("127.0.0.1:0"))?;
    let addr = listener.local_addr()?;
    let first = Executor::new();
    let mut client = first.block_on(TcpStream::connect(addr))?;
    let (mut server, _) = first.block_on(listener.accept())?;
    first.block_on(client.write_all(b"on the first loop"))?;
    let second = Executor::new();
    let mut buf = [0u8; 17];
    second.block_on(server.read_exact(&mut buf))?; // registers with the second loop
    assert_eq!(&buf, b"on the first loop");
    // And back, and also after the first loop is gone.
    first.block_on(server.write_all(b"back"))?;
    drop(first);
    let mut back = [0u8; 4];
    second.block_on(client.read_exact(&mut back))?;
    assert_eq!(&back, b"back");
    // Plain looplet::block_on calls, a fresh loop each time.
    looplet::block_on(client.write_all(b"!"))?;
    let mut bang = [0u8; 1];
    looplet::block_on(server.read_exact(&mut bang))?;
    assert_eq!(&bang, b"!");
    Ok(())
}

/// A task on one loop waits on a socket; a second loop then waits on the same socket, which
/// moves it to the second loop's epoll. The first task must still be woken when data arrives:
/// the move wakes it, and its next wait takes the socket back.
#[test]
fn a_socket_moved_to_another_loop_still_wakes_its_first_waiter() -> io::Result<()> {
    let first = Executor::new();
    let (a, mut peer) = UnixStream::pair()?;
    let a = Rc::new(a);
    let reader = {
        let a = a.clone();
        first.spawn(async move {
            let mut buf = [0u8; 16];
            (&*a).read(&mut buf).await
        })
    };
    while first.try_tick() {} // the reader parks, registered with the first loop
    let second = Executor::new();
    let mut probe = [0u8; 1];
    let moved = second.block_on(looplet::timeout(
        Duration::from_millis(10),
        (&*a).read(&mut probe),
    ));
    assert!(moved.is_err(), "nothing to read yet");
    let read = first.block_on(async {
        peer.write_all(b"hello").await?;
        io::Result::Ok(looplet::timeout(Duration::from_secs(30), reader).await)
    })?;
    let n = read.expect("the first waiter was woken")?;
    assert_eq!(n, 5);
    Ok(())
}

#[test]
fn io_with_no_loop_running_is_an_error_not_a_hang() -> io::Result<()> {
    let (a, _b) = UnixStream::pair()?;
    let source = Async::new(StdUnixStream::from(rustix::io::dup(&a)?))?;
    // Poll by hand, with no loop: the read would block, and there is no loop to wait on.
    let waker = std::task::Waker::noop();
    let mut cx = std::task::Context::from_waker(waker);
    let mut read =
        std::pin::pin!(source.read_with(|s| std::io::Read::read(&mut &*s, &mut [0u8; 4])));
    match read.as_mut().poll(&mut cx) {
        std::task::Poll::Ready(Err(err)) => {
            assert!(err.to_string().contains("no looplet loop"), "{err}")
        }
        other => panic!("expected an error, got {other:?}"),
    }
    Ok(())
}

/// One task reads a stream while another writes it, through `&TcpStream`.
#[test]
fn a_reader_and_a_writer_share_one_stream() -> io::Result<()> {
    looplet::block_on(async {
        let addr = start_plain_echo().await?;
        let stream = Rc::new(TcpStream::connect(addr).await?);
        let writer = {
            let stream = stream.clone();
            looplet::spawn(async move {
                for i in 0..100u8 {
                    (&*stream).write_all(&[i; 100]).await?;
                }
                stream.shutdown(Shutdown::Write)
            })
        };
        let mut all = Vec::new();
        (&*stream).read_to_end(&mut all).await?;
        writer.await?;
        assert_eq!(all.len(), 10_000);
        assert!(
            all.chunks(100)
                .enumerate()
                .all(|(i, c)| c.iter().all(|&b| b == i as u8))
        );
        Ok(())
    })
}

/// `loop { readable().await; raw read; WouldBlock => continue }` must park, not spin: a
/// readiness handed out once is checked with the kernel before it is handed out again.
#[test]
fn readable_after_a_raw_would_block_parks_instead_of_spinning() -> io::Result<()> {
    looplet::block_on(async {
        let (mut writer, reader) = StdUnixStream::pair()?;
        let reader = Async::new(reader)?;
        let wakeups = Rc::new(Cell::new(0u32));
        let w = wakeups.clone();
        let other = looplet::spawn(async move {
            // Plenty of turns of the loop in which a spinning reader would come round.
            for _ in 0..1000 {
                looplet::yield_now().await;
            }
            writer.write_all(b"data")?;
            io::Result::Ok(writer)
        });
        let mut buf = [0u8; 16];
        let n = loop {
            reader.readable().await?;
            w.set(w.get() + 1);
            match reader.get_ref().read(&mut buf) {
                Err(e) if e.kind() == ErrorKind::WouldBlock => continue,
                other => break other?,
            }
        };
        assert_eq!(&buf[..n], b"data");
        assert!(
            wakeups.get() <= 3,
            "readable() completed {} times for one message: it spins",
            wakeups.get()
        );
        let _writer = other.await?;
        io::Result::Ok(())
    })
}

/// The same for `writable()`: a socket whose send buffer a raw write filled parks until the
/// peer reads.
#[test]
fn writable_after_a_raw_would_block_parks_instead_of_spinning() -> io::Result<()> {
    looplet::block_on(async {
        let (writer, mut peer) = StdUnixStream::pair()?;
        let writer = Async::new(writer)?;
        let chunk = [7u8; 4096];
        let mut sent = 0usize;
        // Fill the send buffer with raw writes, which looplet never sees.
        loop {
            match writer.get_ref().write(&chunk) {
                Ok(n) => sent += n,
                Err(e) if e.kind() == ErrorKind::WouldBlock => break,
                Err(e) => return Err(e),
            }
        }
        let reader = looplet::spawn(async move {
            for _ in 0..1000 {
                looplet::yield_now().await;
            }
            peer.set_nonblocking(true)?;
            let mut drained = 0usize;
            let mut buf = [0u8; 65536];
            loop {
                match peer.read(&mut buf) {
                    Ok(n) => drained += n,
                    Err(e) if e.kind() == ErrorKind::WouldBlock => break,
                    Err(e) => return Err(e),
                }
            }
            io::Result::Ok((drained, peer))
        });
        let mut wakeups = 0u32;
        loop {
            writer.writable().await?;
            wakeups += 1;
            match writer.get_ref().write(b"x") {
                Err(e) if e.kind() == ErrorKind::WouldBlock => continue,
                other => {
                    other?;
                    break;
                }
            }
        }
        let (drained, _peer) = reader.await?;
        assert!(drained >= sent);
        assert!(
            wakeups <= 3,
            "writable() completed {wakeups} times: it spins"
        );
        io::Result::Ok(())
    })
}

/// How many times a SIGPIPE arrived; counted by a handler installed for these tests, so a
/// write that raised one shows up here instead of killing the process.
static SIGPIPES: AtomicUsize = AtomicUsize::new(0);

fn count_sigpipes() {
    static INSTALL: std::sync::Once = std::sync::Once::new();
    INSTALL.call_once(|| {
        // SAFETY: the action only increments an atomic, which is async-signal-safe.
        unsafe {
            signal_hook_registry::register(rustix::process::Signal::PIPE.as_raw(), || {
                SIGPIPES.fetch_add(1, Ordering::SeqCst);
            })
        }
        .expect("a SIGPIPE counter");
    });
}

/// Writes to a peer that has gone, through every write path: plain and vectored, TCP, Unix and
/// `Async<std TcpStream>`. Each gives `BrokenPipe` (or a reset), and none raises `SIGPIPE`,
/// which would kill a process that does not ignore it (a C host, a Python extension).
#[test]
fn no_write_path_raises_sigpipe() -> io::Result<()> {
    count_sigpipes();
    let before = SIGPIPES.load(Ordering::SeqCst);
    looplet::block_on(async {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        for vectored in [false, true] {
            let tcp = TcpStream::connect(addr).await?;
            drop(listener.accept().await?);
            expect_broken(tcp, vectored).await;
            let (unix, gone) = UnixStream::pair()?;
            drop(gone);
            expect_broken(unix, vectored).await;
            let std_tcp = std::net::TcpStream::connect(addr)?;
            drop(listener.accept().await?);
            expect_broken(Async::new(std_tcp)?, vectored).await;
        }
        io::Result::Ok(())
    })?;
    assert_eq!(
        SIGPIPES.load(Ordering::SeqCst) - before,
        0,
        "a write raised SIGPIPE"
    );
    Ok(())
}

/// Writes until the write fails (the peer's reset or close takes a round trip to be seen).
async fn expect_broken(mut stream: impl futures_io::AsyncWrite + Unpin, vectored: bool) {
    let chunk = [1u8; 1024];
    for _ in 0..10_000 {
        let result = if vectored {
            let bufs = [IoSlice::new(&chunk), IoSlice::new(&chunk)];
            stream.write_vectored(&bufs).await
        } else {
            stream.write(&chunk).await
        };
        match result {
            Ok(_) => looplet::sleep(Duration::from_millis(1)).await,
            Err(e) => {
                assert!(
                    matches!(e.kind(), ErrorKind::BrokenPipe | ErrorKind::ConnectionReset),
                    "{e}"
                );
                return;
            }
        }
    }
    panic!("writes to a closed peer kept succeeding");
}

/// `UnixStream`'s vectored write sends every buffer, not only the first.
#[test]
fn unix_vectored_writes_send_every_buffer() -> io::Result<()> {
    looplet::block_on(async {
        let (mut a, mut b) = UnixStream::pair()?;
        let bufs = [
            IoSlice::new(b"one "),
            IoSlice::new(b""),
            IoSlice::new(b"two"),
        ];
        let n = a.write_vectored(&bufs).await?;
        assert_eq!(n, 7);
        let mut got = [0u8; 7];
        b.read_exact(&mut got).await?;
        assert_eq!(&got, b"one two");
        io::Result::Ok(())
    })
}

/// Linux ends a Unix stream read at a message that carried file descriptors, with data still
/// queued behind it. A short read there proves nothing; treating it as "drained" hung
/// `read_vectored` (no new edge ever came for the data already queued).
#[test]
fn unix_reads_see_data_queued_behind_a_message_with_fds() -> io::Result<()> {
    let (sender, receiver) = UnixStream::pair()?;
    let (std_sender, std_receiver) = StdUnixStream::pair()?;
    let (receiver, std_receiver) = (Rc::new(receiver), Rc::new(Async::new(std_receiver)?));
    looplet::block_on(async {
        for vectored in [true, false] {
            // The reader waits first, so the socket is registered and the messages' edge is
            // spent on its first read.
            let r = receiver.clone();
            let reading = looplet::spawn(async move { read_four(&*r, vectored).await });
            looplet::yield_now().await;
            send_fd_then_data(&sender)?;
            reading.await?;
            let r = std_receiver.clone();
            let reading = looplet::spawn(async move { read_four(&*r, vectored).await });
            looplet::yield_now().await;
            send_fd_then_data(&std_sender)?;
            reading.await?;
        }
        io::Result::Ok(())
    })
}

/// Sends "a" with a file descriptor attached, then "bcd" without.
fn send_fd_then_data(sender: &impl AsFd) -> io::Result<()> {
    use rustix::net::{SendAncillaryBuffer, SendAncillaryMessage, SendFlags};
    let (passed, _peer) = StdUnixStream::pair()?;
    let fds = [passed.as_fd()];
    let mut space = [std::mem::MaybeUninit::uninit(); rustix::cmsg_space!(ScmRights(1))];
    let mut control = SendAncillaryBuffer::new(&mut space);
    assert!(control.push(SendAncillaryMessage::ScmRights(&fds)));
    let one = [IoSlice::new(b"a")];
    rustix::net::sendmsg(sender, &one, &mut control, SendFlags::empty())?;
    rustix::net::send(sender, b"bcd", SendFlags::empty())?;
    Ok(())
}

/// Reads "abcd" through `read_vectored` or `read`, failing if the rest never comes.
async fn read_four<R>(receiver: R, vectored: bool) -> io::Result<()>
where
    R: futures_io::AsyncRead + Unpin + Copy,
{
    let mut got = Vec::new();
    while got.len() < 4 {
        let (mut x, mut y) = ([0u8; 64], [0u8; 64]);
        let mut r = receiver;
        let read = async {
            if vectored {
                let mut bufs = [IoSliceMut::new(&mut x), IoSliceMut::new(&mut y)];
                r.read_vectored(&mut bufs).await
            } else {
                r.read(&mut x).await
            }
        };
        let n = looplet::timeout(Duration::from_secs(10), read)
            .await
            .expect("data queued behind an SCM_RIGHTS message was never read")?;
        assert!(n > 0, "no end of stream here");
        got.extend_from_slice(&x[..n.min(64)]);
        if n > 64 {
            got.extend_from_slice(&y[..n - 64]);
        }
    }
    assert_eq!(got, b"abcd");
    Ok(())
}

/// A writer whose flush always succeeds: flushing must not wait for writability first.
struct FlushCounter {
    socket: StdUnixStream,
    flushes: Rc<Cell<u32>>,
}

impl AsFd for FlushCounter {
    fn as_fd(&self) -> std::os::fd::BorrowedFd<'_> {
        self.socket.as_fd()
    }
}

impl Write for FlushCounter {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.socket.write(buf)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.flushes.set(self.flushes.get() + 1);
        Ok(())
    }
}

#[test]
fn flush_does_not_wait_for_writability() -> io::Result<()> {
    looplet::block_on(async {
        let (socket, _peer) = StdUnixStream::pair()?;
        let flushes = Rc::new(Cell::new(0));
        let mut writer = Async::new(FlushCounter {
            socket,
            flushes: flushes.clone(),
        })?;
        // Fill the send buffer through looplet, so it knows the socket is not writable.
        let chunk = [0u8; 4096];
        let waker = std::task::Waker::noop();
        let mut cx = Context::from_waker(waker);
        use futures_io::AsyncWrite;
        while let Poll::Ready(n) = Pin::new(&mut writer).poll_write(&mut cx, &chunk) {
            n?;
        }
        let flushed = Pin::new(&mut writer).poll_flush(&mut cx);
        assert!(
            matches!(flushed, Poll::Ready(Ok(()))),
            "flush waited for a writable socket"
        );
        assert_eq!(flushes.get(), 1);
        io::Result::Ok(())
    })
}

/// `Async::new` learns the fd's kind, so `Async<std TcpStream>` (smol's idiom) gets the
/// short-read rule that saves a failing read per message: after a short read it waits for the
/// next edge instead of handing out readiness it knows is gone.
#[test]
fn async_std_tcp_stream_knows_a_short_read_drained_it() -> io::Result<()> {
    looplet::block_on(async {
        let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
        let mut client = std::net::TcpStream::connect(listener.local_addr()?)?;
        let (server, _) = listener.accept()?;
        let server = Async::new(server)?;
        assert!(format!("{server:?}").contains("kind: Tcp"), "{server:?}");
        client.write_all(b"ab")?;
        let mut buf = [0u8; 100];
        let n = looplet::timeout(Duration::from_secs(10), (&server).read(&mut buf))
            .await
            .expect("the bytes arrive")?;
        assert_eq!(&buf[..n], b"ab");
        let waker = std::task::Waker::noop();
        let mut cx = Context::from_waker(waker);
        // The polling backend cannot see the peer's shutdown, so there a short read proves
        // nothing and the rule is off.
        if !cfg!(feature = "polling") {
            assert!(
                server.poll_readable(&mut cx).is_pending(),
                "a short TCP read drained the buffer: the next wait is for a fresh edge"
            );
        }
        let (a, _b) = StdUnixStream::pair()?;
        let unix = Async::new(a)?;
        assert!(format!("{unix:?}").contains("kind: UnixStream"));
        let udp = Async::new(std::net::UdpSocket::bind("127.0.0.1:0")?)?;
        assert!(format!("{udp:?}").contains("kind: Socket"));
        let (r, _w) = std::io::pipe()?;
        assert!(format!("{:?}", Async::new(r)?).contains("kind: Pipe"));
        io::Result::Ok(())
    })
}

fn is_nonblocking(fd: impl AsFd) -> io::Result<bool> {
    Ok(rustix::fs::fcntl_getfl(fd)?.contains(rustix::fs::OFlags::NONBLOCK))
}

/// An fd shared with other processes (a pipe, a terminal, stdin) gets its blocking mode back
/// when its `Async` is dropped or unwrapped; a socket stays non-blocking.
#[test]
fn async_puts_a_non_socket_fd_back_in_blocking_mode() -> io::Result<()> {
    let (reader, writer) = std::io::pipe()?;
    let keep = reader.try_clone()?; // shares the file description, as a shell would
    let wrapped = Async::new(reader)?;
    assert!(is_nonblocking(&keep)?);
    drop(wrapped);
    assert!(!is_nonblocking(&keep)?, "dropping restores blocking mode");
    let wrapped = Async::new(writer)?;
    let writer = wrapped.into_inner()?;
    assert!(
        !is_nonblocking(&writer)?,
        "into_inner restores blocking mode"
    );
    let (a, _b) = StdUnixStream::pair()?;
    let socket = Async::new(a)?.into_inner()?;
    assert!(is_nonblocking(&socket)?, "a socket stays non-blocking");
    Ok(())
}
