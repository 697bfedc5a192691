//! A websocket echo server on looplet, with async-tungstenite over looplet's `TcpStream`
//! (futures-io: no adapter needed).
//!
//! ```text
//! cargo run -p looplet-hyper-tests --example websocket_echo -- --port 9001
//! cargo run -p looplet-hyper-tests --example websocket_echo -- --self-test   # what CI runs
//! ```
//!
//! `--self-test` serves on a free port, connects 20 clients at once, each sending 50 text and
//! 50 binary messages, checks every echo, closes cleanly, and exits (non-zero on a mismatch).

use async_tungstenite::tungstenite::Message;
use futures_util::StreamExt;
use looplet::net::{TcpListener, TcpStream};
use looplet_hyper_tests::{Args, Error};

/// Echoes every text and binary message until the client closes.
async fn echo(stream: TcpStream) -> Result<(), Error> {
    let mut ws = async_tungstenite::accept_async(stream).await?;
    while let Some(message) = ws.next().await {
        let message = message?;
        if message.is_text() || message.is_binary() {
            ws.send(message).await?;
        }
    }
    Ok(())
}

async fn serve(listener: TcpListener) -> Result<(), Error> {
    loop {
        let (stream, _) = listener.accept().await?;
        looplet::spawn(async move {
            if let Err(err) = echo(stream).await {
                eprintln!("connection: {err}");
            }
        })
        .detach();
    }
}

async fn client(addr: std::net::SocketAddr, n: usize) -> Result<(), Error> {
    let stream = TcpStream::connect(addr).await?;
    let (mut ws, _) = async_tungstenite::client_async(format!("ws://{addr}/"), stream).await?;
    for i in 0..50 {
        let text = format!("client {n} message {i}");
        ws.send(Message::text(text.clone())).await?;
        let back = ws.next().await.ok_or("closed early")??;
        if back.into_text()?.as_str() != text {
            return Err("a text echo differs".into());
        }
        let bytes: Vec<u8> = (0..(i * 97 + n) % 4096).map(|b| b as u8).collect();
        ws.send(Message::binary(bytes.clone())).await?;
        let back = ws.next().await.ok_or("closed early")??;
        if back.into_data().as_ref() != bytes.as_slice() {
            return Err("a binary echo differs".into());
        }
    }
    ws.close(None).await?;
    Ok(())
}

fn main() -> Result<(), Error> {
    let args = Args::parse(9001)?;
    looplet::block_on(async move {
        let listener = args.bind().await?;
        let addr = listener.local_addr()?;
        if !args.self_test {
            println!("websocket echo on ws://{addr}/");
            return serve(listener).await;
        }
        looplet::spawn(serve(listener)).detach();
        let clients: Vec<_> = (0..20).map(|n| looplet::spawn(client(addr, n))).collect();
        for c in clients {
            c.await?;
        }
        println!("self-test: 20 websocket clients x 100 messages echoed on {addr}: ok");
        Ok(())
    })
}
