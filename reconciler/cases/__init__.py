"""The slow cases (ARCHITECTURE §4.3) as pure functions of their evidence and the business time.

A case workflow wakes (new evidence, a person's signal, a timer), an activity loads the case's evidence
from the ledger DB and calls the evaluator of its case type; it stores the effects and alerts returned
(their keys are deterministic, so a repeat is harmless) and sleeps until `next_wake`.

Every evaluator is deterministic, idempotent and independent of the order in which evidence arrived:
evidence is deduplicated by key and sorted by (business time, key) before anything is computed.
Nothing here imports Temporal, HTTP or the DB.
"""

from reconciler.cases.dispatch import EVALUATORS, evaluate
from reconciler.cases.inbound import evaluate_inbound
from reconciler.cases.lost_units import evaluate_lost
from reconciler.cases.model import CaseAlert, CaseEffect, CaseView, Evidence
from reconciler.cases.removals import evaluate_removal
from reconciler.cases.returns import evaluate_return

__all__ = [
    "EVALUATORS",
    "CaseAlert",
    "CaseEffect",
    "CaseView",
    "Evidence",
    "evaluate",
    "evaluate_inbound",
    "evaluate_lost",
    "evaluate_removal",
    "evaluate_return",
]
