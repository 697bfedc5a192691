//! The short-transfer rule sees exactly what the kernel did: vectored transfers past the
//! kernel's slice limit, `T`s whose `write_vectored` writes one slice, packet-mode pipes,
//! and files wrapped twice. (Each case hung, or failed, before.)

use std::io::{self, IoSlice, IoSliceMut, Write};
use std::os::fd::{AsFd, BorrowedFd};
use std::task::Context;
use std::time::Duration;

use looplet::Async;
use looplet::io::prelude::*;
use looplet::net::{TcpListener, TcpStream};

async fn within<T>(what: &str, fut: impl std::future::Future<Output = T>) -> T {
    match looplet::timeout(Duration::from_secs(10), fut).await {
        Ok(out) => out,
        Err(_) => panic!("{what} hung (10 s)"),
    }
}

/// Registers `a` with the loop and lets it see its first events, so that later waits are for
/// fresh edges (the case where a wrong "drained" or "full" guess hangs).
async fn registered<T: AsFd>(a: &Async<T>) {
    let mut cx = Context::from_waker(std::task::Waker::noop());
    let _ = a.poll_readable(&mut cx);
    let _ = a.poll_readable(&mut cx);
    looplet::sleep(Duration::from_millis(5)).await;
}

/// 2,000 one-byte slices: readv takes 1,024. The read is "short" against all 2,000 but not
/// against what the kernel was offered, so readiness must stay.
#[test]
fn vectored_reads_past_the_slice_limit_do_not_lose_the_rest() -> io::Result<()> {
    looplet::block_on(async {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let mut client = TcpStream::connect(listener.local_addr()?).await?;
        let (server, _) = listener.accept().await?;
        let reader = looplet::spawn(async move {
            let mut bytes = vec![0u8; 2000];
            let mut got = 0;
            while got < 2000 {
                let mut slices: Vec<IoSliceMut<'_>> =
                    bytes[got..].chunks_mut(1).map(IoSliceMut::new).collect();
                got += within("read_vectored", (&server).read_vectored(&mut slices)).await?;
            }
            io::Result::Ok(server)
        });
        looplet::yield_now().await; // the reader parks first
        client.write_all(&[7u8; 2000]).await?; // and the peer keeps the connection open
        let _server = reader.await?;
        io::Result::Ok(())
    })
}

#[test]
fn vectored_pipe_writes_past_the_slice_limit_then_write() -> io::Result<()> {
    looplet::block_on(async {
        let (_reader, writer) = std::io::pipe()?;
        let mut writer = Async::new(writer)?;
        registered(&writer).await;
        let one = [1u8; 1];
        let slices: Vec<IoSlice<'_>> = (0..1025).map(|_| IoSlice::new(&one)).collect();
        assert_eq!(
            writer.write_vectored(&slices).await?,
            1024,
            "writev takes 1,024"
        );
        within("a write to a pipe with room", writer.write(b"x")).await?;
        io::Result::Ok(())
    })
}

#[test]
fn vectored_socket_writes_of_many_empty_slices_are_not_an_error() -> io::Result<()> {
    looplet::block_on(async {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let mut client = TcpStream::connect(listener.local_addr()?).await?;
        let (_server, _) = listener.accept().await?;
        let empty: [u8; 0] = [];
        let mut slices: Vec<IoSlice<'_>> = (0..2000).map(|_| IoSlice::new(&empty)).collect();
        slices.push(IoSlice::new(b"hello"));
        // The first 1,024 slices go out: none has a byte (std's writev does the same).
        assert_eq!(client.write_vectored(&slices).await?, 0);
        assert_eq!(client.write_vectored(&slices[1024..]).await?, 5);
        io::Result::Ok(())
    })
}

/// A `Write` keeping std's default `write_vectored` (the first non-empty slice only).
struct PlainWriter(std::io::PipeWriter);

impl Write for PlainWriter {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.0.write(buf)
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl AsFd for PlainWriter {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.0.as_fd()
    }
}

/// looplet writes a pipe with writev itself, so a `T` whose `write_vectored` takes one slice
/// cannot make a full write look short (and wait forever for a full pipe's edge).
#[test]
fn a_t_with_the_default_write_vectored_cannot_fool_the_rule() -> io::Result<()> {
    looplet::block_on(async {
        let (_reader, writer) = std::io::pipe()?;
        let mut writer = Async::new(PlainWriter(writer))?;
        registered(&writer).await;
        let n = writer
            .write_vectored(&[IoSlice::new(b"ab"), IoSlice::new(b"cd")])
            .await?;
        assert_eq!(n, 4, "both slices, in one writev");
        within("a write to an empty pipe", writer.write(b"cd")).await?;
        io::Result::Ok(())
    })
}

/// A packet-mode pipe returns one packet per read: a short read does not mean it is empty.
#[cfg(target_os = "linux")]
#[test]
fn packet_mode_pipes_read_every_packet() -> io::Result<()> {
    looplet::block_on(async {
        let (r, w): (std::os::fd::OwnedFd, std::os::fd::OwnedFd) =
            rustix::pipe::pipe_with(rustix::pipe::PipeFlags::DIRECT)?;
        let mut w = std::fs::File::from(w);
        let r = Async::new(std::fs::File::from(r))?;
        let reader = looplet::spawn(async move {
            let mut got = Vec::new();
            let mut buf = [0u8; 100];
            while got.len() < 4 {
                let n = within("the second packet", (&r).read(&mut buf)).await?;
                got.extend_from_slice(&buf[..n]);
            }
            io::Result::Ok(got)
        });
        looplet::yield_now().await; // the reader parks on the pipe
        w.write_all(b"ab")?;
        w.write_all(b"cd")?;
        assert_eq!(reader.await?, b"abcd");
        io::Result::Ok(())
    })
}

fn is_nonblocking(fd: impl AsFd) -> io::Result<bool> {
    Ok(rustix::fs::fcntl_getfl(fd)?.contains(rustix::fs::OFlags::NONBLOCK))
}

/// Two `Async`s of one file description (a pipe end and its clone): dropping the first must
/// not put the description back in blocking mode under the second, whose reads would then
/// block the loop. The last one to go restores it.
#[test]
fn two_asyncs_of_one_file_share_its_mode() -> io::Result<()> {
    let (reader, _writer) = std::io::pipe()?;
    let keep = reader.try_clone()?;
    let first = Async::new(reader.try_clone()?)?;
    let second = Async::new(reader)?;
    drop(first);
    assert!(
        is_nonblocking(&keep)?,
        "the second Async still needs non-blocking mode"
    );
    drop(second);
    assert!(
        !is_nonblocking(&keep)?,
        "the last Async puts blocking mode back"
    );
    Ok(())
}
