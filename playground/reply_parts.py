"""What a reply keeps of what the upstream sent besides its text: the functions it called and
the pages its web search read, checked and bounded before they are saved and shown."""

import uuid


def kept_calls(calls: list[dict]) -> list[dict]:
    """The function calls as they are kept and sent back: id, type and the function's name and
    arguments (the JSON text the model wrote, whole). Each id is made unique, so its result can
    only answer it."""
    kept: list[dict] = []
    for call in calls:
        function = call.get("function") or {}
        call_id = str(call.get("id") or "")[:64]
        if not call_id or call_id in {other["id"] for other in kept}:
            call_id = f"call_{uuid.uuid4().hex}"
        kept.append(
            {
                "id": call_id,
                "type": "function",
                "function": {
                    "name": str(function.get("name") or ""),
                    "arguments": str(function.get("arguments") or ""),
                },
            }
        )
    return kept


def kept_source(result: dict) -> dict | None:
    """A page the search read, as the reply lists it: only a web address is kept as a link."""
    link = str(result.get("link") or "")
    if not link.startswith(("https://", "http://")):
        return None
    title = str(result.get("title") or link)[:300]
    return {
        "title": title,
        "link": link[:2000],
        "media": str(result.get("media") or "")[:100],
        "publish_date": str(result.get("publish_date") or "")[:20],
        "refer": str(result.get("refer") or "")[:20],  # how the reply cites it: "ref_1"
    }
