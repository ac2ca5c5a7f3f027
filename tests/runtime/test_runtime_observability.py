"""Seeing what happened: the Chrome-trace timeline and prefixed worker output."""
from __future__ import annotations

import json
import subprocess
import sys
import textwrap


def test_timeline_writes_one_chrome_trace_event_per_task(fresh, tmp_path, caps):
    rt = fresh
    caps("timeline")
    f = rt.remote(lambda x: x * 2)

    @rt.remote
    class A:
        def m(self):
            return 1

    rt.get([f.remote(i) for i in range(7)])
    a = A.remote()
    rt.get([a.m.remote() for _ in range(3)])
    path = tmp_path / "trace.json"
    rt.timeline(str(path))
    events = json.loads(path.read_text())["traceEvents"]
    assert len(events) == 7 + 1 + 3  # tasks, the constructor, the calls
    assert sum(e["name"] == "<lambda>" for e in events) == 7
    assert sum(e["name"] == "A.m" for e in events) == 3
    for e in events:
        assert e["ph"] == "X" and e["dur"] >= 0 and e["ts"] > 0 and "tid" in e
    assert len(rt.timeline()) == 11


def test_worker_output_reaches_the_driver_prefixed_with_the_worker_id(backend, caps):
    caps("prefix")
    code = textwrap.dedent("""
        import sys, runtime
        runtime.init(num_cpus=1, backend=sys.argv[1])
        f = runtime.remote(lambda: print("from-task-line") or 1)
        runtime.get(f.remote())

        @runtime.remote
        class Talker:
            def say(self):
                print("from-actor-line", file=sys.stderr)
                return 1
        runtime.get(Talker.remote().say.remote())
        runtime.shutdown()
    """)
    out = subprocess.run([sys.executable, "-c", code, backend], capture_output=True, text=True,
                         timeout=120)
    assert out.returncode == 0, out.stderr
    task_lines = [ln for ln in out.stdout.splitlines() if "from-task-line" in ln]
    actor_lines = [ln for ln in out.stderr.splitlines() if "from-actor-line" in ln]
    assert task_lines and task_lines[0].startswith("(worker ")
    assert actor_lines and actor_lines[0].startswith("(Talker worker ")


def test_memory_summary_has_the_same_keys_on_every_backend(rt, backend):
    if backend == "ray":  # memory_summary is the local and inline backends' own
        return
    keep = rt.put(b"x")
    s = rt.memory_summary()
    # before, inline lacked lineage_tasks and lineage_forgotten (KeyError on code written for
    # the local backend, whose memory_summary documents them)
    assert set(s) == {"objects", "shm_bytes", "spilled_bytes", "shm_cap", "recycled_bytes",
                      "lineage_only_objects", "evicted", "lost", "reconstructed", "spilled",
                      "lineage_tasks", "lineage_forgotten", "by_owner"}
    assert set(s["by_owner"]["driver"]) == {"objects", "pending", "evicted", "inline_bytes",
                                            "shm_bytes", "spilled_bytes"}
    del keep


def test_a_tasks_stdout_and_stderr_have_a_text_files_attributes(rt):
    @rt.remote
    def streams():
        import sys
        sys.stdout.reconfigure(line_buffering=True)  # as some libraries do at import
        return sys.stdout.line_buffering, [(s.name, s.mode, s.errors, s.encoding)
                                           for s in (sys.stdout, sys.stderr)]

    # before, on the local backend: AttributeError ('_Prefixed' object has no attribute
    # 'reconfigure'; name, mode and line_buffering neither), and errors was None
    line_buffering, attrs = rt.get(streams.remote(), timeout=60)
    assert line_buffering is True
    for name, mode, errors, encoding in attrs:
        assert isinstance(name, (str, int)) and isinstance(mode, str) and errors and encoding
