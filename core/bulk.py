"""Fleet-sized writes built by the database: one statement per batch, whatever its size."""

from django.db import connection
from django.db.models import Value


def insert_select(model, source, values: dict, *, on_conflict_ignore: bool = False,
                  returning: tuple[str, ...] = (), wrap: str | None = None) -> list[tuple] | None:
    """INSERT INTO model SELECT <values> FROM source: every row built by the database.

    `values` maps attnames to expressions over `source` or to constants; other columns get
    their field default, nullable ones are left NULL. `wrap`, a statement with `{insert}` in
    it, runs the INSERT inside it (rows returned: the statement's).
    """
    columns, select = [], {}
    for field in model._meta.concrete_fields:
        if field.primary_key:
            continue
        value = values[field.attname] if field.attname in values else (
            None if field.null else field.get_default())
        if value is None or (isinstance(value, Value) and value.value is None):
            continue  # NULL: the column's own default
        if not hasattr(value, "resolve_expression"):
            value = Value(value, output_field=field)
        columns.append(connection.ops.quote_name(field.column))
        select[f"c{len(columns)}"] = value
    # Annotations only, added in column order: the SELECT lists them in that order.
    sql, params = source.order_by().annotate(**select).values_list(*select).query.sql_with_params()
    suffix = " ON CONFLICT DO NOTHING" if on_conflict_ignore else ""
    returns = returning and connection.features.can_return_rows_from_bulk_insert
    if returns:
        suffix += " RETURNING " + ", ".join(map(connection.ops.quote_name, returning))
    insert = f"INSERT INTO {connection.ops.quote_name(model._meta.db_table)} ({', '.join(columns)}) {sql}{suffix}"
    with connection.cursor() as cursor:
        cursor.execute(wrap.format(insert=insert) if wrap else insert, params)
        return [tuple(row) for row in cursor.fetchall()] if returns else None


def delete_in_batches(queryset, *, batch: int) -> int:
    """Delete `queryset`'s rows a batch of ids at a time, in its order (short statements
    rather than one DELETE of millions of rows holding its locks). Returns how many rows were
    deleted, those its deletion cascades to included."""
    deleted = 0
    while ids := list(queryset.values_list("pk", flat=True)[:batch]):
        deleted += queryset.model.objects.filter(pk__in=ids).delete()[0]
    return deleted
