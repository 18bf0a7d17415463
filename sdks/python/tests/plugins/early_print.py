"""Imports plugd.runtime first, so even module-level prints go to stderr."""

import plugd.runtime  # noqa: F401  (takes stdout for the protocol at import)

print("printed at import time")

from plugd import Plugin  # noqa: E402

plugin = Plugin("early", version="0.0.1")


@plugin.entry()
def ping(ctx):
    return "pong"


if __name__ == "__main__":
    plugin.run()
