"""Shipped FinBuddy data: FAQ, training pairs and the held-out evaluation set (CSV)."""
