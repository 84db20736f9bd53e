"""hawkBit DDI v1 bodies as the panel reads and writes them (spec: DESIGN.md §4 and
`ddi/hawkbit-ddi-openapi.json`). Pure functions, no I/O: the panel decides when to call them.
"""

from __future__ import annotations

from .state import ActionRecord, Artifact

DEFAULT_SLEEP = 300.0  # DDI idle default when the server says nothing usable


def parse_sleep(text) -> float:
    """`config.polling.sleep` "HH:MM:SS" (hours may exceed 24) → seconds."""
    try:
        hours, minutes, seconds = (int(x) for x in str(text).split(":"))
        return float(hours * 3600 + minutes * 60 + seconds)
    except ValueError:
        return DEFAULT_SLEEP


def poll_links(doc: dict) -> tuple[dict[str, str], float]:
    """A DdiControllerBase → ({link name: href}, sleep seconds)."""
    links = {name: link["href"] for name, link in (doc.get("_links") or {}).items()}
    sleep = parse_sleep(((doc.get("config") or {}).get("polling") or {}).get("sleep"))
    return links, sleep


def action_id_of(href: str) -> str:
    """`.../deploymentBase/7?c=-2127183556` → "7"."""
    return href.split("?", 1)[0].rstrip("/").rsplit("/", 1)[-1]


def feedback_url_of(href: str) -> str:
    """Feedback goes to `{deploymentBase|cancelAction}/{id}/feedback`, without the link's query."""
    return href.split("?", 1)[0].rstrip("/") + "/feedback"


def feedback_body(rec_or_id: ActionRecord | str, execution: str, finished: str, *,
                  progress: tuple[int, int] | None = None, details: list[str] | None = None) -> dict:
    """A DdiActionFeedback; `id` is not in the v1 schema but hawkBit clients send it and
    servers ignore unknown fields."""
    result: dict = {"finished": finished}
    if progress is not None:
        result["progress"] = {"cnt": progress[0], "of": progress[1]}
    status: dict = {"execution": execution, "result": result}
    if details:
        status["details"] = list(details)
    action_id = rec_or_id.id if isinstance(rec_or_id, ActionRecord) else rec_or_id
    return {"id": action_id, "status": status}


def install_now(deployment: dict) -> bool:
    """May the panel install now? Not while `update` is `skip` (the spec: "do not update yet")
    or `maintenanceWindow` is `unavailable`: download, keep, and ask again at the next poll."""
    return deployment.get("update") != "skip" and deployment.get("maintenanceWindow") != "unavailable"


def parse_deployment(doc: dict, href: str) -> ActionRecord | None:
    """A DdiDeploymentBase → a new action record; None when the server says `download: skip`.

    Takes the first artifact of the first chunk (our server sends one chunk, one artifact:
    the release archive) and its plain-http link. Raises ValueError when malformed.
    """
    try:
        deployment = doc["deployment"]
        chunk = deployment["chunks"][0]
        art = chunk["artifacts"][0]
        links = art["_links"]
        url = (links.get("download-http") or links["download"])["href"]
        artifact = Artifact(url=url, filename=art["filename"], size=int(art["size"]),
                            hashes=dict(art.get("hashes") or {}))
        action_id = str(doc["id"])
    except (TypeError, KeyError, IndexError, ValueError) as exc:
        raise ValueError(f"malformed deploymentBase ({exc!r})") from exc
    if artifact.size < 0:
        raise ValueError("malformed deploymentBase (negative size)")
    if deployment.get("download") == "skip":
        return None
    return ActionRecord(id=action_id, deployment_url=href, artifact=artifact,
                        version=str(chunk.get("version") or ""), install_now=install_now(deployment))


def parse_cancel(doc: dict, href: str) -> tuple[str, str]:
    """A DdiCancel → (id of the cancel action, id of the action to stop)."""
    try:
        stop_id = str((doc.get("cancelAction") or {}).get("stopId") or action_id_of(href))
        return str(doc.get("id") or stop_id), stop_id
    except AttributeError as exc:
        raise ValueError(f"malformed cancelAction ({exc!r})") from exc
