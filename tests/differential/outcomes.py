"""What became of one random model at one stage (reading it, kconvert's runtime, each target), how a
typed refusal's message is normalised to a reason counted across models, and the tally a run prints."""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

Status = Literal["matched", "refused", "finding", "skipped"]
#: the stages every model goes through: reading and kconvert's runtime, then each target
TARGETS = ("tfjs", "dl4j", "keras", "onnx")
STAGES = ("read", "runtime", *TARGETS)
#: finding kinds: a silent numeric difference, an exception that is not kconvert's typed error, a
#: written model the target's runtime cannot load or run, a process that died, a model past its time
FINDING_KINDS = ("mismatch", "untyped", "target-error", "crash", "timeout")


@dataclass
class Outcome:
    model: int  # the model's index in its batch
    stage: str
    status: Status
    reason: str = ""  # refused: the reason key; finding: its kind; skipped: why
    detail: str = ""

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @property
    def signature(self) -> tuple[str, str, str]:
        """What a shrunk model must still show to count as the same finding."""
        return self.stage, self.reason, reason_key(self.detail) if self.reason in ("untyped", "target-error") else ""


def reason_key(message: str) -> str:
    """A refusal's message without what names this model (file, layer names, quoted values, numbers),
    so that refusals for one reason count together."""
    text = message.split(": ", 1)[1] if message.startswith("/") and ": " in message else message
    text = re.sub(r"layer '[^']*'( \([^)]*\))?: ", "", text)
    text = re.sub(r"'[^']*'|\"[^\"]*\"", "'_'", text)
    text = re.sub(r"/[\w./+-]+", "PATH", text)
    text = re.sub(r"(?<![A-Za-z\d])-?\d+(\.\d+)?(e-?\d+)?(?![A-Za-z\d])", "N", text)  # (not DL4J's 4)
    text = re.sub(r"\(N(, N)*,?\)|\[N(, N)*\]", "(N...)", text)
    return " ".join(text.split())[:140]


@dataclass
class Tally:
    """Per stage: models tried, matched, refused (by reason), findings (by kind), skipped."""

    tried: Counter[str] = field(default_factory=Counter)
    matched: Counter[str] = field(default_factory=Counter)
    skipped: Counter[str] = field(default_factory=Counter)
    refused: dict[str, Counter[str]] = field(default_factory=dict)
    findings: dict[str, Counter[str]] = field(default_factory=dict)

    def add(self, outcome: Outcome) -> None:
        stage = outcome.stage
        self.tried[stage] += 1
        if outcome.status == "matched":
            self.matched[stage] += 1
        elif outcome.status == "skipped":
            self.skipped[stage] += 1
        elif outcome.status == "refused":
            self.refused.setdefault(stage, Counter())[outcome.reason] += 1
        else:
            self.findings.setdefault(stage, Counter())[outcome.reason] += 1

    def finding_count(self, stage: str | None = None) -> int:
        return sum(sum(c.values()) for s, c in self.findings.items() if stage in (None, s))

    def to_dict(self) -> dict[str, Any]:
        return {stage: {"tried": self.tried[stage], "matched": self.matched[stage], "skipped": self.skipped[stage],
                        "refused": dict(self.refused.get(stage, Counter()).most_common()),
                        "findings": dict(self.findings.get(stage, Counter()))} for stage in STAGES}

    def table(self, top: int = 5) -> str:
        lines = [f"{'stage':8} {'tried':>6} {'matched':>8} {'refused':>8} {'skipped':>8} {'findings':>9}"]
        for stage in STAGES:
            refused = sum(self.refused.get(stage, Counter()).values())
            lines.append(f"{stage:8} {self.tried[stage]:6} {self.matched[stage]:8} {refused:8} "
                         f"{self.skipped[stage]:8} {self.finding_count(stage):9}")
        for stage in STAGES:
            for reason, n in self.refused.get(stage, Counter()).most_common(top):
                lines.append(f"  {stage} refused {n:4}x  {reason}")
            for kind, n in self.findings.get(stage, Counter()).items():
                lines.append(f"  {stage} FINDING {n:4}x  {kind}")
        return "\n".join(lines)
