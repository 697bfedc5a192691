//! An axum `Router` served by hyper on looplet, and the pattern that lets axum's `Send`
//! handlers use looplet's `!Send` world: spawn that part with `looplet::spawn` and await the
//! `Task` (which is `Send` when its output is).
//!
//! ```text
//! cargo run -p looplet-hyper-tests --example axum_server -- --port 3000
//! curl http://127.0.0.1:3000/ ; curl http://127.0.0.1:3000/visits
//! cargo run -p looplet-hyper-tests --example axum_server -- --self-test   # what CI runs
//! ```
//!
//! axum wants every handler's future to be `Send`, so a handler cannot hold a looplet sleep,
//! socket or `Rc` across an `.await`. `/visits` does: its work (an `Rc<RefCell<..>>` shared
//! by the loop, and a looplet sleep) runs in a looplet task, and the handler only awaits the
//! task's `String`. axum's own `serve` needs tokio; here each connection is served by hyper
//! through `looplet::compat::hyper`, with the router wrapped by hyper-util's
//! `TowerToHyperService`.

use std::cell::RefCell;
use std::rc::Rc;
use std::time::Duration;

use axum::Router;
use axum::routing::get;
use hyper_util::service::TowerToHyperService;
use looplet::compat::hyper::{LoopletIo, LoopletTimer};
use looplet::net::TcpListener;
use looplet_hyper_tests::{Args, Error, body_of, http1_client, request};

thread_local! {
    /// The loop's own state: `!Send`, never seen by axum's `Send` futures.
    static VISITS: Rc<RefCell<Vec<String>>> = Rc::new(RefCell::new(Vec::new()));
}

/// A handler whose work is `!Send`: it runs in a looplet task; the handler awaits its output.
async fn visits() -> String {
    looplet::spawn(async {
        let visits = VISITS.with(Rc::clone);
        looplet::sleep(Duration::from_millis(1)).await; // a looplet timer: !Send
        let mut visits = visits.borrow_mut();
        let next = format!("visit {}", visits.len() + 1);
        visits.push(next);
        format!(
            "{} visits so far, the last: {}\n",
            visits.len(),
            visits[visits.len() - 1]
        )
    })
    .await
}

fn app() -> Router {
    Router::new()
        .route("/", get(|| async { "hello from axum on looplet\n" }))
        .route("/visits", get(visits))
}

async fn serve(listener: TcpListener) -> Result<(), Error> {
    let app = app();
    loop {
        let (stream, _) = listener.accept().await?;
        let service = TowerToHyperService::new(app.clone());
        looplet::spawn(async move {
            let _ = hyper::server::conn::http1::Builder::new()
                .timer(LoopletTimer::new())
                .serve_connection(LoopletIo::new(stream), service)
                .await;
        })
        .detach();
    }
}

fn main() -> Result<(), Error> {
    let args = Args::parse(3000)?;
    looplet::block_on(async move {
        let listener = args.bind().await?;
        let addr = listener.local_addr()?;
        if !args.self_test {
            println!("axum on http://{addr}/ (and /visits)");
            return serve(listener).await;
        }
        looplet::spawn(serve(listener)).detach();
        let mut client = http1_client(addr).await?;
        let hello = body_of(client.send_request(request("/", "")).await?).await?;
        if hello.as_ref() != b"hello from axum on looplet\n" {
            return Err(format!("/ said {hello:?}").into());
        }
        for n in 1..=3 {
            let body = body_of(client.send_request(request("/visits", "")).await?).await?;
            let expected = format!("{n} visits so far, the last: visit {n}\n");
            if body.as_ref() != expected.as_bytes() {
                return Err(format!("/visits said {body:?}, not {expected:?}").into());
            }
        }
        println!("self-test: axum's / and three /visits on {addr}: ok");
        Ok(())
    })
}
