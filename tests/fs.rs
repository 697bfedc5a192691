//! `looplet::fs`: whole-file calls, `File` reads, writes, seeks and appends, errors, and what
//! a dropped `File` does with unflushed writes.
//!
//! The tests run one after another (they share a lock), so each can check that the process's
//! descriptor count is back to where it was when it ends.

use std::io::{self, SeekFrom};
use std::path::PathBuf;
use std::sync::Mutex;
use std::thread;
use std::time::{Duration, Instant};

use futures_util::io::{AsyncBufReadExt, BufReader};
use futures_util::{AsyncReadExt, AsyncSeekExt, AsyncWriteExt, StreamExt};
use looplet::fs::{self, File, OpenOptions};

static SERIAL: Mutex<()> = Mutex::new(());

/// How long a test waits for something that must happen, before it fails instead of hanging.
const PATIENCE: Duration = Duration::from_secs(20);

fn open_fds() -> usize {
    std::fs::read_dir("/proc/self/fd")
        .expect("/proc/self/fd")
        .count()
}

/// Waits until `done()` holds; panics with `what` if it takes longer than [`PATIENCE`].
fn eventually(what: &str, mut done: impl FnMut() -> bool) {
    let start = Instant::now();
    while !done() {
        assert!(start.elapsed() < PATIENCE, "gave up waiting: {what}");
        thread::sleep(Duration::from_millis(5));
    }
}

/// A fresh directory for one test, removed afterwards.
struct TempDir(PathBuf);

impl TempDir {
    fn new(name: &str) -> TempDir {
        let dir = std::env::temp_dir().join(format!("looplet-fs-{}-{name}", std::process::id()));
        std::fs::remove_dir_all(&dir).ok();
        std::fs::create_dir_all(&dir).unwrap();
        TempDir(dir)
    }

    fn path(&self, file: &str) -> PathBuf {
        self.0.join(file)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        std::fs::remove_dir_all(&self.0).ok();
    }
}

/// Runs `test` on a loop, alone, in a fresh directory; then checks that it left no descriptor
/// open (a `File` may be closed on the pool a moment after it is dropped).
fn run(name: &str, test: impl AsyncFnOnce(&TempDir) -> io::Result<()>) {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let dir = TempDir::new(name);
    let baseline = open_fds();
    looplet::block_on(test(&dir)).unwrap();
    eventually("the descriptor count is back to its baseline", || {
        open_fds() == baseline
    });
}

#[test]
fn write_then_read_back() {
    run("write_read", async |dir| {
        let path = dir.path("a");
        fs::write(&path, b"hello").await?;
        assert_eq!(fs::read(&path).await?, b"hello");
        assert_eq!(fs::read_to_string(&path).await?, "hello");
        fs::write(&path, "shorter?").await?; // truncates first
        assert_eq!(fs::read_to_string(&path).await?, "shorter?");
        Ok(())
    });
}

#[test]
fn a_file_written_and_read_through_file() {
    run("file_rw", async |dir| {
        let path = dir.path("big");
        // Larger than the pipe between the loop and the pool, in uneven pieces.
        let data: Vec<u8> = (0..3_000_000_u32).map(|i| (i * 7 % 251) as u8).collect();
        let mut file = File::create(&path).await?;
        for chunk in data.chunks(77_777) {
            file.write_all(chunk).await?;
        }
        file.flush().await?;
        assert_eq!(fs::read(&path).await?, data);

        let mut back = Vec::new();
        File::open(&path).await?.read_to_end(&mut back).await?;
        assert_eq!(back, data);
        Ok(())
    });
}

#[test]
fn read_to_string_and_lines_through_file() {
    run("lines", async |dir| {
        let path = dir.path("lines");
        fs::write(&path, "one\ntwo\nthree\n").await?;
        let mut text = String::new();
        File::open(&path).await?.read_to_string(&mut text).await?;
        assert_eq!(text, "one\ntwo\nthree\n");

        let lines: Vec<String> = BufReader::new(File::open(&path).await?)
            .lines()
            .map(Result::unwrap)
            .collect()
            .await;
        assert_eq!(lines, ["one", "two", "three"]);
        Ok(())
    });
}

#[test]
fn seek_from_start_end_and_current() {
    run("seek", async |dir| {
        let path = dir.path("digits");
        fs::write(&path, "0123456789").await?;
        let mut file = File::open(&path).await?;
        let mut two = [0; 2];

        assert_eq!(file.seek(SeekFrom::Start(3)).await?, 3);
        file.read_exact(&mut two).await?;
        assert_eq!(&two, b"34");

        assert_eq!(file.seek(SeekFrom::End(-2)).await?, 8);
        file.read_exact(&mut two).await?;
        assert_eq!(&two, b"89");

        // After reads the pool has read ahead; Current still counts from what was read.
        file.seek(SeekFrom::Start(0)).await?;
        file.read_exact(&mut two).await?;
        assert_eq!(file.seek(SeekFrom::Current(0)).await?, 2);
        assert_eq!(file.seek(SeekFrom::Current(3)).await?, 5);
        file.read_exact(&mut two).await?;
        assert_eq!(&two, b"56");
        assert_eq!(file.seek(SeekFrom::Current(-4)).await?, 3);
        file.read_exact(&mut two).await?;
        assert_eq!(&two, b"34");

        let err = file.seek(SeekFrom::Current(-100)).await.unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::InvalidInput);
        Ok(())
    });
}

#[test]
fn a_write_after_reads_lands_where_the_reads_stopped() {
    run("read_write", async |dir| {
        let path = dir.path("rw");
        fs::write(&path, "abcdefgh").await?;
        let mut file = OpenOptions::new()
            .read(true)
            .write(true)
            .open(&path)
            .await?;
        let mut three = [0; 3];
        file.read_exact(&mut three).await?; // the pool reads on past "abc"
        file.write_all(b"XY").await?;
        file.read_exact(&mut three).await?; // reads after the write see the file's bytes
        assert_eq!(&three, b"fgh");
        file.flush().await?;
        assert_eq!(fs::read_to_string(&path).await?, "abcXYfgh");
        Ok(())
    });
}

#[test]
fn append_writes_at_the_end() {
    run("append", async |dir| {
        let path = dir.path("log");
        fs::write(&path, "first\n").await?;
        for line in ["second\n", "third\n"] {
            let mut log = File::options().append(true).open(&path).await?;
            log.write_all(line.as_bytes()).await?;
            log.flush().await?;
        }
        assert_eq!(fs::read_to_string(&path).await?, "first\nsecond\nthird\n");

        let mut created = OpenOptions::new()
            .append(true)
            .create(true)
            .open(dir.path("new"))
            .await?;
        created.write_all(b"x").await?;
        created.close().await?;
        assert_eq!(fs::read(dir.path("new")).await?, b"x");
        Ok(())
    });
}

#[test]
fn a_missing_file_is_not_found() {
    run("missing", async |dir| {
        let path = dir.path("nothing here");
        let kinds = [
            fs::read(&path).await.unwrap_err().kind(),
            fs::read_to_string(&path).await.unwrap_err().kind(),
            fs::metadata(&path).await.unwrap_err().kind(),
            fs::remove_file(&path).await.unwrap_err().kind(),
            fs::rename(&path, dir.path("b")).await.unwrap_err().kind(),
            File::open(&path).await.unwrap_err().kind(),
            fs::write(dir.path("no dir/f"), "x")
                .await
                .unwrap_err()
                .kind(),
        ];
        assert!(
            kinds.iter().all(|k| *k == io::ErrorKind::NotFound),
            "{kinds:?}"
        );
        Ok(())
    });
}

#[test]
fn directories_metadata_rename_and_remove() {
    run("dirs", async |dir| {
        let nested = dir.path("a/b/c");
        fs::create_dir_all(&nested).await?;
        fs::create_dir_all(&nested).await?; // already there: no error
        assert!(fs::metadata(&nested).await?.is_dir());

        let (from, to) = (nested.join("from"), dir.path("to"));
        fs::write(&from, "12345").await?;
        assert_eq!(fs::metadata(&from).await?.len(), 5);
        fs::rename(&from, &to).await?;
        assert_eq!(fs::read_to_string(&to).await?, "12345");
        fs::remove_file(&to).await?;
        assert_eq!(
            fs::metadata(&to).await.unwrap_err().kind(),
            io::ErrorKind::NotFound
        );
        Ok(())
    });
}

#[test]
fn set_len_metadata_and_sync_see_every_write() {
    run("set_len", async |dir| {
        let path = dir.path("f");
        let mut file = File::create(&path).await?;
        file.write_all(b"hello, world").await?;
        assert_eq!(
            file.metadata().await?.len(),
            12,
            "metadata counts unflushed writes"
        );
        file.set_len(5).await?;
        file.write_all(b"!").await?; // the cursor did not move: at 12, leaving a hole
        file.sync_all().await?;
        file.sync_data().await?;
        assert_eq!(fs::read(&path).await?, b"hello\0\0\0\0\0\0\0!");
        Ok(())
    });
}

#[test]
fn a_dropped_file_finishes_its_unflushed_writes_in_the_background() {
    run("drop", async |dir| {
        let path = dir.path("dropped");
        let data: Vec<u8> = (0..1_000_000_u32).map(|i| i as u8).collect();
        let mut file = File::create(&path).await?;
        file.write_all(&data).await?;
        drop(file); // no flush
        let expected = data.clone();
        let written = looplet::unblock(move || {
            let start = Instant::now();
            while std::fs::read(&path).ok().as_ref() != Some(&expected) {
                assert!(
                    start.elapsed() < PATIENCE,
                    "the dropped File's writes never landed"
                );
                thread::sleep(Duration::from_millis(5));
            }
        });
        written.await;
        Ok(())
    });
}

#[test]
fn the_loop_runs_while_files_are_read_and_written() {
    run("concurrent", async |dir| {
        let tasks: Vec<_> = (0..20)
            .map(|i| {
                let path = dir.path(&format!("f{i}"));
                looplet::spawn(async move {
                    let text = format!("file number {i}\n").repeat(1000);
                    let mut file = File::create(&path).await?;
                    file.write_all(text.as_bytes()).await?;
                    file.flush().await?;
                    assert_eq!(fs::read_to_string(&path).await?, text);
                    io::Result::Ok(())
                })
            })
            .collect();
        for task in tasks {
            task.await?;
        }
        Ok(())
    });
}

#[test]
fn file_and_open_options_debug() {
    run("debug", async |dir| {
        let file = File::create(dir.path("d")).await?;
        let shown = format!("{file:?}");
        assert!(shown.starts_with("File {"), "{shown}");
        assert!(format!("{:?}", File::options()).contains("OpenOptions"));
        Ok(())
    });
}

/// The error a write to a file opened read-only gets: `EBADF`.
fn is_ebadf(err: &io::Error) -> bool {
    err.raw_os_error() == Some(rustix::io::Errno::BADF.raw_os_error())
}

#[test]
fn a_failed_background_write_is_reported_by_the_next_read() {
    run("write_error_read", async |dir| {
        let path = dir.path("ro");
        fs::write(&path, "0123456789").await?;
        let mut file = File::open(&path).await?; // read-only
        file.write_all(b"zz").await?; // in the pipe; the pool's write(2) fails with EBADF
        let mut four = [0; 4];
        let read = file.read(&mut four).await;
        assert!(
            read.as_ref().is_err_and(is_ebadf),
            "the read should report the write's EBADF: {read:?} ({four:?})"
        );
        // Reported once: the file goes on as a read-only file.
        file.flush().await?;
        Ok(())
    });
}

#[test]
fn after_a_failed_write_reads_and_positions_stay_right() {
    run("write_error_pos", async |dir| {
        let path = dir.path("ro");
        fs::write(&path, "0123456789").await?;
        let mut file = File::open(&path).await?; // read-only
        file.write_all(b"zz").await?; // fails on the pool with EBADF
        let err = file.read(&mut [0; 4]).await.unwrap_err();
        assert!(is_ebadf(&err), "{err:?}");
        let mut four = [0; 4];
        file.read_exact(&mut four).await?;
        assert_eq!(&four, b"0123");
        looplet::sleep(Duration::from_millis(50)).await; // the read-ahead reaches the end
        assert_eq!(file.seek(SeekFrom::Current(0)).await?, 4);
        let mut rest = String::new();
        file.read_to_string(&mut rest).await?;
        assert_eq!(rest, "456789");
        Ok(())
    });
}

#[test]
fn a_write_after_the_pool_writer_failed_reports_its_error() {
    run("write_error_write", async |dir| {
        let path = dir.path("ro");
        fs::write(&path, "0123456789").await?;
        let mut file = File::open(&path).await?; // read-only
        // The first bytes go into the pipe; once the pool's write(2) has failed, its job
        // ends and closes the pipe. The write that then finds the pipe closed must say why
        // (EBADF), not only that nothing was written (an Ok(0), which write_all turns into
        // WriteZero).
        let start = Instant::now();
        let err = loop {
            match file.write(b"z").await {
                Ok(1) => {
                    assert!(start.elapsed() < PATIENCE, "the write never failed");
                    looplet::sleep(Duration::from_millis(1)).await;
                }
                Ok(n) => panic!("a write of 1 byte returned Ok({n}), not the pool's error"),
                Err(err) => break err,
            }
        };
        assert!(is_ebadf(&err), "{err:?}");
        Ok(())
    });
}

/// 64 KiB of this process's memory with nothing mapped after them, unmapped on drop: read
/// through `/proc/self/mem`, a file whose reads succeed up to an offset and fail with `EIO`
/// from there on. (64 KiB is a whole number of pages for every page size Linux has, so it
/// needs no page-size lookup, which valgrind finds fault with in rustix.)
struct MemoryEdge {
    map: *mut std::ffi::c_void,
    len: usize,
}

impl MemoryEdge {
    fn new() -> MemoryEdge {
        use rustix::mm::{MapFlags, ProtFlags, mmap_anonymous, munmap};
        let len = 64 * 1024;
        // SAFETY: a fresh private mapping, at an address the kernel picks: nothing else in
        // the process uses that memory.
        let map = unsafe {
            mmap_anonymous(
                std::ptr::null_mut(),
                2 * len,
                ProtFlags::READ | ProtFlags::WRITE,
                MapFlags::PRIVATE,
            )
        }
        .expect("mmap");
        // SAFETY: the second half is ours (just mapped), and nothing refers to it.
        unsafe { munmap(map.cast::<u8>().add(len).cast(), len) }.expect("munmap");
        // SAFETY: the first half is mapped, writable and ours alone.
        let bytes = unsafe { std::slice::from_raw_parts_mut(map.cast::<u8>(), len) };
        for (i, byte) in bytes.iter_mut().enumerate() {
            *byte = (i % 251) as u8;
        }
        MemoryEdge { map, len }
    }

    fn address(&self) -> u64 {
        self.map as u64
    }

    fn expected(&self) -> Vec<u8> {
        (0..self.len).map(|i| (i % 251) as u8).collect()
    }
}

impl Drop for MemoryEdge {
    fn drop(&mut self) {
        // SAFETY: the first half was mapped by `new`, and no reference to it outlives `self`.
        unsafe { rustix::mm::munmap(self.map, self.len) }.expect("munmap");
    }
}

/// The pool reads ahead of the reads, and may fail where nobody asked to read; stopping it
/// to seek must not report that error as the seek's.
#[test]
fn a_read_ahead_error_is_not_reported_by_a_seek() {
    run("read_ahead_error", async |_| {
        let last = MemoryEdge::new();
        let mut mem = File::open("/proc/self/mem").await?;
        assert_eq!(
            mem.seek(SeekFrom::Start(last.address())).await?,
            last.address()
        );
        let mut first = [0; 1];
        mem.read_exact(&mut first).await?;
        // Let the read-ahead run on past the mapping, into EIO.
        looplet::sleep(Duration::from_millis(50)).await;
        assert_eq!(
            mem.seek(SeekFrom::Current(0)).await?,
            last.address() + 1,
            "the seek that stops the read-ahead"
        );
        let mut rest = vec![0; last.len - 1];
        mem.read_exact(&mut rest).await?;
        assert_eq!([&first[..], &rest].concat(), last.expected());
        // The error is still there for the read that asks for it.
        let err = mem.read(&mut first).await.unwrap_err();
        assert_eq!(
            err.raw_os_error(),
            Some(rustix::io::Errno::IO.raw_os_error())
        );
        // And a seek after a read that saw the error is no error either.
        assert_eq!(
            mem.seek(SeekFrom::Start(last.address())).await?,
            last.address()
        );
        Ok(())
    });
}
