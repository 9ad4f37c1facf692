"""The product's words for its codes (skills, outcomes, reasons, review states) in the reader's
language: one table each, shared by the dashboard, the lists, the exports and the API."""

from __future__ import annotations

from .i18n import gettext, lazy
from .models import Outcome, ReviewState, Skill

# The five basic digital skills a household can gain (Household.skills).
FIVE_SKILLS: tuple[str, ...] = (
    Skill.public_services,
    Skill.shopping,
    Skill.payment,
    Skill.safety,
    Skill.local_platforms,
)
# Every group of the service catalogue, in the order the console and the exports show them.
SKILLS: dict[str, str] = {
    Skill.vneid: lazy("VNeID"),
    Skill.public_services: lazy("Online public services"),
    Skill.social_insurance: lazy("Social and health insurance"),
    Skill.payment: lazy("Paying online"),
    Skill.shopping: lazy("Shopping online"),
    Skill.safety: lazy("Staying safe online"),
    Skill.local_platforms: lazy("Commune platforms"),
}
OUTCOMES: dict[str, str] = {
    Outcome.done: lazy("Done"),
    Outcome.not_finished: lazy("Not finished"),
    Outcome.could_not: lazy("Could not"),
}
REASONS: dict[str, str] = {
    "missing_papers": lazy("Missing papers"),
    "no_smartphone": lazy("No smartphone"),
    "no_signal": lazy("No signal"),
    "system_error": lazy("System error"),
    "needs_police": lazy("Needs the police"),
    "other": lazy("Other"),
}
REVIEW_STATES: dict[str, str] = {
    ReviewState.new: lazy("Waiting for review"),
    ReviewState.approved: lazy("Approved"),
    ReviewState.returned: lazy("Returned to the volunteer"),
}


def label(table: dict[str, str], key: str | None) -> str:
    """The translated word for `key`, or the key itself when the table does not know it."""
    return gettext(table[key]) if key in table else (key or "")
