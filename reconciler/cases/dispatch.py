"""One entry point for the case activity: the evaluator chosen by the case id's prefix."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime

from reconciler.cases.inbound import evaluate_inbound
from reconciler.cases.lost_units import evaluate_lost
from reconciler.cases.model import CaseView, Evidence
from reconciler.cases.removals import evaluate_removal
from reconciler.cases.returns import evaluate_return
from reconciler.config import Rules

Evaluator = Callable[[str, Sequence[Evidence], datetime, Rules], CaseView]

EVALUATORS: dict[str, Evaluator] = {
    "return": evaluate_return,
    "lost": evaluate_lost,
    "removal": evaluate_removal,
    "inbound": evaluate_inbound,
}


def evaluate(case_id: str, evidence: Sequence[Evidence], as_of: datetime, rules: Rules) -> CaseView:
    """Evaluate any case: `return:…`, `lost:…`, `removal:…` or `inbound:…`."""
    prefix = case_id.split(":", 1)[0]
    try:
        evaluator = EVALUATORS[prefix]
    except KeyError:
        raise ValueError(f"not a case id: {case_id!r} (expected one of {', '.join(EVALUATORS)}:…)") from None
    return evaluator(case_id, evidence, as_of, rules)
