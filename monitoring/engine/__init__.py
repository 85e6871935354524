"""Pure monitoring logic: NVML/psutil sampling, capability detection, plateau detection, time ranges (no ORM)."""
