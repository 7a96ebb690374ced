"""Reading untrusted archives with bounded memory: tar members streamed, JSON parsed with limits.

``members`` streams a tar archive (never extracted, never seeking back) and yields each regular
file's bytes, read only when the member is within ``max_bytes``; every other member (a link, a
device node, a FIFO, a member over the limit) goes to ``on_problem`` by name instead, and its
bytes are skipped without being held. ``parse_json`` refuses documents over a size limit before
parsing and over a nesting limit after (never a ``RecursionError``).
"""

from __future__ import annotations

import json
import tarfile
import zlib
from pathlib import Path
from typing import Callable, Iterator

MAX_JSON_DEPTH = 64


class ArchiveError(ValueError):
    """The archive cannot be read at all (not tar, truncated, bad compression)."""


def _kind(member: tarfile.TarInfo) -> str:
    if member.issym():
        return f"a symbolic link (to {member.linkname})"
    if member.islnk():
        return f"a hard link (to {member.linkname})"
    if member.ischr() or member.isblk():
        return "a device node"
    if member.isfifo():
        return "a FIFO"
    return f"an unsupported tar member (type {member.type!r})"


def members(
    shard: Path, label: str, max_bytes: int, on_problem: Callable[[str, str], None] | None = None
) -> Iterator[tuple[str, str, bytes]]:
    """(``label:member name``, base name, bytes) of each regular file of ``shard``, in order.

    Directories are passed over silently; anything else not read is given to ``on_problem``
    as (file, message). Raises ArchiveError when the archive itself is unreadable.
    """
    try:
        with tarfile.open(shard, mode="r|*") as tf:
            for member in tf:
                file = f"{label}:{member.name}"
                if member.isdir():
                    continue
                if not member.isfile():
                    if on_problem:
                        on_problem(file, f"{_kind(member)}, not a regular file: not extracted")
                    continue
                if member.size > max_bytes:
                    if on_problem:
                        on_problem(file, f"{member.size} bytes uncompressed, over the {max_bytes} byte limit per member: not read")
                    continue
                fh = tf.extractfile(member)
                data = fh.read(member.size) if fh is not None else b""  # read(n) would allocate n
                yield file, member.name.rsplit("/", 1)[-1], data
    except (tarfile.TarError, EOFError, zlib.error, OSError) as e:
        raise ArchiveError(f"{label} is not a readable tar archive ({e}); download it again") from None


def json_depth(obj: object) -> int:
    """Deepest nesting of lists/dicts in a parsed JSON value (walked without recursion)."""
    deepest, stack = 0, [(obj, 1)]
    while stack:
        node, depth = stack.pop()
        if isinstance(node, (list, dict)):
            deepest = max(deepest, depth)
            stack.extend((v, depth + 1) for v in (node.values() if isinstance(node, dict) else node))
    return deepest


def parse_json(data: bytes, max_bytes: int, max_depth: int = MAX_JSON_DEPTH) -> object:
    """``json.loads`` within limits; ValueError says which limit or what is malformed."""
    if len(data) > max_bytes:
        raise ValueError(f"{len(data)} bytes, over the {max_bytes} byte limit for a JSON file")
    try:
        obj = json.loads(data.decode("utf-8-sig"))
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise ValueError(f"malformed JSON ({e})") from None
    except RecursionError:  # json's C parser stops at the interpreter's recursion limit
        raise ValueError(f"nested deeper than the limit of {max_depth} levels") from None
    depth = json_depth(obj)
    if depth > max_depth:
        raise ValueError(f"nested {depth} levels deep, over the limit of {max_depth}")
    return obj


__all__ = ["ArchiveError", "MAX_JSON_DEPTH", "json_depth", "members", "parse_json"]
