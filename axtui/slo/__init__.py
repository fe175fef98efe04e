"""Service level objectives per route: availability and latency objectives over a rolling
window, their error budgets and burn rates from the rollups, and the multiwindow,
multi-burn-rate alert rules they add to the alert engine (Google SRE workbook, ch. 5)."""
