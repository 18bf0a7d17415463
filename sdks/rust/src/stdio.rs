//! Taking stdout for the protocol, so `println!` cannot corrupt it.

use std::io::Write;

/// Returns the writer the protocol uses. On unix it is a duplicate of fd 1, and fd 1 itself is pointed at
/// stderr, so everything else written to stdout (`println!`, C libraries, child processes) goes to the log.
/// Elsewhere, or if that fails, it is plain stdout.
pub(crate) fn take_stdout() -> Box<dyn Write + Send> {
    let _ = std::io::stdout().flush();
    #[cfg(unix)]
    {
        match unix::take_stdout() {
            Ok(file) => return Box::new(file),
            Err(e) => crate::peer::warn(format_args!(
                "cannot move stdout to stderr ({e}); println! output will corrupt the protocol"
            )),
        }
    }
    Box::new(std::io::stdout())
}

#[cfg(unix)]
mod unix {
    use std::fs::File;
    use std::io;
    use std::os::fd::AsFd;
    use std::os::raw::c_int;

    extern "C" {
        // POSIX; std links the C library on every unix target, so no extra crate is needed.
        fn dup2(oldfd: c_int, newfd: c_int) -> c_int;
    }

    pub(super) fn take_stdout() -> io::Result<File> {
        // dup(1) with close-on-exec: the protocol's own handle on the real stdout.
        let proto = io::stdout().as_fd().try_clone_to_owned()?;
        // Point fd 1 at stderr. SAFETY: dup2 on two valid descriptors has no memory-safety preconditions.
        if unsafe { dup2(2, 1) } < 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(File::from(proto))
    }
}
