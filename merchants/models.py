"""Exchange rates and the stablecoin peg (merchants/rates, docs/rates.md)."""

from django.db import models
from django.db.models import Q

#: a positive decimal as text (exact on SQLite and PostgreSQL alike)
DECIMAL_TEXT = r"^[0-9]{1,13}(\.[0-9]{1,18})?$"


class RateSnapshot(models.Model):
    """One computed rate: 1 ``base`` = ``rate`` ``quote``, with the quotes it came from.
    An invoice priced in fiat keeps the snapshot it was locked at."""

    base = models.CharField(max_length=16)
    quote = models.CharField(max_length=16)
    rate = models.CharField(max_length=40, help_text="Decimal text, exact.")
    sources = models.JSONField(default=list, help_text="[{provider, rate, at}] used")
    dropped = models.JSONField(default=list, help_text="[{provider, reason}] not used")
    computed_at = models.DateTimeField(db_index=True)

    class Meta:
        ordering = ["-computed_at"]
        indexes = [models.Index(fields=["base", "quote", "-computed_at"], name="rate_latest")]
        constraints = [
            models.CheckConstraint(condition=Q(rate__regex=DECIMAL_TEXT), name="rate_decimal_text")
        ]

    def __str__(self) -> str:
        return f"1 {self.base} = {self.rate} {self.quote}"


class PegState(models.TextChoices):
    OK = "ok", "On its peg"
    PAUSED = "paused", "Off its peg: fiat pricing paused"


class PegStatus(models.Model):
    """A stablecoin against USD, as the last peg check saw it."""

    token = models.CharField(max_length=16, unique=True)
    state = models.CharField(max_length=16, choices=PegState.choices, default=PegState.OK)
    rate = models.CharField(max_length=40, blank=True)
    deviation_bps = models.PositiveIntegerField(default=0)
    reason = models.CharField(max_length=255, blank=True)
    checked_at = models.DateTimeField(null=True, blank=True)
    changed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name_plural = "peg statuses"

    def __str__(self) -> str:
        return f"{self.token} {self.state}"
