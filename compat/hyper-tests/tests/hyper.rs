//! hyper on looplet through `looplet::compat::hyper`: keep-alive, many connections, a large
//! body, a `!Send` streaming body, `header_read_timeout`, HTTP/2 multiplexing, and clients
//! that vanish mid-request. Every wait is bounded; nothing asserts a speed.

use std::cell::Cell;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::rc::Rc;
use std::time::Duration;

use bytes::Bytes;
use futures_util::StreamExt;
use http_body_util::StreamBody;
use hyper::body::Frame;
use hyper::service::service_fn;
use hyper::{Request, Response};
use looplet::compat::hyper::{LoopletIo, LoopletTimer};
use looplet::net::{TcpListener, TcpStream};
use looplet_hyper_tests::{
    Error, GREETING, body_of, http1_client, http2_client, request, serve, serve_connection,
};

/// Runs `test` on a loop, failing (not hanging) if it takes longer than 60 s.
fn bounded(test: impl Future<Output = Result<(), Error>>) {
    looplet::block_on(async {
        looplet::timeout(Duration::from_secs(60), test)
            .await
            .expect("the test ran past its 60 s budget")
            .unwrap();
    });
}

/// A listener on a free port whose first connection `serve` serves, in a task: its address,
/// and the task (to await its result, or detach).
async fn first_connection<F, Fut>(
    serve: F,
) -> Result<(SocketAddr, looplet::Task<Fut::Output>), Error>
where
    F: FnOnce(TcpStream) -> Fut + 'static,
    Fut: Future + 'static,
{
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    let task = looplet::spawn(async move {
        let (stream, _) = listener.accept().await.expect("the test's connection");
        serve(stream).await
    });
    Ok((addr, task))
}

/// A server on a free port whose accepted connections are counted.
async fn counting_server(http2: bool) -> Result<(SocketAddr, Rc<Cell<usize>>), Error> {
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    let accepted = Rc::new(Cell::new(0));
    let count = accepted.clone();
    looplet::spawn(async move {
        loop {
            let (stream, _) = listener.accept().await.unwrap();
            count.set(count.get() + 1);
            looplet::spawn(async move {
                let _ = serve_connection(stream, http2).await;
            })
            .detach();
        }
    })
    .detach();
    Ok((addr, accepted))
}

#[test]
fn a_hundred_keep_alive_requests_share_one_connection() {
    bounded(async {
        let (addr, accepted) = counting_server(false).await?;
        let mut client = http1_client(addr).await?;
        for _ in 0..100 {
            let response = client.send_request(request("/", "")).await?;
            assert_eq!(response.status(), 200);
            assert_eq!(body_of(response).await?, GREETING);
        }
        assert_eq!(accepted.get(), 1);
        Ok(())
    });
}

#[test]
fn fifty_connections_at_once() {
    bounded(async {
        let (addr, accepted) = counting_server(false).await?;
        let clients: Vec<_> = (0..50)
            .map(|n| {
                looplet::spawn(async move {
                    let mut client = http1_client(addr).await?;
                    for i in 0..5 {
                        let body = format!("client {n} request {i}");
                        let response = client.send_request(request("/echo", body.clone())).await?;
                        assert_eq!(body_of(response).await?, body.as_bytes());
                    }
                    Ok::<_, Error>(())
                })
            })
            .collect();
        for client in clients {
            client.await?;
        }
        assert_eq!(accepted.get(), 50);
        Ok(())
    });
}

#[test]
fn a_one_mebibyte_post_is_echoed_byte_for_byte() {
    bounded(async {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        looplet::spawn(serve(listener, false)).detach();
        let mut client = http1_client(addr).await?;
        let big: Vec<u8> = (0..1u32 << 20).map(|i| (i % 251) as u8).collect();
        let response = client.send_request(request("/echo", big.clone())).await?;
        let echoed = body_of(response).await?;
        assert_eq!(echoed.len(), big.len());
        assert!(echoed == big, "the echo differs");
        Ok(())
    });
}

/// A response body that is `!Send` (it holds a looplet channel's receiver), streamed while a
/// task produces it.
#[test]
fn a_not_send_body_streams_from_a_looplet_channel() {
    bounded(async {
        let (addr, server) = first_connection(|stream| async move {
            let service = service_fn(|_req: Request<hyper::body::Incoming>| async {
                let (tx, rx) = looplet::channel::bounded::<Bytes>(1);
                looplet::spawn(async move {
                    for n in 0..10 {
                        looplet::sleep(Duration::from_millis(2)).await;
                        tx.send(Bytes::from(format!("chunk {n};"))).await.unwrap();
                    }
                })
                .detach();
                let marker = Rc::new(()); // makes the body !Send for certain
                let frames = rx.map(move |chunk| {
                    let _ = &marker;
                    Ok::<_, Infallible>(Frame::data(chunk))
                });
                Ok::<_, Infallible>(Response::new(StreamBody::new(frames)))
            });
            hyper::server::conn::http1::Builder::new()
                .timer(LoopletTimer::new())
                .serve_connection(LoopletIo::new(stream), service)
                .await
                .unwrap();
        })
        .await?;
        server.detach();
        let mut client = http1_client(addr).await?;
        let response = client.send_request(request("/", "")).await?;
        let body = body_of(response).await?;
        let expected: String = (0..10).map(|n| format!("chunk {n};")).collect();
        assert_eq!(body, expected.as_bytes());
        Ok(())
    });
}

/// A client that connects and sends nothing is closed once `header_read_timeout` passes
/// (with looplet's timer; without a timer hyper would refuse the setting).
#[test]
fn header_read_timeout_closes_a_silent_client() {
    use futures_util::AsyncReadExt;
    bounded(async {
        let (addr, server) = first_connection(|stream| async move {
            hyper::server::conn::http1::Builder::new()
                .timer(LoopletTimer::new())
                .header_read_timeout(Duration::from_millis(100))
                .serve_connection(
                    LoopletIo::new(stream),
                    service_fn(looplet_hyper_tests::hello_or_echo),
                )
                .await
        })
        .await?;
        let start = looplet::time::now();
        let mut silent = TcpStream::connect(addr).await?;
        let mut buf = Vec::new();
        // The server gives up and closes: the read ends (hyper may send a 408 first).
        silent.read_to_end(&mut buf).await?;
        // Not before the timeout: a timer that fired at once would fail here.
        assert!(
            looplet::time::now() - start >= Duration::from_millis(100),
            "closed after {:?}",
            looplet::time::now() - start
        );
        let result = server.await;
        assert!(
            result.is_err(),
            "the server's connection should end in a timeout error"
        );
        assert!(
            buf.is_empty() || buf.starts_with(b"HTTP/1.1 408"),
            "{buf:?}"
        );
        Ok(())
    });
}

#[test]
fn http2_carries_a_hundred_requests_at_once_on_one_connection() {
    bounded(async {
        let (addr, accepted) = counting_server(true).await?;
        let client = http2_client(addr).await?;
        let requests: Vec<_> = (0..100)
            .map(|n| {
                let mut client = client.clone();
                looplet::spawn(async move {
                    let body = format!("stream {n}");
                    let response = client.send_request(request("/echo", body.clone())).await?;
                    assert_eq!(response.version(), hyper::Version::HTTP_2);
                    assert_eq!(body_of(response).await?, body.as_bytes());
                    Ok::<_, Error>(())
                })
            })
            .collect();
        for request in requests {
            request.await?;
        }
        assert_eq!(accepted.get(), 1);
        Ok(())
    });
}

fn open_fds() -> usize {
    std::fs::read_dir("/proc/self/fd").unwrap().count()
}

/// 200 clients that vanish mid-request (half a request line and headers sent, then gone)
/// leave no connection task and no fd behind.
#[test]
fn clients_vanishing_mid_request_leave_no_task_or_fd_behind() {
    use futures_util::AsyncWriteExt;
    bounded(async {
        let (addr, accepted) = counting_server(false).await?;
        // One full request first, so that every lazy part of the loop is made.
        let mut client = http1_client(addr).await?;
        let response = client.send_request(request("/", "")).await?;
        body_of(response).await?;
        drop(client);
        looplet::sleep(Duration::from_millis(50)).await;
        let (tasks_before, fds_before) = (looplet::all_tasks().len(), open_fds());
        for n in 0..200 {
            let mut stream = TcpStream::connect(addr).await?;
            let partial =
                format!("POST /echo HTTP/1.1\r\nhost: x\r\ncontent-length: 100\r\n\r\npart {n}");
            stream.write_all(partial.as_bytes()).await?;
            drop(stream);
        }
        // Every server-side connection sees its peer gone and ends; poll until it has.
        for _ in 0..2000 {
            if accepted.get() == 201
                && looplet::all_tasks().len() <= tasks_before
                && open_fds() <= fds_before
            {
                return Ok(());
            }
            looplet::sleep(Duration::from_millis(10)).await;
        }
        panic!(
            "after 20 s: {} accepted, tasks {} (before {tasks_before}), fds {} (before {fds_before})\n{}",
            accepted.get(),
            looplet::all_tasks().len(),
            open_fds(),
            looplet::all_tasks()
        );
    });
}

/// A futures-io stream (here a looplet `TcpStream` seen only through futures-io, as a TLS
/// stream would be) served through `FuturesIo`, with a body larger than one read.
#[test]
fn futures_io_serves_any_futures_io_stream() {
    use looplet::compat::hyper::FuturesIo;
    bounded(async {
        let (addr, server) = first_connection(|stream| async move {
            hyper::server::conn::http1::Builder::new()
                .timer(LoopletTimer::new())
                .serve_connection(
                    FuturesIo::new(stream),
                    service_fn(looplet_hyper_tests::hello_or_echo),
                )
                .await
                .unwrap();
        })
        .await?;
        server.detach();
        let mut client = http1_client(addr).await?;
        let big: Vec<u8> = (0..300 * 1024u32).map(|i| (i % 253) as u8).collect();
        let response = client.send_request(request("/echo", big.clone())).await?;
        assert!(body_of(response).await? == big, "the echo differs");
        Ok(())
    });
}

/// HTTP/2 bodies larger than the flow-control window (64 KiB by default), four at once.
#[test]
fn http2_moves_bodies_larger_than_its_window() {
    bounded(async {
        let (addr, _) = counting_server(true).await?;
        let client = http2_client(addr).await?;
        let requests: Vec<_> = (0..4u8)
            .map(|n| {
                let mut client = client.clone();
                looplet::spawn(async move {
                    let body = vec![n; 1 << 20];
                    let response = client.send_request(request("/echo", body.clone())).await?;
                    assert!(body_of(response).await? == body, "stream {n} differs");
                    Ok::<_, Error>(())
                })
            })
            .collect();
        for request in requests {
            request.await?;
        }
        Ok(())
    });
}

/// An HTTP/2 response body that is `!Send`, on looplet's executor (no `Send` bound).
#[test]
fn http2_streams_a_not_send_body() {
    bounded(async {
        let (addr, server) = first_connection(|stream| async move {
            let service = service_fn(|_req: Request<hyper::body::Incoming>| async {
                let marker = Rc::new(());
                let frames = futures_util::stream::iter(0..5).map(move |n| {
                    let _ = &marker;
                    Ok::<_, Infallible>(Frame::data(Bytes::from(format!("part {n};"))))
                });
                Ok::<_, Infallible>(Response::new(StreamBody::new(frames)))
            });
            hyper::server::conn::http2::Builder::new(looplet::compat::hyper::LoopletExecutor::new())
                .timer(LoopletTimer::new())
                .serve_connection(LoopletIo::new(stream), service)
                .await
                .unwrap();
        })
        .await?;
        server.detach();
        let mut client = http2_client(addr).await?;
        let response = client.send_request(request("/", "")).await?;
        let expected: String = (0..5).map(|n| format!("part {n};")).collect();
        assert_eq!(body_of(response).await?, expected.as_bytes());
        Ok(())
    });
}

/// A server's graceful shutdown ends its connection with `Ok`, on HTTP/1 and on HTTP/2 (where
/// the peer may be gone by the time the write side is shut down).
#[test]
fn graceful_shutdown_ends_cleanly_on_http1_and_http2() {
    for http2 in [false, true] {
        bounded(async move {
            let (stop, stopped) = looplet::sync::oneshot::channel::<()>();
            let (addr, server) = first_connection(move |stream| async move {
                let io = LoopletIo::new(stream);
                let service = service_fn(looplet_hyper_tests::hello_or_echo);
                if http2 {
                    let conn = hyper::server::conn::http2::Builder::new(
                        looplet::compat::hyper::LoopletExecutor::new(),
                    )
                    .timer(LoopletTimer::new())
                    .serve_connection(io, service);
                    let mut conn = std::pin::pin!(conn);
                    let _ = futures_util::future::select(conn.as_mut(), stopped).await;
                    conn.as_mut().graceful_shutdown();
                    conn.await
                } else {
                    let conn = hyper::server::conn::http1::Builder::new()
                        .timer(LoopletTimer::new())
                        .serve_connection(io, service);
                    let mut conn = std::pin::pin!(conn);
                    let _ = futures_util::future::select(conn.as_mut(), stopped).await;
                    conn.as_mut().graceful_shutdown();
                    conn.await
                }
            })
            .await?;
            if http2 {
                let mut client = http2_client(addr).await?;
                body_of(client.send_request(request("/", "")).await?).await?;
            } else {
                let mut client = http1_client(addr).await?;
                body_of(client.send_request(request("/", "")).await?).await?;
            }
            stop.send(()).unwrap();
            let result = server.await;
            assert!(result.is_ok(), "http2={http2}: {result:?}");
            Ok(())
        });
    }
}

/// A client that resets its connection (`SO_LINGER` 0) halfway through a request body: the
/// server's connection ends with an error, and the server goes on serving.
#[test]
fn a_reset_mid_body_ends_that_connection_only() {
    use futures_util::AsyncWriteExt;
    bounded(async {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let first = looplet::spawn(async move {
            let (stream, _) = listener.accept().await.unwrap();
            let result = serve_connection(stream, false).await;
            (listener, result)
        });
        let mut stream = TcpStream::connect(addr).await?;
        stream
            .write_all(b"POST /echo HTTP/1.1\r\nhost: x\r\ncontent-length: 100000\r\n\r\nsome")
            .await?;
        looplet::sleep(Duration::from_millis(20)).await;
        stream.set_linger(Some(Duration::ZERO))?;
        drop(stream);
        let (listener, result) = first.await;
        assert!(result.is_err(), "{result:?}");
        looplet::spawn(serve(listener, false)).detach();
        let mut client = http1_client(addr).await?;
        assert_eq!(
            body_of(client.send_request(request("/", "")).await?).await?,
            GREETING
        );
        Ok(())
    });
}
