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


class Percentile(Aggregate):
    """percentile_cont on PostgreSQL; on other databases the caller falls back
    to sorting the values itself (supported_on())."""

    function = "PERCENTILE_CONT"
    template = "%(function)s(%(fraction)s) WITHIN GROUP (ORDER BY %(expressions)s)"
    output_field = FloatField()

    def __init__(self, expression, fraction: float, **extra):
        super().__init__(expression, fraction=float(fraction), **extra)

    @staticmethod
    def supported_on(connection) -> bool:
        return connection.vendor == "postgresql"
