//! Files, through the blocking pool: the common half of `std::fs`, awaited from the loop.
//!
//! epoll cannot wait on a regular file (it is always "ready", and then a read blocks on the
//! disk), so every call here runs its `std::fs` twin on the pool of [`unblock`] and wakes
//! the awaiting task when it is done; the loop runs other tasks meanwhile. The functions take
//! the same arguments as `std::fs`'s and return the same `io::Result`s, errors included
//! (a missing file is `io::ErrorKind::NotFound`).
//!
//! [`File`] is an open file as futures' [`AsyncRead`], [`AsyncWrite`] and [`AsyncSeek`]; see
//! its docs for when written bytes reach the file.
//!
//! # Examples
//!
//! ```
//! # let path = std::env::temp_dir().join(format!("looplet-doc-fs-{}", std::process::id()));
//! looplet::block_on(async {
//!     looplet::fs::write(&path, "hello\n").await?;
//!     assert_eq!(looplet::fs::read_to_string(&path).await?, "hello\n");
//!     looplet::fs::remove_file(&path).await
//! })?;
//! # std::io::Result::Ok(())
//! ```

use std::fmt;
use std::fs::Metadata;
use std::future::poll_fn;
use std::io::{self, SeekFrom};
use std::path::Path;
use std::pin::Pin;
use std::task::{Context, Poll, ready};

use ::blocking::Unblock;
use futures_io::{AsyncRead, AsyncSeek, AsyncWrite};

use crate::blocking::{drive_on_pool, poll_write_unblock, unblock};

/// Reads a whole file into a `Vec`: `std::fs::read` on the pool.
///
/// # Errors
///
/// Whatever `std::fs::read` returns: `NotFound` for a missing file, `PermissionDenied`, ...
///
/// # Examples
///
/// ```
/// # let path = std::env::temp_dir().join(format!("looplet-doc-read-{}", std::process::id()));
/// looplet::block_on(async {
///     looplet::fs::write(&path, [1, 2, 3]).await?;
///     assert_eq!(looplet::fs::read(&path).await?, [1, 2, 3]);
///     # looplet::fs::remove_file(&path).await?;
///     std::io::Result::Ok(())
/// })?;
/// # std::io::Result::Ok(())
/// ```
pub async fn read(path: impl AsRef<Path>) -> io::Result<Vec<u8>> {
    let path = path.as_ref().to_owned();
    unblock(move || std::fs::read(path)).await
}

/// Reads a whole file into a `String`: `std::fs::read_to_string` on the pool.
///
/// # Errors
///
/// Whatever `std::fs::read_to_string` returns; `InvalidData` if the file is not UTF-8.
///
/// # Examples
///
/// ```
/// let err = looplet::block_on(looplet::fs::read_to_string("/no/such/file")).unwrap_err();
/// assert_eq!(err.kind(), std::io::ErrorKind::NotFound);
/// ```
pub async fn read_to_string(path: impl AsRef<Path>) -> io::Result<String> {
    let path = path.as_ref().to_owned();
    unblock(move || std::fs::read_to_string(path)).await
}

/// Writes `contents` as the whole of a file, creating it or truncating it first:
/// `std::fs::write` on the pool.
///
/// The bytes are copied, since the pool thread needs its own; the file is closed, with
/// everything written, when this returns.
///
/// # Errors
///
/// Whatever `std::fs::write` returns: `NotFound` if the directory is missing, ...
///
/// # Examples
///
/// ```
/// # let path = std::env::temp_dir().join(format!("looplet-doc-write-{}", std::process::id()));
/// looplet::block_on(async {
///     looplet::fs::write(&path, b"abc").await?;
///     assert_eq!(looplet::fs::read(&path).await?, b"abc");
///     # looplet::fs::remove_file(&path).await?;
///     std::io::Result::Ok(())
/// })?;
/// # std::io::Result::Ok(())
/// ```
pub async fn write(path: impl AsRef<Path>, contents: impl AsRef<[u8]>) -> io::Result<()> {
    let path = path.as_ref().to_owned();
    let contents = contents.as_ref().to_owned();
    unblock(move || std::fs::write(path, contents)).await
}

/// Creates a directory and every missing parent: `std::fs::create_dir_all` on the pool.
///
/// # Errors
///
/// Whatever `std::fs::create_dir_all` returns; a directory that already exists is no error.
///
/// # Examples
///
/// ```
/// # let dir = std::env::temp_dir().join(format!("looplet-doc-mkdir-{}", std::process::id()));
/// looplet::block_on(async {
///     looplet::fs::create_dir_all(dir.join("a/b")).await?;
///     assert!(looplet::fs::metadata(dir.join("a/b")).await?.is_dir());
///     # std::fs::remove_dir_all(&dir)?;
///     std::io::Result::Ok(())
/// })?;
/// # std::io::Result::Ok(())
/// ```
pub async fn create_dir_all(path: impl AsRef<Path>) -> io::Result<()> {
    let path = path.as_ref().to_owned();
    unblock(move || std::fs::create_dir_all(path)).await
}

/// Removes a file: `std::fs::remove_file` on the pool.
///
/// # Errors
///
/// Whatever `std::fs::remove_file` returns: `NotFound` if there is no such file, ...
///
/// # Examples
///
/// ```
/// # let path = std::env::temp_dir().join(format!("looplet-doc-rm-{}", std::process::id()));
/// looplet::block_on(async {
///     looplet::fs::write(&path, "x").await?;
///     looplet::fs::remove_file(&path).await?;
///     let err = looplet::fs::remove_file(&path).await.unwrap_err();
///     assert_eq!(err.kind(), std::io::ErrorKind::NotFound);
///     std::io::Result::Ok(())
/// })?;
/// # std::io::Result::Ok(())
/// ```
pub async fn remove_file(path: impl AsRef<Path>) -> io::Result<()> {
    let path = path.as_ref().to_owned();
    unblock(move || std::fs::remove_file(path)).await
}

/// A path's metadata, following symlinks: `std::fs::metadata` on the pool.
///
/// # Errors
///
/// Whatever `std::fs::metadata` returns: `NotFound` if there is nothing at `path`, ...
///
/// # Examples
///
/// ```
/// looplet::block_on(async {
///     let meta = looplet::fs::metadata("/").await?;
///     assert!(meta.is_dir());
///     std::io::Result::Ok(())
/// })?;
/// # std::io::Result::Ok(())
/// ```
pub async fn metadata(path: impl AsRef<Path>) -> io::Result<Metadata> {
    let path = path.as_ref().to_owned();
    unblock(move || std::fs::metadata(path)).await
}

/// Renames a file or directory, replacing `to` if it exists: `std::fs::rename` on the pool.
///
/// # Errors
///
/// Whatever `std::fs::rename` returns: `NotFound` if `from` is missing, ...
///
/// # Examples
///
/// ```
/// # let dir = std::env::temp_dir();
/// # let (from, to) = (dir.join(format!("looplet-doc-mv1-{}", std::process::id())),
/// #                   dir.join(format!("looplet-doc-mv2-{}", std::process::id())));
/// looplet::block_on(async {
///     looplet::fs::write(&from, "moved").await?;
///     looplet::fs::rename(&from, &to).await?;
///     assert_eq!(looplet::fs::read_to_string(&to).await?, "moved");
///     # looplet::fs::remove_file(&to).await?;
///     std::io::Result::Ok(())
/// })?;
/// # std::io::Result::Ok(())
/// ```
pub async fn rename(from: impl AsRef<Path>, to: impl AsRef<Path>) -> io::Result<()> {
    let (from, to) = (from.as_ref().to_owned(), to.as_ref().to_owned());
    unblock(move || std::fs::rename(from, to)).await
}

/// An open file, read, written and seeked through the blocking pool.
///
/// `File` implements futures' [`AsyncRead`], [`AsyncWrite`] and [`AsyncSeek`], so
/// `AsyncReadExt::read_to_end`, `AsyncWriteExt::write_all`, `BufReader` and friends work on
/// it. It wraps the [`blocking`](https://docs.rs/blocking) crate's `Unblock`: a pool thread
/// does the `read(2)`s and `write(2)`s, and bytes move between it and the loop through an
/// in-memory pipe. Several calls of the same kind (reads, or writes) in a row share one pool
/// job; switching between them, seeking, or calling [`sync_all`](File::sync_all) and the
/// other methods first waits for the job in flight to finish.
///
/// # When written bytes reach the file
///
/// A write returns as soon as its bytes are in the pipe; the pool thread writes them to the
/// file in the background, in order. Awaiting [`flush`] (or `close`, or [`sync_all`], or a
/// read or seek) waits until every byte written has been handed to the kernel, and returns
/// the error of any write that failed (a full disk, say): like tokio's `File`, write errors
/// show up there, not in the write. A failed write also stops the pool's writing, so a
/// later write that finds nobody taking its bytes returns that error too (never a bare
/// `Ok(0)`, which `write_all` would report as `WriteZero`). `close` only flushes; the descriptor is closed when the
/// `File` is dropped. [`sync_all`] also waits for the disk.
///
/// **Dropping a `File` with unflushed writes loses nothing**: as with tokio's `File`, the
/// writes in flight complete in the background, on the pool, and the descriptor is closed
/// after them. Nobody is left to hear about an error then, and the process does not wait for
/// the pool when it exits; so await `flush` (or `sync_all`) before dropping a `File` whose
/// writes matter.
///
/// Reading runs ahead: the pool thread keeps reading into the pipe (up to 8 MiB) while the
/// loop takes bytes out. `File` keeps track of where the reads really stand, so a seek, a
/// write or [`SeekFrom::Current`] after reads behaves as on a `std::fs::File`; reads that
/// nobody takes are dropped with the `File`. So is the error of a read-ahead that failed
/// past the bytes read: a seek or write does not report it, and a read that gets there
/// meets it again.
///
/// [`flush`]: futures_io::AsyncWrite::poll_flush
/// [`sync_all`]: File::sync_all
///
/// # Examples
///
/// ```
/// use futures_util::{AsyncReadExt, AsyncSeekExt, AsyncWriteExt};
/// use std::io::SeekFrom;
/// use looplet::fs::File;
///
/// # let path = std::env::temp_dir().join(format!("looplet-doc-file-{}", std::process::id()));
/// looplet::block_on(async {
///     let mut file = File::create(&path).await?;
///     file.write_all(b"hello, world").await?;
///     file.flush().await?; // the bytes are in the file now
///
///     let mut file = File::open(&path).await?;
///     file.seek(SeekFrom::Start(7)).await?;
///     let mut tail = String::new();
///     file.read_to_string(&mut tail).await?;
///     assert_eq!(tail, "world");
///     # looplet::fs::remove_file(&path).await?;
///     std::io::Result::Ok(())
/// })?;
/// # std::io::Result::Ok(())
/// ```
pub struct File {
    /// The file, on the pool or ready to go there.
    ///
    /// # Invariant
    ///
    /// `Some` until `drop` hands it to the pool.
    io: Option<Unblock<std::fs::File>>,
    /// Where the reads started, plus the bytes they returned: the cursor a `std::fs::File`
    /// would have, while the pool reads ahead of it.
    ///
    /// # Invariant
    ///
    /// `Some` only while reading. Anything other than a read first seeks the file back here
    /// (`poll_reposition`), since the pool's own cursor may be further on. `Some(Err(_))` if
    /// the file cannot tell its position: nothing to seek back to then.
    read_pos: Option<io::Result<u64>>,
    /// The read-ahead has been stopped (and its error dropped) to seek back to `read_pos`.
    ///
    /// # Invariant
    ///
    /// Set only by `poll_reposition`, from stopping the read-ahead until its seek back has
    /// ended; cleared when a read sets the pool reading again. While it is set the pool is
    /// idle or seeking back, and must not be stopped again: that would finish the seek back
    /// only to start another, forever.
    read_ahead_stopped: bool,
    /// Bytes were written since the pool last finished writing (a flush, a seek, a read):
    /// they may still be in the pipe, and `drop` must not lose them.
    dirty: bool,
}

impl File {
    /// Opens a file for reading: `std::fs::File::open` on the pool.
    ///
    /// # Errors
    ///
    /// Whatever `std::fs::File::open` returns: `NotFound` for a missing file, ...
    ///
    /// # Examples
    ///
    /// ```
    /// let err = looplet::block_on(looplet::fs::File::open("/no/such/file")).unwrap_err();
    /// assert_eq!(err.kind(), std::io::ErrorKind::NotFound);
    /// ```
    pub async fn open(path: impl AsRef<Path>) -> io::Result<File> {
        let path = path.as_ref().to_owned();
        Ok(File::from(
            unblock(move || std::fs::File::open(path)).await?,
        ))
    }

    /// Opens a file for writing, creating it or truncating it: `std::fs::File::create` on the
    /// pool.
    ///
    /// # Errors
    ///
    /// Whatever `std::fs::File::create` returns: `NotFound` if the directory is missing, ...
    ///
    /// # Examples
    ///
    /// ```
    /// use futures_util::AsyncWriteExt;
    ///
    /// # let path = std::env::temp_dir().join(format!("looplet-doc-create-{}", std::process::id()));
    /// looplet::block_on(async {
    ///     let mut file = looplet::fs::File::create(&path).await?;
    ///     file.write_all(b"new").await?;
    ///     file.flush().await?;
    ///     assert_eq!(looplet::fs::read(&path).await?, b"new");
    ///     # looplet::fs::remove_file(&path).await?;
    ///     std::io::Result::Ok(())
    /// })?;
    /// # std::io::Result::Ok(())
    /// ```
    pub async fn create(path: impl AsRef<Path>) -> io::Result<File> {
        let path = path.as_ref().to_owned();
        Ok(File::from(
            unblock(move || std::fs::File::create(path)).await?,
        ))
    }

    /// Options for opening a file in another mode (append, create new, ...): `std::fs`'s
    /// `File::options`.
    ///
    /// # Examples
    ///
    /// ```
    /// use futures_util::AsyncWriteExt;
    ///
    /// # let path = std::env::temp_dir().join(format!("looplet-doc-options-{}", std::process::id()));
    /// looplet::block_on(async {
    ///     looplet::fs::write(&path, "one ").await?;
    ///     let mut log = looplet::fs::File::options().append(true).open(&path).await?;
    ///     log.write_all(b"two").await?;
    ///     log.flush().await?;
    ///     assert_eq!(looplet::fs::read_to_string(&path).await?, "one two");
    ///     # looplet::fs::remove_file(&path).await?;
    ///     std::io::Result::Ok(())
    /// })?;
    /// # std::io::Result::Ok(())
    /// ```
    pub fn options() -> OpenOptions {
        OpenOptions::new()
    }

    /// Waits until every write is on the disk, data and metadata: `fsync`.
    ///
    /// Flushes first, so the writes still in the pipe are included.
    ///
    /// # Errors
    ///
    /// The error of a write still in flight, or of `fsync`.
    ///
    /// # Examples
    ///
    /// ```
    /// use futures_util::AsyncWriteExt;
    ///
    /// # let path = std::env::temp_dir().join(format!("looplet-doc-sync-{}", std::process::id()));
    /// looplet::block_on(async {
    ///     let mut file = looplet::fs::File::create(&path).await?;
    ///     file.write_all(b"durable").await?;
    ///     file.sync_all().await?;
    ///     # looplet::fs::remove_file(&path).await?;
    ///     std::io::Result::Ok(())
    /// })?;
    /// # std::io::Result::Ok(())
    /// ```
    pub async fn sync_all(&mut self) -> io::Result<()> {
        self.with_file(|file| file.sync_all()).await
    }

    /// Like [`sync_all`](File::sync_all), but may skip metadata the data does not need:
    /// `fdatasync`.
    ///
    /// # Errors
    ///
    /// The error of a write still in flight, or of `fdatasync`.
    ///
    /// # Examples
    ///
    /// ```
    /// use futures_util::AsyncWriteExt;
    ///
    /// # let path = std::env::temp_dir().join(format!("looplet-doc-datasync-{}", std::process::id()));
    /// looplet::block_on(async {
    ///     let mut file = looplet::fs::File::create(&path).await?;
    ///     file.write_all(b"data").await?;
    ///     file.sync_data().await?;
    ///     # looplet::fs::remove_file(&path).await?;
    ///     std::io::Result::Ok(())
    /// })?;
    /// # std::io::Result::Ok(())
    /// ```
    pub async fn sync_data(&mut self) -> io::Result<()> {
        self.with_file(|file| file.sync_data()).await
    }

    /// Truncates or extends the file to `size` bytes; the cursor does not move.
    ///
    /// Flushes first, so writes before the call land before the size changes.
    ///
    /// # Errors
    ///
    /// The error of a write still in flight, or of `ftruncate` (`InvalidInput` or a
    /// permission error if the file is not open for writing).
    ///
    /// # Examples
    ///
    /// ```
    /// use futures_util::AsyncWriteExt;
    ///
    /// # let path = std::env::temp_dir().join(format!("looplet-doc-setlen-{}", std::process::id()));
    /// looplet::block_on(async {
    ///     let mut file = looplet::fs::File::create(&path).await?;
    ///     file.write_all(b"hello, world").await?;
    ///     file.set_len(5).await?;
    ///     assert_eq!(looplet::fs::read(&path).await?, b"hello");
    ///     # looplet::fs::remove_file(&path).await?;
    ///     std::io::Result::Ok(())
    /// })?;
    /// # std::io::Result::Ok(())
    /// ```
    pub async fn set_len(&mut self, size: u64) -> io::Result<()> {
        self.with_file(move |file| file.set_len(size)).await
    }

    /// The open file's metadata (`fstat`).
    ///
    /// Flushes first, so the length counts every byte written so far. That is why it takes
    /// `&mut self`, where tokio's takes `&self`.
    ///
    /// # Errors
    ///
    /// The error of a write still in flight, or of `fstat`.
    ///
    /// # Examples
    ///
    /// ```
    /// use futures_util::AsyncWriteExt;
    ///
    /// # let path = std::env::temp_dir().join(format!("looplet-doc-fmeta-{}", std::process::id()));
    /// looplet::block_on(async {
    ///     let mut file = looplet::fs::File::create(&path).await?;
    ///     file.write_all(b"12345").await?;
    ///     assert_eq!(file.metadata().await?.len(), 5);
    ///     # looplet::fs::remove_file(&path).await?;
    ///     std::io::Result::Ok(())
    /// })?;
    /// # std::io::Result::Ok(())
    /// ```
    pub async fn metadata(&mut self) -> io::Result<Metadata> {
        self.with_file(|file| file.metadata()).await
    }

    /// Runs `op` on the file on the pool, after the job in flight has finished.
    async fn with_file<R: Send + 'static>(
        &mut self,
        op: impl FnOnce(&mut std::fs::File) -> io::Result<R> + Send + 'static,
    ) -> io::Result<R> {
        poll_fn(|cx| self.poll_settle(cx)).await?;
        self.unblock().with_mut(op).await
    }

    fn unblock(&mut self) -> &mut Unblock<std::fs::File> {
        self.io
            .as_mut()
            .expect("a File's Unblock is only taken by drop")
    }

    /// Seeks the pool's file, which first finishes the job in flight (writes included).
    fn poll_seek_unblock(&mut self, cx: &mut Context<'_>, pos: SeekFrom) -> Poll<io::Result<u64>> {
        let result = ready!(Pin::new(self.unblock()).poll_seek(cx, pos));
        self.dirty = false; // the writing job has finished, with or without an error
        Poll::Ready(result)
    }

    /// Seeks back to where the reads really stand, if the pool has been reading ahead.
    fn poll_reposition(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let Some(read_pos) = &self.read_pos else {
            return Poll::Ready(Ok(()));
        };
        let pos = read_pos.as_ref().ok().copied();
        if !self.read_ahead_stopped {
            // The read-ahead's error, if it met one, is about bytes nobody asked for: it is
            // not this seek's or write's to report. A read there meets it again.
            ready!(Pin::new(self.unblock()).poll_flush(cx)).ok();
            self.read_ahead_stopped = true;
        }
        if let Some(pos) = pos {
            ready!(self.poll_seek_unblock(cx, SeekFrom::Start(pos)))?;
        }
        self.read_pos = None;
        self.read_ahead_stopped = false;
        Poll::Ready(Ok(()))
    }

    /// Finishes the job in flight: the writes reach the file, read-ahead is undone.
    fn poll_settle(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        ready!(self.poll_reposition(cx))?;
        let result = ready!(Pin::new(self.unblock()).poll_flush(cx));
        self.dirty = false;
        Poll::Ready(result)
    }
}

impl From<std::fs::File> for File {
    /// Wraps a `std::fs::File`, keeping its cursor and its mode.
    ///
    /// # Examples
    ///
    /// ```
    /// let file = looplet::fs::File::from(std::fs::File::open("/dev/null")?);
    /// # drop(file);
    /// # std::io::Result::Ok(())
    /// ```
    fn from(file: std::fs::File) -> File {
        File {
            io: Some(Unblock::new(file)),
            read_pos: None,
            read_ahead_stopped: false,
            dirty: false,
        }
    }
}

impl AsyncRead for File {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut [u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        if this.read_pos.is_none() {
            if this.dirty {
                // Writes may still be in flight: finish them first, so that a failed one is
                // reported here. Asking the seek below to stop the writer would get its
                // error back instead of the position, and the reads would go on untracked.
                // (Only while dirty: a flush on every poll would also stop the seek below,
                // and it would start again, forever.)
                let flushed = ready!(Pin::new(this.unblock()).poll_flush(cx));
                this.dirty = false;
                flushed?;
            }
            // Note where the reads start, before the pool runs ahead of them.
            this.read_pos = Some(ready!(this.poll_seek_unblock(cx, SeekFrom::Current(0))));
        }
        // The pool reads (ahead) again, even if a seek back was cut short before.
        this.read_ahead_stopped = false;
        let n = ready!(Pin::new(this.unblock()).poll_read(cx, buf))?;
        if let Some(Ok(pos)) = &mut this.read_pos {
            *pos += n as u64;
        }
        Poll::Ready(Ok(n))
    }
}

impl AsyncWrite for File {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        ready!(this.poll_reposition(cx))?;
        this.dirty = true;
        poll_write_unblock(Pin::new(this.unblock()), cx, buf)
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.get_mut().poll_settle(cx)
    }

    /// Flushes. The descriptor stays open until the `File` is dropped.
    fn poll_close(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.get_mut().poll_settle(cx)
    }
}

impl AsyncSeek for File {
    fn poll_seek(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        pos: SeekFrom,
    ) -> Poll<io::Result<u64>> {
        let this = self.get_mut();
        ready!(this.poll_reposition(cx))?;
        this.poll_seek_unblock(cx, pos)
    }
}

impl Drop for File {
    /// Hands unflushed writes to the pool, which finishes them and then closes the file.
    fn drop(&mut self) {
        if !self.dirty {
            return; // dropping the Unblock stops any read-ahead and closes the file
        }
        if let Some(mut io) = self.io.take() {
            drive_on_pool(async move {
                // Nobody is left to report an error to.
                poll_fn(|cx| Pin::new(&mut io).poll_close(cx)).await.ok();
            });
        }
    }
}

impl fmt::Debug for File {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("File")
            .field("io", &self.io)
            .field("unflushed", &self.dirty)
            .finish_non_exhaustive()
    }
}

/// How to open a [`File`]: `std::fs::OpenOptions`, with an async [`open`](OpenOptions::open).
///
/// # Examples
///
/// ```
/// use looplet::fs::OpenOptions;
///
/// # let path = std::env::temp_dir().join(format!("looplet-doc-oo-{}", std::process::id()));
/// looplet::block_on(async {
///     let file = OpenOptions::new().write(true).create_new(true).open(&path).await?;
///     drop(file);
///     let again = OpenOptions::new().write(true).create_new(true).open(&path).await;
///     assert_eq!(again.unwrap_err().kind(), std::io::ErrorKind::AlreadyExists);
///     # looplet::fs::remove_file(&path).await?;
///     std::io::Result::Ok(())
/// })?;
/// # std::io::Result::Ok(())
/// ```
#[derive(Clone, Debug)]
pub struct OpenOptions(std::fs::OpenOptions);

impl OpenOptions {
    /// No access at all: set at least [`read`](OpenOptions::read) or
    /// [`write`](OpenOptions::write).
    ///
    /// # Examples
    ///
    /// ```
    /// let mut options = looplet::fs::OpenOptions::new();
    /// options.read(true);
    /// ```
    pub fn new() -> OpenOptions {
        OpenOptions(std::fs::OpenOptions::new())
    }

    /// Whether to open for reading.
    ///
    /// # Examples
    ///
    /// ```
    /// looplet::block_on(looplet::fs::OpenOptions::new().read(true).open("/dev/null"))?;
    /// # std::io::Result::Ok(())
    /// ```
    pub fn read(&mut self, read: bool) -> &mut OpenOptions {
        self.0.read(read);
        self
    }

    /// Whether to open for writing.
    ///
    /// # Examples
    ///
    /// ```
    /// looplet::block_on(looplet::fs::OpenOptions::new().write(true).open("/dev/null"))?;
    /// # std::io::Result::Ok(())
    /// ```
    pub fn write(&mut self, write: bool) -> &mut OpenOptions {
        self.0.write(write);
        self
    }

    /// Whether every write goes to the end of the file (`O_APPEND`); implies writing.
    ///
    /// # Examples
    ///
    /// ```
    /// looplet::block_on(looplet::fs::OpenOptions::new().append(true).open("/dev/null"))?;
    /// # std::io::Result::Ok(())
    /// ```
    pub fn append(&mut self, append: bool) -> &mut OpenOptions {
        self.0.append(append);
        self
    }

    /// Whether to cut an existing file to length 0 (needs writing).
    ///
    /// # Examples
    ///
    /// ```
    /// let mut options = looplet::fs::OpenOptions::new();
    /// options.write(true).truncate(true);
    /// ```
    pub fn truncate(&mut self, truncate: bool) -> &mut OpenOptions {
        self.0.truncate(truncate);
        self
    }

    /// Whether to create the file if it is missing (needs writing or appending).
    ///
    /// # Examples
    ///
    /// ```
    /// let mut options = looplet::fs::OpenOptions::new();
    /// options.write(true).create(true);
    /// ```
    pub fn create(&mut self, create: bool) -> &mut OpenOptions {
        self.0.create(create);
        self
    }

    /// Whether to create the file and fail with `AlreadyExists` if it is there (`O_EXCL`).
    ///
    /// # Examples
    ///
    /// ```
    /// let err = looplet::block_on(
    ///     looplet::fs::OpenOptions::new().write(true).create_new(true).open("/"),
    /// )
    /// .unwrap_err();
    /// assert_eq!(err.kind(), std::io::ErrorKind::AlreadyExists);
    /// ```
    pub fn create_new(&mut self, create_new: bool) -> &mut OpenOptions {
        self.0.create_new(create_new);
        self
    }

    /// Opens `path` with these options: `std::fs::OpenOptions::open` on the pool.
    ///
    /// # Errors
    ///
    /// Whatever `std::fs::OpenOptions::open` returns: `NotFound`, `AlreadyExists`,
    /// `InvalidInput` for a contradictory set of options, ...
    ///
    /// # Examples
    ///
    /// ```
    /// let err = looplet::block_on(looplet::fs::OpenOptions::new().read(true).open("/no/such"))
    ///     .unwrap_err();
    /// assert_eq!(err.kind(), std::io::ErrorKind::NotFound);
    /// ```
    pub async fn open(&self, path: impl AsRef<Path>) -> io::Result<File> {
        let (options, path) = (self.0.clone(), path.as_ref().to_owned());
        Ok(File::from(unblock(move || options.open(path)).await?))
    }
}

impl Default for OpenOptions {
    /// The same as [`OpenOptions::new`].
    ///
    /// # Examples
    ///
    /// ```
    /// let options = looplet::fs::OpenOptions::default();
    /// # drop(options);
    /// ```
    fn default() -> OpenOptions {
        OpenOptions::new()
    }
}
