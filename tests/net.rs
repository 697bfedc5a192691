//! Sockets: the seeds' echo server under 500 clients, partial reads and writes, faults that
//! must come back as `io::Error`s with the loop still running, and readiness for many waiters.

#[allow(dead_code)]
#[path = "../examples/echo_client.rs"]
mod echo_client;
#[allow(dead_code)]
#[path = "../examples/echo_server.rs"]
mod echo_server;

use std::io::{self, ErrorKind};
use std::net::{Shutdown, SocketAddr};
use std::os::unix::net::UnixStream as StdUnixStream;
use std::rc::Rc;
use std::time::Duration;

use futures_util::{AsyncReadExt, AsyncWriteExt};
use looplet::net::{TcpListener, TcpStream, UdpSocket, UnixListener, UnixStream};
use looplet::{Async, Executor};

/// Starts the seeds' echo server on a free port; returns its address.
fn start_echo_server() -> io::Result<SocketAddr> {
    let listener = TcpListener::bind("127.0.0.1:0")?;
    let addr = listener.local_addr()?;
    looplet::spawn(async move { echo_server::serve(listener, |_| {}).await.ok() }).detach();
    Ok(addr)
}

/// A plain echo of everything received, until the client closes.
fn start_plain_echo() -> io::Result<SocketAddr> {
    let listener = TcpListener::bind("127.0.0.1:0")?;
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
        let addr = start_echo_server()?;
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
        let addr = start_plain_echo()?;
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
        let listener = TcpListener::bind("127.0.0.1:0")?;
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
        let listener = TcpListener::bind("127.0.0.1:0")?;
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
        let listener = TcpListener::bind("127.0.0.1:0")?;
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

/// Writing to a peer that is gone gives `BrokenPipe` or `ConnectionReset`, never SIGPIPE.
#[test]
fn writing_after_the_peer_closed_is_an_error_not_a_signal() -> io::Result<()> {
    looplet::block_on(async {
        let listener = TcpListener::bind("127.0.0.1:0")?;
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
            let listener = TcpListener::bind("127.0.0.1:0").unwrap();
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
    let first = TcpListener::bind("127.0.0.1:0")?;
    let err = TcpListener::bind(first.local_addr()?).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::AddrInUse);
    Ok(())
}

#[test]
fn udp_round_trip() -> io::Result<()> {
    looplet::block_on(async {
        let server = UdpSocket::bind("127.0.0.1:0")?;
        let client = UdpSocket::bind("127.0.0.1:0")?;
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
        client.connect(server_addr)?;
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
        let listener = TcpListener::bind("127.0.0.1:0")?;
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
    let listener = TcpListener::bind("127.0.0.1:0")?; // outside any loop
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

/// A task on one loop waits on a socket; a nested loop briefly waits on the same socket,
/// which moves it to the nested loop's epoll. The first task must still be woken when data
/// arrives: the move wakes it, and its next wait takes the socket back.
#[test]
fn a_socket_moved_by_a_nested_loop_still_wakes_its_first_waiter() -> io::Result<()> {
    let outer = Executor::new();
    let (a, mut peer) = UnixStream::pair()?;
    let a = Rc::new(a);
    let reader = {
        let a = a.clone();
        outer.spawn(async move {
            let mut buf = [0u8; 16];
            (&*a).read(&mut buf).await
        })
    };
    let read = outer.block_on(async {
        looplet::yield_now().await; // the reader parks, registered with the outer loop
        let inner = Executor::new();
        let mut probe = [0u8; 1];
        let moved = inner.block_on(looplet::timeout(
            Duration::from_millis(10),
            (&*a).read(&mut probe),
        ));
        assert!(moved.is_err(), "nothing to read yet");
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
        let addr = start_plain_echo()?;
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
