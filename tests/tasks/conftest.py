import os

# The hub is unreachable in tests: "offline" means the local datasets cache only.
os.environ["HF_HUB_OFFLINE"] = "1"
