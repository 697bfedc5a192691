//! A TLS echo server on looplet, with futures-rustls over looplet's `TcpStream` and a
//! self-signed certificate made at run time (rcgen).
//!
//! ```text
//! cargo run -p looplet-hyper-tests --example tls_echo -- --port 8443   # prints its certificate
//! cargo run -p looplet-hyper-tests --example tls_echo -- --self-test     # what CI runs
//! ```
//!
//! `--self-test` serves on a free port and connects 10 clients that trust only that
//! certificate; each writes 256 KiB in uneven pieces and reads back the echo, every byte
//! checked; then it exits (non-zero on a mismatch or a handshake failure).

use std::sync::Arc;

use futures_rustls::rustls::pki_types::{
    CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer, ServerName,
};
use futures_rustls::rustls::{self, ClientConfig, RootCertStore, ServerConfig};
use futures_rustls::{TlsAcceptor, TlsConnector};
use futures_util::{AsyncReadExt, AsyncWriteExt};
use looplet::net::{TcpListener, TcpStream};
use looplet_hyper_tests::{Args, Error};

fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// A certificate for `localhost` and its key, made now.
fn certificate() -> Result<(CertificateDer<'static>, PrivateKeyDer<'static>, String), Error> {
    let made = rcgen::generate_simple_self_signed(vec!["localhost".to_string()])?;
    let pem = made.cert.pem();
    let key = PrivatePkcs8KeyDer::from(made.signing_key.serialize_der());
    Ok((made.cert.der().clone(), key.into(), pem))
}

async fn serve(listener: TcpListener, acceptor: TlsAcceptor) -> Result<(), Error> {
    loop {
        let (stream, _) = listener.accept().await?;
        let acceptor = acceptor.clone();
        looplet::spawn(async move {
            let echo = async {
                let tls = acceptor.accept(stream).await?;
                let (mut reader, mut writer) = tls.split();
                futures_util::io::copy(&mut reader, &mut writer).await?;
                writer.close().await?;
                std::io::Result::Ok(())
            };
            if let Err(err) = echo.await {
                eprintln!("connection: {err}");
            }
        })
        .detach();
    }
}

async fn client(
    addr: std::net::SocketAddr,
    connector: TlsConnector,
    n: usize,
) -> Result<(), Error> {
    let stream = TcpStream::connect(addr).await?;
    let tls = connector
        .connect(ServerName::try_from("localhost")?, stream)
        .await?;
    let (mut reader, mut writer) = tls.split();
    let data: Vec<u8> = (0..256 * 1024).map(|i| (i * 7 + n) as u8).collect();
    let sent = data.clone();
    let writing = looplet::spawn(async move {
        for piece in sent.chunks(1000 + n * 37) {
            writer.write_all(piece).await?;
        }
        writer.close().await?;
        std::io::Result::Ok(())
    });
    let mut back = Vec::new();
    reader.read_to_end(&mut back).await?;
    writing.await?;
    if back != data {
        return Err(format!(
            "client {n}: the echo differs ({} of {} bytes)",
            back.len(),
            data.len()
        )
        .into());
    }
    Ok(())
}

fn main() -> Result<(), Error> {
    let args = Args::parse(8443)?;
    let (cert, key, pem) = certificate()?;
    let server = ServerConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()?
        .with_no_client_auth()
        .with_single_cert(vec![cert.clone()], key)?;
    let acceptor = TlsAcceptor::from(Arc::new(server));
    looplet::block_on(async move {
        let listener = args.bind().await?;
        let addr = listener.local_addr()?;
        if !args.self_test {
            println!("TLS echo on {addr} (name: localhost), certificate:\n{pem}");
            return serve(listener, acceptor).await;
        }
        looplet::spawn(serve(listener, acceptor)).detach();
        let mut roots = RootCertStore::empty();
        roots.add(cert)?;
        let config = ClientConfig::builder_with_provider(provider())
            .with_safe_default_protocol_versions()?
            .with_root_certificates(roots)
            .with_no_client_auth();
        let connector = TlsConnector::from(Arc::new(config));
        let clients: Vec<_> = (0..10)
            .map(|n| looplet::spawn(client(addr, connector.clone(), n)))
            .collect();
        for c in clients {
            c.await?;
        }
        println!("self-test: 10 TLS clients x 256 KiB echoed on {addr}: ok");
        Ok(())
    })
}
