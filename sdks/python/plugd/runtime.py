"""Serving a plugin over this process's stdin/stdout.

stdout belongs to the protocol. Importing this module (``Plugin.run()`` does) keeps a private duplicate of the
real stdout for the frames, then points file descriptor 1 at stderr and ``sys.stdout`` at ``sys.stderr``: ``print``,
C extensions writing to fd 1 and child processes that inherit it all end up in stderr, which the host reads as the
plugin's log. stdin is likewise kept for the protocol and fd 0 becomes ``/dev/null``, so a stray ``input()``
cannot eat protocol bytes.
"""

from __future__ import annotations

import io
import os
import sys

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, BinaryIO, Optional, Tuple

    from .registry import Registry

__all__ = ["take_stdio", "serve"]

_stdio: Optional[Tuple[BinaryIO, int]] = None


def take_stdio() -> Tuple[BinaryIO, int]:
    """Takes stdin/stdout for the protocol (once); returns (binary reader of the real stdin, real stdout fd)."""
    global _stdio
    if _stdio is not None:
        return _stdio
    try:
        sys.stdout.flush()
    except Exception:
        pass
    out_fd = os.dup(1)
    os.dup2(2, 1)
    sys.stdout = sys.stderr
    in_fd = os.dup(0)
    try:
        null = os.open(os.devnull, os.O_RDONLY)
        os.dup2(null, 0)
        os.close(null)
    except OSError:  # pragma: no cover
        pass
    _stdio = (io.open(in_fd, "rb", buffering=1 << 16), out_fd)
    return _stdio


take_stdio()


def serve(registry: Registry, **options: Any) -> None:
    """Serves ``registry`` on stdio until the host closes stdin or sends ``plugin/shutdown``; then exits the
    process (code 0). Never returns."""
    from .service import Service

    reader, out_fd = take_stdio()
    service = Service(registry, reader, out_fd, **options)
    try:
        service.serve_forever()
    except KeyboardInterrupt:
        service._exit(130)
    service._exit(0)
