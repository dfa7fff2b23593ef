"""Database functions the usage queries need, written once for PostgreSQL and SQLite."""

from contextlib import contextmanager

from django.db import connection, transaction
from django.db.models import Aggregate, FloatField, Func


class Epoch(Func):
    """Seconds since 1970 of a datetime expression, as a float."""

    output_field = FloatField()
    template = "EXTRACT(EPOCH FROM %(expressions)s)::double precision"

    def as_sqlite(self, compiler, connection, **extra):
        # SQLite keeps datetimes as UTC text; julianday() reads it.
        return self.as_sql(
            compiler, connection, template="((julianday(%(expressions)s) - 2440587.5) * 86400.0)", **extra
        )


class Percentiles(Aggregate):
    """percentile_cont at several fractions in one sort (a list), on
    PostgreSQL; other databases have no such aggregate: the caller sorts the
    values itself (supported_on())."""

    function = "PERCENTILE_CONT"
    template = "%(function)s(ARRAY[%(fractions)s]) WITHIN GROUP (ORDER BY %(expressions)s)"

    def __init__(self, expression, fractions, **extra):
        from django.contrib.postgres.fields import ArrayField

        text = ", ".join(f"{float(f)!r}::double precision" for f in fractions)
        super().__init__(expression, fractions=text, output_field=ArrayField(FloatField()), **extra)

    @staticmethod
    def supported_on(connection) -> bool:
        return connection.vendor == "postgresql"


# The dashboard's aggregates sort or hash up to a range's allocations (50,000
# rows for 30 days of a busy team); PostgreSQL's default 4 MB spills them to disk.
AGGREGATE_WORK_MEM = "32MB"


@contextmanager
def aggregating():
    """A transaction whose sorts and hashes get AGGREGATE_WORK_MEM (on PostgreSQL; SET LOCAL ends with it)."""
    with transaction.atomic():
        if connection.vendor == "postgresql":
            with connection.cursor() as cursor:
                cursor.execute("SET LOCAL work_mem = %s", [AGGREGATE_WORK_MEM])
        yield
