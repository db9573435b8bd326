"""The 14 predefined reward aspects R (paper §3.2.1, App. E.1.2), worded for this project."""

from __future__ import annotations

ASPECTS: dict[str, str] = {
    "Helpfulness": "Addresses the user's query directly and gives relevant, practical help.",
    "Clarity": "Well structured and articulate; ideas are presented clearly and coherently.",
    "Factuality": "Accurate and truthful; acknowledges uncertainty where it exists.",
    "Depth": "Gives an appropriate level of detail for a thorough understanding of the topic.",
    "Engagement": "Keeps the user's interest with a natural, conversational tone.",
    "Conciseness": "Conveys the information efficiently, without needless length or complexity.",
    "Safety": "Follows ethical guidelines and avoids harmful or inappropriate content.",
    "Compliance": "Follows the instructions in the query unless ethics or safety forbid it.",
    "Limitations": (
        "Acknowledges the assistant's limits (no real-time data, no browsing or physical "
        "actions) where relevant."
    ),
    "Critical-Thinking": (
        "Examines the query's claims and assumptions instead of taking them as given."
    ),
    "Creativity": "Shows originality and offers fresh perspectives or solutions where fitting.",
    "Interactivity": "Uses questions, prompts or actionable suggestions to involve the user.",
    "Empathy": "Recognises the user's emotional state and responds supportively.",
    "Sensitivity": "Culturally aware; avoids assumptions and generalisations; respects diversity.",
}

# The fixed aspects of the "static rewarding" ablation (App. A.2).
STATIC_ASPECTS = ["Helpfulness", "Clarity", "Factuality", "Depth", "Engagement", "Safety"]

_BY_LOWER = {name.lower(): name for name in ASPECTS}


def canonical(name: str) -> str | None:
    """The predefined aspect a (loosely spelled) name refers to, or None."""
    key = name.strip().lower().replace("_", "-").replace(" ", "-")
    return _BY_LOWER.get(key) or _BY_LOWER.get(key.replace("-", ""))
