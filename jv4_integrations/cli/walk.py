"""Walking the paths given to ``jv4 index``: which files to read, and why the others are skipped.

Only regular files are read (a named pipe or a device would block the run); a file whose name is
not valid UTF-8 cannot be stored as an id or a payload, so it is skipped and named; an unreadable
folder and a broken symlink are reported, not passed over in silence.
"""

from __future__ import annotations

import fnmatch
import os
from collections.abc import Iterator, Sequence
from functools import partial
from pathlib import Path

from .._optional import is_available
from .output import shown
from .sources import MISSING, PDF_NEEDS_EXTRA, PDF_SUFFIXES, SUPPORTED_SUFFIXES, SourceFailure, unsupported

__all__ = ["iter_files"]


def _why_not_readable(path: Path) -> str | None:
    """Why a path with a supported suffix cannot be read as a file, or ``None`` when it can."""
    try:
        os.fspath(path).encode("utf-8")
    except UnicodeEncodeError:
        return "the file name is not valid UTF-8 (rename it to index it)"
    try:
        if path.is_symlink() and not path.exists():
            return f"broken symlink to {shown(os.readlink(path))}"
        if not path.is_file():
            return "not a regular file (a pipe, socket or device is never read)"
    except OSError as exc:  # e.g. in a folder that can be listed but not entered
        return f"cannot read: {exc.strerror or exc}"
    if path.suffix.lower() in PDF_SUFFIXES and not is_available("pypdfium2"):
        return PDF_NEEDS_EXTRA  # said before anything loads
    return None


def _unreadable_folder(failures: list[SourceFailure], exc: OSError) -> None:
    failures.append(SourceFailure(str(exc.filename), f"cannot read folder: {exc.strerror or exc}"))


def iter_files(
    paths: Sequence[str | os.PathLike[str]],
    *,
    ignored: list[Path] | None = None,
    exclude: Sequence[str] = (),
    excluded: dict[str, int] | None = None,
) -> Iterator[Path | SourceFailure]:
    """Files under the given paths (folders walked recursively, sorted, hidden entries skipped).

    A file reached twice (overlapping paths such as ``docs`` and ``docs/sub``, the same file named
    twice, or a symlink to a file already seen) is yielded once. A file named directly with an
    unsupported suffix is a :class:`SourceFailure`; inside folders such files are passed over and
    appended to ``ignored``. Symlinked folders are not followed.

    Args:
        paths: files and folders.
        ignored: collects the files of other types found in folders.
        exclude: glob patterns (``fnmatch``) of file or folder names, or of paths relative to the
            folder walked, to leave out (``node_modules``, ``*.log``, ``drafts/*``; a trailing ``/``
            is ignored). Files named directly are matched by name.
        excluded: counts, per pattern as given, the files and folders it left out.
    """
    patterns = [(given, given.rstrip("/") or given) for given in exclude]
    counts = excluded if excluded is not None else {}
    for given, _ in patterns:
        counts.setdefault(given, 0)
    seen: set[Path] = set()

    def first_time(path: Path) -> bool:
        try:
            key = path.resolve()
        except OSError:
            key = path.absolute()
        if key in seen:
            return False
        seen.add(key)
        return True

    def is_excluded(name: str, relative: str) -> bool:
        for given, pattern in patterns:
            if fnmatch.fnmatch(name, pattern) or fnmatch.fnmatch(relative, pattern):
                counts[given] += 1
                return True
        return False

    def entry_of(path: Path) -> Path | SourceFailure:
        reason = _why_not_readable(path)
        return path if reason is None else SourceFailure(str(path), reason)

    for raw in paths:
        path = Path(raw)
        try:
            exists = path.exists() or path.is_symlink()
        except OSError as exc:  # e.g. a path below a folder that cannot be read
            yield SourceFailure(str(path), f"cannot read: {exc.strerror or exc}")
            continue
        if not exists:
            yield SourceFailure(str(path), MISSING)
        elif not path.is_dir():
            if is_excluded(path.name, path.name):
                continue
            if path.suffix.lower() not in SUPPORTED_SUFFIXES:
                yield SourceFailure(str(path), unsupported(path))
            elif first_time(path):
                yield entry_of(path)
        else:
            failures: list[SourceFailure] = []
            for root, dirs, files in os.walk(path, onerror=partial(_unreadable_folder, failures)):
                yield from failures
                failures.clear()
                base = Path(root)
                rel = base.relative_to(path)
                dirs[:] = sorted(d for d in dirs if not d.startswith(".") and not is_excluded(d, (rel / d).as_posix()))
                for name in sorted(files):
                    entry = base / name
                    if name.startswith(".") or is_excluded(name, (rel / name).as_posix()):
                        continue
                    if entry.suffix.lower() not in SUPPORTED_SUFFIXES:
                        if ignored is not None and first_time(entry):
                            ignored.append(entry)
                    elif first_time(entry):
                        yield entry_of(entry)
            yield from failures
