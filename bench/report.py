"""Plain-text tables for the terminal and for docs/benchmarks.md (Markdown pipes)."""


def fmt(value) -> str:
    if value is None:
        return "–"
    if isinstance(value, float):
        return f"{value:,.0f}" if abs(value) >= 1000 else f"{value:.3g}" if abs(value) < 10 else f"{value:.1f}"
    if isinstance(value, int):
        return f"{value:,}"
    return str(value)


def table(headers: list[str], rows: list[list]) -> str:
    """A Markdown table, columns padded so it also reads well in a terminal."""
    cells = [[fmt(c) for c in row] for row in rows]
    widths = [max(len(h), *(len(r[i]) for r in cells)) if cells else len(h) for i, h in enumerate(headers)]
    line = lambda row: "| " + " | ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)) + " |"  # noqa: E731
    return "\n".join([line(headers), "|" + "|".join("-" * (w + 2) for w in widths) + "|", *map(line, cells)])


def ratio(later, earlier) -> float | None:
    if later is None or not earlier:
        return None
    return round(later / earlier, 1)


def find(rows: list[dict], **match) -> dict | None:
    return next((r for r in rows if all(r.get(k) == v for k, v in match.items())), None)


def goal_line(label: str, measured, limit, unit: str) -> str:
    if measured is None:
        return f"goal: {label} under {limit} {unit}: not measured"
    verdict = "met" if measured <= limit else "NOT met"
    return f"goal: {label} at most {limit} {unit}: measured {fmt(measured)} {unit} -> {verdict}"


def timed_table(results: dict, cases: list[tuple[str, int]], *, label: str = "case") -> str:
    """One line per (case, size): median, p95, fastest ms and queries of each database."""
    dbs = [db for db in ("sqlite", "postgres") if db in results]
    headers = [label, "devices"] + [f"{db} {col}" for db in dbs for col in ("median ms", "p95 ms", "min ms", "queries")]
    lines = []
    for case, size in cases:
        line = [case, size]
        for db in dbs:
            row = find(results[db]["rows"], case=case, size=size) or {}
            line += [row.get("median_ms"), row.get("p95_ms"), row.get("min_ms"), row.get("queries")]
        lines.append(line)
    return table(headers, lines)
