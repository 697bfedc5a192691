//! A stream split into a reading half and a writing half: borrowed, or owned by two tasks.
//!
//! The halves of [`TcpStream::split_ref`](super::TcpStream::split_ref) and
//! [`UnixStream::split_ref`](super::UnixStream::split_ref) borrow the stream; those of `into_split`
//! own it between them (an `Rc`: both stay on the loop's thread). Dropping an owned write
//! half shuts down the write side (tokio's rule), so the peer reads the end of the stream; the
//! socket closes when both halves are gone.

use std::error::Error;
use std::fmt;
use std::io::{self, IoSlice, IoSliceMut};
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll};

use futures_io::{AsyncRead, AsyncWrite};

/// A stream that can be split: [`TcpStream`](super::TcpStream) and
/// [`UnixStream`](super::UnixStream). Sealed.
pub trait SplitStream: sealed::Sealed {}

pub(crate) mod sealed {
    use std::io;

    /// What splitting needs of a stream, hidden from users.
    pub trait Sealed {
        /// Shuts down the write side (the peer reads the end of the stream).
        fn shutdown_write(&self) -> io::Result<()>;
    }
}

/// The reading half of a borrowed split; see [`TcpStream::split_ref`](super::TcpStream::split_ref).
///
/// # Examples
///
/// ```
/// use futures_util::{AsyncReadExt, AsyncWriteExt};
///
/// looplet::block_on(async {
///     let (a, mut b) = looplet::net::UnixStream::pair()?;
///     let (mut reader, _writer): (looplet::net::ReadHalf<'_, _>, _) = a.split_ref();
///     b.write_all(b"x").await?;
///     let mut buf = [0; 1];
///     reader.read_exact(&mut buf).await?;
///     std::io::Result::Ok(())
/// })?;
/// # std::io::Result::Ok(())
/// ```
pub struct ReadHalf<'a, S>(&'a S);

/// The writing half of a borrowed split; see [`TcpStream::split_ref`](super::TcpStream::split_ref).
///
/// Dropping it does nothing; closing it (`AsyncWriteExt::close`) shuts down the write side.
///
/// # Examples
///
/// ```
/// use futures_util::{AsyncReadExt, AsyncWriteExt};
///
/// looplet::block_on(async {
///     let (a, mut b) = looplet::net::UnixStream::pair()?;
///     let (_reader, mut writer): (_, looplet::net::WriteHalf<'_, _>) = a.split_ref();
///     writer.write_all(b"x").await?;
///     writer.close().await?; // shutdown(Write)
///     let mut all = Vec::new();
///     b.read_to_end(&mut all).await?;
///     assert_eq!(all, b"x");
///     std::io::Result::Ok(())
/// })?;
/// # std::io::Result::Ok(())
/// ```
pub struct WriteHalf<'a, S>(&'a S);

pub(super) fn split<S: SplitStream>(stream: &S) -> (ReadHalf<'_, S>, WriteHalf<'_, S>) {
    (ReadHalf(stream), WriteHalf(stream))
}

/// The reading half of [`TcpStream::into_split`](super::TcpStream::into_split): owns the
/// stream with its [`OwnedWriteHalf`].
///
/// `as_ref()` reaches the stream (for `peer_addr`, `peek`, ...). Like the stream, it stays
/// on its thread:
///
/// ```compile_fail
/// fn assert_send<T: Send>() {}
/// assert_send::<looplet::net::OwnedReadHalf<looplet::net::TcpStream>>();
/// ```
///
/// # Examples
///
/// ```
/// use futures_util::{AsyncReadExt, AsyncWriteExt};
///
/// looplet::block_on(async {
///     let (a, mut b) = looplet::net::UnixStream::pair()?;
///     let (mut reader, writer) = a.into_split();
///     let task = looplet::spawn(async move {
///         let mut buf = [0; 2];
///         reader.read_exact(&mut buf).await?;
///         std::io::Result::Ok((buf, reader))
///     });
///     b.write_all(b"hi").await?;
///     let (buf, reader) = task.await?;
///     assert_eq!(&buf, b"hi");
///     let _whole = reader.reunite(writer).expect("the halves of one stream");
///     std::io::Result::Ok(())
/// })?;
/// # std::io::Result::Ok(())
/// ```
pub struct OwnedReadHalf<S> {
    stream: Rc<S>,
}

/// The writing half of [`TcpStream::into_split`](super::TcpStream::into_split).
///
/// Dropping it shuts down the write side (the peer reads the end of the stream), unless it
/// is [`forget`](OwnedWriteHalf::forget)ten. `as_ref()` reaches the stream.
///
/// # Examples
///
/// ```
/// use futures_util::{AsyncReadExt, AsyncWriteExt};
///
/// looplet::block_on(async {
///     let (a, mut b) = looplet::net::UnixStream::pair()?;
///     let (_reader, mut writer) = a.into_split();
///     writer.write_all(b"last words").await?;
///     drop(writer);
///     let mut all = String::new();
///     b.read_to_string(&mut all).await?; // ends: the write side was shut down
///     assert_eq!(all, "last words");
///     std::io::Result::Ok(())
/// })?;
/// # std::io::Result::Ok(())
/// ```
pub struct OwnedWriteHalf<S: SplitStream> {
    stream: Rc<S>,
    shutdown_on_drop: bool,
}

pub(super) fn into_split<S: SplitStream>(stream: S) -> (OwnedReadHalf<S>, OwnedWriteHalf<S>) {
    let stream = Rc::new(stream);
    let write = OwnedWriteHalf {
        stream: stream.clone(),
        shutdown_on_drop: true,
    };
    (OwnedReadHalf { stream }, write)
}

impl<S: SplitStream> OwnedReadHalf<S> {
    /// Puts the stream back together from its two halves.
    ///
    /// # Errors
    ///
    /// [`ReuniteError`], holding both halves, if they come from different streams.
    ///
    /// # Examples
    ///
    /// See [`OwnedReadHalf`].
    pub fn reunite(self, write: OwnedWriteHalf<S>) -> Result<S, ReuniteError<S>> {
        if !Rc::ptr_eq(&self.stream, &write.stream) {
            return Err(ReuniteError(self, write));
        }
        write.forget();
        Ok(Rc::try_unwrap(self.stream)
            .unwrap_or_else(|_| unreachable!("the two halves held the only references")))
    }
}

impl<S: SplitStream> OwnedWriteHalf<S> {
    /// Drops the half without shutting down the write side: the socket stays open for
    /// writing until the read half is dropped too.
    ///
    /// # Examples
    ///
    /// ```
    /// looplet::block_on(async {
    ///     let (a, _b) = looplet::net::UnixStream::pair()?;
    ///     let (_reader, writer) = a.into_split();
    ///     writer.forget(); // no shutdown
    ///     std::io::Result::Ok(())
    /// })?;
    /// # std::io::Result::Ok(())
    /// ```
    pub fn forget(mut self) {
        self.shutdown_on_drop = false;
    }
}

impl<S: SplitStream> Drop for OwnedWriteHalf<S> {
    fn drop(&mut self) {
        if self.shutdown_on_drop {
            // Fails only if the connection is already gone, which leaves nothing to shut.
            let _ = sealed::Sealed::shutdown_write(&*self.stream);
        }
    }
}

impl<S> AsRef<S> for ReadHalf<'_, S> {
    fn as_ref(&self) -> &S {
        self.0
    }
}

impl<S> AsRef<S> for WriteHalf<'_, S> {
    fn as_ref(&self) -> &S {
        self.0
    }
}

impl<S> AsRef<S> for OwnedReadHalf<S> {
    fn as_ref(&self) -> &S {
        &self.stream
    }
}

impl<S: SplitStream> AsRef<S> for OwnedWriteHalf<S> {
    fn as_ref(&self) -> &S {
        &self.stream
    }
}

/// Two halves of different streams, handed back by [`OwnedReadHalf::reunite`].
///
/// # Examples
///
/// ```
/// looplet::block_on(async {
///     let (a, b) = looplet::net::UnixStream::pair()?;
///     let (read_a, _write_a) = a.into_split();
///     let (_read_b, write_b) = b.into_split();
///     let err = read_a.reunite(write_b).unwrap_err();
///     assert_eq!(err.to_string(), "tried to reunite halves of different streams");
///     std::io::Result::Ok(())
/// })?;
/// # std::io::Result::Ok(())
/// ```
pub struct ReuniteError<S: SplitStream>(pub OwnedReadHalf<S>, pub OwnedWriteHalf<S>);

impl<S: SplitStream> fmt::Debug for ReuniteError<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ReuniteError").finish_non_exhaustive()
    }
}

impl<S: SplitStream> fmt::Display for ReuniteError<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("tried to reunite halves of different streams")
    }
}

impl<S: SplitStream> Error for ReuniteError<S> {}

macro_rules! debug_half {
    ($name:ident $(<$l:lifetime>)? $(, $bound:path)?) => {
        impl<$($l,)? S: fmt::Debug $(+ $bound)?> fmt::Debug for $name<$($l,)? S> {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.debug_tuple(stringify!($name)).field(self.as_ref()).finish()
            }
        }
    };
}

debug_half!(ReadHalf<'a>);
debug_half!(WriteHalf<'a>);
debug_half!(OwnedReadHalf);
debug_half!(OwnedWriteHalf, SplitStream);

/// Reads through `&S`.
fn read_via<S>(stream: &S, cx: &mut Context<'_>, buf: &mut [u8]) -> Poll<io::Result<usize>>
where
    for<'b> &'b S: AsyncRead,
{
    Pin::new(&mut &*stream).poll_read(cx, buf)
}

fn read_vectored_via<S>(
    stream: &S,
    cx: &mut Context<'_>,
    bufs: &mut [IoSliceMut<'_>],
) -> Poll<io::Result<usize>>
where
    for<'b> &'b S: AsyncRead,
{
    Pin::new(&mut &*stream).poll_read_vectored(cx, bufs)
}

macro_rules! read_half {
    ($name:ident $(<$l:lifetime>)?, |$this:ident| $stream:expr) => {
        impl<$($l,)? S> AsyncRead for $name<$($l,)? S>
        where
            for<'b> &'b S: AsyncRead,
        {
            fn poll_read(
                self: Pin<&mut Self>,
                cx: &mut Context<'_>,
                buf: &mut [u8],
            ) -> Poll<io::Result<usize>> {
                let $this = &*self;
                read_via($stream, cx, buf)
            }

            fn poll_read_vectored(
                self: Pin<&mut Self>,
                cx: &mut Context<'_>,
                bufs: &mut [IoSliceMut<'_>],
            ) -> Poll<io::Result<usize>> {
                let $this = &*self;
                read_vectored_via($stream, cx, bufs)
            }
        }
    };
}

read_half!(ReadHalf<'a>, |this| this.0);
read_half!(OwnedReadHalf, |this| &*this.stream);

macro_rules! write_half {
    ($name:ident $(<$l:lifetime>)?, |$this:ident| $stream:expr) => {
        impl<$($l,)? S: SplitStream> AsyncWrite for $name<$($l,)? S>
        where
            for<'b> &'b S: AsyncWrite,
        {
            fn poll_write(
                self: Pin<&mut Self>,
                cx: &mut Context<'_>,
                buf: &[u8],
            ) -> Poll<io::Result<usize>> {
                let $this = &*self;
                Pin::new(&mut &*$stream).poll_write(cx, buf)
            }

            fn poll_write_vectored(
                self: Pin<&mut Self>,
                cx: &mut Context<'_>,
                bufs: &[IoSlice<'_>],
            ) -> Poll<io::Result<usize>> {
                let $this = &*self;
                Pin::new(&mut &*$stream).poll_write_vectored(cx, bufs)
            }

            fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
                let $this = &*self;
                Pin::new(&mut &*$stream).poll_flush(cx)
            }

            /// Shuts down the write side.
            fn poll_close(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
                let $this = &*self;
                Pin::new(&mut &*$stream).poll_close(cx)
            }
        }
    };
}

write_half!(WriteHalf<'a>, |this| this.0);
write_half!(OwnedWriteHalf, |this| &*this.stream);
