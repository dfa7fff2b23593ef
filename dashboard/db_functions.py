"""Database functions the usage queries need, written once for PostgreSQL and SQLite."""

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
