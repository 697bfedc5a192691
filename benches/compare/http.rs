//! One hyper HTTP/1 hello-world server, on looplet, tokio or smol, for an outside load
//! generator (wrk) to measure: `benches/http.sh` drives it.
//!
//! ```text
//! cargo bench -p looplet-bench --bench http -- looplet 8080   # or tokio, or smol
//! ```
//!
//! Each runtime runs single-threaded with its own hyper glue: looplet through
//! `looplet::compat::hyper` (`LoopletIo`), tokio's current-thread runtime with a `LocalSet`
//! through hyper-util's `TokioIo`, smol's `LocalExecutor` through smol-hyper's `FuturesIo`
//! over `smol::Async<TcpStream>`. The service is the same function, the response the same
//! 13 bytes, keep-alive on; no timer is configured for any of them.

use std::convert::Infallible;
use std::net::SocketAddr;

use bytes::Bytes;
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper::{Request, Response};

async fn hello(_req: Request<Incoming>) -> Result<Response<Full<Bytes>>, Infallible> {
    Ok(Response::new(Full::new(Bytes::from_static(
        b"hello, world\n",
    ))))
}

fn http1() -> hyper::server::conn::http1::Builder {
    hyper::server::conn::http1::Builder::new()
}

fn looplet_server(addr: SocketAddr) {
    use looplet::compat::hyper::LoopletIo;
    looplet::block_on(async move {
        let listener = looplet::net::TcpListener::bind(addr).await.unwrap();
        loop {
            let (stream, _) = listener.accept().await.unwrap();
            stream.set_nodelay(true).unwrap();
            looplet::spawn(async move {
                let _ = http1()
                    .serve_connection(LoopletIo::new(stream), service_fn(hello))
                    .await;
            })
            .detach();
        }
    })
}

fn tokio_server(addr: SocketAddr) {
    use hyper_util::rt::TokioIo;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let local = tokio::task::LocalSet::new();
    local.block_on(&runtime, async move {
        let listener = tokio::net::TcpListener::bind(addr).await.unwrap();
        loop {
            let (stream, _) = listener.accept().await.unwrap();
            stream.set_nodelay(true).unwrap();
            tokio::task::spawn_local(async move {
                let _ = http1()
                    .serve_connection(TokioIo::new(stream), service_fn(hello))
                    .await;
            });
        }
    })
}

fn smol_server(addr: SocketAddr) {
    use smol_hyper::rt::FuturesIo;
    let ex = smol::LocalExecutor::new();
    smol::block_on(ex.run(async {
        let listener = smol::Async::<std::net::TcpListener>::bind(addr).unwrap();
        loop {
            let (stream, _) = listener.accept().await.unwrap();
            stream.get_ref().set_nodelay(true).unwrap();
            ex.spawn(async move {
                let _ = http1()
                    .serve_connection(FuturesIo::new(stream), service_fn(hello))
                    .await;
            })
            .detach();
        }
    }))
}

fn main() {
    // `cargo bench` passes `--bench`; skip flags.
    let args: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with("--"))
        .collect();
    let runtime = args.first().map(String::as_str).unwrap_or("looplet");
    let port: u16 = args
        .get(1)
        .map_or(8080, |p| p.parse().expect("a port number"));
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    eprintln!("{runtime} serving http://{addr}/");
    match runtime {
        "looplet" => looplet_server(addr),
        "tokio" => tokio_server(addr),
        "smol" => smol_server(addr),
        other => panic!("unknown runtime {other:?}: looplet, tokio or smol"),
    }
}
