"""Ctrl-C, SIGTERM and SIGHUP stop simulate and resample: exit code 128 + the signal and no
partial output, also when Python swallows the first KeyboardInterrupt (a signal landing in a
weakref callback or a ``__del__`` is printed as "Exception ignored" and lost)."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path
from typing import ClassVar

import pytest
from _reliability import leftovers, shower_file, spec_file, start_cli, wait_for_partial

from calogeo.io import open_showers

RESAMPLE_EVENTS = 20000


def command(kind: str, folder: Path) -> list[str | Path]:
    """A simulate or resample run long enough to be interrupted while it writes."""
    if kind == "simulate":
        return ["simulate", "--geometry", spec_file(folder), "--particle", "e-", "--energy",
                "10", "-n", "10000000", "--batch-size", "200", "--seed", "1", "-o", "out.h5"]  # fmt: skip
    source = folder / "in.h5"
    if not source.exists():
        shower_file(folder, RESAMPLE_EVENTS, name="in.h5")
    fine = spec_file(folder, "fine", n=24, layers=6)
    return ["resample", source, "--to", fine, "--batch-size", "1", "--no-cache", "-o", "out.h5"]


def expected_events(kind: str) -> int:
    """Events of a finished run of :func:`command`."""
    return 10_000_000 if kind == "simulate" else RESAMPLE_EVENTS


def stop(process: subprocess.Popen[str], signum: int) -> tuple[int, str]:
    process.send_signal(signum)
    try:
        _, err = process.communicate(timeout=60)
    except subprocess.TimeoutExpired:
        process.kill()
        _, err = process.communicate()
        pytest.fail(f"still running 60 s after {signal.Signals(signum).name}: {err[-2000:]}")
    return process.returncode, err


@pytest.mark.parametrize("kind", ["simulate", "resample"])
@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGHUP])
def test_termination_signals_stop_and_leave_no_partial_file(
    tmp_path: Path, kind: str, signum: int
) -> None:
    process = start_cli(*command(kind, tmp_path), cwd=tmp_path)
    wait_for_partial(tmp_path, process)
    time.sleep(0.3)
    rc, err = stop(process, signum)
    assert rc == 128 + signum, err[-2000:]
    assert "Traceback" not in err
    assert leftovers(tmp_path) == []
    assert not (tmp_path / "out.h5").exists()


SWALLOW = textwrap.dedent(
    """
    import os, signal, sys, time
    import {module} as target

    calls = 0
    original = target.{name}

    class Swallow:
        # a signal handled while this __del__ runs raises in it: Python prints
        # "Exception ignored" and the KeyboardInterrupt is lost
        def __del__(self):
            os.kill(os.getpid(), signal.SIGINT)
            end = time.monotonic() + 0.2
            while time.monotonic() < end:
                pass

    def patched(*args, **kwargs):
        global calls
        calls += 1
        if calls == 3:
            Swallow()
        return original(*args, **kwargs)

    {patch}
    from calogeo.cli import main
    sys.exit(main(sys.argv[1:]))
    """
)


@pytest.mark.parametrize("kind", ["simulate", "resample"])
def test_an_interrupt_python_swallowed_still_stops_the_command(tmp_path: Path, kind: str) -> None:
    """Deterministic version of the random-timing test below: the first KeyboardInterrupt
    is raised inside a ``__del__`` (lost), and the command must stop anyway."""
    args = command(kind, tmp_path)
    if kind == "simulate":
        args[args.index("-n") + 1] = "3000"  # long enough: the batch of the signal is #3 of 15
        code = SWALLOW.format(
            module="calogeo.io",
            name="ShowerWriter.append",
            patch="target.ShowerWriter.append = patched",
        )
    else:
        code = SWALLOW.format(  # bookkeeping runs in the main thread, which gets signals
            module="calogeo.resample.resampler",
            name="Resampler.bookkeeping_dense",
            patch="target.Resampler.bookkeeping_dense = patched",
        )
        dense = shower_file(tmp_path, 4000, name="dense.h5", format_version=1)
        fine = spec_file(tmp_path, "fine", n=24, layers=6)
        args = ["resample", dense, "--to", fine, "--batch-size", "256", "-o", "out.h5"]
    result = subprocess.run(
        [sys.executable, "-c", code, *map(str, args)],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode == 130, result.stderr[-3000:]
    assert "Exception ignored" not in result.stderr  # the lost raise is not reported
    assert leftovers(tmp_path) == []
    assert not (tmp_path / "out.h5").exists()


@pytest.mark.slow
@pytest.mark.parametrize("kind", ["simulate", "resample"])
def test_ctrl_c_at_random_times_always_stops(tmp_path: Path, kind: str) -> None:
    """Every interrupt stops the command with rc 130 and leaves no partial file. On a fast
    machine a run may finish before the random moment comes: such a try has rc 0 and a
    complete file, and the signal landing after the file's rename may leave that complete
    file (never a partial one) beside rc 130."""
    rng = random.Random(16)
    args = command(kind, tmp_path)
    out = tmp_path / "out.h5"
    interrupted = 0
    for _ in range(8):
        process = start_cli(*args, cwd=tmp_path)
        wait_for_partial(tmp_path, process)
        time.sleep(rng.uniform(0.0, 1.5))
        rc, err = stop(process, signal.SIGINT)
        assert leftovers(tmp_path) == [], err[-2000:]
        if out.exists():  # the run had written everything before the signal came
            with open_showers(out) as done:
                assert len(done) == expected_events(kind), err[-2000:]
            assert rc in (0, 130, -signal.SIGINT), err[-2000:]
            out.unlink()
        else:
            interrupted += 1
            assert rc == 130, err[-2000:]
    assert interrupted >= 4


def test_only_lost_interrupts_are_kept_out_of_the_unraisable_report(monkeypatch):
    from types import SimpleNamespace

    from calogeo.errors import Interrupted
    from calogeo.interrupts import handle_signals

    reported: list[BaseException] = []
    monkeypatch.setattr(sys, "unraisablehook", lambda u: reported.append(u.exc_value))
    before = sys.unraisablehook
    with handle_signals():
        sys.unraisablehook(SimpleNamespace(exc_value=Interrupted(signal.SIGTERM)))
        other = ValueError("a real problem in a __del__")
        sys.unraisablehook(SimpleNamespace(exc_value=other))
    assert reported == [other]
    assert sys.unraisablehook is before


class _SignalsItselfWhenFinalised:
    """Sends SIGTERM to this process from its ``__del__`` and waits there for the handler;
    ``handled`` gets the recorded signal only if the handler did not raise inside."""

    handled: ClassVar[list[int | None]] = []

    def __del__(self) -> None:
        from calogeo import interrupts

        os.kill(os.getpid(), signal.SIGTERM)
        end = time.monotonic() + 5.0
        while interrupts._pending is None and time.monotonic() < end:
            pass
        self.handled.append(interrupts._pending)


@pytest.mark.parametrize("check_after", [True, False])
def test_a_signal_inside_a_finaliser_is_raised_at_the_next_check_or_the_blocks_end(check_after):
    from calogeo.errors import Interrupted
    from calogeo.interrupts import check_interrupted, handle_signals

    def run() -> None:
        with handle_signals():
            _SignalsItselfWhenFinalised()  # finalised at once
            assert _SignalsItselfWhenFinalised.handled == [signal.SIGTERM]  # no raise in __del__
            if check_after:
                check_interrupted()

    _SignalsItselfWhenFinalised.handled.clear()
    with pytest.raises(Interrupted) as stop:
        run()
    assert stop.value.signum == signal.SIGTERM
