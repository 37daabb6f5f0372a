"""Engines: one module per model class, owning the optimizer policy (which solver, first radius, start values),
and fits as functions of the data (batches of fits as one compiled program)."""
