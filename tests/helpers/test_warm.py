"""The warm test processes behave as `python script.py` would: what a child sees and how it ends."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys

from tests.helpers import warm

PROBE = """
import json, os, sys
print(json.dumps({"cwd": os.getcwd(), "argv": sys.argv, "env": os.environ.get("PROBE"),
                  "path0": sys.path[0], "extra": os.environ.get("PYTHONPATH", "") in sys.path,
                  "main": __name__, "pid": os.getpid(), "warm": "lightning.pytorch" in sys.modules}))
print("to stderr", file=sys.stderr)
if sys.argv[1:] == ["wait"]:
    import time
    time.sleep(60)
sys.exit(int(sys.argv[1]))
"""


def test_a_child_has_the_requests_folder_argv_environment_and_path_and_its_exit_status(tmp_path):
    script = tmp_path / "scripts" / "probe.py"
    script.parent.mkdir()
    script.write_text(PROBE)
    work, extra = tmp_path / "work", tmp_path / "extra"
    work.mkdir()
    extra.mkdir()
    assert warm.request_for([sys.executable, script, "3"]) is not None  # not a plain subprocess
    done = warm.run(
        [sys.executable, str(script), "3"],
        cwd=work,
        env={"PROBE": "yes", "PYTHONPATH": str(extra)},
        capture_output=True,
        text=True,
        timeout=60,
    )
    seen = json.loads(done.stdout)
    assert done.returncode == 3 and done.stderr == "to stderr\n"
    assert seen["cwd"] == str(work) and seen["argv"] == [str(script), "3"] and seen["env"] == "yes"
    assert seen["path0"] == str(script.parent) and seen["extra"] and seen["main"] == "__main__"
    assert seen["pid"] != os.getpid() and seen["warm"]


def test_a_signal_reaches_the_child_and_its_status_says_so(tmp_path):
    script = tmp_path / "probe.py"
    script.write_text(PROBE)
    proc = warm.Popen([sys.executable, str(script), "wait"], stdout=subprocess.PIPE, text=True)
    seen = json.loads(proc.stdout.readline())
    assert seen["pid"] == proc.pid and proc.poll() is None
    proc.send_signal(signal.SIGKILL)
    assert proc.wait(timeout=30) == -signal.SIGKILL
    out, _ = warm.Popen([sys.executable, str(script), "0"], stdout=subprocess.PIPE, text=True).communicate(timeout=30)
    assert json.loads(out)["argv"][1:] == ["0"]
