"""Our schemas against the real platform's CRDs in ../shared/dvp-api (read there, never copied)."""

from pathlib import Path

import pytest
import yaml

from dvp_simulator.schemas.dsl import our_crds

from .schema_diff import SHARED, crd_diff

UPSTREAM = sorted((SHARED / "crds").glob("*.yaml"))
OURS = {c["metadata"]["name"]: c for c in our_crds()}


def test_upstream_crds_are_present():
    assert len(UPSTREAM) >= 8, f"expected the upstream CRDs in {SHARED / 'crds'}"


@pytest.mark.parametrize("path", UPSTREAM, ids=lambda p: Path(p).stem)
def test_crd_matches_upstream(path):
    theirs = yaml.safe_load(Path(path).read_text())
    name = theirs["metadata"]["name"]
    assert name in OURS, f"no schema of ours serves {name}"
    problems = crd_diff(OURS[name], theirs)
    assert not problems, "\n".join(problems)
