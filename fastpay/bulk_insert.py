"""Multi-row INSERTs of unsaved model instances without the ORM's per-value compilation.

``bulk_create`` runs every value of every row through the SQL compiler (pre_save,
get_db_prep_save, a placeholder each): ~40 us for a 15-column row, the largest share of an
offline sync's CPU and of an authority node's. ``rows_insert`` writes the same rows:
auto_now(_add) dates through their field's pre_save (one timestamp per row, as
bulk_create does), values of exact types the drivers take as they are (str, int, bool,
None) for text, integer and boolean columns passed through, every other value through its
field's get_db_prep_save. Models it does not cover (inheritance, database defaults,
generated columns) go to bulk_create.
"""

from __future__ import annotations

from django.db import connections, router
from django.db.models import NOT_PROVIDED

#: per column type, the exact value types the drivers (sqlite3, psycopg) take as they are,
#: as get_db_prep_save would hand them over (a subclass, e.g. an enum member, is prepared)
_NONE = type(None)
_TEXT, _INT, _BOOL = (str, _NONE), (int, _NONE), (bool, _NONE)
_EXACT = {
    "AutoField": _INT,
    "BigAutoField": _INT,
    "BigIntegerField": _INT,
    "BooleanField": _BOOL,
    "CharField": _TEXT,
    "IntegerField": _INT,
    "PositiveBigIntegerField": _INT,
    "PositiveIntegerField": _INT,
    "PositiveSmallIntegerField": _INT,
    "SmallIntegerField": _INT,
    "TextField": _TEXT,
}
#: parameters per statement: under SQLite's 32,766 and PostgreSQL's 65,535
_MAX_PARAMS = 30_000


def _covered(model) -> bool:
    meta = model._meta
    return not meta.parents and all(
        getattr(f, "db_default", NOT_PROVIDED) is NOT_PROVIDED
        and not getattr(f, "generated", False)
        for f in meta.concrete_fields
    )


def _exact(field) -> tuple:
    """The value types of ``field`` passed to the driver unprepared (none: all prepared)."""
    target = field.target_field if field.is_relation else field
    return _EXACT.get(target.get_internal_type(), ())


def rows_insert(model, rows: list, *, returning: bool | None = None) -> list:
    """INSERT ``rows`` of ``model`` (like ``bulk_create(rows)``: no save() and no signals)
    and return them. A row is an unsaved instance of ``model`` or a light object with an
    attribute per concrete field's attname, e.g. a ``__slots__`` class (the authority
    node's vote and certificate rows: an instance costs ~25 us more to build). Rows
    without an auto primary key get it from RETURNING unless ``returning=False`` (the
    caller does not need the ids). Must run inside the caller's transaction when the rows
    belong to a larger change."""
    rows = list(rows)
    if not rows:
        return rows
    db = router.db_for_write(model)
    connection = connections[db]
    meta = model._meta
    pk = meta.pk
    missing = [getattr(row, pk.attname, None) is None for row in rows]
    auto = pk.db_returning and any(missing)
    returning = auto if returning is None else returning and auto
    if not _covered(model) or (
        returning and not connection.features.can_return_rows_from_bulk_insert
    ):
        return model.objects.bulk_create(rows)
    if auto and not all(missing):
        return model.objects.bulk_create(rows)  # mixed: let the ORM sort them out
    fields = [f for f in meta.concrete_fields if not (auto and f is pk)]
    stamped = [
        f for f in fields if getattr(f, "auto_now", False) or getattr(f, "auto_now_add", False)
    ]
    for row in rows:
        for field in stamped:
            field.pre_save(row, True)
    plan = [(f.attname, _exact(f), f.get_db_prep_save) for f in fields]
    quote = connection.ops.quote_name
    head = (
        f"INSERT INTO {quote(meta.db_table)} "  # noqa: S608 - names from _meta
        f"({', '.join(quote(f.column) for f in fields)}) VALUES "
    )
    one = "(" + ", ".join(["%s"] * len(fields)) + ")"
    tail = f" RETURNING {quote(pk.column)}" if returning else ""
    per_statement = max(1, min(500, _MAX_PARAMS // len(fields)))
    with connection.cursor() as cursor:
        for start in range(0, len(rows), per_statement):
            chunk = rows[start : start + per_statement]
            params = []
            for row in chunk:
                for attname, exact, prep in plan:
                    value = getattr(row, attname)
                    if type(value) not in exact:
                        value = prep(value, connection)
                    params.append(value)
            cursor.execute(head + ", ".join([one] * len(chunk)) + tail, params)
            if returning:
                for row, (value,) in zip(chunk, cursor.fetchall(), strict=True):
                    setattr(row, pk.attname, value)
    for row in rows:
        if isinstance(row, model):
            row._state.adding, row._state.db = False, db
    return rows
