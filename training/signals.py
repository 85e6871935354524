"""Signals training sends for later apps to react to (training never imports them; they connect in ready())."""

from django.dispatch import Signal

# Sent after the transaction that registered a finished job's adapter commits: kwargs job=TrainingJob, adapter=Adapter.
training_completed = Signal()
