"""How a node stops: Ctrl-C or SIGTERM ends its spin, cuts only a long computation short, and a
stuck shutdown still ends at launch's SIGTERM, saying where it was."""

import faulthandler
import signal
import subprocess
import sys
import time

import pytest

from mbrl_ros.nodes import common


@pytest.fixture
def stop_handling():
    """The node's signal handling in this process, put back afterwards."""
    previous = {signum: signal.getsignal(signum) for signum in (signal.SIGINT, signal.SIGTERM)}
    common.handle_stop_signals()
    try:
        yield
    finally:
        faulthandler.unregister(signal.SIGTERM)
        common._stopping.clear()
        for signum, handler in previous.items():
            signal.signal(signum, handler)


def test_a_stop_outside_a_long_computation_only_asks_the_spin_to_end(stop_handling):
    common._on_stop_signal(signal.SIGINT, None)  # as Python calls the handler mid-callback
    assert common._stopping.is_set()
    assert signal.getsignal(signal.SIGINT) == signal.SIG_IGN  # a second Ctrl-C cannot cut the shutdown
    with pytest.raises(KeyboardInterrupt):  # nor does a training round start after it
        with common.interruptible():
            pass


def test_a_stop_cuts_a_long_computation_short_once(stop_handling):
    with pytest.raises(KeyboardInterrupt):
        with common.interruptible():
            common._on_stop_signal(signal.SIGTERM, None)
            pytest.fail("the computation went on after the stop")
    common._on_stop_signal(signal.SIGINT, None)  # launch's repeat of the request: the shutdown goes on


STUCK_SHUTDOWN = """
import time
from mbrl_ros.nodes import common
common.handle_stop_signals()
print("spinning", flush=True)
while not common._stopping.is_set():
    time.sleep(0.01)
print("shutting down", flush=True)
time.sleep(120)  # a shutdown that never ends
"""


@pytest.mark.timeout(60)
def test_a_stuck_shutdown_ends_at_the_escalating_sigterm_with_each_threads_stack():
    process = subprocess.Popen([sys.executable, "-c", STUCK_SHUTDOWN], stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True)
    try:
        assert process.stdout.readline() == "spinning\n"
        process.send_signal(signal.SIGINT)
        assert process.stdout.readline() == "shutting down\n"
        process.send_signal(signal.SIGINT)  # the terminal's and launch's: the shutdown goes on
        time.sleep(0.5)
        assert process.poll() is None
        process.send_signal(signal.SIGTERM)
        assert process.wait(10) == -signal.SIGTERM
        stacks = process.stderr.read()
        stuck_line = STUCK_SHUTDOWN.splitlines().index("time.sleep(120)  # a shutdown that never ends") + 1
        assert f'File "<string>", line {stuck_line} in <module>' in stacks, stacks
    finally:
        process.kill()
        process.wait()
