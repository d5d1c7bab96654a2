"""Child processes that pause at a known point and say so: signals and kills without races.

A test that interrupts or kills a running command must not poll for files and hope the
command is still running: on a fast machine it may already have finished, on a slow one it
may not have reached the point yet. Instead the child runs the real command with one of its
functions wrapped so that, at the chosen point, it prints a marker line on stdout and then
blocks reading stdin. The test reads stdout until the marker (:func:`wait_for`), acts (a
signal, a kill, another command that must find the lock taken), and either lets the child
go on (:func:`resume`) or kills it. Nothing here depends on how fast the machine is.

If the test dies, the child's stdin closes and the child exits at once (code 99) instead of
finishing its run.
"""

from __future__ import annotations

import contextlib
import subprocess
import sys
import textwrap
import threading
from collections.abc import Iterator, Sequence

MARK = "@@paused@@"

# the child's prelude: ``say(tag)`` announces ``@@paused@@ tag`` and goes on; ``pause(tag)``
# announces it and waits for a line on stdin (a SIGINT meanwhile raises KeyboardInterrupt
# there, as in a real run)
PRELUDE = textwrap.dedent(
    f"""
    import os, signal, sys

    # Ctrl-C raises KeyboardInterrupt, as in a terminal, even when this process inherited
    # SIGINT ignored (a shell's background job `make test &` ignores it in all its children)
    signal.signal(signal.SIGINT, signal.default_int_handler)

    def say(tag=""):
        sys.stdout.write("\\n{MARK} " + tag + "\\n")
        sys.stdout.flush()

    def pause(tag=""):
        say(tag)
        if not sys.stdin.readline():  # the test is gone: stop here, write nothing more
            os._exit(99)

    """
)

# runs the command line from sys.argv[1:] (after the patches)
RUN_CLI = textwrap.dedent(
    """
    from coverage.cli import main
    sys.argv = ["coverage-planner", *sys.argv[1:]]
    main()
    """
)


def pause_after(module: str, function: str, tag: str) -> str:
    """Patch code for :func:`spawn`: ``coverage.<module>.<function>`` pauses as ``tag`` once it
    has returned (callers look the function up on its module, so they get the wrapper)."""
    return textwrap.dedent(
        f"""
        from coverage import {module}
        real_{function} = {module}.{function}
        def {function}(*args, **kwargs):
            result = real_{function}(*args, **kwargs)
            pause({tag!r})
            return result
        {module}.{function} = {function}
        """
    )


def spawn(patch: str, args: Sequence[str]) -> subprocess.Popen[str]:
    """Start ``coverage-planner args`` in a child whose code ``patch`` wraps what should pause.

    ``patch`` is Python run before the command; it may call ``pause(tag)`` from wrappers it
    installs. stdout and stderr are read together by :func:`wait_for`.
    """
    code = PRELUDE + textwrap.dedent(patch) + RUN_CLI
    return subprocess.Popen(
        [sys.executable, "-c", code, *args],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        encoding="utf-8",
    )


@contextlib.contextmanager
def _hang_guard(child: subprocess.Popen[str], seconds: float) -> Iterator[None]:
    """Kill the child if the block still runs after ``seconds`` (a hang, never a timing)."""
    timer = threading.Timer(seconds, child.kill)
    timer.daemon = True
    timer.start()
    try:
        yield
    finally:
        timer.cancel()


def wait_for(child: subprocess.Popen[str], tag: str = "", *, hang_guard: float = 600) -> str:
    """Read the child's output until it announces the pause ``tag``; return what came before.

    Fails (AssertionError with the child's output) when the child ends without pausing; a child
    still running after ``hang_guard`` seconds is killed.
    """
    assert child.stdout is not None
    seen: list[str] = []
    with _hang_guard(child, hang_guard):
        for line in child.stdout:
            if line.strip() == f"{MARK} {tag}".strip():
                return "".join(seen)
            seen.append(line)
        child.wait()
    raise AssertionError(
        f"the child ended (exit {child.returncode}) without pausing at {tag!r}:\n{''.join(seen)}"
    )


def resume(child: subprocess.Popen[str]) -> None:
    """Let a paused child go on."""
    assert child.stdin is not None
    child.stdin.write("go\n")
    child.stdin.flush()


def finish(child: subprocess.Popen[str], *, hang_guard: float = 600) -> str:
    """Wait for the child to end (after a signal or :func:`resume`); return the rest of its output.

    stdin stays open until then, so a signalled child cannot see it close first and exit 99.
    A child still running after ``hang_guard`` seconds is killed (its exit code says so).
    """
    assert child.stdout is not None
    with _hang_guard(child, hang_guard):
        out = child.stdout.read()
        child.wait()
    return out


def stop(child: subprocess.Popen[str]) -> None:
    """Kill the child if it still runs and reap it (for ``finally`` blocks)."""
    if child.poll() is None:
        child.kill()
    child.communicate()
