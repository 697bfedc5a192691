//! The socket API tokio and smol users reach for: owned and borrowed halves, lines, address
//! arguments of every form, names resolved off the loop, Unix datagrams, std conversions and
//! socket options read back.

use std::io::{self, ErrorKind};
use std::net::{Ipv4Addr, Shutdown, SocketAddr};
use std::time::Duration;

use looplet::io::{BufReader, prelude::*};
use looplet::net::{
    TcpListener, TcpSocket, TcpStream, UdpSocket, UnixDatagram, UnixListener, UnixStream,
};

async fn within<T>(fut: impl std::future::Future<Output = T>) -> T {
    looplet::timeout(Duration::from_secs(20), fut)
        .await
        .expect("the operation did not finish in 20 s")
}

async fn tcp_pair() -> io::Result<(TcpStream, TcpStream)> {
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    let client = TcpStream::connect(listener.local_addr()?).await?;
    let (server, _) = listener.accept().await?;
    Ok((client, server))
}

/// Owned halves in two tasks: one reads, one writes; dropping the write half is the peer's
/// end of stream, while the read half still reads what the peer sends.
#[test]
fn owned_halves_in_two_tasks_and_a_dropped_write_half_is_eof() -> io::Result<()> {
    looplet::block_on(within(async {
        let (mut peer, stream) = tcp_pair().await?;
        let (mut reader, mut writer) = stream.into_split();
        let writing = looplet::spawn(async move {
            for i in 0..100u32 {
                writer.write_all(format!("{i}\n").as_bytes()).await?;
            }
            io::Result::Ok(()) // the write half drops here: shutdown(Write)
        });
        let reading = looplet::spawn(async move {
            let mut got = Vec::new();
            reader.read_to_end(&mut got).await?;
            io::Result::Ok(got)
        });
        let mut from_writer = String::new();
        peer.read_to_string(&mut from_writer).await?; // ends: the write half was dropped
        let expected: String = (0..100u32).map(|i| format!("{i}\n")).collect();
        assert_eq!(from_writer, expected);
        writing.await?;
        peer.write_all(b"the read half still reads").await?;
        peer.shutdown(Shutdown::Write)?;
        assert_eq!(reading.await?, b"the read half still reads");
        io::Result::Ok(())
    }))
}

#[test]
fn unix_owned_halves_reunite_and_forget() -> io::Result<()> {
    looplet::block_on(within(async {
        let (a, mut b) = UnixStream::pair()?;
        let (reader, writer) = a.into_split();
        let (other, _other_peer) = UnixStream::pair()?;
        let (other_reader, other_writer) = other.into_split();
        let err = reader.reunite(other_writer).unwrap_err();
        let looplet::net::ReuniteError(reader, other_writer) = err;
        drop((other_reader, other_writer));
        let mut whole = reader.reunite(writer).expect("halves of one stream");
        whole.write_all(b"whole again").await?;
        let mut buf = [0; 11];
        b.read_exact(&mut buf).await?;
        assert_eq!(&buf, b"whole again");
        // forget: the write side stays open while the read half lives.
        let (reader, writer) = whole.into_split();
        writer.forget();
        b.write_all(b"x").await?;
        let mut one = [0; 1];
        reader.as_ref().read_exact(&mut one).await?;
        reader.as_ref().write_all(b"still open").await?;
        let mut buf = [0; 10];
        b.read_exact(&mut buf).await?;
        assert_eq!(&buf, b"still open");
        io::Result::Ok(())
    }))
}

#[test]
fn borrowed_halves_join_in_one_task() -> io::Result<()> {
    looplet::block_on(within(async {
        let (mut peer, stream) = tcp_pair().await?;
        let (mut reader, mut writer) = stream.split_ref();
        let echo = async {
            let mut buf = [0; 5];
            reader.read_exact(&mut buf).await?;
            writer.write_all(&buf).await?;
            io::Result::Ok(())
        };
        let client = async {
            peer.write_all(b"hello").await?;
            let mut back = [0; 5];
            peer.read_exact(&mut back).await?;
            io::Result::Ok(back)
        };
        let (echoed, back) = futures_util::join!(echo, client);
        echoed?;
        assert_eq!(&back?, b"hello");
        let _ = writer; // a borrowed half shuts nothing down when it goes
        stream.peer_addr()?;
        io::Result::Ok(())
    }))
}

#[test]
fn buf_reader_lines_over_a_socket() -> io::Result<()> {
    looplet::block_on(within(async {
        let (mut peer, stream) = tcp_pair().await?;
        let writer = looplet::spawn(async move {
            for i in 0..1000 {
                peer.write_all(format!("line {i}\n").as_bytes()).await?;
            }
            io::Result::Ok(())
        });
        let mut lines = BufReader::new(stream).lines();
        let mut n = 0;
        while let Some(line) = lines.next().await {
            assert_eq!(line?, format!("line {n}"));
            n += 1;
        }
        assert_eq!(n, 1000);
        writer.await
    }))
}

/// Every form of address std's connect takes, and a name, resolved off the loop.
#[test]
fn addresses_as_strings_tuples_and_names() -> io::Result<()> {
    looplet::block_on(within(async {
        let listener = TcpListener::bind(("127.0.0.1", 0)).await?;
        let port = listener.local_addr()?.port();
        let accepting = looplet::spawn(async move {
            for _ in 0..6 {
                listener.accept().await?;
            }
            io::Result::Ok(())
        });
        TcpStream::connect(format!("127.0.0.1:{port}")).await?;
        TcpStream::connect(("127.0.0.1", port)).await?;
        TcpStream::connect((Ipv4Addr::LOCALHOST, port)).await?;
        TcpStream::connect(SocketAddr::from(([127, 0, 0, 1], port))).await?;
        let addrs = [SocketAddr::from(([127, 0, 0, 1], port))];
        TcpStream::connect(&addrs[..]).await?;
        // A name: the resolver runs on the pool while the loop runs a ticker.
        let ticks = std::rc::Rc::new(std::cell::Cell::new(0));
        let t = ticks.clone();
        let ticker = looplet::spawn(async move {
            loop {
                t.set(t.get() + 1);
                looplet::yield_now().await;
            }
        });
        let by_name = TcpStream::connect(("localhost", port)).await;
        drop(ticker);
        let by_name = match by_name {
            Ok(stream) => stream,
            // localhost may name ::1 first where the listener is IPv4 only: try the v4 name.
            Err(_) => TcpStream::connect(format!("127.0.0.1:{port}")).await?,
        };
        assert!(by_name.peer_addr()?.ip().is_loopback());
        accepting.await?;

        let resolved = looplet::net::lookup_host(("localhost", 80)).await?;
        assert!(
            resolved
                .iter()
                .all(|a| a.ip().is_loopback() && a.port() == 80)
        );
        let err = looplet::net::lookup_host("no port here").await.unwrap_err();
        assert!(
            matches!(err.kind(), ErrorKind::InvalidInput | ErrorKind::Other),
            "{err}"
        );
        let err = looplet::net::lookup_host("nonexistent.invalid:80").await;
        assert!(err.is_err(), "a name under .invalid never resolves");

        let udp = UdpSocket::bind(("127.0.0.1", 0)).await?;
        let other = UdpSocket::bind("127.0.0.1:0").await?;
        let to = other.local_addr()?;
        udp.send_to(b"a", to).await?;
        udp.send_to(b"b", ("127.0.0.1", to.port())).await?;
        udp.send_to(b"c", format!("127.0.0.1:{}", to.port()))
            .await?;
        let mut buf = [0; 1];
        for want in [b"a", b"b", b"c"] {
            other.recv_from(&mut buf).await?;
            assert_eq!(&buf, want);
        }
        udp.connect(("127.0.0.1", to.port())).await?;
        assert_eq!(udp.peer_addr()?, to);
        io::Result::Ok(())
    }))
}

#[test]
fn unix_datagrams_round_trip() -> io::Result<()> {
    let dir = std::env::temp_dir().join(format!("looplet-test-ud-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    let path = dir.join("server");
    let _ = std::fs::remove_file(&path);
    let result = looplet::block_on(within(async {
        let (a, b) = UnixDatagram::pair()?;
        a.send(b"whole message").await?;
        let mut small = [0; 5];
        assert_eq!(
            b.recv(&mut small).await?,
            5,
            "a longer datagram is truncated"
        );
        let server = UnixDatagram::bind(&path)?;
        let client = UnixDatagram::bind(dir.join("client"))?;
        client.send_to(b"ping", &path).await?;
        let mut buf = [0; 16];
        let (n, from) = server.recv_from(&mut buf).await?;
        assert_eq!(&buf[..n], b"ping");
        let reply_to = from
            .as_pathname()
            .expect("the client is bound")
            .to_path_buf();
        server.send_to(b"pong", &reply_to).await?;
        let n = client.recv(&mut buf).await?;
        assert_eq!(&buf[..n], b"pong");
        // Many datagrams, each kept whole and in order.
        let sender = UnixDatagram::unbound()?;
        sender.connect(&path)?;
        for i in 0..100u8 {
            sender.send(&[i; 3]).await?;
            let n = server.recv(&mut buf).await?;
            assert_eq!(&buf[..n], &[i; 3]);
        }
        io::Result::Ok(())
    }));
    std::fs::remove_dir_all(&dir)?;
    result
}

/// Every socket type converts to and from its std twin, and implements AsFd/AsRawFd.
#[test]
fn std_conversions_for_every_socket_type() -> io::Result<()> {
    use std::os::fd::{AsFd, AsRawFd};
    fn fds(x: &(impl AsFd + AsRawFd)) -> bool {
        x.as_fd().as_raw_fd() == x.as_raw_fd()
    }
    looplet::block_on(within(async {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        assert!(fds(&listener));
        let listener = TcpListener::from_std(listener.into_std()?)?;
        let (client, server) = tcp_pair().await?;
        assert!(fds(&client));
        let client = TcpStream::from_std(client.into_std()?)?;
        let mut server = TcpStream::from_std(server.into_std()?)?;
        (&client)
            .write_all(b"after a round trip through std")
            .await?;
        let mut buf = [0; 30];
        server.read_exact(&mut buf).await?;
        let udp = UdpSocket::from_std(UdpSocket::bind("127.0.0.1:0").await?.into_std()?)?;
        assert!(fds(&udp));
        let (a, b) = UnixStream::pair()?;
        let a = UnixStream::from_std(a.into_std()?)?;
        assert!(fds(&a) && fds(&b));
        let (d, _e) = UnixDatagram::pair()?;
        let d = UnixDatagram::from_std(d.into_std()?)?;
        assert!(fds(&d));
        let dir = std::env::temp_dir().join(format!("looplet-test-ul-{}", std::process::id()));
        std::fs::create_dir_all(&dir)?;
        let path = dir.join("l");
        let _ = std::fs::remove_file(&path);
        let unix = UnixListener::from_std(UnixListener::bind(&path)?.into_std()?)?;
        assert!(fds(&unix));
        std::fs::remove_dir_all(&dir)?;
        drop(listener);
        io::Result::Ok(())
    }))
}

/// Each option set is read back with its getter.
#[test]
fn socket_options_read_back() -> io::Result<()> {
    looplet::block_on(within(async {
        let (client, _server) = tcp_pair().await?;
        client.set_nodelay(true)?;
        assert!(client.nodelay()?);
        client.set_ttl(17)?;
        assert_eq!(client.ttl()?, 17);
        client.set_linger(Some(Duration::from_secs(3)))?;
        assert_eq!(client.linger()?, Some(Duration::from_secs(3)));
        client.set_linger(None)?;
        assert_eq!(client.linger()?, None);
        client.set_keepalive(Some(Duration::from_secs(75)))?;
        assert_eq!(client.keepalive()?, Some(Duration::from_secs(75)));
        client.set_keepalive(None)?;
        assert_eq!(client.keepalive()?, None);
        client.set_recv_buffer_size(100_000)?;
        assert!(client.recv_buffer_size()? >= 100_000);
        client.set_send_buffer_size(100_000)?;
        assert!(client.send_buffer_size()? >= 100_000);

        let listener = TcpListener::bind("127.0.0.1:0").await?;
        listener.set_ttl(9)?;
        assert_eq!(listener.ttl()?, 9);

        let socket = TcpSocket::new_v4()?;
        socket.set_reuseaddr(true)?;
        assert!(socket.reuseaddr()?);
        socket.set_reuseport(true)?;
        assert!(socket.reuseport()?);
        socket.set_nodelay(true)?;
        assert!(socket.nodelay()?);
        socket.set_recv_buffer_size(50_000)?;
        assert!(socket.recv_buffer_size()? >= 50_000);
        socket.set_send_buffer_size(50_000)?;
        assert!(socket.send_buffer_size()? >= 50_000);
        socket.set_keepalive(Some(Duration::from_secs(30)))?;
        socket.set_linger(Some(Duration::ZERO))?;
        socket.bind("127.0.0.1:0".parse().unwrap())?;
        let addr = socket.local_addr()?;
        let second = TcpSocket::new_for(&addr)?;
        second.set_reuseport(true)?;
        second.bind(addr)?;
        let (first, second) = (socket.listen(16)?, second.listen(16)?);
        assert_eq!(first.local_addr()?, second.local_addr()?);

        let udp = UdpSocket::bind("0.0.0.0:0").await?;
        udp.set_ttl(5)?;
        assert_eq!(udp.ttl()?, 5);
        udp.set_broadcast(true)?;
        assert!(udp.broadcast()?);
        udp.set_multicast_loop_v4(false)?;
        assert!(!udp.multicast_loop_v4()?);
        udp.set_multicast_ttl_v4(4)?;
        assert_eq!(udp.multicast_ttl_v4()?, 4);
        udp.set_recv_buffer_size(80_000)?;
        assert!(udp.recv_buffer_size()? >= 80_000);
        udp.set_send_buffer_size(80_000)?;
        assert!(udp.send_buffer_size()? >= 80_000);
        let group = Ipv4Addr::new(239, 1, 2, 3);
        udp.join_multicast_v4(group, Ipv4Addr::LOCALHOST)?;
        udp.leave_multicast_v4(group, Ipv4Addr::LOCALHOST)?;
        io::Result::Ok(())
    }))
}

/// A multicast datagram to a group joined on loopback comes back to the member.
#[test]
fn udp_multicast_on_loopback() -> io::Result<()> {
    looplet::block_on(within(async {
        let group = Ipv4Addr::new(239, 255, 77, 1);
        let member = UdpSocket::bind("0.0.0.0:0").await?;
        member.join_multicast_v4(group, Ipv4Addr::LOCALHOST)?;
        let port = member.local_addr()?.port();
        let sender = UdpSocket::bind("127.0.0.1:0").await?;
        sender.set_multicast_loop_v4(true)?;
        // IP_MULTICAST_IF: send the group's datagrams out of loopback.
        socket2::SockRef::from(&sender).set_multicast_if_v4(&Ipv4Addr::LOCALHOST)?;
        sender.send_to(b"to the group", (group, port)).await?;
        let mut buf = [0; 32];
        let (n, _) = member.recv_from(&mut buf).await?;
        assert_eq!(&buf[..n], b"to the group");
        io::Result::Ok(())
    }))
}

#[test]
fn peek_leaves_the_bytes_queued() -> io::Result<()> {
    looplet::block_on(within(async {
        let (mut client, server) = tcp_pair().await?;
        client.write_all(b"look").await?;
        let mut buf = [0; 4];
        let mut seen = 0;
        while seen < 4 {
            seen = server.peek(&mut buf).await?;
        }
        let mut again = [0; 4];
        (&server).read_exact(&mut again).await?;
        assert_eq!((&buf, &again), (b"look", b"look"));
        io::Result::Ok(())
    }))
}
