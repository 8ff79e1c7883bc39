"""A store opened on its database leaves what it loaded out of the cyclic collector's passes (gc.freeze): re-enabled
over millions of loaded containers, the collector's first passes walked them all (~0.8 s of a 10,000-VM restart).
Run in a process of its own: freezing is the interpreter's state."""

from __future__ import annotations

import subprocess
import sys
import textwrap

from dvp_simulator.store.store import ADDED, Store


def test_the_loaded_objects_are_frozen_and_the_collector_stays_on(tmp_path):
    store = Store(tmp_path / "store.sqlite")
    for i in range(200):
        store.put("/configmaps", {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": f"cm-{i}", "namespace": "default"}, "data": {"k": "v"}}, ADDED)
    store.sync()
    store.close()
    code = textwrap.dedent(
        f"""
        import gc
        from pathlib import Path
        from dvp_simulator.store.store import Store
        gc.unfreeze()
        before = gc.get_freeze_count()
        store = Store(Path({str(tmp_path / "store.sqlite")!r}))
        objects = [entry.obj for entry in store.list("/configmaps")]
        print(len(objects), before, gc.get_freeze_count(), gc.isenabled())
        store.close()
        """
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False)
    assert proc.returncode == 0, proc.stderr
    out = proc.stdout.split()
    loaded, before, after, enabled = int(out[0]), int(out[1]), int(out[2]), out[3]
    assert loaded == 200
    assert before == 0
    assert after >= 200 * 3, "each loaded object (its dict, its metadata, its data) is frozen"
    assert enabled == "True"
