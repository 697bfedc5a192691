//! A hyper HTTP/1 server on looplet: `GET /` says hello (keep-alive), `/echo` sends the
//! request's body back.
//!
//! ```text
//! cargo run --release -p looplet-hyper-tests --example http_server -- --port 3000
//! curl http://127.0.0.1:3000/ ; curl --data-binary @Cargo.toml http://127.0.0.1:3000/echo
//! cargo run -p looplet-hyper-tests --example http_server -- --self-test   # what CI runs
//! ```
//!
//! `--self-test` serves on a free port, sends itself 100 keep-alive requests and a 1 MiB
//! echo through a hyper client, checks every byte, and exits (non-zero on any mismatch).

use looplet_hyper_tests::{Args, Error, GREETING, body_of, http1_client, request, serve};

fn main() -> Result<(), Error> {
    let args = Args::parse(3000)?;
    looplet::block_on(async move {
        let listener = args.bind().await?;
        let addr = listener.local_addr()?;
        if !args.self_test {
            println!("serving on http://{addr}/ (and /echo)");
            serve(listener, false).await?;
            return Ok(());
        }
        looplet::spawn(serve(listener, false)).detach();
        let mut client = http1_client(addr).await?;
        for _ in 0..100 {
            let response = client.send_request(request("/", "")).await?;
            if body_of(response).await? != GREETING {
                return Err("a wrong greeting".into());
            }
        }
        let big: Vec<u8> = (0..1 << 20).map(|i: u32| (i % 251) as u8).collect();
        let response = client.send_request(request("/echo", big.clone())).await?;
        if body_of(response).await? != big {
            return Err("the 1 MiB echo came back wrong".into());
        }
        println!("self-test: 100 keep-alive requests and a 1 MiB echo on {addr}: ok");
        Ok(())
    })
}
