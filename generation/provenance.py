"""Which pain3d wrote a run: its version and a hash of the source that makes the frames.

The run record keeps them, so ``pain3d generate --resume`` can tell a run started by another
generator (whose frames would differ from this one's) and refuse to mix the two
(``generation.layout.check_same_generator``).
"""

from __future__ import annotations

import hashlib
import importlib.util
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

# the packages whose code decides a run's bytes: the generator and the dataset writer
SOURCE_PACKAGES = ("generation", "pain3d_dataset")


def source_sha256(packages: tuple[str, ...] = SOURCE_PACKAGES) -> str:
    """SHA-256 over the packages' Python files (relative path and bytes, in path order)."""
    h = hashlib.sha256()
    for package in packages:
        spec = importlib.util.find_spec(package)
        if spec is None or not spec.submodule_search_locations:
            raise ModuleNotFoundError(f"no package {package!r} to fingerprint")
        root = Path(next(iter(spec.submodule_search_locations)))
        for path in sorted(root.rglob("*.py")):
            h.update(f"{package}/{path.relative_to(root).as_posix()}\0".encode())
            h.update(path.read_bytes())
            h.update(b"\0")
    return "sha256:" + h.hexdigest()


def generator_stamp() -> dict[str, str]:
    """This generator, as a run record keeps it: pain3d's version and ``source_sha256``."""
    try:
        pain3d = version("pain3d")
    except PackageNotFoundError:  # run from a source tree that was never installed
        pain3d = "unknown"
    return {"pain3d": pain3d, "source": source_sha256()}


def describe_stamp(stamp: object) -> str:
    """A stamp in a few words, for error messages (an old record has none)."""
    if not isinstance(stamp, dict) or "source" not in stamp:
        return "a pain3d that did not record its source"
    return f"pain3d {stamp.get('pain3d', '?')}, source {str(stamp['source'])[7:19]}"


__all__ = ["SOURCE_PACKAGES", "describe_stamp", "generator_stamp", "source_sha256"]
