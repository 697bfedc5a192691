//! A hyper client on looplet: fetches a path over HTTP/1 and prints the status and body.
//!
//! ```text
//! cargo run -p looplet-hyper-tests --example http_client -- --addr 127.0.0.1:3000 --path /
//! cargo run -p looplet-hyper-tests --example http_client -- --self-test   # what CI runs
//! ```
//!
//! `--self-test` starts an HTTP/2 server on a free port in the same loop and fetches from it
//! over HTTP/2 as well, 100 requests at once on one connection.

use looplet::net::TcpListener;
use looplet_hyper_tests::{Error, GREETING, body_of, http1_client, http2_client, request, serve};

fn main() -> Result<(), Error> {
    let mut addr = String::from("127.0.0.1:3000");
    let mut path = String::from("/");
    let mut self_test = false;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--addr" => addr = args.next().ok_or("--addr needs a value")?,
            "--path" => path = args.next().ok_or("--path needs a value")?,
            "--self-test" => self_test = true,
            other => return Err(format!("unknown argument {other:?}").into()),
        }
    }
    looplet::block_on(async move {
        if !self_test {
            let mut client = http1_client(addr.as_str()).await?;
            let response = client.send_request(request(&path, "")).await?;
            println!("{}", response.status());
            let body = body_of(response).await?;
            print!("{}", String::from_utf8_lossy(&body));
            return Ok(());
        }
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        looplet::spawn(serve(listener, true)).detach();
        let client = http2_client(addr).await?;
        let requests: Vec<_> = (0..100)
            .map(|_| {
                let mut client = client.clone();
                looplet::spawn(async move {
                    let response = client.send_request(request("/", "")).await?;
                    Ok::<_, hyper::Error>(body_of(response).await? == GREETING)
                })
            })
            .collect();
        for request in requests {
            if !request.await? {
                return Err("a wrong greeting".into());
            }
        }
        println!("self-test: 100 multiplexed HTTP/2 requests on {addr}: ok");
        Ok(())
    })
}
