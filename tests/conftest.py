import sys
from pathlib import Path

# The collection is importable as ansible_collections.deckhouse.virtualization (linked by `make setup`).
COLLECTIONS = Path(__file__).resolve().parents[1] / ".venv" / "collections"
if str(COLLECTIONS) not in sys.path:
    sys.path.insert(0, str(COLLECTIONS))
