"""How the Python peers of `herd bench train` are scored: as Herd scores its own
forecasts (`herd_models::accuracy`)."""
import numpy as np


def wape_accuracy(y, yhat):
    """max(0, 1 - WAPE), with the same edge cases as Herd: 0/0 is perfect, x/0 is WAPE 1."""
    num, den = np.abs(y - yhat).sum(), np.abs(y).sum()
    if den == 0:
        wape = 0.0 if num == 0 else 1.0
    else:
        wape = num / den
    return max(0.0, 1.0 - wape)


# The calendar of `--frequency`, as Herd's `frequency` setting names it: the pandas
# frequency (weeks start on Monday, months on the 1st, as Herd dates them) and the
# seasonal cycle.
CALENDARS = {
    "daily": ("D", 7),
    "weekly": ("W-MON", 52),
    "monthly": ("MS", 12),
}
