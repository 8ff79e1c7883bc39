"""controllers/history.py's pure parts: what a ControllerRevision holds and how it is named."""

from __future__ import annotations

import copy
import re

from dvp_simulator.controllers import history

TEMPLATE = {"metadata": {"labels": {"app": "a"}}, "spec": {"containers": [{"name": "c", "image": "nginx:1"}]}}


def test_a_revision_holds_the_patch_that_puts_its_template_back():
    data = history.patch_of(TEMPLATE)
    assert data == {"spec": {"template": {**TEMPLATE, "$patch": "replace"}}}, "what kubectl rollout undo applies"
    assert history.template_of({"data": data}) == TEMPLATE
    for malformed in ({}, {"data": "garbage"}, {"data": {"spec": "x"}}, {"data": {"spec": {"template": []}}}):
        assert history.template_of(malformed) is None, malformed  # a revision written by hand: no template to restore


def test_the_hash_is_a_stable_label_value_that_a_collision_changes():
    digest = history.hash_of(TEMPLATE)
    assert digest == history.hash_of(copy.deepcopy(TEMPLATE)) and re.fullmatch(r"[bcdfghjklmnpqrstvwxz2456789]{1,10}", digest)
    changed = {**TEMPLATE, "spec": {"containers": [{"name": "c", "image": "nginx:2"}]}}
    assert history.hash_of(changed) != digest
    assert history.hash_of(TEMPLATE, 1) not in (digest, history.hash_of(TEMPLATE, 2))


def test_a_history_names_its_current_revision_and_finds_the_others():
    older = {"metadata": {"name": "web-b", "labels": {history.HASH_LABEL: "b"}}, "revision": 1}
    current = {"metadata": {"name": "web-c"}, "revision": 2}  # made by hand: no hash label
    kept = history.History(current, [older, current])
    assert (kept.name, kept.hash) == ("web-c", "c") and kept.named("web-b") is older and kept.named("web-x") is None
