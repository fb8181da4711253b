"""segment: raw shared-memory segments; one owner creates and unlinks, everyone else only
attaches. Layer: low (imports the leaves errors and arena, and pages and tracker).

A segment is a POSIX shared-memory object named ``par_<pid>_`` + 32 random hex digits, mode 0600,
holding raw array or Arrow bytes (never pickles). Its picklable description, :class:`SegmentRef`,
is a few dozen bytes whatever the segment's size.

Life cycle::

    owner process (this module)            worker processes (:mod:`.attached`)
    ───────────────────────────            ───────────────────────────────────
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

from . import tracker  # noqa: F401  (keeps the resource tracker alive and informed)
from .arena import Arena
from .errors import SharedMemoryError, SharedMemoryFallbackWarning, format_bytes
from .pages import free_bytes, map_new_fd
from .segment_exit import creations as _creations

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


#: Transient segments released recently, kept mapped for reuse (see :mod:`.arena`).
arena = Arena()
if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=arena.forget_after_fork)



#: Segments this process owns, by name: unlinked at exit if still alive.
_owned: dict[str, Segment] = {}


def _track(name: str) -> None:
    from multiprocessing import resource_tracker

    resource_tracker.register("/" + name, "shared_memory")


def _untrack(name: str) -> None:
    from multiprocessing import resource_tracker

    resource_tracker.unregister("/" + name, "shared_memory")


def _new_name() -> str:
    """``par_<owner pid>_<128 random bits>``: unguessable, and says whose it is."""
    return f"{PREFIX}{os.getpid()}_{secrets.token_hex(16)}"


def _anonymous(name: str, fd: int, size: int, buf: mmap.mmap) -> Segment:
    """A segment whose name is already gone: workers reach it through /proc/<pid>/fd/<fd>."""
    path = f"/proc/{os.getpid()}/fd/{fd}"
    return Segment(SegmentRef(name, size, os.getpid(), path=path), buf, fd)


def _create_shm(size: int, transient: bool) -> Segment:
    name = _new_name()
    if transient:
        # Its name is unlinked at once, before the pages are mapped, and the tracker knows it
        # for those two calls: an interpreter that exits (or is killed) while this thread is
        # between them leaves nothing in /dev/shm.
        _track(name)
        try:
            fd = _posixshmem.shm_open("/" + name, os.O_CREAT | os.O_EXCL | os.O_RDWR,
                                      mode=0o600)
            _posixshmem.shm_unlink("/" + name)
        finally:
            _untrack(name)
    else:
        fd = _posixshmem.shm_open("/" + name, os.O_CREAT | os.O_EXCL | os.O_RDWR, mode=0o600)
    try:
        buf = map_new_fd(fd, size)
    except BaseException:
        os.close(fd)
        if not transient:
            _posixshmem.shm_unlink("/" + name)
        raise
    if transient:
        return _anonymous(name, fd, size, buf)
    os.close(fd)
    seg = Segment(SegmentRef(name, size, os.getpid()), buf)
    _track(name)
    return seg


def sweep_orphan_files(folder: str) -> int:
    """Unlink the file-backed segments in ``folder`` whose owner died without unlinking them
    (killed: no resource tracker cleans a file, as it cleans /dev/shm); how many. Names carry
    the owner's pid; only this user's files of dead owners go."""
    swept = 0
    try:
        names = [n for n in os.listdir(folder) if n.startswith(PREFIX)]
    except OSError:
        return 0
    for name in names:
        owner = name[len(PREFIX):].split("_", 1)[0]
        if not owner.isdigit() or int(owner) == os.getpid() or _alive(int(owner)):
            continue
        path = os.path.join(folder, name)
        try:
            if os.lstat(path).st_uid == os.getuid():
                os.unlink(path)
                swept += 1
        except OSError:
            pass
    return swept


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's: alive
        return True
    return True


def _create_file(size: int, folder: str, transient: bool) -> Segment:
    name = _new_name()
    path = os.path.join(folder, name)
    fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_RDWR, 0o600)
    if transient:
        os.unlink(path)  # at once, before the pages are mapped (as in _create_shm)
    try:
        buf = map_new_fd(fd, size)
    except BaseException:
        os.close(fd)
        if not transient:
            os.unlink(path)
        raise
    if transient:
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
    with _creations:
        return _create(size, transient)


def _create(size: int, transient: bool) -> Segment:
    if size <= 0:
        raise ValueError(f"a shared segment needs a positive size, got {size}")
    transient = transient and ANONYMOUS_OK
    if transient:
        kept = arena.take(size)
        if kept is not None:  # the pages of a released map copy, under a new name
            seg = Segment(SegmentRef(_new_name(), size, os.getpid(), path=kept.ref.path),
                          kept.buf, kept.fd)
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
    sweep_orphan_files(folder)  # a killed owner's files would hold the space this one needs
    file_free = free_bytes(folder)
    if file_free is None or file_free >= size:
        try:
            seg = _create_file(size, folder, transient)
        except OSError as exc:
            if exc.errno not in (errno.ENOSPC, errno.EFBIG):
                raise
        else:
            warnings.warn(
                f"{SHM_DIR} has {format_bytes(shm_free)} free, less than the "
                f"{format_bytes(size)} needed: "
                f"the data goes to a file-backed mapping in {folder} instead (slower). Give "
                f"the container a larger /dev/shm (docker run --shm-size=...) to avoid this.",
                SharedMemoryFallbackWarning,
                stacklevel=3,
            )
            _owned[seg.name] = seg
            return seg
    raise SharedMemoryError(
        errno.ENOSPC,
        f"not enough shared memory: {format_bytes(size)} needed, {format_bytes(shm_free)} free "
        f"in {SHM_DIR} and {format_bytes(file_free)} free in {folder}. Free some space, enlarge "
        "/dev/shm, or pass smaller data (e.g. a par.from_parquet source).",
    )


def owned_segments() -> list[Segment]:
    """The linked segments this process owns."""
    return [s for s in list(_owned.values()) if not s.unlinked and s.ref.owner == os.getpid()]


def owned(name: str) -> Segment | None:
    """The segment of that name if this process owns it (and it is still linked)."""
    seg = _owned.get(name)
    return seg if seg is not None and os.getpid() == seg.ref.owner else None


@atexit.register
def _unlink_all_owned() -> None:
    """At interpreter exit, remove every segment this process still owns."""
    _creations.close()
    for seg in list(_owned.values()):
        seg.release()
    arena.clear()
