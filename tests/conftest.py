import os
import sys
from pathlib import Path

# The collection is importable as ansible_collections.deckhouse.virtualization (linked by `make setup`).
COLLECTIONS = Path(__file__).resolve().parents[1] / ".venv" / "collections"
if str(COLLECTIONS) not in sys.path:
    sys.path.insert(0, str(COLLECTIONS))

# Every simulator a test starts checks that no stored version is changed in place (store.CHECK_STORED); the test
# that made one fails when it stops the simulator (tests/simulator_process.py).
os.environ["DVP_SIM_CHECK_STORED"] = "1"
