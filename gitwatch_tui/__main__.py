"""`python -m gitwatch_tui` and the `gitwatch-tui` command: the command line."""

import sys


def run() -> int:
    """Run the command line. A daemon notes its stop signals from this first line on: its
    imports and config come before its loop can take them (`core.early_signals`)."""
    command = _command(sys.argv[1:])
    if command == "daemon":
        from gitwatch_tui.core.early_signals import catch

        catch()
    elif command in (None, "dashboard"):
        # No cyclic collection until the start's rows are in: two full passes over the
        # imports took 30 ms of the first frame. The app turns it on (`ui.collector`).
        import gc

        gc.disable()
    from gitwatch_tui.cli import main

    code = main()
    if "textual" in sys.modules:  # a dashboard ran, and is closed: nothing is left to tear down
        _leave_now(code)
    return code


def _leave_now(code: int) -> None:
    """Exit without the interpreter's teardown: freeing a dashboard's objects one by one (the
    rows, statuses and widgets of 10,000 repos) took 0.7 s of a quit. The engine has stopped,
    its git processes are ended and the terminal is restored; only the output needs a flush."""
    import os

    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


def _command(argv: list[str]) -> str | None:
    """The sub-command word, before argparse is imported: the first word that is not an
    option or the value of `--config`."""
    words = iter(argv)
    for word in words:
        if word == "--config":
            next(words, None)
        elif not word.startswith("-"):
            return word
    return None


if __name__ == "__main__":
    sys.exit(run())
