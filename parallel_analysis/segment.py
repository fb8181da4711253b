"""Raw shared-memory segments: one owner creates and unlinks, everyone else only attaches.

A segment is a POSIX shared-memory object named ``par_<pid>_`` + 32 random hex digits, mode 0600,
holding raw array or Arrow bytes (never pickles). Its picklable description, :class:`SegmentRef`,
is a few dozen bytes whatever the segment's size.

Life cycle::

    owner process                          worker processes
    ─────────────                          ────────────────
    create(): check free space,            attach(ref): shm_open + mmap, no tracker,
      posix_fallocate (no SIGBUS later),     cached per process until the name is gone
      mmap(MAP_POPULATE), register with    (the watchdog thread drops mappings whose
      multiprocessing's resource tracker     name was unlinked)
    unlink(): remove the name, unregister
    atexit / GC / Ctrl-C: unlink           a crash of the owner: the resource tracker
                                             unlinks what the owner registered

Workers never register with a resource tracker (the equivalent of Python 3.13's
``SharedMemory(track=False)``), so no tracker deletes a segment early or warns about leaks.
When /dev/shm lacks room, the segment is a file in a temporary folder instead (one warning);
:class:`~parallel_analysis.errors.SharedMemoryError` only when no place has room.
"""

from __future__ import annotations

import atexit
import errno
import mmap
import os
import secrets
import tempfile
import threading
import warnings
from dataclasses import dataclass

from .errors import SharedMemoryError, SharedMemoryFallbackWarning

PREFIX = "par_"
SHM_DIR = "/dev/shm"

try:  # POSIX shared memory, as multiprocessing.shared_memory uses it
    import _posixshmem
except ImportError:  # pragma: no cover - Windows
    _posixshmem = None


@dataclass(frozen=True)
class SegmentRef:
    """What a process needs to attach a segment: pickles to its name, never its bytes."""

    name: str
    size: int
    owner: int
    path: str | None = None  # a file-backed fallback; None means POSIX shared memory

    @property
    def location(self) -> str:
        return self.path or os.path.join(SHM_DIR, self.name)


class Segment:
    """A segment this process created and alone releases.

    A *named* segment lives in /dev/shm until :meth:`release` unlinks it. A *transient* one (a
    map's own copy of the caller's array) is unlinked at birth: this process keeps its file
    descriptor and workers open it through ``/proc/<pid>/fd/<fd>``, so nothing ever stays in
    /dev/shm, not even after a crash, and :meth:`release` hands it to the arena for reuse.
    """

    def __init__(self, ref: SegmentRef, buf: mmap.mmap, fd: int | None = None):
        self.ref = ref
        self.buf = buf
        self.fd = fd  # kept open for transient segments only
        self._lock = threading.Lock()
        self._unlinked = False

    @property
    def name(self) -> str:
        return self.ref.name

    @property
    def transient(self) -> bool:
        return self.fd is not None

    def release(self) -> None:
        """Unlink a named segment (once), or give a transient one back to the arena."""
        with self._lock:
            if self._unlinked or os.getpid() != self.ref.owner:
                return
            self._unlinked = True
        _owned.pop(self.ref.name, None)
        if self.transient:
            arena.give(self)
            return
        try:
            if self.ref.path is None:
                _posixshmem.shm_unlink("/" + self.ref.name)
                _untrack(self.ref.name)
            else:
                os.unlink(self.ref.path)
        except FileNotFoundError:
            pass

    unlink = release

    def close_fd(self) -> None:
        if self.fd is not None:
            fd, self.fd = self.fd, None
            os.close(fd)

    @property
    def unlinked(self) -> bool:
        return self._unlinked


class Arena:
    """Recently released transient segments, kept mapped so the next map pays no page faults.

    Writing into fresh shared pages costs about a second per 1.6 GB in page faults, a copy into
    warm pages a tenth of that; so a map over a fresh array reuses the pages of the previous
    map of a similar size. Bounded in bytes, emptied after ``IDLE_SECONDS`` unused and at exit.
    """

    #: Most bytes kept for reuse: a quarter of this machine's memory, at most 8 GiB.
    MAX_BYTES = min(8 * 2**30, (os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")) // 4
                    if hasattr(os, "sysconf") else 2**30)
    #: Seconds an unused segment is kept before its memory goes back to the system.
    IDLE_SECONDS = 10.0
    #: Most segments kept (each holds a file descriptor): maps over arrays of ever-different
    #: sizes would otherwise keep one per map, up to MAX_BYTES.
    MAX_SEGMENTS = 8

    def __init__(self) -> None:
        self._free: list[Segment] = []
        self._lock = threading.Lock()
        self._timer: threading.Timer | None = None

    def take(self, size: int) -> Segment | None:
        """A kept segment of at least ``size`` bytes (and at most twice that), or None."""
        with self._lock:
            fits = [s for s in self._free if size <= s.buf.size() <= 2 * size]
            if not fits:
                return None
            seg = min(fits, key=lambda s: s.buf.size())
            self._free.remove(seg)
        fresh = Segment(SegmentRef(_new_name(), size, os.getpid(), path=seg.ref.path), seg.buf,
                        seg.fd)
        return fresh

    def give(self, seg: Segment) -> None:
        with self._lock:
            if os.getpid() != seg.ref.owner or seg.buf.size() > self.MAX_BYTES:
                drop = [seg]
            else:
                self._free.append(seg)
                drop = []
                while (len(self._free) > self.MAX_SEGMENTS
                       or sum(s.buf.size() for s in self._free) > self.MAX_BYTES):
                    drop.append(self._free.pop(0))
            if self._timer is not None:
                self._timer.cancel()
            self._timer = threading.Timer(self.IDLE_SECONDS, self.clear)
            self._timer.daemon = True
            self._timer.start()
        for old in drop:
            old.close_fd()

    def clear(self) -> None:
        """Give every kept segment's memory back (its pages go when the last view does)."""
        with self._lock:
            dropped, self._free = self._free, []
        for seg in dropped:
            seg.close_fd()

    @property
    def nbytes(self) -> int:
        with self._lock:
            return sum(s.buf.size() for s in self._free)


arena = Arena()


#: Segments this process owns, by name: unlinked at exit if still alive.
_owned: dict[str, Segment] = {}
#: Segments this process attached (it does not own them), by name.
_attached: dict[str, mmap.mmap] = {}
_attach_lock = threading.Lock()


def _track(name: str) -> None:
    from multiprocessing import resource_tracker

    resource_tracker.register("/" + name, "shared_memory")


def _untrack(name: str) -> None:
    from multiprocessing import resource_tracker

    resource_tracker.unregister("/" + name, "shared_memory")


def free_bytes(folder: str) -> int | None:
    """Bytes free for an unprivileged writer in ``folder``'s file system; None if unknown."""
    try:
        st = os.statvfs(folder)
    except OSError:
        return None
    return st.f_bavail * st.f_frsize


def _new_name() -> str:
    """``par_<owner pid>_<128 random bits>``: unguessable, and says whose it is."""
    return f"{PREFIX}{os.getpid()}_{secrets.token_hex(16)}"


def _map_new_fd(fd: int, size: int) -> mmap.mmap:
    """Reserve ``size`` bytes (ENOSPC now rather than SIGBUS later) and map them populated."""
    if hasattr(os, "posix_fallocate"):
        os.posix_fallocate(fd, 0, size)
    else:  # pragma: no cover - macOS
        os.ftruncate(fd, size)
    flags = mmap.MAP_SHARED | getattr(mmap, "MAP_POPULATE", 0)
    return mmap.mmap(fd, size, flags=flags, prot=mmap.PROT_READ | mmap.PROT_WRITE)


def _anonymous(name: str, fd: int, size: int, buf: mmap.mmap) -> Segment:
    """A segment whose name is already gone: workers reach it through /proc/<pid>/fd/<fd>."""
    path = f"/proc/{os.getpid()}/fd/{fd}"
    return Segment(SegmentRef(name, size, os.getpid(), path=path), buf, fd)


def _create_shm(size: int, transient: bool) -> Segment:
    name = _new_name()
    fd = _posixshmem.shm_open("/" + name, os.O_CREAT | os.O_EXCL | os.O_RDWR, mode=0o600)
    try:
        buf = _map_new_fd(fd, size)
    except BaseException:
        os.close(fd)
        _posixshmem.shm_unlink("/" + name)
        raise
    if transient:
        _posixshmem.shm_unlink("/" + name)
        return _anonymous(name, fd, size, buf)
    os.close(fd)
    seg = Segment(SegmentRef(name, size, os.getpid()), buf)
    _track(name)
    return seg


def _create_file(size: int, folder: str, transient: bool) -> Segment:
    name = _new_name()
    path = os.path.join(folder, name)
    fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_RDWR, 0o600)
    try:
        buf = _map_new_fd(fd, size)
    except BaseException:
        os.close(fd)
        os.unlink(path)
        raise
    if transient:
        os.unlink(path)
        return _anonymous(name, fd, size, buf)
    os.close(fd)
    return Segment(SegmentRef(name, size, os.getpid(), path=path), buf)


#: Transient segments are reached through /proc/<pid>/fd, which only Linux has.
ANONYMOUS_OK = os.path.isdir(f"/proc/{os.getpid()}/fd")


def create(size: int, transient: bool = False) -> Segment:
    """A new segment of ``size`` bytes (> 0), in /dev/shm or, when full, a temporary folder.

    ``transient`` segments (a map's own copies) have no name in /dev/shm and are reused from
    the :class:`Arena` when one of a similar size was released recently.
    """
    if size <= 0:
        raise ValueError(f"a shared segment needs a positive size, got {size}")
    transient = transient and ANONYMOUS_OK
    if transient:
        seg = arena.take(size)
        if seg is not None:
            _owned[seg.name] = seg
            return seg
    shm_free = free_bytes(SHM_DIR) if _posixshmem is not None else None
    if shm_free is not None and shm_free < size and arena.nbytes:
        arena.clear()  # idle kept segments must not push live data out of /dev/shm
        shm_free = free_bytes(SHM_DIR)
    if shm_free is not None and shm_free >= size:
        try:
            seg = _create_shm(size, transient)
            _owned[seg.name] = seg
            return seg
        except OSError as exc:
            if exc.errno not in (errno.ENOSPC, errno.ENOMEM, errno.EFBIG):
                raise
            shm_free = free_bytes(SHM_DIR)
    folder = tempfile.gettempdir()
    file_free = free_bytes(folder)
    if file_free is None or file_free >= size:
        try:
            seg = _create_file(size, folder, transient)
        except OSError as exc:
            if exc.errno not in (errno.ENOSPC, errno.EFBIG):
                raise
        else:
            warnings.warn(
                f"{SHM_DIR} has {_fmt(shm_free)} free, less than the {_fmt(size)} needed: "
                f"the data goes to a file-backed mapping in {folder} instead (slower). Give "
                f"the container a larger /dev/shm (docker run --shm-size=...) to avoid this.",
                SharedMemoryFallbackWarning,
                stacklevel=3,
            )
            _owned[seg.name] = seg
            return seg
    raise SharedMemoryError(
        errno.ENOSPC,
        f"not enough shared memory: {_fmt(size)} needed, {_fmt(shm_free)} free in {SHM_DIR} "
        f"and {_fmt(file_free)} free in {folder}. Free some space, enlarge /dev/shm, or pass "
        f"smaller data (e.g. a par.from_parquet source).",
    )


def _fmt(n: int | None) -> str:
    if n is None:
        return "an unknown amount"
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if abs(n) < 1024 or unit == "TiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n} B"  # pragma: no cover


def owned(name: str) -> Segment | None:
    """The segment of that name if this process owns it (and it is still linked)."""
    seg = _owned.get(name)
    return seg if seg is not None and os.getpid() == seg.ref.owner else None


def attach(ref: SegmentRef, *, writable: bool = False, cache: bool = True) -> mmap.mmap:
    """Map a segment another process created, without registering it with any tracker.

    Owners get their own mapping back. Read-only unless ``writable``; cached per process (and
    dropped by :func:`release_unlinked` once the owner unlinks) unless ``cache=False``.
    """
    seg = owned(ref.name)
    if seg is not None:
        return seg.buf
    key = ref.name + (":w" if writable else ":r")
    if cache:
        with _attach_lock:
            buf = _attached.get(key)
        if buf is not None:
            return buf
    try:
        if ref.path is None:
            flags = os.O_RDWR if writable else os.O_RDONLY
            fd = _posixshmem.shm_open("/" + ref.name, flags, mode=0o600)
        else:
            fd = os.open(ref.path, os.O_RDWR if writable else os.O_RDONLY)
    except FileNotFoundError:
        raise SharedMemoryError(
            errno.ENOENT,
            f"shared segment {ref.name} no longer exists: its owner (pid {ref.owner}) closed it "
            "or exited. Share the data again and pass the new handle.",
        ) from None
    except PermissionError:
        raise SharedMemoryError(
            errno.EACCES,
            f"shared segment {ref.name} belongs to another user (segments are created with mode "
            "0600); share the data from this user's process instead.",
        ) from None
    try:
        prot = mmap.PROT_READ | (mmap.PROT_WRITE if writable else 0)
        buf = mmap.mmap(fd, ref.size, flags=mmap.MAP_SHARED, prot=prot)
    finally:
        os.close(fd)
    if cache:
        with _attach_lock:
            buf = _attached.setdefault(key, buf)
    return buf


def release_unlinked() -> int:
    """Drop cached mappings whose segment name is gone (its owner closed it); how many."""
    with _attach_lock:
        keys = list(_attached)
    dropped = 0
    for key in keys:
        name = key.rsplit(":", 1)[0]
        if not os.path.exists(os.path.join(SHM_DIR, name)) and not _file_exists(name):
            with _attach_lock:
                _attached.pop(key, None)
            dropped += 1
    return dropped


def _file_exists(name: str) -> bool:
    return os.path.exists(os.path.join(tempfile.gettempdir(), name))


@atexit.register
def _unlink_all_owned() -> None:
    """At interpreter exit, remove every segment this process still owns."""
    for seg in list(_owned.values()):
        seg.release()
    arena.clear()
