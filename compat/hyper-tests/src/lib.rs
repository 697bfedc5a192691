//! hyper on looplet, through `looplet::compat::hyper`: what the examples and tests share.
//!
//! [`serve`] is an HTTP/1 or HTTP/2 server whose service answers `GET /` with a greeting
//! and echoes the body of a request to `/echo`; [`http1_client`] and [`http2_client`] open a
//! client connection and drive it in a looplet task.

use std::convert::Infallible;
use std::io;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper::{Request, Response};
use looplet::compat::hyper::{LoopletExecutor, LoopletIo, LoopletTimer};
use looplet::net::{TcpListener, TcpStream, ToSocketAddrs};

/// What `GET /` answers.
pub const GREETING: &[u8] = b"hello, world\n";

/// A boxed error, for the examples' and tests' `?`.
pub type Error = Box<dyn std::error::Error>;

/// The servers' command line: `--port N` (the example's default otherwise) and
/// `--self-test` (serve on a free port, check itself, exit).
pub struct Args {
    /// Where to serve (127.0.0.1).
    pub port: u16,
    /// Serve on a free port, check the example against itself, and exit.
    pub self_test: bool,
}

impl Args {
    /// Reads the command line; any other argument is an error.
    pub fn parse(default_port: u16) -> Result<Args, Error> {
        let mut parsed = Args {
            port: default_port,
            self_test: false,
        };
        let mut args = std::env::args().skip(1);
        while let Some(arg) = args.next() {
            match arg.as_str() {
                "--port" => parsed.port = args.next().ok_or("--port needs a value")?.parse()?,
                "--self-test" => parsed.self_test = true,
                other => {
                    return Err(
                        format!("unknown argument {other:?} (try --port N, --self-test)").into(),
                    );
                }
            }
        }
        Ok(parsed)
    }

    /// The listener to serve on: 127.0.0.1 at `--port`, or a free port for `--self-test`.
    pub async fn bind(&self) -> io::Result<TcpListener> {
        TcpListener::bind(("127.0.0.1", if self.self_test { 0 } else { self.port })).await
    }
}

/// The service: `/echo` answers with the request's body, anything else with [`GREETING`].
pub async fn hello_or_echo(req: Request<Incoming>) -> Result<Response<Full<Bytes>>, hyper::Error> {
    if req.uri().path() == "/echo" {
        let body = req.into_body().collect().await?.to_bytes();
        return Ok(Response::new(Full::new(body)));
    }
    Ok(Response::new(Full::new(Bytes::from_static(GREETING))))
}

/// Serves one connection with [`hello_or_echo`], HTTP/2 if `http2`, until the peer goes.
pub async fn serve_connection(stream: TcpStream, http2: bool) -> Result<(), hyper::Error> {
    let io = LoopletIo::new(stream);
    let service = service_fn(hello_or_echo);
    if http2 {
        hyper::server::conn::http2::Builder::new(LoopletExecutor::new())
            .timer(LoopletTimer::new())
            .serve_connection(io, service)
            .await
    } else {
        hyper::server::conn::http1::Builder::new()
            .timer(LoopletTimer::new())
            .serve_connection(io, service)
            .await
    }
}

/// Accepts connections for ever, each served by [`serve_connection`] in a task of its own.
pub async fn serve(listener: TcpListener, http2: bool) -> io::Result<Infallible> {
    loop {
        let (stream, _) = listener.accept().await?;
        looplet::spawn(async move {
            let _ = serve_connection(stream, http2).await;
        })
        .detach();
    }
}

/// An HTTP/1 client connection to `addr`, its connection driven by a looplet task.
pub async fn http1_client(
    addr: impl ToSocketAddrs,
) -> Result<hyper::client::conn::http1::SendRequest<Full<Bytes>>, Error> {
    let stream = TcpStream::connect(addr).await?;
    let (sender, connection) =
        hyper::client::conn::http1::handshake(LoopletIo::new(stream)).await?;
    looplet::spawn(async move {
        let _ = connection.await;
    })
    .detach();
    Ok(sender)
}

/// An HTTP/2 client connection to `addr` (prior knowledge, no TLS), driven by a looplet task.
pub async fn http2_client(
    addr: impl ToSocketAddrs,
) -> Result<hyper::client::conn::http2::SendRequest<Full<Bytes>>, Error> {
    let stream = TcpStream::connect(addr).await?;
    let (sender, connection) = hyper::client::conn::http2::Builder::new(LoopletExecutor::new())
        .timer(LoopletTimer::new())
        .handshake(LoopletIo::new(stream))
        .await?;
    looplet::spawn(async move {
        let _ = connection.await;
    })
    .detach();
    Ok(sender)
}

/// A request to `path` with `body` (`GET` if it is empty, else `POST`).
pub fn request(path: &str, body: impl Into<Bytes>) -> Request<Full<Bytes>> {
    let body = body.into();
    let method = if body.is_empty() { "GET" } else { "POST" };
    Request::builder()
        .method(method)
        .uri(path)
        .header("host", "localhost")
        .body(Full::new(body))
        .expect("a valid request")
}

/// The whole body of a response.
pub async fn body_of(response: Response<Incoming>) -> Result<Bytes, hyper::Error> {
    Ok(response.into_body().collect().await?.to_bytes())
}
