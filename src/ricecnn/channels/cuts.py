"""The names of a criteria run's cuts (stage criteria@<model>-<replicate>): each row of its per-image
scores is named by its cut (``Cut.key``: ranking, target, rule, draw, and when it was scored), and the
from-scratch control's by its target (``scratch_key``). criteria@ writes the rows under these names and
criteria_report@ reads them back by them (``ricecnn.study.criteria``), without the cutting itself
(``ricecnn.channels.sweep``).
"""

from __future__ import annotations

from dataclasses import dataclass

CUT, TUNED, SCRATCH = "cut", "tuned", "scratch"  # a cut model as the rule left it, fine-tuned, its architecture from scratch


@dataclass(frozen=True)
class Cut:
    ranking: str  # layer | global
    target: float  # FLOPs at 224 px, a share of <m>_pruned's own
    rule: str  # apoz | l1 | random
    draw: int = 0  # random's draw (0 for the deterministic rules)

    def key(self, stage: str) -> str:
        """The name of this cut's scores at ``stage`` (cut, tuned) in the stage's arrays."""
        return f"{self.ranking}/{self.target:g}/{self.rule}/{self.draw}/{stage}"


def scratch_key(target: float) -> str:
    """The name of the layer ranking's architecture at ``target`` trained from scratch."""
    return f"layer/{target:g}/scratch/0/{SCRATCH}"
