import os
import sys

# The hub is unreachable in tests: "offline" means the local datasets cache only.
os.environ["HF_HUB_OFFLINE"] = "1"
# The settings builders live next to the tests (and are imported by the resume child process).
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
