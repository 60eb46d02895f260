"""Run in a fresh process by test_resume.py: load a checkpoint, advance, save.

    python resume_child.py CASE IN_PATH STEPS OUT_PATH
"""

import os
import sys

os.environ.setdefault("HF_HUB_OFFLINE", "1")
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import train_settings  # noqa: E402
from snapsweep.train import Trainer  # noqa: E402


def main(case: str, src: str, steps: int, dst: str) -> None:
    config, members = train_settings.CASES[case]()
    trainer = Trainer(config, members)
    state, meta = trainer.load(src)
    state = trainer.advance(state, steps)
    trainer.save(dst, state, {**meta, "child": True})


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4])
